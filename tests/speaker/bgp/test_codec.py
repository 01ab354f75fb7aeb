"""Codec vectors (style anchor 12b): every (hex, message) row is decoded and encoded, and both must match.

The hex is written by hand from the RFC layouts (RFC 4271 section 4, RFC 4760, RFC 5492, RFC 6793, RFC 4724,
RFC 8092, RFC 9003), not produced by our encoder. Error rows check the NOTIFICATION (code, subcode, data) and
the RFC 7606 action for malformed input. scapy's BGP contrib parses our OPEN and UPDATE bytes as an independent
reader. Captures from BIRD and FRR are in ``test_captures.py``.
"""

from __future__ import annotations

import ipaddress

import pytest

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import (
    AsPathSegment,
    DecodeContext,
    EncodeContext,
    MpReach,
    MpUnreach,
    PathAttributes,
    RawAttribute,
)
from speaker.bgp.core.capabilities import (
    ExtendedNextHop,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefresh,
    UnknownCapability,
)
from speaker.bgp.core.errors import BgpError, ErrorAction, to_notification
from speaker.bgp.core.messages import (
    Keepalive,
    Message,
    Notification,
    Open,
    Update,
    decode_message,
    message_length,
)
from speaker.bgp.core.messages import RouteRefresh as RouteRefreshMsg

M = "ff" * 16
V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
N4 = ipaddress.IPv4Network
N6 = ipaddress.IPv6Network
SEQ = iana.AsPathSegmentType.AS_SEQUENCE
FOUR = DecodeContext(four_octet_as=True)
TWO = DecodeContext(four_octet_as=False)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("M", M))


