"""The RFC 4271 section 8 finite state machine, as a table: (state, event) -> (next state, actions).

Theory of operation
-------------------
The table is data: :data:`TRANSITIONS` lists every (state, event) pair that RFC 4271 section 8.2.2 gives a
specific treatment, with the actions in the order the RFC lists them. :func:`transition` looks a pair up; a
pair that is *not* listed takes the declared error path of its state:

* ``Idle`` ignores it (8.2.2, Idle: "Any other event ... does not cause change in the state of the local system");
* every other state sends a NOTIFICATION "Finite State Machine Error" with the subcode RFC 6608 section 3 gives
  the state (1 OpenSent, 2 OpenConfirm, 3 Established, 0 elsewhere; there is no connection to carry it in
  Connect and Active, so the session drops it), closes the connection and goes to Idle, from where the automatic
  restart (the IdleHoldTimer, event 13) brings it back after a back-off.

The session (``session.py``) owns the timers and the connection and executes the actions; this module knows no
bytes and no time. A test walks every State x Event pair against the table.

Choices within what the RFC allows, each marked in the table:

* Passive TCP establishment (8.2.1.1) is always on: in Connect and Active we also accept the peer's connection.
* A failed connect attempt in Connect goes to Active with the ConnectRetryTimer running (the RFC's Active
  behaviour, "continues to listen"), instead of Idle; the timer drives our fast back-off (1 s doubling to 30 s).
* A NOTIFICATION received in OpenSent closes the connection without answering it: the peer has already closed
  (RFC 4271 section 4.5: "the BGP connection is closed immediately after it is sent"), and BIRD and FRR do the same.
* Event numbers are the RFC's; ROUTE-REFRESH (RFC 2918) has no RFC 4271 number and gets 101.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from speaker.bgp.core.iana import ErrorCode, FsmSubcode


class State(enum.Enum):
    """RFC 4271 section 8.2.2 states, valued as the RFC spells them."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class FsmEvent(enum.IntEnum):
    """RFC 4271 section 8.1 events this speaker uses, numbered as in the RFC."""

    MANUAL_START = 1
    MANUAL_STOP = 2
    AUTOMATIC_START = 3
    AUTOMATIC_START_PASSIVE = 5
    AUTOMATIC_STOP = 8
    CONNECT_RETRY_TIMER_EXPIRES = 9
    HOLD_TIMER_EXPIRES = 10
    KEEPALIVE_TIMER_EXPIRES = 11
    IDLE_HOLD_TIMER_EXPIRES = 13
    TCP_CR_ACKED = 16
    TCP_CONNECTION_CONFIRMED = 17
    TCP_CONNECTION_FAILS = 18
    BGP_OPEN = 19
    BGP_HEADER_ERR = 21
    BGP_OPEN_MSG_ERR = 22
    OPEN_COLLISION_DUMP = 23
    NOTIF_MSG_VER_ERR = 24
    NOTIF_MSG = 25
    KEEPALIVE_MSG = 26
    UPDATE_MSG = 27
    UPDATE_MSG_ERR = 28
    ROUTE_REFRESH_MSG = 101


class Action(enum.Enum):
    """What the session does on a transition, in table order."""

    CONNECT = "start the ConnectRetryTimer and initiate a TCP connection"
    RETRY_LATER = "start the ConnectRetryTimer; connect when it expires"
    STOP_CONNECT_RETRY = "stop the ConnectRetryTimer"
    SEND_OPEN = "send OPEN and set the HoldTimer to the large initial value"
    SEND_KEEPALIVE = "send KEEPALIVE and restart the KeepaliveTimer"
    START_TIMERS = "start the HoldTimer and KeepaliveTimer with the negotiated values"
    RESTART_HOLD_TIMER = "restart the HoldTimer"
    ESTABLISH = "send the Adj-RIB-Out and End-of-RIB"
    PROCESS_UPDATE = "count and ignore the routes received"
    PROCESS_ROUTE_REFRESH = "resend the Adj-RIB-Out of the family asked for"
    SEND_ERROR_NOTIFICATION = "send the NOTIFICATION of the error that caused the event"
    SEND_CEASE = "send the Cease the stop command asked for"
    SEND_HOLD_EXPIRED = "send NOTIFICATION Hold Timer Expired"
    SEND_COLLISION_CEASE = "send Cease / Connection Collision Resolution"
    SEND_FSM_ERROR = "send NOTIFICATION Finite State Machine Error with the state's subcode"
    DROP_CONNECTION = "close the TCP connection and release its resources"
    SCHEDULE_RESTART = "start the IdleHoldTimer; AutomaticStart when it expires"


