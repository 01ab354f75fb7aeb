"""The adapter loop of one peer: sans-IO sessions in, sockets and timers out (style anchor 3).

Theory of operation
-------------------
A :class:`PeerDriver` owns a :class:`~speaker.bgp.core.peer.PeerSessions` (the peer's session and, during a
collision, its twin) and, for each live session, at most one transport, one connect attempt and one timer. Every
input takes the same path::

    socket bytes / connection end / timer / command
        -> Session method (with loop.time() as now)        -> events
        -> _handle(event): connect, close, metrics, logs, hooks
        -> PeerSessions.after(events): collision detection -> more events, same loop
        -> write data_to_send(); re-arm the timer at next_deadline()

Nothing here parses a message or knows a protocol constant; the session decides, the driver carries it out.
A connect attempt ends when the session says so: ``CloseRequested`` cancels it (the ConnectRetryTimer is the
timeout), a failure reports ``connection_lost``. A transport the session closed is never reported back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from loguru import logger

from ironlb.config.model import BGPPeer
from speaker.bgp import transport as tcp
from speaker.bgp.core import events as ev
from speaker.bgp.core.attributes import IPNetwork
from speaker.bgp.core.fsm import State
from speaker.bgp.core.iana import CeaseSubcode
from speaker.bgp.core.outbound import ConnectionInfo, SessionConfig
from speaker.bgp.core.peer import Outcome, PeerSessions
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.core.session import Session
from speaker.bgp.metrics import BgpMetrics

#: called with (peer name, established?) whenever a peer's session comes up or goes down (the BFD hook)
StateListener = Callable[[str, bool], None]


def peer_label(peer: BGPPeer) -> str:
    """MetalLB's ``peer`` metric label: ``addr:port`` (``[v6]:port``)."""
    address = peer.peer_address or peer.interface or "?"
    host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    return f"{host}:{peer.peer_port}"


@dataclass
class _Link:
    transport: asyncio.Transport | None = None
    connecting: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    failures: int = 0


@dataclass
class DriverContext:
    metrics: BgpMetrics
    listeners: list[StateListener] = field(default_factory=list)
    gtsm: bool = False


