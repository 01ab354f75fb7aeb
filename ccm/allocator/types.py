"""The allocator's inputs and outputs: small immutable values, never Kubernetes objects.

Theory of operation
-------------------
MetalLB's allocator takes a whole ``*v1.Service``; ironlb's takes an :class:`AllocationRequest` carrying exactly
the facts allocation depends on (style anchor 8), built once by ``request_from_service``:

* identity and admission: ``service`` ("namespace/name"), ``namespace``, ``labels`` — a pool's
  ``serviceAllocation`` admits or refuses the Service on these;
* sharing: ``ports`` as (protocol, port), ``sharing_key`` (``metallb.io/allow-shared-ip``) and ``backend_key``
  (externalTrafficPolicy Local: the selector rendered canonically; Cluster: empty) — metallb.md section 2;
* families: ``ip_family_policy``, ``ip_families`` and the families of the cluster IPs, from which
  :attr:`AllocationRequest.families` (what to allocate, primary first) is derived once;
* wishes: ``requested_addresses`` (``metallb.io/loadBalancerIPs`` or ``spec.loadBalancerIP``) and
  ``requested_pool`` (``metallb.io/address-pool``).

Outputs are :class:`Assignment` (who holds which addresses from which pool), :class:`PoolStats` (for the
IPAddressPool status and the pool metrics) and :class:`ConfigChange` (what a new configuration displaced).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ccm.allocator.errors import AllocationError
from ironlb.api.addresses import IPAddress, IPFamily

_NO_LABELS: Mapping[str, str] = MappingProxyType({})

#: MetalLB reports IPv6 CIDRs with >= 62 host bits, and any total that would overflow, as Go's MaxInt64.
MAX_INT64 = 2**63 - 1


class IPFamilyPolicy(enum.StrEnum):
    """``spec.ipFamilyPolicy``; absent means SingleStack (the API server's default)."""

    SINGLE_STACK = "SingleStack"
    PREFER_DUAL_STACK = "PreferDualStack"
    REQUIRE_DUAL_STACK = "RequireDualStack"


@dataclass(frozen=True, slots=True, order=True)
class Port:
    """One (protocol, port) pair a Service uses; two Services sharing an address may not both use one."""

    protocol: str
    port: int

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    """Everything the allocator needs to know about one Service.

    ``labels`` is compared but not hashed; ``ports`` are de-duplicated and sorted, protocols upper-cased.
    ``cluster_ip_families`` must hold one family, or two different ones (``request_from_service`` guarantees
    it and reports a :class:`~ccm.allocator.errors.RequestError` otherwise).
    """

    service: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, hash=False)
    ports: tuple[Port, ...] = ()
    sharing_key: str = ""
    backend_key: str = ""
    ip_family_policy: IPFamilyPolicy = IPFamilyPolicy.SINGLE_STACK
    #: ``spec.ipFamilies``; its first entry is the primary family.
    ip_families: tuple[IPFamily, ...] = ()
    #: the families of ``spec.clusterIPs``, in order.
    cluster_ip_families: tuple[IPFamily, ...] = (IPFamily.IPV4,)
    requested_addresses: tuple[IPAddress, ...] = ()
    requested_pool: str | None = None
    #: derived: the families to allocate, primary first (one or two).
    families: tuple[IPFamily, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.namespace:
            object.__setattr__(self, "namespace", self.service.partition("/")[0] if "/" in self.service else "")
        object.__setattr__(self, "labels", MappingProxyType(dict(sorted(self.labels.items()))))
        ports = sorted({Port(p.protocol.upper(), p.port) for p in self.ports})
        object.__setattr__(self, "ports", tuple(ports))
        object.__setattr__(self, "requested_addresses", tuple(self.requested_addresses))
        cluster = self.cluster_ip_families
        if not 1 <= len(cluster) <= 2 or len(set(cluster)) != len(cluster):
            raise ValueError(
                f"AllocationRequest for {self.service!r}: cluster_ip_families must be one family or two different "
                f"ones, not {list(cluster)}"
            )
        primary = self.ip_families[0] if self.ip_families else cluster[0]
        if self.ip_family_policy is IPFamilyPolicy.SINGLE_STACK or len(cluster) == 1:
            # SingleStack: the family of the first cluster IP. Dual policies on a single-stack Service
            # (one cluster IP) can only ever get that family.
            families: tuple[IPFamily, ...] = (cluster[0],)
        else:
            secondary = IPFamily.IPV6 if primary is IPFamily.IPV4 else IPFamily.IPV4
            families = (primary, secondary)
        object.__setattr__(self, "families", families)

    @property
    def is_dual_stack(self) -> bool:
        """True when the Service has two cluster IPs and a dual-stack policy (Prefer or Require)."""
        return len(self.families) == 2

    @property
    def primary_family(self) -> IPFamily:
        return self.families[0]

    def accepts_families(self, families: frozenset[IPFamily]) -> bool:
        """Whether a Service *holding* addresses of ``families`` holds the right ones.

        Exactly the Service's families; and for PreferDualStack a single family of a dual-stack Service too
        (the fallback MetalLB accepts, controller ``serviceFamilyChanged``).
        """
        if families == frozenset(self.families):
            return True
        return self.ip_family_policy is IPFamilyPolicy.PREFER_DUAL_STACK and self.is_dual_stack and len(families) == 1


@dataclass(frozen=True, slots=True)
class Assignment:
    """The addresses a Service holds, and the pool they come from.

    ``addresses`` keep the order the ccm writes into ``status.loadBalancer.ingress``: as requested for explicit
    addresses, IPv4 then IPv6 for a dual-stack allocation (as MetalLB), the existing address first when
    PreferDualStack adds the missing family.
    """

    service: str
    pool: str
    addresses: tuple[IPAddress, ...]
    request: AllocationRequest

    @property
    def families(self) -> frozenset[IPFamily]:
        return frozenset(IPFamily.of(a) for a in self.addresses)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Address counts of one pool, for ``IPAddressPool.status`` and the pool metrics.

    ``assigned_*`` count distinct addresses in use (a shared address counts once). ``capacity_*`` and
    ``available_*`` follow MetalLB: an IPv6 CIDR with >= 62 host bits makes the IPv6 capacity ``2**63 - 1``.
    ``size_*`` are exact (Python integers, no cap), addresses avoided by ``avoidBuggyIPs`` excluded.
    """

    pool: str
    assigned_ipv4: int
    assigned_ipv6: int
    size_ipv4: int
    size_ipv6: int
    capacity_ipv4: int
    capacity_ipv6: int

    @property
    def available_ipv4(self) -> int:
        return self.capacity_ipv4 - self.assigned_ipv4

    @property
    def available_ipv6(self) -> int:
        return self.capacity_ipv6 - self.assigned_ipv6

    @property
    def addresses_in_use(self) -> int:
        return self.assigned_ipv4 + self.assigned_ipv6

    @property
    def addresses_total(self) -> int:
        """MetalLB's ``addresses_total``: capacity of both families, capped at ``2**63 - 1``."""
        return min(self.capacity_ipv4 + self.capacity_ipv6, MAX_INT64)

    @property
    def free_ipv4(self) -> int:
        """Exact number of IPv4 addresses no Service holds."""
        return self.size_ipv4 - self.assigned_ipv4

    @property
    def free_ipv6(self) -> int:
        return self.size_ipv6 - self.assigned_ipv6


@dataclass(frozen=True, slots=True)
class Eviction:
    """A Service whose addresses a new configuration no longer allows; the allocator has released them."""

    assignment: Assignment
    error: AllocationError


@dataclass(frozen=True, slots=True)
class Retag:
    """A Service whose addresses now belong to another pool (the ccm rewrites ``ip-allocated-from-pool``)."""

    service: str
    old_pool: str
    new_pool: str


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """What :meth:`~ccm.allocator.allocator.Allocator.set_config` did to the existing assignments.

    Every Service not listed here kept its addresses and pool untouched.
    """

    evicted: tuple[Eviction, ...] = ()
    retagged: tuple[Retag, ...] = ()
    #: CIDRs left out because they overlap a CIDR of another pool (the parser rejects this; defence in depth).
    ignored_cidrs: tuple[str, ...] = ()

    @property
    def evicted_services(self) -> tuple[str, ...]:
        return tuple(e.assignment.service for e in self.evicted)


__all__ = [
    "MAX_INT64",
    "AllocationRequest",
    "Assignment",
    "ConfigChange",
    "Eviction",
    "IPFamilyPolicy",
    "Port",
    "PoolStats",
    "Retag",
]
