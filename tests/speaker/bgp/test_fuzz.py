"""Fuzzing (style anchor 12c): no byte string makes anything but BgpError escape the codec, and nothing at all
escape a session's ``receive_data`` - fed whole and byte by byte.

Three generators: raw bytes; a valid header with a random body (to get past the marker and length checks into the
per-type decoders); and mutations (flipped, cut, spliced octets) of valid messages of every kind. The session
properties also assert that no :class:`InternalError` event appeared: a bug caught by the session's safety net
would otherwise pass silently.
"""

from __future__ import annotations

import contextlib
import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import (
    EXPECTED_FLAGS,
    AsPathSegment,
    DecodeContext,
    MpReach,
    PathAttributes,
    decode_attributes,
)
from speaker.bgp.core.capabilities import GracefulRestart, Multiprotocol, RouteRefresh, decode_optional_parameters
from speaker.bgp.core.errors import BgpError
from speaker.bgp.core.events import InternalError
from speaker.bgp.core.fsm import State
from speaker.bgp.core.messages import (
    Keepalive,
    Notification,
    Open,
    Update,
    decode_message,
    message_length,
)
from speaker.bgp.core.messages import (
    RouteRefresh as RouteRefreshMsg,
)
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.core.session import Session
from tests.speaker.bgp.harness import Pair, config, prefixes

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = [
    Keepalive().encode(),
    Open.build(
        asn=4200000001,
        hold_time=90,
        router_id=ipaddress.IPv4Address("192.0.2.1"),
        capabilities=(Multiprotocol(1, 1), Multiprotocol(2, 1), RouteRefresh(), GracefulRestart(120)),
    ).encode(),
    Update(
        nlri=(ipaddress.IPv4Network("198.51.100.0/24"),),
        attributes=PathAttributes(
            origin=0,
            as_path=(AsPathSegment(2, (64512, 4200000001)),),
            next_hop=ipaddress.IPv4Address("192.0.2.1"),
            med=5,
            local_pref=100,
            communities=(1, 2),
            large_communities=((1, 2, 3),),
        ),
    ).encode(),
    Update(
        attributes=PathAttributes(
            origin=0,
            as_path=(),
            mp_reach=MpReach(
                2, 1, (ipaddress.IPv6Address("2001:db8::1"),), (ipaddress.IPv6Network("2001:db8:100::/64"),)
            ),
        )
    ).encode(),
    Update(withdrawn=(ipaddress.IPv4Network("198.51.100.0/24"),)).encode(),
    Notification.cease(iana.CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "bye").encode(),
    RouteRefreshMsg(1, 1).encode(),
]


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """A well-formed header (marker, matching length, a type 0-7) around a random body."""
    body = draw(st.binary(max_size=200))
    msg_type = draw(st.integers(0, 7))
    return iana.MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message with some octets replaced, removed or inserted (the length field is kept or fixed up)."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(19, max(19, len(data) - 1)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut" and pos < len(data):
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()):
        data[16:18] = len(data).to_bytes(2, "big")
    return bytes(data)


_TYPES = [*range(1, 19), 32, 99, 200]