class PeerDriver:
    """Runs one configured peer's sessions on the event loop."""

    def __init__(self, peer: BGPPeer, config: SessionConfig, context: DriverContext) -> None:
        self.peer = peer
        self.label = peer_label(peer)
        self.sessions = PeerSessions(config)
        self.stopped = asyncio.Event()
        self._ctx = context
        self._links: dict[Session, _Link] = {}
        self._accepting: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._gauges_dirty = True
        self._loop = asyncio.get_running_loop()
        self._log = logger.bind(peer=peer.name, address=self.label)
        self._md5_seen = tcp.md5_drop_counters() if peer.password else {}

    # -- commands ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._ctx.metrics.session_up.labels(self.label).set(0)
        self._process(self.sessions.start(self._loop.time()))

    def stop(self, *, graceful: bool, message: str, restarting: bool = False, subcode: CeaseSubcode) -> None:
        self._stopping = True
        now = self._loop.time()
        self._process(
            self.sessions.stop(now, graceful=graceful, message=message, restarting=restarting, subcode=subcode)
        )

    def set_routes(self, routes: Mapping[IPNetwork, RouteAttrs]) -> None:
        self._gauges_dirty = True
        self._process(self.sessions.set_routes(routes, self._loop.time()))

    def peer_down(self, reason: str) -> None:
        self._process(self.sessions.peer_down(self._loop.time(), reason))

    def close(self) -> None:
        """Drop everything at once (after ``stop`` has finished, or at exit)."""
        for task in self._accepting:
            task.cancel()
        for link in self._links.values():
            self._release(link)
        self._links.clear()

    # -- connections ---------------------------------------------------------------------------------
    def accept(self, transport: asyncio.Transport, protocol: tcp.StreamProtocol) -> None:
        """An accepted connection from this peer's address; bound to a session after an address lookup."""
        task = self._loop.create_task(self._accept(transport, protocol))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    async def _accept(self, transport: asyncio.Transport, protocol: tcp.StreamProtocol) -> None:
        try:
            info = await self._connection_info(transport, initiated_locally=False)
        except asyncio.CancelledError:
            transport.close()
            raise
        session, events = (None, []) if self._stopping else self.sessions.incoming(self._loop.time(), info)
        if session is None:
            self._log.info("refused a connection from the peer: its session is {}", self.sessions.main.state.value)
            transport.close()
            return
        link = self._links.setdefault(session, _Link())
        if link.connecting is not None:  # the peer was faster than our own attempt
            link.connecting.cancel()
            link.connecting = None
        link.transport = transport
        self._process([(session, events)])
        protocol.bind(self._on_data(session, transport), self._on_lost(session, transport))

    async def _connect(self, session: Session, link: _Link) -> None:
        peer = self.peer
        assert peer.peer_address is not None
        protocol = tcp.StreamProtocol()
        try:
            transport = await tcp.open_connection(
                peer.peer_address,
                peer.peer_port,
                source=peer.source_address,
                password=peer.password,
                gtsm=self._ctx.gtsm,
                protocol=protocol,
            )
        except OSError as exc:
            if link.connecting is asyncio.current_task():
                link.connecting = None
                self._connect_failed(link, f"connect failed: {exc.strerror or exc}")
                self._process([(session, session.connection_lost(self._loop.time(), f"connect failed: {exc}"))])
            return
        try:
            info = await self._connection_info(transport, initiated_locally=True)
        except asyncio.CancelledError:
            transport.close()
            raise
        if link.connecting is not asyncio.current_task() or not session.accepts_connection():
            transport.close()  # abandoned meanwhile (the peer connected first, or the session moved on)
            return
        link.connecting, link.transport, link.failures = None, transport, 0
        self._process([(session, session.connection_made(self._loop.time(), info))])
        protocol.bind(self._on_data(session, transport), self._on_lost(session, transport))

    async def _connection_info(self, transport: asyncio.Transport, *, initiated_locally: bool) -> ConnectionInfo:
        local, remote = tcp.endpoints(transport)
        try:
            facts = await asyncio.to_thread(tcp.interface_facts, local, remote)
        except Exception as exc:  # netlink trouble must not stop the session: next hops fall back to `local`
            self._log.warning("could not read the addresses of the interface holding {}: {}", local, exc)
            facts = tcp.InterfaceFacts()
        return ConnectionInfo(
            local=local,
            remote=remote,
            initiated_locally=initiated_locally,
            ipv4=facts.ipv4,
            ipv6=facts.ipv6,
            ipv6_link_local=facts.ipv6_link_local,
            on_link=facts.on_link,
        )

    def _connect_failed(self, link: _Link, why: str) -> None:
        link.failures += 1
        if not self.peer.password or (link.failures not in (3, 10) and link.failures % 50):
            self._log.debug("BGP connect attempt failed: {}", why)
            return
        verdict, self._md5_seen = tcp.md5_verdict(self.peer.name, self._md5_seen)
        self._log.warning(
            "no BGP session with {} after {} connect attempts ({}); {}", self.label, link.failures, why, verdict
        )

    def _on_data(self, session: Session, transport: asyncio.Transport) -> Callable[[bytes], None]:
        def on_data(data: bytes) -> None:
            if self._links.get(session, _Link()).transport is transport:
                self._process([(session, session.receive_data(data, self._loop.time()))])

        return on_data

    def _on_lost(self, session: Session, transport: asyncio.Transport) -> Callable[[str], None]:
        def on_lost(reason: str) -> None:
            link = self._links.get(session)
            if link is not None and link.transport is transport:
                link.transport = None
                self._process([(session, session.connection_lost(self._loop.time(), reason))])

        return on_lost

    # -- the loop ------------------------------------------------------------------------------------
    def _process(self, outcome: Outcome) -> None:
        work = deque(outcome)
        now = self._loop.time()
        while work:
            session, events = work.popleft()
            for event in events:
                self._handle(session, event)
            work.extend(self.sessions.after(session, events, now))
            self._write(session)
        live = set(self.sessions.sessions())
        for session in [s for s in self._links if s not in live]:
            self._release(self._links.pop(session))
        for session in live:
            self._arm(session)
        if self._gauges_dirty:
            self._gauges_dirty = False
            self._update_gauges()
        if self._stopping and all(s.state is State.IDLE for s in live):
            self.stopped.set()

    def _write(self, session: Session) -> None:
        data = session.data_to_send()
        link = self._links.get(session)
        if data and link is not None and link.transport is not None:
            link.transport.write(data)

    def _arm(self, session: Session) -> None:
        link = self._links.setdefault(session, _Link())
        if link.timer is not None:
            link.timer.cancel()
            link.timer = None
        deadline = session.next_deadline()
        if deadline is not None:
            link.timer = self._loop.call_at(deadline, self._on_timer, session, deadline)

    def _on_timer(self, session: Session, deadline: float) -> None:
        # a slightly early wake-up still counts as the deadline (aioquic's max(timer_at, loop.time()))
        self._process([(session, session.handle_timer(max(deadline, self._loop.time())))])

    def _release(self, link: _Link) -> None:
        if link.connecting is not None:
            link.connecting.cancel()
        if link.transport is not None:
            link.transport.close()
        if link.timer is not None:
            link.timer.cancel()
        link.connecting = link.transport = link.timer = None

    def _handle(self, session: Session, event: ev.Event) -> None:
        metrics, label, say = self._ctx.metrics, self.label, self._log
        match event:
            case ev.ConnectRequested():
                link = self._links.setdefault(session, _Link())
                if link.connecting is not None:
                    link.connecting.cancel()
                link.connecting = self._loop.create_task(self._connect(session, link))
            case ev.CloseRequested(reason=reason):
                link = self._links.setdefault(session, _Link())
                if link.connecting is not None:
                    link.connecting.cancel()
                    link.connecting = None
                    self._connect_failed(link, f"no answer ({reason})")
                if link.transport is not None:
                    self._write(session)
                    link.transport.close()
                    link.transport = None
            case ev.SessionEstablished(negotiated=neg):
                metrics.session_up.labels(label).set(1)
                say.info(
                    "BGP session established: AS {} router-id {}, hold {:g} s, families {}, graceful restart {}",
                    neg.peer_asn,
                    neg.peer_router_id,
                    neg.hold_time,
                    sorted(neg.families),
                    "on" if neg.graceful_restart else "off",
                )
                self._tell(True)
            case ev.SessionDown(reason=reason):
                metrics.session_up.labels(label).set(0)
                self._gauges_dirty = True
                say.warning("BGP session down: {}", reason)
                self._tell(False)
            case ev.NotificationSent(notification=n) | ev.NotificationReceived(notification=n):
                direction = "sent" if isinstance(event, ev.NotificationSent) else "received"
                metrics.notifications.labels(label, direction, f"{n.code}/{n.subcode}").inc()
                say.info("BGP NOTIFICATION {}: {}", direction, n.describe())
            case ev.UpdatesSent(messages=count):
                metrics.updates.labels(label).inc(count)
                self._gauges_dirty = True
            case ev.MessageDropped(reason=reason, count=count, detail=detail):
                metrics.dropped.labels(label, reason.value).inc(count)
                say.debug("ignored input reason={} count={} {}", reason.value, count, detail)
            case ev.InternalError(detail=detail):
                say.error("BGP session reset by an internal error (a bug, please report it): {}", detail)
            case ev.StateChanged(old=old, new=new, cause=cause):
                say.debug("BGP state {} -> {} on {}", old.value, new.value, cause.name)
            case _:
                pass

    def _tell(self, established: bool) -> None:
        for listener in list(self._ctx.listeners):
            try:
                listener(self.peer.name, established)
            except Exception as exc:  # a listener's bug must not break the session loop
                self._log.error("session state listener failed: {}", exc)

    def _update_gauges(self) -> None:
        session = self.sessions.established or self.sessions.main
        self._ctx.metrics.announced.labels(self.label).set(session.rib.announced)
        self._ctx.metrics.pending.labels(self.label).set(session.rib.pending())


async def wait_stopped(drivers: list[PeerDriver], limit: float) -> None:
    """Wait until every driver has stopped, or ``limit`` seconds; never raises when time runs out."""
    if not drivers:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await asyncio.gather(*(d.stopped.wait() for d in drivers))


__all__ = ["DriverContext", "PeerDriver", "StateListener", "peer_label", "wait_stopped"]
