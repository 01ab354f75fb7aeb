"""One BFD session in asynchronous mode (RFC 5880 section 6), as a sans-IO state machine.

Theory of operation
-------------------
The session owns the state variables of RFC 5880 section 6.8.1 and nothing else: no socket, no clock, no address.
It is fed received packets and the time, and it answers with events, packets to send and the time it next needs
to be woken (style anchors 1 and 2)::

    receive(data, now) / receive_packet(packet, now)  ->  [StateChanged | PacketDropped]
    handle_timer(now)                                 ->  [StateChanged]        (detection time, transmit timer)
    admin_down(now) / admin_up(now) / set_profile(profile, now)  (commands; return their events too)
    datagrams_to_send() -> [bytes]     next_deadline() -> float | None

**States.** AdminDown, Down, Init, Up. Received packets move the state through :data:`RECEIVE_TRANSITIONS`, the
table of RFC 5880 section 6.8.6 written as data (style anchor 4); the detection timer through
:data:`DETECTION_TRANSITIONS` (section 6.8.4). A three-way handshake takes a session Down -> Init -> Up.

**Timers.** Two deadlines, both absolute on the caller's clock:

* *transmit*: periodic packets every ``max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval)`` (6.8.2, 6.8.7),
  shortened by a random 0-25 % per packet (0-10 % floor 25 % when Detect Mult is 1), the randomness coming from the
  injected ``random`` function so tests are deterministic. Nothing is sent periodically while the peer asks for
  no packets (Required Min RX 0), while it runs Demand mode and both ends are Up, or - in the Passive role
  (6.1) - before the peer's discriminator is known (6.8.7);
* *detection*: ``remote Detect Mult x max(bfd.RequiredMinRxInterval, remote Desired Min TX)`` after the last
  accepted packet (6.8.4). When it passes, an Init or Up session goes Down with diagnostic 1 (Control Detection
  Time Expired), and the remote discriminator is forgotten (6.8.1) and ``bfd.RemoteMinRxInterval`` reset to 1
  (6.8.18).

**Slow start and Poll/Final.** While not Up, Desired Min TX is advertised as at least one second (6.8.3). When the
session comes Up the configured interval takes over, and that change - like any later change of Desired Min TX or
Required Min RX while Up - starts a Poll Sequence (6.5): the P bit rides on the periodic packets until a packet
with F arrives (a Final that arrives before our first P left answers no Poll of ours and is ignored). A faster
transmit rate applies at once; a slower one only after the Final (6.8.3: "MUST NOT change until the Poll Sequence
... has terminated"); a shorter Required Min RX enters our Detection Time only after the Final, a longer one at
once. A second change waits until the first Poll ended and a packet without F was received (6.8.3, choice 3), so
the meaning of every Final is unambiguous. Outside Up the advertised values change at once, with no Poll: a peer
that is not Up runs no detection timer that depends on them (FRR behaves the same). A packet with P set is
answered at once with a packet carrying F (6.8.7), whatever the state.

**State changes are announced promptly.** After a state change the next packet leaves at the earliest time the
interval in use *before* the change allows (75 % of it after the last packet), so a peer learns Init, Up, Down or
AdminDown within one fast interval even when the change switches us to the 1 s slow rate.

**AdminDown** (6.8.16): diagnostic 7, packets keep going out at the slow rate for ``detect_mult`` slow intervals so
the peer learns it ("SHOULD be transmitted for at least a Detection Time"), then stop. Received packets update the
remote variables and are discarded (6.8.6). ``admin_up`` returns the session to Down.

Not implemented: Demand mode of our own (we never set D), the Echo function (we advertise Required Min Echo RX 0, so
peers never send echo packets to us, 6.8.6), authentication (see :mod:`speaker.bfd.core.packet`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ironlb.config.model import BFDProfile
from speaker.bfd.core.errors import BfdError, DecodeError, DropReason
from speaker.bfd.core.events import Event, PacketDropped, SessionSnapshot, StateChanged
from speaker.bfd.core.packet import MAX_U32, ControlPacket, Diagnostic, State, check_reception_rules

#: While not Up, Desired Min TX is at least one second (RFC 5880 section 6.8.3), in microseconds.
SLOW_TX_INTERVAL_US = 1_000_000
#: Periodic packets are sent after 75-100 % of the interval (6.8.7); 75-90 % when Detect Mult is 1.
JITTER_FLOOR = 0.75
_JITTER_CEILING_DETECT_MULT_1 = 0.90

_A, _D, _I, _U = State.ADMIN_DOWN, State.DOWN, State.INIT, State.UP
_NEIGHBOR_DOWN = Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
_EXPIRED = Diagnostic.CONTROL_DETECTION_TIME_EXPIRED

#: RFC 5880 section 6.8.6, the state update on a received packet: (bfd.SessionState, received State) ->
#: (new bfd.SessionState, new bfd.LocalDiag or None to keep it). Entering Up clears the diagnostic: it explains the
#: most recent change, and coming Up has no failure to explain. A local AdminDown session discards every packet
#: before this table is consulted, so it has no rows.
RECEIVE_TRANSITIONS: Mapping[tuple[State, State], tuple[State, Diagnostic | None]] = MappingProxyType(
    {
        # "If received state is AdminDown: if bfd.SessionState is not Down, set bfd.LocalDiag to 3 and
        # bfd.SessionState to Down."
        (_D, _A): (_D, None),
        (_I, _A): (_D, _NEIGHBOR_DOWN),
        (_U, _A): (_D, _NEIGHBOR_DOWN),
        # "If bfd.SessionState is Down: if received State is Down, set bfd.SessionState to Init; else if received
        # State is Init, set bfd.SessionState to Up."
        (_D, _D): (_I, None),
        (_D, _I): (_U, Diagnostic.NONE),
        (_D, _U): (_D, None),
        # "Else if bfd.SessionState is Init: if received State is Init or Up, set bfd.SessionState to Up."
        (_I, _D): (_I, None),
        (_I, _I): (_U, Diagnostic.NONE),
        (_I, _U): (_U, Diagnostic.NONE),
        # "Else (bfd.SessionState is Up): if received State is Down, set bfd.LocalDiag to 3 and bfd.SessionState
        # to Down."
        (_U, _D): (_D, _NEIGHBOR_DOWN),
        (_U, _I): (_U, None),
        (_U, _U): (_U, None),
    }
)

#: RFC 5880 section 6.8.4: a Detection Time passed without a valid packet. "If bfd.SessionState is Init or Up, the
#: session has gone down -- the local system MUST set bfd.SessionState to Down and bfd.LocalDiag to 1".
DETECTION_TRANSITIONS: Mapping[State, tuple[State, Diagnostic | None]] = MappingProxyType(
    {_A: (_A, None), _D: (_D, None), _I: (_D, _EXPIRED), _U: (_D, _EXPIRED)}
)


def _profile_intervals(profile: BFDProfile) -> tuple[int, int, int]:
    """(Desired Min TX us, Required Min RX us, Detect Mult) from a profile, checked against the wire's limits."""
    tx_us, rx_us = profile.transmit_interval_ms * 1000, profile.receive_interval_ms * 1000
    if not 0 < tx_us <= MAX_U32:  # RFC 5880 4.1: "The value zero is reserved" for Desired Min TX Interval
        raise BfdError(
            f"BFDProfile {profile.name!r}: transmitInterval {profile.transmit_interval_ms} ms does not fit the "
            "protocol; use 10-60000 ms."
        )
    if not 0 <= rx_us <= MAX_U32:
        raise BfdError(
            f"BFDProfile {profile.name!r}: receiveInterval {profile.receive_interval_ms} ms does not fit the "
            "protocol; use 10-60000 ms."
        )
    if not 1 <= profile.detect_multiplier <= 255:
        raise BfdError(
            f"BFDProfile {profile.name!r}: detectMultiplier {profile.detect_multiplier} is out of range; use 2-255."
        )
    return tx_us, rx_us, profile.detect_multiplier


