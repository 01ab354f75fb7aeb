"""The speaker's view: decisions kept current per input, at a cost that follows the change.

Covered: which inputs recompute what (counted elections and screens, not timed), that the incremental result
always equals a view built from scratch on the same inputs (hypothesis, random input sequences), BGP per-Service
plans, and the cases where a node change must or must not move an address. Not covered here: the controllers
that act on the decisions (test_l2controller.py) and the wiring (tests/speaker/integration).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.api.endpoints import Endpoint, ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.selectors import LabelSelector
from ironlb.api.service import ServiceView
from ironlb.config.model import BGPAdvertisement, BGPPeer, Config, L2Advertisement, Pool, PreferredNode
from speaker.bgp.core.policy import Reason as BgpReason
from speaker.election import Reason, rank_key
from speaker.view import Liveness, SpeakerView

POOL = Pool("p", (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:100::/64")))
BGP_POOL = Pool("b", (ipaddress.ip_network("203.0.113.0/24"),))
NODES = tuple(f"n{i}" for i in range(1, 6))


def config(**kw: Any) -> Config:
    base: dict[str, Any] = {
        "pools": [POOL],
        "l2_advertisements": [L2Advertisement("all", frozenset({"p"}))],
    }
    base.update(kw)
    return Config.build(**base)


def service(name: str, ip: str, *, local: bool = False, labels: dict[str, str] | None = None) -> ServiceView:
    return ServiceView(
        namespace="default",
        name=name,
        type="LoadBalancer",
        ingress_ips=(ip,),
        external_traffic_policy="Local" if local else "Cluster",
        labels=labels or {},
    )


def ready(*nodes: str) -> ServiceEndpoints:
    return ServiceEndpoints(tuple(Endpoint((f"10.0.0.{i}",), n, True) for i, n in enumerate(nodes)))


def build(services: int = 100, nodes: tuple[str, ...] = NODES, cfg: Config | None = None) -> SpeakerView:
    view = SpeakerView("n1")
    view.set_config(cfg or config())
    for n in nodes:
        view.set_node(n, NodeView(n, labels={"kubernetes.io/hostname": n}))
        view.set_liveness(n, Liveness(True))
    for i in range(services):
        key = f"default/s{i}"
        view.set_service(key, service(f"s{i}", f"198.51.100.{i % 250}"))
        view.set_endpoints(key, ready("n1"))
    return view


def owners(view: SpeakerView) -> dict[str, str | None]:
    return {key: record.decision.owner for key, record in sorted(view.l2.items())}


def fresh_copy(view: SpeakerView) -> SpeakerView:
    """A view built from scratch from ``view``'s inputs (in a shuffled order)."""
    copy = SpeakerView(view.node, load_balancer_class=view.load_balancer_class)
    rng = random.Random(7)
    steps: list[Any] = [("node", n, v) for n, v in view.node_views.items()]
    steps += [("live", n, live) for n, live in view.liveness.items()]
    steps += [("svc", k, s) for k, s in view.services.items()]
    steps += [("ep", k, e) for k, e in view.endpoints.items()]
    rng.shuffle(steps)
    copy.set_config(view.config)
    for kind, key, value in steps:
        if kind == "node":
            copy.set_node(key, value)
        elif kind == "live":
            copy.set_liveness(key, value)
        elif kind == "svc":
            copy.set_service(key, value)
        else:
            copy.set_endpoints(key, value)
    return copy


# ----- cost follows change -----------------------------------------------------------------------------------
def test_a_service_change_recomputes_that_service_only() -> None:
    view = build()
    before = view.stats.elections
    changes = view.set_service("default/s7", service("s7", "198.51.100.200"))
    assert view.stats.elections - before == 1
    assert changes.l2 <= {"default/s7"}


