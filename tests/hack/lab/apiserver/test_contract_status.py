"""Contract: the status subresource, finalizers, deletionTimestamp and generation.

The upstream service controller adds and removes ``service.kubernetes.io/load-balancer-cleanup`` with a
strategic merge patch to ``services/status`` (reference: peers-and-cloud-provider.md 1.3), so that path must
apply metadata while ignoring spec. Writes to the main resource must ignore status. Objects with finalizers are
only marked on delete, and go when the last finalizer does.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as kube_client

client: Any = kube_client

CLEANUP = "service.kubernetes.io/load-balancer-cleanup"


def _lb(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"a": "b"}},
    }


def test_service_status_patch_applies_finalizers_and_status_but_not_spec(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _lb("s"))
    patch = {
        "metadata": {"finalizers": [CLEANUP]},
        "spec": {"externalTrafficPolicy": "Local"},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
    }
    out = core.patch_namespaced_service_status("s", ns, patch)
    assert out.metadata.finalizers == [CLEANUP]
    assert out.spec.external_traffic_policy == "Cluster"
    assert out.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert out.status.load_balancer.ingress[0].ip_mode == "VIP"


def test_service_update_ignores_status(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _lb("u"))
    core.patch_namespaced_service_status("u", ns, {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.11"}]}}})
    out = core.patch_namespaced_service(
        "u", ns, {"metadata": {"labels": {"x": "y"}}, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}}}
    )
    assert out.status.load_balancer.ingress[0].ip == "192.0.2.11"
    assert out.metadata.labels == {"x": "y"}


def test_service_create_drops_status(core: Any, ns: str) -> None:
    body = _lb("c")
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.12"}]}}
    out = core.create_namespaced_service(ns, body)
    assert not out.status.load_balancer.ingress


def test_finalizer_holds_deletion_until_removed_through_status(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, _lb("f"))
    core.patch_namespaced_service_status("f", ns, {"metadata": {"finalizers": [CLEANUP]}})
    core.delete_namespaced_service("f", ns)
    marked = core.read_namespaced_service("f", ns)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 0
    status = expect_error(
        422, core.patch_namespaced_service, "f", ns, {"metadata": {"finalizers": [CLEANUP, "example.com/another"]}}
    )
    assert "no new finalizers can be added if the object is being deleted" in status["message"]
    # Remove the finalizer the way the service controller does: strategic merge patch on /status.
    core.patch_namespaced_service_status("f", ns, {"metadata": {"$deleteFromPrimitiveList/finalizers": [CLEANUP]}})
    expect_error(404, core.read_namespaced_service, "f", ns)


def test_finalizer_removal_with_merge_patch_deletes(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("fin", ns)
    assert core.read_namespaced_config_map("fin", ns).metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "fin", ns, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    expect_error(404, core.read_namespaced_config_map, "fin", ns)


def test_deployment_generation_counts_spec_changes_only(apps: Any, ns: str) -> None:
    body = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    created = apps.create_namespaced_deployment(ns, body)
    assert created.metadata.generation == 1
    assert apps.patch_namespaced_deployment("d", ns, {"metadata": {"labels": {"l": "1"}}}).metadata.generation == 1
    assert apps.patch_namespaced_deployment("d", ns, {"spec": {"replicas": 3}}).metadata.generation == 2
    out = apps.patch_namespaced_deployment_status(
        "d", ns, {"status": {"replicas": 3, "observedGeneration": 2}, "spec": {"replicas": 9}}
    )
    assert out.metadata.generation == 2 and out.spec.replicas == 3 and out.status.replicas == 3
    assert apps.patch_namespaced_deployment("d", ns, {"status": {"replicas": 7}}).status.replicas == 3


def test_deployment_status_write_keeps_labels(apps: Any, ns: str) -> None:
    body = {
        "metadata": {"name": "dl", "labels": {"keep": "me"}},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    apps.create_namespaced_deployment(ns, body)
    out = apps.patch_namespaced_deployment_status(
        "dl", ns, {"metadata": {"labels": {"keep": "changed"}}, "status": {"replicas": 1}}
    )
    assert out.metadata.labels == {"keep": "me"}


def test_pod_status_write_keeps_spec(core: Any, ns: str) -> None:
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    out = core.patch_namespaced_pod_status(
        "p", ns, {"status": {"phase": "Running", "podIP": "203.0.113.5"}, "spec": {"activeDeadlineSeconds": 5}}
    )
    assert out.status.phase == "Running" and out.status.pod_ip == "203.0.113.5"
    assert out.spec.active_deadline_seconds is None


def test_node_status_write_keeps_spec(core: Any) -> None:
    name = "contract-node-status"
    core.create_node({"metadata": {"name": name}, "spec": {"unschedulable": False}})
    try:
        out = core.patch_node_status(
            name,
            {
                "spec": {"unschedulable": True},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "192.0.2.21"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            },
        )
        assert not out.spec.unschedulable
        assert out.status.addresses[0].address == "192.0.2.21"
    finally:
        core.delete_node(name)


def test_custom_resource_status_subresource(custom: Any, ns: str, widget_crd: Any) -> None:
    group, plural = "contract.ironlb.dev", "widgets"
    body = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
        "status": {"phase": "Ignored"},
    }
    created = custom.create_namespaced_custom_object(group, "v1", ns, plural, body)
    assert "status" not in created
    assert created["metadata"]["generation"] == 1
    out = custom.patch_namespaced_custom_object_status(
        group,
        "v1",
        ns,
        plural,
        "w",
        {"status": {"phase": "Ready"}, "spec": {"size": 50}, "metadata": {"labels": {"no": "way"}}},
    )
    assert out["status"] == {"phase": "Ready"}
    assert out["spec"]["size"] == 2 and "labels" not in out["metadata"]
    assert out["metadata"]["generation"] == 1
    out = custom.patch_namespaced_custom_object(
        group, "v1", ns, plural, "w", {"spec": {"size": 3}, "status": {"phase": "Lost"}}
    )
    assert out["status"] == {"phase": "Ready"} and out["metadata"]["generation"] == 2
    out = custom.patch_namespaced_custom_object(group, "v1", ns, plural, "w", {"metadata": {"labels": {"a": "b"}}})
    assert out["metadata"]["generation"] == 2
