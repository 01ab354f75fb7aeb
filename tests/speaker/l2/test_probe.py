"""Probing before announcing: timing, every kind of claim, what does not count, and classification fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.announce import Purpose
from speaker.l2.core.ethernet import format_mac
from speaker.l2.core.probe import AddressClear, AddressConflict, Claim, ClaimKind, Probe, ProbeConfig, classify
from tests.speaker.l2.helpers import (
    CLIENT4,
    CLIENT_MAC,
    ETH0,
    ETH1,
    NODE_MAC,
    OTHER_NODE_MAC,
    STRANGER_MAC,
    VIP4,
    VIP6,
)

STRANGER = format_mac(STRANGER_MAC)


def finish(probe: Probe) -> list[float]:
    """Run the probe's timers to the end; returns the times at which probes went out."""
    times = []
    while (deadline := probe.next_deadline()) is not None:
        if probe.handle_timer(deadline):
            times.append(deadline)
    return times


def test_three_probes_fifty_ms_apart_then_clear() -> None:
    probe = Probe(VIP4, {"eth0": ETH0, "eth1": ETH1}, 10.0)
    first = probe.handle_timer(10.0)
    assert [(o.ifname, o.purpose) for o in first] == [("eth0", Purpose.PROBE), ("eth1", Purpose.PROBE)]
    assert arp.ArpPacket.decode_frame(first[0].frame).is_probe
    assert finish(probe) == pytest.approx([10.05, 10.10])
    assert probe.outcome == AddressClear(VIP4)
    assert ProbeConfig().duration == pytest.approx(0.15)


def test_ipv6_probes_are_duplicate_address_detection() -> None:
    probe = Probe(VIP6, {"eth0": ETH0}, 0.0)
    (out,) = probe.handle_timer(0.0)
    _, _, header, message = ndp.decode_frame(out.frame)
    assert header.source == ndp.UNSPECIFIED and message == ndp.NeighborSolicitation(VIP6)


def test_a_late_timer_sends_one_round_and_still_waits_after_the_last() -> None:
    probe = Probe(VIP4, {"eth0": ETH0}, 0.0, config=ProbeConfig(count=2, interval=0.1))
    assert len(probe.handle_timer(5.0)) == 1
    assert probe.next_deadline() == pytest.approx(5.1)
    probe.handle_timer(5.1)
    assert probe.outcome is None and probe.next_deadline() == pytest.approx(5.2)
    probe.handle_timer(5.2)
    assert probe.outcome == AddressClear(VIP4)


CLAIMS = [
    pytest.param(
        bytes(Ether(dst=format_mac(NODE_MAC), src=STRANGER) / ARP(op=2, hwsrc=STRANGER, psrc=str(VIP4),
              hwdst=format_mac(NODE_MAC), pdst="0.0.0.0")),
        VIP4, ClaimKind.ARP_SENDER, id="arp-reply-to-our-probe",
    ),
    pytest.param(
        bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=STRANGER)
              / ARP(op=1, hwsrc=STRANGER, psrc=str(VIP4), pdst=str(CLIENT4))),
        VIP4, ClaimKind.ARP_SENDER, id="arp-request-from-the-address",
    ),
    pytest.param(
        bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=STRANGER) / ARP(op=1, hwsrc=STRANGER, psrc="0.0.0.0", pdst=str(VIP4))),
        VIP4, ClaimKind.ARP_PROBE, id="simultaneous-arp-probe",
    ),
    pytest.param(
        bytes(Ether(dst="33:33:00:00:00:01", src=STRANGER) / IPv6(src=str(VIP6), dst="ff02::1", hlim=255)
              / ICMPv6ND_NA(tgt=str(VIP6), O=1) / ICMPv6NDOptDstLLAddr(lladdr=STRANGER)),
        VIP6, ClaimKind.NEIGHBOR_ADVERTISEMENT, id="advertisement-defending-the-address",
    ),
    pytest.param(
        bytes(Ether(dst="33:33:ff:00:00:05", src=STRANGER)
              / IPv6(src="::", dst=str(ndp.solicited_node_address(VIP6)), hlim=255) / ICMPv6ND_NS(tgt=str(VIP6))),
        VIP6, ClaimKind.DAD_SOLICITATION, id="simultaneous-duplicate-address-detection",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "ip", "kind"), CLAIMS)
