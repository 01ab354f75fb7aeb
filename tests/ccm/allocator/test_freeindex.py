"""The free-offset index agrees with brute force, and never enumerates a CIDR.

A :class:`CidrIndex` is driven with random take/free sequences (including explicit takes above and below the
high-water mark, the restore pattern) and compared after every step with a set-based model scanned from offset
0. The buggy-address count is compared with enumeration. A /64 index answering at once shows that nothing is
materialized per address.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccm.allocator.freeindex import AddressUse, CidrIndex, SharedIndex, count_buggy
from ccm.allocator.types import Port


def brute_buggy(start: int, size: int) -> int:
    return sum(1 for v in range(start, start + size) if v % 256 in (0, 255))


@given(start=st.integers(0, 2**32 - 1), size=st.integers(1, 2000))
def test_count_buggy_matches_enumeration(start: int, size: int) -> None:
    size = min(size, 2**32 - start)
    assert count_buggy(start, size) == brute_buggy(start, size)


@pytest.mark.parametrize(
    ("cidr", "buggy", "expected"),
    [
        pytest.param("192.0.2.0/24", 2, 254, id="a-24-loses-two"),
        pytest.param("192.0.2.0/25", 1, 127, id="lower-half-loses-dot-zero"),
        pytest.param("192.0.2.128/25", 1, 127, id="upper-half-loses-dot-255"),
        pytest.param("192.0.2.64/26", 0, 64, id="interior-26-loses-nothing"),
        pytest.param("10.0.0.0/8", 2**17, 2**24 - 2**17, id="a-slash-8-loses-two-per-24"),
    ],
)
def test_usable_counts(cidr: str, buggy: int, expected: int) -> None:
    network = ipaddress.ip_network(cidr)
    index = CidrIndex("p", network, avoid_buggy=True)
    assert count_buggy(index.start, index.size) == buggy
    assert index.usable == expected == index.free_count


def test_avoid_buggy_has_no_effect_on_ipv6() -> None:
    index = CidrIndex("p", ipaddress.ip_network("2001:db8::/120"), avoid_buggy=True)
    assert index.usable == 256
    assert index.lowest_free() == 0
    assert not index.is_avoided(255)


def test_huge_cidr_answers_without_enumerating() -> None:
    index = CidrIndex("p", ipaddress.ip_network("2001:db8::/64"), avoid_buggy=False)
    assert index.lowest_free() == 0
    index.take(0, AddressUse("", ""))
    index.take(2**63, AddressUse("", ""))
    assert index.lowest_free() == 1
    assert index.free_count == 2**64 - 2


# A step: ("take", offset) for an explicit take of any offset, ("next",) to take the lowest free one,
# ("free", k) to free the k-th used offset (modulo).
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(0, 63)),
        st.tuples(st.just("next")),
        st.tuples(st.just("free"), st.integers(0, 1000)),
    ),
    max_size=120,
)


@settings(max_examples=300)
@given(
    steps=STEPS,
    cidr=st.sampled_from(["192.0.2.0/26", "192.0.2.192/26", "198.51.100.250/31", "2001:db8::/122"]),
    buggy=st.booleans(),
)
def test_lowest_free_matches_a_brute_force_scan(steps: list[tuple[object, ...]], cidr: str, buggy: bool) -> None:
    network = ipaddress.ip_network(cidr)
    index = CidrIndex("p", network, avoid_buggy=buggy)
    used: set[int] = set()

    def avoided(offset: int) -> bool:
        return buggy and network.version == 4 and (int(network.network_address) + offset) % 256 in (0, 255)

    def expected_lowest() -> int | None:
        return next((o for o in range(index.size) if o not in used and not avoided(o)), None)

    for step in steps:
        if step[0] == "take":
            offset = int(str(step[1])) % index.size
            if offset in used or avoided(offset):
                continue
            index.take(offset, AddressUse("", ""))
            used.add(offset)
        elif step[0] == "next":
            lowest = index.lowest_free()
            assert lowest == expected_lowest()
            if lowest is not None:
                index.take(lowest, AddressUse("", ""))
                used.add(lowest)
        elif used:
            offset = sorted(used)[int(str(step[1])) % len(used)]
            index.free(offset)
            used.discard(offset)
        assert index.lowest_free() == expected_lowest()
        assert index.free_count == sum(1 for o in range(index.size) if o not in used and not avoided(o))
        assert set(index.used) == used


def _hold(cidr: CidrIndex, shared: SharedIndex, offset: int, service: str, *, ports: frozenset[Port], key: str) -> None:
    use = cidr.used.get(offset)
    if use is None:
        use = AddressUse(key, "")
        cidr.take(offset, use)
    use.holders[service] = ports
    shared.join(cidr.version, use, cidr.start + offset, ports)


def _unhold(cidr: CidrIndex, shared: SharedIndex, offset: int, service: str) -> None:
    use = cidr.used[offset]
    ports = use.holders.pop(service)
    shared.leave(cidr.version, use, cidr.start + offset, ports)
    if not use.holders:
        cidr.free(offset)


def test_shared_index_finds_the_lowest_compatible_address_below_a_bound() -> None:
    cidr = CidrIndex("p", ipaddress.ip_network("192.0.2.0/28"), avoid_buggy=False)
    shared = SharedIndex()
    http, https = frozenset({Port("TCP", 80)}), frozenset({Port("TCP", 443)})
    for offset, ports in ((2, http), (5, https), (9, frozenset())):
        _hold(cidr, shared, offset, f"s{offset}", ports=ports, key="k")
    _hold(cidr, shared, 7, "x", ports=frozenset(), key="")
    assert len(shared) == 3
    assert shared.lowest_compatible(cidr, "k", "", http, below=16) == 5
    assert shared.lowest_compatible(cidr, "k", "", https, below=16) == 2
    assert shared.lowest_compatible(cidr, "k", "", https, below=2) is None
    assert shared.lowest_compatible(cidr, "k", "", http | https, below=16) == 9
    assert shared.lowest_compatible(cidr, "other", "", http, below=16) is None
    assert shared.lowest_compatible(cidr, "k", "backend", http, below=16) is None
    _hold(cidr, shared, 9, "t", ports=http | https, key="k")
    assert shared.lowest_compatible(cidr, "k", "", http | https, below=16) is None
    for offset, service in ((2, "s2"), (5, "s5"), (9, "s9"), (9, "t"), (7, "x")):
        _unhold(cidr, shared, offset, service)
    assert len(shared) == 0
    assert shared.lowest_compatible(cidr, "k", "", http, below=16) is None


PORT_CHOICES = [Port("TCP", 80), Port("TCP", 443), Port("UDP", 53)]


@settings(max_examples=300)
@given(
    steps=st.lists(
        st.tuples(
            st.booleans(),  # hold (True) or release (False)
            st.integers(0, 31),  # offset
            st.sampled_from(["k", "j", ""]),
            st.frozensets(st.sampled_from(PORT_CHOICES), max_size=2),
        ),
        max_size=80,
    ),
    query=st.frozensets(st.sampled_from(PORT_CHOICES), max_size=3),
    below=st.integers(0, 32),
)
def test_lowest_compatible_matches_a_scan(
    steps: list[tuple[bool, int, str, frozenset[Port]]], query: frozenset[Port], below: int
) -> None:
    cidr = CidrIndex("p", ipaddress.ip_network("198.51.100.0/27"), avoid_buggy=False)
    shared = SharedIndex()
    serial = 0
    for hold, offset, key, ports in steps:
        use = cidr.used.get(offset)
        if hold:
            # holders of one address share a key and use disjoint ports (the allocator guarantees it)
            if use is not None and (use.sharing_key != key or not key or any(ports & p for p in use.holders.values())):
                continue
            serial += 1
            _hold(cidr, shared, offset, f"s{serial}", ports=ports, key=key)
        elif use is not None:
            _unhold(cidr, shared, offset, sorted(use.holders)[0])
        for key_ in ("k", "j"):
            expected = next(
                (
                    o
                    for o in range(min(below, cidr.size))
                    if o in cidr.used
                    and cidr.used[o].sharing_key == key_
                    and all(query.isdisjoint(p) for p in cidr.used[o].holders.values())
                ),
                None,
            )
            assert shared.lowest_compatible(cidr, key_, "", query, below) == expected
