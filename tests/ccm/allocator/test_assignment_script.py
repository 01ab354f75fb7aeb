"""MetalLB's ``TestAssignment``, as a script: one allocator, steps in order, each depending on the last.

After every step: a refused operation left the allocator exactly as before (assignments and pool statistics),
and neither the configuration nor the request passed in was mutated (both are rebuilt from scratch and compared).
The steps follow MetalLB's rows (s1..s4 on IPv4, then IPv6), then exercise auto-allocation, sharing and
PreferDualStack on the same allocator.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ccm.allocator import (
    AllocationError,
    AllocationReason,
    AllocationRequest,
    Allocator,
    Assignment,
    IPFamilyPolicy,
    Port,
)
from ironlb.api.addresses import IPFamily
from ironlb.api.selectors import LabelSelector
from ironlb.config.model import Config, Pool, ServiceAllocation

R = AllocationReason
V4, V6 = IPFamily.IPV4, IPFamily.IPV6


def make_config() -> Config:
    def net(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(c) for c in cidrs)

    team = LabelSelector.from_object({"matchLabels": {"team": "metallb"}})
    return Config.build(
        pools=[
            Pool("test", net("192.0.2.4/31", "2001:db8::4/127")),
            Pool("test2", net("198.51.100.0/24", "2001:db8::4:0/120"), avoid_buggy_ips=True),
            Pool(
                "test3",
                net("203.0.113.0/25", "2001:db8::5:0/120"),
                avoid_buggy_ips=True,
                allocation=ServiceAllocation(namespaces=frozenset({"test-ns1"})),
            ),
            Pool(
                "test4",
                net("203.0.113.128/25", "2001:db8::6:0/120"),
                avoid_buggy_ips=True,
                allocation=ServiceAllocation(priority=20, service_selectors=(team,)),
            ),
        ]
    )


@dataclass(frozen=True)
class Step:
    desc: str
    op: str  # "assign" | "release" | "allocate" | "add-family"
    service: str
    addresses: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    sharing_key: str = ""
    backend_key: str = ""
    namespace: str = "default"
    labels: tuple[tuple[str, str], ...] = ()
    families: tuple[IPFamily, ...] = (V4,)
    policy: IPFamilyPolicy = IPFamilyPolicy.SINGLE_STACK
    #: expected addresses after a successful operation (assign: the addresses given)
    want: tuple[str, ...] = ()
    #: expected refusal
    err: AllocationReason | None = None

    def request(self) -> AllocationRequest:
        return AllocationRequest(
            service=self.service,
            namespace=self.namespace,
            labels=dict(self.labels),
            ports=tuple(Port(p.split("/")[0], int(p.split("/")[1])) for p in self.ports),
            sharing_key=self.sharing_key,
            backend_key=self.backend_key,
            ip_family_policy=self.policy,
            cluster_ip_families=self.families,
        )


def s(desc: str, op: str, service: str, *addresses: str, **kw: object) -> Step:
    return Step(desc, op, service, tuple(addresses), **kw)  # type: ignore[arg-type]


SHARE = {"ports": ("TCP/80",), "sharing_key": "share", "backend_key": "backend"}
STEPS = [
    s("assign s1", "assign", "s1", "192.0.2.4"),
    s("s1 idempotent reassign", "assign", "s1", "192.0.2.4"),
    s("s2 can't grab s1's IP", "assign", "s2", "192.0.2.4", err=R.EXISTING_DOES_NOT_SHARE),
    s("s2 can get the other IP", "assign", "s2", "192.0.2.5"),
    s("s1 now can't grab s2's IP", "assign", "s1", "192.0.2.5", err=R.EXISTING_DOES_NOT_SHARE),
    s("s1 frees its IP", "release", "s1"),
    s("s2 can grab s1's former IP", "assign", "s2", "192.0.2.4"),
    s("s1 can now grab s2's former IP", "assign", "s1", "192.0.2.5"),
    s("s3 cannot grab a 0 buggy IP", "assign", "s3", "198.51.100.0", err=R.NOT_ALLOWED_IN_CONFIG),
    s("s3 cannot grab a 255 buggy IP", "assign", "s3", "198.51.100.255", err=R.NOT_ALLOWED_IN_CONFIG),
    s("s3 can grab another IP in that pool", "assign", "s3", "198.51.100.254"),
    s(
        "s4 takes an IP, with sharing",
        "assign",
        "s4",
        "198.51.100.3",
        ports=("TCP/80",),
        sharing_key="sharing",
        backend_key="backend",
    ),
    s("s4 changes its sharing key in place", "assign", "s4", "198.51.100.3", **SHARE),
    s("s3 can't share with s4 (port conflict)", "assign", "s3", "198.51.100.3", **SHARE, err=R.PORT_IN_USE),
    s(
        "s3 can't share with s4 (wrong sharing key)",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("TCP/443",),
        sharing_key="othershare",
        backend_key="backend",
        err=R.SHARING_KEY_MISMATCH,
    ),
    s(
        "s3 can't share with s4 (wrong backend key)",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("TCP/443",),
        sharing_key="share",
        backend_key="otherbackend",
        err=R.BACKEND_KEY_MISMATCH,
    ),
    s(
        "s3 takes the same IP as s4",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("TCP/443",),
        sharing_key="share",
        backend_key="backend",
    ),
    s(
        "s3 can change its ports while keeping the same IP",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("UDP/53",),
        sharing_key="share",
        backend_key="backend",
    ),
    s(
        "s3 can't change its sharing key while keeping the same IP",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("TCP/443",),
        sharing_key="othershare",
        backend_key="backend",
        err=R.SHARING_KEY_MISMATCH,
    ),
    s(
        "s3 can't change its backend key while keeping the same IP",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("TCP/443",),
        sharing_key="share",
        backend_key="otherbackend",
        err=R.BACKEND_KEY_MISMATCH,
    ),
    s("s4 takes s3's former IP", "assign", "s4", "198.51.100.254"),
    s(
        "s3 is alone on the shared IP now",
        "assign",
        "s3",
        "198.51.100.3",
        ports=("UDP/53",),
        sharing_key="share",
        backend_key="backend",
    ),
    # IPv6 rows
    s("ipv6 assign s1", "assign", "s1", "2001:db8::4", families=(V6,)),
    s("s1 idempotent reassign (ipv6)", "assign", "s1", "2001:db8::4", families=(V6,)),
    s("s2 can't grab s1's IP (ipv6)", "assign", "s2", "2001:db8::4", families=(V6,), err=R.EXISTING_DOES_NOT_SHARE),
    s("s2 can get the other IP (ipv6)", "assign", "s2", "2001:db8::4:5", families=(V6,)),
    s("ipv4 service can't hold ipv6", "assign", "s5", "2001:db8::4:6", err=R.FAMILY_MISMATCH),
    s("s5 cannot use a namespace-pinned pool", "assign", "s5", "203.0.113.3", err=R.POOL_NOT_COMPATIBLE),
    s("s5 in test-ns1 can", "assign", "s5", "203.0.113.3", namespace="test-ns1"),
    s("two addresses of one family", "assign", "s6", "198.51.100.7", "198.51.100.8", err=R.SAME_FAMILY),
    s("three addresses", "assign", "s6", "198.51.100.7", "2001:db8::4:7", "198.51.100.8", err=R.TOO_MANY_ADDRESSES),
    # Auto-allocation on the same allocator. Pools by name: test (s2 moved to IPv6, freeing 192.0.2.4), test2.
    s("s6 auto-allocates the address s2 left in test", "allocate", "s6", want=("192.0.2.4",)),
    s("s6b takes the last IPv4 of test", "allocate", "s6b", want=("192.0.2.5",)),
    s("s6c moves on to test2, skipping buggy .0", "allocate", "s6c", want=("198.51.100.1",)),
    s("s6d takes the next one", "allocate", "s6d", want=("198.51.100.2",)),
    s(
        "s7 with sharing joins s3 rather than a higher free address",
        "allocate",
        "s7",
        ports=("TCP/8080",),
        sharing_key="share",
        backend_key="backend",
        want=("198.51.100.3",),
    ),
    s(
        "s7 idempotent allocate",
        "allocate",
        "s7",
        ports=("TCP/8080",),
        sharing_key="share",
        backend_key="backend",
        want=("198.51.100.3",),
    ),
    s(
        "s8 labelled team=metallb goes to the prioritized pool",
        "allocate",
        "s8",
        labels=(("team", "metallb"),),
        want=("203.0.113.128",),
    ),
    s("s9 in test-ns1 goes to its namespace pool", "allocate", "s9", namespace="test-ns1", want=("203.0.113.1",)),
    s(
        "s10 requires dual stack: first dual pool with room",
        "allocate",
        "s10",
        families=(V4, V6),
        policy=IPFamilyPolicy.REQUIRE_DUAL_STACK,
        want=("198.51.100.4", "2001:db8::4:0"),
    ),
    s(
        "s11 restores a single IPv6 for PreferDualStack",
        "assign",
        "s11",
        "2001:db8::4:9",
        families=(V6, V4),
        policy=IPFamilyPolicy.PREFER_DUAL_STACK,
    ),
    s(
        "s11 gets its IPv4 added from the same pool",
        "add-family",
        "s11",
        families=(V6, V4),
        policy=IPFamilyPolicy.PREFER_DUAL_STACK,
        want=("2001:db8::4:9", "198.51.100.5"),
    ),
    s(
        "s12 cannot add a family without an address",
        "add-family",
        "s12",
        families=(V4, V6),
        policy=IPFamilyPolicy.PREFER_DUAL_STACK,
        err=R.NOT_ASSIGNED,
    ),
    s("s6 frees its IP", "release", "s6"),
    s("s12 takes the freed address", "allocate", "s12", want=("192.0.2.4",)),
]


def snapshot(allocator: Allocator) -> object:
    return allocator.assignments(), allocator.all_pool_stats()


def test_assignment_script() -> None:
    config = make_config()
    allocator = Allocator(config)
    for step in STEPS:
        request = step.request()
        before = snapshot(allocator)
        addresses = tuple(ipaddress.ip_address(a) for a in step.addresses)
        result: Assignment | AllocationError | None
        if step.op == "assign":
            result = allocator.assign(request, addresses)
        elif step.op == "allocate":
            result = allocator.allocate(request)
        elif step.op == "add-family":
            result = allocator.add_missing_family(request)
        else:
            result = allocator.release(step.service)
            assert allocator.assignment(step.service) is None, step.desc
        if step.err is not None:
            assert isinstance(result, AllocationError), f"{step.desc}: expected {step.err}, got {result}"
            assert result.reason is step.err, f"{step.desc}: {result}"
            assert snapshot(allocator) == before, f"{step.desc}: a refused operation left a trace"
        elif step.op != "release":
            assert isinstance(result, Assignment), f"{step.desc}: {result}"
            want = step.want or step.addresses
            assert result.addresses == tuple(ipaddress.ip_address(a) for a in want), step.desc
            assert allocator.assignment(step.service) == result, step.desc
        assert config == make_config(), f"{step.desc}: the configuration was mutated"
        assert request == step.request(), f"{step.desc}: the request was mutated"