class Timer(enum.Enum):
    """RFC 4271 section 10 timers (IdleHoldTimer is 8.1.3's), plus RFC 8326's graceful-shutdown wait."""

    CONNECT_RETRY = "ConnectRetryTimer"
    HOLD = "HoldTimer"
    KEEPALIVE = "KeepaliveTimer"
    IDLE_HOLD = "IdleHoldTimer"
    #: RFC 8326: end of the graceful-shutdown wait (no FSM event; the session withdraws and stops)
    SHUTDOWN_WAIT = "ShutdownWaitTimer"


#: the FSM event each timer's expiry is (RFC 4271 section 8.1.3)
TIMER_EVENTS = {
    Timer.CONNECT_RETRY: FsmEvent.CONNECT_RETRY_TIMER_EXPIRES,
    Timer.HOLD: FsmEvent.HOLD_TIMER_EXPIRES,
    Timer.KEEPALIVE: FsmEvent.KEEPALIVE_TIMER_EXPIRES,
    Timer.IDLE_HOLD: FsmEvent.IDLE_HOLD_TIMER_EXPIRES,
}


def event_for_error(code: int) -> FsmEvent:
    """The FSM event of a decoding error (RFC 4271 8.1.5: BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr)."""
    if code == ErrorCode.OPEN_MESSAGE:
        return FsmEvent.BGP_OPEN_MSG_ERR
    if code == ErrorCode.UPDATE_MESSAGE:
        return FsmEvent.UPDATE_MSG_ERR
    return FsmEvent.BGP_HEADER_ERR


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: State
    actions: tuple[Action, ...] = ()


S, E, A = State, FsmEvent, Action
_IGNORE_IN = {state: Transition(state) for state in State}
_RESTART = (A.DROP_CONNECTION, A.SCHEDULE_RESTART)
_CONNECTED = (S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED)