def test_claims_from_another_mac_are_conflicts(frame: bytes, ip: IPAddress, kind: ClaimKind) -> None:
    assert classify(frame) == Claim(ip.packed, STRANGER_MAC, kind)
    probe = Probe(ip, {"eth0": ETH0}, 0.0)
    probe.handle_timer(0.0)
    claim = classify(frame)
    assert claim is not None
    probe.handle_claim("eth0", claim)
    assert probe.outcome == AddressConflict(ip, "eth0", STRANGER, kind)
    assert probe.next_deadline() is None and probe.handle_timer(1.0) == []


@pytest.mark.parametrize(
    ("claim", "ifname", "ignore"),
    [
        pytest.param(Claim(VIP4.packed, NODE_MAC, ClaimKind.ARP_PROBE), "eth0", (), id="our-own-probe-looped-back"),
        pytest.param(Claim(VIP4.packed, ETH1.mac, ClaimKind.ARP_SENDER), "eth0", (), id="our-other-interface"),
        pytest.param(
            Claim(VIP4.packed, OTHER_NODE_MAC, ClaimKind.ARP_SENDER), "eth0", (OTHER_NODE_MAC,), id="a-known-speaker"
        ),
        pytest.param(Claim(CLIENT4.packed, CLIENT_MAC, ClaimKind.ARP_SENDER), "eth0", (), id="another-address"),
        pytest.param(Claim(VIP4.packed, STRANGER_MAC, ClaimKind.ARP_SENDER), "eth9", (), id="an-interface-not-probed"),
    ],
)
def test_what_does_not_count(claim: Claim, ifname: str, ignore: tuple[bytes, ...]) -> None:
    probe = Probe(VIP4, {"eth0": ETH0, "eth1": ETH1}, 0.0, ignore_macs=ignore)
    probe.handle_timer(0.0)
    probe.handle_claim(ifname, claim)
    assert probe.outcome is None
    finish(probe)
    assert probe.outcome == AddressClear(VIP4)


def test_a_probe_whose_interfaces_all_went_away_ends_clear() -> None:
    probe = Probe(VIP6, {"eth0": ETH0}, 0.0)
    probe.remove_interface("eth0")
    assert finish(probe) == []
    assert probe.outcome == AddressClear(VIP6)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"count": 0}, "count is 0", id="zero-count"),
        pytest.param({"interval": -0.1}, "interval is -0.1", id="negative-interval"),
        pytest.param({"retry_after": 0.0}, "retry_after is 0.0", id="zero-retry"),
    ],
)
def test_config_errors_are_sentences(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProbeConfig(**config)  # type: ignore[arg-type]


def test_classify_ignores_what_says_nothing_about_addresses() -> None:
    assert classify(bytes(Ether(dst="02:00:00:00:00:0b", type=0x0800) / (b"x" * 46))) is None
    assert classify(b"") is None
    reply_to_prober = arp.ArpPacket(arp.ArpOp.REPLY, STRANGER_MAC, arp.UNSPECIFIED, NODE_MAC, VIP4)
    assert classify(arp.packet_frame(NODE_MAC, STRANGER_MAC, reply_to_prober)) is None


@given(st.binary(max_size=100))
def test_fuzz_classify_never_raises(data: bytes) -> None:
    for prefix in (b"", b"\xff" * 12 + b"\x08\x06", b"\xff" * 12 + b"\x86\xdd", CLAIMS[3].values[0][:54]):  # type: ignore[index]
        candidate = prefix + data
        for chunk in (candidate, *(candidate[:n] for n in range(len(candidate)))):
            claim = classify(chunk)
            assert claim is None or len(claim.mac) == 6
