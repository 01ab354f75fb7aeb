"""The unsolicited-announcement schedule: gratuitous ARP and unsolicited NA after a takeover (pure, time as argument).

Theory of operation
-------------------
When a node starts answering for an address, neighbours that cached the previous owner's MAC keep sending to it
until their entry expires - tens of seconds. An unsolicited announcement corrects them at once. One announcement
can be lost, so MetalLB repeats it: immediately, then every 1.1 s until 5 s after the last trigger, about five rounds
(reference/metallb.md section 4.4). :class:`AnnounceSchedule` does the same with :class:`AnnounceConfig` ``rounds``
and ``interval`` (defaults 5 and 1.1 s), and optionally keeps announcing every ``refresh`` seconds afterwards for
networks whose switch forwarding tables age out before the routers' ARP caches do (MetalLB #1761/#2910, declined
there; off by default here).

Each round, per interface the address may be answered on:

- IPv4: a gratuitous ARP in request form (RFC 5227 section 2.3) *and* in reply form (RFC 5944 section 4.6), both
  broadcast, as MetalLB sends. The request form is the one Linux accepts inside ``neigh.locktime``; the reply form
  carries target MAC = sender MAC so that Linux also treats it as gratuitous (see :mod:`speaker.l2.core.arp`).
- IPv6: one unsolicited Neighbor Advertisement from the address itself to all-nodes ff02::1 with Override=1,
  Solicited=0 and the target link-layer option (RFC 4861 section 7.2.6). That section lets a node send up to
  MAX_NEIGHBOR_ADVERTISEMENT (3) of them per change; the default follows MetalLB's five rounds, and ``rounds=3``
  stays within the RFC's number.

The schedule keeps one entry per (address, interface) on a heap of due times with lazy deletion: a re-trigger bumps
the entry's generation and restarts its rounds, so the stale heap item is skipped when it surfaces. Frames are built
when a round fires, from the interface as it is then (a MAC change between rounds is honoured).

The other side of the same frames: :func:`parse_announcement` recognises another node's announcement (a gratuitous
ARP in either form, an unsolicited NA), which is how an owner that is releasing an address sees that the next owner
answers it now (:meth:`speaker.l2.core.ownership.Ownership.receive`). Replies to requests and solicited NAs are
not announcements: a node still answering during its own grace period sends those too.

Usage: ``takeover(ip, now)`` queues a burst whose first round is due at ``now``; the adapter calls
``handle_timer(now)`` whenever ``next_deadline()`` has passed (including right after ``takeover``) and sends what it
returns.
"""

from __future__ import annotations

import enum
import heapq
import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.ethernet import EtherType, FrameError
from speaker.l2.core.responder import Interface


class Purpose(enum.StrEnum):
    """Why a frame is sent (it decides which counter it goes to)."""

    ANNOUNCEMENT = "announcement"
    PROBE = "probe"


class Outgoing(NamedTuple):
    """A frame to send: on which interface, for which address, and why."""

    ifname: str
    frame: bytes
    ip: IPAddress
    purpose: Purpose = Purpose.ANNOUNCEMENT


@dataclass(frozen=True, slots=True)
class AnnounceConfig:
    """How a takeover is announced.

    Attributes:
        rounds: announcement rounds per takeover, the first sent at once (MetalLB: about 5).
        interval: seconds between rounds (MetalLB: 1.1).
        refresh: after the rounds, announce again every this many seconds while the address is ours; None = never
            (MetalLB's behaviour).
    """

    rounds: int = 5
    interval: float = 1.1
    refresh: float | None = None

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"announce rounds is {self.rounds}; set it to 1 or more (the first round is sent at once)")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"announce interval is {self.interval}; set it to a positive number of seconds")
        if self.refresh is not None and not (math.isfinite(self.refresh) and self.refresh > 0):
            raise ValueError(f"announce refresh is {self.refresh}; set it to a positive number of seconds, or None")


