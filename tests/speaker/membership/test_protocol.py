"""The protocol object fed by hand: probes, confirmation, refutation, helpers, joins, metadata, leave, stalls.

Each test plays the other members with :class:`Peer` and reads what the core queued. Multi-node behaviour over
time (convergence, detection budgets, partitions) is in test_simulation.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from speaker.membership.core.codec import (
    Ack,
    Gossip,
    Leave,
    MemberState,
    MemberUpdate,
    Nack,
    Ping,
    PingReq,
    Sync,
    decode_datagram,
)
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.errors import DecodeError, MembershipError
from speaker.membership.core.events import (
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberMetadataChanged,
    MemberSuspected,
)
from speaker.membership.core.protocol import Membership, RunState
from tests.speaker.membership.helpers import (
    EPOCH,
    KEY,
    LOCAL,
    OTHER_KEY,
    Peer,
    advance,
    make_core,
    run_timers,
    sent,
)

A2 = ("192.0.2.12", 7946)
A3 = ("192.0.2.13", 7946)
A4 = ("192.0.2.14", 7946)


def _cluster(*peers: Peer, now: float = 0.0) -> Membership:
    core = make_core()
    for peer in peers:
        peer.introduce(core, now)
    core.handle_timer(now)
    sent(core)
    return core


def test_a_ping_is_answered_with_an_ack_echoing_its_probe_id() -> None:
    core = make_core()
    peer = Peer("node2", A2)
    core.receive_datagram(peer.datagram(Ping(77, "node1")), A2, 0.0)
    replies = [(dg.body, to) for dg, to in sent(core) if isinstance(dg.body, Ack)]
    assert replies == [(Ack(77, "node1"), A2)]


def test_an_unknown_sender_is_answered_and_asked_for_its_state_once() -> None:
    core = make_core()
    peer = Peer("node2", A2)
    core.receive_datagram(peer.datagram(Ping(1, "node1")), A2, 0.0)
    core.receive_datagram(peer.datagram(Ping(2, "node1")), A2, 0.01)
    bodies = [dg.body for dg, _ in sent(core)]
    assert [type(b).__name__ for b in bodies] == ["Sync", "Ack", "Ack"]
    ask = bodies[0]
    assert isinstance(ask, Sync) and ask.reply_wanted and ask.updates[0].name == "node1"


def test_a_sync_request_gets_the_full_state_in_datagrams_that_fit() -> None:
    config = MembershipConfig(max_metadata=600)
    core = make_core(config=config, metadata=b"m" * 500)
    for i in range(20):
        Peer(f"peer-{i:02d}", ("192.0.2.100", 8000 + i), metadata=b"x" * 300).introduce(core, 0.0)
    sent(core)
    asker = Peer("node2", A2)
    core.receive_datagram(asker.datagram(Sync(True, (asker.alive(),))), A2, 0.0)
    out = core.datagrams_to_send()
    syncs = [b for b in (decode_datagram(data, [KEY]).body for data, _ in out) if isinstance(b, Sync)]
    assert len(syncs) > 1 and all(len(data) <= config.max_datagram for data, _ in out)
    assert [s.reply_wanted for s in syncs] == [False] * len(syncs)
    names = {u.name for s in syncs for u in s.updates}
    assert names == {"node1", "node2"} | {f"peer-{i:02d}" for i in range(20)}


def test_a_silent_successor_is_suspected_confirmed_and_declared_failed() -> None:
    peers = [Peer("node2", A2), Peer("node3", A3), Peer("node4", A4)]
    core = _cluster(*peers)
    suspect = sorted(core.watched())[0]
    events = run_timers(core, 0.5)
    # Every peer is silent here: all are suspected; look at one of them.
    suspected = [e for e in events if isinstance(e, MemberSuspected) and e.name == suspect]
    failed = [e for e in events if isinstance(e, MemberFailed) and e.name == suspect]
    assert suspected and suspected[0].suspected_by == "node1" and suspected[0].silent_for == pytest.approx(0.25)
    assert failed and failed[0].detected_by == "node1"
    assert failed[0].after_seconds <= core.config.detection_bound_worst + 1e-9


def test_a_suspect_that_answers_the_confirmation_is_cleared() -> None:
    peer = Peer("node2", A2)
    core = _cluster(peer)
    events = run_timers(core, 0.25)
    assert [type(e) for e in events] == [MemberSuspected]
    pings = [dg.body for dg, _ in sent(core) if isinstance(dg.body, Ping)]
    notice = pings[-1].updates[0]
    assert notice.state == MemberState.SUSPECT and notice.name == "node2" and notice.by == "node1"
    events = core.receive_datagram(peer.datagram(Ack(pings[-1].probe_id, "node2")), A2, 0.26)
    assert events == [MemberAlive("node2", refuted=False)]
    assert core.view().alive() == {"node1", "node2"}


def _suspect_node2_while_node3_talks(core: Membership, node3: Peer) -> float:
    """Run on-time timers while node3 keeps talking and node2 stays silent, until node2 is suspected."""
    now = 0.0
    while True:
        now = core.next_deadline() or now
        events = advance(core, now, talkers=(node3,))
        if any(isinstance(e, MemberSuspected) for e in events):
            assert [e.name for e in events if isinstance(e, MemberSuspected)] == ["node2"]
            return now


@pytest.mark.parametrize("helper_answers", ["nack", "forwarded-ack"])
def test_a_helpers_nack_confirms_the_failure_and_a_forwarded_ack_clears_it(helper_answers: str) -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    start = _suspect_node2_while_node3_talks(core, node3)
    requests = [(dg.body, to) for dg, to in sent(core) if isinstance(dg.body, PingReq)]
    assert len(requests) == 1 and requests[0][1] == A3
    request = requests[0][0]
    assert isinstance(request, PingReq) and request.target == "node2" and request.target_address == A2
    if helper_answers == "nack":
        advance(core, start + 0.1, talkers=(node3,))
        core.receive_datagram(node3.datagram(Nack(request.probe_id, "node2")), A3, start + 0.1)
        events = advance(core, start + core.config.confirm_timeout, talkers=(node3,))
        failed = [e for e in events if isinstance(e, MemberFailed)]
        assert [(e.name, e.detected_by) for e in failed] == [("node2", "node1")]
        assert failed[0].after_seconds == pytest.approx(0.25 + core.config.confirm_timeout)
        told = {to for dg, to in sent(core) if isinstance(dg.body, Gossip) and dg.body.updates[0].name == "node2"}
        assert told == {A2, A3}  # every member, and the accused itself so that it can refute
    else:
        events = core.receive_datagram(node3.datagram(Ack(request.probe_id, "node2")), A3, start + 0.05)
        assert events == [MemberAlive("node2", refuted=False)]


def test_helpers_that_stay_silent_earn_a_second_round_before_the_verdict() -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    start = _suspect_node2_while_node3_talks(core, node3)  # node3 talks but never answers the ping-req
    first_round = advance(core, start + core.config.confirm_timeout, talkers=(node3,))
    assert not any(isinstance(e, MemberFailed) for e in first_round)
    assert len([dg for dg, _ in sent(core) if isinstance(dg.body, PingReq)]) == 2
    second = advance(core, start + 2 * core.config.confirm_timeout, talkers=(node3,))
    assert [e.name for e in second if isinstance(e, MemberFailed)] == ["node2"]


def test_a_ping_req_is_relayed_and_answered_with_ack_or_nack() -> None:
    requester, target = Peer("node2", A2), Peer("node3", A3)
    for target_answers in (True, False):
        core = _cluster(requester, target)
        core.receive_datagram(requester.datagram(PingReq(555, "node3", A3)), A2, 0.0)
        pings = [(dg.body, to) for dg, to in sent(core) if isinstance(dg.body, Ping)]
        assert [to for _, to in pings] == [A3]
        probe = pings[0][0]
        assert isinstance(probe, Ping)
        if target_answers:
            core.receive_datagram(target.datagram(Ack(probe.probe_id, "node3")), A3, 0.01)
            answers = [(type(dg.body), dg.body, to) for dg, to in sent(core) if isinstance(dg.body, Ack | Nack)]
            assert [(kind, (b.probe_id, b.subject), to) for kind, b, to in answers] == [(Ack, (555, "node3"), A2)]
        else:
            core.handle_timer(core.config.indirect_timeout)
            answers = [(type(dg.body), dg.body, to) for dg, to in sent(core) if isinstance(dg.body, Ack | Nack)]
            assert [(kind, (b.probe_id, b.subject), to) for kind, b, to in answers] == [(Nack, (555, "node3"), A2)]


@pytest.mark.parametrize(
    ("claim", "incarnation_after"),
    [
        pytest.param(MemberState.SUSPECT, 1, id="suspected-node-refutes-with-incarnation-plus-one"),
        pytest.param(MemberState.FAILED, 1, id="node-declared-failed-refutes"),
    ],
)
def test_a_wrongly_accused_node_refutes_to_every_member(claim: MemberState, incarnation_after: int) -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    accusation = MemberUpdate(claim, "node1", EPOCH, 0, LOCAL, b"", "node2")
    core.receive_datagram(node2.datagram(Gossip((accusation,))), A2, 0.01)
    assert core.incarnation == incarnation_after
    refutations = {to for dg, to in sent(core) if isinstance(dg.body, Gossip) and dg.body.updates[0].name == "node1"}
    assert refutations == {A2, A3}


def test_a_member_held_as_failed_is_told_so_when_it_speaks() -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    advance(core, 0.3, talkers=(node3,))  # node2 has been silent for 0.3 s: a claim about it is credible
    failure = MemberUpdate(MemberState.FAILED, "node2", EPOCH, 0, A2, b"", "node3", 400)
    core.receive_datagram(node3.datagram(Gossip((failure,))), A3, 0.3)
    assert core.member_states()["node2"] == MemberState.FAILED
    sent(core)
    core.receive_datagram(node2.datagram(Ping(9, "node1")), A2, 0.3)
    notices = [dg.body.updates[0] for dg, to in sent(core) if isinstance(dg.body, Gossip) and to == A2]
    assert notices and notices[0].state == MemberState.FAILED and notices[0].name == "node2"
    # node2 refutes with a higher incarnation: back in the live set
    node2.incarnation = 1
    events = core.receive_datagram(node2.datagram(Gossip((node2.alive(),))), A2, 0.3)
    assert MemberJoined("node2", A2, b"") in events


def test_a_failure_claim_in_a_full_state_sync_is_confirmed_not_believed() -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    stale = MemberUpdate(MemberState.FAILED, "node2", EPOCH, 0, A2, b"", "node3", 400)
    events = core.receive_datagram(node3.datagram(Sync(False, (node3.alive(), stale))), A3, 0.01)
    assert [type(e) for e in events] == [MemberSuspected]
    assert core.view().alive() == {"node1", "node2", "node3"}


def test_set_metadata_raises_the_incarnation_and_tells_every_member() -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    core.set_metadata(b'{"eth0":true}')
    assert core.next_deadline() == 0.0  # due at once
    events = core.handle_timer(0.0)
    assert events == [MemberMetadataChanged("node1", b'{"eth0":true}', (EPOCH, 1))]
    updates = {to: dg.body.updates[0] for dg, to in sent(core) if isinstance(dg.body, Gossip)}
    assert set(updates) == {A2, A3}
    assert all(u.metadata == b'{"eth0":true}' and u.incarnation == 1 for u in updates.values())
    assert core.view().metadata("node1") == b'{"eth0":true}'


def test_leave_sends_leave_to_every_member_repeatedly_then_stops() -> None:
    node2, node3 = Peer("node2", A2), Peer("node3", A3)
    core = _cluster(node2, node3)
    core.leave()
    assert core.state is not RunState.RUNNING  # leaving: LEAVE repeats still to go
    run_timers(core, 1.0)
    leaves = [to for dg, to in sent(core) if isinstance(dg.body, Leave)]
    assert sorted(leaves) == sorted([A2, A3] * core.config.leave_repeats)
    assert core.state == RunState.LEFT and core.next_deadline() is None


def test_join_contacts_every_seed_and_retries_until_one_answers() -> None:
    core = make_core()
    core.join([A2, A3, LOCAL])
    run_timers(core, 0.3)
    syncs = [to for dg, to in sent(core) if isinstance(dg.body, Sync) and dg.body.reply_wanted]
    assert sorted(set(syncs)) == [A2, A3]  # never ourselves
    assert len(syncs) == 4  # attempts at 0 and after join_retry_interval
    seed = Peer("node2", A2)
    other = MemberUpdate(MemberState.ALIVE, "node3", EPOCH, 0, A3)
    events = core.receive_datagram(seed.datagram(Sync(False, (seed.alive(), other))), A2, 0.3)
    assert {e.name for e in events if isinstance(e, MemberJoined)} == {"node2", "node3"}
    announced = {to for dg, to in sent(core) if isinstance(dg.body, Gossip) and dg.body.updates[0].name == "node1"}
    assert announced == {A2, A3}


def test_a_stall_of_the_prober_is_not_held_against_its_members() -> None:
    peer = Peer("node2", A2)
    core = _cluster(peer)
    run_timers(core, 0.1)
    sent(core)
    late = core.handle_timer(2.0)  # this node did not run for ~1.9 s
    assert not any(isinstance(e, MemberSuspected | MemberFailed) for e in late)
    assert core.stats["stalls"] == 1
    pings = [dg.body for dg, _ in sent(core) if isinstance(dg.body, Ping)]
    assert pings  # it probes again before suspecting anyone
    core.receive_datagram(peer.datagram(Ack(pings[-1].probe_id, "node2")), A2, 2.001)
    events = run_timers(core, 2.2)
    assert not any(isinstance(e, MemberSuspected | MemberFailed) for e in events)


def test_without_a_stall_the_same_silence_is_suspected() -> None:
    core = _cluster(Peer("node2", A2))
    events = run_timers(core, 2.0)
    assert [type(e) for e in events if isinstance(e, MemberSuspected | MemberFailed)] == [MemberSuspected, MemberFailed]
    assert core.stats["stalls"] == 0


def test_key_rotation_first_key_signs_the_others_are_accepted() -> None:
    core = make_core(keys=(OTHER_KEY, KEY))
    old_peer = Peer("node2", A2, key=KEY)
    events = old_peer.introduce(core, 0.0)
    assert [type(e) for e in events] == [MemberJoined]
    core.handle_timer(0.0)
    out = core.datagrams_to_send()
    assert out and all(sent_of_with(data, OTHER_KEY) for data, _ in out)


def sent_of_with(data: bytes, key: bytes) -> bool:
    try:
        decode_datagram(data, [key])
    except DecodeError:
        return False
    return True


BAD_SETUPS = [
    pytest.param({"keys": ()}, "at least one key", id="no-key"),
    pytest.param({"keys": (b"short",)}, "at least 16", id="key-too-short"),
    pytest.param({"metadata": b"x" * 600}, "limit is 512", id="metadata-too-large"),
    pytest.param({"name": "n" * 300}, "1..255 bytes|limit is 255", id="name-too-long"),
    pytest.param({"address": ("node2.local", 7946)}, "IP address literal", id="hostname-address"),
]


@pytest.mark.parametrize(("kwargs", "words"), BAD_SETUPS)
def test_bad_construction_raises_a_sentence(kwargs: dict[str, object], words: str) -> None:
    args: dict[str, object] = {"name": "node1", "address": LOCAL, "epoch": EPOCH, "keys": (KEY,)} | kwargs
    with pytest.raises(MembershipError, match=words):
        Membership(**args)  # type: ignore[arg-type]


BAD_CONFIGS = [
    pytest.param({"probe_interval": 0}, "probe_interval", id="zero-probe-interval"),
    pytest.param({"suspect_after": 0.15}, "two probe intervals", id="suspicion-after-one-lost-ping"),
    pytest.param({"indirect_timeout": 0.2}, "indirect_timeout", id="helper-waits-longer-than-requester"),
    pytest.param({"probe_fanout": 0}, "probe_fanout", id="nobody-probed"),
    pytest.param({"max_datagram": 100}, "max_datagram", id="tiny-datagrams"),
    pytest.param({"sync_interval": -1}, "sync_interval", id="negative-sync-interval"),
    pytest.param({"confirm_timeout": float("nan")}, "confirm_timeout", id="nan-timer"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_CONFIGS)
def test_invalid_config_names_the_field(changes: dict[str, float], field: str) -> None:
    with pytest.raises(MembershipError, match=field):
        dataclasses.replace(MembershipConfig(), **changes).validate()  # type: ignore[arg-type]


def test_scaled_config_keeps_the_invariants_and_scales_the_bound() -> None:
    config = MembershipConfig().scaled(4.0)
    config.validate()
    assert config.detection_bound == pytest.approx(4 * MembershipConfig().detection_bound)
    with pytest.raises(MembershipError, match="not positive"):
        MembershipConfig().scaled(0)
