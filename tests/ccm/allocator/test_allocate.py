"""Auto-allocation rules and refusals, one independent row each (metallb.md sections 2 and 3).

Each row builds a fresh allocator over its own pools, assigns the addresses other Services already hold, then
runs one operation and checks either the addresses chosen (and their pool) or the exact reason and MetalLB
message of the refusal; after a refusal it checks that nothing changed. Covered: pool order (priority, name,
pinning, autoAssign), address order within a pool (CIDR order, lowest first, avoidBuggyIPs, sharing) and the
dual-stack policies; every row runs with the pools given in name order and in reverse. Requested addresses,
requested pools, ``assign`` and ``add_missing_family`` are in test_explicit.py; configuration changes,
statistics and release in test_config_and_stats.py.
"""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import Any

import pytest

from ccm.allocator import (
    AllocationError,
    AllocationReason,
    AllocationRequest,
    Allocator,
    Assignment,
    IPFamilyPolicy,
    PoolStats,
    Port,
)
from ironlb.api.addresses import IPAddress, IPFamily
from ironlb.api.selectors import LabelSelector
from ironlb.config.model import Config, Pool, ServiceAllocation

V4 = IPFamily.IPV4
V6 = IPFamily.IPV6
PREFER = IPFamilyPolicy.PREFER_DUAL_STACK
REQUIRE = IPFamilyPolicy.REQUIRE_DUAL_STACK
R = AllocationReason


def pool(name: str, *cidrs: str, auto: bool = True, buggy: bool = False, **allocation: Any) -> Pool:
    return Pool(
        name,
        tuple(ipaddress.ip_network(c) for c in cidrs),
        auto_assign=auto,
        avoid_buggy_ips=buggy,
        allocation=ServiceAllocation(**allocation) if allocation else None,
    )


def req(
    name: str,
    *,
    ns: str = "default",
    labels: dict[str, str] | None = None,
    ports: tuple[str, ...] = (),
    share: str = "",
    backend: str = "",
    policy: IPFamilyPolicy = IPFamilyPolicy.SINGLE_STACK,
    fams: tuple[IPFamily, ...] = (V4,),
    addrs: tuple[str, ...] = (),
    from_pool: str | None = None,
) -> AllocationRequest:
    return AllocationRequest(
        service=f"{ns}/{name}",
        namespace=ns,
        labels=labels or {},
        ports=tuple(Port(p.split("/")[0], int(p.split("/")[1])) for p in ports),
        sharing_key=share,
        backend_key=backend,
        ip_family_policy=policy,
        cluster_ip_families=fams,
        requested_addresses=tuple(ipaddress.ip_address(a) for a in addrs),
        requested_pool=from_pool,
    )


def ips(*texts: str) -> tuple[IPAddress, ...]:
    return tuple(ipaddress.ip_address(t) for t in texts)


Held = list[tuple[AllocationRequest, tuple[str, ...]]]


def build(pools: list[Pool], held: Held, *, reverse: bool = False) -> Allocator:
    """An allocator over ``pools`` holding ``held``; ``reverse`` inserts the pools in reverse name order."""
    config = Config.build(pools=pools)
    if reverse:
        config = Config(pools=MappingProxyType(dict(reversed(list(config.pools.items())))))
    allocator = Allocator(config)
    for request, addresses in held:
        result = allocator.assign(request, ips(*addresses))
        assert isinstance(result, Assignment), f"row set-up failed: {result}"
    return allocator


def snapshot(allocator: Allocator) -> tuple[tuple[Assignment, ...], dict[str, PoolStats]]:
    return allocator.assignments(), allocator.all_pool_stats()


def check(allocator: Allocator, result: Assignment | AllocationError, expected: Any, before: Any) -> None:
    if isinstance(expected, tuple) and expected and isinstance(expected[0], AllocationReason):
        reason, message = expected
        assert result == AllocationError(reason, message)
        assert snapshot(allocator) == before, "a refused operation changed the allocator"
        return
    assert isinstance(result, Assignment), f"expected {expected}, got {result}"
    expected_pool, expected_addresses = expected
    assert (result.pool, result.addresses) == (expected_pool, ips(*expected_addresses))
    assert allocator.assignment(result.service) == result
    for address in result.addresses:
        assert result.service in allocator.holders(address)


