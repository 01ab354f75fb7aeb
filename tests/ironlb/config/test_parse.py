"""What a valid configuration becomes: defaults, references resolved, MetalLB's documented examples, merging.

The rules that reject input are in test_errors.py; here every row is accepted and the resulting model is checked.
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from ironlb.api.selectors import LabelSelector
from ironlb.config import (
    BFDProfile,
    Community,
    CommunityKind,
    Config,
    ConfigSources,
    DynamicASN,
    ParseResult,
    SecretRef,
    parse,
)
from ironlb.config.peers import DISABLE_MP_WARNING
from ironlb.ctl.inputs import read_inputs

NS = "metallb-system"
DATA = Path(__file__).parents[2] / "data" / "config"
FIXTURES = sorted(DATA.glob("*.yaml"))


def obj(
    kind: str, name: str, spec: dict[str, Any] | None = None, *, version: str = "v1beta1", **meta: Any
) -> dict[str, Any]:
    made: dict[str, Any] = {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, **meta},
    }
    if spec is not None:
        made["spec"] = spec
    return made


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses) or ["192.0.2.0/24"], **spec})


def peer(name: str = "router", *, version: str = "v1beta2", **spec: Any) -> dict[str, Any]:
    return obj("BGPPeer", name, {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1", **spec}, version=version)


def ok(*objects: dict[str, Any], **sources: Any) -> Config:
    result = parse(ConfigSources(objects=list(objects), **sources))
    assert result.errors == (), "\n".join(e.message for e in result.errors)
    assert result.config is not None
    return result.config


def load_fixture(path: Path) -> ParseResult:
    inputs = read_inputs([str(path)], namespace=NS)
    assert inputs.problems == []
    return parse(
        ConfigSources(
            objects=inputs.objects,
            legacy_config=inputs.legacy_config,
            namespace_labels=inputs.namespace_labels,
            secrets=inputs.secrets,
        )
    )


# -- the hand-written example configurations -------------------------------------------------------------------
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in FIXTURES])
def test_every_example_configuration_loads(path: Path) -> None:
    result = load_fixture(path)
    assert result.errors == (), "\n".join(e.message for e in result.errors)
    assert result.config is not None
    assert result.config.pools


def test_the_seed_walkthrough() -> None:
    config = load_fixture(DATA / "seed-first-pool.yaml").config
    assert config is not None
    first = config.pools["first-pool"]
    assert first.contains(ipaddress.ip_address("10.244.244.100"))
    assert first.contains(ipaddress.ip_address("10.244.244.200"))
    assert not first.contains(ipaddress.ip_address("10.244.244.201"))
    assert sum(c.num_addresses for c in first.cidrs) == 101
    assert first.auto_assign and not first.avoid_buggy_ips and first.allocation is None
    (example,) = config.l2_advertisements
    assert example.name == "example" and example.pools == {"first-pool"}
    assert example.selects_node({}) and example.interfaces == ()


def test_bgp_example_resolves_aliases_and_keeps_both_announcements() -> None:
    config = load_fixture(DATA / "bgp-communities.yaml").config
    assert config is not None
    local, external = sorted(config.bgp_advertisements, key=lambda a: a.name != "local")
    assert local.local_pref == 100 and local.aggregation_length == 32
    assert local.communities == (
        Community(CommunityKind.LARGE, (64500, 1, 2)),
        Community(CommunityKind.STANDARD, (65535, 65281)),
        Community(CommunityKind.STANDARD, (65535, 65282)),
    )
    assert external.aggregation_length == 24 and external.local_pref is None
    assert external.communities == (Community(CommunityKind.LARGE, (64500, 100, 1)),)
    assert set(config.communities) == {"no-export", "customer"}


def test_service_allocation_example() -> None:
    config = load_fixture(DATA / "service-allocation.yaml").config
    assert config is not None
    tenant = config.pools["tenant"].allocation
    assert tenant is not None and tenant.priority == 50
    assert tenant.namespaces == frozenset({"namespace-a", "namespace-b", "red-team-apps"})
    assert tenant.admits("red-team-apps", {"app": "bar"})
    assert not tenant.admits("red-team-apps", {"app": "foo"})
    assert not tenant.admits("blue-team-apps", {"app": "bar"})
    web = config.pools["web"].allocation
    assert web is not None and web.namespaces is None and web.priority == 10
    assert web.admits("anywhere", {"tier": "web"}) and not web.admits("anywhere", {})
    fallback = config.pools["fallback"].allocation
    assert fallback is not None and fallback.namespaces is None and fallback.admits("x", {})


def test_advanced_bgp_example_carries_what_native_metallb_rejects() -> None:
    config = load_fixture(DATA / "bgp-advanced.yaml").config
    assert config is not None
    peers = {p.name: p for p in config.peers}
    tor_a, tor_b, unnumbered, old = peers["tor-a"], peers["tor-b"], peers["unnumbered"], peers["old-style"]
    assert tor_a.password == "s3cr3t" and tor_a.password_secret == SecretRef(NS, "bgp-password")
    assert "s3cr3t" not in repr(tor_a)
    assert (tor_a.hold_time, tor_a.keepalive_time, tor_a.connect_time) == (9.0, 3.0, 5.0)
    assert tor_a.bfd_profile == "fast" and tor_a.enable_graceful_restart and tor_a.is_ibgp is True
    assert tor_a.router_id == ipaddress.IPv4Address("192.0.2.11")
    assert tor_b.dynamic_asn is DynamicASN.EXTERNAL and tor_b.peer_asn is None and tor_b.is_ibgp is False
    assert tor_b.ebgp_multihop and tor_b.dual_stack_address_family
    assert unnumbered.interface == "eth1" and unnumbered.peer_address is None
    assert unnumbered.local_asn == 65100 and unnumbered.vrf == "red" and unnumbered.is_ibgp is False
    assert old.peer_port == 1790 and old.hold_time == 30.0 and old.keepalive_time is None
    assert old.timers() == (30.0, 10.0) and old.password == "plain-text"
    assert config.bfd_profiles["fast"] == BFDProfile("fast", 100, 100, 3, 50, False, False, 254)
    (ad,) = config.bgp_advertisements
    assert ad.peers == ("tor-a", "tor-b") and ad.selects_peer("tor-a") and not ad.selects_peer("old-style")


def test_dual_stack_example() -> None:
    config = load_fixture(DATA / "dual-stack.yaml").config
    assert config is not None
    assert {f.value for f in config.pools["dual"].families} == {"IPv4", "IPv6"}
    (ad,) = config.bgp_advertisements
    assert (ad.aggregation_length, ad.aggregation_length_v6) == (26, 124)
    assert config.pools["v6-only"].cidrs == (ipaddress.ip_network("2001:db8:43::10/124"),)


# -- defaults and resolution ------------------------------------------------------------------------------------
def test_defaults_are_applied_once_here() -> None:
    config = ok(
        pool("p"),
        obj("BGPAdvertisement", "ad"),
        obj("BFDProfile", "b"),
        peer(),
        obj("L2Advertisement", "l2"),
    )
    (ad,) = config.bgp_advertisements
    assert (ad.aggregation_length, ad.aggregation_length_v6, ad.local_pref, ad.peers) == (32, 128, None, ())
    assert config.bfd_profiles["b"] == BFDProfile("b")
    (router,) = config.peers
    assert router.peer_port == 179 and router.timers() == (90.0, 30.0) and router.hold_time is None
    assert config.pools["p"].auto_assign is True


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, {"a", "b", "c"}, id="no-selection-means-every-pool"),
        pytest.param({"ipAddressPools": ["a"]}, {"a"}, id="by-name"),
        pytest.param({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "gold"}}]}, {"b", "c"}, id="by-label"),
        pytest.param(
            {"ipAddressPools": ["a"], "ipAddressPoolSelectors": [{"matchLabels": {"tier": "gold"}}]},
            {"a", "b", "c"},
            id="name-and-label-are-a-union",
        ),
        pytest.param(
            {"ipAddressPoolSelectors": [{"matchLabels": {"tier": "none"}}]}, set(), id="selector-matching-nothing"
        ),
        pytest.param(
            {
                "ipAddressPoolSelectors": [
                    {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}
                ]
            },
            {"a"},
            id="not-in-matches-pools-without-the-label",
        ),
    ],
)
def test_pool_selection(spec: dict[str, Any], expected: set[str]) -> None:
    config = ok(
        pool("a", "192.0.2.0/26"),
        obj("IPAddressPool", "b", {"addresses": ["192.0.2.64/26"]}, labels={"tier": "gold"}),
        obj("IPAddressPool", "c", {"addresses": ["192.0.2.128/26"]}, labels={"tier": "gold"}),
        obj("L2Advertisement", "l2", spec),
        obj("BGPAdvertisement", "bgp", spec),
    )
    assert config.l2_advertisements[0].pools == expected
    assert config.bgp_advertisements[0].pools == expected


def test_l2_advertisement_fields() -> None:
    config = ok(
        pool("p"),
        obj(
            "L2Advertisement",
            "l2",
            {
                "interfaces": ["eth1", "eth0", "eth1"],
                "nodeSelectors": [{"matchLabels": {"b": "2"}}, {"matchLabels": {"a": "1"}}],
                "serviceSelectors": [{"matchLabels": {"app": "web"}}],
                "preferredNodeSelectors": [{"weight": 30, "preference": {"matchLabels": {"zone": "a"}}}],
            },
        ),
    )
    (l2,) = config.l2_advertisements
    assert l2.interfaces == ("eth0", "eth1")
    assert [str(s) for s in l2.node_selectors] == ["a=1", "b=2"]
    assert l2.selects_node({"b": "2"}) and not l2.selects_node({"c": "3"})
    assert l2.selects_service({"app": "web"}) and not l2.selects_service({})
    assert l2.preferred_nodes[0].weight == 30 and l2.preferred_nodes[0].selector == LabelSelector.parse("zone=a")


def test_namespace_selectors_resolve_against_namespace_labels() -> None:
    spec = {"serviceAllocation": {"namespaceSelectors": [{"matchLabels": {"team": "red"}}]}}
    labels = {"one": {"team": "red"}, "two": {"team": "blue"}, "three": {"team": "red", "x": "y"}}
    config = ok(pool("p", **spec), namespace_labels=labels)
    allocation = config.pools["p"].allocation
    assert allocation is not None and allocation.namespaces == frozenset({"one", "three"})
    nobody = ok(pool("p", **spec))
    assert nobody.pools["p"].allocation is not None and nobody.pools["p"].allocation.namespaces == frozenset()


@pytest.mark.parametrize(
    ("secret_body", "expected"),
    [
        pytest.param({"data": {"password": base64.b64encode(b"from-data").decode()}}, "from-data", id="base64-data"),
        pytest.param({"stringData": {"password": "from-string-data"}}, "from-string-data", id="string-data"),
        pytest.param(
            {"data": {"password": base64.b64encode(b"old").decode()}, "stringData": {"password": "new"}},
            "new",
            id="string-data-wins-as-in-the-api",
        ),
    ],
)
def test_password_secret_is_resolved(secret_body: dict[str, Any], expected: str) -> None:
    secret = {"type": "kubernetes.io/basic-auth", "metadata": {"name": "s", "namespace": NS}, **secret_body}
    config = ok(peer(passwordSecret={"name": "s"}), secrets={(NS, "s"): secret})
    assert config.peers[0].password == expected


def test_native_only_rejections_are_accepted_and_carried() -> None:
    """Everything MetalLB's native mode refuses (metallb.md 1.8) parses, because ironlb implements it."""
    config = ok(
        pool("v6", "2001:db8::/120"),
        obj("BGPAdvertisement", "ad", {"communities": ["large:1:2:3"], "aggregationLengthV6": 124}),
        obj("BFDProfile", "bfd", {"echoMode": False, "passiveMode": True}),
        peer(
            "full",
            bfdProfile="bfd",
            keepaliveTime="10s",
            holdTime="30s",
            connectTime="7s",
            enableGracefulRestart=True,
            ebgpMultiHop=True,
            vrf="blue",
            dualStackAddressFamily=True,
            localASN=65010,
            disableMP=True,
        ),
        peer("dyn", peerASN=None, dynamicASN="internal", peerAddress=None, interface="eth2"),
    )
    full = next(p for p in config.peers if p.name == "full")
    assert (full.keepalive_time, full.connect_time, full.vrf, full.local_asn) == (10.0, 7.0, "blue", 65010)
    assert full.disable_mp and full.ebgp_multihop and full.enable_graceful_restart and full.dual_stack_address_family
    dyn = next(p for p in config.peers if p.name == "dyn")
    assert dyn.dynamic_asn is DynamicASN.INTERNAL and dyn.interface == "eth2" and dyn.is_ibgp is True
    assert config.bgp_advertisements[0].communities == (Community(CommunityKind.LARGE, (1, 2, 3)),)


