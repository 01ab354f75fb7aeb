"""Invariants of the allocator under random operation sequences (hypothesis stateful testing).

A :class:`RuleBasedStateMachine` drives two allocators with the same operations: one over a ``Config`` built in
name order, one over the same pools in reverse mapping order; their results must be identical at every step
(decisions do not depend on the order pools are given in). Every operation is checked against a brute-force
oracle that re-implements MetalLB's scan (enumerate each small pool from its first address, test every
address), so "lowest compatible address, pools by priority then name" is checked, not assumed; refused
operations must leave no trace. After every step:

* no address is held by two Services unless they share it legitimately (same non-empty sharing key, same backend
  key, disjoint ports), and every held address is in its pool, usable, and admitted;
* for every pool, in-use + free = size, with in-use counted from the assignments and size by enumeration;
* ``holders`` agrees with the assignments.

Two rules replay the current assignments into fresh allocators in random orders: the state must come out equal,
and a configuration change applied to two differently-ordered replays must displace the same Services.
"""

from __future__ import annotations

import ipaddress
import os
import random
from collections import defaultdict
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ccm.allocator import (
    AllocationError,
    AllocationRequest,
    Allocator,
    Assignment,
    IPFamilyPolicy,
    Port,
)
from ironlb.api.addresses import IPAddress, IPFamily
from ironlb.config.model import Config, Pool, ServiceAllocation

V4, V6 = IPFamily.IPV4, IPFamily.IPV6
NET = ipaddress.ip_network


def _pools(variant: str) -> list[Pool]:
    p4 = Pool("p4", (NET("192.0.2.0/29"),), avoid_buggy_ips=True)
    dual = Pool("dual", (NET("198.51.100.0/30"), NET("2001:db8::/126")))
    pin = Pool(
        "pin", (NET("203.0.113.0/30"),), allocation=ServiceAllocation(priority=1, namespaces=frozenset({"team"}))
    )
    prio = Pool("prio", (NET("203.0.113.8/31"), NET("2001:db8:2::/127")), allocation=ServiceAllocation(priority=2))
    v6 = Pool("v6", (NET("2001:db8:1::/127"),))
    manual = Pool("man", (NET("192.0.2.252/30"),), auto_assign=False, avoid_buggy_ips=True)
    if variant == "shrink":
        p4 = Pool("p4", (NET("192.0.2.0/30"),), avoid_buggy_ips=True)
        dual = Pool("dual", (NET("198.51.100.0/31"), NET("2001:db8::/127")))
    elif variant == "delete":
        return [p4, pin, prio, v6, manual]
    elif variant == "loosen":
        p4 = Pool("p4", (NET("192.0.2.0/29"),))
        pin = Pool("pin", (NET("203.0.113.0/30"),), allocation=ServiceAllocation(priority=0))
    elif variant == "rename":
        dual = Pool("dual2", dual.cidrs)
        pin = Pool("pin", pin.cidrs, allocation=ServiceAllocation(namespaces=frozenset({"other"})))
    return [p4, dual, pin, prio, v6, manual]


VARIANTS = ("base", "shrink", "delete", "loosen", "rename")
CONFIGS = {v: Config.build(pools=_pools(v)) for v in VARIANTS}


def reversed_config(config: Config) -> Config:
    """The same pools, inserted in reverse name order (Config.build would sort them)."""
    return Config(pools=MappingProxyType(dict(reversed(list(config.pools.items())))))


UNIVERSE: list[IPAddress] = sorted(
    {a for c in CONFIGS.values() for p in c.pools.values() for n in p.cidrs for a in n}
    | {ipaddress.ip_address("192.0.2.100"), ipaddress.ip_address("2001:db8:9::1")},
    key=lambda a: (a.version, int(a)),
)
PORTS = [Port("TCP", 80), Port("TCP", 443), Port("UDP", 53)]
FAMILIES = [
    (IPFamilyPolicy.SINGLE_STACK, (V4,)),
    (IPFamilyPolicy.SINGLE_STACK, (V6,)),
    (IPFamilyPolicy.PREFER_DUAL_STACK, (V4, V6)),
    (IPFamilyPolicy.PREFER_DUAL_STACK, (V6, V4)),
    (IPFamilyPolicy.REQUIRE_DUAL_STACK, (V4, V6)),
]


