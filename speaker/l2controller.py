"""The L2 controller: the view's elections -> the announcer's table, with the right takeover and release.

::

    SpeakerView.l2 (per Service: owner, addresses, interfaces)
        | on_changes(keys, context)                       context: which speakers just failed, and when
        v
    owned Services -> address table {ip: interfaces | None}
        | new address:  Takeover by cause (speaker.handover)     -> Announcer.set_owned(table, takeover=...)
        | lost address: another live owner -> release(after=grace), else dropped at once
        v
    Announcer events: AddressAnnounced -> ServiceL2Status + nodeAssigned + takeover latency metric
                      AddressConflict  -> Warning AddressConflict on the Service
                      LinkEvent, PortsChanged -> the app republishes our metadata (membership)

An address shared by several Services (``allow-shared-ip``) is answered once, on the union of their interfaces.
Every decision is taken on the event loop as soon as its input arrives: nothing here waits for the API server.

What this node publishes about itself (:meth:`L2Controller.metadata`) carries the start-up invariant of
:mod:`speaker.app`, "no node is elected owner before it can answer": it is *ready* only once this controller runs
(:meth:`start`: caches synced, membership joined, the announcer's ports open) on a loaded configuration, and until
then it lists no interface, so no speaker - this one included - counts it as a candidate. Readiness is checked after
every batch of decisions and published through ``on_metadata_change`` when it changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from loguru import logger

from ironlb.api.addresses import IPAddress
from speaker.handover import Cause, classify, takeover_mode
from speaker.l2.announcer import Announcer, AnnouncerEvent, PortsChanged
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Phase, Takeover
from speaker.l2.core.probe import AddressConflict
from speaker.l2.interfaces import LinkEvent
from speaker.liveness import Metadata
from speaker.metrics import SpeakerMetrics
from speaker.status.crs import L2, StatusWriter
from speaker.view import SpeakerView

Interfaces = frozenset[str] | None
#: forget the MACs of a speaker this long after it was last seen alive (a live speaker's are never forgotten)
MAC_MEMORY = 600.0


@dataclass(frozen=True, slots=True)
class Context:
    """What caused a batch of changes: the speakers that just failed, and when the loop learned it."""

    failed: frozenset[str] = frozenset()
    at: float | None = None


@dataclass(slots=True)
class Announcement:
    """One answered address, for the status service."""

    ip: IPAddress
    services: tuple[str, ...]
    interfaces: tuple[str, ...] = ()
    since: float = 0.0  # wall clock
    cause: str = ""
    phase: str = ""


@dataclass(slots=True)
class _Pending:
    cause: Cause
    at: float | None
    services: set[str] = field(default_factory=set)


def _union(values: Iterable[Interfaces]) -> Interfaces:
    out: set[str] = set()
    for value in values:
        if value is None:
            return None
        out |= value
    return frozenset(out)


class L2Controller:
    """Turns the view's L2 elections into the announcer's table. See the module docstring."""

    def __init__(
        self,
        *,
        view: SpeakerView,
        announcer: Announcer,
        status: StatusWriter,
        metrics: SpeakerMetrics,
        probe: bool,
        grace: float,
        clock: Callable[[], float],
        on_metadata_change: Callable[[], None],
    ) -> None:
        self.view = view
        self.node = view.node
        self.announcer = announcer
        self.status = status
        self.metrics = metrics
        self.probe = probe
        self.grace = grace
        self._clock = clock
        self._on_metadata_change = on_metadata_change
        #: Services this node owns -> (addresses, interfaces)
        self._owned: dict[str, tuple[tuple[IPAddress, ...], Interfaces]] = {}
        self._table: dict[IPAddress, Interfaces] = {}
        self._last_owner: dict[str, str | None] = {}
        #: addresses some speaker owned since start-up (or at start-up): taking one over is not a new allocation
        self._seen: set[IPAddress] = set()
        self._pending: dict[IPAddress, _Pending] = {}
        self._announced: dict[IPAddress, Announcement] = {}
        self._macs: dict[str, tuple[tuple[str, ...], float]] = {}
        self._started = False
        self._stopping = False
        self._published_ready = False

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Take the view as it is now (after start-up: caches synced, membership joined, ports open) and act on it.

        This node is not a candidate in that view yet (it was not ready); it becomes one when the metadata this
        makes ready reaches the view (``on_metadata_change``; our own MemberMetadataChanged), and takes over then,
        as a planned move from the current owners.
        """
        self.announcer.add_listener(self._on_announcer_event)
        for record in self.view.l2.values():
            if record.decision.owner is not None:
                self._seen.update(record.state.addresses)
        self._started = True
        self.on_changes(set(self.view.l2), Context())
        self._check_ready()

    def release_all(self) -> list[IPAddress]:
        """Planned stop: release every address (answered ``grace`` longer, or until its next owner announces it)
        and ignore further decisions. Returns the addresses still answered for now (an address that was only being
        probed is dropped at once: nobody ever heard it from us)."""
        self._stopping = True
        released = sorted(self._table, key=lambda a: (a.version, a))
        for ip in released:
            self.announcer.release(ip, after=self.grace)
        phases = self.announcer.phases()
        answered = [ip for ip in released if phases.get(ip) is Phase.RELEASING]
        for key in list(self._owned):
            for ip in self._owned[key][0]:
                self.metrics.set_announced(key, "layer2", self.node, str(ip), False)
        self._owned.clear()
        self._table.clear()
        return answered

    # -- decisions ---------------------------------------------------------------------------------------------
    def on_changes(self, keys: Iterable[str], context: Context) -> None:
        """The view's decisions for ``keys`` changed; update the table."""
        if not self._started or self._stopping:
            return
        self._check_ready()  # the configuration may just have loaded
        touched: set[IPAddress] = set()
        causes: dict[IPAddress, tuple[Cause, str]] = {}
        newly_owned: list[str] = []
        for key in sorted(keys):
            record = self.view.l2.get(key)
            decision = record.decision if record else None
            previous = self._last_owner.get(key)
            owner = decision.owner if decision else None
            self._last_owner[key] = owner
            if record is None:
                self._last_owner.pop(key, None)
            old = self._owned.pop(key, None)
            if old is not None:
                touched.update(old[0])
            if record is not None and owner == self.node:
                addresses = record.state.addresses
                self._owned[key] = (addresses, decision.interfaces if decision else None)
                touched.update(addresses)
                if old is None:
                    newly_owned.append(key)
                for ip in addresses:
                    if old is None or ip not in old[0]:
                        cause = classify(
                            previous, me=self.node, failed=context.failed, new_allocation=ip not in self._seen
                        )
                        causes.setdefault(ip, (cause, key))
            if record is not None and owner is not None:
                self._seen.update(record.state.addresses)  # some speaker answers it: no longer a new allocation
            self._sync_metric(key, old, self._owned.get(key))
            if old is not None and key not in self._owned:
                self.status.withdraw(L2, key)
        if touched:
            self._apply(touched, causes, context)
        for key in newly_owned:  # an address already answered for another Service (shared): report at once
            if any(ip in self._announced for ip in self._owned[key][0]):
                self.status.announce(L2, key, {"interfaces": [{"name": n} for n in self._interfaces_of(key)]})

    def _sync_metric(
        self,
        key: str,
        old: tuple[tuple[IPAddress, ...], Interfaces] | None,
        new: tuple[tuple[IPAddress, ...], Interfaces] | None,
    ) -> None:
        before = set(old[0]) if old else set()
        after = set(new[0]) if new else set()
        for ip in before - after:
            self.metrics.set_announced(key, "layer2", self.node, str(ip), False)
        for ip in after - before:
            self.metrics.set_announced(key, "layer2", self.node, str(ip), True)

    def _apply(self, touched: set[IPAddress], causes: Mapping[IPAddress, tuple[Cause, str]], context: Context) -> None:
        by_ip: dict[IPAddress, list[Interfaces]] = {}
        for addresses, interfaces in self._owned.values():
            for ip in addresses:
                if ip in touched:
                    by_ip.setdefault(ip, []).append(interfaces)
        takeovers: dict[IPAddress, Takeover] = {}
        moved: set[IPAddress] | None = None  # addresses another live speaker owns now (built once, if needed)
        for ip in sorted(touched, key=lambda a: (a.version, a)):
            if ip in by_ip:
                wanted = _union(by_ip[ip])
                if ip not in self._table:
                    cause, key = causes.get(ip, (Cause.RESUMED, ""))
                    takeovers[ip] = takeover_mode(cause, probe=self.probe)
                    self._pending[ip] = _Pending(cause, context.at)
                    self.metrics.takeovers.labels(cause.value).inc()
                    logger.bind(ip=str(ip), cause=cause.value, takeover=takeovers[ip].value, service=key).info(
                        "taking the address over"
                    )
                self._table[ip] = wanted
            elif ip in self._table:
                del self._table[ip]
                self._pending.pop(ip, None)
                if moved is None:
                    moved = self._owned_elsewhere()
                if ip in moved:
                    self.announcer.release(ip, after=self.grace)
                    logger.bind(ip=str(ip), grace=self.grace).info(
                        "address moved to another speaker; answering a while"
                    )
                else:
                    self._announced.pop(ip, None)
                    logger.bind(ip=str(ip)).info("no longer announcing the address")
        self.announcer.set_owned(dict(self._table), takeover=takeovers)

    def _owned_elsewhere(self) -> set[IPAddress]:
        """Addresses another (live) speaker owns now: losing one of those is a handover, not a withdrawal."""
        out: set[IPAddress] = set()
        for record in self.view.l2.values():
            owner = record.decision.owner
            if owner is not None and owner != self.node:
                out.update(record.state.addresses)
        return out

    # -- membership ----------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """This node acts on what it wins: started, not stopping, with a configuration. Others may elect it."""
        return self._started and not self._stopping and self.view.config is not None

    def metadata(self) -> Metadata:
        """What this node publishes: readiness, the interfaces it answers on (none until ready), and their MACs."""
        ready = self.ready
        up = frozenset(self.announcer.answering()) if ready else frozenset()
        return Metadata(up, tuple(self.announcer.macs()), ready)

    def _check_ready(self) -> None:
        if self.ready != self._published_ready:
            self._published_ready = self.ready
            logger.bind(ready=self.ready).info("this speaker can be elected now" if self.ready else "not electable")
            self._on_metadata_change()

    def learn_macs(self, members: Mapping[str, Metadata | None], now: float) -> None:
        """Every speaker's MACs (those that left recently included): a planned move's probe ignores them, and a
        releasing owner ends its grace when the next owner announces from one of them."""
        for name, meta in members.items():
            if meta is not None:
                self._macs[name] = (meta.macs, now)
            elif name in self._macs:
                self._macs[name] = (self._macs[name][0], now)
        for name, (macs, seen) in list(self._macs.items()):
            live = self.view.liveness.get(name)
            if live is not None and live.alive:
                self._macs[name] = (macs, now)  # alive now: seen now, however long ago its last event was
            elif now - seen > MAC_MEMORY:
                del self._macs[name]
        self.announcer.set_speaker_macs(sorted({mac for macs, _ in self._macs.values() for mac in macs}))

    # -- announcer events ----------------------------------------------------------------------------------------
    def _services_of(self, ip: IPAddress) -> list[str]:
        return sorted(key for key, (addresses, _) in self._owned.items() if ip in addresses)

    def _on_announcer_event(self, event: AnnouncerEvent) -> None:
        if isinstance(event, LinkEvent | PortsChanged):
            self._on_metadata_change()
        elif isinstance(event, AddressAnnounced):
            self._announced_ip(event)
        elif isinstance(event, AddressConflict):
            for key in self._services_of(event.ip):
                self.status.warn(
                    key,
                    "AddressConflict",
                    f"address {event.ip} is already used by another host ({event.mac} on {event.interface}, "
                    f"{event.evidence.value}); node {self.node!r} does not announce it. Remove the address from "
                    "that host or from the IPAddressPool.",
                )
        elif isinstance(event, AddressReleased):
            self._announced.pop(event.ip, None)
            if event.handed_to:
                logger.bind(ip=str(event.ip), mac=event.handed_to).info(
                    "its next owner announces it; no longer answering"
                )

    def _announced_ip(self, event: AddressAnnounced) -> None:
        pending = self._pending.pop(event.ip, None)
        services = self._services_of(event.ip)
        self._announced[event.ip] = Announcement(
            event.ip, tuple(services), event.interfaces, time.time(), pending.cause.value if pending else ""
        )
        if pending is not None and pending.at is not None:
            self.metrics.takeover_seconds.labels(pending.cause.value).observe(max(0.0, self._clock() - pending.at))
        for key in services:
            interfaces = self._interfaces_of(key)
            self.status.announce(L2, key, {"interfaces": [{"name": name} for name in interfaces]})

    def _interfaces_of(self, key: str) -> list[str]:
        names: set[str] = set()
        for ip in self._owned.get(key, ((), None))[0]:
            found = self._announced.get(ip)
            if found is not None:
                names.update(found.interfaces)
        return sorted(names)

    # -- status --------------------------------------------------------------------------------------------------
    def announcements(self) -> list[Announcement]:
        phases = self.announcer.phases()
        out: list[Announcement] = []
        for ip in sorted(set(self._table) | set(phases), key=lambda a: (a.version, a)):
            found = self._announced.get(ip) or Announcement(ip, tuple(self._services_of(ip)))
            phase = phases.get(ip)
            out.append(
                Announcement(
                    ip,
                    tuple(self._services_of(ip)) or found.services,
                    found.interfaces,
                    found.since,
                    found.cause,
                    phase.value if phase else "",
                )
            )
        return out


__all__ = ["Announcement", "Context", "L2Controller"]
