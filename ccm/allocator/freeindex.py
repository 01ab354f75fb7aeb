"""Free-address indexes whose cost does not grow with the size of a pool.

Theory of operation
-------------------
MetalLB finds a free address by walking each CIDR from its first address and testing every one
(``getIPFromCIDR``), so allocating from a /64 or a /8 costs as much as the pool is full. ironlb never
enumerates a pool. Each CIDR gets a :class:`CidrIndex` over *offsets* ``0 .. size-1`` (Python integers, so a
/64 is no different from a /28) holding only what is in use:

``used``
    offset -> :class:`AddressUse` for every address some Service holds. Its length is the in-use count.
``hwm`` (high-water mark)
    Every offset at or above ``hwm`` that is not in ``used`` is free. Offsets below it were passed over because
    they were in use (or avoided) when the mark moved.
``released``
    A min-heap (plus a membership set, so nothing is pushed twice) of offsets *below* ``hwm`` that were freed.
    Entries are removed lazily: an entry that was taken again by an explicit assignment is dropped when it
    reaches the top.

Invariant: every free, non-avoided offset below ``hwm`` is in ``released``. Hence the lowest free offset is the
valid top of the heap if there is one, else ``hwm`` after moving it past used and avoided offsets. The mark only
moves forward, so the walk is amortized O(1) per address ever assigned; heap operations are O(log n) in the
number of *used* addresses. ``avoidBuggyIPs`` offsets (IPv4 addresses ending in .0 or .255, metallb.md 1.1) are
skipped arithmetically (at most two steps), and counted in closed form.

Sharing (metallb.md section 2): an in-use address is as good as a free one for a Service with the same
sharing key and backend key and no overlapping ports, and MetalLB takes the *lowest* such address. The
:class:`SharedIndex` keeps, per (IP version, sharing key, backend key), the sorted absolute addresses in use under
that key and, per (protocol, port), the subset where that port is taken; the lowest compatible address inside
one CIDR is found by bisection (skipping a run of port-conflicting addresses in one O(log n) step), and only
addresses below the lowest free offset are considered.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort

from ccm.allocator.types import Port
from ironlb.api.addresses import IPNetwork

#: last-octet values avoidBuggyIPs skips (smurf protection on some CPE firmwares treats them as broadcast).
_BUGGY_LOW = 0
_BUGGY_HIGH = 255


class AddressUse:
    """Who holds one address. All holders share one (sharing key, backend key); their ports are disjoint."""

    __slots__ = ("backend_key", "holders", "sharing_key")

    def __init__(self, sharing_key: str, backend_key: str) -> None:
        self.sharing_key = sharing_key
        self.backend_key = backend_key
        #: service key -> the ports it uses on this address
        self.holders: dict[str, frozenset[Port]] = {}


def _count_congruent(first: int, last: int, residue: int, modulus: int) -> int:
    """How many x in [first, last] have x % modulus == residue."""
    return (last - residue) // modulus - (first - 1 - residue) // modulus


def count_buggy(start: int, size: int) -> int:
    """How many IPv4 addresses in [start, start+size) end in .0 or .255."""
    last = start + size - 1
    return _count_congruent(start, last, _BUGGY_LOW, 256) + _count_congruent(start, last, _BUGGY_HIGH, 256)


class CidrIndex:
    """Free-offset index of one CIDR of one pool (see the module docstring)."""

    __slots__ = (
        "_hwm",
        "_released",
        "_released_set",
        "avoid_buggy",
        "network",
        "pool",
        "size",
        "start",
        "usable",
        "used",
        "version",
    )

    def __init__(self, pool: str, network: IPNetwork, avoid_buggy: bool) -> None:
        self.pool = pool
        self.network = network
        self.version = network.version
        self.start = int(network.network_address)
        self.size = network.num_addresses
        #: avoidBuggyIPs only concerns IPv4 (metallb.md 1.1).
        self.avoid_buggy = avoid_buggy and self.version == 4
        #: exact number of addresses that may be handed out.
        self.usable = self.size - (count_buggy(self.start, self.size) if self.avoid_buggy else 0)
        self.used: dict[int, AddressUse] = {}
        self._hwm = 0
        self._released: list[int] = []
        self._released_set: set[int] = set()

    def __repr__(self) -> str:
        return f"CidrIndex({self.pool!r}, {self.network}, used={len(self.used)})"

    def contains(self, value: int) -> bool:
        return self.start <= value < self.start + self.size

    def is_avoided(self, offset: int) -> bool:
        if not self.avoid_buggy:
            return False
        last_octet = (self.start + offset) & 0xFF
        return last_octet in (_BUGGY_LOW, _BUGGY_HIGH)

    def lowest_free(self) -> int | None:
        """The lowest offset no Service holds and avoidBuggyIPs allows, or None when the CIDR is full.

        Normalizes the index as a side effect (drops stale heap entries, moves the mark); what it returns and
        what the index represents do not change.
        """
        heap = self._released
        used = self.used
        while heap:
            top = heap[0]
            if top in used:
                heapq.heappop(heap)
                self._released_set.discard(top)
                continue
            return top
        mark = self._hwm
        size = self.size
        while mark < size and (mark in used or self.is_avoided(mark)):
            mark += 1
        self._hwm = mark
        return mark if mark < size else None

    def take(self, offset: int, use: AddressUse) -> None:
        """Record that ``offset`` is now in use (its heap entry, if any, is dropped lazily)."""
        self.used[offset] = use

    def free(self, offset: int) -> None:
        """Record that no Service holds ``offset`` any more."""
        del self.used[offset]
        if offset < self._hwm and offset not in self._released_set:
            self._released_set.add(offset)
            heapq.heappush(self._released, offset)

    @property
    def free_count(self) -> int:
        return self.usable - len(self.used)


def _first_gap(values: list[int], blocked: list[int], index: int) -> int:
    """The first position at or after ``index`` whose value is not in ``blocked`` (a sorted subset of ``values``).

    While ``values[index + m]`` is in ``blocked``, it sits at ``blocked[k + m]`` (both sorted, no gap in between):
    the predicate ``blocked[k + m] == values[index + m]`` holds for a prefix of ``m`` only, so bisect on it.
    """
    k = bisect_left(blocked, values[index])
    if k == len(blocked) or blocked[k] != values[index]:
        return index
    low, high = 1, min(len(values) - index, len(blocked) - k)  # m = 0 holds; find the first m that fails
    while low < high:
        middle = (low + high) // 2
        if blocked[k + middle] == values[index + middle]:
            low = middle + 1
        else:
            high = middle
    return index + low


class _KeyIndex:
    """Addresses in use under one (version, sharing key, backend key), and per port those where it is taken."""

    __slots__ = ("addresses", "by_port")

    def __init__(self) -> None:
        self.addresses: list[int] = []
        self.by_port: dict[Port, list[int]] = {}


class SharedIndex:
    """Per (IP version, sharing key, backend key): sorted absolute addresses in use under that key, and for each
    (protocol, port) the sorted subset of them where a holder already uses it.

    Only addresses whose holders have a non-empty sharing key are indexed: nothing else can be shared. Finding
    the lowest same-key address where none of a Service's ports is taken is then a walk of bisections
    (:func:`_first_gap`), not a scan: with a thousand Services sharing one key on TCP/80, every address is
    skipped in one O(log n) step.
    """

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, str, str], _KeyIndex] = {}

    def join(self, version: int, use: AddressUse, value: int, ports: frozenset[Port]) -> None:
        """Record that a holder using ``ports`` was added to ``use`` (the address ``value``)."""
        if not use.sharing_key:
            return
        key = (version, use.sharing_key, use.backend_key)
        index = self._by_key.get(key)
        if index is None:
            index = self._by_key[key] = _KeyIndex()
        if len(use.holders) == 1:
            insort(index.addresses, value)
        for port in ports:
            insort(index.by_port.setdefault(port, []), value)

    def leave(self, version: int, use: AddressUse, value: int, ports: frozenset[Port]) -> None:
        """Record that a holder using ``ports`` was removed from ``use`` (call after removing it)."""
        if not use.sharing_key:
            return
        key = (version, use.sharing_key, use.backend_key)
        index = self._by_key[key]
        for port in ports:
            values = index.by_port[port]
            del values[bisect_left(values, value)]
            if not values:
                del index.by_port[port]
        if not use.holders:
            del index.addresses[bisect_left(index.addresses, value)]
            if not index.addresses:
                del self._by_key[key]

    def lowest_compatible(
        self, cidr: CidrIndex, sharing_key: str, backend_key: str, ports: frozenset[Port], below: int
    ) -> int | None:
        """The lowest offset of ``cidr`` below ``below`` that a Service with these keys and ports may share."""
        index = self._by_key.get((cidr.version, sharing_key, backend_key))
        if index is None:
            return None
        values = index.addresses
        blocked = [index.by_port[p] for p in ports if p in index.by_port]
        start = cidr.start
        end = start + below
        position = bisect_left(values, start)
        while position < len(values) and values[position] < end:
            moved = False
            for taken in blocked:
                after = _first_gap(values, taken, position)
                if after != position:
                    position, moved = after, True
                    if position == len(values):
                        return None
            if not moved:
                return values[position] - start
        return None

    def __len__(self) -> int:
        return sum(len(v.addresses) for v in self._by_key.values())


__all__ = ["AddressUse", "CidrIndex", "SharedIndex", "count_buggy"]
