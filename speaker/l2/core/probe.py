"""Probing for an address before announcing it (RFC 5227 for IPv4, RFC 4862 duplicate address detection for IPv6).

Theory of operation
-------------------
Announcing an address another host already uses steals its traffic, and the other host's own announcements steal it
back: both break. So before the first announcement of an address, :class:`Probe` asks the LAN whether anyone has it:

- IPv4: ARP probes (RFC 5227 section 2.1.1): broadcast requests with sender IP 0.0.0.0 and target MAC zero, so that
  no neighbour's cache is polluted by the question.
- IPv6: Neighbor Solicitations from the unspecified address to the target's solicited-node group, without a source
  link-layer option (RFC 4862 section 5.4.2, duplicate address detection).

It sends ``count`` probes ``interval`` apart on every interface the address will be answered on and waits one more
``interval`` after the last. The address is in conflict (RFC 5227 section 2.1.1, RFC 4862 sections 5.4.3-5.4.4) when,
on any of them, another MAC sends

- any ARP packet (request or reply) whose *sender* IP is the address - a reply to our probe, or the holder's own
  traffic or announcements;
- an ARP probe for the address - someone else probing for it at the same moment;
- a Neighbor Advertisement for the address - typically the holder defending it against our solicitation;
- a duplicate-address-detection solicitation for the address.

Why the timing is short, and why that is safe: RFC 5227 spaces probes 1-2 s apart after a random 0-1 s wait (about
7 s before announcing) to spread out hosts booting together on slow or wireless links. A load-balancer takeover is
on the failover path, where every millisecond counts, and only one speaker at a time is elected for an address. On
a switched Ethernet a host that has the address answers a probe in microseconds (the Linux kernel: about 10 us in
the lab; a busy host within a few milliseconds), so the default 3 probes x 50 ms (the verdict 150 ms after the first
probe) leaves a margin of more than 10x over a slow host while tolerating the loss of two of three probes. A holder
that cannot answer within that window is not detected - the bound trades that rare case for a fast failover; set
``count``/``interval`` higher on networks with slow hosts.

Takeover and peer speakers: on a *failover* from a dead node the old owner cannot answer. During a *planned* move,
the old owner is alive and - deliberately, in its grace period (:meth:`Announcer.release`) - still answering, so it
answers our probe too. A probe must not turn a planned handover into a conflict: ``ignore_macs`` lists MACs whose
claims do not count - the caller passes the interface MACs of every known speaker (learned through membership) when
the address comes from a peer. Claims from our own interfaces' MACs never count (a frame we sent on one interface
may come back on another attached to the same LAN). The caller can also skip probing altogether when an address
moves between speakers and speed matters more than detecting a foreign host (see ``Takeover`` in
:mod:`speaker.l2.core.ownership`).
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.announce import Outgoing, Purpose
from speaker.l2.core.ethernet import EtherType, FrameError, format_mac
from speaker.l2.core.responder import Interface


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """How an address is probed before it is announced.

    Attributes:
        count: probes per interface (RFC 5227 PROBE_NUM is 3).
        interval: seconds between probes, and the wait after the last one.
        retry_after: seconds after a conflict before probing again; None = only when the address is re-added.
    """

    count: int = 3
    interval: float = 0.05
    retry_after: float | None = 10.0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"probe count is {self.count}; set it to 1 or more, or skip probing with Takeover")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"probe interval is {self.interval}; set it to a positive number of seconds")
        if self.retry_after is not None and not (math.isfinite(self.retry_after) and self.retry_after > 0):
            raise ValueError(f"probe retry_after is {self.retry_after}; set it to a positive number of seconds or None")

    @property
    def duration(self) -> float:
        """Seconds from the first probe to the verdict: how much probing delays an announcement."""
        return self.count * self.interval


class ClaimKind(enum.StrEnum):
    """What kind of frame showed another host using (or wanting) the address."""

    ARP_SENDER = "arp-sender"
    ARP_PROBE = "arp-probe"
    NEIGHBOR_ADVERTISEMENT = "neighbor-advertisement"
    DAD_SOLICITATION = "dad-solicitation"


class Claim(NamedTuple):
    """A frame's statement that the host with ``mac`` uses or probes for the packed ``address``."""

    address: bytes
    mac: bytes
    kind: ClaimKind


@dataclass(frozen=True, slots=True)
class AddressConflict:
    """Another host uses the address: it is not announced. Also the event the announcer reports."""

    ip: IPAddress
    interface: str
    mac: str
    evidence: ClaimKind


