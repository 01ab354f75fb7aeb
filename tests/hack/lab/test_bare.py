"""The bare lab's objects and rules (hack/lab/bare.py): Nodes as a kubelet registers them and ironlb-ccm leaves
them, the local backend's DNAT, and the Services and EndpointSlices a test writes in place of the ccm."""

from __future__ import annotations

import pytest

from hack.lab.bare import backend_ips, backend_rules, endpoint_slice, node_object, node_status, service_object
from hack.lab.cluster import NodeInfo
from ironlb.api import names

NODE = NodeInfo(
    "node2", 2, "ilb1x1-node2", "192.0.2.12", "2001:db8::12", "02:00:00:00:00:04", "203.0.113.32/28",
    "2001:db8:200::2:0/112",
)  # fmt: skip


def test_the_node_is_initialized_and_has_both_internal_ips() -> None:
    obj = node_object(NODE)
    assert "taints" not in obj["spec"] and obj["spec"]["providerID"] == "ironlb://node2"
    assert obj["metadata"]["labels"]["kubernetes.io/hostname"] == "node2"
    assert obj["metadata"]["annotations"][names.ANN_PROVIDED_NODE_IP] == "192.0.2.12,2001:db8::12"
    status = node_status(NODE, ready=True, now="2024-01-01T00:00:00Z")
    assert [a["address"] for a in status["addresses"] if a["type"] == "InternalIP"] == ["192.0.2.12", "2001:db8::12"]


@pytest.mark.parametrize(
    ("ready", "status"), [pytest.param(True, "True", id="ready"), pytest.param(False, "False", id="not-ready")]
)
def test_the_ready_condition_is_what_the_test_says(ready: bool, status: str) -> None:
    conditions = {c["type"]: c for c in node_status(NODE, ready=ready, now="2024-01-01T00:00:00Z")["conditions"]}
    assert conditions["Ready"]["status"] == status
    assert conditions["MemoryPressure"]["status"] == "False"


def test_the_backend_takes_the_first_pod_address_and_every_service_address_goes_to_it() -> None:
    ip4, ip6 = backend_ips(NODE)
    assert (ip4, ip6) == ("203.0.113.33", "2001:db8:200::2:1")
    rules = backend_rules(ip4, ip6)
    assert "ip daddr 198.51.100.0/24 tcp dport 80 dnat ip to 203.0.113.33:80" in rules
    assert "ip6 daddr 2001:db8:100::/64 tcp dport 80 dnat ip6 to [2001:db8:200::2:1]:80" in rules
    assert "chain gate { type filter hook prerouting priority raw; policy accept; }" in rules


@pytest.mark.parametrize(
    ("vips", "local", "families", "policy", "traffic"),
    [
        pytest.param(["198.51.100.1"], False, ["IPv4"], "SingleStack", "Cluster", id="ipv4-cluster"),
        pytest.param(
            ["198.51.100.1", "2001:db8:100::1"], True, ["IPv4", "IPv6"], "RequireDualStack", "Local", id="dual-local"
        ),
    ],
)
def test_services_carry_the_families_of_their_addresses(
    vips: list[str], local: bool, families: list[str], policy: str, traffic: str
) -> None:
    spec = service_object("web", vips, local=local)["spec"]
    assert (spec["type"], spec["ipFamilies"], spec["ipFamilyPolicy"]) == ("LoadBalancer", families, policy)
    assert spec["externalTrafficPolicy"] == traffic


def test_an_endpoint_slice_names_its_service_and_nodes() -> None:
    eps = endpoint_slice("web", "IPv6", [("node1", "2001:db8:200::1:1", True), ("node2", "2001:db8:200::2:1", False)])
    assert eps["metadata"]["name"] == "web-ipv6"
    assert eps["metadata"]["labels"] == {"kubernetes.io/service-name": "web"}
    assert [(e["nodeName"], e["conditions"]["ready"]) for e in eps["endpoints"]] == [("node1", True), ("node2", False)]
