"""ARP and Ethernet codecs: vectors both ways, the four frame forms we send, scapy cross-checks, fuzzing."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.l2 import ARP, Ether

from speaker.l2.core import arp
from speaker.l2.core.ethernet import (
    BROADCAST,
    ZERO_MAC,
    EthernetHeader,
    EtherType,
    FrameError,
    format_mac,
    is_unicast_mac,
    parse_mac,
)
from tests.speaker.l2.helpers import CLIENT4, CLIENT_MAC, NODE_MAC, VIP4, ipv4s, macs

# (hex of the 28-byte ARP packet, the packet): RFC 826 field order, big-endian.
VECTORS = [
    pytest.param(
        "0001080006040001" "020000000064" "c0000264" "000000000000" "c6336405",
        arp.ArpPacket(arp.ArpOp.REQUEST, CLIENT_MAC, CLIENT4, ZERO_MAC, VIP4),
        id="who-has-vip-tell-client",
    ),
    pytest.param(
        "0001080006040002" "02000000000b" "c6336405" "020000000064" "c0000264",
        arp.ArpPacket(arp.ArpOp.REPLY, NODE_MAC, VIP4, CLIENT_MAC, CLIENT4),
        id="vip-is-at-node",
    ),
    pytest.param(
        "0001080006040001" "02000000000b" "00000000" "000000000000" "c6336405",
        arp.ArpPacket(arp.ArpOp.REQUEST, NODE_MAC, arp.UNSPECIFIED, ZERO_MAC, VIP4),
        id="probe-from-zero-address",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("hexdata", "packet"), VECTORS)
def test_vectors_both_ways(hexdata: str, packet: arp.ArpPacket) -> None:
    assert packet.encode().hex() == hexdata
    assert arp.ArpPacket.decode(bytes.fromhex(hexdata)) == packet


def test_decode_ignores_ethernet_padding() -> None:
    data = bytes.fromhex(str(VECTORS[0].values[0])) + bytes(18)
    assert arp.ArpPacket.decode(data) == VECTORS[0].values[1]


@pytest.mark.parametrize(
    ("hexdata", "message"),
    [
        pytest.param("0001080006040001" + "00" * 19, "shorter than 28", id="truncated"),
        pytest.param("0006080006040001" + "00" * 20, "hardware type 6", id="token-ring-hardware"),
        pytest.param("000186dd06040001" + "00" * 20, "protocol 0x86dd", id="ipv6-protocol-type"),
        pytest.param("0001080006100001" + "00" * 20, "lengths 6/16", id="wrong-protocol-length"),
    ],
)
def test_decode_rejects(hexdata: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        arp.ArpPacket.decode(bytes.fromhex(hexdata))


def test_frame_builders_have_the_rfc_forms() -> None:
    # RFC 5227 section 2.3: announcement request form, sender IP = target IP, target MAC zero, broadcast.
    garp_request = Ether(arp.announcement_request_frame(NODE_MAC, VIP4))
    assert (garp_request.dst, garp_request[ARP].op) == ("ff:ff:ff:ff:ff:ff", 1)
    assert garp_request[ARP].psrc == garp_request[ARP].pdst == str(VIP4)
    assert garp_request[ARP].hwdst == "00:00:00:00:00:00"
    # RFC 5944 section 4.6: reply form with target hardware address = the new link-layer address.
    garp_reply = Ether(arp.announcement_reply_frame(NODE_MAC, VIP4))
    assert (garp_reply.dst, garp_reply[ARP].op) == ("ff:ff:ff:ff:ff:ff", 2)
    assert garp_reply[ARP].hwdst == garp_reply[ARP].hwsrc == format_mac(NODE_MAC)
    # RFC 5227 section 2.1.1: probe from 0.0.0.0.
    probe = arp.ArpPacket.decode_frame(arp.probe_frame(NODE_MAC, VIP4))
    assert probe.is_probe and not probe.is_announcement
    assert arp.ArpPacket.decode_frame(arp.announcement_request_frame(NODE_MAC, VIP4)).is_announcement
    # Everything we send is padded to the Ethernet minimum.
    assert {len(arp.request_frame(CLIENT_MAC, CLIENT4, VIP4)), len(garp_request), len(garp_reply)} == {60}


def test_reply_answers_the_requester() -> None:
    request = arp.ArpPacket.decode_frame(arp.request_frame(CLIENT_MAC, CLIENT4, VIP4))
    reply = Ether(arp.reply_frame(NODE_MAC, request))
    assert (reply.dst, reply.src) == (format_mac(CLIENT_MAC), format_mac(NODE_MAC))
    assert (reply[ARP].op, reply[ARP].hwsrc, reply[ARP].psrc) == (2, format_mac(NODE_MAC), str(VIP4))
    assert (reply[ARP].hwdst, reply[ARP].pdst) == (format_mac(CLIENT_MAC), str(CLIENT4))


@given(op=st.sampled_from([1, 2]), sha=macs, spa=ipv4s, tha=macs, tpa=ipv4s)
def test_scapy_parses_what_we_build(
    op: int, sha: bytes, spa: ipaddress.IPv4Address, tha: bytes, tpa: ipaddress.IPv4Address
) -> None:
    frame = arp.packet_frame(BROADCAST, sha, arp.ArpPacket(op, sha, spa, tha, tpa))
    parsed = Ether(frame)[ARP]
    assert (parsed.hwtype, parsed.ptype, parsed.hwlen, parsed.plen) == (1, 0x0800, 6, 4)
    assert (parsed.op, parsed.hwsrc, parsed.psrc, parsed.hwdst, parsed.pdst) == (
        op, format_mac(sha), str(spa), format_mac(tha), str(tpa),
    )  # fmt: skip


@given(op=st.sampled_from([1, 2]), sha=macs, spa=ipv4s, tha=macs, tpa=ipv4s)
def test_we_parse_what_scapy_builds(
    op: int, sha: bytes, spa: ipaddress.IPv4Address, tha: bytes, tpa: ipaddress.IPv4Address
) -> None:
    frame = bytes(
        Ether(dst="ff:ff:ff:ff:ff:ff", src=format_mac(sha))
        / ARP(op=op, hwsrc=format_mac(sha), psrc=str(spa), hwdst=format_mac(tha), pdst=str(tpa))
    )
    assert arp.ArpPacket.decode_frame(frame) == arp.ArpPacket(op, sha, spa, tha, tpa)


@given(st.binary(max_size=80))
def test_fuzz_decode_raises_only_frame_error(data: bytes) -> None:
    for chunk in (data, *(data[:n] for n in range(len(data)))):
        try:
            arp.ArpPacket.decode(chunk)
            arp.ArpPacket.decode_frame(chunk)
        except FrameError:
            pass


@given(st.binary(max_size=40))
def test_fuzz_ethernet_header_raises_only_frame_error(data: bytes) -> None:
    for chunk in (data, *(data[:n] for n in range(len(data)))):
        try:
            header, payload = EthernetHeader.decode(chunk)
        except FrameError:
            continue
        assert header.encode() + payload == chunk


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        pytest.param("02:00:00:00:00:0b", True, id="colons"),
        pytest.param("02-00-00-00-00-0B", True, id="dashes-upper-case"),
        pytest.param("02:00:00:00:00", False, id="five-octets"),
        pytest.param("02:00:00:00:00:0g", False, id="not-hex"),
        pytest.param("2:0:0:0:0:b", False, id="single-digit-octets"),
    ],
)
def test_parse_mac(text: str, ok: bool) -> None:
    if ok:
        assert parse_mac(text) == NODE_MAC
    else:
        with pytest.raises(FrameError, match="not a MAC address"):
            parse_mac(text)


def test_unicast_mac_and_header_checks() -> None:
    assert is_unicast_mac(NODE_MAC)
    assert not is_unicast_mac(BROADCAST)
    assert not is_unicast_mac(ZERO_MAC)
    with pytest.raises(FrameError, match="not an Ethernet II type"):
        EthernetHeader(BROADCAST, NODE_MAC, 0x05DC).encode()
    with pytest.raises(FrameError, match=r"802\.3 length"):
        EthernetHeader.decode(BROADCAST + NODE_MAC + b"\x00\x2e")
    assert EthernetHeader.decode(BROADCAST + NODE_MAC + b"\x08\x06")[0].ethertype == EtherType.ARP