def test_disable_mp_is_a_deprecation_warning() -> None:
    result = parse(ConfigSources(objects=[peer(disableMP=True)]))
    assert result.ok and any(DISABLE_MP_WARNING in w for w in result.warnings)


def test_v1beta1_peer_is_a_deprecation_warning() -> None:
    result = parse(ConfigSources(objects=[peer(version="v1beta1", peerPort=0)]))
    assert result.config is not None and result.config.peers[0].peer_port == 179
    assert result.warnings == ('BGPPeer "router": metallb.io/v1beta1 BGPPeer is deprecated, please use v1beta2.',)


@pytest.mark.parametrize(
    ("hold", "keepalive", "timers"),
    [
        pytest.param("90s", None, (90.0, 30.0), id="hold-alone-keepalive-is-a-third"),
        pytest.param(None, "10s", (30.0, 10.0), id="keepalive-alone-hold-is-three-times"),
        pytest.param("0s", "0s", (0.0, 0.0), id="zero-disables-keepalives"),
        pytest.param("1m30s", "30s", (90.0, 30.0), id="go-duration-syntax"),
        pytest.param("3s", "3s", (3.0, 3.0), id="smallest-hold-and-equal-keepalive"),
    ],
)
def test_timers(hold: str | None, keepalive: str | None, timers: tuple[float, float]) -> None:
    spec = {k: v for k, v in (("holdTime", hold), ("keepaliveTime", keepalive)) if v is not None}
    assert ok(peer(**spec)).peers[0].timers() == timers