# ------------------------------------------------------------------------------------------------
# Auto-allocation: pool order and address order
# ------------------------------------------------------------------------------------------------
FILLED_FIRST_24 = [(req(f"f{i}"), (f"10.0.0.{i}",)) for i in range(1, 255)]

ALLOCATE_ROWS = [
    pytest.param([pool("a", "192.0.2.0/30")], [], req("s"), ("a", ("192.0.2.0",)), id="empty-pool-gives-first-address"),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x"), ("192.0.2.0",)), (req("y"), ("192.0.2.2",))],
        req("s"),
        ("a", ("192.0.2.1",)),
        id="lowest-free-address-fills-a-hole",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30", buggy=True)], [], req("s"), ("a", ("192.0.2.1",)), id="avoid-buggy-skips-dot-zero"
    ),
    pytest.param(
        [pool("a", "192.0.2.254/31", "198.51.100.0/31", buggy=True)],
        [(req("x"), ("192.0.2.254",))],
        req("s"),
        ("a", ("198.51.100.1",)),
        id="avoid-buggy-skips-dot-255-and-next-dot-zero",
    ),
    pytest.param(
        [pool("a", "10.0.0.0/23", buggy=True)],
        FILLED_FIRST_24,
        req("s"),
        ("a", ("10.0.1.1",)),
        id="avoid-buggy-applies-inside-the-cidr-at-every-24-boundary",
    ),
    pytest.param(
        [pool("a", "10.0.0.0/23")],
        FILLED_FIRST_24,
        req("s"),
        ("a", ("10.0.0.0",)),
        id="without-avoid-buggy-dot-zero-is-used",
    ),
    pytest.param(
        [pool("a", "192.0.2.128/31", "192.0.2.0/31")],
        [],
        req("s"),
        ("a", ("192.0.2.128",)),
        id="cidrs-are-used-in-declaration-order",
    ),
    pytest.param(
        [pool("a", "192.0.2.128/31", "192.0.2.0/31")],
        [(req("x"), ("192.0.2.128",)), (req("y"), ("192.0.2.129",))],
        req("s"),
        ("a", ("192.0.2.0",)),
        id="full-cidr-falls-through-to-the-next",
    ),
    pytest.param(
        [pool("b", "198.51.100.0/30"), pool("a", "192.0.2.0/30")],
        [],
        req("s"),
        ("a", ("192.0.2.0",)),
        id="fallback-pools-are-tried-by-name",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30", auto=False), pool("b", "198.51.100.0/30")],
        [],
        req("s"),
        ("b", ("198.51.100.0",)),
        id="auto-assign-false-pool-is-skipped",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30", auto=False)],
        [],
        req("s"),
        (R.NO_AVAILABLE_IPS, "no available IPs"),
        id="only-manual-pools-means-no-available-ips",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/31")],
        [(req("x"), ("192.0.2.0",)), (req("y"), ("192.0.2.1",))],
        req("s"),
        (R.NO_AVAILABLE_IPS, "no available IPs"),
        id="full-pool-means-no-available-ips",
    ),
    pytest.param([], [], req("s"), (R.NO_AVAILABLE_IPS, "no available IPs"), id="no-pools-means-no-available-ips"),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", namespaces=frozenset({"team"}))],
        [],
        req("s", ns="team"),
        ("z", ("203.0.113.0",)),
        id="namespace-pinned-pool-comes-before-fallback",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", namespaces=frozenset({"team"}))],
        [],
        req("s", ns="other"),
        ("a", ("192.0.2.0",)),
        id="pinned-pool-is-not-used-for-other-namespaces",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/32"), pool("z", "203.0.113.0/30", namespaces=frozenset({"team"}))],
        [(req("x"), ("192.0.2.0",))],
        req("s", ns="other"),
        (R.NO_AVAILABLE_IPS, "no available IPs"),
        id="pool-with-service-allocation-is-never-a-fallback",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/32", namespaces=frozenset({"team"}))],
        [(req("x", ns="team"), ("203.0.113.0",))],
        req("s", ns="team"),
        ("a", ("192.0.2.0",)),
        id="full-pinned-pool-falls-back-to-plain-pools",
    ),
    pytest.param(
        [
            pool("x", "192.0.2.0/30", priority=0, service_selectors=()),
            pool("y", "198.51.100.0/30", priority=2),
            pool("z", "203.0.113.0/30", priority=1),
        ],
        [],
        req("s"),
        ("z", ("203.0.113.0",)),
        id="lowest-positive-priority-first",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30", priority=0), pool("b", "198.51.100.0/30", priority=10)],
        [],
        req("s"),
        ("b", ("198.51.100.0",)),
        id="priority-zero-comes-after-any-positive-priority",
    ),
    pytest.param(
        [pool("n", "192.0.2.0/30", priority=5), pool("m", "198.51.100.0/30", priority=5)],
        [],
        req("s"),
        ("m", ("198.51.100.0",)),
        id="equal-priorities-are-ordered-by-name",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", priority=0)],
        [],
        req("s"),
        ("z", ("203.0.113.0",)),
        id="priority-only-service-allocation-admits-everyone-and-is-pinned",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", auto=False, namespaces=frozenset({"team"}))],
        [],
        req("s", ns="team"),
        ("a", ("192.0.2.0",)),
        id="pinned-pool-without-auto-assign-is-not-used",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", service_selectors=())],
        [],
        req("s"),
        ("z", ("203.0.113.0",)),
        id="empty-service-allocation-admits-everyone",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", namespaces=frozenset())],
        [],
        req("s"),
        ("a", ("192.0.2.0",)),
        id="namespace-selectors-matching-nothing-admit-nobody",
    ),
]