VECTORS = [
    pytest.param("M 0013 04", Keepalive(), FOUR, id="keepalive"),
    pytest.param(
        "M 001d 01 04 fc00 005a c0000201 00",
        Open(64512, 90, V4("192.0.2.1")),
        FOUR,
        id="open-without-optional-parameters",
    ),
    pytest.param(
        "M 002d 01 04 5ba0 00b4 c000020b 10 02 0e 0104 00010001 0200 4104 fa56ea01",
        Open(iana.AS_TRANS, 180, V4("192.0.2.11"), (Multiprotocol(1, 1), RouteRefresh(), FourOctetAs(4200000001))),
        FOUR,
        id="open-4-octet-as-says-as-trans-in-my-as",
    ),
    pytest.param(
        "M 0027 01 04 fc01 0009 c000020b 0a 02 08 4006 0078 0001 0180",
        Open(64513, 9, V4("192.0.2.11"), (GracefulRestart(120, families=(GracefulRestartFamily(1, 1, True),)),)),
        FOUR,
        id="open-graceful-restart-with-forwarding-bit",
    ),
    pytest.param(
        "M 002b 01 04 fc01 0009 c000020b 0e 02 0c 4002 c078 0506 000100010002",
        Open(
            64513,
            9,
            V4("192.0.2.11"),
            (GracefulRestart(120, restarting=True, notification=True), ExtendedNextHop(((1, 1, 2),))),
        ),
        FOUR,
        id="open-restarting-notification-and-extended-next-hop",
    ),
    pytest.param(
        "M 0021 01 04 fc01 0009 c000020b 04 02 02 4900",
        Open(64513, 9, V4("192.0.2.11"), (UnknownCapability(73, b""),)),
        FOUR,
        id="open-unknown-capability-is-kept",
    ),
    pytest.param(
        "M 0019 03 06 02 03 627965",
        Notification(6, 2, b"\x03bye"),
        FOUR,
        id="notification-cease-with-shutdown-message",
    ),
    pytest.param("M 0015 03 04 00", Notification(4, 0), FOUR, id="notification-hold-timer-expired"),
    pytest.param("M 0017 05 0002 00 01", RouteRefreshMsg(2, 1), FOUR, id="route-refresh-ipv6-unicast"),
    pytest.param(
        "M 0037 02 0000 001b 40010100 4002060201 0000fc01 400304c000020b c00804fde80001 20c6336401",
        Update(
            nlri=(N4("198.51.100.1/32"),),
            attributes=PathAttributes(
                origin=0,
                as_path=(AsPathSegment(SEQ, (64513,)),),
                next_hop=V4("192.0.2.11"),
                communities=(0xFDE80001,),
            ),
        ),
        FOUR,
        id="update-ebgp-ipv4-with-community",
    ),
    pytest.param(
        "M 0020 02 0009 18c63364 20c6336401 0000",
        Update(withdrawn=(N4("198.51.100.0/24"), N4("198.51.100.1/32"))),
        FOUR,
        id="update-withdraws-two-ipv4-prefixes",
    ),
    pytest.param(
        "M 006d 02 0000 0056"
        " 800e36 0002 01 20 20010db8000000000000000000000011 fe800000000000000000000000000011 00"
        "  80 20010db8010000000000000000000001"
        " 40010100 400200 400504000000c8 c0200c 00000001 00000002 00000003",
        Update(
            attributes=PathAttributes(
                origin=0,
                as_path=(),
                local_pref=200,
                large_communities=((1, 2, 3),),
                mp_reach=MpReach(2, 1, (V6("2001:db8::11"), V6("fe80::11")), (N6("2001:db8:100::1/128"),)),
            )
        ),
        FOUR,
        id="update-ibgp-ipv6-global-and-link-local-next-hop",
    ),
    pytest.param("M 0017 02 0000 0000", Update(), FOUR, id="end-of-rib-ipv4"),
    pytest.param(
        "M 001d 02 0000 0006 800f03 000201",
        Update(attributes=PathAttributes(mp_unreach=MpUnreach(2, 1))),
        FOUR,
        id="end-of-rib-ipv6",
    ),
    pytest.param(
        "M 002d 02 0000 0016 800f13 000201 78 20010db8 01000000 00000000 000000",
        Update(attributes=PathAttributes(mp_unreach=MpUnreach(2, 1, (N6("2001:db8:100::/120"),)))),
        FOUR,
        id="update-withdraws-ipv6-in-mp-unreach",
    ),
    pytest.param(
        "M 0036 02 0000 001b 40010100 400204 0201 5ba0 400304c000020b c01106 0201 fa56ea01 18c63364",
        Update(
            nlri=(N4("198.51.100.0/24"),),
            attributes=PathAttributes(
                origin=0,
                as_path=(AsPathSegment(SEQ, (iana.AS_TRANS,)),),
                next_hop=V4("192.0.2.11"),
                as4_path=(AsPathSegment(SEQ, (4200000001,)),),
            ),
        ),
        TWO,
        id="update-to-an-old-speaker-carries-as4-path",
    ),
    pytest.param(
        "M 0044 02 0000 0028 40010102 400200 400304c000020b 80040400000064 400600 c00708 0000fc00c0000201"
        " c06302abcd 1ac6336440",
        Update(
            nlri=(N4("198.51.100.64/26"),),
            attributes=PathAttributes(
                origin=2,
                as_path=(),
                next_hop=V4("192.0.2.11"),
                med=100,
                atomic_aggregate=True,
                aggregator=(64512, V4("192.0.2.1")),
                other=(RawAttribute(0xC0, 99, b"\xab\xcd"),),
            ),
        ),
        FOUR,
        id="update-med-aggregate-and-unknown-transitive-attribute",
    ),
    pytest.param(
        "M 0034 02 0000 001d 800e1a 0001 01 10 20010db8000000000000000000000011 00 20c6336401",
        Update(attributes=PathAttributes(mp_reach=MpReach(1, 1, (V6("2001:db8::11"),), (N4("198.51.100.1/32"),)))),
        FOUR,
        id="update-ipv4-nlri-with-ipv6-next-hop-rfc8950",
    ),
]


@pytest.mark.parametrize(("hex_text", "message", "ctx"), VECTORS)
def test_vector_decodes_to_the_message(hex_text: str, message: Message, ctx: DecodeContext) -> None:
    wire = h(hex_text)
    assert message_length(wire) == len(wire)
    assert decode_message(wire, ctx) == message


@pytest.mark.parametrize(("hex_text", "message", "ctx"), VECTORS)
def test_message_encodes_to_the_vector(hex_text: str, message: Message, ctx: DecodeContext) -> None:
    assert message.encode(EncodeContext(four_octet_as=ctx.four_octet_as)).hex() == h(hex_text).hex()


def test_open_capabilities_in_several_parameters_are_all_read() -> None:
    wire = h("M 002d 01 04 fc01 0009 c000020b 10 02 04 4002 c078 02 08 0506 000100010002")
    decoded = decode_message(wire)
    assert isinstance(decoded, Open)
    assert decoded.capabilities == (
        GracefulRestart(120, restarting=True, notification=True),
        ExtendedNextHop(((1, 1, 2),)),
    )


