"""Policy: which prefixes a node advertises to which peer (metallb.md 4.1 and 4.5), as table rows."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace
from types import MappingProxyType

import pytest

from ironlb.api.endpoints import Endpoint, ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.selectors import LabelSelector
from ironlb.api.service import ServiceView
from ironlb.config.model import BGPAdvertisement, BGPPeer, Community, CommunityKind, Config, Pool
from speaker.bgp.core.policy import BgpPlan, Reason, ServiceState, peers_for_node, plan
from speaker.bgp.core.rib import RouteAttrs

V4 = ipaddress.IPv4Address
IBGP = BGPPeer(name="ibgp", my_asn=64512, peer_asn=64512, peer_address=V4("192.0.2.1"))
EBGP = BGPPeer(name="ebgp", my_asn=64513, peer_asn=64512, peer_address=V4("192.0.2.2"))
RACK_A = BGPPeer(
    name="rack-a",
    my_asn=64513,
    peer_asn=64512,
    peer_address=V4("192.0.2.3"),
    node_selectors=(LabelSelector.from_labels({"rack": "a"}),),
)
POOL = Pool("public", (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:100::/64")))
OTHER_POOL = Pool("other", (ipaddress.ip_network("203.0.113.0/25"),))
STD = Community(CommunityKind.STANDARD, (65000, 1))
STD2 = Community(CommunityKind.STANDARD, (65000, 2))
LARGE = Community(CommunityKind.LARGE, (1, 2, 3))
AD = BGPAdvertisement("ad", frozenset({"public"}), local_pref=200, communities=(STD,))
NODE = NodeView("node1", labels=MappingProxyType({"rack": "a", "kubernetes.io/hostname": "node1"}))


def svc(name: str = "web", *ips: str, local: bool = False, labels: dict[str, str] | None = None) -> ServiceView:
    return ServiceView(
        namespace="default",
        name=name,
        type="LoadBalancer",
        ingress_ips=ips or ("198.51.100.10",),
        external_traffic_policy="Local" if local else "Cluster",
        labels=MappingProxyType(labels or {}),
    )


def ready_on(*nodes: str) -> ServiceEndpoints:
    return ServiceEndpoints(tuple(Endpoint(("203.0.113.5",), node, True) for node in nodes))


NOT_READY = ServiceEndpoints((Endpoint(("203.0.113.5",), "node1", False),))


def config(*ads: BGPAdvertisement, peers: tuple[BGPPeer, ...] = (IBGP, EBGP)) -> Config:
    return Config.build(pools=[POOL, OTHER_POOL], bgp_advertisements=list(ads or (AD,)), peers=list(peers))


def run(cfg: Config, *states: ServiceState, node: NodeView = NODE) -> BgpPlan:
    return plan(cfg, node, states, peers_for_node(cfg, node))


def p(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


REASONS = [
    pytest.param(
        config(), ServiceState(svc(), ready_on("node2")), NODE, Reason.ANNOUNCED, id="cluster-any-ready-endpoint"
    ),
    pytest.param(
        config(), ServiceState(svc(), NOT_READY), NODE, Reason.NO_ENDPOINTS, id="cluster-needs-a-ready-endpoint"
    ),
    pytest.param(
        config(),
        ServiceState(svc(local=True), ready_on("node2")),
        NODE,
        Reason.NO_LOCAL_ENDPOINTS,
        id="local-needs-one-on-this-node",
    ),
    pytest.param(
        config(), ServiceState(svc(local=True), ready_on("node1")), NODE, Reason.ANNOUNCED, id="local-ready-here"
    ),
    pytest.param(
        config(),
        ServiceState(svc(), ready_on("node1")),
        replace(NODE, labels=MappingProxyType({"node.kubernetes.io/exclude-from-external-load-balancers": ""})),
        Reason.NODE_EXCLUDED,
        id="excluded-node-advertises-nothing",
    ),
    pytest.param(
        config(),
        ServiceState(svc(), ready_on("node1")),
        replace(NODE, conditions=MappingProxyType({"NetworkUnavailable": "True"})),
        Reason.NODE_NETWORK_UNAVAILABLE,
        id="network-unavailable-node-advertises-nothing",
    ),
    pytest.param(
        config(),
        ServiceState(svc("web", "192.0.2.50"), ready_on("node1")),
        NODE,
        Reason.IP_NOT_ALLOWED,
        id="ip-in-no-pool",
    ),
    pytest.param(
        config(),
        ServiceState(svc("web", "203.0.113.10"), ready_on("node1")),
        NODE,
        Reason.NO_MATCHING_ADVERTISEMENT,
        id="pool-without-advertisement",
    ),
    pytest.param(
        config(replace(AD, node_selectors=(LabelSelector.from_labels({"rack": "b"}),))),
        ServiceState(svc(), ready_on("node1")),
        NODE,
        Reason.NO_MATCHING_ADVERTISEMENT,
        id="advertisement-selects-other-nodes",
    ),
    pytest.param(
        config(replace(AD, service_selectors=(LabelSelector.from_labels({"tier": "edge"}),))),
        ServiceState(svc(), ready_on("node1")),
        NODE,
        Reason.NO_MATCHING_ADVERTISEMENT,
        id="advertisement-selects-other-services",
    ),
    pytest.param(
        config(AD, replace(AD, name="ad2", local_pref=300)),
        ServiceState(svc(), ready_on("node1")),
        NODE,
        Reason.LOCAL_PREF_CONFLICT,
        id="two-local-prefs-for-one-prefix-conflict",
    ),
    pytest.param(
        config(),
        ServiceState(replace(svc(), ingress_ips=()), ready_on("node1")),
        NODE,
        Reason.NO_INGRESS_IP,
        id="no-address-allocated-yet",
    ),
    pytest.param(
        config(),
        ServiceState(replace(svc(), type="ClusterIP"), ready_on("node1")),
        NODE,
        Reason.NOT_LOAD_BALANCER,
        id="not-a-load-balancer",
    ),
    pytest.param(
        config(),
        ServiceState(replace(svc(), load_balancer_class="other.io/lb"), ready_on("node1")),
        NODE,
        Reason.OTHER_LOAD_BALANCER_CLASS,
        id="another-load-balancer-class",
    ),
]


@pytest.mark.parametrize(("cfg", "state", "node", "reason"), REASONS)
def test_reason_for_a_service(cfg: Config, state: ServiceState, node: NodeView, reason: Reason) -> None:
    result = run(cfg, state, node=node)
    assert result.reasons == {"default/web": reason}
    if reason is not Reason.ANNOUNCED:
        assert all(not routes for routes in result.routes.values())
        assert "default/web" not in result.peers


def test_local_pref_goes_to_ibgp_peers_only_and_communities_to_all() -> None:
    result = run(config(), ServiceState(svc(), ready_on("node1")))
    assert result.routes == {
        "ebgp": {p("198.51.100.10/32"): RouteAttrs(None, (STD.value,))},
        "ibgp": {p("198.51.100.10/32"): RouteAttrs(200, (STD.value,))},
    }
    assert result.peers == {"default/web": frozenset({"ibgp", "ebgp"})}


def test_aggregation_lengths_mask_the_address_per_family() -> None:
    ad = replace(AD, aggregation_length=24, aggregation_length_v6=64, local_pref=None)
    result = run(config(ad), ServiceState(svc("web", "198.51.100.10", "2001:db8:100::10"), ready_on("node1")))
    assert set(result.routes["ebgp"]) == {p("198.51.100.0/24"), p("2001:db8:100::/64")}


def test_same_prefix_from_two_services_merges_communities() -> None:
    ad1 = replace(AD, aggregation_length=24, local_pref=None, communities=(STD,))
    ad2 = replace(
        AD,
        name="ad2",
        aggregation_length=24,
        local_pref=None,
        communities=(STD2, LARGE),
        service_selectors=(LabelSelector.from_labels({"tier": "edge"}),),
    )
    result = run(
        config(ad1, ad2),
        ServiceState(svc("a", "198.51.100.10"), ready_on("node1")),
        ServiceState(svc("b", "198.51.100.20", labels={"tier": "edge"}), ready_on("node1")),
    )
    assert result.routes["ebgp"] == {p("198.51.100.0/24"): RouteAttrs(None, (STD.value, STD2.value), ((1, 2, 3),))}


def test_the_peers_list_limits_where_a_prefix_goes() -> None:
    result = run(config(replace(AD, peers=("ebgp",))), ServiceState(svc(), ready_on("node1")))
    assert result.routes["ibgp"] == {} and set(result.routes["ebgp"]) == {p("198.51.100.10/32")}


def test_peer_node_selectors_decide_which_sessions_a_node_runs() -> None:
    cfg = config(peers=(IBGP, RACK_A))
    assert [peer.name for peer in peers_for_node(cfg, NODE)] == ["ibgp", "rack-a"]
    other = replace(NODE, name="node2", labels=MappingProxyType({"rack": "b"}))
    assert [peer.name for peer in peers_for_node(cfg, other)] == ["ibgp"]


def test_an_excluded_node_keeps_its_sessions_with_nothing_to_say() -> None:
    excluded = replace(NODE, labels=MappingProxyType({"node.kubernetes.io/exclude-from-external-load-balancers": "x"}))
    result = run(config(), ServiceState(svc(), ready_on("node1")), node=excluded)
    assert result.routes == {"ebgp": {}, "ibgp": {}}


def test_the_plan_does_not_depend_on_the_order_of_services() -> None:
    states = [ServiceState(svc(f"s{i}", f"198.51.100.{i}"), ready_on("node1")) for i in range(1, 30)]
    seed = random.randrange(2**32)
    print(f"shuffle seed {seed}")
    shuffled = list(states)
    random.Random(seed).shuffle(shuffled)
    cfg = config(replace(AD, aggregation_length=28))
    assert run(cfg, *states) == run(cfg, *shuffled)
    assert list(run(cfg, *shuffled).routes["ebgp"]) == sorted(run(cfg, *states).routes["ebgp"])
