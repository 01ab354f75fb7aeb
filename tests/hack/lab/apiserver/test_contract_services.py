"""Contract: Services as the registry handles them - allocation, defaulting, immutability, validation.

Cluster IPs come from the service CIDR, node ports from 30000-32767; specific requests are honoured or refused
with 422; ``clusterIP`` never changes; ``loadBalancerClass`` exists only on LoadBalancer Services and cannot
change while the type stays LoadBalancer; the status only accepts real IPs. Dual-stack needs a cluster set up
for it, so that test runs on a private emulator.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from hack.lab.apiserver import ApiServerThread

client: Any = kube_client
config: Any = kube_config


def _svc(name: str, kind: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]},
    }
    body["spec"].update(spec)
    return body


def _service_range(core: Any) -> ipaddress.IPv4Address:
    """The first address of the service range: the kubernetes Service has it."""
    return ipaddress.IPv4Address(core.read_namespaced_service("kubernetes", "default").spec.cluster_ip)


def test_cluster_ip_service_gets_an_address_and_defaults(core: Any, ns: str) -> None:
    out = core.create_namespaced_service(ns, _svc("a"))
    spec = out.spec
    first = _service_range(core)
    assert ipaddress.IPv4Address(spec.cluster_ip) in ipaddress.IPv4Network(f"{first}/16", strict=False)
    assert spec.cluster_ips == [spec.cluster_ip]
    assert spec.ip_families == ["IPv4"] and spec.ip_family_policy == "SingleStack"
    assert spec.session_affinity == "None" and spec.internal_traffic_policy == "Cluster"
    assert spec.ports[0].protocol == "TCP" and spec.ports[0].target_port == 80
    assert spec.ports[0].node_port is None and spec.external_traffic_policy is None


def test_load_balancer_gets_node_ports_and_lb_defaults(core: Any, ns: str) -> None:
    out = core.create_namespaced_service(ns, _svc("lb", "LoadBalancer"))
    assert 30000 <= out.spec.ports[0].node_port <= 32767
    assert out.spec.allocate_load_balancer_node_ports is True
    assert out.spec.external_traffic_policy == "Cluster"


def test_local_traffic_policy_gets_a_health_check_node_port(core: Any, ns: str) -> None:
    out = core.create_namespaced_service(ns, _svc("hc", "LoadBalancer", externalTrafficPolicy="Local"))
    assert 30000 <= out.spec.health_check_node_port <= 32767


def test_requested_cluster_ip_is_honoured_then_refused_for_the_next(core: Any, ns: str, expect_error: Any) -> None:
    wanted = str(_service_range(core) + random.randint(1000, 4000))
    out = core.create_namespaced_service(ns, _svc("ip1", clusterIP=wanted))
    assert out.spec.cluster_ip == wanted
    status = expect_error(422, core.create_namespaced_service, ns, _svc("ip2", clusterIP=wanted))
    assert status["details"]["causes"][0]["field"] == "spec.clusterIPs"
    assert f"failed to allocate IP {wanted}: provided IP is already allocated" in status["message"]


def test_cluster_ip_outside_the_range_is_refused(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(422, core.create_namespaced_service, ns, _svc("out", clusterIP="192.0.2.1"))
    assert "provided IP is not in the valid range" in status["message"]


def test_requested_node_port_is_honoured_then_refused_for_the_next(core: Any, ns: str, expect_error: Any) -> None:
    for _ in range(20):
        port = random.randint(30000, 32767)
        body = _svc("np1", "NodePort")
        body["spec"]["ports"][0]["nodePort"] = port
        try:
            out = core.create_namespaced_service(ns, body)
            break
        except client.ApiException as exc:
            if exc.status != 422:
                raise
    else:
        raise AssertionError("no free node port found")
    assert out.spec.ports[0].node_port == port
    body = _svc("np2", "NodePort")
    body["spec"]["ports"][0]["nodePort"] = port
    status = expect_error(422, core.create_namespaced_service, ns, body)
    cause = status["details"]["causes"][0]
    assert cause["field"] == "spec.ports[0].nodePort"
    assert cause["message"] == f"Invalid value: {port}: provided port is already allocated"


def test_node_port_outside_the_range_is_refused(core: Any, ns: str, expect_error: Any) -> None:
    body = _svc("low", "NodePort")
    body["spec"]["ports"][0]["nodePort"] = 80
    status = expect_error(422, core.create_namespaced_service, ns, body)
    assert "provided port is not in the valid range" in status["message"]


def test_cluster_ip_cannot_change(core: Any, ns: str, expect_error: Any) -> None:
    out = core.create_namespaced_service(ns, _svc("imm"))
    other = str(ipaddress.IPv4Address(out.spec.cluster_ip) + 1)
    status = expect_error(
        422, core.patch_namespaced_service, "imm", ns, {"spec": {"clusterIP": other, "clusterIPs": [other]}}
    )
    fields = {c["field"] for c in status["details"]["causes"]}
    assert "spec.clusterIPs[0]" in fields
    assert "may not change once set" in status["message"]


def test_update_without_cluster_ip_keeps_it(core: Any, ns: str) -> None:
    out = core.create_namespaced_service(ns, _svc("keep", "LoadBalancer"))
    body = _svc("keep", "LoadBalancer")
    body["metadata"]["resourceVersion"] = out.metadata.resource_version
    again = core.replace_namespaced_service("keep", ns, body)
    assert again.spec.cluster_ip == out.spec.cluster_ip
    assert again.spec.ports[0].node_port == out.spec.ports[0].node_port


def test_type_change_to_cluster_ip_releases_node_ports(core: Any, ns: str) -> None:
    out = core.create_namespaced_service(ns, _svc("down", "LoadBalancer"))
    assert out.spec.ports[0].node_port
    out = core.patch_namespaced_service("down", ns, {"spec": {"type": "ClusterIP"}})
    assert out.spec.ports[0].node_port is None
    assert out.spec.allocate_load_balancer_node_ports is None
    assert out.spec.external_traffic_policy is None


def test_load_balancer_class_only_on_load_balancers(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(422, core.create_namespaced_service, ns, _svc("cls", loadBalancerClass="ironlb.dev/ironlb"))
    cause = status["details"]["causes"][0]
    assert cause == {
        "reason": "FieldValueForbidden",
        "field": "spec.loadBalancerClass",
        "message": "Forbidden: may only be used when `type` is 'LoadBalancer'",
    }


def test_load_balancer_class_cannot_change_while_load_balancer(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, _svc("lbc", "LoadBalancer", loadBalancerClass="ironlb.dev/ironlb"))
    status = expect_error(
        422, core.patch_namespaced_service, "lbc", ns, {"spec": {"loadBalancerClass": "example.com/other"}}
    )
    assert 'spec.loadBalancerClass: Invalid value: "example.com/other": may not change once set' in status["message"]


def test_status_with_an_ingress_ip_that_is_not_an_ip_is_refused(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, _svc("st", "LoadBalancer"))
    status = expect_error(
        422, core.patch_namespaced_service_status, "st", ns, {"status": {"loadBalancer": {"ingress": [{"ip": "foo"}]}}}
    )
    cause = status["details"]["causes"][0]
    assert cause["field"] == "status.loadBalancer.ingress[0].ip"
    assert cause["message"].startswith('Invalid value: "foo": must be a valid IP address')
    assert not core.read_namespaced_service("st", ns).status.load_balancer.ingress


def test_status_hostname_must_not_be_an_ip(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, _svc("hn", "LoadBalancer"))
    status = expect_error(
        422,
        core.patch_namespaced_service_status,
        "hn",
        ns,
        {"status": {"loadBalancer": {"ingress": [{"hostname": "192.0.2.1"}]}}},
    )
    assert "must be a DNS name, not an IP address" in status["message"]


def test_ingress_status_on_a_cluster_ip_service_is_forbidden(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, _svc("nolb"))
    status = expect_error(
        422,
        core.patch_namespaced_service_status,
        "nolb",
        ns,
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.5"}]}}},
    )
    assert status["details"]["causes"][0]["field"] == "status.loadBalancer.ingress"


@pytest.mark.parametrize(
    ("ports", "field"),
    [
        pytest.param([{"port": 0}], "spec.ports[0].port", id="port-zero"),
        pytest.param([{"port": 70000}], "spec.ports[0].port", id="port-too-large"),
        pytest.param([{"port": 80, "protocol": "ICMP"}], "spec.ports[0].protocol", id="unknown-protocol"),
        pytest.param([{"port": 80}, {"port": 81}], "spec.ports[0].name", id="names-required-with-two-ports"),
        pytest.param(
            [{"name": "a", "port": 80}, {"name": "a", "port": 81}], "spec.ports[1].name", id="duplicate-port-names"
        ),
        pytest.param([{"name": "Bad_Name", "port": 80}], "spec.ports[0].name", id="port-name-not-a-dns-label"),
        pytest.param([], "spec.ports", id="ports-required"),
    ],
)
def test_invalid_ports_are_422(core: Any, ns: str, expect_error: Any, ports: Any, field: str) -> None:
    body = _svc("bad")
    body["spec"]["ports"] = ports
    status = expect_error(422, core.create_namespaced_service, ns, body)
    assert field in {c["field"] for c in status["details"]["causes"]}


def test_service_names_are_dns_1035_labels(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(422, core.create_namespaced_service, ns, _svc("1abc"))
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert "a DNS-1035 label must consist of" in status["message"]


def test_require_dual_stack_on_a_single_stack_cluster_is_refused(
    target: Any, core: Any, ns: str, expect_error: Any
) -> None:
    target.require_emulator("the real cluster might be dual-stack")
    status = expect_error(422, core.create_namespaced_service, ns, _svc("ds", ipFamilyPolicy="RequireDualStack"))
    assert "this cluster is not configured for dual-stack services" in status["message"]


def test_dual_stack_cluster_allocates_both_families(target: Any) -> None:
    target.require_emulator("a private dual-stack emulator")
    with ApiServerThread(service_cidrs=("10.96.0.0/16", "fd00:10:96::/108")) as api:
        core = client.CoreV1Api(config.new_client_from_config(str(api.kubeconfig)))
        single = core.create_namespaced_service("default", _svc("single"))
        assert single.spec.ip_families == ["IPv4"] and len(single.spec.cluster_ips) == 1
        prefer = core.create_namespaced_service("default", _svc("prefer", ipFamilyPolicy="PreferDualStack"))
        assert prefer.spec.ip_families == ["IPv4", "IPv6"]
        v4, v6 = prefer.spec.cluster_ips
        assert ipaddress.ip_address(v4) in ipaddress.ip_network("10.96.0.0/16")
        assert ipaddress.ip_address(v6) in ipaddress.ip_network("fd00:10:96::/108")
        v6first = core.create_namespaced_service("default", _svc("v6", ipFamilies=["IPv6"]))
        assert v6first.spec.ip_families == ["IPv6"] and ":" in v6first.spec.cluster_ip