def test_an_endpoint_change_recomputes_that_service_only() -> None:
    view = build()
    before = view.stats.elections
    view.set_endpoints("default/s3", ServiceEndpoints())
    assert view.stats.elections - before == 1
    assert view.decision("default/s3").reason is Reason.NO_ENDPOINTS  # type: ignore[union-attr]


def test_a_failed_node_recomputes_only_the_services_it_owned() -> None:
    view = build(services=500)
    victim = "n3"
    owned = view.owned_by(victim)
    assert owned, "with 500 services every node owns some"
    before = (view.stats.elections, view.stats.screens)
    changes = view.set_liveness(victim, Liveness(False))
    assert view.stats.elections - before[0] == len(owned)
    assert view.stats.screens == before[1], "a failure needs no screening"
    assert changes.l2 == owned
    assert all(view.decision(k).owner != victim for k in owned)  # type: ignore[union-attr]
    assert owners(view) == owners(fresh_copy(view))


def _would_win(view: SpeakerView, newcomer: str) -> set[str]:
    """The Services whose address ``newcomer`` ranks before the current owner of."""
    return {
        key
        for key, record in view.l2.items()
        if rank_key(newcomer, record.state.addresses[0])
        < rank_key(record.decision.owner or "", record.state.addresses[0])
    }


def test_a_joining_node_screens_every_service_and_elects_only_where_it_ranks_first() -> None:
    view = build(services=500, nodes=NODES[:4])
    newcomer = "n5"
    wins = _would_win(view, newcomer)
    view.set_node(newcomer, NodeView(newcomer, labels={"kubernetes.io/hostname": newcomer}))
    before = (view.stats.elections, view.stats.screens)
    changes = view.set_liveness(newcomer, Liveness(True))
    assert view.stats.screens - before[1] == 500
    assert view.stats.elections - before[0] == len(wins) < 500
    assert changes.l2 == wins == view.owned_by(newcomer)
    assert owners(view) == owners(fresh_copy(view))


def test_a_starting_node_is_no_candidate_until_it_is_ready() -> None:
    """A restarted speaker joins the membership not ready: nothing moves to it, nothing is even screened; once
    ready it wins exactly where it ranks first, at the cost of a joining node."""
    view = build(services=500, nodes=NODES[:4])
    newcomer = "n5"
    wins = _would_win(view, newcomer)
    view.set_node(newcomer, NodeView(newcomer, labels={"kubernetes.io/hostname": newcomer}))
    before = owners(view)
    stats = (view.stats.elections, view.stats.screens)
    assert not view.set_liveness(newcomer, Liveness(True, frozenset(), ready=False))
    assert owners(view) == before and not view.owned_by(newcomer)
    assert (view.stats.elections, view.stats.screens) == stats
    changes = view.set_liveness(newcomer, Liveness(True, frozenset({"eth0"}), ready=True))
    assert changes.l2 == wins == view.owned_by(newcomer)
    assert view.stats.elections - stats[0] == len(wins)


def test_its_own_readiness_rules_the_local_node_too() -> None:
    """Every speaker sees the same candidates: a node that is not ready does not elect itself either."""
    view = build(services=50)  # the view of n1
    assert view.owned()
    view.set_liveness("n1", Liveness(True, frozenset(), ready=False))
    assert not view.owned()
    assert all(r.decision.owner not in (None, "n1") for r in view.l2.values())


def test_a_node_leaving_the_selection_keeps_a_no_owner_reason_exact() -> None:
    """Found by the hypothesis test below: the only live node lacks a local endpoint, then its labels drop it."""
    cfg = config(
        l2_advertisements=[L2Advertisement("all", frozenset({"p"}), node_selectors=(LabelSelector.parse("!drained"),))]
    )
    view = build(services=0, cfg=cfg)
    view.set_service("default/s0", service("s0", "198.51.100.0", local=True))
    for node in ("n1", "n2", "n3", "n5"):
        view.set_liveness(node, Liveness(False))
    view.set_endpoints("default/s0", ready("n1"))
    assert view.decision("default/s0").reason is Reason.NO_LOCAL_ENDPOINTS  # type: ignore[union-attr]
    changes = view.set_node("n4", NodeView("n4", labels={"kubernetes.io/hostname": "n4", "drained": ""}))
    assert view.decision("default/s0").reason is Reason.NO_CANDIDATES  # type: ignore[union-attr]
    assert changes.l2 == {"default/s0"}