def announcement_frames(ip: IPAddress, interface: Interface) -> list[bytes]:
    """The frames of one announcement round for ``ip`` on ``interface``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [
            arp.announcement_request_frame(interface.mac, ip),
            arp.announcement_reply_frame(interface.mac, ip),
        ]
    return [ndp.unsolicited_advertisement_frame(interface.mac, ip, ip)]


class Announcement(NamedTuple):
    """Another node announcing that the packed ``address`` is at ``mac`` (what :func:`parse_announcement` finds)."""

    address: bytes
    mac: bytes


_IPV6 = EtherType.IPV6.to_bytes(2, "big")


def parse_announcement(frame: bytes) -> Announcement | None:
    """The announcement ``frame`` makes, or None when it is none. Never raises.

    IPv4: any ARP packet whose sender IP equals its target IP and is not 0.0.0.0 - the request form (RFC 5227
    section 2.3) and the reply form (RFC 5944 section 4.6) alike. IPv6: a Neighbor Advertisement with the Solicited
    flag clear (RFC 4861 section 7.2.6); the MAC is its target link-layer option, else the frame's source.
    """
    ethertype = frame[12:14]
    try:
        if ethertype == b"\x08\x06":
            packet = arp.ArpPacket.decode_frame(frame)
            return Announcement(packet.sender_ip.packed, packet.sender_mac) if packet.is_announcement else None
        if ethertype == _IPV6:
            _, src_mac, _, message = ndp.decode_frame(frame)
            if isinstance(message, ndp.NeighborAdvertisement) and not message.solicited:
                return Announcement(message.target.packed, message.target_link_layer or src_mac)
    except FrameError:
        return None
    return None


@dataclass(slots=True)
class _Entry:
    remaining: int
    generation: int


class AnnounceSchedule:
    """Which addresses to announce on which interfaces, and when."""

    def __init__(self, config: AnnounceConfig | None = None) -> None:
        self.config = config or AnnounceConfig()
        self._interfaces: dict[str, Interface] = {}
        self._entries: dict[tuple[IPAddress, str], _Entry] = {}
        self._heap: list[tuple[float, int, IPAddress, str, int]] = []
        self._seq = 0

    def set_interfaces(self, interfaces: Mapping[str, Interface]) -> None:
        """The interfaces that exist and are up; entries on interfaces that are gone are dropped."""
        self._interfaces = dict(interfaces)
        for key in [k for k in self._entries if k[1] not in self._interfaces]:
            del self._entries[key]

    def takeover(self, ip: IPAddress, now: float, *, interfaces: Iterable[str] | None = None) -> None:
        """Start (or restart) a burst for ``ip``, first round due at ``now``.

        Args:
            ip: the address now ours.
            now: the current time on the adapter's clock.
            interfaces: where to announce; None = every interface known to the schedule. Names not (yet) known are
                ignored.
        """
        names = self._interfaces.keys() if interfaces is None else [n for n in interfaces if n in self._interfaces]
        for name in names:
            key = (ip, name)
            entry = self._entries.get(key)
            generation = entry.generation + 1 if entry else 0
            self._entries[key] = _Entry(self.config.rounds, generation)
            self._push(now, ip, name, generation)

    def withdraw(self, ip: IPAddress, *, interfaces: Iterable[str] | None = None) -> None:
        """Stop announcing ``ip`` (on the given interfaces, or everywhere)."""
        if interfaces is None:
            for key in [k for k in self._entries if k[0] == ip]:
                del self._entries[key]
        else:
            for name in interfaces:
                self._entries.pop((ip, name), None)

    def pending(self, ip: IPAddress) -> dict[str, int]:
        """Rounds still to send for ``ip`` per interface (0 = in periodic refresh)."""
        return {name: e.remaining for (addr, name), e in self._entries.items() if addr == ip}

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` next has something to send (absolute, on ``now``'s clock), or None."""
        heap = self._heap
        while heap:
            _, _, ip, name, generation = heap[0]
            entry = self._entries.get((ip, name))
            if entry is not None and entry.generation == generation:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> list[Outgoing]:
        """Every round due by ``now``, as frames to send."""
        out: list[Outgoing] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, ip, name, generation = heapq.heappop(heap)
            key = (ip, name)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue
            interface = self._interfaces.get(name)
            if interface is None:
                del self._entries[key]
                continue
            out.extend(Outgoing(name, f, ip) for f in announcement_frames(ip, interface))
            if entry.remaining > 1:
                entry.remaining -= 1
                step = self.config.interval
            elif self.config.refresh is not None:
                entry.remaining = 0
                step = self.config.refresh
            else:
                del self._entries[key]
                continue
            # Keep the cadence from the due time; after a stall, do not fire the missed rounds back to back.
            following = due + step
            self._push(following if following > now else now + step, ip, name, generation)
        return out

    def _push(self, when: float, ip: IPAddress, name: str, generation: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, ip, name, generation))


__all__ = [
    "AnnounceConfig",
    "AnnounceSchedule",
    "Announcement",
    "Outgoing",
    "Purpose",
    "announcement_frames",
    "parse_announcement",
]