TRANSITIONS: dict[tuple[State, FsmEvent], Transition] = {
    # -- Idle (8.2.2): only a start does anything.
    (S.IDLE, E.MANUAL_START): Transition(S.CONNECT, (A.CONNECT,)),
    (S.IDLE, E.AUTOMATIC_START): Transition(S.CONNECT, (A.CONNECT,)),
    (S.IDLE, E.IDLE_HOLD_TIMER_EXPIRES): Transition(S.CONNECT, (A.CONNECT,)),
    (S.IDLE, E.AUTOMATIC_START_PASSIVE): Transition(S.ACTIVE),
    # -- Connect: a TCP connection attempt is under way (and we listen).
    (S.CONNECT, E.MANUAL_START): _IGNORE_IN[S.CONNECT],
    (S.CONNECT, E.AUTOMATIC_START): _IGNORE_IN[S.CONNECT],
    (S.CONNECT, E.MANUAL_STOP): Transition(S.IDLE, (A.DROP_CONNECTION,)),
    (S.CONNECT, E.AUTOMATIC_STOP): Transition(S.IDLE, _RESTART),
    (S.CONNECT, E.CONNECT_RETRY_TIMER_EXPIRES): Transition(S.CONNECT, (A.DROP_CONNECTION, A.CONNECT)),
    (S.CONNECT, E.TCP_CR_ACKED): Transition(S.OPEN_SENT, (A.STOP_CONNECT_RETRY, A.SEND_OPEN)),
    (S.CONNECT, E.TCP_CONNECTION_CONFIRMED): Transition(S.OPEN_SENT, (A.STOP_CONNECT_RETRY, A.SEND_OPEN)),
    # choice: to Active with the retry timer running (see the module docstring)
    (S.CONNECT, E.TCP_CONNECTION_FAILS): Transition(S.ACTIVE, (A.DROP_CONNECTION, A.RETRY_LATER)),
    # -- Active: waiting to retry (and listening).
    (S.ACTIVE, E.MANUAL_START): _IGNORE_IN[S.ACTIVE],
    (S.ACTIVE, E.AUTOMATIC_START): _IGNORE_IN[S.ACTIVE],
    (S.ACTIVE, E.MANUAL_STOP): Transition(S.IDLE, (A.DROP_CONNECTION,)),
    (S.ACTIVE, E.AUTOMATIC_STOP): Transition(S.IDLE, _RESTART),
    (S.ACTIVE, E.CONNECT_RETRY_TIMER_EXPIRES): Transition(S.CONNECT, (A.CONNECT,)),
    (S.ACTIVE, E.TCP_CR_ACKED): Transition(S.OPEN_SENT, (A.STOP_CONNECT_RETRY, A.SEND_OPEN)),
    (S.ACTIVE, E.TCP_CONNECTION_CONFIRMED): Transition(S.OPEN_SENT, (A.STOP_CONNECT_RETRY, A.SEND_OPEN)),
    (S.ACTIVE, E.TCP_CONNECTION_FAILS): Transition(S.IDLE, _RESTART),
    # -- OpenSent: our OPEN is out, waiting for theirs.
    (S.OPEN_SENT, E.MANUAL_START): _IGNORE_IN[S.OPEN_SENT],
    (S.OPEN_SENT, E.AUTOMATIC_START): _IGNORE_IN[S.OPEN_SENT],
    (S.OPEN_SENT, E.MANUAL_STOP): Transition(S.IDLE, (A.SEND_CEASE, A.DROP_CONNECTION)),
    (S.OPEN_SENT, E.AUTOMATIC_STOP): Transition(S.IDLE, (A.SEND_CEASE, *_RESTART)),
    (S.OPEN_SENT, E.HOLD_TIMER_EXPIRES): Transition(S.IDLE, (A.SEND_HOLD_EXPIRED, *_RESTART)),
    # a second connection is tracked by collision detection (6.8), not by this FSM
    (S.OPEN_SENT, E.TCP_CR_ACKED): _IGNORE_IN[S.OPEN_SENT],
    (S.OPEN_SENT, E.TCP_CONNECTION_CONFIRMED): _IGNORE_IN[S.OPEN_SENT],
    (S.OPEN_SENT, E.TCP_CONNECTION_FAILS): Transition(S.ACTIVE, (A.DROP_CONNECTION, A.RETRY_LATER)),
    (S.OPEN_SENT, E.BGP_OPEN): Transition(S.OPEN_CONFIRM, (A.SEND_KEEPALIVE, A.START_TIMERS)),
    (S.OPEN_SENT, E.BGP_HEADER_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
    (S.OPEN_SENT, E.BGP_OPEN_MSG_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
    (S.OPEN_SENT, E.OPEN_COLLISION_DUMP): Transition(S.IDLE, (A.SEND_COLLISION_CEASE, A.DROP_CONNECTION)),
    (S.OPEN_SENT, E.NOTIF_MSG_VER_ERR): Transition(S.IDLE, _RESTART),
    # choice: a NOTIFICATION is not answered with another one (see the module docstring)
    (S.OPEN_SENT, E.NOTIF_MSG): Transition(S.IDLE, _RESTART),
    # -- OpenConfirm: OPENs exchanged, waiting for the KEEPALIVE.
    (S.OPEN_CONFIRM, E.MANUAL_START): _IGNORE_IN[S.OPEN_CONFIRM],
    (S.OPEN_CONFIRM, E.AUTOMATIC_START): _IGNORE_IN[S.OPEN_CONFIRM],
    (S.OPEN_CONFIRM, E.MANUAL_STOP): Transition(S.IDLE, (A.SEND_CEASE, A.DROP_CONNECTION)),
    (S.OPEN_CONFIRM, E.AUTOMATIC_STOP): Transition(S.IDLE, (A.SEND_CEASE, *_RESTART)),
    (S.OPEN_CONFIRM, E.HOLD_TIMER_EXPIRES): Transition(S.IDLE, (A.SEND_HOLD_EXPIRED, *_RESTART)),
    (S.OPEN_CONFIRM, E.KEEPALIVE_TIMER_EXPIRES): Transition(S.OPEN_CONFIRM, (A.SEND_KEEPALIVE,)),
    (S.OPEN_CONFIRM, E.TCP_CR_ACKED): _IGNORE_IN[S.OPEN_CONFIRM],
    (S.OPEN_CONFIRM, E.TCP_CONNECTION_CONFIRMED): _IGNORE_IN[S.OPEN_CONFIRM],
    (S.OPEN_CONFIRM, E.TCP_CONNECTION_FAILS): Transition(S.IDLE, _RESTART),
    (S.OPEN_CONFIRM, E.NOTIF_MSG): Transition(S.IDLE, _RESTART),
    (S.OPEN_CONFIRM, E.NOTIF_MSG_VER_ERR): Transition(S.IDLE, _RESTART),
    (S.OPEN_CONFIRM, E.BGP_HEADER_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
    (S.OPEN_CONFIRM, E.BGP_OPEN_MSG_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
    (S.OPEN_CONFIRM, E.OPEN_COLLISION_DUMP): Transition(S.IDLE, (A.SEND_COLLISION_CEASE, A.DROP_CONNECTION)),
    (S.OPEN_CONFIRM, E.KEEPALIVE_MSG): Transition(S.ESTABLISHED, (A.RESTART_HOLD_TIMER, A.ESTABLISH)),
    # -- Established.
    (S.ESTABLISHED, E.MANUAL_START): _IGNORE_IN[S.ESTABLISHED],
    (S.ESTABLISHED, E.AUTOMATIC_START): _IGNORE_IN[S.ESTABLISHED],
    (S.ESTABLISHED, E.MANUAL_STOP): Transition(S.IDLE, (A.SEND_CEASE, A.DROP_CONNECTION)),
    (S.ESTABLISHED, E.AUTOMATIC_STOP): Transition(S.IDLE, (A.SEND_CEASE, *_RESTART)),
    (S.ESTABLISHED, E.HOLD_TIMER_EXPIRES): Transition(S.IDLE, (A.SEND_HOLD_EXPIRED, *_RESTART)),
    (S.ESTABLISHED, E.KEEPALIVE_TIMER_EXPIRES): Transition(S.ESTABLISHED, (A.SEND_KEEPALIVE,)),
    (S.ESTABLISHED, E.TCP_CR_ACKED): _IGNORE_IN[S.ESTABLISHED],
    (S.ESTABLISHED, E.TCP_CONNECTION_CONFIRMED): _IGNORE_IN[S.ESTABLISHED],
    (S.ESTABLISHED, E.TCP_CONNECTION_FAILS): Transition(S.IDLE, _RESTART),
    (S.ESTABLISHED, E.NOTIF_MSG): Transition(S.IDLE, _RESTART),
    (S.ESTABLISHED, E.NOTIF_MSG_VER_ERR): Transition(S.IDLE, _RESTART),
    (S.ESTABLISHED, E.BGP_HEADER_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
    (S.ESTABLISHED, E.OPEN_COLLISION_DUMP): Transition(S.IDLE, (A.SEND_COLLISION_CEASE, A.DROP_CONNECTION)),
    (S.ESTABLISHED, E.KEEPALIVE_MSG): Transition(S.ESTABLISHED, (A.RESTART_HOLD_TIMER,)),
    (S.ESTABLISHED, E.UPDATE_MSG): Transition(S.ESTABLISHED, (A.PROCESS_UPDATE, A.RESTART_HOLD_TIMER)),
    (S.ESTABLISHED, E.ROUTE_REFRESH_MSG): Transition(S.ESTABLISHED, (A.PROCESS_ROUTE_REFRESH, A.RESTART_HOLD_TIMER)),
    (S.ESTABLISHED, E.UPDATE_MSG_ERR): Transition(S.IDLE, (A.SEND_ERROR_NOTIFICATION, *_RESTART)),
}

#: RFC 6608 section 3: the FSM Error subcode that names the state an unexpected event arrived in.
FSM_ERROR_SUBCODE: dict[State, FsmSubcode] = {
    S.OPEN_SENT: FsmSubcode.UNEXPECTED_IN_OPEN_SENT,
    S.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_IN_OPEN_CONFIRM,
    S.ESTABLISHED: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}

_FSM_ERROR = (A.SEND_FSM_ERROR, *_RESTART)


def transition(state: State, event: FsmEvent) -> Transition:
    """The transition for (state, event): the listed one, or the state's declared error path."""
    listed = TRANSITIONS.get((state, event))
    if listed is not None:
        return listed
    if state is S.IDLE:
        return _IGNORE_IN[S.IDLE]
    return Transition(S.IDLE, _FSM_ERROR)


def is_fsm_error(state: State, event: FsmEvent) -> bool:
    """True when (state, event) is unlisted outside Idle, i.e. answered with an FSM Error NOTIFICATION."""
    return state is not S.IDLE and (state, event) not in TRANSITIONS


def fsm_error_subcode(state: State) -> FsmSubcode:
    return FSM_ERROR_SUBCODE.get(state, FsmSubcode.UNSPECIFIED)


def collision_keeps_locally_initiated(
    *, local_id: ipaddress.IPv4Address, remote_id: ipaddress.IPv4Address, local_asn: int, remote_asn: int
) -> bool:
    """Which of two colliding connections survives (RFC 4271 section 6.8): True = the one we initiated.

    "If the value of the local BGP Identifier is less than the remote one, the local system closes the BGP
    connection that already exists ... and accepts the BGP connection initiated by the remote system", i.e. the
    connection initiated by the speaker with the higher identifier survives. Identifiers compare as unsigned
    32-bit integers. RFC 6286 section 2.3: with equal identifiers, the connection initiated by the speaker with
    the larger AS number is kept.
    """
    if local_id != remote_id:
        return int(local_id) > int(remote_id)
    return local_asn > remote_asn


__all__ = [
    "FSM_ERROR_SUBCODE",
    "TIMER_EVENTS",
    "TRANSITIONS",
    "Action",
    "FsmEvent",
    "State",
    "Timer",
    "Transition",
    "collision_keeps_locally_initiated",
    "event_for_error",
    "fsm_error_subcode",
    "is_fsm_error",
    "transition",
]
