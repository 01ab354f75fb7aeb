"""IPv6 header and NS/NA codecs: checksum and layout against scapy both ways, option rules, fuzzing."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from speaker.l2.core import ndp
from speaker.l2.core.ethernet import FrameError, format_mac
from tests.speaker.l2.helpers import CLIENT6, CLIENT_MAC, NODE_MAC, VIP6, ipv6s, macs

# A neighbour solicitation for 2001:db8:100::5 from 2001:db8::100 (02:00:00:00:00:64), as ndisc6 sends it; the
# checksum was computed by scapy, independently of our code.
NS_HEX = (
    "3333ff000005"
    "020000000064"
    "86dd"
    "6000000000203aff"
    "20010db8000000000000000000000100"
    "ff0200000000000000000001ff000005"
    "870019bf00000000"
    "20010db8010000000000000000000005"
    "0101020000000064"
)


def test_vector_decodes_and_reencodes() -> None:
    frame = bytes.fromhex(NS_HEX)
    assert Ether(frame)[ICMPv6ND_NS].cksum == 0x19BF
    dst, src, header, message = ndp.decode_frame(frame)
    assert (dst, src) == (bytes.fromhex("3333ff000005"), CLIENT_MAC)
    assert header == ndp.IPv6Header(32, 58, 255, CLIENT6, ndp.solicited_node_address(VIP6))
    assert message == ndp.NeighborSolicitation(VIP6, (ndp.Option(1, CLIENT_MAC),))
    assert isinstance(message, ndp.NeighborSolicitation)
    assert message.source_link_layer == CLIENT_MAC
    assert ndp.solicitation_frame(CLIENT_MAC, CLIENT6, VIP6) == frame


@pytest.mark.parametrize(
    ("address", "group", "mac"),
    [
        pytest.param("2001:db8:100::5", "ff02::1:ff00:5", "33:33:ff:00:00:05", id="low-24-bits"),
        pytest.param("2001:db8::abcd:1234", "ff02::1:ffcd:1234", "33:33:ff:cd:12:34", id="rfc-4291-example-shape"),
        pytest.param("fe80::ff:fe00:b", "ff02::1:ff00:b", "33:33:ff:00:00:0b", id="link-local"),
    ],
)
def test_solicited_node_group(address: str, group: str, mac: str) -> None:
    ip = ipaddress.IPv6Address(address)
    assert ndp.solicited_node_address(ip) == ipaddress.IPv6Address(group)
    assert format_mac(ndp.multicast_mac(ndp.solicited_node_address(ip))) == mac


@given(source=ipv6s, destination=ipv6s, body=st.binary(max_size=64))
def test_checksum_matches_scapy(source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address, body: bytes) -> None:
    message = b"\x87\x00\x00\x00" + body  # any ICMPv6 bytes with a zero checksum field
    ours = ndp.checksum(source.packed, destination.packed, message)
    from scapy.layers.inet6 import in6_chksum

    assert ours == in6_chksum(58, IPv6(src=str(source), dst=str(destination)), message)  # type: ignore[no-untyped-call]
    patched = message[:2] + ours.to_bytes(2, "big") + message[4:]
    assert ndp.checksum_ok(source.packed, destination.packed, patched)
    corrupted = message[:2] + (ours ^ 0x0101).to_bytes(2, "big") + message[4:]
    assert not ndp.checksum_ok(source.packed, destination.packed, corrupted)


@given(target=ipv6s, source=ipv6s, mac=macs, flags=st.integers(min_value=0, max_value=7))
def test_scapy_parses_our_advertisement(
    target: ipaddress.IPv6Address, source: ipaddress.IPv6Address, mac: bytes, flags: int
) -> None:
    message = ndp.NeighborAdvertisement(
        target,
        router=bool(flags & 4),
        solicited=bool(flags & 2),
        override=bool(flags & 1),
        options=(ndp.link_layer_option(ndp.OPTION_TARGET_LINK_LAYER, mac),),
    )
    frame = ndp.packet_frame(CLIENT_MAC, mac, source, CLIENT6, message)
    parsed = Ether(frame)
    na = parsed[ICMPv6ND_NA]
    assert parsed[IPv6].hlim == 255
    assert ipaddress.IPv6Address(parsed[IPv6].src) == source and ipaddress.IPv6Address(parsed[IPv6].dst) == CLIENT6
    assert (flags >> 2 & 1, flags >> 1 & 1, flags & 1) == (na.R, na.S, na.O)
    assert ipaddress.IPv6Address(na.tgt) == target
    assert parsed[ICMPv6NDOptDstLLAddr].lladdr == format_mac(mac)
    checksum = na.cksum
    del na.cksum
    assert Ether(bytes(parsed))[ICMPv6ND_NA].cksum == checksum


@given(target=ipv6s, source=ipv6s, mac=macs)
def test_fast_advertisement_equals_the_object_codec(
    target: ipaddress.IPv6Address, source: ipaddress.IPv6Address, mac: bytes
) -> None:
    fast = ndp.advertisement_frame(
        mac, source.packed, destination=CLIENT6.packed, dst_mac=CLIENT_MAC, target=target.packed, flags=0x60
    )
    message = ndp.NeighborAdvertisement(target, solicited=True, override=True, options=(ndp.link_layer_option(2, mac),))
    assert fast == ndp.packet_frame(CLIENT_MAC, mac, source, CLIENT6, message)


@given(target=ipv6s, source=ipv6s, mac=macs)
def test_we_parse_what_scapy_builds(target: ipaddress.IPv6Address, source: ipaddress.IPv6Address, mac: bytes) -> None:
    group = ndp.solicited_node_address(target)
    frame = bytes(
        Ether(dst=format_mac(ndp.multicast_mac(group)), src=format_mac(mac))
        / IPv6(src=str(source), dst=str(group), hlim=255)
        / ICMPv6ND_NS(tgt=str(target))
        / ICMPv6NDOptSrcLLAddr(lladdr=format_mac(mac))
    )
    _, src, header, message = ndp.decode_frame(frame)
    assert src == mac and header.hop_limit == 255 and header.destination == group
    assert message == ndp.NeighborSolicitation(target, (ndp.Option(1, mac),))


def test_dad_probe_and_unsolicited_advertisement_forms() -> None:
    dst, _, header, probe = ndp.decode_frame(ndp.probe_frame(NODE_MAC, VIP6))
    # RFC 4862 section 5.4.2: from ::, to the solicited-node group, no source link-layer option.
    assert header.source == ndp.UNSPECIFIED and header.destination == ndp.solicited_node_address(VIP6)
    assert dst == ndp.multicast_mac(ndp.solicited_node_address(VIP6))
    assert probe == ndp.NeighborSolicitation(VIP6)
    dst, _, header, advert = ndp.decode_frame(ndp.unsolicited_advertisement_frame(NODE_MAC, VIP6, VIP6))
    # RFC 4861 section 7.2.6: to all-nodes, Override set, Solicited clear, target link-layer option.
    assert (dst, header.destination, header.source) == (ndp.multicast_mac(ndp.ALL_NODES), ndp.ALL_NODES, VIP6)
    assert isinstance(advert, ndp.NeighborAdvertisement)
    assert (advert.override, advert.solicited, advert.router, advert.target_link_layer) == (
        True,
        False,
        False,
        NODE_MAC,
    )


def _ns_with(options: bytes, *, source: ipaddress.IPv6Address = CLIENT6) -> bytes:
    body = b"\x87\x00\x00\x00\x00\x00\x00\x00" + VIP6.packed + options
    value = ndp.checksum(source.packed, VIP6.packed, body)
    return body[:2] + value.to_bytes(2, "big") + body[4:]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(_ns_with(b"\x01\x00" + bytes(6)), "length zero", id="zero-length-option"),
        pytest.param(_ns_with(b"\x01\x02" + bytes(6)), "runs past the end", id="option-overruns"),
        pytest.param(_ns_with(b"\x01"), "middle of an option header", id="one-byte-option-area"),
        pytest.param(_ns_with(b"")[:20], "shorter than an NS/NA", id="truncated"),
        pytest.param(_ns_with(b"")[:2] + b"\x00\x00" + _ns_with(b"")[4:], "checksum", id="bad-checksum"),
        pytest.param(b"\x80" + _ns_with(b"")[1:], "type 128", id="echo-request"),
        pytest.param(b"\x87\x01" + _ns_with(b"")[2:], "code 1", id="nonzero-code"),
    ],
)
def test_decode_message_rejects(message: bytes, error: str) -> None:
    with pytest.raises(FrameError, match=error):
        ndp.decode_message(message, CLIENT6, VIP6)


def test_ipv6_header_rejects() -> None:
    good = ndp.IPv6Header(8, 58, 255, CLIENT6, VIP6).encode()
    with pytest.raises(FrameError, match="version 4"):
        ndp.IPv6Header.decode(b"\x45" + good[1:] + bytes(8))
    with pytest.raises(FrameError, match="exceeds"):
        ndp.IPv6Header.decode(good + bytes(7))
    with pytest.raises(FrameError, match="flow label"):
        ndp.IPv6Header(0, 58, 255, CLIENT6, VIP6, flow_label=1 << 20).encode()
    assert ndp.IPv6Header.decode(good + bytes(10)) == (ndp.IPv6Header(8, 58, 255, CLIENT6, VIP6), bytes(8))


@given(st.binary(max_size=120))
def test_fuzz_decode_frame_raises_only_frame_error(data: bytes) -> None:
    valid = bytes.fromhex(NS_HEX)
    for candidate in (data, valid[:14] + data, valid[:54] + data):
        for chunk in (candidate, *(candidate[:n] for n in range(len(candidate)))):
            with contextlib.suppress(FrameError):
                ndp.decode_frame(chunk)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=77), st.integers(min_value=0, max_value=255))))
def test_fuzz_mutated_solicitations(mutations: list[tuple[int, int]]) -> None:
    frame = bytearray(bytes.fromhex(NS_HEX))
    for offset, value in mutations:
        frame[offset % len(frame)] = value
    with contextlib.suppress(FrameError):
        ndp.decode_frame(bytes(frame))
