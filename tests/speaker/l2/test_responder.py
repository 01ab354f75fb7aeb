"""The answering decision: one row per reason (frames built by scapy), the replies' contents, and fuzzing."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.ethernet import FrameError, format_mac
from speaker.l2.core.responder import DropReason, Interface, Reply, Responder
from tests.speaker.l2.helpers import (
    CLIENT4,
    CLIENT6,
    CLIENT_MAC,
    ETH0,
    NODE_MAC,
    OTHER4,
    OTHER6,
    STRANGER_MAC,
    VIP4,
    VIP6,
    ipv4s,
    macs,
)

NODE = format_mac(NODE_MAC)
CLIENT = format_mac(CLIENT_MAC)
BCAST = "ff:ff:ff:ff:ff:ff"
EVERYWHERE: dict[IPAddress, frozenset[str] | None] = {VIP4: None, VIP6: None}
ONLY_ETH1: dict[IPAddress, frozenset[str] | None] = {VIP4: frozenset({"eth1"}), VIP6: frozenset({"eth1"})}
ONLY_ETH0: dict[IPAddress, frozenset[str] | None] = {VIP4: frozenset({"eth0"}), VIP6: frozenset({"eth0"})}


def arp_frame(
    *,
    dst: str = BCAST,
    op: int = 1,
    hwsrc: str = CLIENT,
    psrc: str = str(CLIENT4),
    pdst: str = str(VIP4),
    **fields: Any,
) -> bytes:
    return bytes(Ether(dst=dst, src=hwsrc) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, pdst=pdst, **fields))


def group_mac(target: ipaddress.IPv6Address = VIP6) -> str:
    return format_mac(ndp.multicast_mac(ndp.solicited_node_address(target)))


def ns_frame(
    *,
    target: ipaddress.IPv6Address = VIP6,
    src: str = str(CLIENT6),
    dst: str | None = None,
    eth_dst: str | None = None,
    eth_src: str = CLIENT,
    hlim: int = 255,
    lladdr: str | None = CLIENT,
    **icmp: Any,
) -> bytes:
    dst = dst or str(ndp.solicited_node_address(target))
    packet = Ether(dst=eth_dst or group_mac(target), src=eth_src) / IPv6(src=src, dst=dst, hlim=hlim)
    packet = packet / ICMPv6ND_NS(tgt=str(target), **icmp)
    if lladdr is not None:
        packet = packet / ICMPv6NDOptSrcLLAddr(lladdr=lladdr)
    return bytes(packet)


ROWS = [
    # ARP (RFC 826, MetalLB semantics)
    pytest.param(arp_frame(), EVERYWHERE, None, id="arp-answers-broadcast-request-for-owned-address"),
    pytest.param(arp_frame(dst=NODE), EVERYWHERE, None, id="arp-answers-request-sent-to-our-mac"),
    pytest.param(arp_frame(psrc="0.0.0.0"), EVERYWHERE, None, id="arp-answers-a-probe-for-our-address"),
    pytest.param(arp_frame(), ONLY_ETH0, None, id="arp-answers-on-an-allowed-interface"),
    pytest.param(arp_frame(op=2, dst=NODE), EVERYWHERE, DropReason.NOT_REQUEST, id="arp-reply-is-not-a-request"),
    pytest.param(arp_frame(dst=format_mac(STRANGER_MAC)), EVERYWHERE, DropReason.NOT_FOR_US, id="arp-to-another-mac"),
    pytest.param(arp_frame(pdst=str(OTHER4)), EVERYWHERE, DropReason.NOT_OWNED, id="arp-for-an-address-not-owned"),
    pytest.param(arp_frame(), ONLY_ETH1, DropReason.INTERFACE_NOT_ALLOWED, id="arp-on-an-interface-not-allowed"),
    pytest.param(arp_frame(psrc=str(VIP4)), EVERYWHERE, DropReason.ANNOUNCEMENT, id="arp-someone-elses-announcement"),
    pytest.param(arp_frame(hwsrc=NODE), EVERYWHERE, DropReason.FROM_SELF, id="arp-sent-with-our-own-mac"),
    pytest.param(arp_frame(hwsrc="01:00:5e:00:00:01"), EVERYWHERE, DropReason.BAD_SENDER, id="arp-multicast-sender"),
    pytest.param(arp_frame(hwsrc="00:00:00:00:00:00"), EVERYWHERE, DropReason.BAD_SENDER, id="arp-zero-sender"),
    pytest.param(arp_frame()[:41], EVERYWHERE, DropReason.MALFORMED, id="arp-truncated"),
    pytest.param(arp_frame(hwtype=6), EVERYWHERE, DropReason.UNSUPPORTED_PROTOCOL, id="arp-not-ethernet"),
    pytest.param(b"", EVERYWHERE, DropReason.MALFORMED, id="empty-frame"),
    pytest.param(
        bytes(Ether(dst="02:00:00:00:00:0b", type=0x0800) / (b"x" * 46)),
        EVERYWHERE,
        DropReason.UNSUPPORTED_PROTOCOL,
        id="ipv4",
    ),
    # NDP (RFC 4861)
    pytest.param(ns_frame(), EVERYWHERE, None, id="ns-answers-multicast-solicitation"),
    pytest.param(ns_frame(eth_dst=NODE), EVERYWHERE, None, id="ns-answers-group-address-to-our-mac"),
    pytest.param(ns_frame(dst=str(VIP6), eth_dst=NODE), EVERYWHERE, None, id="ns-answers-unicast-nud-probe"),
    pytest.param(ns_frame(src="::", lladdr=None), EVERYWHERE, None, id="ns-defends-against-dad-probe"),
    pytest.param(ns_frame(), ONLY_ETH0, None, id="ns-answers-on-an-allowed-interface"),
    pytest.param(
        bytes(
            Ether(dst=NODE, src=CLIENT)
            / IPv6(src=str(CLIENT6), dst=str(VIP6), hlim=255)
            / ICMPv6ND_NA(tgt=str(VIP6))
            / ICMPv6NDOptDstLLAddr(lladdr=CLIENT)
        ),
        EVERYWHERE,
        DropReason.NOT_REQUEST,
        id="ns-advertisement-is-not-a-request",
    ),
    pytest.param(ns_frame(hlim=64), EVERYWHERE, DropReason.HOP_LIMIT, id="ns-hop-limit-not-255"),
    pytest.param(ns_frame(cksum=0x1234), EVERYWHERE, DropReason.BAD_CHECKSUM, id="ns-bad-checksum"),
    pytest.param(ns_frame(code=1), EVERYWHERE, DropReason.MALFORMED, id="ns-code-not-zero"),
    pytest.param(ns_frame(lladdr=None), EVERYWHERE, DropReason.NO_SOURCE_LINK_LAYER, id="ns-without-source-lla"),
    pytest.param(ns_frame(target=OTHER6), EVERYWHERE, DropReason.NOT_OWNED, id="ns-for-an-address-not-owned"),
    pytest.param(ns_frame(), ONLY_ETH1, DropReason.INTERFACE_NOT_ALLOWED, id="ns-on-an-interface-not-allowed"),
    pytest.param(
        ns_frame(dst=str(ndp.solicited_node_address(OTHER6)), eth_dst=group_mac(OTHER6)),
        EVERYWHERE,
        DropReason.NOT_FOR_US,
        id="ns-to-another-addresses-group",
    ),
    pytest.param(ns_frame(eth_dst="33:33:ff:00:00:99"), EVERYWHERE, DropReason.NOT_FOR_US, id="ns-wrong-group-mac"),
    pytest.param(
        ns_frame(dst=str(VIP6), eth_dst=format_mac(STRANGER_MAC)),
        EVERYWHERE,
        DropReason.NOT_FOR_US,
        id="ns-unicast-to-another-mac",
    ),
    pytest.param(
        ns_frame(dst=str(OTHER6), eth_dst=NODE), EVERYWHERE, DropReason.NOT_FOR_US, id="ns-unicast-to-another-address"
    ),
    pytest.param(ns_frame(eth_src=NODE, lladdr=NODE), EVERYWHERE, DropReason.FROM_SELF, id="ns-from-our-own-mac"),
    pytest.param(ns_frame(src="::"), EVERYWHERE, DropReason.INVALID_SOLICITATION, id="ns-dad-with-source-lla"),
    pytest.param(
        ns_frame(src="::", lladdr=None, dst=str(VIP6), eth_dst=NODE),
        EVERYWHERE,
        DropReason.INVALID_SOLICITATION,
        id="ns-dad-not-to-the-group",
    ),
    pytest.param(
        ns_frame(target=ipaddress.IPv6Address("ff02::1:ff00:5")),
        {ipaddress.IPv6Address("ff02::1:ff00:5"): None},
        DropReason.INVALID_SOLICITATION,
        id="ns-multicast-target",
    ),
    pytest.param(ns_frame(lladdr="33:33:00:00:00:01"), EVERYWHERE, DropReason.BAD_SENDER, id="ns-multicast-source-lla"),
    pytest.param(
        bytes(
            Ether(dst=group_mac(), src=CLIENT)
            / IPv6(src=str(CLIENT6), dst=str(ndp.solicited_node_address(VIP6)), hlim=255)
            / ICMPv6ND_NS(tgt=str(VIP6))
            / Raw(b"\x01\x00" + bytes(6))
        ),
        EVERYWHERE,
        DropReason.MALFORMED,
        id="ns-zero-length-option",
    ),
    pytest.param(ns_frame()[:70], EVERYWHERE, DropReason.MALFORMED, id="ns-truncated"),
    pytest.param(
        bytes(
            Ether(dst=group_mac(), src=CLIENT)
            / IPv6(src=str(CLIENT6), dst=str(ndp.solicited_node_address(VIP6)), hlim=255)
            / IPv6ExtHdrHopByHop()
            / ICMPv6ND_NS(tgt=str(VIP6))
            / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT)
        ),
        EVERYWHERE,
        DropReason.UNSUPPORTED_PROTOCOL,
        id="ns-behind-an-extension-header",
    ),
]


@pytest.mark.parametrize(("frame", "table", "reason"), ROWS)
def test_decision(frame: bytes, table: dict[IPAddress, frozenset[str] | None], reason: DropReason | None) -> None:
    result = Responder(table).answer(frame, ETH0)
    if reason is None:
        assert isinstance(result, Reply), result
    else:
        assert result is reason


def test_arp_reply_contents() -> None:
    result = Responder(EVERYWHERE).answer(arp_frame(), ETH0)
    assert isinstance(result, Reply) and result.address == VIP4.packed
    reply = Ether(result.frame)
    assert (reply.dst, reply.src, len(result.frame)) == (CLIENT, NODE, 60)
    assert (reply[ARP].op, reply[ARP].hwsrc, reply[ARP].psrc) == (2, NODE, str(VIP4))
    assert (reply[ARP].hwdst, reply[ARP].pdst) == (CLIENT, str(CLIENT4))


def test_arp_probe_is_answered_to_the_prober() -> None:
    result = Responder(EVERYWHERE).answer(arp_frame(psrc="0.0.0.0"), ETH0)
    assert isinstance(result, Reply)
    reply = Ether(result.frame)
    assert (reply.dst, reply[ARP].op, reply[ARP].psrc, reply[ARP].pdst) == (CLIENT, 2, str(VIP4), "0.0.0.0")


def test_solicited_advertisement_contents() -> None:
    result = Responder(EVERYWHERE).answer(ns_frame(), ETH0)
    assert isinstance(result, Reply) and result.address == VIP6.packed
    reply = Ether(result.frame)
    na = reply[ICMPv6ND_NA]
    assert (reply.dst, reply.src) == (CLIENT, NODE)
    assert (reply[IPv6].src, reply[IPv6].dst, reply[IPv6].hlim) == (str(VIP6), str(CLIENT6), 255)
    assert (na.R, na.S, na.O, na.tgt) == (0, 1, 1, str(VIP6))
    assert reply[ICMPv6NDOptDstLLAddr].lladdr == NODE
    checksum = na.cksum
    del na.cksum
    assert Ether(bytes(reply))[ICMPv6ND_NA].cksum == checksum


def test_dad_probe_is_answered_to_all_nodes_without_solicited_flag() -> None:
    result = Responder(EVERYWHERE).answer(ns_frame(src="::", lladdr=None), ETH0)
    assert isinstance(result, Reply)
    reply = Ether(result.frame)
    assert (reply.dst, reply[IPv6].dst) == ("33:33:00:00:00:01", "ff02::1")
    assert (reply[ICMPv6ND_NA].S, reply[ICMPv6ND_NA].O) == (0, 1)  # RFC 4861 section 7.2.4


def test_table_is_replaced_and_read_only() -> None:
    responder = Responder(EVERYWHERE)
    responder.set_table({VIP4: frozenset({"eth0"})})
    assert responder.owns(VIP4) and not responder.owns(VIP6)
    assert dict(responder.table) == {VIP4: frozenset({"eth0"})}
    assert responder.answer(ns_frame(), ETH0) is DropReason.NOT_OWNED
    with pytest.raises(TypeError):
        responder.table[VIP6] = None  # type: ignore[index]


@given(sha=macs.filter(lambda m: not m[0] & 1 and any(m) and m != ETH0.mac), spa=ipv4s, broadcast=st.booleans())
def test_fast_arp_reply_equals_the_object_codec(sha: bytes, spa: ipaddress.IPv4Address, broadcast: bool) -> None:
    frame = arp.packet_frame(b"\xff" * 6 if broadcast else ETH0.mac, sha, arp.ArpPacket(1, sha, spa, bytes(6), VIP4))
    result = Responder(EVERYWHERE).answer(frame, ETH0)
    if spa == VIP4:
        assert result is DropReason.ANNOUNCEMENT
        return
    assert isinstance(result, Reply)
    assert result.frame == arp.reply_frame(ETH0.mac, arp.ArpPacket.decode_frame(frame))


VALID = [arp_frame(), ns_frame(), ns_frame(src="::", lladdr=None), ns_frame(dst=str(VIP6), eth_dst=NODE)]


def _check(result: Reply | DropReason, table: dict[IPAddress, frozenset[str] | None]) -> None:
    if isinstance(result, DropReason):
        return
    # Whatever the input, a reply is a well-formed frame for an owned address.
    assert ipaddress.ip_address(result.address) in table
    try:
        arp.ArpPacket.decode_frame(result.frame)
    except FrameError:
        ndp.decode_frame(result.frame)


@given(st.binary(max_size=120), st.sampled_from([EVERYWHERE, ONLY_ETH0, ONLY_ETH1]))
def test_fuzz_arbitrary_bytes_never_raise(data: bytes, table: dict[IPAddress, frozenset[str] | None]) -> None:
    responder = Responder(table)
    for prefix in (b"", b"\xff" * 12 + b"\x08\x06", b"\xff" * 12 + b"\x86\xdd", VALID[1][:54]):
        candidate = prefix + data
        for chunk in (candidate, *(candidate[:n] for n in range(len(candidate)))):
            _check(responder.answer(chunk, ETH0), table)


@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255)), max_size=6),
    st.sampled_from([Interface("eth0", NODE_MAC), Interface("eth1", CLIENT_MAC)]),
)
def test_fuzz_mutated_requests_never_raise(frame: bytes, mutations: list[tuple[int, int]], iface: Interface) -> None:
    data = bytearray(frame)
    for offset, value in mutations:
        data[offset % len(data)] = value
    _check(Responder(EVERYWHERE).answer(bytes(data), iface), EVERYWHERE)
