"""Forged, replayed and malformed datagrams reach the protocol object and are ignored, counted and named.

Each row feeds some datagrams to a core that knows one peer; the last one must come back as exactly one
PacketDropped with the row's reason, be counted in ``core.drops``, cause no reply, and leave the peer's record
as it was (no trace of the dropped datagram).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from speaker.membership.core.codec import MAC_SIZE, Ack, Gossip, Leave, MemberState, Ping
from speaker.membership.core.errors import DropReason
from speaker.membership.core.events import PacketDropped
from speaker.membership.core.protocol import Membership
from tests.speaker.membership.helpers import EPOCH, OTHER_KEY, Peer, make_core, run_timers, sent

PEER_ADDRESS = ("192.0.2.12", 7946)
Feed = Callable[[Membership, Peer], list[bytes]]


def _self_forged(core: Membership, peer: Peer) -> list[bytes]:
    impostor = Peer(core.name, PEER_ADDRESS)
    return [impostor.datagram(Ping(1, core.name))]


def _after_leave(core: Membership, peer: Peer) -> list[bytes]:
    core.leave()
    core.handle_timer(0.5)
    core.datagrams_to_send()
    return [peer.datagram(Ping(1, core.name))]


ROWS = [
    pytest.param(lambda c, p: [p.datagram(Ping(1, c.name), key=OTHER_KEY)], DropReason.UNAUTHENTICATED, id="forged"),
    pytest.param(lambda c, p: [p.datagram(Ping(1, c.name))] * 2, DropReason.REPLAYED, id="same-datagram-twice"),
    pytest.param(
        lambda c, p: [p.datagram(Ping(1, c.name), seq=1000), p.datagram(Ping(2, c.name), seq=10)],
        DropReason.STALE_SEQUENCE,
        id="sequence-older-than-the-window",
    ),
    pytest.param(
        lambda c, p: [p.datagram(Ping(1, c.name), epoch=EPOCH + 5), p.datagram(Ping(2, c.name), seq=99)],
        DropReason.STALE_EPOCH,
        id="datagram-from-an-older-life-of-the-sender",
    ),
    pytest.param(
        lambda c, p: [p.datagram(Ping(1, c.name))[:-MAC_SIZE] + b"\x00" * MAC_SIZE],
        DropReason.UNAUTHENTICATED,
        id="zeroed-trailer",
    ),
    pytest.param(lambda c, p: [b"IM\x01" + b"\x00" * 90], DropReason.UNAUTHENTICATED, id="unsigned-zeros"),
    pytest.param(lambda c, p: [b"\x00" * 10], DropReason.TRUNCATED, id="runt"),
    pytest.param(lambda c, p: [b"GET / HTTP/1.1\r\n" * 5], DropReason.BAD_MAGIC, id="not-membership-at-all"),
    pytest.param(lambda c, p: [b"IM\x09" + b"\x00" * 80], DropReason.BAD_VERSION, id="future-protocol-version"),
    pytest.param(_self_forged, DropReason.FROM_SELF, id="claims-to-come-from-ourselves"),
    pytest.param(lambda c, p: [p.datagram(Ping(1, "node7"))], DropReason.WRONG_TARGET, id="ping-meant-for-another"),
    pytest.param(_after_leave, DropReason.NOT_RUNNING, id="anything-after-leave"),
]


@pytest.mark.parametrize(("feed", "reason"), ROWS)
def test_bad_datagram_is_dropped_counted_and_leaves_no_trace(feed: Feed, reason: DropReason) -> None:
    core = make_core()
    peer = Peer("node2", PEER_ADDRESS)
    peer.introduce(core, 0.5)
    core.datagrams_to_send()
    before = core.member("node2")
    assert before is not None
    snapshot = (before.state, before.version, before.last_heard, before.metadata)
    # Everything happens at one instant: time passing without timers would look like a stall of this node.
    datagrams = feed(core, peer)
    for data in datagrams[:-1]:
        core.receive_datagram(data, PEER_ADDRESS, 0.5)
    core.datagrams_to_send()
    dropped_before = sum(core.drops.values())
    events = core.receive_datagram(datagrams[-1], PEER_ADDRESS, 0.5)
    assert [type(e) for e in events] == [PacketDropped]
    assert isinstance(events[0], PacketDropped) and events[0].reason == reason
    assert events[0].address == PEER_ADDRESS
    assert core.drops[reason] >= 1 and sum(core.drops.values()) == dropped_before + 1
    assert core.datagrams_to_send() == []
    after = core.member("node2")
    assert after is not None
    if reason != DropReason.NOT_RUNNING:
        assert (after.state, after.version, after.last_heard, after.metadata) == snapshot


def test_a_restarted_sender_with_a_newer_epoch_is_accepted() -> None:
    core = make_core()
    old = Peer("node2", PEER_ADDRESS)
    old.introduce(core, 0.5)
    for _ in range(50):
        core.receive_datagram(old.datagram(Ping(1, core.name)), PEER_ADDRESS, 0.6)
    core.datagrams_to_send()
    new = Peer("node2", PEER_ADDRESS, epoch=EPOCH + 60_000)  # seq restarts at 1
    events = core.receive_datagram(new.datagram(Gossip((new.alive(),))), PEER_ADDRESS, 0.7)
    assert not any(isinstance(e, PacketDropped) for e in events)
    member = core.member("node2")
    assert member is not None and member.version == (EPOCH + 60_000, 0) and member.state == MemberState.ALIVE
    events = core.receive_datagram(old.datagram(Ping(2, core.name)), PEER_ADDRESS, 0.8)
    assert [e.reason for e in events if isinstance(e, PacketDropped)] == [DropReason.STALE_EPOCH]


def test_a_replayed_ack_does_not_keep_a_dead_member_alive() -> None:
    core = make_core()
    peer = Peer("node2", PEER_ADDRESS)
    peer.introduce(core, 0.0)
    ack = peer.datagram(Ack(1, "node2"))
    core.receive_datagram(ack, PEER_ADDRESS, 0.05)
    heard = core.member("node2")
    assert heard is not None
    last_heard = heard.last_heard
    run_timers(core, 0.2)  # time passes with the timers running on time (no stall to forgive)
    events = core.receive_datagram(ack, PEER_ADDRESS, 0.2)
    assert [e.reason for e in events if isinstance(e, PacketDropped)] == [DropReason.REPLAYED]
    member = core.member("node2")
    assert member is not None and member.last_heard == last_heard


def test_leave_from_a_member_is_accepted_once() -> None:
    core = make_core()
    peer = Peer("node2", PEER_ADDRESS)
    peer.introduce(core, 0.0)
    core.datagrams_to_send()  # the first ping to the new neighbour
    leave = peer.datagram(Leave())
    first = core.receive_datagram(leave, PEER_ADDRESS, 0.1)
    again = core.receive_datagram(leave, PEER_ADDRESS, 0.1)
    assert [type(e).__name__ for e in first] == ["MemberLeft"]
    assert [e.reason for e in again if isinstance(e, PacketDropped)] == [DropReason.REPLAYED]
    assert sent(core) == []
