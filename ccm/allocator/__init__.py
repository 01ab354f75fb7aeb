"""ironlb's address allocator: pure, deterministic, MetalLB-compatible (reference/metallb.md sections 2 and 3).

Public API (everything the ccm needs)::

    allocator = Allocator(config)                       # or Allocator(), then set_config(config)
    change = allocator.set_config(new_config)           # -> ConfigChange (evicted / retagged Services)
    request = request_from_service(view)                # -> AllocationRequest | RequestError
    allocator.assign(request, addresses)                # restore / explicit -> Assignment | AllocationError
    allocator.allocate(request)                         # -> Assignment | AllocationError
    allocator.add_missing_family(request)               # PreferDualStack -> Assignment | AllocationError
    allocator.release(service_key)                      # -> Assignment | None
    allocator.assignment(service_key), allocator.holders(address), allocator.assignments()
    allocator.pool_stats(name), allocator.all_pool_stats()
    converge(allocator, request, current_ingress)       # MetalLB's convergeBalancer steps -> Decision

No I/O, no clock, no Kubernetes objects: import-linter keeps it that way.
"""

from ccm.allocator.allocator import Allocator
from ccm.allocator.converge import Decision, converge
from ccm.allocator.errors import AllocationError, AllocationReason, RequestError, RequestReason
from ccm.allocator.service_request import backend_key, request_from_service
from ccm.allocator.types import (
    MAX_INT64,
    AllocationRequest,
    Assignment,
    ConfigChange,
    Eviction,
    IPFamilyPolicy,
    PoolStats,
    Port,
    Retag,
)

__all__ = [
    "Allocator",
    "converge",
    "Decision",
    "request_from_service",
    "backend_key",
    "AllocationRequest",
    "Assignment",
    "AllocationError",
    "AllocationReason",
    "RequestError",
    "RequestReason",
    "ConfigChange",
    "Eviction",
    "Retag",
    "PoolStats",
    "Port",
    "IPFamilyPolicy",
    "MAX_INT64",
]