def test_open_extended_optional_parameters_rfc9072_are_read() -> None:
    caps = tuple(UnknownCapability(200 + i, bytes(30)) for i in range(9))  # 288 octets: too long for 1 octet
    built = Open(64513, 9, V4("192.0.2.11"), caps)
    wire = built.encode()
    assert wire[28:30] == b"\xff\xff"
    assert decode_message(wire) == built


def test_open_build_puts_as_trans_in_my_as_and_keeps_the_real_as_in_the_capability() -> None:
    built = Open.build(asn=4200000001, hold_time=90, router_id=V4("192.0.2.11"), capabilities=(RouteRefresh(),))
    assert built.my_as == iana.AS_TRANS
    assert built.asn == 4200000001
    small = Open.build(asn=64513, hold_time=90, router_id=V4("192.0.2.11"), capabilities=())
    assert small.my_as == 64513 and small.capabilities == (FourOctetAs(64513),)


def test_shutdown_message_round_trips_and_is_cut_at_255_octets() -> None:
    note = Notification.cease(iana.CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "é" * 200)
    assert note.data[0] == 255 - 1  # 127 two-octet characters fit; the half character is dropped
    assert note.shutdown_message == "é" * 127
    assert Notification(6, 2, b"\x09bad\xff\xfe").shutdown_message is None  # length runs past the data
    assert Notification(6, 3, b"\x03bye").shutdown_message is None  # only subcodes 2 and 4 carry one


def test_end_of_rib_is_recognised_only_for_empty_markers() -> None:
    assert Update().end_of_rib == iana.IPV4_UNICAST
    assert Update.end_of_rib_marker((2, 1)).end_of_rib == (2, 1)
    assert Update(withdrawn=(N4("198.51.100.0/24"),)).end_of_rib is None
    assert Update(attributes=PathAttributes(origin=0, mp_unreach=MpUnreach(2, 1))).end_of_rib is None


def test_a_long_attribute_uses_the_extended_length_flag() -> None:
    many = tuple(range(1, 71))  # 280 octets of communities
    update = Update(
        nlri=(N4("198.51.100.1/32"),),
        attributes=PathAttributes(origin=0, as_path=(), next_hop=V4("192.0.2.11"), communities=many),
    )
    wire = update.encode()
    assert bytes.fromhex("d0080118") in wire  # optional transitive + extended length, type 8, length 280
    assert decode_message(wire) == update


def test_an_update_larger_than_4096_octets_is_refused_by_the_encoder() -> None:
    update = Update(nlri=tuple(N4(f"10.{i // 256}.{i % 256}.0/24") for i in range(1100)))
    with pytest.raises(ValueError, match="exceeds 4096"):
        update.encode()


