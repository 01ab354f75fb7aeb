"""One BGP peering, sans-IO: bytes and time in; bytes, events and the next deadline out.

Theory of operation
-------------------
A :class:`Session` is the RFC 4271 FSM of one peer plus everything it needs: the timers, the receive buffer,
the negotiated capabilities and the Adj-RIB-Out. It never touches a socket or a clock (style anchors 1-2):

* inputs: ``receive_data(data, now)``, ``handle_timer(now)``, and the commands ``start``, ``stop``, ``set_routes``,
  ``connection_made``, ``connection_lost``, ``peer_down`` (BFD), ``collision_dump`` and ``resume`` (reading
  pauses after a valid OPEN so that the adapter runs collision detection first, RFC 4271 6.8);
* outputs: each of those returns the :mod:`~speaker.bgp.core.events` it produced; ``data_to_send()`` returns the
  bytes to write; ``next_deadline()`` the absolute time (on ``now``'s clock) at which to call ``handle_timer``.

Every input becomes an FSM event (:mod:`~speaker.bgp.core.fsm`); the table says which actions run, and this
module runs them. Decoding errors become the NOTIFICATION :func:`~speaker.bgp.core.errors.to_notification`
builds, at one place (:meth:`Session._on_bytes`); nothing raises out of ``receive_data``, whatever the bytes.

Timers (RFC 4271 section 10): the HoldTimer is enforced on what we *receive* - every KEEPALIVE or UPDATE restarts
it, and its expiry sends NOTIFICATION Hold Timer Expired and drops the session (MetalLB's native speaker never
did, #777). Keepalives go out every ``min(configured keepalive, negotiated hold / 3)``; a negotiated hold of 0
disables both (section 4.4). The ConnectRetryTimer doubles from 1 s to 30 s between attempts (or stays at the
peer's ``connectTime``), and the same back-off delays the automatic restart after a session fails.

Routes: ``set_routes`` replaces the desired Adj-RIB-Out at any time; in Established the difference goes out at
once, packed (``rib.py``), with the attributes ``outbound.py`` builds. Received routes are counted and ignored.

Stopping (``stop``):

* planned restart with graceful restart negotiated (``restarting=True``): close without a NOTIFICATION, so that
  the peer keeps our routes as stale for the restart time (RFC 4724 section 4.2), until the next session sends
  End-of-RIB. **Pair GR with BFD**: the router also keeps a *dead* speaker's routes for the whole restart time
  (lab-notes: GR trap), and only a BFD down bypasses that;
* otherwise, when graceful and Established: RFC 8326 graceful shutdown - announce every route again with the
  GRACEFUL_SHUTDOWN community (65535:0; LOCAL_PREF 0 on iBGP) so the router moves traffic away, wait
  ``shutdown_wait`` seconds, withdraw everything, then send Cease / Administrative Shutdown with the operator's
  message (RFC 9003);
* otherwise the Cease goes out at once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ironlb.config.model import DynamicASN
from speaker.bgp.core import events as ev
from speaker.bgp.core import iana
from speaker.bgp.core.attributes import DecodeContext, EncodeContext, IPNetwork, PathAttributes
from speaker.bgp.core.capabilities import Negotiated, negotiate
from speaker.bgp.core.errors import BgpError, DropReason, ErrorAction, open_error, to_notification
from speaker.bgp.core.fsm import (
    TIMER_EVENTS,
    Action,
    FsmEvent,
    State,
    Timer,
    event_for_error,
    fsm_error_subcode,
    transition,
)
from speaker.bgp.core.messages import (
    KEEPALIVE_BYTES,
    Keepalive,
    Message,
    Notification,
    Open,
    Update,
    decode_message,
    message_length,
)
from speaker.bgp.core.messages import RouteRefresh as RouteRefreshMessage
from speaker.bgp.core.outbound import (
    ConnectionInfo,
    SessionConfig,
    default_router_id,
    local_capabilities,
    path_attributes,
)
from speaker.bgp.core.rib import AdjRibOut, Family, RouteAttrs

_DROP_FOR_ACTION = {
    ErrorAction.DISCARD: DropReason.ATTRIBUTE_DISCARDED,
    ErrorAction.WITHDRAW: DropReason.TREAT_AS_WITHDRAW,
    ErrorAction.AFI_SAFI_DISABLE: DropReason.AFI_SAFI_DISABLED,
}


@dataclass
class SessionStats:
    messages_sent: int = 0
    messages_received: int = 0
    updates_sent: int = 0
    updates_received: int = 0
    notifications_sent: int = 0
    notifications_received: int = 0
    prefixes_received: int = 0
    established_count: int = 0


class Session:
    """The per-peer sans-IO BGP speaker. Not thread-safe; one adapter drives it."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.rib = AdjRibOut()
        self.stats = SessionStats()
        self.negotiated: Negotiated | None = None
        self.connection: ConnectionInfo | None = None
        self.router_id: ipaddress.IPv4Address | None = config.router_id
        self.established_at: float | None = None
        #: a sentence on the last NOTIFICATION sent or received, or why the session last went down (for status)
        self.last_error = ""
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._events: list[ev.Event] = []
        self._timers: dict[Timer, float] = {}
        self._retry = config.connect_retry
        self._connected = False
        self._connecting = False
        self._stopping = False
        self._draining = False
        self._cause: BgpError | None = None
        self._cease: Notification | None = None
        self._local_open: Open | None = None
        self._sent: Notification | None = None
        self._received: Notification | None = None
        self._disabled: set[Family] = set()
        #: stop reading after a valid OPEN until the adapter has run collision detection (RFC 4271 6.8)
        self._paused = False

    # -- outputs ---------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """The bytes to write to the connection, in order; empties the queue."""
        out, self._out = b"".join(self._out), []
        return out

    def next_deadline(self) -> float | None:
        """When to call :meth:`handle_timer` next (absolute, on the clock of ``now``), or None."""
        return min(self._timers.values(), default=None)

    # -- commands --------------------------------------------------------------------------------
    def start(self, now: float, *, passive: bool | None = None) -> list[ev.Event]:
        """Start: connect, or with ``passive`` (default: the config's) only wait for the peer to connect."""
        self._stopping = False
        passive = self.config.passive if passive is None else passive
        event = FsmEvent.AUTOMATIC_START_PASSIVE if passive else FsmEvent.MANUAL_START
        return self._run(lambda: self._fire(event, now))

    def stop(
        self,
        now: float,
        *,
        graceful: bool,
        message: str = "",
        restarting: bool = False,
        subcode: iana.CeaseSubcode = iana.CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> list[ev.Event]:
        """ManualStop. ``graceful``: a planned stop (RFC 8326 drain, or RFC 4724 when ``restarting``).

        Args:
            now: the current time.
            graceful: drain traffic first (RFC 8326) instead of sending the Cease at once.
            message: the shutdown communication (RFC 9003) sent with the Cease.
            restarting: this process is about to restart; with graceful restart negotiated the connection is
                closed without a NOTIFICATION so that the peer keeps our routes (RFC 4724).
            subcode: the Cease subcode (Administrative Shutdown, Peer De-configured, ...).
        """
        return self._run(lambda: self._stop(now, graceful, message, restarting, subcode))

    def connection_made(self, now: float, info: ConnectionInfo) -> list[ev.Event]:
        """A TCP connection is up: ours (Tcp_CR_Acked) or the peer's (TcpConnectionConfirmed).

        Raises:
            RuntimeError: when the session cannot take a connection now (see :meth:`accepts_connection`).
        """
        if not self.accepts_connection():
            raise RuntimeError(f"a session in state {self.state.value} cannot take a new connection")
        return self._run(lambda: self._connection_made(now, info))

    def accepts_connection(self) -> bool:
        """True in Connect and Active: the only states in which a new TCP connection becomes this session's."""
        return self.state in (State.CONNECT, State.ACTIVE)

    @property
    def paused(self) -> bool:
        """True after a valid OPEN: collision detection must run before :meth:`resume` reads further."""
        return self._paused

    def resume(self, now: float) -> list[ev.Event]:
        """Continue with the bytes received after the OPEN (collision detection has run)."""

        def go_on() -> None:
            self._paused = False
            self._on_bytes(b"", now)

        return self._run(go_on)

    def connection_lost(self, now: float, reason: str = "connection closed") -> list[ev.Event]:
        """The connection (or the connect attempt) failed or was closed by the peer: TcpConnectionFails."""

        def lost() -> None:
            if not (self._connected or self._connecting):
                return
            self._connected = self._connecting = False
            self._fire(FsmEvent.TCP_CONNECTION_FAILS, now, reason=reason)

        return self._run(lost)

    def set_routes(self, routes: Mapping[IPNetwork, RouteAttrs], now: float) -> list[ev.Event]:
        """Replace the routes this peer should hold; in Established the changes are sent at once."""

        def apply() -> None:
            self.rib.set_desired(routes)
            if self.state is State.ESTABLISHED:
                self._flush(now)

        return self._run(apply)

    def peer_down(self, now: float, reason: str) -> list[ev.Event]:
        """AutomaticStop from outside (BFD saw the path die): Cease / BFD Down (RFC 9384), restart later."""

        def down() -> None:
            self.last_error = reason
            self._cease = Notification.cease(iana.CeaseSubcode.BFD_DOWN)
            self._fire(FsmEvent.AUTOMATIC_STOP, now, reason=reason)

        return self._run(down)

    def collision_dump(self, now: float) -> list[ev.Event]:
        """OpenCollisionDump: this connection lost collision resolution (RFC 4271 section 6.8)."""
        return self._run(lambda: self._fire(FsmEvent.OPEN_COLLISION_DUMP, now, reason="connection collision"))

    # -- inputs ----------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> list[ev.Event]:
        """Bytes from the connection. Never raises: protocol errors become NOTIFICATIONs and events."""
        return self._run(lambda: self._on_bytes(data, now))

    def handle_timer(self, now: float) -> list[ev.Event]:
        """Fire every timer due at ``now``."""

        def fire() -> None:
            while True:
                due = [(deadline, timer) for timer, deadline in self._timers.items() if deadline <= now]
                if not due:
                    return
                _, timer = min(due, key=lambda d: d[0])
                del self._timers[timer]
                if timer is Timer.SHUTDOWN_WAIT:
                    self._finish_drain(now)
                elif timer is Timer.IDLE_HOLD and self.config.passive:
                    self._fire(FsmEvent.AUTOMATIC_START_PASSIVE, now)
                else:
                    self._fire(TIMER_EVENTS[timer], now)

        return self._run(fire)

    # -- the engine ------------------------------------------------------------------------------
    def _run(self, body: Callable[[], None]) -> list[ev.Event]:
        try:
            body()
        except Exception as exc:  # a bug of ours must not take the daemon down; it resets this session
            self._events.append(ev.InternalError(f"{type(exc).__name__}: {exc}"))
            self._reset_after_bug()
        events, self._events = self._events, []
        return events

    def _reset_after_bug(self) -> None:
        if self._connected or self._connecting:
            self._events.append(ev.CloseRequested("internal error"))
        self._connected = self._connecting = self._draining = False
        self._timers.clear()
        self._buf.clear()
        self.rib.reset()
        self.state = State.IDLE

    def _fire(self, event: FsmEvent, now: float, *, reason: str = "", error: BgpError | None = None) -> None:
        old = self.state
        step = transition(old, event)
        self.state = step.next_state
        if old is not step.next_state:
            self._events.append(ev.StateChanged(old, step.next_state, event))
        self._cause = error
        for action in step.actions:
            self._do(action, now, old, reason or event.name.lower())
        if step.next_state is State.IDLE and self._stopping and old is not State.IDLE:
            self._timers.clear()
            self._events.append(ev.Stopped())

    def _do(self, action: Action, now: float, old: State, reason: str) -> None:
        match action:
            case Action.CONNECT:
                timeout = self._next_retry()
                self._timers[Timer.CONNECT_RETRY] = now + timeout
                self._connecting = True
                self._events.append(ev.ConnectRequested(timeout))
            case Action.RETRY_LATER:
                if not self.config.passive:
                    self._timers[Timer.CONNECT_RETRY] = now + self._next_retry()
            case Action.STOP_CONNECT_RETRY:
                self._timers.pop(Timer.CONNECT_RETRY, None)
            case Action.SEND_OPEN:
                self._local_open = self._build_open()
                self._queue(self._local_open.encode())
                self._timers[Timer.HOLD] = now + iana.LARGE_HOLD_TIME
            case Action.SEND_KEEPALIVE:
                self._queue(KEEPALIVE_BYTES)
                self._restart_keepalive(now)
            case Action.START_TIMERS | Action.RESTART_HOLD_TIMER:
                if self.negotiated is not None and self.negotiated.hold_time > 0:
                    self._timers[Timer.HOLD] = now + self.negotiated.hold_time
                else:
                    self._timers.pop(Timer.HOLD, None)  # RFC 4271 4.4: a Hold Time of zero, no hold timer
                if action is Action.START_TIMERS:
                    self._restart_keepalive(now)
            case Action.ESTABLISH:
                self._establish(now)
            case Action.PROCESS_UPDATE | Action.PROCESS_ROUTE_REFRESH:
                pass  # done by _on_message, which has the message
            case Action.SEND_ERROR_NOTIFICATION:
                if self._cause is not None:
                    self._notify(to_notification(self._cause), self._cause.message)
            case Action.SEND_CEASE:
                if self._cease is not None:
                    self._notify(self._cease, reason)
            case Action.SEND_HOLD_EXPIRED:
                self._notify(Notification(iana.ErrorCode.HOLD_TIMER_EXPIRED), reason)
            case Action.SEND_COLLISION_CEASE:
                self._notify(Notification.cease(iana.CeaseSubcode.CONNECTION_COLLISION_RESOLUTION), reason)
            case Action.SEND_FSM_ERROR:
                self._notify(Notification(iana.ErrorCode.FSM, fsm_error_subcode(old)), f"{reason} in {old.value}")
            case Action.DROP_CONNECTION:
                self._drop(old, reason)
            case Action.SCHEDULE_RESTART:
                if not self._stopping:
                    self._timers[Timer.IDLE_HOLD] = now + self._next_retry()

    def _next_retry(self) -> float:
        if self.config.connect_retry_fixed is not None:
            return self.config.connect_retry_fixed
        interval = self._retry
        self._retry = min(self._retry * 2, self.config.connect_retry_max)
        return interval

    def _restart_keepalive(self, now: float) -> None:
        # RFC 4271 section 10: keepalives at a third of the hold time; none when the hold time is 0 (4.4).
        keepalive = self.negotiated.keepalive_time if self.negotiated is not None else 0.0
        if keepalive > 0:
            self._timers[Timer.KEEPALIVE] = now + keepalive
        else:
            self._timers.pop(Timer.KEEPALIVE, None)

    def _queue(self, data: bytes) -> None:
        if self._connected:
            self._out.append(data)
            self.stats.messages_sent += 1

    def _notify(self, notification: Notification, reason: str) -> None:
        if self._connected:
            self._queue(notification.encode())
            self.stats.notifications_sent += 1
            self._sent = notification
            self.last_error = f"we sent NOTIFICATION {notification.describe()} ({reason.replace('_', ' ')})"
            self._events.append(ev.NotificationSent(notification))

    def _drop(self, old: State, reason: str) -> None:
        if self._connected or self._connecting:
            self._events.append(ev.CloseRequested(reason))
        self._connected = self._connecting = self._draining = self._paused = False
        for timer in (Timer.HOLD, Timer.KEEPALIVE, Timer.CONNECT_RETRY, Timer.SHUTDOWN_WAIT):
            self._timers.pop(timer, None)
        self._buf.clear()
        self.rib.reset()
        self._disabled.clear()
        if old is State.ESTABLISHED:
            why = self._down_reason(reason)
            self.last_error = why
            self._events.append(ev.SessionDown(why, self._sent, self._received))
        elif not (self._sent or self._received) and old in (State.OPEN_SENT, State.OPEN_CONFIRM):
            self.last_error = reason.replace("_", " ")
        self.negotiated = None
        self.established_at = None

    def _down_reason(self, reason: str) -> str:
        if self._received is not None:
            return f"the peer sent NOTIFICATION {self._received.describe()}"
        if self._sent is not None:
            return self.last_error
        return reason.replace("_", " ")

    # -- connection and stop ---------------------------------------------------------------------
    def _connection_made(self, now: float, info: ConnectionInfo) -> None:
        self.connection = info
        self._connected, self._connecting = True, False
        self._buf.clear()
        self._sent = self._received = None
        self.router_id = self.config.router_id or default_router_id(info.local, info.ipv4, self.config.node_name)
        event = FsmEvent.TCP_CR_ACKED if info.initiated_locally else FsmEvent.TCP_CONNECTION_CONFIRMED
        self._fire(event, now)

    def _stop(self, now: float, graceful: bool, message: str, restarting: bool, subcode: iana.CeaseSubcode) -> None:
        self._stopping = True
        self._timers.pop(Timer.IDLE_HOLD, None)
        self._cease = Notification.cease(subcode, message)
        if self.state is State.IDLE:
            self._timers.clear()
            self._events.append(ev.Stopped())
            return
        if self.state is State.ESTABLISHED and graceful and self.negotiated is not None:
            if restarting and self.negotiated.graceful_restart:
                # RFC 4724 section 4: no NOTIFICATION, so the peer retains our routes across the restart.
                self._cease = None
            elif self.config.shutdown_wait > 0 and self.rib.announced and not self._draining:
                # RFC 8326 section 4.1: re-announce with GRACEFUL_SHUTDOWN, wait, then withdraw.
                self._draining = True
                self.rib.forget()
                self._flush(now)
                self._timers[Timer.SHUTDOWN_WAIT] = now + self.config.shutdown_wait
                return
            elif self._draining:
                return
        self._fire(FsmEvent.MANUAL_STOP, now, reason=message or "stopped")

    def _finish_drain(self, now: float) -> None:
        self.rib.set_desired({})
        self._flush(now)
        self._fire(FsmEvent.MANUAL_STOP, now, reason="graceful shutdown finished")

    # -- receiving -------------------------------------------------------------------------------
    def _on_bytes(self, data: bytes, now: float) -> None:
        if not self._connected:
            if data:
                self._events.append(
                    ev.MessageDropped(DropReason.DATA_AFTER_CLOSE, len(data), "bytes without a session")
                )
            return
        self._buf += data
        while self._connected and not self._paused:
            try:
                length = message_length(self._buf)
                if length is None or len(self._buf) < length:
                    return
                raw = bytes(self._buf[:length])
                del self._buf[:length]
                self.stats.messages_received += 1
                message = decode_message(raw, self._decode_context())
            except BgpError as error:
                self._fire(event_for_error(error.code), now, error=error)
                return
            self._on_message(message, now)

    def _on_message(self, message: Message, now: float) -> None:
        match message:
            case Open():
                self._on_open(message, now)
            case Keepalive():
                self._fire(FsmEvent.KEEPALIVE_MSG, now)
            case Update():
                if self.state is State.ESTABLISHED:
                    self._process_update(message)
                self._fire(FsmEvent.UPDATE_MSG, now)
            case Notification():
                self.stats.notifications_received += 1
                self._received = message
                self.last_error = f"the peer sent NOTIFICATION {message.describe()}"
                self._events.append(ev.NotificationReceived(message))
                version_error = (message.code, message.subcode) == (iana.ErrorCode.OPEN_MESSAGE, 1)
                event = FsmEvent.NOTIF_MSG_VER_ERR if version_error else FsmEvent.NOTIF_MSG
                self._fire(event, now, reason=f"the peer sent NOTIFICATION {message.describe()}")
            case RouteRefreshMessage():
                if self.state is State.ESTABLISHED:
                    self._process_route_refresh(message, now)
                self._fire(FsmEvent.ROUTE_REFRESH_MSG, now)

    def _on_open(self, message: Open, now: float) -> None:
        if self.state is not State.OPEN_SENT:
            self._fire(FsmEvent.BGP_OPEN, now)
            return
        try:
            self.negotiated = self._check_open(message)
        except BgpError as error:
            self._fire(FsmEvent.BGP_OPEN_MSG_ERR, now, error=error)
            return
        assert self.router_id is not None
        self._events.append(ev.OpenReceived(message.router_id, message.asn, self.router_id))
        self._fire(FsmEvent.BGP_OPEN, now)
        self._paused = self._current() is State.OPEN_CONFIRM

    def _current(self) -> State:
        # read through a call: mypy keeps the narrowing of an earlier `self.state` check across _fire()
        return self.state

    def _check_open(self, message: Open) -> Negotiated:
        cfg, asn = self.config, message.asn
        local = cfg.local_asn
        if cfg.peer_asn is not None and asn != cfg.peer_asn:
            # RFC 4271 section 6.2: an unacceptable "My Autonomous System" is "Bad Peer AS".
            raise open_error(iana.OpenSubcode.BAD_PEER_AS, message=f"the peer is AS {asn}, configured {cfg.peer_asn}")
        if cfg.peer_asn is None and (asn == local) != (cfg.peer_kind is DynamicASN.INTERNAL):
            kind = cfg.peer_kind.value if cfg.peer_kind else "any"
            raise open_error(iana.OpenSubcode.BAD_PEER_AS, message=f"AS {asn} is not an {kind} peer of AS {local}")
        if asn == local and message.router_id == self.router_id:
            # RFC 6286 section 2.2: internal peers must have different BGP Identifiers.
            raise open_error(iana.OpenSubcode.BAD_BGP_IDENTIFIER, message=f"the peer uses our id {self.router_id}")
        assert self._local_open is not None
        return negotiate(
            local=self._local_open.capabilities,
            remote=message.capabilities,
            local_hold=self._local_open.hold_time,
            remote_hold=message.hold_time,
            keepalive=cfg.keepalive_time,
            remote_my_as=message.my_as,
            remote_router_id=message.router_id,
        )

    def _process_update(self, message: Update) -> None:
        attrs = message.attributes
        reach, unreach = attrs.mp_reach, attrs.mp_unreach
        announced = len(message.nlri) + (len(reach.nlri) if reach else 0)
        withdrawn = len(message.withdrawn) + (len(unreach.withdrawn) if unreach else 0)
        self.stats.updates_received += 1
        self.stats.prefixes_received += announced
        error = message.error
        if error is not None:
            if error.action is ErrorAction.AFI_SAFI_DISABLE and error.family is not None:
                self._disabled.add(error.family)
            self._events.append(ev.MessageDropped(_DROP_FOR_ACTION[error.action], max(announced, 1), str(error)))
        self._events.append(ev.UpdateReceived(announced, withdrawn, message.end_of_rib))
        if announced and (error is None or error.action is ErrorAction.DISCARD):
            self._events.append(ev.MessageDropped(DropReason.RECEIVED_ROUTE_IGNORED, announced))

    def _process_route_refresh(self, message: RouteRefreshMessage, now: float) -> None:
        family = (message.afi, message.safi)
        neg = self.negotiated
        if neg is None or not neg.route_refresh or family not in neg.families or message.subtype != 0:
            # RFC 2918 section 4: a request we did not offer, or for a family not negotiated, is ignored.
            self._events.append(ev.MessageDropped(DropReason.ROUTE_REFRESH_NOT_NEGOTIATED, 1, f"family {family}"))
            return
        self.rib.forget(family)
        self._flush(now)

    def _decode_context(self) -> DecodeContext:
        neg = self.negotiated
        if neg is None:
            return DecodeContext()
        return DecodeContext(four_octet_as=neg.four_octet_as, ibgp=neg.peer_asn == self.config.local_asn)

    # -- sending ---------------------------------------------------------------------------------
    def _build_open(self) -> Open:
        assert self.router_id is not None
        caps = local_capabilities(self.config, self.connection)
        return Open.build(
            asn=self.config.local_asn, hold_time=int(self.config.hold_time), router_id=self.router_id, capabilities=caps
        )

    def _establish(self, now: float) -> None:
        assert self.negotiated is not None
        self.established_at = now
        self._retry = self.config.connect_retry
        self.stats.established_count += 1
        self._events.append(ev.SessionEstablished(self.negotiated))
        self._flush(now, end_of_rib=True)

    def _flush(self, now: float, *, end_of_rib: bool = False) -> None:
        neg = self.negotiated
        if neg is None or not self._connected:
            return
        built = self.rib.build(self._attributes_for, EncodeContext(four_octet_as=neg.four_octet_as))
        for (afi, safi), count in built.unsendable:  # not negotiated, or no address of that family as next hop
            self._events.append(ev.MessageDropped(DropReason.NO_NEXT_HOP, count, f"AFI/SAFI {afi}/{safi}"))
        markers = 0
        messages = list(built.messages)
        if end_of_rib:
            # RFC 4724 section 2: End-of-RIB after the initial update of every family, also with nothing to send.
            for family in sorted(neg.families & {iana.IPV4_UNICAST, iana.IPV6_UNICAST}):
                messages.append(Update.end_of_rib_marker(family).encode())
                markers += 1
        if not messages:
            return
        for data in messages:
            self._queue(data)
        self.stats.updates_sent += len(messages)
        self._restart_keepalive(now)
        self._events.append(ev.UpdatesSent(len(messages), built.announced, built.withdrawn, markers))

    def _attributes_for(self, family: Family, route: RouteAttrs) -> PathAttributes | None:
        if self.negotiated is None or self.connection is None:
            return None
        return path_attributes(
            family,
            route,
            config=self.config,
            negotiated=self.negotiated,
            connection=self.connection,
            draining=self._draining,
        )


__all__ = ["ConnectionInfo", "Session", "SessionConfig", "SessionStats"]