@st.composite
def attribute_list(draw: st.DrawFn) -> bytes:
    """Attributes with sound headers (flags, a known type, a matching length) around random values."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        type_code = draw(st.sampled_from(_TYPES))
        expected = EXPECTED_FLAGS.get(type_code, 0xC0)
        flags = draw(st.sampled_from([expected, expected, expected | 0x10, expected | 0x20, expected ^ 0x80]))
        # mostly multiples of 4 octets, the unit of most attribute values
        value = draw(
            st.one_of(
                st.binary(max_size=40), st.integers(0, 9).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))
            )
        )
        if flags & 0x10:
            out += bytes((flags, type_code)) + len(value).to_bytes(2, "big") + value
        else:
            out += bytes((flags, type_code, len(value))) + value
    if draw(st.booleans()):
        out += draw(st.binary(max_size=3))  # a ragged tail
    return bytes(out)


@st.composite
def updates(draw: st.DrawFn) -> bytes:
    """UPDATE messages with random withdrawn routes, a structured attribute list and random NLRI."""
    withdrawn = draw(st.binary(max_size=12))
    attrs = draw(attribute_list())
    nlri = draw(st.binary(max_size=12))
    body = len(withdrawn).to_bytes(2, "big") + withdrawn + len(attrs).to_bytes(2, "big") + attrs + nlri
    return iana.MARKER + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body[: 4096 - 19]


messages = st.one_of(st.binary(max_size=120), framed(), mutated(), updates())


def _decode_all(data: bytes, ctx: DecodeContext) -> None:
    buf = data
    while (length := message_length(buf)) is not None and len(buf) >= length:
        decode_message(buf[:length], ctx)
        buf = buf[length:]


@FUZZ
@given(data=messages, four=st.booleans(), ibgp=st.booleans())
def test_only_bgp_error_escapes_the_codec(data: bytes, four: bool, ibgp: bool) -> None:
    with contextlib.suppress(BgpError):
        _decode_all(data, DecodeContext(four_octet_as=four, ibgp=ibgp))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), attribute_list()), four=st.booleans(), has_nlri=st.booleans())
def test_only_bgp_error_escapes_the_attribute_decoder(data: bytes, four: bool, has_nlri: bool) -> None:
    with contextlib.suppress(BgpError):
        decode_attributes(data, DecodeContext(four_octet_as=four), has_nlri=has_nlri)


@FUZZ
@given(data=st.binary(max_size=300))
def test_only_bgp_error_escapes_the_capability_decoder(data: bytes) -> None:
    with contextlib.suppress(BgpError):
        decode_optional_parameters(data)


@FUZZ
@given(data=st.lists(st.sampled_from(VALID), min_size=1, max_size=5).map(b"".join))
def test_valid_messages_decode_and_survive_a_round_trip(data: bytes) -> None:
    buf = data
    while buf:
        length = message_length(buf)
        assert length is not None
        message = decode_message(buf[:length])
        assert decode_message(message.encode()) == message
        buf = buf[length:]


def _established_session() -> tuple[Pair, Session]:
    pair = Pair(config(64513, 64512), config(64512, 64513, router_id="192.0.2.1", passive=True))
    pair.x.peer.set_routes({p: RouteAttrs() for p in prefixes("198.51.100.1/32", "2001:db8:100::1/128")}, pair.now)
    pair.start()
    pair.roundtrip_until_quiet()
    session = pair.y.session
    assert session.state is State.ESTABLISHED
    return pair, session


def _open_sent_session() -> Session:
    pair = Pair(config(64513, 64512), config(64512, 64513, router_id="192.0.2.1", passive=True))
    pair.start(pair.y)
    session = pair.y.session
    session.connection_made(pair.now, pair.y.info(pair.x, initiated_locally=False, ipv6_transport=False))
    assert session.state is State.OPEN_SENT
    return session


def _feed(session: Session, data: bytes, *, bytewise: bool) -> None:
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        events = session.receive_data(chunk, 1000.0)
        if session.paused:  # a valid OPEN went by: carry on as the adapter would after collision detection
            events += session.resume(1000.0)
        assert not [e for e in events if isinstance(e, InternalError)]
        session.data_to_send()


@FUZZ
@given(data=messages, bytewise=st.booleans())
def test_nothing_escapes_an_established_session(data: bytes, bytewise: bool) -> None:
    _, session = _established_session()
    _feed(session, data, bytewise=bytewise)
    assert session.state in (State.ESTABLISHED, State.IDLE)


@FUZZ
@given(data=st.lists(messages, min_size=1, max_size=4).map(b"".join), bytewise=st.booleans())
def test_nothing_escapes_a_session_waiting_for_open(data: bytes, bytewise: bool) -> None:
    session = _open_sent_session()
    _feed(session, data, bytewise=bytewise)
    session.handle_timer(2000.0)


def test_byte_by_byte_feeding_gives_the_same_events_as_whole() -> None:
    stream = b"".join(VALID[2:5]) + VALID[0] + VALID[6]
    whole_pair, whole = _established_session()
    byte_pair, bytewise = _established_session()
    events_whole = whole.receive_data(stream, 1000.0)
    events_bytes = [e for i in range(len(stream)) for e in bytewise.receive_data(stream[i : i + 1], 1000.0)]
    assert events_whole == events_bytes
    assert whole.data_to_send() == bytewise.data_to_send()
    del whole_pair, byte_pair
