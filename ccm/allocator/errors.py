"""Why an allocation or a request was refused: a reason enum plus MetalLB's sentence.

Theory of operation
-------------------
The allocator never raises for a refusal the user caused: it *returns* an :class:`AllocationError` (and
``request_from_service`` returns a :class:`RequestError`). Both are plain frozen values, not exceptions, so a
refusal cannot escape a reconcile by accident and tests compare them with ``==``. Each carries

* ``reason`` — an enum member, stable across releases, fit for a metric label or a log field
  (style anchor 8: decisions return a named reason, like MetalLB's ``ShouldAnnounce``);
* ``message`` — the sentence users read in the ``AllocationFailed`` / ``LoadBalancerFailed`` Event. The texts
  are MetalLB's (``internal/allocator/allocator.go``, ``controller/service.go``) so that a MetalLB user's
  searches and runbooks keep matching, e.g. ``no available IPs in pool default``.

The ccm maps the two types to different Events: a :class:`RequestError` means the Service asks for something
impossible (``LoadBalancerFailed``: fix the Service), an :class:`AllocationError` that the configuration or the
other Services leave no room for it (``AllocationFailed``: it is retried when something changes).

Addresses inside messages are quoted the way Go's ``%q`` prints a ``[]net.IP`` (``["192.0.2.1" "2001:db8::1"]``),
again to match MetalLB's texts byte for byte where MetalLB has one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ironlb.api.addresses import IPAddress


class AllocationReason(enum.StrEnum):
    """Why the allocator refused an operation."""

    #: no candidate pool had a usable address ("no available IPs").
    NO_AVAILABLE_IPS = "NoAvailableIPs"
    #: the requested (or current) pool had no usable address of the needed families.
    NO_AVAILABLE_IPS_IN_POOL = "NoAvailableIPsInPool"
    #: RequireDualStack, and no single candidate pool could give both families.
    NO_SUITABLE_POOL_DUALSTACK = "NoSuitablePoolDualStack"
    #: ``metallb.io/address-pool`` names a pool that does not exist.
    UNKNOWN_POOL = "UnknownPool"
    #: the pool's ``serviceAllocation`` does not admit the Service (namespace / service selectors).
    POOL_NOT_COMPATIBLE = "PoolNotCompatible"
    #: the addresses are not all inside one pool (or one is a .0/.255 the pool avoids).
    NOT_ALLOWED_IN_CONFIG = "NotAllowedInConfig"
    #: the addresses' families do not match the Service's cluster IP families.
    FAMILY_MISMATCH = "FamilyMismatch"
    #: requested addresses lie outside the pool named by ``metallb.io/address-pool``.
    NOT_IN_REQUESTED_POOL = "NotInRequestedPool"
    TOO_MANY_ADDRESSES = "TooManyAddresses"
    SAME_FAMILY = "SameFamily"
    NO_ADDRESSES = "NoAddresses"
    #: sharing refused: a holder of the address has no sharing key.
    EXISTING_DOES_NOT_SHARE = "ExistingDoesNotShare"
    #: sharing refused: the requesting Service has no sharing key.
    NEW_DOES_NOT_SHARE = "NewDoesNotShare"
    SHARING_KEY_MISMATCH = "SharingKeyMismatch"
    BACKEND_KEY_MISMATCH = "BackendKeyMismatch"
    #: sharing refused: a (protocol, port) pair is already used on the address by another Service.
    PORT_IN_USE = "PortInUse"
    #: ``add_missing_family`` on a Service that holds no address.
    NOT_ASSIGNED = "NotAssigned"
    #: converge only: the Service now names another pool than the one its addresses come from.
    DIFFERENT_POOL_REQUESTED = "DifferentPoolRequested"
    #: converge only: the Service now requests other addresses than the ones it holds.
    DIFFERENT_ADDRESSES_REQUESTED = "DifferentAddressesRequested"


@dataclass(frozen=True, slots=True)
class AllocationError:
    """A refused allocator operation. Returned, never raised; the allocator's state is unchanged."""

    reason: AllocationReason
    message: str

    def __str__(self) -> str:
        return self.message


class RequestReason(enum.StrEnum):
    """Why a Service cannot be turned into an :class:`~ccm.allocator.types.AllocationRequest`."""

    BOTH_REQUESTED = "BothLoadBalancerIPFields"
    INVALID_REQUESTED_ADDRESSES = "InvalidLoadBalancerIPs"
    INVALID_LOAD_BALANCER_IP = "InvalidLoadBalancerIP"
    TOO_MANY_ADDRESSES = "TooManyAddresses"
    SAME_FAMILY = "SameFamily"
    NO_CLUSTER_IPS = "NoClusterIPs"
    INVALID_CLUSTER_IPS = "InvalidClusterIPs"
    NOT_ENOUGH_CLUSTER_IPS = "NotEnoughClusterIPs"
    UNKNOWN_FAMILY_POLICY = "UnknownIPFamilyPolicy"


@dataclass(frozen=True, slots=True)
class RequestError:
    """A Service whose spec or annotations cannot be satisfied as written (the user must fix the Service)."""

    reason: RequestReason
    message: str

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------------------------------------
# Message helpers (MetalLB's texts)
# ------------------------------------------------------------------------------------------------
def quote_addresses(addresses: Iterable[IPAddress | str]) -> str:
    """Render a list of addresses as Go's ``%q`` renders a ``[]net.IP``: ``["a" "b"]``."""
    return "[" + " ".join(f'"{a}"' for a in addresses) + "]"


def too_many_addresses(addresses: Iterable[IPAddress | str]) -> str:
    return f"more than two addresses {quote_addresses(addresses)}"


def same_family(first: IPAddress | str, second: IPAddress | str) -> str:
    return f'"{first}" "{second}" has the same family'


def error(reason: AllocationReason, message: str) -> AllocationError:
    return AllocationError(reason, message)


__all__ = [
    "AllocationError",
    "AllocationReason",
    "RequestError",
    "RequestReason",
    "quote_addresses",
    "same_family",
    "too_many_addresses",
]
