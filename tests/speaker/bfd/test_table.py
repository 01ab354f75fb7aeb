"""The session table: demultiplexing by discriminator and addresses, GTSM (RFC 5881 section 5), drop reasons.

Covered: every way a datagram is dropped before or while a session is chosen, with its reason; delivery by
discriminator and, for the first packets, by address pair; discriminator allocation; refusals of impossible
sessions; hypothesis fuzzing of ``receive`` (nothing escapes). Not covered: the session's own reception rules
(test_session.py).
"""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.api.addresses import IPAddress
from speaker.bfd.core import BfdError, ControlPacket, DropReason, PacketDropped, SessionTable, State, StateChanged
from tests.speaker.bfd.harness import FAST

PEER = ipaddress.ip_address("192.0.2.1")
LOCAL = ipaddress.ip_address("192.0.2.11")
PEER6 = ipaddress.ip_address("2001:db8::1")
LOCAL6 = ipaddress.ip_address("2001:db8::11")
OTHER = ipaddress.ip_address("192.0.2.99")
THEIRS = 0x5151


def table_with_sessions() -> tuple[SessionTable, int, int]:
    table = SessionTable(random.Random(3))
    v4 = table.add(PEER, LOCAL, FAST, 0.0)
    v6 = table.add(PEER6, LOCAL6, FAST, 0.0)
    return table, v4.local_discriminator, v6.local_discriminator


def datagram(state: State, your: int = 0, mine: int = THEIRS) -> bytes:
    return ControlPacket(state, mine, your).encode()


@pytest.mark.parametrize(
    ("source", "local", "ttl", "make", "reason"),
    [
        pytest.param(PEER, LOCAL, 255, lambda d4: b"\x20", DropReason.TRUNCATED, id="garbage-is-dropped-undecoded"),
        pytest.param(
            PEER, LOCAL, 64, lambda d4: datagram(State.DOWN), DropReason.BAD_TTL, id="ttl-64-fails-gtsm"
        ),
        pytest.param(
            PEER, LOCAL, 254, lambda d4: datagram(State.UP, d4), DropReason.BAD_TTL, id="ttl-254-fails-gtsm"
        ),
        pytest.param(
            PEER, LOCAL, None, lambda d4: datagram(State.DOWN), DropReason.BAD_TTL, id="unknown-ttl-fails-gtsm"
        ),
        pytest.param(
            PEER, LOCAL, 255, lambda d4: datagram(State.UP, d4 ^ 1), DropReason.UNKNOWN_DISCRIMINATOR,
            id="your-discriminator-names-no-session",
        ),
        pytest.param(
            OTHER, LOCAL, 255, lambda d4: datagram(State.UP, d4), DropReason.ADDRESS_MISMATCH,
            id="our-discriminator-from-another-peer",
        ),
        pytest.param(
            PEER, OTHER, 255, lambda d4: datagram(State.UP, d4), DropReason.ADDRESS_MISMATCH,
            id="our-discriminator-on-another-local-address",
        ),
        pytest.param(
            OTHER, LOCAL, 255, lambda d4: datagram(State.DOWN), DropReason.NO_SESSION,
            id="first-packet-from-an-unknown-peer",
        ),
        pytest.param(
            PEER, LOCAL6, 255, lambda d4: datagram(State.DOWN), DropReason.NO_SESSION,
            id="first-packet-on-the-wrong-local-address",
        ),
        pytest.param(
            PEER, LOCAL, 255, lambda d4: datagram(State.INIT), DropReason.ZERO_YOUR_DISCRIMINATOR,
            id="init-without-your-discriminator",
        ),
        pytest.param(
            PEER, LOCAL, 255, lambda d4: datagram(State.DOWN, mine=0), DropReason.ZERO_MY_DISCRIMINATOR,
            id="my-discriminator-0",
        ),
    ],
)  # fmt: skip
def test_a_packet_that_reaches_no_session_is_dropped_with_its_reason(
    source: IPAddress, local: IPAddress, ttl: int | None, make: object, reason: DropReason
) -> None:
    table, d4, _ = table_with_sessions()
    assert callable(make)
    delivery = table.receive(make(d4), source=source, local=local, ttl=ttl, now=1.0)
    assert delivery.peer is None
    assert [e.reason for e in delivery.events if isinstance(e, PacketDropped)] == [reason]
    assert table.drops == {reason: 1}
    assert all(entry.session.packets_in == 0 for entry in table)


def test_first_packets_are_matched_by_address_pair_then_by_discriminator() -> None:
    table, d4, d6 = table_with_sessions()
    first = table.receive(datagram(State.DOWN), source=PEER, local=LOCAL, ttl=255, now=1.0)
    assert first.peer == PEER
    assert [(e.old, e.new) for e in first.events if isinstance(e, StateChanged)] == [(State.DOWN, State.INIT)]
    second = table.receive(datagram(State.UP, d4), source=PEER, local=LOCAL, ttl=255, now=1.1)
    assert second.peer == PEER and table.get(PEER) is not None
    assert [(e.old, e.new) for e in second.events if isinstance(e, StateChanged)] == [(State.INIT, State.UP)]
    six = table.receive(datagram(State.DOWN, d6), source=PEER6, local=LOCAL6, ttl=255, now=1.2)
    assert six.peer == PEER6 and not table.drops


def test_discriminators_are_non_zero_unique_and_reproducible() -> None:
    first, second = SessionTable(random.Random(9)), SessionTable(random.Random(9))
    peers = [ipaddress.ip_address(f"192.0.2.{i}") for i in range(1, 101)]
    found = [first.add(p, LOCAL, FAST, 0.0).local_discriminator for p in peers]
    assert 0 not in found and len(set(found)) == len(found)
    assert found == [second.add(p, LOCAL, FAST, 0.0).local_discriminator for p in peers]


def test_a_removed_session_no_longer_receives() -> None:
    table, d4, _ = table_with_sessions()
    assert table.remove(PEER) is not None and table.remove(PEER) is None
    delivery = table.receive(datagram(State.UP, d4), source=PEER, local=LOCAL, ttl=255, now=1.0)
    assert delivery.peer is None and table.drops == {DropReason.UNKNOWN_DISCRIMINATOR: 1}
    assert len(table) == 1


@pytest.mark.parametrize(
    ("peer", "local", "message"),
    [
        pytest.param(PEER, LOCAL, "exists already", id="a-second-session-for-a-peer"),
        pytest.param(ipaddress.ip_address("192.0.2.2"), LOCAL6, "different IP families", id="mixed-families"),
    ],
)
def test_impossible_sessions_are_refused(peer: IPAddress, local: IPAddress, message: str) -> None:
    table, _, _ = table_with_sessions()
    with pytest.raises(BfdError, match=message):
        table.add(peer, local, FAST, 0.0)
    assert len(table) == 2


ADDRESSES = st.sampled_from([PEER, LOCAL, PEER6, LOCAL6, OTHER])


@given(st.binary(max_size=60), ADDRESSES, ADDRESSES, st.one_of(st.none(), st.integers(0, 255)))
def test_fuzz_receive_never_raises(data: bytes, source: IPAddress, local: IPAddress, ttl: int | None) -> None:
    table, _, _ = table_with_sessions()
    delivery = table.receive(data, source=source, local=local, ttl=ttl, now=1.0)
    assert delivery.peer is None or delivery.peer in (PEER, PEER6)
