"""The cloud-node and cloud-node-lifecycle controllers against Nodes as kubelets register them.

A kubelet with ``--cloud-provider=external`` registers its Node tainted ``node.cloudprovider.kubernetes.io/
uninitialized`` and, given ``--node-ip``, annotated ``alpha.kubernetes.io/provided-node-ip``; the ccm fills in
what a cloud would. The lifecycle controller never deletes a Node a person did not mark as removed.
"""

from __future__ import annotations

from typing import Any

from tests.ccm.integration.harness import Cluster, ccm_argv, eventually

RunCcm = Any
UNINITIALIZED = {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"}
SHUTDOWN = "node.cloudprovider.kubernetes.io/shutdown"
OUT_OF_SERVICE = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}


def register(
    cluster: Cluster,
    name: str,
    *,
    ip: str | None = None,
    taints: list[dict[str, str]] | None = None,
    ready: bool = True,
    annotations: dict[str, str] | None = None,
) -> None:
    notes = dict(annotations or {})
    if ip is not None:
        notes["alpha.kubernetes.io/provided-node-ip"] = ip
    cluster.core.create_node(
        {
            "metadata": {"name": name, "annotations": notes, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints if taints is not None else [UNINITIALIZED]},
            "status": {
                "addresses": [{"type": "Hostname", "address": name}],
                "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Test"}],
            },
        }
    )


def node(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.raw(cluster.core.read_node, name)


def taint_keys(cluster: Cluster, name: str) -> list[str]:
    return [t["key"] for t in node(cluster, name)["spec"].get("taints") or []]


def test_a_registered_node_is_initialized(cluster: Cluster, run_ccm: RunCcm) -> None:
    run_ccm(ccm_argv(cluster, "--controllers=cloud-node"))
    other = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    register(cluster, "worker-1", ip="192.0.2.11", taints=[UNINITIALIZED, other])

    eventually(lambda: "node.cloudprovider.kubernetes.io/uninitialized" not in taint_keys(cluster, "worker-1"))
    obj = node(cluster, "worker-1")
    assert obj["spec"]["providerID"] == "ironlb://worker-1"
    assert obj["spec"]["taints"] == [other], "only the uninitialized taint is removed"
    assert obj["status"]["addresses"] == [
        {"type": "InternalIP", "address": "192.0.2.11"},
        {"type": "Hostname", "address": "worker-1"},
    ]
    synced = eventually(lambda: cluster.events("worker-1", "default", reason="Synced"), what="Synced event")
    assert synced[0]["type"] == "Normal" and synced[0]["involvedObject"]["kind"] == "Node"


def test_a_dual_stack_node_gets_both_provided_addresses(cluster: Cluster, run_ccm: RunCcm) -> None:
    run_ccm(ccm_argv(cluster, "--controllers=cloud-node"))
    register(cluster, "worker-2", ip="192.0.2.12,2001:db8::12")
    eventually(lambda: node(cluster, "worker-2")["spec"].get("providerID") == "ironlb://worker-2")
    addresses = [(a["type"], a["address"]) for a in node(cluster, "worker-2")["status"]["addresses"]]
    assert addresses == [("InternalIP", "192.0.2.12"), ("InternalIP", "2001:db8::12"), ("Hostname", "worker-2")]


def test_a_node_without_an_address_stays_tainted_with_one_warning_until_it_has_one(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    run_ccm(ccm_argv(cluster, "--controllers=cloud-node"))
    register(cluster, "bare")
    warning = eventually(lambda: cluster.events("bare", "default", reason="NodeInitializationFailed"), what="warning")
    assert warning[0]["type"] == "Warning"
    assert "--node-ip" in warning[0]["message"], "the message says how to fix it"
    register(cluster, "barrier", ip="192.0.2.13")  # initialized after "bare" was looked at again by then
    cluster.core.patch_node("bare", {"metadata": {"labels": {"touched": "1"}}})  # reconciled again, still no IP
    eventually(lambda: node(cluster, "barrier")["spec"].get("providerID"), what="barrier initialized")
    assert "node.cloudprovider.kubernetes.io/uninitialized" in taint_keys(cluster, "bare")
    assert not node(cluster, "bare")["spec"].get("providerID")
    assert cluster.event_counts("bare")["NodeInitializationFailed"] == 1, "reported once while unchanged"

    cluster.core.patch_node(
        "bare", {"metadata": {"annotations": {"alpha.kubernetes.io/provided-node-ip": "192.0.2.14"}}}
    )
    eventually(lambda: "node.cloudprovider.kubernetes.io/uninitialized" not in taint_keys(cluster, "bare"))
    assert node(cluster, "bare")["spec"]["providerID"] == "ironlb://bare"


def test_the_lifecycle_controller_taints_shut_down_nodes_and_deletes_only_nodes_marked_removed(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    register(cluster, "notready-unmarked", taints=[], ready=False)
    register(cluster, "notready-shutdown", taints=[OUT_OF_SERVICE], ready=False)
    register(cluster, "ready-removed", taints=[], annotations={"ironlb.io/machine-removed": "true"})
    register(cluster, "notready-removed", taints=[], ready=False, annotations={"ironlb.io/machine-removed": "true"})
    run_ccm(ccm_argv(cluster, "--controllers=cloud-node-lifecycle", "--node-monitor-period=0.2s"))

    def gone(name: str) -> bool:
        return not any(n.metadata.name == name for n in cluster.core.list_node().items)

    eventually(lambda: gone("notready-removed"), what="the NotReady node marked removed is deleted")
    deleting = cluster.events("notready-removed", "default", reason="DeletingNode")
    assert deleting and deleting[0]["involvedObject"]["kind"] == "Node"
    eventually(lambda: SHUTDOWN in taint_keys(cluster, "notready-shutdown"), what="shutdown taint added")
    shutdown_taint = next(t for t in node(cluster, "notready-shutdown")["spec"]["taints"] if t["key"] == SHUTDOWN)
    assert shutdown_taint["effect"] == "NoSchedule"

    # The node comes back: Ready again, the shutdown taint goes (the out-of-service one is the person's to remove).
    cluster.core.patch_node_status(
        "notready-shutdown", {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Test"}]}}
    )
    eventually(lambda: SHUTDOWN not in taint_keys(cluster, "notready-shutdown"), what="shutdown taint removed")

    # Several passes ran over every node meanwhile; these were never deleted.
    names = {n.metadata.name for n in cluster.core.list_node().items}
    assert {"notready-unmarked", "ready-removed", "notready-shutdown"} <= names
    assert taint_keys(cluster, "notready-unmarked") == []
