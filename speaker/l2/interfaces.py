"""Which interfaces the L2 data plane answers on, and a netlink monitor that reports their changes quickly.

Eligibility follows MetalLB (reference/metallb.md section 4.4): an interface with a MAC address, not NOARP, not
loopback, not enslaved to a bond or bridge (members are skipped, the master is used), and not matching an exclude
pattern. The default patterns are MetalLB's (``announcedInterfacesToExclude``): container, CNI and tunnel devices
that share the node's L2 segment only in appearance. *Up* means administratively up with carrier (``IFF_LOWER_UP``):
an interface without carrier cannot receive a request, and when the carrier returns the announcer sends its
announcements again there.

:class:`InterfaceMonitor` keeps the state level-triggered: a ``NETLINK_ROUTE`` socket subscribed to
``RTMGRP_LINK`` and ``RTMGRP_IPV6_IFADDR`` (link-local addresses are reported, MetalLB keys NDP on them) wakes the
loop on any change, and a full rescan through pyroute2's asyncio API (two dumps, about 2 ms) is diffed against the
previous one into :class:`LinkEvent` values. Rescans coalesce: events arriving during a rescan cause one more, not
one each. A kernel buffer overflow (``ENOBUFS``) loses events, which a rescan also repairs, and a periodic rescan
(every 10 s, as MetalLB scans) covers anything else. Nothing blocks the loop and no thread is used, so sockets stay
in the network namespace the monitor was started in.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from speaker.l2.core.ethernet import FrameError, format_mac, parse_mac
from speaker.l2.core.responder import Interface

#: MetalLB's default ``announcedInterfacesToExclude`` (reference/metallb.md section 4.4).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    r"^docker.*", r"^cbr.*", r"^dummy.*", r"^virbr.*", r"^lxcbr.*", r"^veth.*", r"^lo$", r"^cali.*", r"^tunl.*",
    r"^flannel.*", r"^kube-ipvs.*", r"^cni.*", r"^nodelocaldns.*", r"^lxc.*",
)  # fmt: skip

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_NOARP = 0x80
IFF_LOWER_UP = 0x10000
IFA_F_TENTATIVE = 0x40
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100
NETLINK_ROUTE = 0


@dataclass(frozen=True, slots=True)
class LinkState:
    """One interface as netlink reports it, and whether the data plane may use it."""

    name: str
    index: int
    mac: bytes | None
    admin_up: bool
    carrier: bool
    broadcast: bool
    link_local: ipaddress.IPv6Address | None
    #: why the interface is not used, or None when it is eligible
    ineligible: str | None = None

    @property
    def eligible(self) -> bool:
        return self.ineligible is None

    @property
    def up(self) -> bool:
        """Administratively up and with carrier: frames can flow."""
        return self.admin_up and self.carrier

    @property
    def interface(self) -> Interface:
        """What the core needs (only meaningful for an eligible interface, which always has a MAC)."""
        return Interface(self.name, self.mac or b"\x00" * 6)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for membership, status and logs)."""
        return {
            "name": self.name,
            "index": self.index,
            "mac": format_mac(self.mac) if self.mac else None,
            "up": self.up,
            "link_local": str(self.link_local) if self.link_local else None,
            "ineligible": self.ineligible,
        }