ERRORS = [
    pytest.param("00" * 16 + "0013 04", 1, 1, b"", id="marker-not-all-ones-is-connection-not-synchronized"),
    pytest.param("M 0012 04", 1, 2, h("0012"), id="length-below-19-is-bad-message-length"),
    pytest.param("M 1001 04", 1, 2, h("1001"), id="length-above-4096-is-bad-message-length"),
    pytest.param("M 0013 06", 1, 3, h("06"), id="unknown-type-is-bad-message-type"),
    pytest.param("M 0014 04 00", 1, 2, h("0014"), id="keepalive-with-a-body-is-bad-length"),
    pytest.param("M 0016 05 0001 00", 1, 2, h("0016"), id="short-route-refresh-is-bad-length"),
    pytest.param("M 0014 03 06", 1, 2, h("0014"), id="notification-without-subcode-is-bad-length"),
    pytest.param("M 001d 01 03 fc00 005a c0000201 00", 2, 1, h("0004"), id="open-version-3-says-we-speak-4"),
    pytest.param("M 001d 01 04 fc00 0002 c0000201 00", 2, 6, b"", id="open-hold-time-2-is-unacceptable"),
    pytest.param("M 001d 01 04 fc00 005a 00000000 00", 2, 3, b"", id="open-router-id-zero-is-bad-identifier"),
    pytest.param(
        "M 0021 01 04 fc00 005a c0000201 04 01 02 0000", 2, 4, b"", id="open-authentication-parameter-is-unsupported"
    ),
    pytest.param("M 0021 01 04 fc00 005a c0000201 04 02 02 0104", 2, 0, b"", id="open-capability-cut-short"),
    pytest.param("M 0020 01 04 fc00 005a c0000201 05 02 02 0200", 2, 0, b"", id="open-parameters-overrun"),
    pytest.param(
        "M 0023 01 04 fc00 005a c0000201 06 02 04 4102 0001", 2, 0, h("41020001"), id="open-4-octet-as-of-2-octets"
    ),
    pytest.param("M 001e 01 04 fc00 005a c0000201 00 00", 2, 0, b"", id="open-trailing-octets"),
    pytest.param("M 0017 02 0005 0000", 3, 1, b"", id="update-withdrawn-length-overruns"),
    pytest.param("M 0017 02 0000 0004", 3, 1, b"", id="update-attribute-length-overruns"),
    pytest.param("M 001c 02 0000 0000 21c6336401", 3, 10, b"", id="update-nlri-of-33-bits-is-invalid-network"),
    pytest.param("M 0019 02 0002 18c6 0000", 3, 10, b"", id="update-withdrawn-prefix-cut-short"),
    pytest.param("M 001b 02 0000 0004 00630100", 3, 2, h("00630100"), id="update-unknown-well-known-attribute"),
    pytest.param("M 0023 02 0000 000c 800f03000201 800f03000201", 3, 1, b"", id="update-mp-unreach-twice-resets"),
    pytest.param("M 001a 02 0000 0003 800e00", 3, 5, h("800e00"), id="update-mp-reach-too-short-to-name-a-family"),
]


@pytest.mark.parametrize(("hex_text", "code", "subcode", "data"), ERRORS)
def test_malformed_message_raises_the_rfc_notification(hex_text: str, code: int, subcode: int, data: bytes) -> None:
    wire = h(hex_text)
    with pytest.raises(BgpError) as caught:
        length = message_length(wire)
        assert length is not None
        decode_message(wire[:length], FOUR)
    error = caught.value
    assert (error.code, error.subcode) == (code, subcode)
    assert error.data == data
    assert error.action is ErrorAction.RESET
    assert to_notification(error) == Notification(code, subcode, data)


