"""ironlb-ccm with only the rights ``manifests/base/rbac-ccm.yaml`` grants, in an emulated cluster enforcing RBAC.

The ccm runs as a real process with a ServiceAccount token for ``metallb-system/ironlb-ccm``, leader election on,
every controller enabled, and is walked through each kind of write it makes: the Lease, Service status and
finalizer, Events (created, and patched when one repeats), Node initialization (status and update), the
lifecycle's Node delete, IPAddressPool status and the ConfigurationState. Any 403 shows up in its log, and the
assertions on the results would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.ccm.integration.harness import NAMESPACE, REPO, CcmProcess, Cluster, ccm_argv, eventually

RBAC = REPO / "manifests" / "base" / "rbac-ccm.yaml"
SERVICE_ACCOUNTS = REPO / "manifests" / "base" / "serviceaccounts.yaml"


def test_the_ccm_works_with_exactly_the_rights_of_the_manifests(
    make_cluster: Callable[..., Cluster], spawn_ccm: Callable[..., CcmProcess], tmp_path: Path
) -> None:
    cluster = make_cluster(rbac_enabled=True, tls=True)  # kubectl sends tokens only over TLS
    cluster.kubectl("apply", "-f", str(SERVICE_ACCOUNTS), "-f", str(RBAC))
    token = cluster.api.mint_token(NAMESPACE, "ironlb-ccm")
    kubeconfig = cluster.api.kubeconfig_for(token, tmp_path / "ccm.kubeconfig")
    denied = cluster.kubectl("get", "secrets", "-n", NAMESPACE, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), "the token really is restricted"

    cluster.create_pool("first", ["192.0.2.0/29"])
    ccm = spawn_ccm(
        ccm_argv(cluster, "--node-monitor-period=0.2s", kubeconfig=kubeconfig, leader_elect=True), name="ccm-rbac"
    )
    eventually(lambda: cluster.lease_holder().startswith("ccm-rbac_"), timeout=30, what="leads (Lease create)")

    # Services: status, finalizer and annotation (services/status patch), Events (create).
    cluster.create_service("web")
    assert cluster.wait_ingress("web") == ["192.0.2.0"]
    eventually(lambda: len(cluster.events("web")) == 3, what="three events")
    # The same cleanup twice: the second DeletingLoadBalancer event is the first one patched (count 2).
    for _ in range(2):
        cluster.patch_service("web", {"spec": {"type": "ClusterIP"}})
        eventually(lambda: cluster.ingress("web") == [], what="cleaned up")
        cluster.patch_service("web", {"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}})
        cluster.wait_ingress("web")
    deleting = eventually(
        lambda: [e for e in cluster.events("web", reason="DeletingLoadBalancer") if e["count"] == 2],
        what="an aggregated event (events patch)",
    )
    assert len(deleting) == 1

    # IPAddressPool status (ipaddresspools/status patch) and the ConfigurationState (create, get, patch status).
    eventually(
        lambda: (
            cluster.custom.get_namespaced_custom_object("metallb.io", "v1beta1", NAMESPACE, "ipaddresspools", "first")
            .get("status", {})
            .get("assignedIPv4")
            == 1
        ),
        what="pool status written",
    )
    eventually(lambda: cluster.configuration_state().get("status", {}).get("result") == "Valid", what="Valid")

    # Nodes: initialization (nodes/status patch, nodes get + update), lifecycle delete (nodes delete).
    cluster.core.create_node(
        {
            "metadata": {"name": "worker", "annotations": {"alpha.kubernetes.io/provided-node-ip": "192.0.2.50"}},
            "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    eventually(lambda: cluster.core.read_node("worker").spec.provider_id == "ironlb://worker", what="initialized")
    cluster.core.create_node(
        {
            "metadata": {"name": "gone", "annotations": {"ironlb.io/machine-removed": "true"}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        }
    )
    eventually(
        lambda: "gone" not in {n.metadata.name for n in cluster.core.list_node().items}, what="removed node deleted"
    )

    log = ccm.log_text()
    assert "forbidden" not in log.lower() and " 403 " not in log, log[-3000:]
    assert ccm.poll() is None
