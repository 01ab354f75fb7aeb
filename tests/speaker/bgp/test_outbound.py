"""What a node says: session settings from a BGPPeer, OPEN capabilities, negotiation, and path attributes."""

from __future__ import annotations

import ipaddress
import zlib

import pytest

from ironlb.config.model import BGPPeer, DynamicASN
from speaker.bgp.core import iana
from speaker.bgp.core.attributes import AsPathSegment, EncodeContext, encode_attributes
from speaker.bgp.core.capabilities import (
    ExtendedNextHop,
    FourOctetAs,
    GracefulRestart,
    Multiprotocol,
    Negotiated,
    RouteRefresh,
    UnknownCapability,
    negotiate,
)
from speaker.bgp.core.outbound import (
    ConnectionInfo,
    SessionConfig,
    default_router_id,
    local_capabilities,
    path_attributes,
)
from speaker.bgp.core.rib import RouteAttrs

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
BOTH = frozenset({iana.IPV4_UNICAST, iana.IPV6_UNICAST})


def negotiated(peer_asn: int = 64512, *, four: bool = True, enh: bool = False, families=BOTH) -> Negotiated:  # type: ignore[no-untyped-def]
    return Negotiated(
        peer_asn=peer_asn,
        peer_router_id=V4("192.0.2.1"),
        hold_time=90,
        keepalive_time=30,
        four_octet_as=four,
        families=families,
        route_refresh=True,
        graceful_restart=False,
        extended_next_hop=frozenset({(1, 1, 2)}) if enh else frozenset(),
    )


V4_CONN = ConnectionInfo(
    local=V4("192.0.2.11"), remote=V4("192.0.2.1"), ipv6=V6("2001:db8::11"), ipv6_link_local=V6("fe80::11")
)


def test_from_peer_resolves_local_asn_timers_and_graceful_restart() -> None:
    peer = BGPPeer(
        name="r",
        my_asn=64513,
        local_asn=64999,
        peer_asn=64512,
        peer_address=V4("192.0.2.1"),
        hold_time=30,
        connect_time=5,
        enable_graceful_restart=True,
    )
    cfg = SessionConfig.from_peer(peer, node_name="node1", restart_time=9999)
    assert (cfg.local_asn, cfg.peer_asn, cfg.hold_time, cfg.keepalive_time) == (64999, 64512, 30, 10)
    assert cfg.graceful_restart and cfg.restart_time == iana.MAX_RESTART_TIME
    assert (cfg.connect_retry, cfg.connect_retry_fixed) == (5, 5)


@pytest.mark.parametrize(
    ("local", "nic", "expected"),
    [
        pytest.param(V4("192.0.2.11"), V4("192.0.2.99"), V4("192.0.2.11"), id="the-local-tcp-address-if-ipv4"),
        pytest.param(V6("2001:db8::11"), V4("192.0.2.99"), V4("192.0.2.99"), id="else-an-ipv4-of-the-same-nic"),
        pytest.param(V6("2001:db8::11"), None, V4(zlib.crc32(b"node1")), id="else-the-crc32-of-the-node-name"),
    ],
)
def test_default_router_id_follows_metallb(local: V4 | V6, nic: V4 | None, expected: V4) -> None:
    assert default_router_id(local, nic, "node1") == expected


def test_capabilities_offer_both_families_route_refresh_and_our_as() -> None:
    caps = local_capabilities(SessionConfig(local_asn=4200000001), V4_CONN)
    assert caps == (Multiprotocol(1, 1), Multiprotocol(2, 1), RouteRefresh(), FourOctetAs(4200000001))


def test_graceful_restart_and_extended_next_hop_are_offered_when_they_apply() -> None:
    v6 = ConnectionInfo(local=V6("2001:db8::11"), remote=V6("2001:db8::1"))
    caps = local_capabilities(SessionConfig(local_asn=64513, graceful_restart=True, restart_time=60), v6)
    (gr,) = [c for c in caps if isinstance(c, GracefulRestart)]
    assert gr.restart_time == 60 and not gr.restarting
    assert [(f.afi, f.safi, f.forwarding_preserved) for f in gr.families] == [(1, 1, True), (2, 1, True)]
    assert ExtendedNextHop(((1, 1, 2),)) in caps


@pytest.mark.parametrize(
    ("remote", "families"),
    [
        pytest.param((), {iana.IPV4_UNICAST}, id="no-multiprotocol-at-all-means-ipv4-unicast"),
        pytest.param((Multiprotocol(2, 1),), {iana.IPV6_UNICAST}, id="only-what-both-list"),
        pytest.param((Multiprotocol(1, 1), Multiprotocol(2, 1), Multiprotocol(1, 128)), BOTH, id="extra-is-ignored"),
    ],
)
def test_families_are_the_intersection(remote: tuple[Multiprotocol, ...], families: set[tuple[int, int]]) -> None:
    neg = negotiate(
        local=local_capabilities(SessionConfig(local_asn=64513), V4_CONN),
        remote=remote,
        local_hold=90,
        remote_hold=90,
        keepalive=30,
        remote_my_as=64512,
        remote_router_id=V4("192.0.2.1"),
    )
    assert neg.families == families
    assert not neg.four_octet_as and not neg.route_refresh


