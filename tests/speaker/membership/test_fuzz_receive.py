"""Fuzzing the protocol object's inputs: nothing escapes, and its state stays consistent after every step.

Hypothesis writes scripts of raw bytes, *authenticated* datagrams with arbitrary content from a small pool of
sender names (so that they do touch the member table: claims about us, about each other, out-of-order versions,
replays), timer calls as time moves forward, and commands. After every step the invariants below must hold.
"""

from __future__ import annotations

from typing import cast

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from speaker.membership.core.codec import (
    Ack,
    Address,
    Body,
    Gossip,
    Leave,
    MemberState,
    MemberUpdate,
    Nack,
    Ping,
    PingReq,
    Sync,
    decode_datagram,
    encode_datagram,
)
from speaker.membership.core.events import MembershipEvent, PacketDropped
from speaker.membership.core.protocol import Membership, RunState
from tests.speaker.membership.helpers import EPOCH, KEY, LOCAL, make_core

NAMES = ["node1", "node2", "node3", "node4", "node5"]  # node1 is the core under test
ADDRESSES = [LOCAL, ("192.0.2.12", 7946), ("192.0.2.13", 7946), ("2001:db8::14", 7946), ("192.0.2.15", 1)]

names = st.sampled_from(NAMES)
addresses = st.sampled_from(ADDRESSES)
versions = st.tuples(st.integers(EPOCH - 1, EPOCH + 1), st.integers(0, 3))
updates = st.builds(
    lambda state, name, version, address, metadata, by, after: MemberUpdate(
        state, name, version[0], version[1], address, metadata, by, after
    ),
    st.sampled_from(MemberState),
    names,
    versions,
    st.one_of(st.none(), addresses),
    st.sampled_from([b"", b"a", b'{"eth0":true}', b"x" * 600]),
    st.sampled_from(["", "node2", "node3"]),
    st.integers(0, 2000),
)
update_lists = st.lists(updates, max_size=4).map(tuple)
probe_ids = st.integers(0, 20)
bodies: st.SearchStrategy[Body] = st.one_of(
    st.builds(Ping, probe_ids, names, update_lists),
    st.builds(Ack, probe_ids, names, update_lists),
    st.builds(Nack, probe_ids, names, update_lists),
    st.builds(PingReq, probe_ids, names, addresses, update_lists),
    st.builds(Sync, st.booleans(), update_lists),
    st.builds(Gossip, update_lists),
    st.builds(Leave, update_lists),
)
signed = st.builds(
    lambda sender, version, seq, body: encode_datagram(
        body, sender=sender, epoch=version[0], seq=seq, incarnation=version[1], key=KEY
    ),
    st.sampled_from(NAMES[1:]) | names,  # mostly other nodes, sometimes an impostor using our name
    versions,
    st.integers(0, 40),
    bodies,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("datagram"), signed, addresses, st.floats(0.0, 0.05)),
        st.tuples(st.just("datagram"), signed, addresses, st.floats(0.0, 0.05)),
        st.tuples(st.just("datagram"), st.binary(max_size=120), addresses, st.floats(0.0, 0.3)),
        st.tuples(st.just("timer"), st.floats(0.0, 0.6)),  # often later than the deadline: a stall
        st.tuples(st.just("timers"), st.integers(1, 8)),  # the next few deadlines, on time
        st.tuples(st.just("command"), st.sampled_from(["leave", "metadata", "join", "seeds"])),
    ),
    max_size=60,
)


def _check(core: Membership, events: list[MembershipEvent], dropped: int, *, after_timer: bool) -> None:
    view = core.view()
    assert core.name in view
    live = {name for name, state in core.member_states().items() if state in (MemberState.ALIVE, MemberState.SUSPECT)}
    assert view.alive() == live | {core.name}
    for name in core.suspects():
        member = core.member(name)
        assert member is not None and member.state == MemberState.SUSPECT
    if after_timer and core.state == RunState.RUNNING:
        assert core.watched() <= live
    deadline = core.next_deadline()
    assert (deadline is None) == (core.state == RunState.LEFT)
    assert sum(core.drops.values()) == dropped
    assert core.incarnation >= 0
    for data, destination in core.datagrams_to_send():
        assert len(data) <= core.config.max_datagram
        assert decode_datagram(data, [KEY]).sender == core.name
        assert isinstance(destination, tuple) and destination in ADDRESSES


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps)
def test_any_input_script_keeps_the_core_consistent(script: list[tuple[object, ...]]) -> None:
    core = make_core()
    now = 0.0
    dropped = 0
    for step in script:
        after_timer = False
        match step:
            case ("datagram", bytes() as data, source, float() as dt):
                now += dt
                events = core.receive_datagram(data, cast("Address", source), now)
            case ("timer", float() as dt):
                now += dt
                deadline = core.next_deadline()
                events = core.handle_timer(max(now, deadline or now))
                after_timer = True
            case ("timers", int() as count):
                events = []
                for _ in range(count):
                    deadline = core.next_deadline()
                    if deadline is None:
                        break
                    now = max(now, deadline)
                    events.extend(core.handle_timer(now))
                after_timer = True
            case ("command", "leave"):
                core.leave()
                events = []
            case ("command", "metadata"):
                core.set_metadata(f"m{now}".encode())
                events = []
            case ("command", "join"):
                core.join([ADDRESSES[1], ADDRESSES[2]])
                events = []
            case ("command", "seeds"):
                core.set_seeds([ADDRESSES[3]])
                events = []
            case _:
                raise AssertionError(f"unexpected step {step!r}")
        dropped += sum(1 for e in events if isinstance(e, PacketDropped))
        for e in events:  # shown by --hypothesis-show-statistics: proof that the scripts reach deep states
            event(e.reason.value if isinstance(e, PacketDropped) else type(e).__name__)
        _check(core, events, dropped, after_timer=after_timer)