class InterfaceFilter:
    """MetalLB's eligibility rules with a configurable exclude list."""

    def __init__(self, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> None:
        """Compile the exclude patterns (searched, as Go's ``regexp.MatchString`` does).

        Raises:
            ValueError: a pattern is not a valid regular expression; the message names it.
        """
        self.patterns: list[re.Pattern[str]] = []
        for pattern in exclude:
            try:
                self.patterns.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(
                    f"interface exclude pattern {pattern!r} is not a valid regular expression ({exc}); fix or remove it"
                ) from None

    def reason(self, name: str, *, mac: bytes | None, flags: int, master: int | None) -> str | None:
        """Why an interface is not eligible, or None if it is."""
        for pattern in self.patterns:
            if pattern.search(name):
                return f"excluded by pattern {pattern.pattern}"
        if flags & IFF_LOOPBACK:
            return "loopback"
        if flags & IFF_NOARP:
            return "NOARP"
        if mac is None or mac == b"\x00" * 6:
            return "no MAC address"
        if master:
            return f"enslaved to interface index {master} (bond or bridge member; the master is used)"
        return None


def link_from_netlink(
    msg: Any, link_locals: Mapping[int, ipaddress.IPv6Address], flt: InterfaceFilter
) -> LinkState | None:
    """A :class:`LinkState` from a pyroute2 RTM_NEWLINK message, or None if it has no name."""
    name = msg.get("ifname")
    if not name:
        return None
    index = int(msg["index"])
    flags = int(msg["flags"])
    mac: bytes | None = None
    text = msg.get("address")
    if text:
        with contextlib.suppress(FrameError):
            mac = parse_mac(text)
    master = msg.get("master")
    return LinkState(
        name=name,
        index=index,
        mac=mac,
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        broadcast=bool(flags & IFF_BROADCAST),
        link_local=link_locals.get(index),
        ineligible=flt.reason(name, mac=mac, flags=flags, master=int(master) if master else None),
    )


async def scan(ipr: Any, flt: InterfaceFilter) -> dict[str, LinkState]:
    """Every link of the namespace, by name, with eligibility (two netlink dumps through ``AsyncIPRoute``)."""
    link_locals: dict[int, ipaddress.IPv6Address] = {}
    tentative: dict[int, ipaddress.IPv6Address] = {}
    async for msg in await ipr.addr("dump", family=socket.AF_INET6):
        text = msg.get("address")
        if not text:
            continue
        address = ipaddress.IPv6Address(text.split("%")[0])
        if not address.is_link_local:
            continue
        index = int(msg["index"])
        flags = int(msg.get("IFA_FLAGS") or msg["flags"])
        (tentative if flags & IFA_F_TENTATIVE else link_locals).setdefault(index, address)
    for index, address in tentative.items():
        link_locals.setdefault(index, address)  # report a tentative one rather than none
    links: dict[str, LinkState] = {}
    async for msg in await ipr.link("dump"):
        link = link_from_netlink(msg, link_locals, flt)
        if link is not None:
            links[link.name] = link
    return links


class LinkEventKind(enum.StrEnum):
    ADDED = "added"
    """An interface became eligible (created, renamed, released from a bond, ...)."""
    REMOVED = "removed"
    """An eligible interface went away or stopped being eligible."""
    UP = "up"
    DOWN = "down"
    CHANGED = "changed"
    """MAC or link-local address changed."""


@dataclass(frozen=True, slots=True)
class LinkEvent:
    kind: LinkEventKind
    link: LinkState


def diff(old: Mapping[str, LinkState], new: Mapping[str, LinkState]) -> list[LinkEvent]:
    """Events that turn the eligible part of ``old`` into that of ``new``."""
    events: list[LinkEvent] = []
    before = {n: link for n, link in old.items() if link.eligible}
    after = {n: link for n, link in new.items() if link.eligible}
    for name, link in before.items():
        if name not in after or after[name].index != link.index:
            events.append(LinkEvent(LinkEventKind.REMOVED, link))
    for name, link in after.items():
        previous = before.get(name)
        if previous is None or previous.index != link.index:
            events.append(LinkEvent(LinkEventKind.ADDED, link))
        elif previous.up != link.up:
            events.append(LinkEvent(LinkEventKind.UP if link.up else LinkEventKind.DOWN, link))
        elif (previous.mac, previous.link_local) != (link.mac, link.link_local):
            events.append(LinkEvent(LinkEventKind.CHANGED, link))
    return events


class InterfaceMonitor:
    """Keeps :attr:`links` current and calls ``on_events`` with what changed."""

    def __init__(
        self,
        *,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        on_events: Callable[[list[LinkEvent]], None] | None = None,
        rescan_interval: float = 10.0,
    ) -> None:
        self.filter = InterfaceFilter(exclude)
        self.links: dict[str, LinkState] = {}
        self._on_events = on_events
        self._rescan_interval = rescan_interval
        self._ipr: Any = None
        self._events_sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None
        self.rescans = 0

    def eligible(self) -> dict[str, LinkState]:
        """Eligible interfaces (up or not), by name."""
        return {name: link for name, link in self.links.items() if link.eligible}

    async def start(self) -> None:
        """Subscribe to link events, then take the first inventory (so no change between the two is missed)."""
        from pyroute2 import AsyncIPRoute  # local: importing pyroute2 costs ~100 ms and only the daemon needs it

        self._loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._on_netlink)
        except BaseException:
            sock.close()
            raise
        self._events_sock = sock
        self._ipr = AsyncIPRoute()
        await self.rescan()
        if self._rescan_interval > 0:
            self._periodic = self._loop.create_task(self._rescan_periodically())

    async def stop(self) -> None:
        for task in (self._periodic, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._periodic = self._task = None
        sock, self._events_sock = self._events_sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        ipr, self._ipr = self._ipr, None
        if ipr is not None:
            ipr.close()

    async def rescan(self) -> list[LinkEvent]:
        """Take a fresh inventory now; report and return what changed."""
        if self._ipr is None:
            raise RuntimeError("InterfaceMonitor.rescan() before start()")
        links = await scan(self._ipr, self.filter)
        self.rescans += 1
        events = diff(self.links, links)
        self.links = links
        if events or self.rescans == 1:
            for event in events:
                logger.info("interface {} {}", event.link.name, event.kind.value)
            if self._on_events is not None:
                self._on_events(events)
        return events

    def _on_netlink(self) -> None:
        sock = self._events_sock
        if sock is None:
            return
        while True:
            try:
                if not sock.recv(65536):
                    break
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: events were lost; the rescan below repairs that
                logger.debug("netlink event socket: {}", exc)
                break
        self._kick()

    def _kick(self) -> None:
        self._dirty = True
        if self._loop is not None and (self._task is None or self._task.done()):
            self._task = self._loop.create_task(self._rescan_while_dirty())

    async def _rescan_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.rescan()
            except Exception:  # netlink trouble must not kill the monitor; the next event or period retries
                logger.exception("interface rescan failed")

    async def _rescan_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_interval)
            self._kick()


__all__ = [
    "DEFAULT_EXCLUDE",
    "InterfaceFilter",
    "InterfaceMonitor",
    "LinkEvent",
    "LinkEventKind",
    "LinkState",
    "diff",
    "link_from_netlink",
    "scan",
]
