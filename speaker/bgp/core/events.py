"""What a session tells its adapter: one frozen dataclass per kind of event.

Theory of operation
-------------------
Every method of :class:`~speaker.bgp.core.session.Session` returns the events it produced, in order. Two of them
are requests the adapter must carry out (:class:`ConnectRequested`, :class:`CloseRequested`); the others report
what happened, for logs, metrics, the status service and the BFD hook. An adapter handles them in one loop:
dispatch the events, write ``data_to_send()``, re-arm the timer at ``next_deadline()`` (style anchor 3).

A :class:`CloseRequested` is final for that connection: after it the adapter closes the transport once the
pending bytes are written, and does not report ``connection_lost`` for it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from speaker.bgp.core.capabilities import Negotiated
from speaker.bgp.core.errors import DropReason
from speaker.bgp.core.fsm import FsmEvent, State
from speaker.bgp.core.messages import Notification


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every session event."""


@dataclass(frozen=True, slots=True)
class ConnectRequested(Event):
    """Open a TCP connection to the peer; answer with ``connection_made`` or ``connection_lost``.

    ``timeout`` is how long the attempt may take before the session gives up on it (it will also say so with a
    CloseRequested when its ConnectRetryTimer fires first).
    """

    timeout: float


@dataclass(frozen=True, slots=True)
class CloseRequested(Event):
    """Write what ``data_to_send()`` holds, then close the connection (or abandon the connect attempt)."""

    reason: str


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    old: State
    new: State
    cause: FsmEvent


@dataclass(frozen=True, slots=True)
class SessionEstablished(Event):
    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class SessionDown(Event):
    """The session left Established; ``reason`` is a sentence for the log."""

    reason: str
    sent: Notification | None = None
    received: Notification | None = None


@dataclass(frozen=True, slots=True)
class OpenReceived(Event):
    """The peer's OPEN was valid: the adapter runs connection collision detection (RFC 4271 section 6.8) now."""

    router_id: ipaddress.IPv4Address
    asn: int
    local_router_id: ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class NotificationSent(Event):
    notification: Notification


@dataclass(frozen=True, slots=True)
class NotificationReceived(Event):
    notification: Notification


@dataclass(frozen=True, slots=True)
class UpdatesSent(Event):
    """UPDATEs were queued: how many messages, prefixes announced and withdrawn, and End-of-RIB markers."""

    messages: int
    announced: int
    withdrawn: int
    end_of_rib: int = 0


@dataclass(frozen=True, slots=True)
class UpdateReceived(Event):
    """An UPDATE arrived; its routes are counted and ignored (a load-balancer speaker only advertises)."""

    announced: int
    withdrawn: int
    end_of_rib: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class MessageDropped(Event):
    """Input we ignored on purpose, under a named reason (style anchor 7)."""

    reason: DropReason
    count: int = 1
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Stopped(Event):
    """A ``stop()`` has finished: the session is Idle and will not restart by itself."""


@dataclass(frozen=True, slots=True)
class InternalError(Event):
    """A bug in this speaker (not the peer's fault) reset the session; the detail belongs in a bug report."""

    detail: str


__all__ = [
    "CloseRequested",
    "ConnectRequested",
    "Event",
    "InternalError",
    "MessageDropped",
    "NotificationReceived",
    "NotificationSent",
    "OpenReceived",
    "SessionDown",
    "SessionEstablished",
    "StateChanged",
    "Stopped",
    "UpdateReceived",
    "UpdatesSent",
]