@st.composite
def requests(draw: Any, *, requested: bool = True) -> AllocationRequest:
    name = draw(st.sampled_from(["s0", "s1", "s2", "s3", "s4", "s5"]))
    namespace = draw(st.sampled_from(["default", "team"]))
    policy, families = draw(st.sampled_from(FAMILIES))
    addresses: tuple[IPAddress, ...] = ()
    if requested and draw(st.integers(0, 5)) == 0:
        addresses = tuple(draw(st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=2)))
    return AllocationRequest(
        service=name,  # keyed by name alone: a Service moving namespace is the same key with a new request
        namespace=namespace,
        ports=tuple(draw(st.sets(st.sampled_from(PORTS), max_size=2))),
        sharing_key=draw(st.sampled_from(["", "k", "k", "j"])),
        backend_key=draw(st.sampled_from(["", "", "b"])),
        ip_family_policy=policy,
        cluster_ip_families=families,
        requested_addresses=addresses,
        requested_pool=draw(st.sampled_from([None, None, None, None, "p4", "dual", "man", "missing"])),
    )


# ------------------------------------------------------------------------------------------------
# The oracle: MetalLB's scan, by enumeration
# ------------------------------------------------------------------------------------------------
def usable(pool: Pool, address: IPAddress) -> bool:
    return not (pool.avoid_buggy_ips and address.version == 4 and int(address) % 256 in (0, 255))


def admits(pool: Pool, request: AllocationRequest) -> bool:
    return pool.allocation is None or pool.allocation.admits(request.namespace, request.labels)


def holders_of(assignments: tuple[Assignment, ...]) -> dict[IPAddress, list[Assignment]]:
    holders: dict[IPAddress, list[Assignment]] = defaultdict(list)
    for assignment in assignments:
        for address in assignment.addresses:
            holders[address].append(assignment)
    return holders


def can_share(existing: AllocationRequest, new: AllocationRequest) -> bool:
    return (
        bool(existing.sharing_key)
        and existing.sharing_key == new.sharing_key
        and existing.backend_key == new.backend_key
        and not set(existing.ports) & set(new.ports)
    )


def family_ok(request: AllocationRequest, families: set[IPFamily], *, strict: bool) -> bool:
    wanted = set(request.families)
    if families == wanted:
        return True
    prefer = request.ip_family_policy is IPFamilyPolicy.PREFER_DUAL_STACK
    return not strict and prefer and len(wanted) == 2 and len(families) == 1


def oracle_legal(
    config: Config,
    assignments: tuple[Assignment, ...],
    request: AllocationRequest,
    addresses: tuple[IPAddress, ...],
    *,
    strict: bool = False,
) -> Pool | None:
    """The pool the addresses would be assigned from, or None if MetalLB's rules forbid it."""
    if not 1 <= len(addresses) <= 2 or (len(addresses) == 2 and addresses[0].version == addresses[1].version):
        return None
    if not family_ok(request, {IPFamily.of(a) for a in addresses}, strict=strict):
        return None
    owners = {p.name for p in config.pools.values() for a in addresses if any(a in n for n in p.cidrs)}
    if len(owners) != 1:
        return None
    pool = config.pools[owners.pop()]
    if not all(any(a in n for n in pool.cidrs) and usable(pool, a) for a in addresses) or not admits(pool, request):
        return None
    holders = holders_of(assignments)
    for address in addresses:
        others = [h.request for h in holders[address] if h.service != request.service]
        if not all(can_share(o, request) for o in others):
            return None
    return pool


def oracle_lowest(
    config: Config, assignments: tuple[Assignment, ...], request: AllocationRequest, pool: Pool, family: IPFamily
) -> IPAddress | None:
    holders = holders_of(assignments)
    for network in pool.cidrs:
        if IPFamily.of(network) is not family:
            continue
        for address in network:
            if usable(pool, address) and all(can_share(h.request, request) for h in holders[address]):
                return address
    return None


def oracle_allocate(
    config: Config, assignments: tuple[Assignment, ...], request: AllocationRequest
) -> tuple[str, tuple[IPAddress, ...]] | None:
    def from_pools(pools: list[Pool]) -> tuple[str, tuple[IPAddress, ...]] | None:
        primary: tuple[str, tuple[IPAddress, ...]] | None = None
        secondary: tuple[str, tuple[IPAddress, ...]] | None = None
        for pool in pools:
            found = {f: oracle_lowest(config, assignments, request, pool, f) for f in request.families}
            got = {f: a for f, a in found.items() if a is not None}
            if len(got) == len(request.families):
                return pool.name, tuple(got[f] for f in (V4, V6) if f in got)
            if request.ip_family_policy is IPFamilyPolicy.PREFER_DUAL_STACK:
                first, second = request.families
                if first in got and primary is None:
                    primary = (pool.name, (got[first],))
                if second in got and secondary is None:
                    secondary = (pool.name, (got[second],))
        return primary or secondary

    if request.requested_addresses:
        pool = oracle_legal(config, assignments, request, request.requested_addresses, strict=True)
        if pool is None or (request.requested_pool is not None and pool.name != request.requested_pool):
            return None
        return pool.name, request.requested_addresses
    if request.requested_pool is not None:
        named = config.pools.get(request.requested_pool)
        return from_pools([named]) if named is not None and admits(named, request) else None
    pools = sorted(config.pools.values(), key=lambda p: p.name)
    pinned = [p for p in pools if p.auto_assign and p.allocation is not None and admits(p, request)]
    pinned.sort(key=lambda p: (p.allocation.priority <= 0, p.allocation.priority, p.name))  # type: ignore[union-attr]
    fallback = [p for p in pools if p.auto_assign and p.allocation is None]
    return from_pools(pinned) or from_pools(fallback)


