"""Messages captured from real routers decode (style anchor 12b, after MetalLB's ``TestPcapInterop``).

``tests/data/bgp/{bird,frr}-session.pcap`` were recorded in the lab by ``capture_lab.py``: BIRD 2.0.12 and FRR
8.4.4 peering with our speaker, sending routes with communities, large communities, MED, prepended AS paths,
IPv6 over MP-BGP and an extended-length COMMUNITIES attribute, withdrawing some, and closing with Cease /
Administrative Shutdown and a message. The TCP streams are reassembled with scapy; every message in both
directions must decode without an error, and decode the same after our own encode.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import DecodeContext
from speaker.bgp.core.messages import Message, Notification, Open, Update, decode_message, message_length

DATA = Path(__file__).resolve().parents[2] / "data" / "bgp"
scapy_all = pytest.importorskip("scapy.all")


def streams(pcap: Path) -> dict[tuple[str, int, str, int], bytes]:
    """Reassembled TCP payload per direction (retransmitted segments counted once)."""
    segments: dict[tuple[str, int, str, int], dict[int, bytes]] = {}
    for packet in scapy_all.rdpcap(str(pcap)):
        if not packet.haslayer(scapy_all.TCP) or not packet.haslayer(scapy_all.IP):
            continue
        tcp = packet[scapy_all.TCP]
        payload = bytes(tcp.payload)
        if payload:
            flow = (packet[scapy_all.IP].src, int(tcp.sport), packet[scapy_all.IP].dst, int(tcp.dport))
            segments.setdefault(flow, {})[int(tcp.seq)] = payload
    out = {}
    for flow, by_seq in segments.items():
        data, expected = b"", None
        for seq in sorted(by_seq):
            if expected is not None and seq < expected:
                continue
            data += by_seq[seq]
            expected = seq + len(by_seq[seq])
        out[flow] = data
    return out


def messages(data: bytes, ctx: DecodeContext) -> list[Message]:
    out = []
    while data:
        length = message_length(data)
        assert length is not None and len(data) >= length
        out.append(decode_message(data[:length], ctx))
        data = data[length:]
    return out


def session(name: str) -> tuple[bytes, bytes]:
    """(router -> us, us -> router) of the connection that carried the session (the longest one)."""
    flows = streams(DATA / f"{name}-session.pcap")
    from_router = max(((f, d) for f, d in flows.items() if f[0] == "192.0.2.1"), key=lambda fd: len(fd[1]))
    (src, sport, dst, dport), router_to_us = from_router
    return router_to_us, flows[(dst, dport, src, sport)]


@pytest.mark.parametrize("name", [pytest.param("bird", id="bird-2.0.12"), pytest.param("frr", id="frr-8.4.4")])
def test_every_captured_message_decodes_and_survives_our_encoder(name: str) -> None:
    router_to_us, us_to_router = session(name)
    seen: Counter[str] = Counter()
    for stream in (router_to_us, us_to_router):
        for message in messages(stream, DecodeContext(four_octet_as=True)):
            seen[type(message).__name__] += 1
            if isinstance(message, Update):
                assert message.errors == (), message.errors
            assert decode_message(message.encode()) == message
    assert {"Open", "Keepalive", "Update", "Notification"} <= set(seen)
    routed = [m for m in messages(router_to_us, DecodeContext()) if isinstance(m, Update)]
    announced = {str(p) for u in routed for p in u.nlri} | {
        str(p) for u in routed if u.attributes.mp_reach for p in u.attributes.mp_reach.nlri
    }
    # FRR also reflects our own 198.51.100.10/32 back (it does no sender-side AS loop detection by default)
    assert announced - {"198.51.100.10/32"} == {"203.0.113.0/25", "203.0.113.128/26", "2001:db8:300::/64"}
    withdrawn = {str(p) for u in routed if u.attributes.mp_unreach for p in u.attributes.mp_unreach.withdrawn}
    # both withdrew the IPv6 route taken away (FRR may also withdraw the rest, IPv4 in MP_UNREACH, before its Cease)
    assert "2001:db8:300::/64" in withdrawn and withdrawn <= announced
    v4 = next(u for u in routed if u.nlri)
    assert 0xFDE80000 | (100 if name == "bird" else 200) in v4.attributes.communities
    assert v4.attributes.large_communities and v4.attributes.med in (50, 70)


@pytest.mark.parametrize("name", [pytest.param("bird", id="bird"), pytest.param("frr", id="frr")])
def test_the_routers_open_and_cease_are_understood(name: str) -> None:
    router_to_us, _ = session(name)
    decoded = messages(router_to_us, DecodeContext())
    (router_open,) = [m for m in decoded if isinstance(m, Open)]
    assert router_open.asn == 64512 and str(router_open.router_id) == "192.0.2.1"
    caps = {c.code for c in router_open.capabilities}
    assert {
        iana.CapabilityCode.MULTIPROTOCOL,
        iana.CapabilityCode.FOUR_OCTET_AS,
        iana.CapabilityCode.ROUTE_REFRESH,
    } <= caps
    cease = decoded[-1]
    assert isinstance(cease, Notification) and (cease.code, cease.subcode) == (6, 2)
    assert cease.shutdown_message in ("end of the capture", "end-of-capture")