@pytest.mark.parametrize(
    "ads",
    [
        pytest.param([{"localPref": 100, "peers": ["x"]}, {"localPref": 200, "peers": ["y"]}], id="disjoint-peers"),
        pytest.param([{"localPref": 100}, {"localPref": 200, "aggregationLength": 24}], id="different-v4-aggregation"),
        pytest.param(
            [{"localPref": 100}, {"localPref": 200, "serviceSelectors": [{"matchLabels": {"a": "b"}}]}],
            id="service-selectors-are-not-compared",
        ),
        pytest.param(
            [
                {"localPref": 100, "nodeSelectors": [{"matchLabels": {"r": "1"}}]},
                {"localPref": 200, "nodeSelectors": [{"matchLabels": {"r": "2"}}]},
            ],
            id="different-node-selectors",
        ),
        pytest.param([{"localPref": 100}, {"localPref": 100, "communities": ["1:1"]}], id="same-local-pref"),
    ],
)
def test_local_pref_without_conflict(ads: list[dict[str, Any]]) -> None:
    ok(pool("p", "192.0.2.0/24"), *(obj("BGPAdvertisement", f"ad{i}", spec) for i, spec in enumerate(ads)))


def test_node_labels_decide_whether_selectors_share_a_node() -> None:
    ads = [
        obj("BGPAdvertisement", "a", {"localPref": 1, "nodeSelectors": [{"matchLabels": {"r": "1"}}]}),
        obj(
            "BGPAdvertisement",
            "b",
            {"localPref": 2, "nodeSelectors": [{"matchExpressions": [{"key": "z", "operator": "Exists"}]}]},
        ),
    ]
    ok(pool("p"), *ads)  # unknown nodes: two different selectors are taken as disjoint
    ok(pool("p"), *ads, node_labels={"n1": {"r": "1"}, "n2": {"z": "x"}})
    shared = parse(ConfigSources(objects=[pool("p"), *ads], node_labels={"n1": {"r": "1", "z": "x"}}))
    assert [e.field for e in shared.errors] == ["spec.localPref"]