def test_a_configuration_change_recomputes_everything() -> None:
    view = build(services=50)
    before = view.stats.elections
    view.set_config(config(l2_advertisements=[L2Advertisement("all", frozenset({"p"}), interfaces=("eth0",))]))
    assert view.stats.elections - before == 50
    assert view.set_config(view.config).l2 == set(), "the same configuration again changes nothing"


def test_node_heartbeats_change_nothing() -> None:
    view = build(services=50)
    before = (view.stats.elections, view.stats.screens)
    node = view.node_views["n2"]
    changes = view.set_node("n2", NodeView("n2", labels=dict(node.labels), annotations={"beat": "2"}))
    assert not changes
    assert (view.stats.elections, view.stats.screens) == before


# ----- which node changes move an address ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "moves"),
    [
        pytest.param(Liveness(False), True, id="owner-dies-moves-it"),
        pytest.param(Liveness(True, frozenset()), True, id="owner-without-a-link-up-moves-it"),
        pytest.param(Liveness(True, frozenset({"eth0"})), False, id="owner-publishing-its-link-keeps-it"),
        pytest.param(Liveness(True, frozenset({"eth0"}), ready=False), True, id="owner-not-ready-gives-it-up"),
    ],
)
def test_owner_changes(change: Liveness, moves: bool) -> None:
    view = build(services=1)
    owner = view.decision("default/s0").owner  # type: ignore[union-attr]
    assert owner is not None
    view.set_liveness(owner, change)
    assert (view.decision("default/s0").owner != owner) is moves  # type: ignore[union-attr]


def test_owner_labelled_excluded_gives_the_address_up() -> None:
    view = build(services=1)
    owner = view.decision("default/s0").owner  # type: ignore[union-attr]
    assert owner is not None
    labels = {"kubernetes.io/hostname": owner, "node.kubernetes.io/exclude-from-external-load-balancers": ""}
    view.set_node(owner, NodeView(owner, labels=labels))
    assert view.decision("default/s0").owner not in (None, owner)  # type: ignore[union-attr]


def test_preferred_node_label_moves_the_address_to_it() -> None:
    pref = PreferredNode(10, LabelSelector.parse("fast=yes"))
    view = build(
        services=1, cfg=config(l2_advertisements=[L2Advertisement("a", frozenset({"p"}), preferred_nodes=(pref,))])
    )
    owner = view.decision("default/s0").owner  # type: ignore[union-attr]
    other = next(n for n in NODES if n != owner)
    view.set_node(other, NodeView(other, labels={"kubernetes.io/hostname": other, "fast": "yes"}))
    assert view.decision("default/s0").owner == other  # type: ignore[union-attr]


def test_local_services_follow_their_endpoints() -> None:
    view = build(services=0)
    view.set_service("default/l", service("l", "198.51.100.9", local=True))
    view.set_endpoints("default/l", ready("n4"))
    assert view.decision("default/l").owner == "n4"  # type: ignore[union-attr]
    view.set_liveness("n4", Liveness(False))
    assert view.decision("default/l").reason is Reason.NO_LOCAL_ENDPOINTS  # type: ignore[union-attr]
    view.set_liveness("n4", Liveness(True))
    assert view.decision("default/l").owner == "n4"  # type: ignore[union-attr]


def test_other_classes_and_non_load_balancers_are_not_decided() -> None:
    view = build(services=0)
    view.set_service(
        "default/c",
        ServiceView("default", "c", type="LoadBalancer", load_balancer_class="x", ingress_ips=("198.51.100.1",)),
    )
    view.set_service("default/n", ServiceView("default", "n", type="ClusterIP", ingress_ips=("198.51.100.2",)))
    view.set_service("default/e", service("e", "not-an-ip"))
    assert view.l2 == {}


