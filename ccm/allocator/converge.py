"""One Service's allocation step, as MetalLB's ``convergeBalancer`` takes it, without the Kubernetes writes.

Theory of operation
-------------------
The ccm knows two things about a Service: what it asks for (an :class:`AllocationRequest`) and what it
currently shows (``status.loadBalancer.ingress``, the only durable truth: metallb.md section 3). ``converge``
decides what it should show next, using only the allocator's public operations, in MetalLB's order:

1. Current addresses (from the status, else what the allocator already holds for the Service) are re-assigned.
   This is idempotent when nothing changed, and it is how a restarted ccm recovers: feed every Service that
   has ingress IPs first, so that pending Services cannot take them (MetalLB #1774/#2443). If the addresses
   are no longer acceptable (family changed, outside every pool, pool no longer admits the Service, sharing
   broken) they are released and the reason is reported as ``cleared`` (the ``ClearAssignment`` Event).
2. If the Service now names another pool, or requests other addresses, than it holds: released, ``cleared``.
3. PreferDualStack on a dual-stack Service holding one address: try to add the missing family from the same
   pool (``added``, or ``add_failed`` for the ``AdditionalAssignFailed`` Event). Unlike MetalLB, ironlb does
   not add a second family to a Service with a single cluster IP: the next pass would see a family change and
   clear it again.
4. Nothing held: allocate (``allocated``, the ``IPAllocated`` Event; or ``error``, ``AllocationFailed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccm.allocator.allocator import Allocator
from ccm.allocator.errors import AllocationError, AllocationReason, quote_addresses
from ccm.allocator.types import AllocationRequest, Assignment, IPFamilyPolicy
from ironlb.api.addresses import IPAddress


@dataclass(frozen=True, slots=True)
class Decision:
    """What a Service should carry after one converge step, and what happened on the way (for Events)."""

    #: the Service's assignment now; None = it holds nothing (clear its status).
    assignment: Assignment | None
    #: why nothing could be allocated (``AllocationFailed``).
    error: AllocationError | None = None
    #: why the addresses it showed were dropped (``ClearAssignment``).
    cleared: AllocationError | None = None
    #: True when ``assignment`` was freshly allocated in this step (``IPAllocated`` "Assigned IP").
    allocated: bool = False
    #: PreferDualStack: the address of the missing family added in this step ("Assigned additional IP").
    added: IPAddress | None = None
    #: PreferDualStack: why the missing family could not be added (``AdditionalAssignFailed``).
    add_failed: AllocationError | None = None

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        return self.assignment.addresses if self.assignment is not None else ()


def _mismatch(request: AllocationRequest, held: Assignment) -> AllocationError | None:
    if request.requested_pool is not None and held.pool != request.requested_pool:
        message = (
            f"requested address pool {request.requested_pool} differs from pool {held.pool} of the current IP(s) "
            f"{quote_addresses(held.addresses)}"
        )
        return AllocationError(AllocationReason.DIFFERENT_POOL_REQUESTED, message)
    if request.requested_addresses and set(request.requested_addresses) != set(held.addresses):
        message = (
            f"requested loadBalancer IP(s) {quote_addresses(request.requested_addresses)} differ from the current "
            f"IP(s) {quote_addresses(held.addresses)}"
        )
        return AllocationError(AllocationReason.DIFFERENT_ADDRESSES_REQUESTED, message)
    return None


def converge(allocator: Allocator, request: AllocationRequest, current: Sequence[IPAddress]) -> Decision:
    """Bring ``request.service`` to its next state (see the module docstring).

    Args:
        allocator: mutated in place (the Service's assignment is created, kept, replaced or released).
        request: what the Service asks for now.
        current: the addresses in its ``status.loadBalancer.ingress``, in order (may be empty).
    """
    held = allocator.assignment(request.service)
    addresses = tuple(current) or (held.addresses if held is not None else ())
    cleared: AllocationError | None = None
    kept: Assignment | None = None
    if addresses:
        result = allocator.assign(request, addresses)
        if isinstance(result, AllocationError):
            cleared = result
        else:
            cleared = _mismatch(request, result)
            kept = result if cleared is None else None
        if kept is None:
            allocator.release(request.service)
    if kept is not None:
        if (
            len(kept.addresses) == 1
            and request.ip_family_policy is IPFamilyPolicy.PREFER_DUAL_STACK
            and request.is_dual_stack
        ):
            extended = allocator.add_missing_family(request)
            if isinstance(extended, AllocationError):
                return Decision(kept, add_failed=extended)
            return Decision(extended, added=extended.addresses[1])
        return Decision(kept)
    allocated = allocator.allocate(request)
    if isinstance(allocated, AllocationError):
        return Decision(None, error=allocated, cleared=cleared)
    return Decision(allocated, cleared=cleared, allocated=True)


__all__ = ["Decision", "converge"]