def test_negotiation_of_hold_keepalive_and_the_cisco_route_refresh_code() -> None:
    neg = negotiate(
        local=(RouteRefresh(), FourOctetAs(64513)),
        remote=(UnknownCapability(iana.CapabilityCode.ROUTE_REFRESH_CISCO, b""), FourOctetAs(64512)),
        local_hold=90,
        remote_hold=9,
        keepalive=30,
        remote_my_as=64512,
        remote_router_id=V4("192.0.2.1"),
    )
    assert (neg.hold_time, neg.keepalive_time, neg.route_refresh, neg.four_octet_as) == (9, 3, True, True)


def test_ebgp_attributes_carry_our_as_and_no_local_pref() -> None:
    cfg = SessionConfig(local_asn=64513)
    attrs = path_attributes(
        iana.IPV4_UNICAST,
        RouteAttrs(local_pref=300, communities=(5,)),
        config=cfg,
        negotiated=negotiated(),
        connection=V4_CONN,
    )
    assert attrs is not None
    assert attrs.as_path == (AsPathSegment(2, (64513,)),) and attrs.local_pref is None
    assert (attrs.origin, attrs.next_hop, attrs.communities) == (iana.Origin.IGP, V4("192.0.2.11"), (5,))


def test_ibgp_attributes_have_an_empty_path_and_local_pref_100_by_default() -> None:
    cfg = SessionConfig(local_asn=64512)
    attrs = path_attributes(iana.IPV4_UNICAST, RouteAttrs(), config=cfg, negotiated=negotiated(), connection=V4_CONN)
    assert attrs is not None and attrs.as_path == () and attrs.local_pref == 100


def test_graceful_shutdown_adds_the_community_and_zero_local_pref() -> None:
    cfg = SessionConfig(local_asn=64512)
    attrs = path_attributes(
        iana.IPV4_UNICAST,
        RouteAttrs(local_pref=300, communities=(0xFFFFFF01,)),
        config=cfg,
        negotiated=negotiated(),
        connection=V4_CONN,
        draining=True,
    )
    assert attrs is not None and attrs.local_pref == 0
    assert attrs.communities == (0xFFFF0000, 0xFFFFFF01)


def test_a_4_octet_as_towards_an_old_speaker_goes_as_as_trans_plus_as4_path() -> None:
    cfg = SessionConfig(local_asn=4200000001)
    attrs = path_attributes(
        iana.IPV4_UNICAST, RouteAttrs(), config=cfg, negotiated=negotiated(four=False), connection=V4_CONN
    )
    assert attrs is not None and attrs.as4_path == (AsPathSegment(2, (4200000001,)),)
    wire = encode_attributes(attrs, EncodeContext(four_octet_as=False))
    assert bytes.fromhex("40020402015ba0") in wire  # AS_PATH: one AS_TRANS
    assert bytes.fromhex("c0110602 01fa56ea01".replace(" ", "")) in wire  # AS4_PATH: the real AS


def test_ipv6_next_hop_is_global_plus_link_local_only_on_link() -> None:
    cfg = SessionConfig(local_asn=64513)
    attrs = path_attributes(iana.IPV6_UNICAST, RouteAttrs(), config=cfg, negotiated=negotiated(), connection=V4_CONN)
    assert attrs is not None and attrs.mp_reach is not None
    assert attrs.mp_reach.next_hop == (V6("2001:db8::11"), V6("fe80::11"))
    multihop = ConnectionInfo(
        local=V4("192.0.2.11"),
        remote=V4("203.0.113.1"),
        ipv6=V6("2001:db8::11"),
        ipv6_link_local=V6("fe80::11"),
        on_link=False,
    )
    attrs = path_attributes(iana.IPV6_UNICAST, RouteAttrs(), config=cfg, negotiated=negotiated(), connection=multihop)
    assert attrs is not None and attrs.mp_reach is not None and attrs.mp_reach.next_hop == (V6("2001:db8::11"),)


@pytest.mark.parametrize(
    ("family", "connection", "neg"),
    [
        pytest.param(
            iana.IPV6_UNICAST,
            ConnectionInfo(local=V4("192.0.2.11"), remote=V4("192.0.2.1")),
            negotiated(),
            id="ipv6-without-an-ipv6-address",
        ),
        pytest.param(
            iana.IPV4_UNICAST,
            ConnectionInfo(local=V6("2001:db8::11"), remote=V6("2001:db8::1")),
            negotiated(),
            id="ipv4-without-ipv4-and-without-extended-next-hop",
        ),
        pytest.param(
            iana.IPV6_UNICAST, V4_CONN, negotiated(families=frozenset({iana.IPV4_UNICAST})), id="not-negotiated"
        ),
    ],
)
def test_a_family_without_a_usable_next_hop_is_not_announced(
    family: tuple[int, int], connection: ConnectionInfo, neg: Negotiated
) -> None:
    cfg = SessionConfig(local_asn=64513)
    assert path_attributes(family, RouteAttrs(), config=cfg, negotiated=neg, connection=connection) is None


def test_dynamic_asn_peers_are_checked_by_kind() -> None:
    peer = BGPPeer(name="r", my_asn=64512, dynamic_asn=DynamicASN.EXTERNAL, peer_address=V4("192.0.2.1"))
    cfg = SessionConfig.from_peer(peer, node_name="n")
    assert cfg.peer_asn is None and cfg.peer_kind is DynamicASN.EXTERNAL
