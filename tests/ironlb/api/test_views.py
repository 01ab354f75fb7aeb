"""Typed views of Services, Nodes and EndpointSlices read the fields ironlb depends on, with API defaults."""

from __future__ import annotations

from ironlb.api.addresses import IPFamily, address_range_to_networks, parse_ip
from ironlb.api.endpoints import ServiceEndpoints, slice_service_key
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView

SERVICE = {
    "metadata": {
        "name": "whoami",
        "namespace": "default",
        "uid": "u1",
        "annotations": {"metallb.universe.tf/address-pool": "legacy", "metallb.io/allow-shared-ip": "k"},
        "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
    },
    "spec": {
        "type": "LoadBalancer",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 31796}],
        "ipFamilies": ["IPv4", "IPv6"],
        "ipFamilyPolicy": "PreferDualStack",
        "clusterIPs": ["10.3.216.58", "fd00::1"],
        "externalTrafficPolicy": "Local",
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.20"}, {"hostname": "x.example"}]}},
}


def test_service_view_reads_fields_and_legacy_annotations() -> None:
    svc = ServiceView.from_object(SERVICE)
    assert svc.key == "default/whoami"
    assert svc.is_load_balancer and svc.is_local
    assert svc.ip_families == (IPFamily.IPV4, IPFamily.IPV6)
    assert svc.ports[0].protocol == "TCP" and svc.ports[0].node_port == 31796
    assert svc.ingress_ips == ("198.51.100.20",)
    assert svc.requested_pool == "legacy"
    assert svc.sharing_key == "k"
    assert svc.deprecated_annotations == ("metallb.universe.tf/address-pool",)


def test_service_view_defaults_for_a_bare_object() -> None:
    svc = ServiceView.from_object({"metadata": {"name": "x"}})
    assert (svc.namespace, svc.type, svc.external_traffic_policy) == ("default", "ClusterIP", "Cluster")
    assert svc.ip_families == () and svc.ingress_ips == () and not svc.deleting


def test_new_prefix_wins_over_legacy() -> None:
    obj = {
        "metadata": {
            "name": "x",
            "annotations": {"metallb.io/address-pool": "new", "metallb.universe.tf/address-pool": "old"},
        }
    }
    assert ServiceView.from_object(obj).requested_pool == "new"


def test_node_view() -> None:
    node = NodeView.from_object(
        {
            "metadata": {
                "name": "n1",
                "labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "false"},
                "annotations": {"alpha.kubernetes.io/provided-node-ip": "192.0.2.11,2001:db8::11"},
            },
            "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "NetworkUnavailable", "status": "False"},
                ]
            },
        }
    )
    assert node.ready and not node.network_unavailable
    # MetalLB: presence of the label excludes, whatever its value.
    assert node.excluded_from_load_balancers
    assert node.has_taint("node.cloudprovider.kubernetes.io/uninitialized")
    assert node.provided_node_ips == ("192.0.2.11", "2001:db8::11")


def test_endpoints_ready_means_true_or_absent() -> None:
    slices = [
        {
            "endpoints": [
                {"addresses": ["203.0.113.11"], "nodeName": "n1", "conditions": {"ready": True}},
                {"addresses": ["203.0.113.12"], "nodeName": "n2", "conditions": {}},
                {
                    "addresses": ["203.0.113.13"],
                    "nodeName": "n3",
                    "conditions": {"ready": False, "terminating": True},
                },
            ]
        },
    ]
    eps = ServiceEndpoints.from_slices(slices)
    assert eps.any_ready
    assert eps.ready_nodes == frozenset({"n1", "n2"})
    assert not ServiceEndpoints.from_slices([]).any_ready
    assert slice_service_key({"metadata": {"namespace": "ns", "labels": {"kubernetes.io/service-name": "s"}}}) == "ns/s"
    assert slice_service_key({"metadata": {}}) is None


def test_addresses() -> None:
    assert parse_ip(" 192.0.2.1 ") is not None
    assert parse_ip("fe80::1%eth0") is None
    assert parse_ip("foo") is None
    nets = address_range_to_networks(parse_ip("192.0.2.10"), parse_ip("192.0.2.20"))  # type: ignore[arg-type]
    assert sum(n.num_addresses for n in nets) == 11