class Session:
    """One asynchronous-mode BFD session. See the module docstring for the theory of operation.

    Args:
        profile: the timers and the passive flag (``echo_mode`` is ignored: the Echo function is not implemented).
        local_discriminator: ``bfd.LocalDiscr``, non-zero and unique on this system (the session table picks it).
        now: the caller's clock, in seconds; every later input takes a ``now`` on the same clock.
        random: returns a float in [0, 1) for the per-packet jitter; inject a seeded one in tests.

    Raises:
        BfdError: a discriminator of 0 or a profile whose values cannot be sent.
    """

    def __init__(
        self, profile: BFDProfile, *, local_discriminator: int, now: float, random: Callable[[], float]
    ) -> None:
        if not 0 < local_discriminator <= MAX_U32:
            raise BfdError(f"A BFD local discriminator must be 1-{MAX_U32}, not {local_discriminator}.")
        self._random = random
        self._desired_tx_us, self._required_rx_us, self.detect_mult = _profile_intervals(profile)
        self.passive = profile.passive_mode
        self.local_discriminator = local_discriminator
        # RFC 5880 section 6.8.1 initial values.
        self.state = State.DOWN
        self.remote_state = State.DOWN
        self.local_diagnostic: int = Diagnostic.NONE
        self.remote_diagnostic: int = Diagnostic.NONE
        self.remote_discriminator = 0
        self.remote_min_rx_us = 1
        self.remote_desired_min_tx_us = 0
        self.remote_detect_mult = 0
        self.remote_demand = False
        # What we advertise, and the values in force for pacing and detection (they differ during a Poll).
        self._adv_tx_us = max(self._desired_tx_us, SLOW_TX_INTERVAL_US)
        self._adv_rx_us = self._required_rx_us
        self._pacing_tx_us = self._adv_tx_us
        self._detect_rx_us = self._adv_rx_us
        self._poll_active = False
        self._poll_sent = False
        self._poll_pending = False
        self._await_non_final = False
        # Timers.
        self._last_tx: float | None = None
        self._tx_factor = self._draw_jitter()
        self._prompt_deadline: float | None = None
        self._tx_deadline: float | None = None
        self._last_rx: float | None = None
        self._detect_deadline: float | None = None
        self._admin_until: float | None = None
        # Output and counters.
        self._outbox: list[bytes] = []
        self.packets_in = 0
        self.packets_out = 0
        self.up_events = 0
        self.down_events = 0
        self.drops: Counter[DropReason] = Counter()
        self.last_state_change: float | None = None
        self._reschedule_tx(now)

    # ===== inputs =================================================================================================
    def receive(self, data: bytes, now: float) -> list[Event]:
        """Feed one received datagram's payload. Never raises: bad packets come back as :class:`PacketDropped`."""
        try:
            packet = ControlPacket.decode(data)
        except DecodeError as exc:
            return [self._drop(exc.reason, exc.detail)]
        return self.receive_packet(packet, now)

    def receive_packet(self, packet: ControlPacket, now: float) -> list[Event]:
        """Apply the reception procedure of RFC 5880 section 6.8.6 to a decoded packet. Never raises."""
        try:
            check_reception_rules(packet)
        except DecodeError as exc:
            return [self._drop(exc.reason, exc.detail)]
        # "If the Your Discriminator field is nonzero, it MUST be used to select the session ... If no session is
        # found, the packet MUST be discarded."
        if packet.your_discriminator and packet.your_discriminator != self.local_discriminator:
            return [
                self._drop(
                    DropReason.UNKNOWN_DISCRIMINATOR,
                    f"Your Discriminator {packet.your_discriminator} is not ours ({self.local_discriminator})",
                )
            ]
        # "If the A bit is set and no authentication is in use (bfd.AuthType is zero), the packet MUST be discarded."
        if packet.authentication is not None:
            return [self._drop(DropReason.AUTHENTICATION_UNEXPECTED, "the A bit is set; we use no authentication")]
        self.remote_discriminator = packet.my_discriminator
        self.remote_state = packet.state
        self.remote_diagnostic = packet.diagnostic
        self.remote_demand = packet.demand
        self.remote_min_rx_us = packet.required_min_rx_us
        self.remote_desired_min_tx_us = packet.desired_min_tx_us
        self.remote_detect_mult = packet.detect_mult
        # "If a Poll Sequence is being transmitted by the local system and the Final (F) bit in the received packet
        # is set, the Poll Sequence MUST be terminated."
        if packet.final and self._poll_active and self._poll_sent:  # a Final answers a Poll we actually sent
            self._poll_active = False
            self._pacing_tx_us, self._detect_rx_us = self._adv_tx_us, self._adv_rx_us
            self._await_non_final = True
        elif not packet.final:
            self._await_non_final = False
        # "If bfd.SessionState is AdminDown: Discard the packet."
        if self.state is State.ADMIN_DOWN:
            self._update_detection()
            self._reschedule_tx(now)
            return [self._drop(DropReason.ADMIN_DOWN, "the local session is administratively down")]
        events: list[Event] = []
        new_state, diagnostic = RECEIVE_TRANSITIONS[(self.state, packet.state)]
        if new_state is not self.state:
            events.append(self._set_state(new_state, diagnostic, now))
        # "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the Poll (P) bit clear,
        # and the Final (F) bit set" - at once, "without respect to the transmission timer" (6.8.7).
        if packet.poll:
            self._emit(final=True)
        # "If the packet was not discarded, it has been received for purposes of the Detection Time expiration."
        self.packets_in += 1
        self._last_rx = now
        self._sync_intervals()
        self._update_detection()
        self._reschedule_tx(now)
        return events

    def handle_timer(self, now: float) -> list[Event]:
        """Run whatever is due at ``now``: detection expiry first, then a periodic transmission."""
        events: list[Event] = []
        if self._detect_deadline is not None and now >= self._detect_deadline:
            events.extend(self._detection_expired(now))
            self._reschedule_tx(now)  # the Down it caused may be due at once
        if self._tx_deadline is not None and now >= self._tx_deadline:
            self._emit(final=False)
            self._last_tx = now
            self._tx_factor = self._draw_jitter()
            self._prompt_deadline = None
        self._reschedule_tx(now)
        return events

    # ===== commands ===============================================================================================
    def admin_down(self, now: float, diagnostic: Diagnostic = Diagnostic.ADMINISTRATIVELY_DOWN) -> list[Event]:
        """Disable the session (RFC 5880 section 6.8.16). Packets announce AdminDown for a while, then stop."""
        if self.state is State.ADMIN_DOWN:
            return []
        event = self._set_state(State.ADMIN_DOWN, diagnostic, now)
        self._admin_until = now + self.detect_mult * self._adv_tx_us / 1e6
        self._reschedule_tx(now)
        return [event]

    def admin_up(self, now: float) -> list[Event]:
        """Enable an administratively disabled session: "Set bfd.SessionState to Down" (6.8.16)."""
        if self.state is not State.ADMIN_DOWN:
            return []
        event = self._set_state(State.DOWN, None, now)
        self._admin_until = None
        self._reschedule_tx(now)
        return [event]

    def set_profile(self, profile: BFDProfile, now: float) -> list[Event]:
        """Change the timers, Detect Mult or the passive flag. Interval changes while Up run a Poll Sequence.

        Raises:
            BfdError: the profile's values cannot be sent (the session is left unchanged).
        """
        self._desired_tx_us, self._required_rx_us, self.detect_mult = _profile_intervals(profile)
        self.passive = profile.passive_mode
        self._sync_intervals()
        self._update_detection()
        self._reschedule_tx(now)
        return []

    # ===== outputs ================================================================================================
    def datagrams_to_send(self) -> list[bytes]:
        """The packets queued since the last call, oldest first (each one UDP payload to the peer)."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next run (absolute, on ``now``'s clock), or None if nothing is due."""
        deadlines = [d for d in (self._tx_deadline, self._detect_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    @property
    def poll_active(self) -> bool:
        return self._poll_active

    def transmit_interval_us(self) -> int:
        """The negotiated periodic interval before jitter (6.8.7), or 0 when no periodic packets are due."""
        if self.remote_min_rx_us == 0:  # "MUST NOT periodically transmit ... if bfd.RemoteMinRxInterval is zero"
            return 0
        return max(self._pacing_tx_us, self.remote_min_rx_us)

    def detection_time_us(self) -> int:
        """The Detection Time of RFC 5880 section 6.8.4, or 0 before the first packet from the peer."""
        if self.remote_detect_mult == 0:
            return 0
        return self.remote_detect_mult * max(self._detect_rx_us, self.remote_desired_min_tx_us)

    def snapshot(self) -> SessionSnapshot:
        return SessionSnapshot(
            state=self.state,
            remote_state=self.remote_state,
            local_diagnostic=self.local_diagnostic,
            remote_diagnostic=self.remote_diagnostic,
            local_discriminator=self.local_discriminator,
            remote_discriminator=self.remote_discriminator,
            detect_mult=self.detect_mult,
            remote_detect_mult=self.remote_detect_mult,
            desired_min_tx_us=self._adv_tx_us,
            required_min_rx_us=self._adv_rx_us,
            required_min_echo_rx_us=0,
            remote_desired_min_tx_us=self.remote_desired_min_tx_us,
            remote_min_rx_us=self.remote_min_rx_us,
            transmit_interval_us=self.transmit_interval_us() if self._tx_deadline is not None else 0,
            detection_time_us=self.detection_time_us(),
            poll_active=self._poll_active,
            passive=self.passive,
            remote_demand=self.remote_demand,
            packets_in=self.packets_in,
            packets_out=self.packets_out,
            up_events=self.up_events,
            down_events=self.down_events,
            drops=dict(self.drops),
            last_state_change=self.last_state_change,
        )

    # ===== internals ==============================================================================================
    def _drop(self, reason: DropReason, detail: str) -> PacketDropped:
        self.drops[reason] += 1
        return PacketDropped(reason, detail)

    def _emit(self, *, final: bool) -> None:
        # 6.8.7: P set while we poll, never together with F (6.5: "MUST NOT have both ... set"); C clear, because
        # this implementation shares fate with the control plane (it runs in the speaker's process); D and M clear.
        packet = ControlPacket(
            state=self.state,
            my_discriminator=self.local_discriminator,
            your_discriminator=self.remote_discriminator,
            diagnostic=self.local_diagnostic,
            detect_mult=self.detect_mult,
            desired_min_tx_us=self._adv_tx_us,
            required_min_rx_us=self._adv_rx_us,
            required_min_echo_rx_us=0,
            poll=self._poll_active and not final,
            final=final,
        )
        self._outbox.append(packet.encode())
        self.packets_out += 1
        self._poll_sent |= packet.poll

    def _draw_jitter(self) -> float:
        if self.detect_mult == 1:
            return JITTER_FLOOR + (_JITTER_CEILING_DETECT_MULT_1 - JITTER_FLOOR) * self._random()
        return 1.0 - (1.0 - JITTER_FLOOR) * self._random()

    def _set_state(self, new: State, diagnostic: Diagnostic | None, now: float) -> StateChanged:
        old = self.state
        # The packet announcing the change leaves as early as the interval in force before the change allows.
        interval_us = self.transmit_interval_us()
        if self._last_tx is not None and interval_us:
            self._prompt_deadline = max(now, self._last_tx + JITTER_FLOOR * interval_us / 1e6)
        else:
            self._prompt_deadline = now
        self.state = new
        if diagnostic is not None:
            self.local_diagnostic = diagnostic
        self.last_state_change = now
        if new is State.UP:
            self.up_events += 1
        if old is State.UP:
            self.down_events += 1
            self._poll_active = self._poll_pending = self._await_non_final = False
        self._sync_intervals()
        return StateChanged(
            old=old,
            new=new,
            diagnostic=self.local_diagnostic,
            remote_state=self.remote_state,
            administrative=new is State.ADMIN_DOWN or self.remote_state is State.ADMIN_DOWN,
        )

    def _sync_intervals(self) -> None:
        """Bring the advertised intervals to what the profile and the state call for (RFC 5880 section 6.8.3)."""
        target_tx = self._desired_tx_us if self.state is State.UP else max(self._desired_tx_us, SLOW_TX_INTERVAL_US)
        target_rx = self._required_rx_us
        if (target_tx, target_rx) == (self._adv_tx_us, self._adv_rx_us):
            self._poll_pending = False
            return
        if self.state is not State.UP:
            self._adv_tx_us = self._pacing_tx_us = target_tx
            self._adv_rx_us = self._detect_rx_us = target_rx
            return
        if self._poll_active or self._await_non_final:
            self._poll_pending = True  # one change per Poll Sequence (6.8.3): wait for the Final and a non-Final
            return
        # "If bfd.DesiredMinTxInterval is increased and bfd.SessionState is Up, the actual transmission interval used
        # MUST NOT change until the Poll Sequence ... has terminated." A decrease applies at once.
        self._pacing_tx_us = min(self._pacing_tx_us, target_tx)
        # "If bfd.RequiredMinRxInterval is reduced and bfd.SessionState is Up, the previous value ... MUST be used
        # when calculating the Detection Time ... until the Poll Sequence ... has terminated." An increase is safe.
        self._detect_rx_us = max(self._detect_rx_us, target_rx)
        self._adv_tx_us, self._adv_rx_us = target_tx, target_rx
        self._poll_active = True
        self._poll_sent = False
        self._poll_pending = False

    def _update_detection(self) -> None:
        if self._last_rx is None or self.remote_discriminator == 0:
            self._detect_deadline = None
        else:
            self._detect_deadline = self._last_rx + self.detection_time_us() / 1e6

    def _detection_expired(self, now: float) -> list[Event]:
        events: list[Event] = []
        new_state, diagnostic = DETECTION_TRANSITIONS[self.state]
        if new_state is not self.state:
            events.append(self._set_state(new_state, diagnostic, now))
        # 6.8.1: bfd.RemoteDiscr "MUST be set to zero" when a Detection Time passes without a valid packet; 6.8.18:
        # reset bfd.RemoteMinRxInterval to its initial 1. What the peer last said no longer holds either.
        self.remote_discriminator = 0
        self.remote_min_rx_us = 1
        self.remote_state = State.DOWN
        self.remote_demand = False
        self.remote_detect_mult = 0
        self.remote_desired_min_tx_us = 0
        self._last_rx = None
        self._detect_deadline = None
        self._sync_intervals()
        return events

    def _may_transmit_periodically(self, now: float) -> bool:
        if self.passive and self.remote_discriminator == 0:  # 6.8.7 (and 6.1: the Passive role)
            return False
        # 6.8.7: not while Demand mode is active on the remote system and no Poll Sequence is being transmitted.
        if self.remote_demand and self.state is State.UP and self.remote_state is State.UP and not self._poll_active:
            return False
        return not (self.state is State.ADMIN_DOWN and self._admin_until is not None and now >= self._admin_until)

    def _reschedule_tx(self, now: float) -> None:
        interval_us = self.transmit_interval_us()
        if interval_us == 0 or not self._may_transmit_periodically(now):
            self._tx_deadline = None
            return
        if self._last_tx is None:
            deadline = now
        else:
            deadline = self._last_tx + interval_us * self._tx_factor / 1e6
        if self._prompt_deadline is not None:
            deadline = min(deadline, self._prompt_deadline)
        if self.state is State.ADMIN_DOWN and self._admin_until is not None and deadline >= self._admin_until:
            self._tx_deadline = None
            return
        self._tx_deadline = max(now, deadline)


__all__ = ["DETECTION_TRANSITIONS", "JITTER_FLOOR", "RECEIVE_TRANSITIONS", "SLOW_TX_INTERVAL_US", "Session"]
