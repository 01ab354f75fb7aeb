"""Explicit operations: requested addresses and pools, ``assign`` (restore), ``add_missing_family``.

Same row shape as test_allocate.py: each row builds a fresh allocator, assigns what other Services hold, runs
one operation, and checks the chosen addresses or the exact reason and MetalLB message; after a refusal,
nothing may have changed. Covers every sharing refusal text, the family checks (strict for requested
addresses, PreferDualStack-lenient for restores), the requested-pool rules (unknown, ignores autoAssign, still
checks serviceAllocation, full, wrong family) and idempotent re-allocation.
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


REQUESTED_ROWS = [
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", addrs=("192.0.2.5",)),
        ("a", ("192.0.2.5",)),
        id="requested-address-is-assigned-exactly",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", auto=False)],
        [],
        req("s", addrs=("192.0.2.5",)),
        ("a", ("192.0.2.5",)),
        id="requested-address-from-a-manual-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", addrs=("203.0.113.9",)),
        (R.NOT_ALLOWED_IN_CONFIG, '["203.0.113.9"] is not allowed in config'),
        id="requested-address-outside-every-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/24", buggy=True)],
        [],
        req("s", addrs=("192.0.2.255",)),
        (R.NOT_ALLOWED_IN_CONFIG, '["192.0.2.255"] is not allowed in config'),
        id="requested-buggy-address-is-not-allowed",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V4, V6), addrs=("192.0.2.1", "2001:db8::1")),
        (R.NOT_ALLOWED_IN_CONFIG, '["192.0.2.1" "2001:db8::1"] is not allowed in config'),
        id="requested-addresses-from-two-pools",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V6, V4), addrs=("2001:db8::1", "192.0.2.1")),
        ("a", ("2001:db8::1", "192.0.2.1")),
        id="requested-dual-stack-pair-keeps-its-order",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", addrs=("2001:db8::1",)),
        (
            R.FAMILY_MISMATCH,
            'requested loadBalancer IP(s) ["2001:db8::1"] does not match the ipFamily of the service',
        ),
        id="requested-ipv6-for-an-ipv4-service",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V4, V6), addrs=("192.0.2.1",)),
        (
            R.FAMILY_MISMATCH,
            'requested loadBalancer IP(s) ["192.0.2.1"] does not match the ipFamily of the service',
        ),
        id="one-requested-address-for-a-dual-stack-service",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "198.51.100.0/29")],
        [],
        req("s", addrs=("192.0.2.1",), from_pool="b"),
        (
            R.NOT_IN_REQUESTED_POOL,
            'requested loadBalancer IP(s) ["192.0.2.1"] is not compatible with requested address pool b',
        ),
        id="requested-address-outside-requested-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "198.51.100.0/29")],
        [],
        req("s", addrs=("198.51.100.3",), from_pool="b"),
        ("b", ("198.51.100.3",)),
        id="requested-address-inside-requested-pool",
    ),
    pytest.param(
        [pool("z", "203.0.113.0/29", namespaces=frozenset({"team"}))],
        [],
        req("s", addrs=("203.0.113.1",)),
        (R.POOL_NOT_COMPATIBLE, "pool z not compatible for ip assignment"),
        id="requested-address-in-a-pool-that-does-not-admit-the-service",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x"), ("192.0.2.1",))],
        req("s", share="k", addrs=("192.0.2.1",)),
        (
            R.EXISTING_DOES_NOT_SHARE,
            'can\'t change sharing key for "default/s", address also in use by default/x: '
            "existing service does not allow sharing",
        ),
        id="requested-address-held-by-a-service-that-does-not-share",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x", share="k"), ("192.0.2.1",))],
        req("s", addrs=("192.0.2.1",)),
        (
            R.NEW_DOES_NOT_SHARE,
            'can\'t change sharing key for "default/s", address also in use by default/x: '
            "new service does not allow sharing",
        ),
        id="requesting-service-without-sharing-key",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x", share="k"), ("192.0.2.1",)), (req("y", share="k", ports=("TCP/81",)), ("192.0.2.1",))],
        req("s", share="j", addrs=("192.0.2.1",)),
        (
            R.SHARING_KEY_MISMATCH,
            'can\'t change sharing key for "default/s", address also in use by default/x,default/y: '
            'sharing key "j" does not match existing sharing key "k"',
        ),
        id="sharing-key-mismatch-names-every-holder",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x", share="k", backend="app=x"), ("192.0.2.1",))],
        req("s", share="k", backend="app=y", addrs=("192.0.2.1",)),
        (
            R.BACKEND_KEY_MISMATCH,
            'can\'t change sharing key for "default/s", address also in use by default/x: '
            'backend key "app=y" does not match existing backend key "app=x"',
        ),
        id="backend-key-mismatch",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x", share="k", ports=("TCP/80", "UDP/53")), ("192.0.2.1",))],
        req("s", share="k", ports=("TCP/443", "UDP/53"), addrs=("192.0.2.1",)),
        (R.PORT_IN_USE, 'port UDP/53 is already in use on "192.0.2.1"'),
        id="port-already-in-use",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("x", share="k", ports=("TCP/80",)), ("192.0.2.1",))],
        req("s", share="k", ports=("TCP/443",), addrs=("192.0.2.1",)),
        ("a", ("192.0.2.1",)),
        id="requested-shared-address-is-granted",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V4, V6), addrs=("192.0.2.1", "2001:db8::1", "192.0.2.2")),
        (R.TOO_MANY_ADDRESSES, 'more than two addresses ["192.0.2.1" "2001:db8::1" "192.0.2.2"]'),
        id="more-than-two-requested-addresses",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", addrs=("192.0.2.1", "192.0.2.2")),
        (R.SAME_FAMILY, '"192.0.2.1" "192.0.2.2" has the same family'),
        id="two-requested-addresses-of-one-family",
    ),
]


REQUESTED_POOL_ROWS = [
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", from_pool="nope"),
        (R.UNKNOWN_POOL, 'unknown pool "nope"'),
        id="unknown-requested-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("m", "198.51.100.0/29", auto=False)],
        [],
        req("s", from_pool="m"),
        ("m", ("198.51.100.0",)),
        id="requested-pool-ignores-auto-assign",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", priority=1), pool("b", "198.51.100.0/29")],
        [],
        req("s", from_pool="b"),
        ("b", ("198.51.100.0",)),
        id="requested-pool-beats-priorities",
    ),
    pytest.param(
        [pool("z", "203.0.113.0/29", namespaces=frozenset({"team"}))],
        [],
        req("s", ns="other", from_pool="z"),
        (R.POOL_NOT_COMPATIBLE, "pool z not compatible for ip assignment"),
        id="requested-pool-still-checks-service-allocation",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/32")],
        [(req("x"), ("192.0.2.0",))],
        req("s", from_pool="a"),
        (R.NO_AVAILABLE_IPS_IN_POOL, "no available IPs in pool a"),
        id="requested-pool-is-full",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", fams=(V6,), from_pool="a"),
        (R.NO_AVAILABLE_IPS_IN_POOL, "no available IPs in pool a for IPv6 IPFamily"),
        id="requested-pool-lacks-the-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", policy=REQUIRE, fams=(V4, V6), from_pool="a"),
        (R.NO_AVAILABLE_IPS_IN_POOL, "no available IPs in pool a for dualstack IPFamily"),
        id="requested-pool-cannot-give-both-families",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", policy=PREFER, fams=(V6, V4), from_pool="a"),
        ("a", ("192.0.2.0",)),
        id="requested-pool-prefer-dual-stack-settles-for-one-family",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=REQUIRE, fams=(V6, V4), from_pool="a"),
        ("a", ("192.0.2.0", "2001:db8::")),
        id="requested-dual-stack-pool-gives-both",
    ),
]


@pytest.mark.parametrize(("pools", "held", "request_", "expected"), REQUESTED_ROWS + REQUESTED_POOL_ROWS)
def test_allocate_requested(pools: list[Pool], held: Held, request_: AllocationRequest, expected: Any) -> None:
    allocator = build(pools, held)
    before = snapshot(allocator)
    check(allocator, allocator.allocate(request_), expected, before)


# ------------------------------------------------------------------------------------------------
# assign (restore) and idempotency
# ------------------------------------------------------------------------------------------------
ASSIGN_ROWS = [
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("s"), ("192.0.2.3",))],
        req("s"),
        ("192.0.2.3",),
        ("a", ("192.0.2.3",)),
        id="reassigning-the-same-address-is-idempotent",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", auto=False)],
        [],
        req("s"),
        ("192.0.2.3",),
        ("a", ("192.0.2.3",)),
        id="restore-into-a-manual-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [(req("s", share="k", ports=("TCP/80",)), ("192.0.2.3",))],
        req("s", share="other", ports=("TCP/80",)),
        ("192.0.2.3",),
        ("a", ("192.0.2.3",)),
        id="sole-holder-changes-its-sharing-key-in-place",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [
            (req("s", share="k", ports=("TCP/80",)), ("192.0.2.3",)),
            (req("t", share="k", ports=("TCP/443",)), ("192.0.2.3",)),
        ],
        req("s", share="other", ports=("TCP/80",)),
        ("192.0.2.3",),
        (
            R.SHARING_KEY_MISMATCH,
            'can\'t change sharing key for "default/s", address also in use by default/t: '
            'sharing key "other" does not match existing sharing key "k"',
        ),
        id="holder-cannot-change-the-key-of-a-shared-address",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [
            (req("s", share="k", ports=("TCP/80",)), ("192.0.2.3",)),
            (req("t", share="k", ports=("TCP/443",)), ("192.0.2.3",)),
        ],
        req("s", share="k", ports=("UDP/53",)),
        ("192.0.2.3",),
        ("a", ("192.0.2.3",)),
        id="holder-may-change-its-ports-on-a-shared-address",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s", fams=(V6,)),
        ("192.0.2.3",),
        (R.FAMILY_MISMATCH, 'loadBalancer IP(s) ["192.0.2.3"] does not match the ipFamily of the service'),
        id="restore-of-the-wrong-family-is-refused",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V4, V6)),
        ("2001:db8::3",),
        ("a", ("2001:db8::3",)),
        id="restore-of-one-family-for-prefer-dual-stack-is-accepted",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29")],
        [],
        req("s"),
        (),
        (R.NO_ADDRESSES, "no addresses to assign"),
        id="assigning-nothing-is-refused",
    ),
]


@pytest.mark.parametrize(("pools", "held", "request_", "addresses", "expected"), ASSIGN_ROWS)
def test_assign(
    pools: list[Pool], held: Held, request_: AllocationRequest, addresses: tuple[str, ...], expected: Any
) -> None:
    allocator = build(pools, held)
    before = snapshot(allocator)
    check(allocator, allocator.assign(request_, ips(*addresses)), expected, before)


def test_allocate_for_a_service_that_holds_addresses_keeps_them() -> None:
    allocator = build([pool("a", "192.0.2.0/29")], [(req("s"), ("192.0.2.5",))])
    result = allocator.allocate(req("s", ports=("TCP/80",)))
    assert isinstance(result, Assignment)
    assert result.addresses == ips("192.0.2.5")
    assert result.request.ports == (Port("TCP", 80),)


def test_allocate_for_a_holder_revalidates_against_the_new_request() -> None:
    allocator = build(
        [pool("a", "192.0.2.0/29")],
        [(req("s", share="k", ports=("TCP/80",)), ("192.0.2.5",)), (req("t", share="k"), ("192.0.2.5",))],
    )
    before = snapshot(allocator)
    result = allocator.allocate(req("s", share="j", ports=("TCP/80",)))
    assert isinstance(result, AllocationError)
    assert result.reason is R.SHARING_KEY_MISMATCH
    assert snapshot(allocator) == before


# ------------------------------------------------------------------------------------------------
# PreferDualStack: adding the missing family
# ------------------------------------------------------------------------------------------------
ADD_FAMILY_ROWS = [
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [(req("s", policy=PREFER, fams=(V4, V6)), ("192.0.2.4",))],
        req("s", policy=PREFER, fams=(V4, V6)),
        ("a", ("192.0.2.4", "2001:db8::")),
        id="adds-ipv6-from-the-same-pool-existing-address-first",
    ),
    pytest.param(
        [pool("a", "2001:db8::/126", "192.0.2.0/29")],
        [(req("s", policy=PREFER, fams=(V6, V4)), ("2001:db8::2",))],
        req("s", policy=PREFER, fams=(V6, V4)),
        ("a", ("2001:db8::2", "192.0.2.0")),
        id="adds-ipv4-to-an-ipv6-holder",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("b", "2001:db8::/126")],
        [(req("s", policy=PREFER, fams=(V4, V6)), ("192.0.2.4",))],
        req("s", policy=PREFER, fams=(V4, V6)),
        (R.NO_AVAILABLE_IPS_IN_POOL, "no available IPs in pool a for IPv6 IPFamily"),
        id="never-from-another-pool",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/128")],
        [
            (req("s", policy=PREFER, fams=(V4, V6)), ("192.0.2.4",)),
            (req("x", share="k", ports=("TCP/80",), fams=(V6,)), ("2001:db8::",)),
        ],
        req("s", policy=PREFER, fams=(V4, V6), share="k", ports=("TCP/443",)),
        ("a", ("192.0.2.4", "2001:db8::")),
        id="missing-family-may-be-a-shared-address",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [],
        req("s", policy=PREFER, fams=(V4, V6)),
        (R.NOT_ASSIGNED, 'service "default/s" holds no address to add another IP family to'),
        id="nothing-held-nothing-to-add-to",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [(req("s", policy=PREFER, fams=(V4, V6)), ("192.0.2.4", "2001:db8::1"))],
        req("s", policy=PREFER, fams=(V4, V6)),
        ("a", ("192.0.2.4", "2001:db8::1")),
        id="already-dual-stack-is-unchanged",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", "2001:db8::/126")],
        [(req("s"), ("192.0.2.4",))],
        req("s"),
        (
            R.FAMILY_MISMATCH,
            'loadBalancer IP(s) ["192.0.2.4" "2001:db8::"] does not match the ipFamily of the service',
        ),
        id="single-stack-service-cannot-get-a-second-family",
    ),
]


@pytest.mark.parametrize(("pools", "held", "request_", "expected"), ADD_FAMILY_ROWS)
def test_add_missing_family(pools: list[Pool], held: Held, request_: AllocationRequest, expected: Any) -> None:
    allocator = build(pools, held)
    before = snapshot(allocator)
    check(allocator, allocator.add_missing_family(request_), expected, before)