# ----- BGP -----------------------------------------------------------------------------------------------------
def test_bgp_plans_follow_the_local_node_and_its_peers() -> None:
    peer = BGPPeer("r", my_asn=64513, peer_asn=64512, peer_address=ipaddress.ip_address("192.0.2.1"),
                   node_selectors=(LabelSelector.parse("bgp=yes"),))  # fmt: skip
    cfg = config(pools=[POOL, BGP_POOL], bgp_advertisements=[BGPAdvertisement("b", frozenset({"b"}))], peers=[peer])
    view = build(services=0, cfg=cfg)
    view.set_service("default/w", service("w", "203.0.113.5"))
    view.set_endpoints("default/w", ready("n2"))
    assert view.peers == () and "default/w" not in view.bgp, "n1 is not selected by the peer"
    changes = view.set_node("n1", NodeView("n1", labels={"bgp": "yes"}))
    assert changes.peers and "default/w" in changes.bgp
    plan = view.bgp["default/w"]
    assert plan.reasons["default/w"] is BgpReason.ANNOUNCED
    assert list(plan.routes["r"]) == [ipaddress.ip_network("203.0.113.5/32")]
    before = view.stats.bgp_plans
    view.set_liveness("n3", Liveness(False))
    assert view.stats.bgp_plans == before, "other nodes' liveness does not concern BGP"


# ----- the incremental view equals a fresh one -----------------------------------------------------------------
operations = st.lists(
    st.one_of(
        st.tuples(st.just("svc"), st.integers(0, 7), st.integers(0, 9), st.booleans()),
        st.tuples(st.just("ep"), st.integers(0, 7), st.sets(st.sampled_from(NODES), max_size=3), st.booleans()),
        st.tuples(
            st.just("live"),
            st.sampled_from(NODES),
            st.sampled_from(["up", "dead", "no-link", "not-ready"]),
            st.booleans(),
        ),
        st.tuples(st.just("labels"), st.sampled_from(NODES), st.booleans(), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 7), st.booleans(), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_incremental_decisions_equal_a_view_built_from_scratch(ops: list[tuple[Any, ...]]) -> None:
    pref = PreferredNode(5, LabelSelector.parse("pref=yes"))
    cfg = config(
        l2_advertisements=[
            L2Advertisement("all", frozenset({"p"}), node_selectors=(LabelSelector.parse("!drained"),),
                            preferred_nodes=(pref,)),
        ]
    )  # fmt: skip
    view = build(services=0, cfg=cfg)
    for op in ops:
        match op:
            case ("svc", i, ip, local):
                view.set_service(f"default/s{i}", service(f"s{i}", f"198.51.100.{ip}", local=local))
            case ("ep", i, nodes, _):
                view.set_endpoints(f"default/s{i}", ready(*sorted(nodes)))
            case ("live", node, state, _):
                view.set_liveness(
                    node, Liveness(state != "dead", frozenset() if state == "no-link" else None, state != "not-ready")
                )
            case ("labels", node, drained, preferred):
                labels = {"kubernetes.io/hostname": node}
                labels |= {"drained": ""} if drained else {}
                labels |= {"pref": "yes"} if preferred else {}
                view.set_node(node, NodeView(node, labels=labels))
            case ("delete", i, _, _):
                view.set_service(f"default/s{i}", None)
    fresh = fresh_copy(view)
    assert owners(view) == owners(fresh)
    assert all(view.liveness[o].ready for o in owners(view).values() if o is not None), "a not-ready node elected"
    assert {k: r.decision.reason for k, r in view.l2.items()} == {k: r.decision.reason for k, r in fresh.l2.items()}
    assert view.owned() == fresh.owned()