_ORIGIN_PATH_HOP = "40010100 400200 400304c000020b"
RFC7606 = [
    pytest.param("40010103 400200 400304c000020b", FOUR, 3, 6, ErrorAction.WITHDRAW, id="origin-3-treat-as-withdraw"),
    pytest.param("4001020000 400200 400304c000020b", FOUR, 3, 5, ErrorAction.WITHDRAW, id="origin-length-2"),
    pytest.param("80010100 400200 400304c000020b", FOUR, 3, 4, ErrorAction.WITHDRAW, id="origin-marked-optional"),
    pytest.param("40010100 40020102 400304c000020b", FOUR, 3, 11, ErrorAction.WITHDRAW, id="as-path-lone-octet"),
    pytest.param("40010100 4002020200 400304c000020b", FOUR, 3, 11, ErrorAction.WITHDRAW, id="as-path-empty-segment"),
    pytest.param(
        "40010100 400206 0701 0000fc01 400304c000020b", FOUR, 3, 11, ErrorAction.WITHDRAW, id="as-path-segment-type-7"
    ),
    pytest.param(
        "40010100 400206 0202 0000fc01 400304c000020b", FOUR, 3, 11, ErrorAction.WITHDRAW, id="as-path-overrun"
    ),
    pytest.param("40010100 400200", FOUR, 3, 3, ErrorAction.WITHDRAW, id="next-hop-missing-with-nlri"),
    pytest.param("40010100 400200 40030300000000", FOUR, 3, 5, ErrorAction.WITHDRAW, id="next-hop-length-3"),
    pytest.param(_ORIGIN_PATH_HOP + " 8004020001", FOUR, 3, 5, ErrorAction.WITHDRAW, id="med-length-2"),
    pytest.param(_ORIGIN_PATH_HOP + " 4005020001", FOUR, 3, 5, ErrorAction.DISCARD, id="local-pref-from-ebgp-discard"),
    pytest.param(
        _ORIGIN_PATH_HOP + " 4005020001",
        DecodeContext(four_octet_as=True, ibgp=True),
        3,
        5,
        ErrorAction.WITHDRAW,
        id="local-pref-from-ibgp-withdraw",
    ),
    pytest.param(_ORIGIN_PATH_HOP + " 40060100", FOUR, 3, 5, ErrorAction.DISCARD, id="atomic-aggregate-length-1"),
    pytest.param(_ORIGIN_PATH_HOP + " c007060000c0000201", FOUR, 3, 5, ErrorAction.DISCARD, id="aggregator-6-of-8"),
    pytest.param(_ORIGIN_PATH_HOP + " c00803000001", FOUR, 3, 5, ErrorAction.WITHDRAW, id="communities-length-3"),
    pytest.param(_ORIGIN_PATH_HOP + " c00800", FOUR, 3, 5, ErrorAction.WITHDRAW, id="communities-empty"),
    pytest.param(
        _ORIGIN_PATH_HOP + " c00904c0000201", FOUR, 3, 4, ErrorAction.DISCARD, id="originator-id-transitive-from-ebgp"
    ),
    pytest.param(
        _ORIGIN_PATH_HOP + " c0100700000000000000", FOUR, 3, 5, ErrorAction.WITHDRAW, id="ext-communities-length-7"
    ),
    pytest.param(
        _ORIGIN_PATH_HOP + " c0200b0000000100000002000000",
        FOUR,
        3,
        5,
        ErrorAction.WITHDRAW,
        id="large-communities-length-11",
    ),
    pytest.param(
        _ORIGIN_PATH_HOP + " c01106 0201 fa56ea01", FOUR, 3, 9, ErrorAction.DISCARD, id="as4-path-between-new-speakers"
    ),
    pytest.param(_ORIGIN_PATH_HOP + " 40010100", FOUR, 3, 1, ErrorAction.DISCARD, id="origin-repeated-is-discarded"),
    pytest.param(_ORIGIN_PATH_HOP + " c008", FOUR, 3, 1, ErrorAction.WITHDRAW, id="attribute-header-cut-short"),
    pytest.param(
        _ORIGIN_PATH_HOP + " c00808fde80001", FOUR, 3, 1, ErrorAction.WITHDRAW, id="attribute-overruns-the-list"
    ),
    pytest.param(
        _ORIGIN_PATH_HOP + " 800e0d 0002 01 08 0000000000000000 00",
        FOUR,
        3,
        9,
        ErrorAction.AFI_SAFI_DISABLE,
        id="mp-reach-ipv6-next-hop-of-8-disables-the-family",
    ),
    pytest.param(
        _ORIGIN_PATH_HOP + " 800f04 000201 81",
        FOUR,
        3,
        9,
        ErrorAction.AFI_SAFI_DISABLE,
        id="mp-unreach-prefix-of-129-bits",
    ),
]


@pytest.mark.parametrize(("attrs_hex", "ctx", "code", "subcode", "action"), RFC7606)
def test_rfc7606_errors_keep_the_session_and_name_their_action(
    attrs_hex: str, ctx: DecodeContext, code: int, subcode: int, action: ErrorAction
) -> None:
    attrs = h(attrs_hex)
    nlri = h("20c6336401")
    body = h("0000") + len(attrs).to_bytes(2, "big") + attrs + nlri
    wire = h("M") + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body
    update = decode_message(wire, ctx)
    assert isinstance(update, Update)
    error = update.error
    assert error is not None
    assert (error.code, error.subcode, error.action) == (code, subcode, action)
    assert update.nlri == (N4("198.51.100.1/32"),)


def test_mp_family_errors_name_the_family_they_disable() -> None:
    attrs = h(_ORIGIN_PATH_HOP + " 800e0d 0002 01 08 0000000000000000 00")
    body = h("0000") + len(attrs).to_bytes(2, "big") + attrs
    update = decode_message(h("M") + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body)
    assert isinstance(update, Update)
    assert update.error is not None and update.error.family == (2, 1)


def test_an_unknown_optional_non_transitive_attribute_is_quietly_dropped() -> None:
    attrs = h(_ORIGIN_PATH_HOP + " 806302abcd")
    body = h("0000") + len(attrs).to_bytes(2, "big") + attrs + h("20c6336401")
    update = decode_message(h("M") + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body)
    assert isinstance(update, Update)
    assert update.error is None and update.attributes.other == ()


