"""The RFC 4271 FSM: the table walked pair by pair, and each event driven through a Session on a fake clock.

Time is always an argument: ``now`` is set by hand, deadlines are read back with ``next_deadline``. The peer is
played by hand-built messages (``open_from_peer`` etc.), so every byte the session sends can be checked.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from speaker.bgp.core import fsm, iana
from speaker.bgp.core.capabilities import FourOctetAs, GracefulRestart, Multiprotocol, RouteRefresh
from speaker.bgp.core.errors import DropReason
from speaker.bgp.core.events import (
    CloseRequested,
    ConnectRequested,
    Event,
    MessageDropped,
    NotificationSent,
    SessionDown,
    SessionEstablished,
    StateChanged,
    Stopped,
)
from speaker.bgp.core.fsm import Action, FsmEvent, State
from speaker.bgp.core.messages import Keepalive, Message, Notification, Open, Update, decode_message, message_length
from speaker.bgp.core.messages import RouteRefresh as RouteRefreshMsg
from speaker.bgp.core.outbound import ConnectionInfo, SessionConfig
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.core.session import Session
from tests.speaker.bgp.harness import config

T0 = 1000.0
LOCAL = ipaddress.IPv4Address("192.0.2.11")
PEER = ipaddress.IPv4Address("192.0.2.1")


def state_of(session: Session) -> State:
    """The session's state, read through a call so that mypy does not keep an earlier assert's narrowing."""
    return session.state


def sent(session: Session) -> list[Message]:
    """Decode what the session wants to send."""
    data, out = session.data_to_send(), []
    while data:
        length = message_length(data)
        assert length is not None
        out.append(decode_message(data[:length]))
        data = data[length:]
    return out


def open_from_peer(asn: int = 64512, hold: int = 9, router_id: str = "192.0.2.1", gr: bool = False) -> bytes:
    caps: tuple[Multiprotocol | RouteRefresh | FourOctetAs | GracefulRestart, ...] = (
        Multiprotocol(1, 1),
        Multiprotocol(2, 1),
        RouteRefresh(),
    )
    if gr:
        caps += (GracefulRestart(120),)
    return Open.build(asn=asn, hold_time=hold, router_id=ipaddress.IPv4Address(router_id), capabilities=caps).encode()


def connected(cfg: SessionConfig | None = None) -> Session:
    """A session in OpenSent over a fresh connection, its OPEN already taken."""
    session = Session(cfg or config())
    session.start(T0)
    session.connection_made(T0, ConnectionInfo(local=LOCAL, remote=PEER))
    assert state_of(session) is State.OPEN_SENT
    assert [type(m) for m in sent(session)] == [Open]
    return session


def established(cfg: SessionConfig | None = None, **open_args: object) -> Session:
    session = connected(cfg)
    session.receive_data(open_from_peer(**open_args) + Keepalive().encode(), T0)  # type: ignore[arg-type]
    assert state_of(session) is State.OPEN_CONFIRM and session.paused  # collision detection would run here
    session.resume(T0)
    assert state_of(session) is State.ESTABLISHED
    sent(session)
    return session


def kinds(events: list[Event]) -> list[type[Event]]:
    return [type(e) for e in events]


def notifications(messages: list[Message]) -> list[tuple[int, int]]:
    return [(m.code, m.subcode) for m in messages if isinstance(m, Notification)]


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "event"),
    [pytest.param(s, e, id=f"{s.value}-{e.name.lower()}") for s, e in itertools.product(State, FsmEvent)],
)
def test_every_state_event_pair_is_listed_or_takes_the_declared_error_path(state: State, event: FsmEvent) -> None:
    step = fsm.transition(state, event)
    listed = fsm.TRANSITIONS.get((state, event))
    if listed is not None:
        assert step is listed
    elif state is State.IDLE:
        # RFC 4271 8.2.2 Idle: "Any other event ... does not cause change in the state of the local system"
        assert step == fsm.Transition(State.IDLE)
    else:
        assert fsm.is_fsm_error(state, event)
        assert step == fsm.Transition(
            State.IDLE, (Action.SEND_FSM_ERROR, Action.DROP_CONNECTION, Action.SCHEDULE_RESTART)
        )


@pytest.mark.parametrize(
    ("state", "subcode"),
    [
        pytest.param(State.OPEN_SENT, 1, id="open-sent-is-subcode-1"),
        pytest.param(State.OPEN_CONFIRM, 2, id="open-confirm-is-subcode-2"),
        pytest.param(State.ESTABLISHED, 3, id="established-is-subcode-3"),
        pytest.param(State.CONNECT, 0, id="connect-is-unspecified"),
        pytest.param(State.ACTIVE, 0, id="active-is-unspecified"),
    ],
)
def test_fsm_error_subcodes_follow_rfc6608(state: State, subcode: int) -> None:
    assert fsm.fsm_error_subcode(state) == subcode


def test_every_transition_out_of_a_connected_state_to_idle_closes_the_connection() -> None:
    for (state, _event), step in fsm.TRANSITIONS.items():
        if state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED) and step.next_state is State.IDLE:
            assert Action.DROP_CONNECTION in step.actions, (state, _event)


def _session_in(state: State) -> Session:
    if state is State.IDLE:
        return Session(config())
    if state is State.CONNECT:
        session = Session(config())
        session.start(T0)
        return session
    if state is State.ACTIVE:
        session = Session(config())
        session.start(T0, passive=True)
        return session
    if state is State.OPEN_SENT:
        return connected()
    if state is State.OPEN_CONFIRM:
        session = connected()
        session.receive_data(open_from_peer(), T0)
        session.resume(T0)
        sent(session)
        return session
    return established()


@pytest.mark.parametrize(
    ("state", "event"),
    [
        pytest.param(s, e, id=f"{s.value}-{e.name.lower()}")
        for s, e in itertools.product(State, FsmEvent)
        if fsm.is_fsm_error(s, e)
    ],
)
def test_an_unlisted_pair_sends_fsm_error_with_the_state_subcode_and_goes_idle(state: State, event: FsmEvent) -> None:
    session = _session_in(state)
    assert state_of(session) is state
    events = session._run(lambda: session._fire(event, T0 + 1))
    assert state_of(session) is State.IDLE
    out = sent(session)
    if state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
        assert notifications(out) == [(iana.ErrorCode.FSM, fsm.fsm_error_subcode(state))]
        assert CloseRequested in kinds(events)
    else:
        assert out == []  # no connection yet: nothing to carry the NOTIFICATION
    assert session.next_deadline() is not None  # the automatic restart is scheduled


# ------------------------------------------------------------------------------------------------
# Events through the public API
# ------------------------------------------------------------------------------------------------
def test_manual_start_connects_with_the_first_retry_interval_as_timeout() -> None:
    session = Session(config())
    events = session.start(T0)
    assert state_of(session) is State.CONNECT
    assert events == [StateChanged(State.IDLE, State.CONNECT, FsmEvent.MANUAL_START), ConnectRequested(1.0)]
    assert session.next_deadline() == T0 + 1.0


def test_connect_retry_expiry_abandons_the_attempt_and_retries_with_a_doubled_interval() -> None:
    session = Session(config())
    session.start(T0)
    events = session.handle_timer(T0 + 1.0)
    assert kinds(events) == [CloseRequested, ConnectRequested]
    assert events[1] == ConnectRequested(2.0)
    assert state_of(session) is State.CONNECT
    assert session.next_deadline() == T0 + 3.0


def test_back_off_doubles_to_the_maximum() -> None:
    session = Session(config(connect_retry=1.0, connect_retry_max=30.0))
    session.start(T0)
    now, timeouts = T0, []
    for _ in range(8):
        deadline = session.next_deadline()
        assert deadline is not None
        now = deadline
        timeouts += [e.timeout for e in session.handle_timer(now) if isinstance(e, ConnectRequested)]
    assert timeouts == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_a_configured_connect_time_is_used_as_is() -> None:
    session = Session(config(connect_retry=5.0, connect_retry_fixed=5.0))
    session.start(T0)
    assert [e.timeout for e in session.handle_timer(T0 + 5) if isinstance(e, ConnectRequested)] == [5.0]


def test_a_failed_connect_waits_in_active_then_retries() -> None:
    session = Session(config())
    session.start(T0)
    session.connection_lost(T0 + 0.1, "refused")
    assert state_of(session) is State.ACTIVE
    assert session.next_deadline() == pytest.approx(T0 + 0.1 + 2.0)
    events = session.handle_timer(T0 + 2.1)
    assert state_of(session) is State.CONNECT and ConnectRequested in kinds(events)


def test_connection_sends_open_and_waits_four_minutes_for_the_peers() -> None:
    session = Session(config(hold_time=9))
    session.start(T0)
    session.connection_made(T0, ConnectionInfo(local=LOCAL, remote=PEER))
    (message,) = sent(session)
    assert isinstance(message, Open)
    assert (message.asn, message.hold_time, message.router_id) == (64513, 9, LOCAL)
    assert session.next_deadline() == T0 + iana.LARGE_HOLD_TIME
    events = session.handle_timer(T0 + iana.LARGE_HOLD_TIME)
    assert notifications(sent(session)) == [(iana.ErrorCode.HOLD_TIMER_EXPIRED, 0)]
    assert state_of(session) is State.IDLE and CloseRequested in kinds(events)


def test_a_valid_open_is_answered_with_keepalive_and_pauses_for_collision_detection() -> None:
    session = connected()
    session.receive_data(open_from_peer() + Keepalive().encode(), T0)
    assert state_of(session) is State.OPEN_CONFIRM and session.paused
    assert [type(m) for m in sent(session)] == [Keepalive]
    neg = session.negotiated
    assert neg is not None and neg.hold_time == 9 and neg.keepalive_time == 3
    session.resume(T0)
    assert state_of(session) is State.ESTABLISHED and not session.paused


@pytest.mark.parametrize(
    ("cfg", "peer_open", "subcode"),
    [
        pytest.param(config(peer_asn=64512), open_from_peer(asn=64999), 2, id="wrong-peer-as-is-bad-peer-as"),
        pytest.param(
            config(local_asn=64512, peer_asn=64512),
            open_from_peer(asn=64512, router_id="192.0.2.11"),
            3,
            id="ibgp-peer-with-our-router-id-is-bad-identifier",
        ),
        pytest.param(config(peer_asn=4200000001), open_from_peer(asn=64512), 2, id="4-octet-peer-that-says-otherwise"),
    ],
)
def test_an_unacceptable_open_is_refused_with_the_open_error(
    cfg: SessionConfig, peer_open: bytes, subcode: int
) -> None:
    session = connected(cfg)
    events = session.receive_data(peer_open, T0)
    assert notifications(sent(session)) == [(iana.ErrorCode.OPEN_MESSAGE, subcode)]
    assert state_of(session) is State.IDLE and CloseRequested in kinds(events)


def test_ebgp_peers_may_share_our_router_id() -> None:
    session = connected(config(local_asn=64513, peer_asn=64512))
    session.receive_data(open_from_peer(asn=64512, router_id="192.0.2.11"), T0)
    assert state_of(session) is State.OPEN_CONFIRM


def test_the_negotiated_hold_time_is_the_smaller_and_keepalive_a_third() -> None:
    session = connected(config(hold_time=90, keepalive_time=30))
    session.receive_data(open_from_peer(hold=6), T0)
    assert session.negotiated is not None
    assert (session.negotiated.hold_time, session.negotiated.keepalive_time) == (6, 2)


def test_keepalive_in_open_confirm_establishes_and_sends_end_of_rib() -> None:
    session = connected()
    session.receive_data(open_from_peer(), T0)
    session.resume(T0)
    sent(session)
    events = session.receive_data(Keepalive().encode(), T0 + 0.5)
    assert state_of(session) is State.ESTABLISHED
    assert SessionEstablished in kinds(events)
    markers = [m.end_of_rib for m in sent(session) if isinstance(m, Update)]
    assert markers == [iana.IPV4_UNICAST, iana.IPV6_UNICAST]


def test_keepalives_go_out_every_keepalive_interval() -> None:
    session = established()
    assert session.next_deadline() == T0 + 3.0  # keepalive 3 s comes before hold 9 s
    session.handle_timer(T0 + 3.0)
    assert [type(m) for m in sent(session)] == [Keepalive]
    assert session.next_deadline() == T0 + 6.0


def test_the_hold_timer_is_enforced_on_what_we_receive() -> None:
    session = established()
    for t in (3.0, 6.0):  # our own keepalives do not keep the session alive
        session.handle_timer(T0 + t)
    assert state_of(session) is State.ESTABLISHED
    events = session.handle_timer(T0 + 9.0)
    assert state_of(session) is State.IDLE
    assert notifications(sent(session)) == [(iana.ErrorCode.HOLD_TIMER_EXPIRED, 0)]
    down = [e for e in events if isinstance(e, SessionDown)]
    assert down and "Hold Timer Expired" in down[0].reason


def test_keepalive_and_update_from_the_peer_restart_the_hold_timer() -> None:
    session = established()
    session.receive_data(Keepalive().encode(), T0 + 8.0)
    session.handle_timer(T0 + 9.0)
    assert state_of(session) is State.ESTABLISHED
    session.receive_data(Update().encode(), T0 + 16.0)
    session.handle_timer(T0 + 17.0)
    assert state_of(session) is State.ESTABLISHED
    session.handle_timer(T0 + 25.0)
    assert state_of(session) is State.IDLE


def test_a_hold_time_of_zero_disables_keepalives_and_the_hold_timer() -> None:
    session = established(config(hold_time=0, keepalive_time=0), hold=0)
    assert session.next_deadline() is None
    session.handle_timer(T0 + 10_000)
    assert state_of(session) is State.ESTABLISHED and sent(session) == []


@pytest.mark.parametrize(
    ("state", "message", "subcode"),
    [
        pytest.param(State.OPEN_SENT, Keepalive(), 1, id="keepalive-before-open"),
        pytest.param(State.OPEN_SENT, Update(), 1, id="update-before-open"),
        pytest.param(State.OPEN_CONFIRM, Update(), 2, id="update-before-keepalive"),
        pytest.param(State.OPEN_CONFIRM, RouteRefreshMsg(1, 1), 2, id="route-refresh-before-keepalive"),
        pytest.param(State.ESTABLISHED, Open(64512, 9, PEER), 3, id="open-when-established"),
    ],
)
def test_an_unexpected_message_is_an_fsm_error_naming_the_state(state: State, message: Message, subcode: int) -> None:
    session = _session_in(state)
    sent(session)
    session.receive_data(message.encode(), T0 + 1)
    assert notifications(sent(session)) == [(iana.ErrorCode.FSM, subcode)]
    assert state_of(session) is State.IDLE


def test_a_notification_from_the_peer_is_not_answered_and_the_session_restarts_later() -> None:
    session = established()
    events = session.receive_data(Notification.cease(iana.CeaseSubcode.ADMINISTRATIVE_RESET, "maint").encode(), T0)
    assert state_of(session) is State.IDLE and sent(session) == []
    (down,) = [e for e in events if isinstance(e, SessionDown)]
    assert "maint" in down.reason
    restart = session.next_deadline()
    assert restart == T0 + 1.0
    assert kinds(session.handle_timer(restart))[-1] is ConnectRequested


def test_a_header_error_is_answered_with_the_header_notification() -> None:
    session = established()
    session.receive_data(b"\x00" * 19, T0)
    assert notifications(sent(session)) == [(iana.ErrorCode.MESSAGE_HEADER, 1)]


def test_manual_stop_sends_cease_with_the_shutdown_message_and_stays_stopped() -> None:
    session = established()
    events = session.stop(T0, graceful=False, message="maintenance")
    (message,) = sent(session)
    assert isinstance(message, Notification)
    assert (message.code, message.subcode, message.shutdown_message) == (6, 2, "maintenance")
    assert kinds(events)[-1] is Stopped and state_of(session) is State.IDLE
    assert session.next_deadline() is None


def test_stop_in_idle_reports_stopped_and_cancels_a_pending_restart() -> None:
    session = established()
    session.handle_timer(T0 + 9.0)  # hold expiry: restart scheduled
    assert session.next_deadline() is not None
    assert kinds(session.stop(T0 + 9.5, graceful=True)) == [Stopped]
    assert session.next_deadline() is None


def test_peer_down_from_bfd_sends_cease_bfd_down_and_restarts() -> None:
    session = established()
    session.peer_down(T0, "BFD session down")
    assert notifications(sent(session)) == [(iana.ErrorCode.CEASE, iana.CeaseSubcode.BFD_DOWN)]
    assert state_of(session) is State.IDLE and session.next_deadline() == T0 + 1.0
    assert "Cease / BFD Down" in session.last_error and "BFD session down" in session.last_error


def test_collision_dump_sends_cease_connection_collision() -> None:
    session = _session_in(State.OPEN_CONFIRM)
    sent(session)
    events = session.collision_dump(T0)
    assert notifications(sent(session)) == [(iana.ErrorCode.CEASE, iana.CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)]
    assert state_of(session) is State.IDLE and CloseRequested in kinds(events)


def test_the_back_off_resets_once_established() -> None:
    session = Session(config())
    session.start(T0)
    for _ in range(3):
        deadline = session.next_deadline()
        assert deadline is not None
        session.handle_timer(deadline)
    session.connection_made(T0 + 10, ConnectionInfo(local=LOCAL, remote=PEER))
    session.receive_data(open_from_peer() + Keepalive().encode(), T0 + 10)
    session.resume(T0 + 10)
    session.handle_timer(T0 + 19)  # hold expiry
    assert session.next_deadline() == T0 + 19 + 1.0


def test_data_without_a_connection_is_dropped_by_name() -> None:
    session = Session(config())
    (event,) = session.receive_data(b"junk", T0)
    assert event.reason.value == "data_after_close"  # type: ignore[attr-defined]


def test_an_incoming_connection_is_refused_outside_connect_and_active() -> None:
    session = established()
    assert not session.accepts_connection()
    with pytest.raises(RuntimeError, match="Established"):
        session.connection_made(T0, ConnectionInfo(local=LOCAL, remote=PEER, initiated_locally=False))


def test_notifications_sent_are_reported_as_events() -> None:
    session = established()
    events = session.stop(T0, graceful=False)
    assert [e.notification.subcode for e in events if isinstance(e, NotificationSent)] == [2]


def test_a_family_without_a_next_hop_is_dropped_by_name_and_stays_pending() -> None:
    session = connected()  # an IPv4 connection, and no IPv6 address known on its interface
    v4, v6 = ipaddress.ip_network("198.51.100.1/32"), ipaddress.ip_network("2001:db8:100::1/128")
    session.set_routes({v4: RouteAttrs(), v6: RouteAttrs()}, T0)
    events = session.receive_data(open_from_peer() + Keepalive().encode(), T0) + session.resume(T0)
    drops = [(e.reason, e.count) for e in events if isinstance(e, MessageDropped)]
    assert drops == [(DropReason.NO_NEXT_HOP, 1)]
    assert session.rib.pending() == 1 and list(session.rib.sent) == [v4]
