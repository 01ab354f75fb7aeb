"""The route table: per-Service plans merged per peer, equal to the policy's whole-snapshot plan."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.api.endpoints import Endpoint, ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.selectors import LabelSelector
from ironlb.api.service import ServiceView
from ironlb.config.model import BGPAdvertisement, BGPPeer, Community, CommunityKind, Config, Pool
from speaker.bgp.core.policy import ServiceState, plan
from speaker.bgp.core.rib import RouteAttrs
from speaker.routetable import RouteTable, merge_attrs

NET = ipaddress.ip_network
P = NET("198.51.100.0/24")


@pytest.mark.parametrize(
    ("contributions", "merged"),
    [
        pytest.param([RouteAttrs()], RouteAttrs(), id="one-plain-route"),
        pytest.param([RouteAttrs(100), RouteAttrs(200), RouteAttrs()], RouteAttrs(200), id="highest-local-pref-wins"),
        pytest.param(
            [RouteAttrs(None, (3, 1)), RouteAttrs(None, (2, 3), ((1, 2, 3),))],
            RouteAttrs(None, (1, 2, 3), ((1, 2, 3),)),
            id="communities-are-united-and-sorted",
        ),
    ],
)
def test_merge_rules(contributions: list[RouteAttrs], merged: RouteAttrs) -> None:
    assert merge_attrs(contributions) == merged


def test_a_route_stays_while_any_service_gives_it_script() -> None:
    table = RouteTable()
    table.set_peers(["r"])
    assert table.routes() == {"r": {}}
    assert table.set_service("a", {"r": {P: RouteAttrs(100)}})
    assert table.set_service("b", {"r": {P: RouteAttrs(200, (5,))}})
    assert dict(table.routes()["r"]) == {P: RouteAttrs(200, (5,))}
    assert table.services_of("r", P) == ("a", "b")
    assert table.set_service("b", None)
    assert dict(table.routes()["r"]) == {P: RouteAttrs(100)}
    assert not table.set_service("b", None), "removing what is not there changes nothing"
    assert table.set_service("a", {})
    assert table.routes() == {"r": {}}
    assert len(table) == 0


def test_a_removed_peer_keeps_its_entry_until_emptied() -> None:
    table = RouteTable()
    table.set_peers(["r", "s"])
    table.set_service("a", {"s": {P: RouteAttrs()}})
    table.set_peers(["r"])
    assert set(table.routes()) == {"r", "s"}
    table.set_service("a", None)
    assert set(table.routes()) == {"r"}


PEERS = (
    BGPPeer("ibgp", my_asn=64512, peer_asn=64512, peer_address=ipaddress.ip_address("192.0.2.1")),
    BGPPeer("ebgp", my_asn=64512, peer_asn=64513, peer_address=ipaddress.ip_address("192.0.2.2")),
)
CONFIG = Config.build(
    pools=[Pool("p", (NET("198.51.100.0/24"),)), Pool("q", (NET("203.0.113.0/24"),))],
    bgp_advertisements=[
        BGPAdvertisement(
            "host", frozenset({"p", "q"}), local_pref=100, communities=(Community(CommunityKind.STANDARD, (1, 1)),)
        ),
        BGPAdvertisement("agg", frozenset({"p"}), aggregation_length=24, local_pref=300, peers=("ibgp",)),
        BGPAdvertisement(
            "web",
            frozenset({"q"}),
            service_selectors=(LabelSelector.parse("app=web"),),
            communities=(Community(CommunityKind.LARGE, (1, 2, 3)),),
        ),
    ],
    peers=list(PEERS),
)
NODE = NodeView("n1")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["198.51.100", "203.0.113"]), st.integers(1, 20), st.booleans(), st.booleans()),
        min_size=1,
        max_size=25,
    ),
    st.randoms(use_true_random=False),
)
def test_per_service_plans_merged_equal_the_whole_plan(
    specs: list[tuple[str, int, bool, bool]], rng: random.Random
) -> None:
    states = []
    for i, (net, host, web, has_endpoint) in enumerate(specs):
        svc = ServiceView(
            "default",
            f"s{i}",
            type="LoadBalancer",
            ingress_ips=(f"{net}.{host}",),
            labels={"app": "web"} if web else {},
        )
        endpoints = ServiceEndpoints((Endpoint(("10.0.0.1",), "n1", True),) if has_endpoint else ())
        states.append(ServiceState(svc, endpoints))
    whole = plan(CONFIG, NODE, states, PEERS)
    table = RouteTable()
    table.set_peers(p.name for p in PEERS)
    order = list(states)
    rng.shuffle(order)
    for state in order:
        one = plan(CONFIG, NODE, [state], PEERS)
        table.set_service(state.service.key, one.routes)
    for state in order[: len(order) // 2]:  # replacing a Service's plan by itself changes nothing
        assert not table.set_service(state.service.key, plan(CONFIG, NODE, [state], PEERS).routes)
    assert {peer: dict(routes) for peer, routes in table.routes().items()} == {
        peer: dict(routes) for peer, routes in whole.routes.items()
    }
