"""``converge``: one Service's step as MetalLB's ``convergeBalancer`` takes it (metallb.md section 3).

Each row starts from a fresh allocator (optionally holding other Services), feeds one Service's request and
the addresses its status shows, and checks the whole :class:`Decision`: addresses, whether they were freshly
allocated, and the reasons behind ``cleared``, ``error``, ``added`` and ``add_failed``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest

from ccm.allocator import (
    AllocationReason,
    AllocationRequest,
    Allocator,
    Assignment,
    IPFamilyPolicy,
    converge,
)
from ironlb.api.addresses import IPAddress, IPFamily
from ironlb.config.model import Config, Pool

V4, V6 = IPFamily.IPV4, IPFamily.IPV6
PREFER = IPFamilyPolicy.PREFER_DUAL_STACK
R = AllocationReason


def pool(name: str, *cidrs: str) -> Pool:
    return Pool(name, tuple(ipaddress.ip_network(c) for c in cidrs))


def req(name: str, **kw: Any) -> AllocationRequest:
    if "addrs" in kw:
        kw["requested_addresses"] = ips(*kw.pop("addrs"))
    return AllocationRequest(f"default/{name}", **kw)


def ips(*texts: str) -> tuple[IPAddress, ...]:
    return tuple(ipaddress.ip_address(t) for t in texts)


POOLS = [pool("a", "192.0.2.0/29", "2001:db8::/126"), pool("b", "198.51.100.0/29"), pool("c", "203.0.113.0/29")]


@dataclass(frozen=True)
class Expect:
    addresses: tuple[str, ...]
    allocated: bool = False
    cleared: AllocationReason | None = None
    error: AllocationReason | None = None
    added: str | None = None
    add_failed: AllocationReason | None = None


# (request, current status, other Services' holdings, expected decision)
ROWS = [
    pytest.param(req("s"), (), [], Expect(addresses=("192.0.2.0",), allocated=True), id="new-service-is-allocated"),
    pytest.param(req("s"), ("192.0.2.5",), [], Expect(addresses=("192.0.2.5",)), id="current-address-is-kept"),
    pytest.param(
        req("s"),
        ("203.0.113.99",),
        [],
        Expect(addresses=("192.0.2.0",), allocated=True, cleared=R.NOT_ALLOWED_IN_CONFIG),
        id="address-outside-every-pool-is-cleared-and-replaced",
    ),
    pytest.param(
        req("s", cluster_ip_families=(V6,)),
        ("192.0.2.5",),
        [],
        Expect(addresses=("2001:db8::",), allocated=True, cleared=R.FAMILY_MISMATCH),
        id="family-change-is-cleared-and-replaced",
    ),
    pytest.param(
        req("s", requested_pool="b"),
        ("192.0.2.5",),
        [],
        Expect(addresses=("198.51.100.0",), allocated=True, cleared=R.DIFFERENT_POOL_REQUESTED),
        id="new-pool-annotation-moves-the-service",
    ),
    pytest.param(
        req("s", addrs=("198.51.100.7",)),
        ("192.0.2.5",),
        [],
        Expect(addresses=("198.51.100.7",), allocated=True, cleared=R.DIFFERENT_ADDRESSES_REQUESTED),
        id="new-requested-address-moves-the-service",
    ),
    pytest.param(
        req("s", addrs=("192.0.2.5",)),
        ("192.0.2.5",),
        [],
        Expect(addresses=("192.0.2.5",)),
        id="requested-address-already-held-is-kept",
    ),
    pytest.param(
        req("s", ip_family_policy=PREFER, cluster_ip_families=(V4, V6)),
        ("192.0.2.5",),
        [],
        Expect(addresses=("192.0.2.5", "2001:db8::"), added="2001:db8::"),
        id="prefer-dual-stack-gets-the-missing-family-added",
    ),
    pytest.param(
        req("s", ip_family_policy=PREFER, cluster_ip_families=(V4, V6)),
        ("198.51.100.5",),
        [],
        Expect(addresses=("198.51.100.5",), add_failed=R.NO_AVAILABLE_IPS_IN_POOL),
        id="prefer-dual-stack-keeps-one-family-when-its-pool-has-no-other",
    ),
    pytest.param(
        req("s", ip_family_policy=PREFER, cluster_ip_families=(V4,)),
        ("192.0.2.5",),
        [],
        Expect(addresses=("192.0.2.5",)),
        id="prefer-dual-stack-on-a-single-stack-cluster-adds-nothing",
    ),
    pytest.param(
        req("s", requested_pool="missing"),
        ("192.0.2.5",),
        [],
        Expect(addresses=(), cleared=R.DIFFERENT_POOL_REQUESTED, error=R.UNKNOWN_POOL),
        id="unknown-pool-clears-and-fails",
    ),
    pytest.param(
        req("s"),
        ("192.0.2.5",),
        [(req("x"), ("192.0.2.5",))],
        Expect(addresses=("192.0.2.0",), allocated=True, cleared=R.EXISTING_DOES_NOT_SHARE),
        id="address-taken-by-another-service-is-replaced",
    ),
]


@pytest.mark.parametrize(("request_", "current", "others", "expect"), ROWS)
def test_converge(
    request_: AllocationRequest,
    current: tuple[str, ...],
    others: list[tuple[AllocationRequest, tuple[str, ...]]],
    expect: Expect,
) -> None:
    allocator = Allocator(Config.build(pools=POOLS))
    for other, held in others:
        assert isinstance(allocator.assign(other, ips(*held)), Assignment)
    decision = converge(allocator, request_, ips(*current))
    assert decision.addresses == ips(*expect.addresses)
    assert decision.allocated is expect.allocated
    assert (decision.cleared.reason if decision.cleared else None) is expect.cleared
    assert (decision.error.reason if decision.error else None) is expect.error
    assert decision.added == (ipaddress.ip_address(expect.added) if expect.added else None)
    assert (decision.add_failed.reason if decision.add_failed else None) is expect.add_failed
    assert allocator.assignment(request_.service) == decision.assignment
    for other, held in others:
        kept = allocator.assignment(other.service)
        assert kept is not None
        assert kept.addresses == ips(*held), "converging one Service moved another"


def test_converge_without_status_keeps_what_the_allocator_holds() -> None:
    """A status write that failed must not cost the Service its address on the next pass."""
    allocator = Allocator(Config.build(pools=POOLS))
    first = converge(allocator, req("s"), ())
    assert first.allocated
    allocator.allocate(req("t"))
    allocator.release(req("t").service)
    again = converge(allocator, req("s"), ())
    assert (again.addresses, again.allocated) == (first.addresses, False)


def test_restart_recovery_assigns_current_addresses_before_pending_services() -> None:
    """MetalLB #1774/#2443: a restarted ccm must not hand a pending Service an address already in a status."""
    statuses = {"default/a": ("192.0.2.0",), "default/b": ("192.0.2.3",), "default/c": ()}
    allocator = Allocator(Config.build(pools=POOLS))
    order = sorted(statuses, key=lambda s: (not statuses[s], s))  # those with addresses first
    decisions = {s: converge(allocator, AllocationRequest(s), ips(*statuses[s])) for s in order}
    assert decisions["default/a"].addresses == ips("192.0.2.0")
    assert decisions["default/b"].addresses == ips("192.0.2.3")
    assert decisions["default/c"].addresses == ips("192.0.2.1")
    assert not decisions["default/a"].allocated
    assert decisions["default/c"].allocated


def test_no_pools_means_an_error_and_an_empty_status() -> None:
    decision = converge(Allocator(), req("s"), ())
    assert decision.assignment is None
    assert decision.addresses == ()
    assert decision.error is not None
    assert decision.error.message == "no available IPs"
