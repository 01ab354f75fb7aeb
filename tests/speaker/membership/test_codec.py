"""Membership wire codec: vectors both ways, round trips, every rejection with its drop reason, and fuzzing.

Covered: header layout, every message type, member updates with IPv4/IPv6/no address, HMAC trailer and key
rotation, and that the decoder raises nothing but DecodeError on any input (whole, every prefix, bit flips, and
authenticated garbage that reaches the body parser). Replay protection is not the codec's job (test_replay.py).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.membership.core.codec import (
    HEADER_MIN,
    MAC_SIZE,
    Ack,
    Body,
    Datagram,
    Gossip,
    Leave,
    MemberState,
    MemberUpdate,
    MessageType,
    Nack,
    Ping,
    PingReq,
    Sync,
    decode_datagram,
    encode_datagram,
)
from speaker.membership.core.errors import DecodeError, DropReason, MembershipError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
EPOCH = 1_700_000_000_000


def _sign(signed: bytes, key: bytes = KEY) -> bytes:
    return signed + hmac.new(key, signed, hashlib.sha256).digest()


def _encode(body: Body, *, sender: str = "node1", seq: int = 1, incarnation: int = 0, key: bytes = KEY) -> bytes:
    return encode_datagram(body, sender=sender, epoch=EPOCH, seq=seq, incarnation=incarnation, key=key)


# ===== vectors: bytes written out field by field, checked in both directions ===================================
VECTORS = [
    pytest.param(
        Ping(7, "node2"),
        1,
        0,
        "494d"
        "01"
        "01"
        "0000018bcfe56800"
        "0000000000000001"
        "00000000"
        "05"
        "6e6f646531"  # header, "node1"
        "00000007"
        "05"
        "6e6f646532"
        "0000",  # probe id 7, target "node2", no updates
        id="ping-from-node1-to-node2",
    ),
    pytest.param(
        Gossip((MemberUpdate(MemberState.FAILED, "node3", 5, 2, ("192.0.2.13", 7946), b"", "node1", 400),)),
        2,
        3,
        "494d"
        "01"
        "06"
        "0000018bcfe56800"
        "0000000000000002"
        "00000003"
        "05"
        "6e6f646531"
        "0001"  # one update:
        "03"
        "05"
        "6e6f646533"
        "0000000000000005"
        "00000002"  # FAILED node3 at (5, 2)
        "04"
        "c000020d"
        "1f0a"  # 192.0.2.13:7946
        "0000"
        "05"
        "6e6f646531"
        "00000190",  # no metadata, by node1, after 400 ms
        id="gossip-carrying-a-failure-claim",
    ),
]


@pytest.mark.parametrize(("body", "seq", "incarnation", "signed_hex"), VECTORS)
def test_vector_encodes_to_the_written_bytes(body: Body, seq: int, incarnation: int, signed_hex: str) -> None:
    assert _encode(body, seq=seq, incarnation=incarnation) == _sign(bytes.fromhex(signed_hex))


@pytest.mark.parametrize(("body", "seq", "incarnation", "signed_hex"), VECTORS)
def test_vector_decodes_to_the_message(body: Body, seq: int, incarnation: int, signed_hex: str) -> None:
    decoded = decode_datagram(_sign(bytes.fromhex(signed_hex)), [KEY])
    assert decoded == Datagram("node1", EPOCH, seq, incarnation, body)
    assert decoded.type == MessageType(bytes.fromhex(signed_hex)[3])


# ===== round trips =============================================================================================
FULL = MemberUpdate(MemberState.ALIVE, "node-a", EPOCH, 9, ("2001:db8::11", 7946), b'{"eth0":true}')
ROUND_TRIPS = [
    pytest.param(Ping(0xFFFF_FFFF, "n"), id="ping-with-largest-probe-id"),
    pytest.param(Ping(1, "node2", (FULL,)), id="ping-with-a-piggybacked-ipv6-update"),
    pytest.param(Ack(3, "node1"), id="direct-ack"),
    pytest.param(Ack(3, "node9"), id="ack-forwarded-on-behalf-of-another-node"),
    pytest.param(Nack(4, "node9"), id="nack"),
    pytest.param(PingReq(5, "node9", ("192.0.2.19", 7946)), id="ping-req-with-target-address"),
    pytest.param(Sync(True, (FULL, FULL)), id="sync-asking-for-a-reply"),
    pytest.param(Sync(False), id="empty-sync-reply"),
    pytest.param(Gossip((MemberUpdate(MemberState.LEFT, "x", 1, 0),)), id="gossip-with-an-addressless-update"),
    pytest.param(Leave(), id="leave"),
    pytest.param(Gossip((MemberUpdate(MemberState.SUSPECT, "ünïcode-名前", 0, 0, None, b"", "by"),)), id="utf8"),
]


@pytest.mark.parametrize("body", ROUND_TRIPS)
def test_round_trip(body: Body) -> None:
    data = _encode(body, seq=42, incarnation=7)
    assert decode_datagram(data, [KEY]) == Datagram("node1", EPOCH, 42, 7, body)


def test_a_rotated_key_list_accepts_datagrams_signed_with_any_of_its_keys() -> None:
    old = _encode(Leave(), key=OTHER_KEY)
    assert decode_datagram(old, [KEY, OTHER_KEY]).body == Leave()
    with pytest.raises(DecodeError) as err:
        decode_datagram(old, [KEY])
    assert err.value.reason == DropReason.UNAUTHENTICATED


# ===== rejections, each with its reason ========================================================================
def _resigned(data: bytes, edit: slice, replacement: bytes) -> bytes:
    """Change bytes of the signed part and sign again: the datagram authenticates but says something else."""
    signed = bytearray(data[:-MAC_SIZE])
    signed[edit] = replacement
    return _sign(bytes(signed))


PING = _encode(Ping(7, "node2"))
REJECTIONS = [
    pytest.param(b"", DropReason.TRUNCATED, id="empty-datagram-is-truncated"),
    pytest.param(PING[: HEADER_MIN - 1], DropReason.TRUNCATED, id="shorter-than-a-header-is-truncated"),
    pytest.param(b"XX" + PING[2:], DropReason.BAD_MAGIC, id="foreign-magic"),
    pytest.param(PING[:2] + b"\x02" + PING[3:], DropReason.BAD_VERSION, id="another-protocol-version"),
    pytest.param(_encode(Ping(7, "node2"), key=OTHER_KEY), DropReason.UNAUTHENTICATED, id="signed-with-wrong-key"),
    pytest.param(PING[:-1] + bytes([PING[-1] ^ 1]), DropReason.UNAUTHENTICATED, id="trailer-bit-flipped"),
    pytest.param(PING[:30] + bytes([PING[30] ^ 1]) + PING[31:], DropReason.UNAUTHENTICATED, id="body-bit-flipped"),
    pytest.param(_resigned(PING, slice(3, 4), b"\x63"), DropReason.UNKNOWN_TYPE, id="authenticated-unknown-type"),
    pytest.param(_sign(PING[:-MAC_SIZE] + b"\x00"), DropReason.MALFORMED, id="authenticated-trailing-byte"),
    pytest.param(_sign(PING[:-MAC_SIZE][:-3]), DropReason.TRUNCATED, id="authenticated-but-body-cut-short"),
    pytest.param(_resigned(PING, slice(25, 26), b"\xff"), DropReason.MALFORMED, id="sender-name-not-utf8"),
    pytest.param(_resigned(PING, slice(24, 25), b"\x00"), DropReason.MALFORMED, id="empty-sender-name"),
    pytest.param(
        _sign(_encode(Gossip((FULL,)))[:-MAC_SIZE].replace(b"\x06\x20\x01", b"\x07\x20\x01", 1)),
        DropReason.MALFORMED,
        id="address-family-neither-4-nor-6",
    ),
    pytest.param(
        _sign(_encode(Gossip((FULL,)))[:-MAC_SIZE].replace(b"\x00\x01\x01", b"\x00\x01\x09", 1)),
        DropReason.MALFORMED,
        id="unknown-member-state",
    ),
]


@pytest.mark.parametrize(("data", "reason"), REJECTIONS)
def test_rejected_datagram_names_its_reason(data: bytes, reason: DropReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_datagram(data, [KEY])
    assert err.value.reason == reason
    assert reason.value in str(err.value)


def test_header_fields_sit_at_their_offsets() -> None:
    data = _encode(Gossip(), sender="nodeX", seq=0x0102, incarnation=0x0304)
    magic, version, kind, epoch, seq, incarnation, name_length = struct.unpack_from("!2sBBQQIB", data)
    assert (magic, version, kind, epoch, seq, incarnation, name_length) == (b"IM", 1, 6, EPOCH, 0x0102, 0x0304, 5)
    assert data[25:30] == b"nodeX"
    assert data[-MAC_SIZE:] == hmac.new(KEY, data[:-MAC_SIZE], hashlib.sha256).digest()


ENCODE_ERRORS = [
    pytest.param(lambda: _encode(Leave(), sender=""), "node name", id="empty-node-name"),
    pytest.param(lambda: _encode(Leave(), sender="n" * 256), "node name", id="node-name-over-255-bytes"),
    pytest.param(lambda: _encode(PingReq(1, "t", ("node-2.example", 1))), "IP address literal", id="hostname"),
    pytest.param(lambda: _encode(PingReq(1, "t", ("192.0.2.1", 70000))), "port", id="port-out-of-range"),
    pytest.param(lambda: _encode(Ping(1, "t" * 300)), "ping target", id="target-name-too-long"),
    pytest.param(
        lambda: encode_datagram(Leave(), sender="a", epoch=-1, seq=0, incarnation=0, key=KEY), "out of range", id="neg"
    ),
]


@pytest.mark.parametrize(("build", "words"), ENCODE_ERRORS)
def test_values_that_cannot_be_encoded_raise_a_sentence(build: object, words: str) -> None:
    assert callable(build)
    with pytest.raises(MembershipError, match=words):
        build()


# ===== fuzzing: only DecodeError may escape ====================================================================
names = st.text(min_size=1, max_size=12).filter(lambda s: 0 < len(s.encode()) <= 255)
addresses = st.one_of(
    st.none(),
    st.tuples(st.ip_addresses().map(str), st.integers(0, 0xFFFF)),
)
updates = st.builds(
    MemberUpdate,
    st.sampled_from(MemberState),
    names,
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    addresses,
    st.binary(max_size=40),
    st.text(max_size=8).filter(lambda s: len(s.encode()) <= 255),
    st.integers(0, 2**32 - 1),
)
update_lists = st.lists(updates, max_size=4).map(tuple)
probe_ids = st.integers(0, 2**32 - 1)
bodies: st.SearchStrategy[Body] = st.one_of(
    st.builds(Ping, probe_ids, names, update_lists),
    st.builds(Ack, probe_ids, names, update_lists),
    st.builds(Nack, probe_ids, names, update_lists),
    st.builds(PingReq, probe_ids, names, st.tuples(st.ip_addresses().map(str), st.integers(0, 0xFFFF)), update_lists),
    st.builds(Sync, st.booleans(), update_lists),
    st.builds(Gossip, update_lists),
    st.builds(Leave, update_lists),
)


def _decode_or_drop(data: bytes) -> Datagram | None:
    try:
        return decode_datagram(data, [KEY])
    except DecodeError as exc:
        assert isinstance(exc.reason, DropReason)
        return None


@given(body=bodies, sender=names, seq=st.integers(0, 2**64 - 1), incarnation=st.integers(0, 2**32 - 1))
def test_any_message_round_trips(body: Body, sender: str, seq: int, incarnation: int) -> None:
    data = _encode(body, sender=sender, seq=seq, incarnation=incarnation)
    assert decode_datagram(data, [KEY]) == Datagram(sender, EPOCH, seq, incarnation, body)


@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    _decode_or_drop(data)
    _decode_or_drop(b"IM\x01" + data)


@given(body=bodies)
@settings(max_examples=50)
def test_every_prefix_and_every_bit_flip_is_dropped_cleanly(body: Body) -> None:
    data = _encode(body)
    for end in range(len(data)):
        assert _decode_or_drop(data[:end]) is None
    for at in range(0, len(data), 3):
        flipped = data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]
        assert _decode_or_drop(flipped) is None


@given(kind=st.integers(0, 255), rest=st.binary(max_size=200), name=names)
def test_authenticated_garbage_reaches_the_parser_and_only_raises_decode_error(
    kind: int, rest: bytes, name: str
) -> None:
    raw = name.encode()
    signed = struct.pack("!2sBBQQIB", b"IM", 1, kind, EPOCH, 1, 0, len(raw)) + raw + rest
    _decode_or_drop(_sign(signed))


@given(body=bodies)
@settings(max_examples=50)
def test_authenticated_truncations_of_the_body_only_raise_decode_error(body: Body) -> None:
    signed = _encode(body)[:-MAC_SIZE]
    for end in range(HEADER_MIN - MAC_SIZE, len(signed)):
        assert _decode_or_drop(_sign(signed[:end])) is None
