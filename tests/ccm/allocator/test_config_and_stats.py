"""Configuration changes, release, lookups and pool statistics.

``set_config`` must report exactly the Services a new configuration displaces (pool deleted or shrunk,
avoidBuggyIPs switched on, serviceAllocation narrowed, requested pool no longer the owner) and leave every
other assignment untouched; statistics follow MetalLB's ``poolCount`` (including the 2**63-1 cap for huge
IPv6 CIDRs) while the exact sizes stay available.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ccm.allocator import (
    MAX_INT64,
    AllocationReason,
    AllocationRequest,
    Allocator,
    Assignment,
    Port,
)
from ironlb.api.addresses import IPAddress, IPFamily
from ironlb.config.model import Config, Pool, ServiceAllocation

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
    name: str, *, ns: str = "default", share: str = "", ports: tuple[int, ...] = (), **kw: Any
) -> AllocationRequest:
    return AllocationRequest(
        f"{ns}/{name}", namespace=ns, sharing_key=share, ports=tuple(Port("TCP", p) for p in ports), **kw
    )


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def held(allocator: Allocator, request: AllocationRequest, *addresses: str) -> Assignment:
    result = allocator.assign(request, tuple(ip(a) for a in addresses))
    assert isinstance(result, Assignment), result
    return result


# ------------------------------------------------------------------------------------------------
# set_config
# ------------------------------------------------------------------------------------------------
BASE = [pool("a", "192.0.2.0/29"), pool("b", "198.51.100.0/29")]

SET_CONFIG_ROWS = [
    pytest.param(
        [pool("b", "198.51.100.0/29")],
        {"default/s1": (R.NOT_ALLOWED_IN_CONFIG, '["192.0.2.1"] is not allowed in config')},
        {},
        id="deleting-a-pool-evicts-only-its-services",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/32", "192.0.2.2/31"), pool("b", "198.51.100.0/29")],
        {"default/s1": (R.NOT_ALLOWED_IN_CONFIG, '["192.0.2.1"] is not allowed in config')},
        {},
        id="shrinking-a-pool-evicts-addresses-outside-it",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/30"), pool("b", "198.51.100.0/29", buggy=True)],
        {"default/s0": (R.NOT_ALLOWED_IN_CONFIG, '["198.51.100.0"] is not allowed in config')},
        {},
        id="turning-on-avoid-buggy-ips-evicts-dot-zero",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", namespaces=frozenset({"team"})), pool("b", "198.51.100.0/29")],
        {"default/s1": (R.POOL_NOT_COMPATIBLE, "pool a not compatible for ip assignment")},
        {},
        id="narrowing-service-allocation-evicts-services-it-no-longer-admits",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29", auto=False), pool("b", "198.51.100.0/29")],
        {},
        {},
        id="turning-off-auto-assign-keeps-existing-assignments",
    ),
    pytest.param(
        [pool("renamed", "192.0.2.0/29"), pool("b", "198.51.100.0/29")],
        {},
        {"default/s1": ("a", "renamed")},
        id="renaming-a-pool-retags-its-services",
    ),
    pytest.param(
        [pool("a", "192.0.2.0/29"), pool("c", "198.51.100.0/29")],
        {
            "default/p": (
                R.NOT_IN_REQUESTED_POOL,
                '["198.51.100.5"] now belong to pool c, not to requested address pool b',
            )
        },
        {"default/s0": ("b", "c")},
        id="address-leaving-the-requested-pool-is-evicted",
    ),
]


@pytest.mark.parametrize(("new_pools", "evicted", "retagged"), SET_CONFIG_ROWS)
def test_set_config(new_pools: list[Pool], evicted: dict[str, Any], retagged: dict[str, tuple[str, str]]) -> None:
    allocator = Allocator(Config.build(pools=BASE))
    held(allocator, req("s0"), "198.51.100.0")
    held(allocator, req("s1"), "192.0.2.1")
    held(allocator, req("p", requested_pool="b"), "198.51.100.5")
    before = {a.service: a for a in allocator.assignments()}

    change = allocator.set_config(Config.build(pools=new_pools))

    assert {e.assignment.service: (e.error.reason, e.error.message) for e in change.evicted} == evicted
    assert change.evicted_services == tuple(sorted(evicted))
    assert {r.service: (r.old_pool, r.new_pool) for r in change.retagged} == retagged
    for eviction in change.evicted:
        assert eviction.assignment == before[eviction.assignment.service]
        assert allocator.assignment(eviction.assignment.service) is None
        assert allocator.holders(eviction.assignment.addresses[0]) == ()
    for service, old in before.items():
        if service in evicted:
            continue
        now = allocator.assignment(service)
        assert now is not None
        assert now.addresses == old.addresses
        assert now.pool == retagged.get(service, (old.pool, old.pool))[1]
    assert allocator.config == Config.build(pools=new_pools)


def test_set_config_frees_evicted_addresses_for_reuse() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/30")]))
    for name in ("s0", "s1", "s2"):
        assert isinstance(allocator.allocate(req(name)), Assignment)
    allocator.set_config(Config.build(pools=[pool("a", "192.0.2.0/30", buggy=True)]))
    stats = allocator.pool_stats("a")
    assert stats is not None
    assert (stats.assigned_ipv4, stats.size_ipv4) == (2, 3)
    result = allocator.allocate(req("s0"))
    assert isinstance(result, Assignment)
    assert result.addresses == (ip("192.0.2.3"),)


def test_set_config_keeps_shared_addresses_shared() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/30")]))
    held(allocator, req("x", share="k", ports=(80,)), "192.0.2.1")
    held(allocator, req("y", share="k", ports=(443,)), "192.0.2.1")
    change = allocator.set_config(Config.build(pools=[pool("b", "192.0.2.0/29")]))
    assert change.evicted == ()
    assert allocator.holders(ip("192.0.2.1")) == ("default/x", "default/y")
    refused = allocator.assign(req("z"), (ip("192.0.2.1"),))
    assert not isinstance(refused, Assignment)
    assert refused.reason is R.NEW_DOES_NOT_SHARE


def test_overlapping_cidrs_are_reported_and_the_later_pool_loses_them() -> None:
    allocator = Allocator()
    change = allocator.set_config(Config.build(pools=[pool("a", "192.0.2.0/30"), pool("b", "192.0.2.2/31")]))
    assert change.ignored_cidrs == (
        "CIDR 192.0.2.2/31 in pool 'b' overlaps CIDR 192.0.2.0/30 in pool 'a' and is not used",
    )
    assert allocator.pool_of_address(ip("192.0.2.3")) == "a"
    stats = allocator.pool_stats("b")
    assert stats is not None
    assert stats.size_ipv4 == 0


# ------------------------------------------------------------------------------------------------
# release and lookups
# ------------------------------------------------------------------------------------------------
def test_release_returns_what_was_held_and_frees_it() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/30")]))
    first = allocator.allocate(req("s0"))
    assert isinstance(first, Assignment)
    assert "default/s0" in allocator
    assert len(allocator) == 1
    assert allocator.release("default/s0") == first
    assert allocator.release("default/s0") is None
    assert "default/s0" not in allocator
    assert allocator.holders(ip("192.0.2.0")) == ()
    again = allocator.allocate(req("s1"))
    assert isinstance(again, Assignment)
    assert again.addresses == first.addresses


def test_shared_address_stays_in_use_until_its_last_holder_leaves() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/30")]))
    held(allocator, req("x", share="k", ports=(80,)), "192.0.2.0")
    held(allocator, req("y", share="k", ports=(443,)), "192.0.2.0")
    allocator.release("default/x")
    assert allocator.holders(ip("192.0.2.0")) == ("default/y",)
    taken = allocator.allocate(req("z"))
    assert isinstance(taken, Assignment)
    assert taken.addresses == (ip("192.0.2.1"),)
    allocator.release("default/y")
    stats = allocator.pool_stats("a")
    assert stats is not None
    assert stats.assigned_ipv4 == 1


def test_lookups_outside_every_pool() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/30")]))
    assert allocator.holders(ip("203.0.113.1")) == ()
    assert allocator.holders(ip("2001:db8::1")) == ()
    assert allocator.holders(ip("0.0.0.1")) == ()
    assert allocator.pool_of_address(ip("203.0.113.1")) is None
    assert allocator.pool_stats("missing") is None
    assert allocator.assignment("default/none") is None


def test_assignments_are_listed_by_service_key() -> None:
    allocator = Allocator(Config.build(pools=[pool("a", "192.0.2.0/29")]))
    for name in ("c", "a", "b"):
        allocator.allocate(req(name))
    assert [a.service for a in allocator.assignments()] == ["default/a", "default/b", "default/c"]


# ------------------------------------------------------------------------------------------------
# Statistics (MetalLB TestPoolCount, plus the exact sizes)
# ------------------------------------------------------------------------------------------------
SLASH8 = 2**24 - 2 * 2**16  # two avoided addresses in each of 2**16 /24s

STATS_ROWS = [
    pytest.param(pool("p", "192.0.2.0/24"), (256, 0), (256, 0), 256, id="one-24"),
    pytest.param(pool("p", "192.0.2.0/24", "198.51.100.128/25"), (384, 0), (384, 0), 384, id="a-24-and-a-25"),
    pytest.param(
        pool("p", "192.0.2.0/24", "198.51.100.128/25", buggy=True),
        (381, 0),
        (381, 0),
        381,
        id="avoid-buggy-removes-dot-zero-and-dot-255",
    ),
    pytest.param(
        pool("p", "192.0.2.0/24", "198.51.100.128/25", "2001:db8::/64", buggy=True),
        (381, MAX_INT64),
        (381, 2**64),
        MAX_INT64,
        id="huge-ipv6-cidr-counts-as-max-int64",
    ),
    pytest.param(
        pool("p", "2001:db8::/64", "2001:db8:1::/64"),
        (0, MAX_INT64),
        (0, 2**65),
        MAX_INT64,
        id="two-huge-ipv6-cidrs-do-not-overflow",
    ),
    pytest.param(
        pool("p", "192.0.2.0/31", "2001:db8::/127", buggy=True),
        (1, 2),
        (1, 2),
        3,
        id="avoid-buggy-does-not-touch-ipv6",
    ),
    pytest.param(
        pool("p", "2001:db8::/67"),
        (0, 2**61),
        (0, 2**61),
        2**61,
        id="ipv6-with-61-host-bits-is-counted-exactly",
    ),
    pytest.param(pool("p", "10.0.0.0/8", buggy=True), (SLASH8, 0), (SLASH8, 0), SLASH8, id="a-slash-8-avoiding-buggy"),
]


@pytest.mark.parametrize(("the_pool", "capacity", "size", "total"), STATS_ROWS)
def test_pool_stats(the_pool: Pool, capacity: tuple[int, int], size: tuple[int, int], total: int) -> None:
    stats = Allocator(Config.build(pools=[the_pool])).pool_stats("p")
    assert stats is not None
    assert (stats.capacity_ipv4, stats.capacity_ipv6) == capacity
    assert (stats.size_ipv4, stats.size_ipv6) == size
    assert stats.addresses_total == total
    assert (stats.assigned_ipv4, stats.assigned_ipv6, stats.addresses_in_use) == (0, 0, 0)
    assert (stats.available_ipv4, stats.available_ipv6) == capacity


def test_pool_stats_count_distinct_addresses_in_use() -> None:
    allocator = Allocator(Config.build(pools=[pool("p", "192.0.2.0/30", "2001:db8::/64")]))
    v6 = (IPFamily.IPV6,)
    held(allocator, req("x", share="k", ports=(80,)), "192.0.2.1")
    held(allocator, req("y", share="k", ports=(443,)), "192.0.2.1")
    held(allocator, req("z", cluster_ip_families=v6), "2001:db8::5")
    stats = allocator.all_pool_stats()["p"]
    assert (stats.assigned_ipv4, stats.assigned_ipv6, stats.addresses_in_use) == (1, 1, 2)
    assert (stats.available_ipv4, stats.available_ipv6) == (3, MAX_INT64 - 1)
    assert (stats.free_ipv4, stats.free_ipv6) == (3, 2**64 - 1)