# ------------------------------------------------------------------------------------------------
# The machine
# ------------------------------------------------------------------------------------------------
def snapshot(allocator: Allocator) -> object:
    return allocator.assignments(), allocator.all_pool_stats()


class AllocatorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.config = CONFIGS["base"]
        self.a = Allocator(self.config)
        self.b = Allocator(reversed_config(self.config))

    def both(self, op: str, *args: Any) -> Any:
        before = snapshot(self.a)
        first = getattr(self.a, op)(*args)
        second = getattr(self.b, op)(*args)
        assert first == second, f"{op}: result depends on pool order: {first} vs {second}"
        if isinstance(first, AllocationError):
            assert snapshot(self.a) == before, f"refused {op} left a trace: {first}"
        return first

    @rule(request=requests())
    def allocate(self, request: AllocationRequest) -> None:
        current = self.a.assignments()
        held = self.a.assignment(request.service)
        if held is not None:
            pool = oracle_legal(self.config, current, request, held.addresses)
            expected = None if pool is None else (pool.name, held.addresses)
        else:
            expected = oracle_allocate(self.config, current, request)
        result = self.both("allocate", request)
        event(f"allocate {'held' if held else 'new'} {'refused' if expected is None else 'granted'}")
        if expected is None:
            assert isinstance(result, AllocationError), f"oracle refuses, allocator gave {result}"
        else:
            assert isinstance(result, Assignment), f"oracle gives {expected}, allocator refused: {result}"
            assert (result.pool, result.addresses) == expected

    @rule(request=requests(requested=False), addresses=st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=2))
    def assign(self, request: AllocationRequest, addresses: list[IPAddress]) -> None:
        pool = oracle_legal(self.config, self.a.assignments(), request, tuple(addresses))
        result = self.both("assign", request, tuple(addresses))
        event(f"assign {'refused' if pool is None else 'granted'}")
        if pool is None:
            assert isinstance(result, AllocationError), f"oracle refuses {addresses}, allocator gave {result}"
        else:
            assert isinstance(result, Assignment), f"oracle allows {addresses} from {pool.name}: {result}"
            assert (result.pool, result.addresses) == (pool.name, tuple(addresses))

    @rule(name=st.sampled_from(["s0", "s1", "s2", "s3", "s4", "s5"]))
    def release(self, name: str) -> None:
        held = self.a.assignment(name)
        assert self.both("release", name) == held
        assert self.a.assignment(name) is None

    @rule(request=requests(requested=False))
    def add_missing_family(self, request: AllocationRequest) -> None:
        held = self.a.assignment(request.service)
        expected: tuple[IPAddress, ...] | None = None
        if held is not None and len(held.addresses) == 2:
            expected = held.addresses
        elif held is not None:
            missing = V6 if held.addresses[0].version == 4 else V4
            pool = self.config.pools[held.pool]
            extra = oracle_lowest(self.config, self.a.assignments(), request, pool, missing)
            if extra is not None:
                candidate = (held.addresses[0], extra)
                if oracle_legal(self.config, self.a.assignments(), request, candidate) is not None:
                    expected = candidate
        result = self.both("add_missing_family", request)
        event(f"add family {'refused' if expected is None else 'granted'}")
        if expected is None:
            assert isinstance(result, AllocationError)
        else:
            assert isinstance(result, Assignment)
            assert result.addresses == expected

    @rule(variant=st.sampled_from(VARIANTS))
    def set_config(self, variant: str) -> None:
        new = CONFIGS[variant]
        current = self.a.assignments()
        expected = set()
        for assignment in current:
            pool = oracle_legal(new, current, assignment.request, assignment.addresses)
            requested = assignment.request.requested_pool
            if pool is None or (requested is not None and pool.name != requested):
                expected.add(assignment.service)
        change = self.a.set_config(new)
        assert self.b.set_config(reversed_config(new)) == change
        self.config = new
        assert set(change.evicted_services) == expected
        event(f"set_config evicted {min(len(expected), 2)}+")
        for assignment in current:
            if assignment.service not in expected:
                kept = self.a.assignment(assignment.service)
                assert kept is not None
                assert kept.addresses == assignment.addresses

    @rule(seed=st.integers(0, 2**32 - 1), variant=st.sampled_from(VARIANTS))
    def replay_in_any_order(self, seed: int, variant: str) -> None:
        current = list(self.a.assignments())
        replicas = []
        for salt in (0, 1):
            random.Random(seed + salt).shuffle(current)
            fresh = Allocator(self.config)
            for assignment in current:
                assert isinstance(fresh.assign(assignment.request, assignment.addresses), Assignment)
            assert snapshot(fresh) == snapshot(self.a), "replaying the assignments changed something"
            replicas.append(fresh)
        changes = [r.set_config(CONFIGS[variant]) for r in replicas]
        assert changes[0] == changes[1], "evictions depend on the order Services were restored in"
        assert snapshot(replicas[0]) == snapshot(replicas[1])

    @invariant()
    def sharing_is_legitimate(self) -> None:
        for address, holders in holders_of(self.a.assignments()).items():
            assert self.a.holders(address) == tuple(sorted(h.service for h in holders))
            for i, first in enumerate(holders):
                for second in holders[i + 1 :]:
                    assert can_share(first.request, second.request), f"{address} held by {first} and {second}"

    @invariant()
    def held_addresses_are_allowed(self) -> None:
        for assignment in self.a.assignments():
            pool = self.config.pools[assignment.pool]
            assert admits(pool, assignment.request)
            assert assignment.request.accepts_families(assignment.families)
            for address in assignment.addresses:
                assert any(address in n for n in pool.cidrs) and usable(pool, address)

    @invariant()
    def used_plus_free_is_size(self) -> None:
        in_use: dict[tuple[str, int], set[IPAddress]] = defaultdict(set)
        for assignment in self.a.assignments():
            for address in assignment.addresses:
                in_use[(assignment.pool, address.version)].add(address)
        for name, pool in self.config.pools.items():
            stats = self.a.pool_stats(name)
            assert stats is not None
            size = {v: sum(1 for n in pool.cidrs if n.version == v for a in n if usable(pool, a)) for v in (4, 6)}
            assert (stats.assigned_ipv4, stats.assigned_ipv6) == (len(in_use[(name, 4)]), len(in_use[(name, 6)]))
            assert (stats.size_ipv4, stats.size_ipv6) == (size[4], size[6])
            assert stats.assigned_ipv4 + stats.free_ipv4 == size[4]
            assert stats.assigned_ipv6 + stats.free_ipv6 == size[6]

    @invariant()
    def pool_order_does_not_matter(self) -> None:
        assert snapshot(self.a) == snapshot(self.b)


AllocatorMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_allocator_machine = AllocatorMachine.TestCase


# ------------------------------------------------------------------------------------------------
# Shuffled reruns with a printed seed (style anchor 13; MetalLB's TestControllerMutation has no seed)
# ------------------------------------------------------------------------------------------------
def _scenario() -> tuple[list[tuple[AllocationRequest, tuple[IPAddress, ...]]], list[AllocationRequest]]:
    """A restart: Services whose status shows addresses (some shared), and pending ones."""
    rng = random.Random(1234)
    allocator = Allocator(CONFIGS["base"])
    for i in range(60):
        policy, families = rng.choice(FAMILIES)
        request = AllocationRequest(
            f"ns{i % 3}/svc{i}",
            ports=(rng.choice(PORTS),),
            sharing_key=rng.choice(["", "k"]),
            ip_family_policy=policy,
            cluster_ip_families=families,
        )
        allocator.allocate(request)
    restored = [(a.request, a.addresses) for a in allocator.assignments()]
    pending = [AllocationRequest(f"pending/p{i}", sharing_key="k", ports=(Port("TCP", 1000 + i),)) for i in range(8)]
    return restored, pending


def _restart(
    restored: list[tuple[AllocationRequest, tuple[IPAddress, ...]]], pending: list[AllocationRequest]
) -> tuple[object, object, object]:
    allocator = Allocator(CONFIGS["base"])
    for request, addresses in restored:
        assert isinstance(allocator.assign(request, addresses), Assignment)
    outcome = [allocator.allocate(p) for p in sorted(pending, key=lambda p: p.service)]
    change = allocator.set_config(CONFIGS["shrink"])
    return snapshot(allocator), outcome, change


def test_restart_outcome_does_not_depend_on_restore_order() -> None:
    seed = int(os.environ.get("IRONLB_TEST_SEED", random.SystemRandom().randrange(2**32)))
    print(f"IRONLB_TEST_SEED={seed}")
    restored, pending = _scenario()
    assert len(restored) > 10
    reference = _restart(restored, pending)
    rng = random.Random(seed)
    for rerun in range(20):
        rng.shuffle(restored)
        rng.shuffle(pending)
        assert _restart(restored, pending) == reference, f"rerun {rerun} differs; IRONLB_TEST_SEED={seed}"
