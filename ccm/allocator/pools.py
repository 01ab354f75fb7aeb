"""The allocator's view of the configured pools: their indexes, their order, and address lookup.

Theory of operation
-------------------
A :class:`PoolSet` is built from a :class:`~ironlb.config.model.Config` each time the configuration changes.
It holds one :class:`~ccm.allocator.freeindex.CidrIndex` per CIDR (declaration order kept: MetalLB allocates
from a pool's CIDRs in the order the user wrote them) and answers three questions:

Which pools may auto-allocate for this Service, in what order? (metallb.md section 3, "Pool selection order")
    First the *pinned* pools: autoAssign pools whose ``serviceAllocation`` admits the Service, by priority —
    positive priorities ascending, then priority 0 (unset). Then every other autoAssign pool *without*
    ``serviceAllocation``. MetalLB leaves ties (and the whole fallback list) in random map order; ironlb breaks
    every tie by pool name, so the same inputs give the same addresses on every run and after every restart.
    A pool with ``serviceAllocation`` is never used for a Service it does not admit.

Which pool and CIDR contain this address?
    Per IP version, CIDR start addresses in a sorted list, bisected: O(log #CIDRs).

How full is each pool?
    :meth:`PoolState.stats`, from the per-CIDR counters (never by enumeration).

Pool names are read from the ``Config`` mapping and sorted here, so the order in which the mapping was built
cannot leak into any decision.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping

from ccm.allocator.freeindex import CidrIndex
from ccm.allocator.types import MAX_INT64, PoolStats
from ironlb.api.addresses import IPFamily
from ironlb.config.model import Config, Pool

#: IPv6 CIDRs with at least this many host bits count as "never runs out" (MetalLB ``poolCount``).
_HUGE_HOST_BITS = 62


def _sort_key(pool: Pool) -> tuple[int, int, str]:
    """Pinned-pool order: positive priorities ascending, then 0/unset, ties by name."""
    priority = pool.allocation.priority if pool.allocation is not None else 0
    return (0, priority, pool.name) if priority > 0 else (1, 0, pool.name)


class PoolState:
    """One configured pool and the free indexes of its CIDRs."""

    __slots__ = ("by_family", "cidrs", "name", "pool")

    def __init__(self, pool: Pool, cidrs: tuple[CidrIndex, ...]) -> None:
        self.pool = pool
        self.name = pool.name
        self.cidrs = cidrs
        self.by_family: dict[IPFamily, tuple[CidrIndex, ...]] = {
            IPFamily.IPV4: tuple(c for c in cidrs if c.version == 4),
            IPFamily.IPV6: tuple(c for c in cidrs if c.version == 6),
        }

    def __repr__(self) -> str:
        return f"PoolState({self.name!r})"

    def admits(self, namespace: str, labels: Mapping[str, str]) -> bool:
        allocation = self.pool.allocation
        return allocation is None or allocation.admits(namespace, labels)

    def stats(self) -> PoolStats:
        assigned = {4: 0, 6: 0}
        size = {4: 0, 6: 0}
        huge_v6 = False
        for cidr in self.cidrs:
            assigned[cidr.version] += len(cidr.used)
            size[cidr.version] += cidr.usable
            if cidr.version == 6 and cidr.network.max_prefixlen - cidr.network.prefixlen >= _HUGE_HOST_BITS:
                huge_v6 = True
        return PoolStats(
            pool=self.name,
            assigned_ipv4=assigned[4],
            assigned_ipv6=assigned[6],
            size_ipv4=size[4],
            size_ipv6=size[6],
            capacity_ipv4=min(size[4], MAX_INT64),
            capacity_ipv6=MAX_INT64 if huge_v6 else min(size[6], MAX_INT64),
        )


class PoolSet:
    """Every configured pool, indexed for ordering and for address lookup."""

    __slots__ = ("_lookup", "by_name", "fallback", "ignored_cidrs", "pinnable")

    def __init__(self, config: Config) -> None:
        self.by_name: dict[str, PoolState] = {}
        self.ignored_cidrs: list[str] = []
        spans: dict[int, list[tuple[int, int, CidrIndex]]] = {4: [], 6: []}
        for name in sorted(config.pools):
            pool = config.pools[name]
            cidrs = tuple(CidrIndex(name, network, pool.avoid_buggy_ips) for network in pool.cidrs)
            self.by_name[name] = PoolState(pool, cidrs)
            for cidr in cidrs:
                spans[cidr.version].append((cidr.start, cidr.start + cidr.size - 1, cidr))
        # Address lookup: sorted, non-overlapping spans per version. The parser rejects overlapping CIDRs;
        # should one slip through, the CIDR of the later pool (by name, then declaration) is left unused.
        self._lookup: dict[int, tuple[list[int], list[CidrIndex]]] = {}
        accepted: set[int] = set()
        for version, items in spans.items():
            kept: list[tuple[int, int, CidrIndex]] = []
            for first, last, cidr in sorted(items, key=lambda s: (s[0], s[2].pool)):
                if kept and first <= kept[-1][1]:
                    self.ignored_cidrs.append(
                        f"CIDR {cidr.network} in pool {cidr.pool!r} overlaps CIDR {kept[-1][2].network} "
                        f"in pool {kept[-1][2].pool!r} and is not used"
                    )
                    continue
                kept.append((first, last, cidr))
                accepted.add(id(cidr))
            self._lookup[version] = ([k[0] for k in kept], [k[2] for k in kept])
        if self.ignored_cidrs:
            for name, state in list(self.by_name.items()):
                self.by_name[name] = PoolState(state.pool, tuple(c for c in state.cidrs if id(c) in accepted))
        states = list(self.by_name.values())
        #: autoAssign pools carrying serviceAllocation, in pinned order (filtered per Service by `admits`).
        self.pinnable: tuple[PoolState, ...] = tuple(
            sorted(
                (s for s in states if s.pool.auto_assign and s.pool.allocation is not None),
                key=lambda s: _sort_key(s.pool),
            )
        )
        #: autoAssign pools without serviceAllocation, by name.
        self.fallback: tuple[PoolState, ...] = tuple(
            s for s in states if s.pool.auto_assign and s.pool.allocation is None
        )

    def pinned_for(self, namespace: str, labels: Mapping[str, str]) -> list[PoolState]:
        return [s for s in self.pinnable if s.admits(namespace, labels)]

    def locate(self, version: int, value: int) -> CidrIndex | None:
        """The CIDR index containing the address with integer value ``value``, if any."""
        starts, cidrs = self._lookup[version]
        index = bisect_right(starts, value) - 1
        if index < 0:
            return None
        cidr = cidrs[index]
        return cidr if cidr.contains(value) else None

    def __iter__(self) -> Iterator[PoolState]:
        return iter(self.by_name.values())


__all__ = ["PoolSet", "PoolState"]
