"""The cloud-provider LoadBalancer interface, with its contract meaning, over the allocator.

k8s.io/cloud-provider defines four calls (reference/peers-and-cloud-provider.md 1.2); their meaning here:

``get_load_balancer``
    Does a load balancer exist for this Service, and what is its status? "Exists" whenever ironlb holds an
    address for it *or* the Service's status shows addresses from our pools (a previous ccm gave them). Upstream
    only calls the delete path when this says "exists", so saying "absent" for an address we hold would leak it.
``ensure_load_balancer``
    Create or update: one converge step of the allocator (keep, move, add the missing family, or allocate).
    Returns the resulting :class:`~ccm.allocator.converge.Decision`; the service controller writes the status.
    A fresh allocation is followed at once by the step a second pass would take (a PreferDualStack Service
    that got one family tries the other, reporting ``add_failed``), so the outcome and its Events never
    depend on whether the Service happens to be reconciled again.
``update_load_balancer``
    Upstream calls it when the set of eligible nodes changes. Nothing to do: the speakers decide which nodes
    announce, from the same Node objects, so an address never depends on the node set. It exists so the
    contract is complete and says so.
``ensure_load_balancer_deleted``
    Release the Service's addresses. Idempotent: releasing what is not held is a success.

The provider is synchronous and does no I/O: the allocator is in memory, and Kubernetes writes belong to the
controller. That keeps every decision on one event loop turn, so concurrent workers never interleave inside an
allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ccm.allocator import (
    AllocationRequest,
    Allocator,
    Assignment,
    Decision,
    RequestError,
    converge,
    request_from_service,
)
from ironlb.api.addresses import IPAddress, parse_ip
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView


@dataclass(frozen=True, slots=True)
class LoadBalancerStatus:
    ingress: tuple[str, ...] = ()


def current_addresses(service: ServiceView) -> tuple[IPAddress, ...]:
    """The IP addresses in ``status.loadBalancer.ingress`` (hostnames and garbage are skipped)."""
    found = []
    for text in service.ingress_ips:
        address = parse_ip(text)
        if address is not None:
            found.append(address)
    return tuple(found)


def load_balancer_name(service: ServiceView) -> str:
    """Upstream's (deprecated) DefaultLoadBalancerName: "a" + the UID without dashes, cut to 32 characters."""
    return ("a" + service.uid.replace("-", ""))[:32]


class LoadBalancerProvider:
    def __init__(self, allocator: Allocator, *, cluster_name: str = "kubernetes") -> None:
        self.allocator = allocator
        self.cluster_name = cluster_name

    def get_load_balancer(self, service: ServiceView) -> tuple[LoadBalancerStatus, bool]:
        held = self.allocator.assignment(service.key)
        if held is not None:
            return LoadBalancerStatus(tuple(str(a) for a in held.addresses)), True
        ours = [a for a in current_addresses(service) if self.allocator.pool_of_address(a) is not None]
        if ours:
            return LoadBalancerStatus(tuple(str(a) for a in ours)), True
        return LoadBalancerStatus(), False

    def request(self, service: ServiceView) -> AllocationRequest | RequestError:
        return request_from_service(service)

    def ensure_load_balancer(
        self, service: ServiceView, nodes: Sequence[NodeView] = (), *, request: AllocationRequest | None = None
    ) -> Decision | RequestError:
        del nodes  # addresses never depend on the node set (see update_load_balancer)
        built = request if request is not None else request_from_service(service)
        if isinstance(built, RequestError):
            return built
        decision = converge(self.allocator, built, current_addresses(service))
        if not decision.allocated:
            return decision
        settled = converge(self.allocator, built, decision.addresses)
        if settled.error is not None or settled.cleared is not None:
            return decision  # not expected: the allocator just gave these addresses
        return replace(settled, cleared=decision.cleared, allocated=True, added=None)

    def update_load_balancer(self, service: ServiceView, nodes: Sequence[NodeView]) -> None:
        del service, nodes

    def ensure_load_balancer_deleted(self, service_key: str) -> Assignment | None:
        return self.allocator.release(service_key)

    def restore(self, service: ServiceView) -> Assignment | None:
        """Re-take the addresses a Service shows (start-up, before any new allocation). Failures are left to the
        Service's own reconcile, which reports them."""
        addresses = current_addresses(service)
        if not addresses:
            return None
        built = request_from_service(service)
        if isinstance(built, RequestError):
            return None
        result = self.allocator.assign(built, addresses)
        return result if isinstance(result, Assignment) else None


__all__ = ["LoadBalancerProvider", "LoadBalancerStatus", "current_addresses", "load_balancer_name"]
