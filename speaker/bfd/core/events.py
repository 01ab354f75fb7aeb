"""What a BFD session tells its owner: events returned by every input, and a snapshot for status and metrics.

Theory of operation
-------------------
Every input of :class:`~speaker.bfd.core.session.Session` (``receive``, ``handle_timer``, ``admin_down``,
``admin_up``, ``set_profile``) returns a list of events, as aioquic's connection returns its events: a state
change, or a dropped packet with its named reason. Packets to send are pulled separately with
``datagrams_to_send()``, and the next timer with ``next_deadline()``.

The client protocol (BGP) cares about one fact: did the session leave Up because the forwarding path failed? RFC 5882
section 3.2 says a session that goes down because the remote system signalled AdminDown (or because we disabled it
ourselves) is *not* a path failure and the client must not tear itself down for it. :attr:`StateChanged.administrative`
carries that distinction so the manager can keep its hook a plain "up / down".

:class:`SessionSnapshot` is the read-only view the gRPC status service and the Prometheus collector read; it is cheap
to build and copies every counter, so a reader never sees a half-updated session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from speaker.bfd.core.errors import DropReason
from speaker.bfd.core.packet import State


@dataclass(frozen=True, slots=True)
class StateChanged:
    """``bfd.SessionState`` changed (RFC 5880 section 6.2)."""

    old: State
    new: State
    #: ``bfd.LocalDiag`` after the change: why the session went down (a :class:`~speaker.bfd.core.packet.Diagnostic`).
    diagnostic: int
    #: The state the remote system last reported (``bfd.RemoteSessionState``).
    remote_state: State
    #: True when the change is administrative, not a path failure: we went AdminDown, or the peer signalled
    #: AdminDown (RFC 5882 section 3.2: clients take no action on such a down).
    administrative: bool = False

    @property
    def went_up(self) -> bool:
        return self.new is State.UP and self.old is not State.UP

    @property
    def went_down(self) -> bool:
        return self.old is State.UP and self.new is not State.UP


@dataclass(frozen=True, slots=True)
class PacketDropped:
    """A received control packet was discarded; ``reason`` names the rule (style anchor 7)."""

    reason: DropReason
    detail: str


Event = StateChanged | PacketDropped


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """Every variable of RFC 5880 section 6.8.1 an operator may ask about, plus the session's counters.

    Intervals are in microseconds, as the RFC states them. ``transmit_interval_us`` is the negotiated interval
    before jitter (0 while nothing is sent periodically), ``detection_time_us`` the current Detection Time
    (0 until a packet has been received).
    """

    state: State
    remote_state: State
    local_diagnostic: int
    remote_diagnostic: int
    local_discriminator: int
    remote_discriminator: int
    detect_mult: int
    remote_detect_mult: int
    #: what we advertise now: Desired Min TX (raised to 1 s while not Up), Required Min RX, Required Min Echo RX.
    desired_min_tx_us: int
    required_min_rx_us: int
    required_min_echo_rx_us: int
    remote_desired_min_tx_us: int
    remote_min_rx_us: int
    transmit_interval_us: int
    detection_time_us: int
    poll_active: bool
    passive: bool
    remote_demand: bool
    packets_in: int
    packets_out: int
    up_events: int
    down_events: int
    #: drops counted against this session, by reason (packets dropped before a session was found are the table's).
    drops: Mapping[DropReason, int] = field(default_factory=dict)
    #: ``now`` (on the caller's clock) of the last state change, or None if the session never changed state.
    last_state_change: float | None = None


__all__ = ["Event", "PacketDropped", "SessionSnapshot", "StateChanged"]
