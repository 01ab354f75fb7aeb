"""Dual-stack Services against a dual-stack emulated cluster (IPv4 and IPv6 service CIDRs).

The API server assigns the cluster IPs by ``ipFamilyPolicy`` / ``ipFamilies``; the ccm derives the families it
allocates from them (metallb.md section 2): SingleStack one address of the cluster IP's family, RequireDualStack
both from one pool (or nothing), PreferDualStack both when a pool can, else one.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.ccm.integration.harness import Cluster, assert_no_address_twice, ccm_argv, eventually

RunCcm = Any
DUAL_CIDRS = ("10.96.0.0/16", "fd00:10:96::/108")


def families(addresses: list[str]) -> list[int]:
    return [ipaddress.ip_address(a).version for a in addresses]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, ["192.0.2.0"], id="default-single-stack-ipv4"),
        pytest.param({"ipFamilies": ["IPv6"]}, ["2001:db8::"], id="single-stack-ipv6"),
        pytest.param(
            {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv6"]},
            ["192.0.2.0", "2001:db8::"],
            id="prefer-dual-stack-gets-both",
        ),
        pytest.param(
            {"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]},
            ["192.0.2.0", "2001:db8::"],
            id="require-dual-stack-ipv6-primary",
        ),
    ],
)
def test_families_follow_the_cluster_ips(
    make_cluster: Any, run_ccm: RunCcm, spec: dict[str, Any], expected: list[str]
) -> None:
    cluster: Cluster = make_cluster(service_cidrs=DUAL_CIDRS)
    cluster.create_pool("dual", ["192.0.2.0/29", "2001:db8::/125"])
    run_ccm(ccm_argv(cluster))
    cluster.create_service("svc", **spec)
    assert cluster.wait_ingress("svc", count=len(expected)) == expected, "IPv4 first, as MetalLB writes them"
    cluster_ips = cluster.service("svc")["spec"]["clusterIPs"]
    assert sorted(families(expected)) == sorted(families(cluster_ips)), "the cluster IPs' families, no more"


def test_a_v4_only_pool_refuses_require_dual_stack_and_gives_prefer_dual_stack_one_address(
    make_cluster: Any, run_ccm: RunCcm
) -> None:
    cluster: Cluster = make_cluster(service_cidrs=DUAL_CIDRS)
    cluster.create_pool("v4", ["192.0.2.0/29"])
    run_ccm(ccm_argv(cluster))
    cluster.create_service("require", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"])
    cluster.create_service("prefer", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv6"])
    assert cluster.wait_ingress("prefer") == ["192.0.2.0"]
    failed = eventually(lambda: cluster.events("require", reason="AllocationFailed"), what="AllocationFailed")
    assert failed[0]["type"] == "Warning"
    assert cluster.ingress("require") == []

    # A pool with IPv6 appears: the waiting RequireDualStack Service gets both families from it.
    cluster.create_pool("dual", ["198.51.100.0/29", "2001:db8::/125"])
    shown = cluster.wait_ingress("require", count=2)
    assert shown == ["198.51.100.0", "2001:db8::"], "both from the one pool that has both families"
    assert_no_address_twice(cluster)


def test_prefer_dual_stack_gets_the_missing_family_when_one_is_freed(make_cluster: Any, run_ccm: RunCcm) -> None:
    cluster: Cluster = make_cluster(service_cidrs=DUAL_CIDRS)
    cluster.create_pool("dual", ["192.0.2.0/29", "2001:db8::/128"])
    run_ccm(ccm_argv(cluster))
    cluster.create_service("v6", ipFamilies=["IPv6"])
    assert cluster.wait_ingress("v6") == ["2001:db8::"]
    cluster.create_service("prefer", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv6"])
    assert cluster.wait_ingress("prefer") == ["192.0.2.0"], "the only IPv6 address is taken: IPv4 alone"
    note = eventually(lambda: cluster.events("prefer", reason="AdditionalAssignFailed"), what="AdditionalAssignFailed")
    assert note[0]["type"] == "Normal"

    cluster.delete_service("v6")
    assert cluster.wait_ingress("prefer", count=2) == ["192.0.2.0", "2001:db8::"]
    added = eventually(
        lambda: [e for e in cluster.events("prefer", reason="IPAllocated") if "additional" in e["message"]],
        what="the additional-IP event",
    )
    assert added[0]["message"] == "Assigned additional IP 2001:db8::"
