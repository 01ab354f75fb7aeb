"""The BFD control packet codec (RFC 5880 section 4) and the header rules of section 6.8.6.

Covered: every (hex, packet) vector both ways; every decode error and header rule with its drop reason; scapy's
BFD contrib layer as an independent encoder and decoder; hypothesis round trips, truncations and fuzzing, where only
:class:`DecodeError` may escape the decoder. Not covered here: what a session does with a packet (test_session.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.bfd import BFD, OptionalAuth

from speaker.bfd.core import (
    Authentication,
    AuthType,
    BfdError,
    ControlPacket,
    DecodeError,
    Diagnostic,
    DropReason,
    State,
    check_reception_rules,
    diagnostic_name,
)

VECTORS = [
    pytest.param(
        "20 40 03 18 00000001 00000000 000f4240 000f4240 00000000",
        ControlPacket(State.DOWN, my_discriminator=1),
        id="a-first-packet-down-with-slow-one-second-timers",
    ),
    pytest.param(
        "20 e0 03 18 11223344 55667788 000186a0 000186a0 00000000",
        ControlPacket(
            State.UP,
            my_discriminator=0x11223344,
            your_discriminator=0x55667788,
            desired_min_tx_us=100_000,
            required_min_rx_us=100_000,
            poll=True,
        ),
        id="up-with-poll-announcing-100ms",
    ),
    pytest.param(
        "20 d0 05 18 55667788 11223344 000493e0 000186a0 00000000",
        ControlPacket(
            State.UP,
            my_discriminator=0x55667788,
            your_discriminator=0x11223344,
            detect_mult=5,
            desired_min_tx_us=300_000,
            required_min_rx_us=100_000,
            final=True,
        ),
        id="up-with-final-answering-a-poll",
    ),
    pytest.param(
        "27 00 03 18 00000002 00000003 000f4240 000f4240 00000000",
        ControlPacket(
            State.ADMIN_DOWN, my_discriminator=2, your_discriminator=3, diagnostic=Diagnostic.ADMINISTRATIVELY_DOWN
        ),
        id="admin-down-with-diagnostic-7",
    ),
    pytest.param(
        "21 40 03 18 00000002 00000003 000f4240 000f4240 00000000",
        ControlPacket(
            State.DOWN,
            my_discriminator=2,
            your_discriminator=3,
            diagnostic=Diagnostic.CONTROL_DETECTION_TIME_EXPIRED,
        ),
        id="down-after-the-detection-time-expired",
    ),
    pytest.param(
        "20 8a ff 18 ffffffff 00000001 00000000 00000000 0000c350",
        ControlPacket(
            State.INIT,
            my_discriminator=0xFFFFFFFF,
            your_discriminator=1,
            detect_mult=255,
            desired_min_tx_us=0,
            required_min_rx_us=0,
            required_min_echo_rx_us=50_000,
            control_plane_independent=True,
            demand=True,
        ),
        id="init-with-control-plane-independent-and-demand-bits",
    ),
    pytest.param(
        "31 41 03 18 00000001 00000000 000f4240 000f4240 00000000",
        ControlPacket(State.DOWN, my_discriminator=1, diagnostic=17, multipoint=True),
        id="an-unassigned-diagnostic-and-the-multipoint-bit-still-decode",
    ),
    pytest.param(
        "20 44 03 21 00000001 00000000 000f4240 000f4240 00000000 01 09 05 736563726574",
        ControlPacket(
            State.DOWN,
            my_discriminator=1,
            authentication=Authentication(AuthType.SIMPLE_PASSWORD, key_id=5, data=b"secret"),
        ),
        id="simple-password-authentication-section",
    ),
    pytest.param(
        "20 44 03 34 00000001 00000000 000f4240 000f4240 00000000 04 1c 02 00 00000010" + " 11" * 20,
        ControlPacket(
            State.DOWN,
            my_discriminator=1,
            authentication=Authentication(AuthType.KEYED_SHA1, key_id=2, data=b"\x11" * 20, sequence=16),
        ),
        id="keyed-sha1-authentication-section",
    ),
    pytest.param(
        "20 c4 03 30 00000001 00000002 000f4240 000f4240 00000000 03 18 01 00 ffffffff" + " ab" * 16,
        ControlPacket(
            State.UP,
            my_discriminator=1,
            your_discriminator=2,
            authentication=Authentication(
                AuthType.METICULOUS_KEYED_MD5, key_id=1, data=b"\xab" * 16, sequence=0xFFFFFFFF
            ),
        ),
        id="meticulous-keyed-md5-authentication-section",
    ),
]


def _bytes(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


@pytest.mark.parametrize(("hex_text", "packet"), VECTORS)
def test_vector_encodes_to_its_bytes(hex_text: str, packet: ControlPacket) -> None:
    assert packet.encode() == _bytes(hex_text)
    assert packet.length == len(_bytes(hex_text))


@pytest.mark.parametrize(("hex_text", "packet"), VECTORS)
def test_vector_decodes_to_its_packet(hex_text: str, packet: ControlPacket) -> None:
    assert ControlPacket.decode(_bytes(hex_text)) == packet


def _scapy_of(packet: ControlPacket) -> BFD:
    flags = "".join(
        letter
        for letter, on in (
            ("P", packet.poll),
            ("F", packet.final),
            ("C", packet.control_plane_independent),
            ("A", packet.authentication is not None),
            ("D", packet.demand),
            ("M", packet.multipoint),
        )
        if on
    )
    fields: dict[str, Any] = {
        "version": packet.version,
        "diag": int(packet.diagnostic),
        "sta": int(packet.state),
        "flags": flags,
        "detect_mult": packet.detect_mult,
        "my_discriminator": packet.my_discriminator,
        "your_discriminator": packet.your_discriminator,
        "min_tx_interval": packet.desired_min_tx_us,
        "min_rx_interval": packet.required_min_rx_us,
        "echo_rx_interval": packet.required_min_echo_rx_us,
    }
    auth = packet.authentication
    if auth is not None:
        extra: dict[str, Any] = {}
        if auth.auth_type is AuthType.SIMPLE_PASSWORD:
            extra["auth_key"] = auth.data
        else:
            extra["auth_key"] = int.from_bytes(auth.data, "big")
            extra["sequence_number"] = auth.sequence
        fields["optional_auth"] = OptionalAuth(auth_type=int(auth.auth_type), auth_keyid=auth.key_id, **extra)
    return BFD(**fields)


@pytest.mark.parametrize(("hex_text", "packet"), VECTORS)
def test_scapy_builds_the_same_bytes(hex_text: str, packet: ControlPacket) -> None:
    assert bytes(_scapy_of(packet)) == _bytes(hex_text)


@pytest.mark.parametrize(("hex_text", "packet"), VECTORS)
def test_scapy_reads_our_bytes_as_the_same_fields(hex_text: str, packet: ControlPacket) -> None:
    parsed = BFD(packet.encode())
    assert (parsed.version, parsed.diag, parsed.sta, parsed.detect_mult, parsed.len) == (
        packet.version,
        packet.diagnostic,
        packet.state,
        packet.detect_mult,
        packet.length,
    )
    assert (parsed.my_discriminator, parsed.your_discriminator) == (
        packet.my_discriminator,
        packet.your_discriminator,
    )
    assert (parsed.min_tx_interval, parsed.min_rx_interval, parsed.echo_rx_interval) == (
        packet.desired_min_tx_us,
        packet.required_min_rx_us,
        packet.required_min_echo_rx_us,
    )
    flags = (parsed.flags.P, parsed.flags.F, parsed.flags.C, parsed.flags.D, parsed.flags.M)
    assert flags == (packet.poll, packet.final, packet.control_plane_independent, packet.demand, packet.multipoint)
    assert bool(parsed.flags.A) == (packet.authentication is not None)


MANDATORY = "00000001 00000000 000f4240 000f4240 00000000"

DECODE_ERRORS = [
    pytest.param("20 40 03 18 00000001 00000000 000f4240 000f4240 000000", DropReason.TRUNCATED, id="23-bytes"),
    pytest.param("", DropReason.TRUNCATED, id="empty-datagram"),
    pytest.param(f"00 40 03 18 {MANDATORY}", DropReason.BAD_VERSION, id="version-0"),
    pytest.param(f"40 40 03 18 {MANDATORY}", DropReason.BAD_VERSION, id="version-2"),
    pytest.param(f"20 40 03 17 {MANDATORY}", DropReason.BAD_LENGTH, id="length-below-24"),
    pytest.param(f"20 44 03 18 {MANDATORY}", DropReason.BAD_LENGTH, id="length-24-with-the-a-bit"),
    pytest.param(f"20 40 03 28 {MANDATORY}", DropReason.TRUNCATED, id="length-greater-than-the-datagram"),
    pytest.param(f"20 44 03 1b {MANDATORY} 00 03 01", DropReason.BAD_AUTHENTICATION_SECTION, id="auth-type-0"),
    pytest.param(f"20 44 03 1b {MANDATORY} 06 03 01", DropReason.BAD_AUTHENTICATION_SECTION, id="auth-type-6"),
    pytest.param(
        f"20 44 03 1b {MANDATORY} 01 03 01", DropReason.BAD_AUTHENTICATION_SECTION, id="empty-simple-password"
    ),
    pytest.param(
        f"20 44 03 1c {MANDATORY} 01 05 01 61", DropReason.BAD_AUTHENTICATION_SECTION, id="auth-len-beyond-length"
    ),
    pytest.param(
        f"20 44 03 30 {MANDATORY} 04 18 01 00 00000001" + " 00" * 16,
        DropReason.BAD_AUTHENTICATION_SECTION,
        id="sha1-with-an-md5-sized-auth-len",
    ),
    pytest.param(
        f"20 44 03 2d {MANDATORY} 01 15 01" + " 61" * 18,
        DropReason.BAD_AUTHENTICATION_SECTION,
        id="simple-password-of-18-bytes",
    ),
]


@pytest.mark.parametrize(("hex_text", "reason"), DECODE_ERRORS)
def test_decode_error_names_its_reason(hex_text: str, reason: DropReason) -> None:
    with pytest.raises(DecodeError) as caught:
        ControlPacket.decode(_bytes(hex_text))
    assert caught.value.reason is reason


def test_bytes_after_length_belong_to_the_encapsulation_and_are_ignored() -> None:
    packet = ControlPacket(State.DOWN, my_discriminator=7)
    assert ControlPacket.decode(packet.encode() + b"\x00\x00pad") == packet


RULES = [
    pytest.param(ControlPacket(State.DOWN, 1, detect_mult=0), DropReason.ZERO_DETECT_MULT, id="detect-mult-0"),
    pytest.param(ControlPacket(State.DOWN, 1, multipoint=True), DropReason.MULTIPOINT, id="multipoint-bit"),
    pytest.param(ControlPacket(State.DOWN, 0), DropReason.ZERO_MY_DISCRIMINATOR, id="my-discriminator-0"),
    pytest.param(ControlPacket(State.UP, 1), DropReason.ZERO_YOUR_DISCRIMINATOR, id="up-without-your-discriminator"),
    pytest.param(
        ControlPacket(State.INIT, 1), DropReason.ZERO_YOUR_DISCRIMINATOR, id="init-without-your-discriminator"
    ),
    pytest.param(ControlPacket(State.DOWN, 1), None, id="down-without-your-discriminator-is-fine"),
    pytest.param(ControlPacket(State.ADMIN_DOWN, 1), None, id="admin-down-without-your-discriminator-is-fine"),
    pytest.param(ControlPacket(State.UP, 1, 2), None, id="up-with-both-discriminators-is-fine"),
]


@pytest.mark.parametrize(("packet", "reason"), RULES)
def test_reception_rules_of_6_8_6(packet: ControlPacket, reason: DropReason | None) -> None:
    if reason is None:
        check_reception_rules(packet)
        return
    with pytest.raises(DecodeError) as caught:
        check_reception_rules(packet)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ControlPacket(State.DOWN, -1), id="negative-discriminator"),
        pytest.param(lambda: ControlPacket(State.DOWN, 1, detect_mult=256), id="detect-mult-above-255"),
        pytest.param(lambda: ControlPacket(State.DOWN, 1, diagnostic=32), id="diagnostic-above-5-bits"),
        pytest.param(lambda: ControlPacket(State.DOWN, 1, desired_min_tx_us=2**32), id="interval-above-32-bits"),
        pytest.param(lambda: Authentication(AuthType.SIMPLE_PASSWORD, 1, b""), id="empty-password"),
        pytest.param(lambda: Authentication(AuthType.KEYED_SHA1, 1, b"\x00" * 16), id="sha1-digest-of-16-bytes"),
        pytest.param(lambda: Authentication(AuthType.KEYED_MD5, 256, b"\x00" * 16), id="key-id-above-255"),
    ],
)
def test_building_an_impossible_packet_is_our_error(build: object) -> None:
    assert callable(build)
    with pytest.raises(BfdError):
        build()


def test_diagnostic_names_cover_unassigned_codes() -> None:
    assert diagnostic_name(1) == "control_detection_time_expired"
    assert diagnostic_name(20) == "diagnostic_20"


# ===== hypothesis =================================================================================================
U32 = st.integers(0, 2**32 - 1)
AUTHENTICATIONS = st.one_of(
    st.none(),
    st.builds(
        Authentication,
        st.just(AuthType.SIMPLE_PASSWORD),
        st.integers(0, 255),
        st.binary(min_size=1, max_size=16),
    ),
    st.builds(
        Authentication,
        st.sampled_from([AuthType.KEYED_MD5, AuthType.METICULOUS_KEYED_MD5]),
        st.integers(0, 255),
        st.binary(min_size=16, max_size=16),
        U32,
    ),
    st.builds(
        Authentication,
        st.sampled_from([AuthType.KEYED_SHA1, AuthType.METICULOUS_KEYED_SHA1]),
        st.integers(0, 255),
        st.binary(min_size=20, max_size=20),
        U32,
    ),
)
PACKETS = st.builds(
    ControlPacket,
    state=st.sampled_from(State),
    my_discriminator=U32,
    your_discriminator=U32,
    diagnostic=st.integers(0, 31).map(lambda d: Diagnostic(d) if d <= 9 else d),
    detect_mult=st.integers(0, 255),
    desired_min_tx_us=U32,
    required_min_rx_us=U32,
    required_min_echo_rx_us=U32,
    poll=st.booleans(),
    final=st.booleans(),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
    multipoint=st.booleans(),
    authentication=AUTHENTICATIONS,
)


@given(PACKETS)
def test_every_packet_survives_a_round_trip(packet: ControlPacket) -> None:
    assert ControlPacket.decode(packet.encode()) == packet


@given(PACKETS)
def test_scapy_agrees_on_every_packet(packet: ControlPacket) -> None:
    assert bytes(_scapy_of(packet)) == packet.encode()


@given(PACKETS)
def test_every_truncation_is_a_decode_error(packet: ControlPacket) -> None:
    data = packet.encode()
    for end in range(len(data)):
        with pytest.raises(DecodeError) as caught:
            ControlPacket.decode(data[:end])
        assert caught.value.reason is DropReason.TRUNCATED


def _decode_or_decode_error(data: bytes) -> None:
    try:
        packet = ControlPacket.decode(data)
    except DecodeError:
        return
    # What decodes re-encodes to a canonical form that decodes to the same packet.
    assert ControlPacket.decode(packet.encode()) == packet


@given(st.binary(max_size=80))
def test_fuzz_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    _decode_or_decode_error(data)


@given(PACKETS, st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), max_size=6))
def test_fuzz_mutated_packets_only_raise_decode_error(packet: ControlPacket, flips: list[tuple[int, int]]) -> None:
    data = bytearray(packet.encode())
    for index, value in flips:
        if index < len(data):
            data[index] = value
    _decode_or_decode_error(bytes(data))