def test_bfd_echo_is_fine_with_ipv4_pools_and_with_peers_not_receiving_ipv6() -> None:
    ok(
        pool("v4", "192.0.2.0/24"),
        pool("v6", "2001:db8::/120"),
        obj("BGPAdvertisement", "v4-to-all", {"ipAddressPools": ["v4"]}),
        obj("BGPAdvertisement", "v6-to-other", {"ipAddressPools": ["v6"], "peers": ["other"]}),
        obj("BFDProfile", "echo", {"echoMode": True}),
        peer("router", bfdProfile="echo"),
        peer("other", peerAddress="192.0.2.2"),
    )


def test_host_bits_are_read_as_the_network_with_a_warning() -> None:
    result = parse(ConfigSources(objects=[pool("p", "192.0.2.77/24")]))
    assert result.config is not None
    assert result.config.pools["p"].cidrs == (ipaddress.ip_network("192.0.2.0/24"),)
    assert any("has host bits set" in w for w in result.warnings)


def test_whitespace_around_addresses_is_ignored() -> None:
    config = ok(pool("p", "  192.0.2.0/28 ", " 192.0.2.16 - 192.0.2.17 "))
    assert config.pools["p"].cidrs == (ipaddress.ip_network("192.0.2.0/28"), ipaddress.ip_network("192.0.2.16/31"))


