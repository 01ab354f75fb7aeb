"""Contract: ``labelSelector`` (=, ==, !=, in, notin, exists, !exists) and ``fieldSelector`` on lists.

Field selectors are limited to what each registry supports; an unsupported field label (``spec.type`` on
Services, in 1.30) is a 400 BadRequest "field label not supported".
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as kube_client

client: Any = kube_client

OBJECTS = {
    "web-a": {"app": "web", "tier": "front"},
    "web-b": {"app": "web", "tier": "back"},
    "db": {"app": "db"},
    "bare": {},
}


@pytest.fixture
def labelled(core: Any, ns: str) -> str:
    for name, labels in OBJECTS.items():
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})
    return ns


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("app=web", {"web-a", "web-b"}, id="equals"),
        pytest.param("app==web", {"web-a", "web-b"}, id="double-equals"),
        pytest.param("app!=web", {"db", "bare"}, id="not-equals-includes-objects-without-the-key"),
        pytest.param("tier in (front,back)", {"web-a", "web-b"}, id="in"),
        pytest.param("app notin (web)", {"db", "bare"}, id="notin-includes-objects-without-the-key"),
        pytest.param("tier", {"web-a", "web-b"}, id="exists"),
        pytest.param("!tier", {"db", "bare"}, id="does-not-exist"),
        pytest.param("app=web,tier=back", {"web-b"}, id="requirements-are-anded"),
        pytest.param("", {"web-a", "web-b", "db", "bare"}, id="empty-selects-everything"),
    ],
)
def test_label_selectors(core: Any, labelled: str, selector: str, expected: set[str]) -> None:
    items = core.list_namespaced_config_map(labelled, label_selector=selector).items
    assert {i.metadata.name for i in items} - {"kube-root-ca.crt"} == expected


def test_malformed_label_selector_is_400(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(400, core.list_namespaced_config_map, ns, label_selector="app in (")
    assert status["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("metadata.name=db", {"db"}, id="name-equals"),
        pytest.param("metadata.name!=db", {"web-a", "web-b", "bare"}, id="name-not-equals"),
        pytest.param("metadata.name==bare", {"bare"}, id="name-double-equals"),
    ],
)
def test_field_selector_on_metadata_name(core: Any, labelled: str, selector: str, expected: set[str]) -> None:
    items = core.list_namespaced_config_map(labelled, field_selector=selector).items
    assert {i.metadata.name for i in items} - {"kube-root-ca.crt"} == expected


def test_field_selector_on_metadata_namespace(core: Any, labelled: str) -> None:
    items = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={labelled}").items
    assert {i.metadata.namespace for i in items} == {labelled}


def test_pods_select_by_node_name(core: Any, ns: str) -> None:
    for name, node in (("p1", "node-a"), ("p2", "node-b"), ("p3", None)):
        spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
        if node:
            spec["nodeName"] = node
        core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": spec})
    on_a = core.list_namespaced_pod(ns, field_selector="spec.nodeName=node-a").items
    unscheduled = core.list_namespaced_pod(ns, field_selector="spec.nodeName=").items
    assert [p.metadata.name for p in on_a] == ["p1"]
    assert [p.metadata.name for p in unscheduled] == ["p3"]
    for name in ("p1", "p2", "p3"):
        core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


def test_events_select_by_involved_object(core: Any, ns: str) -> None:
    for name, target in (("e1", "svc-a"), ("e2", "svc-b")):
        core.create_namespaced_event(
            ns,
            {
                "metadata": {"name": name},
                "involvedObject": {"kind": "Service", "name": target, "namespace": ns, "apiVersion": "v1"},
                "reason": "Testing",
                "message": "hello",
                "type": "Normal",
                "source": {"component": "contract"},
            },
        )
    items = core.list_namespaced_event(ns, field_selector="involvedObject.name=svc-a,involvedObject.kind=Service")
    assert [e.metadata.name for e in items.items] == ["e1"]


def test_secrets_select_by_type(core: Any, ns: str) -> None:
    core.create_namespaced_secret(ns, {"metadata": {"name": "opaque"}, "stringData": {"a": "b"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "tls"}, "type": "example.com/custom"})
    items = core.list_namespaced_secret(ns, field_selector="type=example.com/custom").items
    assert [s.metadata.name for s in items] == ["tls"]


def test_unsupported_field_label_is_400(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(400, core.list_namespaced_service, ns, field_selector="spec.type=LoadBalancer")
    assert status["reason"] == "BadRequest"
    assert status["message"] == "field label not supported: spec.type"
