"""Contract: the other kinds ironlb uses - Events in both groups, Leases, EndpointSlices, Nodes, Pods - and the
server-side tables kubectl prints for them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from kubernetes import client as kube_client

client: Any = kube_client

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _table(raw: Any, path: str) -> dict[str, Any]:
    status, table, _ = raw("GET", path, None, {"Accept": TABLE})
    assert status == 200 and table["kind"] == "Table", table
    return dict(table)


def _now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_events_written_with_events_k8s_io_read_as_core_events(api: Any, core: Any, ns: str) -> None:
    events = client.EventsV1Api(api)
    events.create_namespaced_event(
        ns,
        {
            "metadata": {"name": "ev1"},
            "eventTime": _now_micro(),
            "reportingController": "ironlb.dev/ccm",
            "reportingInstance": "ccm-1",
            "action": "Allocate",
            "reason": "IPAllocated",
            "type": "Normal",
            "note": "Assigned IP 192.0.2.1",
            "regarding": {"kind": "Service", "name": "web", "namespace": ns, "apiVersion": "v1"},
        },
    )
    legacy = core.read_namespaced_event("ev1", ns)
    assert legacy.involved_object.name == "web" and legacy.message == "Assigned IP 192.0.2.1"
    assert legacy.reporting_component == "ironlb.dev/ccm"
    by_object = core.list_namespaced_event(ns, field_selector="involvedObject.name=web").items
    assert [e.metadata.name for e in by_object] == ["ev1"]


def test_events_k8s_io_requires_its_fields(raw: Any, ns: str) -> None:
    import json

    body = json.dumps({"metadata": {"name": "bad"}, "reason": "X", "type": "Normal"})
    code, status, _ = raw(
        "POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", body, {"Content-Type": "application/json"}
    )
    assert code == 422, status
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"eventTime", "reportingController", "reportingInstance", "action"} <= fields


def test_core_events_read_through_events_k8s_io(api: Any, core: Any, ns: str) -> None:
    core.create_namespaced_event(
        ns,
        {
            "metadata": {"name": "old"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
            "reason": "Started",
            "message": "hi",
            "type": "Normal",
            "source": {"component": "kubelet"},
            "firstTimestamp": "2024-01-01T00:00:00Z",
            "lastTimestamp": "2024-01-01T00:00:00Z",
            "count": 2,
        },
    )
    new = client.EventsV1Api(api).read_namespaced_event("old", ns)
    assert new.regarding.name == "p" and new.note == "hi" and new.deprecated_count == 2


def test_lease_renewal_with_optimistic_concurrency(api: Any, ns: str, expect_error: Any) -> None:
    leases = client.CoordinationV1Api(api)
    now = _now_micro()
    lease = leases.create_namespaced_lease(
        ns,
        {
            "metadata": {"name": "leader"},
            "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 15, "acquireTime": now, "renewTime": now},
        },
    )
    body = lease.to_dict(serialize=True)
    body["spec"]["renewTime"] = _now_micro()
    renewed = leases.replace_namespaced_lease("leader", ns, body)
    assert renewed.spec.holder_identity == "node1"
    body["spec"]["holderIdentity"] = "node2"  # a competitor with the stale copy loses
    expect_error(409, leases.replace_namespaced_lease, "leader", ns, body)


def test_endpoint_slices_validate_addresses(api: Any, ns: str, expect_error: Any) -> None:
    discovery = client.DiscoveryV1Api(api)
    good = {
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["203.0.113.5"], "conditions": {"ready": True}, "nodeName": "node1"}],
        "ports": [{"name": "http", "port": 8080}],
    }
    out = discovery.create_namespaced_endpoint_slice(ns, good)
    assert out.ports[0].protocol == "TCP"
    bad = dict(good, metadata={"name": "web-bad"}, endpoints=[{"addresses": ["not-an-ip"]}])
    status = expect_error(422, discovery.create_namespaced_endpoint_slice, ns, bad)
    assert "endpoints[0].addresses[0]" in {c["field"] for c in status["details"]["causes"]}
    listed = discovery.list_namespaced_endpoint_slice(ns, label_selector="kubernetes.io/service-name=web")
    assert [s.metadata.name for s in listed.items] == ["web-abc"]


def test_node_provider_id_is_immutable_once_set(core: Any, expect_error: Any) -> None:
    name = "contract-node-pid"
    core.create_node({"metadata": {"name": name}})
    try:
        core.patch_node(name, {"spec": {"providerID": "ironlb://node1"}})
        status = expect_error(422, core.patch_node, name, {"spec": {"providerID": "ironlb://other"}})
        assert "spec.providerID" in status["message"]
    finally:
        core.delete_node(name)


def test_bound_pod_is_deleted_gracefully(core: Any, ns: str, expect_error: Any) -> None:
    spec = {"nodeName": "node1", "containers": [{"name": "c", "image": "i"}]}
    core.create_namespaced_pod(ns, {"metadata": {"name": "bound"}, "spec": spec})
    core.delete_namespaced_pod("bound", ns)
    pod = core.read_namespaced_pod("bound", ns)
    assert pod.metadata.deletion_grace_period_seconds == 30 and pod.metadata.deletion_timestamp is not None
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=0)  # what the kubelet does when it is done
    expect_error(404, core.read_namespaced_pod, "bound", ns)


def test_dependents_are_garbage_collected(core: Any, ns: str) -> None:
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", ns)
    for _ in range(300):
        names = {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
        if "child" not in names:
            return
        time.sleep(0.1)
    raise AssertionError("the dependent was never collected")


@pytest.mark.parametrize(
    ("path", "columns"),
    [
        pytest.param("/api/v1/nodes", ["Name", "Status", "Roles", "Age", "Version"], id="nodes"),
        pytest.param("/api/v1/namespaces", ["Name", "Status", "Age"], id="namespaces"),
        pytest.param(
            "/api/v1/namespaces/default/services",
            ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
            id="services",
        ),
    ],
)
def test_tables_have_the_upstream_columns(raw: Any, path: str, columns: list[str]) -> None:
    table = _table(raw, path)
    shown = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert shown == columns


def test_pod_lease_event_tables(raw: Any, api: Any, core: Any, ns: str) -> None:
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    pods = _table(raw, f"/api/v1/namespaces/{ns}/pods")
    assert [c["name"] for c in pods["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert pods["rows"][0]["cells"][:3] == ["p", "0/1", "Pending"]
    client.CoordinationV1Api(api).create_namespaced_lease(
        ns, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}
    )
    leases = _table(raw, f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases")
    assert leases["rows"][0]["cells"][:2] == ["l", "me"]
    core.create_namespaced_event(
        ns,
        {
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
            "reason": "Pulled",
            "message": "ok",
            "type": "Normal",
        },
    )
    events = _table(raw, f"/api/v1/namespaces/{ns}/events")
    row = events["rows"][0]["cells"]
    assert row[1:4] == ["Normal", "Pulled", "pod/p"]
