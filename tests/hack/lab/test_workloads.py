"""The scheduler and the EndpointSlice rules of the controller stand-ins (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from hack.lab.endpointslices import desired_slices
from hack.lab.workloads import ALPHABET, node_fits, pick_node, template_hash
from ironlb.api import names


def _node(
    name: str, *, ready: bool = True, taints: list[dict[str, str]] | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]},
    }


UNINITIALIZED = {"key": names.TAINT_UNINITIALIZED, "value": "true", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("pod_spec", "node", "fits"),
    [
        pytest.param({}, _node("n"), True, id="a-ready-untainted-node"),
        pytest.param({}, _node("n", ready=False), False, id="not-ready"),
        pytest.param({}, _node("n", taints=[UNINITIALIZED]), False, id="not-yet-initialized-by-the-ccm"),
        pytest.param(
            {"tolerations": [{"operator": "Exists"}]}, _node("n", taints=[UNINITIALIZED]), True, id="tolerates-all"
        ),
        pytest.param(
            {"tolerations": [{"key": names.TAINT_UNINITIALIZED, "value": "true", "effect": "NoSchedule"}]},
            _node("n", taints=[UNINITIALIZED]),
            True,
            id="tolerates-that-taint",
        ),
        pytest.param({"nodeSelector": {"pods": "yes"}}, _node("n"), False, id="node-selector-unmatched"),
        pytest.param({"nodeSelector": {"pods": "yes"}}, _node("n", pods="yes"), True, id="node-selector-matched"),
        pytest.param(
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["n"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            _node("n"),
            False,
            id="required-node-affinity",
        ),
    ],
)
def test_node_fits(pod_spec: dict[str, Any], node: dict[str, Any], fits: bool) -> None:
    assert node_fits(pod_spec, node) is fits


def _pod(node: str, owner: str = "rs") -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "ownerReferences": [{"uid": owner, "controller": True}]},
        "spec": {"nodeName": node},
    }


def test_pick_node_spreads_a_workload_then_balances_then_orders_by_name() -> None:
    nodes = [_node("node1"), _node("node2"), _node("node3")]
    assert pick_node({}, "rs", nodes, []) == "node1"
    assert pick_node({}, "rs", nodes, [_pod("node1")]) == "node2"
    assert pick_node({}, "rs", nodes, [_pod("node1"), _pod("node2")]) == "node3"
    assert pick_node({}, "rs", nodes, [_pod("node2", "other"), _pod("node1")]) == "node3"
    assert pick_node({}, "rs", [_node("node1", ready=False)], []) is None


def test_template_hash_is_stable_and_in_kubernetes_alphabet() -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert template_hash(template) == template_hash({"spec": template["spec"], "metadata": template["metadata"]})
    assert template_hash(template) != template_hash({**template, "metadata": {"labels": {"app": "b"}}})
    assert set(template_hash(template)) <= set(ALPHABET)


def _lab_pod(name: str, node: str, ips: list[str], *, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]},
        "status": {
            "phase": "Running",
            "podIPs": [{"ip": ip} for ip in ips],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "web"}], **spec},
    }


def test_desired_slices_carry_node_names_conditions_and_resolved_ports() -> None:
    pods = [
        _lab_pod("a", "node1", ["203.0.113.17", "2001:db8:200::1:1"]),
        _lab_pod("b", "node2", ["203.0.113.33"], ready=False),
        _lab_pod("c", "node3", ["203.0.113.49"], deleting=True),
    ]
    (v4,) = desired_slices(_service(), pods)
    assert v4["metadata"]["name"] == "web-ipv4" and v4["addressType"] == "IPv4"
    assert v4["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    by_node = {e["nodeName"]: e["conditions"] for e in v4["endpoints"]}
    assert by_node == {
        "node1": {"ready": True, "serving": True, "terminating": False},
        "node2": {"ready": False, "serving": False, "terminating": False},
        "node3": {"ready": False, "serving": True, "terminating": True},
    }
    assert v4["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"


def test_dual_stack_services_get_one_slice_per_family() -> None:
    pods = [_lab_pod("a", "node1", ["203.0.113.17", "2001:db8:200::1:1"])]
    slices = desired_slices(_service(ipFamilies=["IPv4", "IPv6"]), pods)
    assert [(s["addressType"], s["endpoints"][0]["addresses"]) for s in slices] == [
        ("IPv4", ["203.0.113.17"]),
        ("IPv6", ["2001:db8:200::1:1"]),
    ]


def test_services_without_selector_or_pods_get_no_slice() -> None:
    assert desired_slices(_service(selector={}), [_lab_pod("a", "node1", ["203.0.113.17"])]) == []
    assert desired_slices(_service(), []) == []