def _selector_pools() -> list[Any]:
    team = LabelSelector.from_object({"matchLabels": {"team": "db"}})
    return [
        pytest.param(
            [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", service_selectors=(team,))],
            [],
            req("s", labels={"team": "db"}),
            ("z", ("203.0.113.0",)),
            id="service-selector-pins-matching-services",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/30"), pool("z", "203.0.113.0/30", service_selectors=(team,))],
            [],
            req("s", labels={"team": "web"}),
            ("a", ("192.0.2.0",)),
            id="service-selector-skips-other-services",
        ),
        pytest.param(
            [
                pool("a", "192.0.2.0/30"),
                pool("z", "203.0.113.0/30", namespaces=frozenset({"team"}), service_selectors=(team,)),
            ],
            [],
            req("s", ns="other", labels={"team": "db"}),
            ("a", ("192.0.2.0",)),
            id="namespace-and-service-selector-must-both-pass",
        ),
    ]


SHARING_ROWS = [
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.0",))],
        req("s", share="k", ports=("TCP/443",)),
        ("a", ("192.0.2.0",)),
        id="same-key-disjoint-ports-shares-the-lowest-address",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [
            (req("x", share="k", ports=("TCP/80",)), ("192.0.2.0",)),
            (req("y", share="k", ports=("TCP/443",)), ("192.0.2.1",)),
        ],
        req("s", share="k", ports=("TCP/80",)),
        ("a", ("192.0.2.1",)),
        id="lowest-compatible-in-use-address-beats-higher-free-ones",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.1",))],
        req("s", share="k", ports=("TCP/443",)),
        ("a", ("192.0.2.0",)),
        id="lower-free-address-beats-a-shareable-one",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.0",))],
        req("s", share="other", ports=("TCP/443",)),
        ("a", ("192.0.2.1",)),
        id="different-sharing-key-does-not-share",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", backend="app=x", ports=("TCP/80",)), ("192.0.2.0",))],
        req("s", share="k", backend="app=y", ports=("TCP/443",)),
        ("a", ("192.0.2.1",)),
        id="different-backend-key-does-not-share",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.0",))],
        req("s", ports=("TCP/443",)),
        ("a", ("192.0.2.1",)),
        id="no-sharing-key-does-not-share",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.0",))],
        req("s", share="k", ports=("TCP/80",)),
        ("a", ("192.0.2.1",)),
        id="same-key-overlapping-port-does-not-share",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30")],
        [(req("x", share="k", ports=("TCP/53",)), ("192.0.2.0",))],
        req("s", share="k", ports=("UDP/53",)),
        ("a", ("192.0.2.0",)),
        id="same-port-number-other-protocol-shares",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/31")],
        [(req("x", ports=("TCP/80",)), ("192.0.2.0",)), (req("y", share="k", ports=("TCP/80",)), ("192.0.2.1",))],
        req("s", share="k", ports=("TCP/443",)),
        ("a", ("192.0.2.1",)),
        id="full-pool-still-offers-a-shareable-address",
    ),
]