def test_an_mp_reach_of_an_unknown_family_is_kept_raw_and_not_an_error() -> None:
    attrs = h("40010100 400200 800e0a 0019 46 04 c0000201 00 00")  # AFI 25 (L2VPN), SAFI 70 (EVPN)
    body = h("0000") + len(attrs).to_bytes(2, "big") + attrs
    update = decode_message(h("M") + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body)
    assert isinstance(update, Update)
    assert update.error is None
    assert update.attributes.mp_reach == MpReach(25, 70, raw=h("0019 46 04 c0000201 00 00"))
    assert decode_message(update.encode()) == update


# ------------------------------------------------------------------------------------------------
# scapy as an independent reader
# ------------------------------------------------------------------------------------------------
scapy_bgp = pytest.importorskip("scapy.contrib.bgp")


def _scapy(wire: bytes) -> object:
    scapy_bgp.bgp_module_conf.use_2_bytes_asn = False
    return scapy_bgp.BGPHeader(wire)


def test_scapy_reads_our_open_the_same_way() -> None:
    ours = Open.build(
        asn=4200000001,
        hold_time=90,
        router_id=V4("192.0.2.11"),
        # GracefulRestart last: scapy 2.8's parser ignores its length and would swallow the next capability
        capabilities=(
            Multiprotocol(1, 1),
            Multiprotocol(2, 1),
            RouteRefresh(),
            FourOctetAs(4200000001),
            GracefulRestart(120),
        ),
    )
    parsed = _scapy(ours.encode())
    open_layer = parsed[scapy_bgp.BGPOpen]  # type: ignore[index]
    assert (open_layer.version, open_layer.my_as, open_layer.hold_time) == (4, iana.AS_TRANS, 90)
    assert open_layer.bgp_id == "192.0.2.11"
    (param,) = open_layer.opt_params
    assert param.param_type == 2 and param.param_length == open_layer.opt_param_len - 2
    # scapy parses the first capability of a parameter and leaves the rest raw: walk it with scapy's parser
    caps = [param.param_value]
    rest = bytes(param.param_value.payload)
    while rest:
        cap = scapy_bgp.BGPCapability(rest)
        caps.append(cap)
        rest = bytes(cap.payload)
    assert [c.code for c in caps] == [1, 1, 2, 65, 64]
    assert (caps[1].afi, caps[1].safi) == (2, 1)
    assert caps[3].asn == 4200000001
    assert caps[4].restart_time == 120 and caps[4].length == 2


def test_scapy_reads_our_update_the_same_way() -> None:
    ours = Update(
        nlri=(N4("198.51.100.1/32"), N4("198.51.100.0/24")),
        attributes=PathAttributes(
            origin=0,
            as_path=(AsPathSegment(SEQ, (64513,)),),
            next_hop=V4("192.0.2.11"),
            local_pref=200,
            communities=(0xFDE80001,),
        ),
    )
    parsed = _scapy(ours.encode())
    update = parsed[scapy_bgp.BGPUpdate]  # type: ignore[index]
    assert [n.prefix for n in update.nlri] == ["198.51.100.1/32", "198.51.100.0/24"]
    assert [a.type_code for a in update.path_attr] == [1, 2, 3, 5, 8]
    assert update.path_attr[0].attribute.origin == 0
    assert update.path_attr[1].attribute.segments[0].segment_value == [64513]
    assert update.path_attr[2].attribute.next_hop == "192.0.2.11"
    assert update.path_attr[3].attribute.local_pref == 200
    assert update.path_attr[4].attribute.community == 0xFDE80001


def test_scapy_reads_our_ipv6_mp_reach() -> None:
    ours = Update(
        attributes=PathAttributes(
            origin=0,
            as_path=(),
            mp_reach=MpReach(2, 1, (V6("2001:db8::11"), V6("fe80::11")), (N6("2001:db8:100::1/128"),)),
        )
    )
    parsed = _scapy(ours.encode())
    update = parsed[scapy_bgp.BGPUpdate]  # type: ignore[index]
    reach = update.path_attr[0].attribute
    assert (reach.afi, reach.safi, reach.nh_addr_len) == (2, 1, 32)
    assert reach.nh_v6_global == "2001:db8::11" and reach.nh_v6_link_local == "fe80::11"
    assert [n.prefix for n in reach.nlri] == ["2001:db8:100::1/128"]
