"""The BFD session state machine (RFC 5880 section 6), on virtual time.

Covered: the three-way handshake through the pair harness; detection-time expiry (diagnostic 1) and the peer
learning it (diagnostic 3); AdminDown; Poll/Final on interval changes with the RFC's "not until the Final" rules;
slow transmission while not Up; the Passive role; jitter; the peer's Required Min RX 0 and Demand bit; a walk over
every (local state, received state) pair against the table of section 6.8.6; drop reasons; hypothesis fuzzing of
the receive path. Not covered here: demultiplexing (test_table.py) and sockets (test_manager.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.config.model import BFDProfile
from speaker.bfd.core import (
    Authentication,
    AuthType,
    BfdError,
    ControlPacket,
    Diagnostic,
    DropReason,
    PacketDropped,
    Session,
    State,
    StateChanged,
    check_reception_rules,
)
from tests.speaker.bfd.harness import FAST, SessionPair

LOCAL = 0x0A0A0A0A
PEER = 0x77777777
#: b's Detect Mult 10 gives a a one-second Detection Time: room to cut b's packets while a Poll is watched.
PATIENT = dataclasses.replace(FAST, name="patient", detect_multiplier=10)


def lone(profile: BFDProfile = FAST, *, now: float = 0.0, seed: int = 0) -> Session:
    return Session(profile, local_discriminator=LOCAL, now=now, random=random.Random(seed).random)


def packet(state: State, *, your: int = LOCAL, **fields: object) -> bytes:
    return ControlPacket(state, PEER, your, **fields).encode()  # type: ignore[arg-type]


def sent(session: Session) -> list[ControlPacket]:
    return [ControlPacket.decode(d) for d in session.datagrams_to_send()]


def up_pair(**kwargs: object) -> SessionPair:
    pair = SessionPair(**kwargs)  # type: ignore[arg-type]
    pair.run_until_states(State.UP, State.UP)
    pair.run_for(2.0)  # past the Poll Sequences that follow coming Up
    assert not pair.a.poll_active and not pair.b.poll_active
    return pair


def drive_to(state: State, *, now: float = 0.0) -> Session:
    """A session brought to ``state`` by real inputs (a crafted peer), not by poking attributes."""
    session = lone(now=now)
    if state is State.ADMIN_DOWN:
        session.admin_down(now)
    if state in (State.INIT, State.UP):
        session.receive(packet(State.DOWN, your=0), now)
    if state is State.UP:
        session.receive(packet(State.UP), now)
    assert session.state is state
    session.datagrams_to_send()
    return session


# ===== the handshake ==============================================================================================
def test_pair_comes_up_through_down_init_up() -> None:
    pair = SessionPair()
    pair.run_until_states(State.UP, State.UP, limit=5.0)
    paths = [[(c.old, c.new) for c in pair.changes(who)] for who in ("a", "b")]
    # A side that hears "Down" goes Init, then Up on "Init" or "Up"; a side that hears "Init" first goes straight
    # Up (6.8.6). Starting together, both hear "Down" first.
    through_init = [(State.DOWN, State.INIT), (State.INIT, State.UP)]
    assert paths == [through_init, through_init]
    assert all(c.diagnostic == Diagnostic.NONE and not c.administrative for c in pair.changes("a"))


def test_coming_up_polls_the_fast_interval_and_the_peer_answers_final() -> None:
    pair = SessionPair()
    pair.run_until_states(State.UP, State.UP)
    pair.run_for(1.0)
    first_up = next(s for s in pair.packets_from("a") if s.packet.state is State.UP and not s.packet.final)
    assert first_up.packet.poll and first_up.packet.desired_min_tx_us == 100_000
    finals = [s for s in pair.packets_from("b") if s.packet.final]
    assert finals and finals[0].time == first_up.time and not finals[0].packet.poll
    assert not pair.a.poll_active
    assert all(not (s.packet.poll and s.packet.final) for s in pair.sent)


def test_slow_transmission_while_not_up() -> None:
    session = lone(FAST)
    times: list[float] = []
    now = 0.0
    while now < 20.0:
        deadline = session.next_deadline()
        assert deadline is not None
        now = deadline
        session.handle_timer(now)
        for p in sent(session):
            times.append(now)
            # 6.8.3: Desired Min TX at least one second while not Up; Required Min RX is not raised.
            assert (p.state, p.desired_min_tx_us, p.required_min_rx_us) == (State.DOWN, 1_000_000, 100_000)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) > 15 and all(0.75 <= g <= 1.0 for g in gaps)


def test_a_late_starter_hears_init_and_goes_straight_up() -> None:
    early = Session(FAST, local_discriminator=1, now=0.0, random=random.Random(1).random)
    late = Session(FAST, local_discriminator=2, now=0.5, random=random.Random(2).random)
    early.handle_timer(0.0)
    late.receive(early.datagrams_to_send()[0], 0.5)  # late: Down -> Init
    late.handle_timer(0.5)
    (init,) = late.datagrams_to_send()
    events = early.receive(init, 0.5)
    assert [(e.old, e.new) for e in events if isinstance(e, StateChanged)] == [(State.DOWN, State.UP)]
    early.handle_timer(early.next_deadline() or 0.0)
    events = late.receive(early.datagrams_to_send()[0], 0.6)
    assert [(e.old, e.new) for e in events if isinstance(e, StateChanged)] == [(State.INIT, State.UP)]


def test_the_same_seed_gives_the_same_packets() -> None:
    first, second = SessionPair(seed=7), SessionPair(seed=7)
    for pair in (first, second):
        pair.run_for(5.0)
    assert [(s.time, s.sender, s.packet) for s in first.sent] == [(s.time, s.sender, s.packet) for s in second.sent]


# ===== failure detection ==========================================================================================
def test_detection_time_expiry_takes_the_session_down_with_diagnostic_1() -> None:
    pair = up_pair()
    pair.cut("b")  # b's packets no longer reach a: the path from b failed
    pair.run_for(1.0)
    last_heard = max(s.time for s in pair.packets_from("b") if s.delivered)
    (when, change), *_ = [(t, c) for t, c in pair.change_times("a") if c.went_down]
    assert (change.new, change.diagnostic, change.administrative) == (
        State.DOWN,
        Diagnostic.CONTROL_DETECTION_TIME_EXPIRED,
        False,
    )
    assert when == pytest.approx(last_heard + 0.3)  # remote Detect Mult 3 x max(100 ms, 100 ms), 6.8.4
    # 6.8.1 and 6.8.18: the remote discriminator is forgotten, Required Min RX reset to 1.
    assert (pair.a.remote_discriminator, pair.a.remote_min_rx_us) == (0, 1)
    assert all(s.packet.your_discriminator == 0 for s in pair.packets_from("a", since=when))


def test_the_peer_learns_of_it_as_neighbor_signaled_session_down() -> None:
    pair = up_pair()
    pair.cut("b")
    pair.run_for(1.0)
    went_down = [c for c in pair.changes("b") if c.went_down]
    assert [(c.new, c.diagnostic, c.remote_state) for c in went_down] == [
        (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN, State.DOWN)
    ]
    assert not went_down[0].administrative


def test_detection_time_follows_the_slower_of_our_rx_and_the_peer_tx() -> None:
    slow_b = BFDProfile(name="slow", transmit_interval_ms=250, receive_interval_ms=100, detect_multiplier=5)
    pair = up_pair(profile_b=slow_b)
    assert pair.a.detection_time_us() == 5 * 250_000
    assert pair.b.detection_time_us() == 3 * 100_000
    assert pair.a.transmit_interval_us() == 100_000 and pair.b.transmit_interval_us() == 250_000


# ===== AdminDown ==================================================================================================
def test_admin_down_is_signalled_and_the_peer_goes_down_administratively() -> None:
    pair = up_pair()
    start = pair.now
    pair.command("a", pair.a.admin_down(pair.now))
    assert [(c.old, c.new, c.diagnostic, c.administrative) for c in pair.changes("a")][-1] == (
        State.UP,
        State.ADMIN_DOWN,
        Diagnostic.ADMINISTRATIVELY_DOWN,
        True,
    )
    pair.run_for(0.2)  # the AdminDown packet leaves within one fast interval
    change = pair.changes("b")[-1]
    assert (change.new, change.diagnostic, change.remote_state, change.administrative) == (
        State.DOWN,
        Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN,
        State.ADMIN_DOWN,
        True,  # RFC 5882 3.2: not a path failure
    )
    assert all(s.packet.state is State.ADMIN_DOWN for s in pair.packets_from("a", since=start))


def test_admin_down_announces_for_detect_mult_slow_intervals_then_falls_silent() -> None:
    pair = up_pair()
    start = pair.now
    pair.command("a", pair.a.admin_down(start))
    pair.run_for(10.0)
    announced = pair.packets_from("a", since=start)
    assert 2 <= len(announced) <= 4 and max(s.time for s in announced) < start + 3.0
    assert {d.reason for d in pair.drops("a")} == {DropReason.ADMIN_DOWN}  # b's Down packets are discarded
    assert pair.a.state is State.ADMIN_DOWN


def test_admin_up_returns_to_down_and_the_session_comes_up_again() -> None:
    pair = up_pair()
    pair.command("a", pair.a.admin_down(pair.now))
    pair.run_for(5.0)
    pair.command("a", pair.a.admin_up(pair.now))
    assert pair.changes("a")[-1].new is State.DOWN
    pair.run_until_states(State.UP, State.UP, limit=5.0)
    assert pair.a.up_events == 2
    assert pair.a.admin_up(pair.now) == []  # not AdminDown: nothing to do


# ===== Poll / Final ===============================================================================================
def test_a_slower_transmit_interval_waits_for_the_final() -> None:
    pair = up_pair(profile_b=PATIENT)
    pair.cut("b")  # no Final can arrive
    change_at = pair.now
    pair.command("a", pair.a.set_profile(dataclasses.replace(FAST, transmit_interval_ms=300), pair.now))
    pair.run_for(0.5)  # below a's one-second Detection Time
    polling = pair.packets_from("a", since=change_at)
    assert polling and all(s.packet.poll and s.packet.desired_min_tx_us == 300_000 for s in polling)
    gaps = [b.time - a.time for a, b in itertools.pairwise(polling)]
    assert all(g <= 0.1 for g in gaps)  # 6.8.3: the actual interval MUST NOT change before the Final
    pair.mend("b")
    pair.run_for(0.2)
    assert not pair.a.poll_active
    final_at = min(s.time for s in pair.packets_from("b", since=change_at) if s.packet.final and s.delivered)
    pair.run_for(3.0)
    after = [s.time for s in pair.packets_from("a", since=final_at) if not s.packet.final]
    later_gaps = [b - a for a, b in itertools.pairwise(after[1:])]
    assert later_gaps and all(0.225 <= g <= 0.3 for g in later_gaps)
    assert pair.b.detection_time_us() == 3 * 300_000


def test_a_shorter_required_rx_enters_the_detection_time_only_after_the_final() -> None:
    quick_b = BFDProfile(name="quick", transmit_interval_ms=20, receive_interval_ms=100)
    pair = up_pair(profile_b=quick_b)
    assert pair.a.detection_time_us() == 3 * 100_000
    pair.cut("b")
    pair.command("a", pair.a.set_profile(dataclasses.replace(FAST, receive_interval_ms=20), pair.now))
    assert pair.a.poll_active and pair.a.detection_time_us() == 3 * 100_000  # 6.8.3: the previous value until Final
    pair.mend("b")
    pair.run_for(0.2)
    assert not pair.a.snapshot().poll_active and pair.a.detection_time_us() == 3 * 20_000


def test_a_longer_required_rx_applies_at_once() -> None:
    pair = up_pair()
    pair.cut("b")
    pair.command("a", pair.a.set_profile(dataclasses.replace(FAST, receive_interval_ms=500), pair.now))
    assert pair.a.poll_active and pair.a.detection_time_us() == 3 * 500_000


def test_a_second_change_waits_until_the_first_poll_ended() -> None:
    pair = up_pair(profile_b=PATIENT)
    pair.cut("b")
    start = pair.now
    pair.command("a", pair.a.set_profile(dataclasses.replace(FAST, transmit_interval_ms=200), pair.now))
    pair.run_for(0.05)
    pair.command("a", pair.a.set_profile(dataclasses.replace(FAST, transmit_interval_ms=300), pair.now))
    pair.run_for(0.2)
    assert {s.packet.desired_min_tx_us for s in pair.packets_from("a", since=start)} == {200_000}
    pair.mend("b")
    pair.run_for(3.0)
    polls = [s for s in pair.packets_from("a", since=start) if s.packet.poll]
    first_final = min(s.time for s in pair.packets_from("b", since=start) if s.packet.final and s.delivered)
    second_poll = [s for s in polls if s.packet.desired_min_tx_us == 300_000]
    assert second_poll and min(s.time for s in second_poll) > first_final
    assert not pair.a.poll_active and pair.a.transmit_interval_us() == 300_000


def test_a_final_before_our_first_poll_left_answers_nothing() -> None:
    session = drive_to(State.UP)  # coming Up started a Poll; no packet has left yet
    session.receive(packet(State.UP, final=True), 0.01)
    assert session.poll_active
    session.handle_timer(0.02)
    assert [p.poll for p in sent(session)] == [True]


def test_a_poll_is_answered_at_once_with_final_in_any_state() -> None:
    session = lone()
    session.handle_timer(0.0)
    session.datagrams_to_send()
    session.receive(packet(State.DOWN, your=0, poll=True), 0.2)
    (answer,) = sent(session)  # not waiting for the 1 s transmit timer
    assert (answer.final, answer.poll, answer.state, answer.your_discriminator) == (True, False, State.INIT, PEER)


# ===== the Passive role and transmission limits ===================================================================
def test_a_passive_session_waits_for_the_peer_before_sending() -> None:
    pair = SessionPair(profile_a=dataclasses.replace(FAST, passive_mode=True))
    pair.run_until_states(State.UP, State.UP)
    first_a = pair.packets_from("a")[0]
    first_b = pair.packets_from("b")[0]
    assert first_a.time >= first_b.time and first_a.packet.your_discriminator == pair.b.local_discriminator


def test_two_passive_sessions_never_send() -> None:
    passive = dataclasses.replace(FAST, passive_mode=True)
    pair = SessionPair(profile_a=passive, profile_b=passive)
    pair.run_for(30.0)
    assert pair.sent == [] and pair.next_deadline() is None


def test_a_passive_session_falls_silent_when_the_peer_is_forgotten() -> None:
    pair = up_pair(profile_a=dataclasses.replace(FAST, passive_mode=True))
    pair.cut("b")
    pair.run_for(0.5)
    down_at = next(t for t, c in pair.change_times("a") if c.went_down)
    pair.run_for(10.0)
    assert pair.packets_from("a", since=down_at + 1e-9) == []  # 6.8.7: RemoteDiscr is zero and we are passive


def test_required_min_rx_zero_from_the_peer_stops_periodic_transmission() -> None:
    session = drive_to(State.UP)
    session.receive(packet(State.UP, required_min_rx_us=0, final=True), 0.1)
    assert sent(session) == []
    assert session.transmit_interval_us() == 0 and session.next_deadline() == pytest.approx(0.1 + 3.0)


def test_remote_demand_mode_stops_periodic_transmission_once_both_are_up() -> None:
    session = drive_to(State.UP)
    session.handle_timer(0.05)
    assert [p.poll for p in sent(session)] == [True]  # coming Up started a Poll
    session.receive(packet(State.UP, final=True, required_min_rx_us=100_000), 0.1)  # ends it
    transmit_at = session.next_deadline()
    assert transmit_at is not None and transmit_at < 0.2
    session.receive(packet(State.UP, demand=True, required_min_rx_us=100_000), 0.15)
    detection = 0.15 + 3 * 1.0
    assert session.next_deadline() == pytest.approx(detection)  # only the detection timer is left


@pytest.mark.parametrize(
    ("detect_mult", "low", "high"),
    [
        pytest.param(3, 0.075, 0.100, id="jitter-75-to-100-percent"),
        pytest.param(1, 0.075, 0.090, id="detect-mult-1-jitter-75-to-90-percent"),
    ],
)
def test_periodic_packets_are_jittered(detect_mult: int, low: float, high: float) -> None:
    pair = up_pair(profile_a=dataclasses.replace(FAST, detect_multiplier=detect_mult))
    start = pair.now
    pair.run_for(20.0)
    times = [s.time for s in pair.packets_from("a", since=start) if not s.packet.final]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) > 150
    assert all(low - 1e-9 <= g <= high + 1e-9 for g in gaps)
    assert max(gaps) - min(gaps) > (high - low) / 2  # really random, not a constant


# ===== the table of RFC 5880 section 6.8.6 ========================================================================
_NAMES = {State.ADMIN_DOWN: "admin-down", State.DOWN: "down", State.INIT: "init", State.UP: "up"}
# Written from the RFC text, independently of the implementation's table.
_EXPECTED: dict[tuple[State, State], tuple[State, int]] = {
    (State.DOWN, State.ADMIN_DOWN): (State.DOWN, Diagnostic.NONE),
    (State.DOWN, State.DOWN): (State.INIT, Diagnostic.NONE),
    (State.DOWN, State.INIT): (State.UP, Diagnostic.NONE),
    (State.DOWN, State.UP): (State.DOWN, Diagnostic.NONE),
    (State.INIT, State.ADMIN_DOWN): (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN),
    (State.INIT, State.DOWN): (State.INIT, Diagnostic.NONE),
    (State.INIT, State.INIT): (State.UP, Diagnostic.NONE),
    (State.INIT, State.UP): (State.UP, Diagnostic.NONE),
    (State.UP, State.ADMIN_DOWN): (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN),
    (State.UP, State.DOWN): (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN),
    (State.UP, State.INIT): (State.UP, Diagnostic.NONE),
    (State.UP, State.UP): (State.UP, Diagnostic.NONE),
}
_EXPECTED |= {(State.ADMIN_DOWN, r): (State.ADMIN_DOWN, Diagnostic.ADMINISTRATIVELY_DOWN) for r in State}
WALK = [
    pytest.param(local, received, *_EXPECTED[(local, received)], id=f"{_NAMES[local]}-hears-{_NAMES[received]}")
    for local in State
    for received in State
]


@pytest.mark.parametrize(("local", "received", "expected", "diagnostic"), WALK)
def test_every_state_meets_every_received_state(
    local: State, received: State, expected: State, diagnostic: int
) -> None:
    session = drive_to(local)
    events = session.receive(packet(received), 0.5)
    assert (session.state, session.local_diagnostic) == (expected, diagnostic)
    assert session.remote_state is received  # variables are updated even when AdminDown discards (6.8.6)
    changes = [e for e in events if isinstance(e, StateChanged)]
    assert [(c.old, c.new) for c in changes] == ([] if expected is local else [(local, expected)])
    drops = [e.reason for e in events if isinstance(e, PacketDropped)]
    assert drops == ([DropReason.ADMIN_DOWN] if local is State.ADMIN_DOWN else [])


@pytest.mark.parametrize("state", list(State), ids=[_NAMES[s] for s in State])
def test_detection_expiry_in_every_state(state: State) -> None:
    session = drive_to(state)
    events = session.handle_timer(10.0)  # long after any Detection Time
    expected = State.DOWN if state in (State.INIT, State.UP) else state
    changes = [(e.old, e.new, e.diagnostic) for e in events if isinstance(e, StateChanged)]
    if state in (State.INIT, State.UP):
        assert changes == [(state, State.DOWN, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED)]
    else:
        assert changes == []
    assert session.state is expected and session.remote_discriminator == 0


# ===== drops ======================================================================================================
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"\x20\x40", DropReason.TRUNCATED, id="garbage"),
        pytest.param(packet(State.UP, your=LOCAL + 1), DropReason.UNKNOWN_DISCRIMINATOR, id="not-our-discriminator"),
        pytest.param(
            ControlPacket(State.DOWN, PEER, authentication=Authentication(AuthType.SIMPLE_PASSWORD, 1, b"pw")).encode(),
            DropReason.AUTHENTICATION_UNEXPECTED,
            id="authenticated-packet-on-a-session-without-authentication",
        ),
        pytest.param(packet(State.DOWN, detect_mult=0), DropReason.ZERO_DETECT_MULT, id="detect-mult-0"),
        pytest.param(packet(State.UP, your=0), DropReason.ZERO_YOUR_DISCRIMINATOR, id="up-without-discriminator"),
    ],
)
def test_a_dropped_packet_names_its_reason_and_changes_nothing(data: bytes, reason: DropReason) -> None:
    session = drive_to(State.INIT)
    before = session.snapshot()
    events = session.receive(data, 0.5)
    assert [type(e) for e in events] == [PacketDropped] and events[0].reason is reason  # type: ignore[union-attr]
    assert dataclasses.replace(session.snapshot(), drops={}) == dataclasses.replace(before, drops={})
    assert session.snapshot().drops == {reason: 1}


def test_impossible_parameters_are_refused_and_leave_the_session_alone() -> None:
    session = drive_to(State.UP)
    before = session.snapshot()
    with pytest.raises(BfdError, match="transmitInterval"):
        session.set_profile(dataclasses.replace(FAST, transmit_interval_ms=0), 0.1)
    assert session.snapshot() == before
    with pytest.raises(BfdError, match="discriminator"):
        Session(FAST, local_discriminator=0, now=0.0, random=random.random)


# ===== fuzzing the receive path ===================================================================================
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("bytes"), st.binary(max_size=60)),
        st.tuples(
            st.just("packet"),
            st.sampled_from(State),
            st.sampled_from([0, LOCAL, 0x1234]),
            st.integers(0, 4),
            st.sampled_from([0, 1, 50_000, 100_000, 1_000_000]),
            st.sampled_from([0, 1, 50_000, 100_000, 1_000_000]),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
        st.tuples(st.just("advance"), st.floats(0.0, 3.0)),
        st.tuples(st.just("admin"), st.booleans()),
        st.tuples(st.just("profile"), st.integers(10, 2000), st.integers(10, 2000), st.integers(1, 5), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(OPERATIONS)
def test_fuzz_nothing_escapes_the_session_and_its_invariants_hold(operations: list[tuple[object, ...]]) -> None:
    session = lone(now=0.0)
    now = 0.0
    for op in operations:
        match op:
            case ("bytes", bytes() as data):
                session.receive(data, now)
            case ("packet", State() as state, int() as your, int() as mult, int() as tx, int() as rx, poll, final, d):
                data = ControlPacket(
                    state, PEER, your, detect_mult=mult, desired_min_tx_us=tx, required_min_rx_us=rx,
                    poll=bool(poll), final=bool(final), demand=bool(d),
                ).encode()  # fmt: skip
                session.receive(data, now)
            case ("advance", float() as seconds):
                until = now + seconds
                while (deadline := session.next_deadline()) is not None and deadline <= until:
                    now = max(now, deadline)
                    session.handle_timer(now)
                    after = session.next_deadline()
                    assert after is None or after > now  # handle_timer leaves nothing due: no busy loop
                now = until
            case ("admin", True):
                session.admin_down(now)
            case ("admin", False):
                session.admin_up(now)
            case ("profile", int() as tx, int() as rx, int() as mult, bool() as passive):
                session.set_profile(
                    BFDProfile(
                        name="f", transmit_interval_ms=tx, receive_interval_ms=rx, detect_multiplier=mult,
                        passive_mode=passive,
                    ),
                    now,
                )  # fmt: skip
        assert session.up_events - session.down_events == (1 if session.state is State.UP else 0)
        for out in sent(session):
            check_reception_rules(out)  # we never send what a peer must discard
            assert not (out.poll and out.final)