@dataclass(frozen=True, slots=True)
class AddressClear:
    """Nobody answered the probes: the address may be announced."""

    ip: IPAddress


ProbeOutcome = AddressConflict | AddressClear


def classify(frame: bytes) -> Claim | None:
    """What ``frame`` says about who uses which address, or None when it says nothing of the kind. Never raises."""
    ethertype = frame[12:14]
    try:
        if ethertype == b"\x08\x06":
            packet = arp.ArpPacket.decode_frame(frame)
            if packet.sender_ip != arp.UNSPECIFIED:
                return Claim(packet.sender_ip.packed, packet.sender_mac, ClaimKind.ARP_SENDER)
            if packet.op == arp.ArpOp.REQUEST:
                return Claim(packet.target_ip.packed, packet.sender_mac, ClaimKind.ARP_PROBE)
            return None
        if ethertype == EtherType.IPV6.to_bytes(2, "big"):
            _, src_mac, header, message = ndp.decode_frame(frame)
            if isinstance(message, ndp.NeighborAdvertisement):
                mac = message.target_link_layer or src_mac
                return Claim(message.target.packed, mac, ClaimKind.NEIGHBOR_ADVERTISEMENT)
            if header.source == ndp.UNSPECIFIED:
                return Claim(message.target.packed, src_mac, ClaimKind.DAD_SOLICITATION)
    except FrameError:
        return None
    return None


def probe_frame(ip: IPAddress, interface: Interface) -> bytes:
    """One probe for ``ip`` sent from ``interface``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return arp.probe_frame(interface.mac, ip)
    return ndp.probe_frame(interface.mac, ip)


class Probe:
    """Probing one address on a set of interfaces. Pure: fed claims and the time, returns frames and an outcome."""

    def __init__(
        self,
        ip: IPAddress,
        interfaces: Mapping[str, Interface],
        now: float,
        *,
        config: ProbeConfig | None = None,
        ignore_macs: Collection[bytes] = (),
    ) -> None:
        """Start probing; the first probes are due at ``now`` (call :meth:`handle_timer`).

        Args:
            ip: the address to probe for.
            interfaces: where it will be answered, hence where to probe.
            now: the current time.
            config: count and spacing.
            ignore_macs: MACs whose claims do not count (known speakers during a handover). Our own interfaces'
                MACs never count.
        """
        self.ip = ip
        self.config = config or ProbeConfig()
        self.outcome: ProbeOutcome | None = None
        self._packed = ip.packed
        self._interfaces = dict(interfaces)
        self._ignore = frozenset(ignore_macs) | {i.mac for i in interfaces.values()}
        self._sent = 0
        #: when the next probe is due, or after the last probe, when the verdict is
        self._next = now

    @property
    def interfaces(self) -> frozenset[str]:
        return frozenset(self._interfaces)

    def remove_interface(self, name: str) -> None:
        """The interface went away: stop probing there (a probe with no interface left ends clear)."""
        self._interfaces.pop(name, None)

    def handle_claim(self, ifname: str, claim: Claim) -> None:
        """A claim seen on ``ifname``; decides a conflict if it is about our address from a MAC that counts."""
        if self.outcome is not None or claim.address != self._packed or ifname not in self._interfaces:
            return
        if claim.mac in self._ignore:
            return
        self.outcome = AddressConflict(self.ip, ifname, format_mac(claim.mac), claim.kind)

    def handle_timer(self, now: float) -> list[Outgoing]:
        """Probes due by ``now``; sets :attr:`outcome` to clear once the last wait is over."""
        if self.outcome is not None:
            return []
        out: list[Outgoing] = []
        if self._sent < self.config.count and self._next <= now:
            # One round per call, spaced from when it was actually sent: a late timer never bunches probes together
            # nor shortens the wait after the last one.
            out.extend(
                Outgoing(name, probe_frame(self.ip, iface), self.ip, Purpose.PROBE)
                for name, iface in self._interfaces.items()
            )
            self._sent += 1
            self._next = now + self.config.interval
        elif self._sent >= self.config.count and now >= self._next:
            self.outcome = AddressClear(self.ip)
        return out

    def next_deadline(self) -> float | None:
        return None if self.outcome is not None else self._next


__all__ = [
    "AddressClear",
    "AddressConflict",
    "Claim",
    "ClaimKind",
    "Probe",
    "ProbeConfig",
    "ProbeOutcome",
    "classify",
    "probe_frame",
]