def test_a_peer_named_by_an_advertisement_but_missing_is_a_warning() -> None:
    result = parse(ConfigSources(objects=[pool("p"), obj("BGPAdvertisement", "ad", {"peers": ["ghost"]})]))
    assert result.ok
    assert result.warnings == (
        'BGPAdvertisement "ad": spec.peers[0] "ghost" names no BGPPeer; nothing is sent to it until a BGPPeer of that '
        "name exists.",
    )


def test_missing_namespace_means_the_configured_one_and_status_is_ignored() -> None:
    bare = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p"}}
    config = ok({**bare, "spec": {"addresses": ["192.0.2.0/24"]}, "status": {"assignedIPv4": 3}})
    assert list(config.pools) == ["p"]


def test_empty_input_is_an_empty_valid_configuration() -> None:
    assert ok() == Config()


# -- CRs and the legacy ConfigMap together ----------------------------------------------------------------------
LEGACY = """
address-pools:
- name: old
  protocol: layer2
  addresses: [198.51.100.0/28]
bgp-communities:
  shared: 65000:1
"""


def test_crs_and_the_legacy_configmap_are_merged() -> None:
    result = parse(
        ConfigSources(
            objects=[pool("new", "198.51.100.16/28"), obj("BGPAdvertisement", "ad", {"communities": ["shared"]})],
            legacy_config=LEGACY,
        )
    )
    assert result.config is not None, result.errors
    assert set(result.config.pools) == {"old", "new"}
    assert result.config.bgp_advertisements[0].communities == (Community(CommunityKind.STANDARD, (65000, 1)),)
    assert result.config.bgp_advertisements[0].pools == {"old", "new"}
    assert any("legacy MetalLB ConfigMap format is deprecated" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("objects", "fragment"),
    [
        pytest.param(
            [pool("old", "203.0.113.0/24")],
            'ConfigMap "config" pool "old" has the same name as IPAddressPool "old"',
            id="pool-name",
        ),
        pytest.param(
            [obj("L2Advertisement", "old")], "duplicate definition of L2Advertisement", id="generated-l2-name"
        ),
        pytest.param(
            [obj("Community", "c", {"communities": [{"name": "shared", "value": "1:1"}]})],
            "duplicate definition of community",
            id="community-alias",
        ),
        pytest.param([pool("cr", "198.51.100.8/29")], "overlaps with already defined CIDR", id="overlapping-addresses"),
    ],
)
def test_clashes_between_crs_and_the_legacy_configmap(objects: list[dict[str, Any]], fragment: str) -> None:
    result = parse(ConfigSources(objects=objects, legacy_config=LEGACY))
    assert result.config is None
    assert len(result.errors) == 1 and fragment in result.errors[0].message, result.errors


def test_secrets_can_be_left_unresolved_for_the_ccm() -> None:
    config = ok(peer(passwordSecret={"name": "s"}), resolve_secrets=False)
    assert config.peers[0].password is None and config.peers[0].password_secret == SecretRef(NS, "s")
    both = parse(ConfigSources(objects=[peer(password="x", passwordSecret={"name": "s"})], resolve_secrets=False))
    assert [e.field for e in both.errors] == ["spec.password"]
