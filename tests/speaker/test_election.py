"""L2 election: MetalLB's rules, and the same owner on every node whatever the order of its view."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.api.selectors import LabelSelector
from ironlb.config.model import Config, L2Advertisement, Pool, PreferredNode
from speaker.election import NodeState, Reason, ServiceState, elect, rank_key

V4 = ipaddress.ip_address("198.51.100.10")
V6 = ipaddress.ip_address("2001:db8:100::10")
POOL = Pool("p", (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:100::/64")))


def config(*ads: L2Advertisement) -> Config:
    return Config.build(pools=[POOL], l2_advertisements=list(ads) or [L2Advertisement("all", frozenset({"p"}))])


def nodes(*names: str, **overrides: NodeState) -> dict[str, NodeState]:
    out = {n: NodeState(n, labels={"kubernetes.io/hostname": n}) for n in names}
    out.update(overrides)
    return out


def svc(**kw: object) -> ServiceState:
    base: dict[str, object] = {"key": "default/web", "addresses": (V4,)}
    base.update(kw)
    return ServiceState(**base)  # type: ignore[arg-type]


def expected_owner(candidates: list[str], address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return min(candidates, key=lambda n: rank_key(n, address))


def test_owner_is_the_lowest_sha256_of_node_and_address() -> None:
    d = elect(config(), svc(), nodes("n1", "n2", "n3"))
    assert d.reason is Reason.OWNER
    assert d.owner == expected_owner(["n1", "n2", "n3"], V4)
    assert d.candidates[0] == d.owner and sorted(d.candidates) == ["n1", "n2", "n3"]
    assert d.for_node(d.owner) is Reason.OWNER
    assert {d.for_node(n) for n in ("n1", "n2", "n3") if n != d.owner} == {Reason.NOT_OWNER}


@pytest.mark.parametrize(
    ("service", "cfg", "reason"),
    [
        pytest.param(
            svc(addresses=(ipaddress.ip_address("192.0.2.1"),)),
            config(),
            Reason.IP_NOT_ALLOWED,
            id="address-in-no-pool",
        ),
        pytest.param(svc(any_ready=False), config(), Reason.NO_ENDPOINTS, id="no-ready-endpoint"),
        pytest.param(
            svc(),
            config(L2Advertisement("other", frozenset({"q"}))),
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="no-advertisement-for-the-pool",
        ),
        pytest.param(
            svc(labels={"app": "web"}),
            config(L2Advertisement("sel", frozenset({"p"}), service_selectors=(LabelSelector.parse("app=db"),))),
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="service-selector-excludes",
        ),
        pytest.param(
            svc(labels={"app": "web"}, shared=True),
            config(L2Advertisement("sel", frozenset({"p"}), service_selectors=(LabelSelector.parse("app=web"),))),
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="shared-ip-with-service-selector",
        ),
        pytest.param(
            svc(local=True, ready_nodes=frozenset({"elsewhere"})),
            config(),
            Reason.NO_LOCAL_ENDPOINTS,
            id="local-without-local-endpoint",
        ),
    ],
)
def test_no_owner_reasons(service: ServiceState, cfg: Config, reason: Reason) -> None:
    d = elect(cfg, service, nodes("n1", "n2"))
    assert (d.owner, d.reason) == (None, reason)


@pytest.mark.parametrize(
    ("override", "why"),
    [
        pytest.param({"alive": False}, "dead", id="dead-node"),
        pytest.param({"excluded": True}, "excluded", id="excluded-node"),
        pytest.param({"network_unavailable": True}, "network-unavailable", id="network-unavailable-node"),
        pytest.param({"interfaces_up": frozenset()}, "no link up", id="node-without-link"),
    ],
)
def test_ineligible_nodes_never_win(override: dict[str, object], why: str) -> None:
    first = expected_owner(["n1", "n2", "n3"], V4)
    view = nodes("n1", "n2", "n3")
    view[first] = NodeState(first, labels=view[first].labels, **override)  # type: ignore[arg-type]
    d = elect(config(), svc(), view)
    assert d.owner is not None and d.owner != first, why
    assert first not in d.candidates


def test_interfaces_named_by_the_advertisement_must_be_up() -> None:
    ad = L2Advertisement("eth1-only", frozenset({"p"}), interfaces=("eth1",))
    view = {
        "n1": NodeState("n1", interfaces_up=frozenset({"eth0"})),
        "n2": NodeState("n2", interfaces_up=frozenset({"eth1"})),
    }
    d = elect(config(ad), svc(), view)
    assert d.owner == "n2"
    assert d.interfaces == frozenset({"eth1"})


def test_node_selectors_limit_candidates() -> None:
    ad = L2Advertisement("zone-a", frozenset({"p"}), node_selectors=(LabelSelector.parse("zone=a"),))
    view = {"n1": NodeState("n1", labels={"zone": "a"}), "n2": NodeState("n2", labels={"zone": "b"})}
    assert elect(config(ad), svc(), view).candidates == ("n1",)


def test_local_policy_keeps_nodes_with_ready_local_endpoints() -> None:
    d = elect(config(), svc(local=True, ready_nodes=frozenset({"n2", "n3"})), nodes("n1", "n2", "n3"))
    assert set(d.candidates) == {"n2", "n3"}


def test_preferred_node_weight_beats_hash_order() -> None:
    view = nodes("n1", "n2", "n3")
    loser = max(view, key=lambda n: rank_key(n, V4))
    ad = L2Advertisement(
        "pref",
        frozenset({"p"}),
        preferred_nodes=(PreferredNode(50, LabelSelector.parse(f"kubernetes.io/hostname={loser}")),),
    )
    assert elect(config(ad), svc(), view).owner == loser


def test_dual_stack_elects_once_with_the_first_address() -> None:
    view = nodes(*(f"n{i}" for i in range(8)))
    d = elect(config(), svc(addresses=(V6, V4)), view)
    assert d.owner == expected_owner(list(view), V6)


def test_services_sharing_an_address_land_on_one_node() -> None:
    view = nodes(*(f"n{i}" for i in range(8)))
    owners = {elect(config(), svc(key=f"default/s{i}", shared=True), view).owner for i in range(5)}
    assert len(owners) == 1


node_names = st.lists(st.from_regex(r"\Anode-[a-z0-9]{1,6}\Z"), min_size=1, max_size=12, unique=True)
addresses = st.integers(0, 255).map(lambda i: ipaddress.ip_address(f"198.51.100.{i}"))


@settings(max_examples=200)
@given(node_names, addresses, st.randoms(use_true_random=False))
def test_every_node_computes_the_same_owner_whatever_the_order_of_its_view(
    names: list[str], address: ipaddress.IPv4Address, rnd: random.Random
) -> None:
    cfg = config()
    view = nodes(*names)
    owners = set()
    for _ in range(4):  # the same view as built by four different nodes, from events in different orders
        shuffled = list(view.items())
        rnd.shuffle(shuffled)
        owners.add(elect(cfg, svc(addresses=(address,)), dict(shuffled)).owner)
    assert len(owners) == 1
    assert owners.pop() in names


@settings(max_examples=200)
@given(node_names, addresses, st.data())
def test_removing_a_non_owner_never_moves_the_address(
    names: list[str], address: ipaddress.IPv4Address, data: st.DataObject
) -> None:
    cfg = config()
    owner = elect(cfg, svc(addresses=(address,)), nodes(*names)).owner
    others = [n for n in names if n != owner]
    if not others:
        return
    gone = data.draw(st.sampled_from(others))
    assert elect(cfg, svc(addresses=(address,)), nodes(*(n for n in names if n != gone))).owner == owner


@settings(max_examples=200)
@given(node_names, addresses, st.from_regex(r"\Anew-[a-z0-9]{1,6}\Z"))
def test_adding_a_node_moves_the_address_only_to_the_newcomer(
    names: list[str], address: ipaddress.IPv4Address, newcomer: str
) -> None:
    cfg = config()
    before = elect(cfg, svc(addresses=(address,)), nodes(*names)).owner
    after = elect(cfg, svc(addresses=(address,)), nodes(*names, newcomer)).owner
    assert after in (before, newcomer)
