"""``request_from_service``: every field a Service contributes to an allocation, and every refusal.

Covers the translation (ports, sharing and backend keys, families, requested addresses and pool, legacy
annotation prefix) and :class:`AllocationRequest`'s derived families. Not covered here: what the allocator does
with a request (test_allocate.py).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ccm.allocator import (
    AllocationRequest,
    IPFamilyPolicy,
    Port,
    RequestError,
    RequestReason,
    backend_key,
    request_from_service,
)
from ironlb.api.addresses import IPFamily
from ironlb.api.service import ServicePort, ServiceView

V4 = IPFamily.IPV4
V6 = IPFamily.IPV6


def view(**overrides: Any) -> ServiceView:
    fields: dict[str, Any] = {
        "namespace": "default",
        "name": "web",
        "type": "LoadBalancer",
        "cluster_ips": ("10.96.0.10",),
        "ip_families": (V4,),
    }
    fields.update(overrides)
    return ServiceView(**fields)


def test_plain_service_becomes_a_single_stack_ipv4_request() -> None:
    request = request_from_service(
        view(
            labels={"app": "web"},
            ports=(ServicePort("TCP", 80), ServicePort("UDP", 53), ServicePort("TCP", 80, name="dup")),
        )
    )
    assert request == AllocationRequest(
        service="default/web",
        namespace="default",
        labels={"app": "web"},
        ports=(Port("TCP", 80), Port("UDP", 53)),
        ip_families=(V4,),
        cluster_ip_families=(V4,),
    )
    assert isinstance(request, AllocationRequest)
    assert request.families == (V4,)
    assert request.requested_addresses == ()
    assert request.requested_pool is None


def test_sharing_key_pool_and_addresses_come_from_annotations_with_legacy_prefix() -> None:
    request = request_from_service(
        view(
            annotations={
                "metallb.universe.tf/allow-shared-ip": "shared",
                "metallb.universe.tf/address-pool": "legacy",
                "metallb.universe.tf/loadBalancerIPs": "192.0.2.7",
            }
        )
    )
    assert isinstance(request, AllocationRequest)
    assert (request.sharing_key, request.requested_pool) == ("shared", "legacy")
    assert request.requested_addresses == (ipaddress.ip_address("192.0.2.7"),)


def test_new_prefix_wins_over_legacy_prefix() -> None:
    request = request_from_service(
        view(annotations={"metallb.io/address-pool": "new", "metallb.universe.tf/address-pool": "old"})
    )
    assert isinstance(request, AllocationRequest)
    assert request.requested_pool == "new"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"selector": {"b": "2", "a": "1"}}, "", id="cluster-policy-has-an-empty-backend-key"),
        pytest.param(
            {"selector": {"b": "2", "a": "1"}, "external_traffic_policy": "Local"},
            "a=1,b=2",
            id="local-policy-renders-the-selector-sorted-by-key",
        ),
        pytest.param({"external_traffic_policy": "Local"}, "", id="local-policy-without-selector-is-empty"),
    ],
)
def test_backend_key(overrides: dict[str, Any], expected: str) -> None:
    assert backend_key(view(**overrides)) == expected
    request = request_from_service(view(**overrides))
    assert isinstance(request, AllocationRequest)
    assert request.backend_key == expected


@pytest.mark.parametrize(
    ("overrides", "addresses"),
    [
        pytest.param({"load_balancer_ip": "192.0.2.5"}, ("192.0.2.5",), id="spec-loadbalancerip"),
        pytest.param(
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.5, 2001:db8::5"}},
            ("192.0.2.5", "2001:db8::5"),
            id="annotation-with-two-families-and-spaces-keeps-order",
        ),
        pytest.param({"annotations": {"metallb.io/loadBalancerIPs": ""}}, (), id="empty-annotation-requests-nothing"),
    ],
)
def test_requested_addresses(overrides: dict[str, Any], addresses: tuple[str, ...]) -> None:
    request = request_from_service(view(**overrides))
    assert isinstance(request, AllocationRequest)
    assert request.requested_addresses == tuple(ipaddress.ip_address(a) for a in addresses)


@pytest.mark.parametrize(
    ("overrides", "reason", "message"),
    [
        pytest.param(
            {"load_balancer_ip": "192.0.2.5", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.6"}},
            RequestReason.BOTH_REQUESTED,
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
            id="both-annotation-and-spec-field",
        ),
        pytest.param(
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.5,nope"}},
            RequestReason.INVALID_REQUESTED_ADDRESSES,
            'invalid metallb.io/loadBalancerIPs: "192.0.2.5,nope"',
            id="unparsable-annotation-address",
        ),
        pytest.param(
            {"load_balancer_ip": "192.0.2.500"},
            RequestReason.INVALID_LOAD_BALANCER_IP,
            'invalid spec.loadBalancerIP "192.0.2.500"',
            id="unparsable-spec-address",
        ),
        pytest.param(
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.1,2001:db8::1,192.0.2.2"}},
            RequestReason.TOO_MANY_ADDRESSES,
            'more than two addresses ["192.0.2.1" "2001:db8::1" "192.0.2.2"]',
            id="three-requested-addresses",
        ),
        pytest.param(
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"}},
            RequestReason.SAME_FAMILY,
            '"192.0.2.1" "192.0.2.2" has the same family',
            id="two-requested-addresses-of-one-family",
        ),
        pytest.param(
            {"cluster_ips": ()},
            RequestReason.NO_CLUSTER_IPS,
            'service "default/web" has no cluster IP, so its IP family cannot be determined',
            id="no-cluster-ip",
        ),
        pytest.param(
            {"cluster_ips": ("garbage",)},
            RequestReason.INVALID_CLUSTER_IPS,
            'invalid spec.clusterIPs ["garbage"]: expected one or two addresses',
            id="unparsable-cluster-ip",
        ),
        pytest.param(
            {"cluster_ips": ("10.96.0.1", "10.96.0.2")},
            RequestReason.INVALID_CLUSTER_IPS,
            'invalid spec.clusterIPs ["10.96.0.1" "10.96.0.2"]: both are of the same IP family',
            id="two-cluster-ips-of-one-family",
        ),
        pytest.param(
            {"ip_family_policy": "RequireDualStack"},
            RequestReason.NOT_ENOUGH_CLUSTER_IPS,
            'Service requires dual stack but not enough clusterips ["10.96.0.10"]',
            id="require-dual-stack-with-one-cluster-ip",
        ),
        pytest.param(
            {"ip_family_policy": "Sometimes"},
            RequestReason.UNKNOWN_FAMILY_POLICY,
            'unknown spec.ipFamilyPolicy "Sometimes"; expected SingleStack, PreferDualStack or RequireDualStack',
            id="unknown-family-policy",
        ),
    ],
)
def test_request_errors(overrides: dict[str, Any], reason: RequestReason, message: str) -> None:
    result = request_from_service(view(**overrides))
    assert result == RequestError(reason, message)
    assert str(result) == message


@pytest.mark.parametrize(
    ("policy", "ip_families", "cluster_ips", "families"),
    [
        pytest.param(None, (V4,), ("10.96.0.1",), (V4,), id="default-policy-is-single-stack"),
        pytest.param("SingleStack", (V6,), ("fd00::1",), (V6,), id="single-stack-ipv6"),
        pytest.param(
            "PreferDualStack", (V4, V6), ("10.96.0.1", "fd00::1"), (V4, V6), id="prefer-dual-stack-ipv4-primary"
        ),
        pytest.param(
            "RequireDualStack", (V6, V4), ("fd00::1", "10.96.0.1"), (V6, V4), id="require-dual-stack-ipv6-primary"
        ),
        pytest.param(
            "PreferDualStack", (V4,), ("10.96.0.1",), (V4,), id="prefer-dual-stack-on-single-stack-cluster-is-single"
        ),
        pytest.param(
            "SingleStack",
            (V6, V4),
            ("fd00::1", "10.96.0.1"),
            (V6,),
            id="single-stack-takes-the-family-of-the-first-cluster-ip",
        ),
        pytest.param(
            "PreferDualStack", (), ("fd00::1", "10.96.0.1"), (V6, V4), id="no-ip-families-primary-is-first-cluster-ip"
        ),
    ],
)
def test_families(
    policy: str | None, ip_families: tuple[IPFamily, ...], cluster_ips: tuple[str, ...], families: tuple[IPFamily, ...]
) -> None:
    request = request_from_service(view(ip_family_policy=policy, ip_families=ip_families, cluster_ips=cluster_ips))
    assert isinstance(request, AllocationRequest)
    assert request.families == families
    assert request.primary_family == families[0]
    assert request.is_dual_stack == (len(families) == 2)


@pytest.mark.parametrize(
    ("policy", "cluster", "held", "accepted"),
    [
        pytest.param(IPFamilyPolicy.SINGLE_STACK, (V4,), {V4}, True, id="single-v4-holds-v4"),
        pytest.param(IPFamilyPolicy.SINGLE_STACK, (V4,), {V6}, False, id="single-v4-refuses-v6"),
        pytest.param(IPFamilyPolicy.REQUIRE_DUAL_STACK, (V4, V6), {V4, V6}, True, id="require-holds-both"),
        pytest.param(IPFamilyPolicy.REQUIRE_DUAL_STACK, (V4, V6), {V4}, False, id="require-refuses-one"),
        pytest.param(IPFamilyPolicy.PREFER_DUAL_STACK, (V4, V6), {V6}, True, id="prefer-dual-accepts-either-one"),
        pytest.param(IPFamilyPolicy.PREFER_DUAL_STACK, (V4,), {V4, V6}, False, id="prefer-single-cluster-refuses-two"),
    ],
)
def test_accepts_families(
    policy: IPFamilyPolicy, cluster: tuple[IPFamily, ...], held: set[IPFamily], accepted: bool
) -> None:
    request = AllocationRequest("ns/s", ip_family_policy=policy, cluster_ip_families=cluster)
    assert request.accepts_families(frozenset(held)) is accepted


@pytest.mark.parametrize(
    "cluster",
    [
        pytest.param((), id="no-family"),
        pytest.param((V4, V4), id="same-family-twice"),
        pytest.param((V4, V6, V4), id="three-families"),
    ],
)
def test_request_refuses_impossible_cluster_families(cluster: tuple[IPFamily, ...]) -> None:
    with pytest.raises(ValueError, match="cluster_ip_families must be one family or two different ones"):
        AllocationRequest("ns/s", cluster_ip_families=cluster)


def test_request_normalizes_ports_labels_and_namespace() -> None:
    request = AllocationRequest("team/api", labels={"b": "2", "a": "1"}, ports=(Port("udp", 53), Port("TCP", 80)))
    assert request.namespace == "team"
    assert list(request.labels) == ["a", "b"]
    assert request.ports == (Port("TCP", 80), Port("UDP", 53))
    assert str(request.ports[0]) == "TCP/80"
    assert hash(request) == hash(AllocationRequest("team/api", ports=(Port("TCP", 80), Port("udp", 53))))