DUAL_STACK_ROWS = [
    pytest.param(
        [pool("a", "2001:db8::/126", "192.0.2.0/29")],
        [],
        req("s", policy=REQUIRE, fams=(V6, V4)),
        ("a", ("192.0.2.0", "2001:db8::")),
        id="require-dual-stack-gets-ipv4-then-ipv6-from-one-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V4, V6)),
        (R.NO_SUITABLE_POOL_DUALSTACK, "no suitable pool for dualstack IPFamily"),
        id="require-dual-stack-never-combines-two-pools",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126"), pool("c", "198.51.100.0/29", "2001:db8:1::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V4, V6)),
        ("c", ("198.51.100.0", "2001:db8:1::")),
        id="require-dual-stack-skips-single-family-pools",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/32", "2001:db8::/128")],
        [(req("x"), ("192.0.2.0",)), (req("y", fams=(V6,)), ("2001:db8::",))],
        req("s", policy=REQUIRE, fams=(V4, V6)),
        (R.NO_AVAILABLE_IPS, "no available IPs"),
        id="require-dual-stack-with-everything-full",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V6, V4)),
        ("b", ("2001:db8::",)),
        id="prefer-dual-stack-falls-back-to-the-primary-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/128")],
        [(req("x", fams=(V6,)), ("2001:db8::",))],
        req("s", policy=PREFER, fams=(V6, V4)),
        ("a", ("192.0.2.0",)),
        id="prefer-dual-stack-then-the-secondary-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126"), pool("c", "198.51.100.0/29", "2001:db8:1::/126")],
        [],
        req("s", policy=PREFER, fams=(V4, V6)),
        ("c", ("198.51.100.0", "2001:db8:1::")),
        id="prefer-dual-stack-takes-both-when-one-pool-can",
    ),
    pytest.param(
        [pool("p", "192.0.2.0/29", priority=1), pool("q", "198.51.100.0/29", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V4, V6)),
        ("p", ("192.0.2.0",)),
        id="prefer-dual-stack-pinned-single-family-beats-dual-fallback",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", fams=(V6, V4)),
        ("a", ("2001:db8::",)),
        id="single-stack-takes-the-first-cluster-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V6,)),
        ("a", ("2001:db8::",)),
        id="prefer-dual-stack-on-a-single-stack-service-gets-one-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", fams=(V6,)),
        (R.NO_AVAILABLE_IPS, "no available IPs"),
        id="ipv6-service-with-only-ipv4-pools",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [(req("x", share="k", ports=("TCP/80",), policy=REQUIRE, fams=(V4, V6)), ("192.0.2.0", "2001:db8::"))],
        req("s", share="k", ports=("TCP/443",), policy=REQUIRE, fams=(V4, V6)),
        ("a", ("192.0.2.0", "2001:db8::")),
        id="dual-stack-services-share-both-addresses",
    ),
]


@pytest.mark.parametrize("reverse", [pytest.param(False, id="pools-by-name"), pytest.param(True, id="pools-reversed")])
@pytest.mark.parametrize(
    ("pools", "held", "request_", "expected"),
    ALLOCATE_ROWS + _selector_pools() + SHARING_ROWS + DUAL_STACK_ROWS,
)
def test_allocate(pools: list[Pool], held: Held, request_: AllocationRequest, expected: Any, reverse: bool) -> None:
    """Every row twice: the pools given in name order and in reverse order must give the same answer."""
    allocator = build(pools, held, reverse=reverse)
    before = snapshot(allocator)
    check(allocator, allocator.allocate(request_), expected, before)


def test_error_values_print_their_message() -> None:
    result = Allocator().allocate(req("s"))
    assert isinstance(result, AllocationError)
    assert str(result) == "no available IPs"
