"""Translate a :class:`~ironlb.api.service.ServiceView` into an :class:`AllocationRequest`, or say why not.

Theory of operation
-------------------
This is the only place where the allocator's inputs meet Kubernetes vocabulary (MetalLB spreads the same
work over ``k8salloc`` and ``controller/service.go``). It reads, per metallb.md section 2:

* ports -> (protocol, port) pairs (``k8salloc.Ports``);
* ``metallb.io/allow-shared-ip`` -> sharing key; for externalTrafficPolicy Local the backend key is the
  selector rendered the way apimachinery's ``labels.Set.String()`` renders it (``a=1,b=2``, keys sorted), so
  two Services share a Local address only with identical selectors; for Cluster it is empty;
* ``metallb.io/loadBalancerIPs`` (comma-separated) or ``spec.loadBalancerIP`` -> requested addresses. Setting
  both is an error ("service can not have both ..."), as is an unparsable address, more than two, or two of
  one family (MetalLB ``getDesiredLbIPs`` / ``ipfamily.ForAddresses``);
* ``metallb.io/address-pool`` -> requested pool;
* ``spec.clusterIPs`` -> the Service's families: no cluster IP means the family cannot be determined
  (MetalLB clears the Service), RequireDualStack with fewer than two is "not enough clusterips".

Problems come back as a :class:`~ccm.allocator.errors.RequestError` (the ccm's ``LoadBalancerFailed``
Event); nothing here raises on user input.
"""

from __future__ import annotations

from ccm.allocator.errors import RequestError, RequestReason, quote_addresses, same_family, too_many_addresses
from ccm.allocator.types import AllocationRequest, IPFamilyPolicy, Port
from ironlb.api import names
from ironlb.api.addresses import IPAddress, IPFamily, parse_ip
from ironlb.api.service import ServiceView

_LB_IPS = names.ANNOTATION_PREFIX + names.ANN_LOADBALANCER_IPS


def backend_key(view: ServiceView) -> str:
    """The backend key: the canonical selector string for externalTrafficPolicy Local, else empty."""
    if not view.is_local:
        return ""
    return ",".join(f"{key}={view.selector[key]}" for key in sorted(view.selector))


def _requested(view: ServiceView) -> tuple[IPAddress, ...] | RequestError:
    annotation = view.requested_ips_annotation or ""
    single = view.load_balancer_ip or ""
    if annotation and single:
        message = f"service can not have both {_LB_IPS} and svc.Spec.LoadBalancerIP"
        return RequestError(RequestReason.BOTH_REQUESTED, message)
    if single:
        address = parse_ip(single)
        if address is None:
            return RequestError(RequestReason.INVALID_LOAD_BALANCER_IP, f'invalid spec.loadBalancerIP "{single}"')
        return (address,)
    if not annotation:
        return ()
    parsed: list[IPAddress] = []
    for part in annotation.split(","):
        address = parse_ip(part)
        if address is None:
            return RequestError(RequestReason.INVALID_REQUESTED_ADDRESSES, f'invalid {_LB_IPS}: "{annotation}"')
        parsed.append(address)
    if len(parsed) > 2:
        return RequestError(RequestReason.TOO_MANY_ADDRESSES, too_many_addresses(parsed))
    if len(parsed) == 2 and parsed[0].version == parsed[1].version:
        return RequestError(RequestReason.SAME_FAMILY, same_family(parsed[0], parsed[1]))
    return tuple(parsed)


def _cluster_families(view: ServiceView, policy: IPFamilyPolicy) -> tuple[IPFamily, ...] | RequestError:
    if not view.cluster_ips:
        message = f'service "{view.key}" has no cluster IP, so its IP family cannot be determined'
        return RequestError(RequestReason.NO_CLUSTER_IPS, message)
    parsed = [parse_ip(text) for text in view.cluster_ips]
    addresses = [a for a in parsed if a is not None]
    if len(addresses) != len(parsed) or len(addresses) > 2:
        message = f"invalid spec.clusterIPs {quote_addresses(view.cluster_ips)}: expected one or two addresses"
        return RequestError(RequestReason.INVALID_CLUSTER_IPS, message)
    if len(addresses) == 2 and addresses[0].version == addresses[1].version:
        message = f"invalid spec.clusterIPs {quote_addresses(view.cluster_ips)}: both are of the same IP family"
        return RequestError(RequestReason.INVALID_CLUSTER_IPS, message)
    if policy is IPFamilyPolicy.REQUIRE_DUAL_STACK and len(addresses) < 2:
        message = f"Service requires dual stack but not enough clusterips {quote_addresses(view.cluster_ips)}"
        return RequestError(RequestReason.NOT_ENOUGH_CLUSTER_IPS, message)
    return tuple(IPFamily.of(a) for a in addresses)


def request_from_service(view: ServiceView) -> AllocationRequest | RequestError:
    """Build the allocation request of ``view``.

    Whether the Service is ours at all (``type: LoadBalancer``, ``loadBalancerClass``) is the ccm's decision,
    not checked here.

    Returns:
        The request, or a :class:`RequestError` naming what in the Service must be fixed.
    """
    try:
        policy = IPFamilyPolicy(view.ip_family_policy or IPFamilyPolicy.SINGLE_STACK)
    except ValueError:
        message = (
            f'unknown spec.ipFamilyPolicy "{view.ip_family_policy}"; expected SingleStack, PreferDualStack or '
            "RequireDualStack"
        )
        return RequestError(RequestReason.UNKNOWN_FAMILY_POLICY, message)
    requested = _requested(view)
    if isinstance(requested, RequestError):
        return requested
    cluster = _cluster_families(view, policy)
    if isinstance(cluster, RequestError):
        return cluster
    return AllocationRequest(
        service=view.key,
        namespace=view.namespace,
        labels=view.labels,
        ports=tuple(Port(p.protocol, p.port) for p in view.ports),
        sharing_key=view.sharing_key or "",
        backend_key=backend_key(view),
        ip_family_policy=policy,
        ip_families=view.ip_families,
        cluster_ip_families=cluster,
        requested_addresses=requested,
        requested_pool=view.requested_pool or None,
    )


__all__ = ["backend_key", "request_from_service"]
