"""The asyncio L2 announcer the speaker calls: answers ARP/NDP for owned addresses and announces takeovers.

::

    InterfaceMonitor --link events--> Announcer._on_link_events --> ports (open/close) --> Ownership.set_interfaces
    speaker --set_owned/release--> Ownership (core) --frames--> _flush --> Port.send
                                                     --events--> listeners, counters
                                                     --deadline--> one TimerHandle --> Ownership.handle_timer
    per eligible up interface (a Port, speaker/l2/ports.py):
      ARP socket  (BPF: ARP requests)  --frame--> Responder.answer --Reply--> same socket   (the hot path)
      NDP socket  (BPF: NS)            --frame--> Responder.answer --Reply--> same socket
                   + solicited-node group memberships of the IPv6 addresses answered there
      claims socket (BPF: ARP, NS, NA; open only while a probe runs there or an address answered there is being
                     released) --frame--> Ownership.receive (a probe's claims; the next owner's announcements)

What this node answers on is what it tells the other speakers (membership metadata, speaker.liveness): the
interfaces with an open port (:meth:`Announcer.answering`), reported with :class:`PortsChanged` whenever that set
changes - not the links that are merely up, since a port that failed to open answers nothing.

The hot path never leaves the reader callback: read, decide, reply, count. Everything else follows the one adapter
shape (style anchor 3): feed the core, flush its frames, dispatch its events, re-arm the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from loguru import logger

from ironlb.api.addresses import IPAddress
from speaker.l2.core.announce import AnnounceConfig, Purpose
from speaker.l2.core.ethernet import format_mac, parse_mac
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Event, Ownership, Phase, Takeover
from speaker.l2.core.probe import AddressConflict, ProbeConfig
from speaker.l2.core.responder import DropReason, Interface, OwnedTable
from speaker.l2.interfaces import DEFAULT_EXCLUDE, InterfaceMonitor, LinkEvent, LinkState
from speaker.l2.ports import Port
from speaker.l2.stats import L2Stats


@dataclass(frozen=True, slots=True)
class PortsChanged:
    """The interfaces this node answers ARP/NDP on changed (a port opened or closed); sorted names."""

    answering: tuple[str, ...]


AnnouncerEvent = AddressAnnounced | AddressConflict | AddressReleased | LinkEvent | PortsChanged
Listener = Callable[[AnnouncerEvent], None]


class Announcer:
    """Answers ARP and NDP for the addresses it is told it owns, on the eligible interfaces of this host."""

    def __init__(
        self,
        *,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        announce: AnnounceConfig | None = None,
        probe: ProbeConfig | None = None,
        rescan_interval: float = 10.0,
        rcvbuf: int = 4 << 20,
    ) -> None:
        """Configure; nothing is opened until :meth:`start`.

        Args:
            exclude: interface-name patterns never used (MetalLB's ``announcedInterfacesToExclude``).
            announce: announcement burst and refresh after a takeover.
            probe: probing before the first announcement.
            rescan_interval: seconds between safety-net interface rescans (events are handled at once regardless).
            rcvbuf: receive buffer per answering socket, in bytes.
        """
        self.ownership = Ownership(announce=announce, probe=probe)
        self.stats = L2Stats()
        self.monitor = InterfaceMonitor(exclude=exclude, on_events=self._on_link_events, rescan_interval=0)
        self._rescan_interval = rescan_interval
        self._rcvbuf = rcvbuf
        self._ports: dict[str, Port] = {}
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._rescan_task: asyncio.Task[None] | None = None
        self._groups_key: tuple[OwnedTable, frozenset[ipaddress.IPv6Address]] | None = None
        self._closed_socket_counts = (0, 0)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Discover interfaces, open their sockets, and start following link changes."""
        loop = self._event_loop()
        await self.monitor.start()
        if self._rescan_interval > 0:
            self._rescan_task = loop.create_task(self._rescan_periodically())

    async def stop(self) -> None:
        """Stop answering everywhere and close every socket (addresses are not announced as withdrawn: MetalLB's
        losing node simply goes quiet too)."""
        if self._rescan_task is not None:
            self._rescan_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rescan_task
            self._rescan_task = None
        await self.monitor.stop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        for name in list(self._ports):
            self._close_port(name)

    # -- the speaker's API -------------------------------------------------------------------------------------
    def set_owned(
        self, table: OwnedTable, *, takeover: Takeover | Mapping[IPAddress, Takeover] = Takeover.PROBE
    ) -> None:
        """Make ``table`` the addresses this node answers for (address -> interface names, None = every eligible one).

        New addresses are probed (per ``takeover``) and then announced; addresses missing from ``table`` stop being
        answered at once, unless :meth:`release` gave them a grace period.
        """
        self.ownership.set_owned(table, self._now(), takeover=takeover)
        self._flush()

    def release(self, ip: IPAddress, *, after: float) -> None:
        """Planned handover: stop announcing ``ip`` now, keep answering requests for it ``after`` more seconds."""
        self.ownership.release(ip, after=after, now=self._now())
        self._flush()

    def reannounce(self, ip: IPAddress) -> None:
        """Run ``ip``'s announcement burst again."""
        self.ownership.reannounce(ip, self._now())
        self._flush()

    def set_speaker_macs(self, macs: Iterable[str | bytes]) -> None:
        """MACs of every speaker's interfaces (from membership): ignored by ``Takeover.PROBE_IGNORING_SPEAKERS``."""
        self.ownership.set_speaker_macs(parse_mac(m) if isinstance(m, str) else m for m in macs)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event (announced, conflict, released, link). Returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def interfaces(self) -> dict[str, LinkState]:
        """Eligible interfaces and their link state."""
        return self.monitor.eligible()

    def answering(self) -> tuple[str, ...]:
        """Interfaces with open answering sockets, sorted: where this node answers ARP/NDP (what membership
        advertises)."""
        return tuple(sorted(self._ports))

    def macs(self) -> list[str]:
        """MACs of the eligible interfaces (what peers need for ``set_speaker_macs``)."""
        return sorted({format_mac(link.mac) for link in self.monitor.eligible().values() if link.mac})

    def phases(self) -> dict[IPAddress, Phase]:
        return self.ownership.phases()

    def read_stats(self) -> L2Stats:
        """The counters, with the kernel's socket counters refreshed."""
        packets, drops = self._closed_socket_counts
        for port in self._ports.values():
            port_packets, port_drops = port.statistics()
            packets, drops = packets + port_packets, drops + port_drops
        self.stats.socket_packets, self.stats.socket_drops = packets, drops
        return self.stats

    # -- the hot path ------------------------------------------------------------------------------------------
    def _answerer(self, interface: Interface, send: Callable[[bytes], bool]) -> Callable[[bytes], None]:
        answer = self.ownership.responder.answer
        requests = self.stats.requests_received
        responses = self.stats.responses_sent
        drops = self.stats.drops

        def on_frame(frame: bytes) -> None:
            result = answer(frame, interface)
            if isinstance(result, DropReason):
                drops[result] += 1
                return
            requests[result.address] += 1
            if send(result.frame):
                responses[result.address] += 1
            else:
                drops[DropReason.SEND_FAILED] += 1

        return on_frame

    # -- ports -------------------------------------------------------------------------------------------------
    def _open_port(self, link: LinkState) -> None:
        try:
            port = Port.open(link, answerer=self._answerer, rcvbuf=self._rcvbuf, loop=self._event_loop())
        except OSError as exc:
            logger.warning("cannot open packet sockets on {}: {}; will retry on the next rescan", link.name, exc)
            return
        self._ports[link.name] = port
        logger.info("answering ARP/NDP on {} ({})", link.name, format_mac(port.interface.mac))

    def _close_port(self, name: str) -> None:
        port = self._ports.pop(name, None)
        if port is None:
            return
        packets, drops = port.statistics()
        self._closed_socket_counts = (self._closed_socket_counts[0] + packets, self._closed_socket_counts[1] + drops)
        port.close()
        logger.info("stopped answering on {}", name)

    def _on_link_events(self, events: list[LinkEvent]) -> None:
        before = self.answering()
        wanted = {name: link for name, link in self.monitor.eligible().items() if link.up}
        for name, port in list(self._ports.items()):
            if name not in wanted or wanted[name].interface != port.interface or wanted[name].index != port.link.index:
                self._close_port(name)
        for name, link in wanted.items():
            if name not in self._ports:
                self._open_port(link)
        self._groups_key = None  # reopened sockets hold no group memberships yet
        self.ownership.set_interfaces({name: port.interface for name, port in self._ports.items()}, self._now())
        self._flush()
        for event in events:
            self._notify(event)
        if self.answering() != before:
            self._notify(PortsChanged(self.answering()))

    async def _rescan_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_interval)
            try:
                await self.monitor.rescan()
            except Exception:
                logger.exception("periodic interface rescan failed")
            if any(link.up and name not in self._ports for name, link in self.monitor.eligible().items()):
                self._on_link_events([])  # a port that failed to open: try again

    # -- the adapter loop: flush frames, dispatch events, sync sockets, re-arm the timer ---------------------
    def _flush(self) -> None:
        for out in self.ownership.data_to_send():
            port = self._ports.get(out.ifname)
            if port is None or not port.send(out.frame):
                self.stats.drops[DropReason.SEND_FAILED] += 1
                continue
            counters = self.stats.gratuitous_sent if out.purpose is Purpose.ANNOUNCEMENT else self.stats.probes_sent
            counters[out.ip.packed] += 1
        for event in self.ownership.events():
            self._on_core_event(event)
        self._sync_claim_listeners()
        self._sync_groups()
        self._arm_timer()

    def _on_core_event(self, event: Event) -> None:
        if isinstance(event, AddressConflict):
            self.stats.conflicts += 1
            logger.warning(
                "address {} is already used by {} on {} ({}); not announcing it",
                event.ip, event.mac, event.interface, event.evidence.value,
            )  # fmt: skip
        elif isinstance(event, AddressAnnounced):
            logger.info("announcing {} on {}", event.ip, ", ".join(event.interfaces) or "no interface yet")
        else:
            logger.info("released {}", event.ip)
        self._notify(event)

    def _notify(self, event: AnnouncerEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("L2 event listener failed on {}", event)

    def _sync_claim_listeners(self) -> None:
        listening = self.ownership.listening_interfaces()
        for name, port in self._ports.items():
            port.listen_for_claims(functools.partial(self._on_claim_frame, name) if name in listening else None)

    def _on_claim_frame(self, name: str, frame: bytes) -> None:
        self.ownership.receive(name, frame, self._now())
        self._flush()

    def _sync_groups(self) -> None:
        answered = self.ownership.answered()
        # Probed addresses are joined too, to hear another host's duplicate-address probe for them.
        probing = frozenset(ip for ip in self.ownership.probing() if isinstance(ip, ipaddress.IPv6Address))
        key = (answered, probing)
        if key == self._groups_key:
            return
        self._groups_key = key
        answered6 = [(ip, allowed) for ip, allowed in answered.items() if isinstance(ip, ipaddress.IPv6Address)]
        for name, port in self._ports.items():
            port.sync_groups([ip for ip, allowed in answered6 if allowed is None or name in allowed] + [*probing])

    def _arm_timer(self) -> None:
        deadline = self.ownership.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._event_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        deadline, self._timer_at = self._timer_at, None
        self.ownership.handle_timer(max(deadline or 0.0, self._now()))
        self._flush()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:  # the speaker may set the table before start()
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _now(self) -> float:
        return self._event_loop().time()


__all__ = ["AnnouncerEvent", "Announcer", "Listener", "PortsChanged"]
