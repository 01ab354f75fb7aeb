"""Contract: JSON merge patch, JSON patch and strategic merge patch on built-in kinds (official client).

Strategic merge patches merge lists by their patch merge keys (Service ports by ``port``, containers by
``name``, conditions by ``type``, finalizers as a set) and honour ``$patch: delete|replace``,
``$deleteFromPrimitiveList`` and ``$setElementOrder``. Custom resources accept only merge and JSON patches.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as kube_client

client: Any = kube_client

MERGE = "application/merge-patch+json"
JSONP = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"


def _svc(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"a": "b"}, "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
    }


def test_strategic_merge_of_ports_keeps_the_others(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _svc("s"))
    out = core.patch_namespaced_service(
        "s", ns, {"spec": {"ports": [{"name": "metrics", "port": 9090}]}}, _content_type=SMP
    )
    assert [p.port for p in out.spec.ports] == [80, 443, 9090]


def test_merge_patch_replaces_lists(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _svc("m"))
    out = core.patch_namespaced_service(
        "m", ns, {"spec": {"ports": [{"name": "only", "port": 8080}]}}, _content_type=MERGE
    )
    assert [p.port for p in out.spec.ports] == [8080]


def test_strategic_patch_delete_directive_on_a_list_element(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _svc("d"))
    out = core.patch_namespaced_service(
        "d", ns, {"spec": {"ports": [{"port": 443, "$patch": "delete"}]}}, _content_type=SMP
    )
    assert [p.port for p in out.spec.ports] == [80]


def test_strategic_patch_replace_directive_on_a_list(core: Any, ns: str) -> None:
    core.create_namespaced_service(ns, _svc("r"))
    patch = {"spec": {"ports": [{"name": "new", "port": 81}, {"$patch": "replace"}]}}
    out = core.patch_namespaced_service("r", ns, patch, _content_type=SMP)
    assert [p.port for p in out.spec.ports] == [81]


def test_strategic_patch_merges_containers_by_name(apps: Any, ns: str) -> None:
    body = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                        {"name": "b", "image": "b:1"},
                    ]
                },
            },
        },
    }
    apps.create_namespaced_deployment(ns, body)
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}}
        }
    }
    out = apps.patch_namespaced_deployment("d", ns, patch)
    containers = out.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("a", "a:2"), ("b", "b:1")]
    assert [(e.name, e.value) for e in containers[0].env] == [("X", "1"), ("Y", "2")]


def test_strategic_patch_set_element_order_reorders(apps: Any, ns: str) -> None:
    body = {
        "metadata": {"name": "o"},
        "spec": {
            "selector": {"matchLabels": {"app": "o"}},
            "template": {
                "metadata": {"labels": {"app": "o"}},
                "spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]},
            },
        },
    }
    apps.create_namespaced_deployment(ns, body)
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}
    out = apps.patch_namespaced_deployment("o", ns, patch)
    assert [c.name for c in out.spec.template.spec.containers] == ["b", "a"]


def test_strategic_patch_merges_node_conditions_by_type(core: Any) -> None:
    name = "contract-patch-node"
    core.create_node({"metadata": {"name": name}})
    try:
        core.patch_node_status(
            name,
            {
                "status": {
                    "conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]
                }
            },
        )
        out = core.patch_node_status(name, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        assert {c.type: c.status for c in out.status.conditions} == {"Ready": "True", "MemoryPressure": "False"}
    finally:
        core.delete_node(name)


def test_strategic_patch_unions_finalizers(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/a"]}})
    out = core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": ["example.com/b"]}}, _content_type=SMP)
    assert out.metadata.finalizers == ["example.com/a", "example.com/b"]
    out = core.patch_namespaced_config_map(
        "f",
        ns,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/b"]}},
        _content_type=SMP,
    )
    assert not out.metadata.finalizers


def test_merge_patch_null_deletes_a_key(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "n", "labels": {"a": "1", "b": "2"}}})
    out = core.patch_namespaced_config_map("n", ns, {"metadata": {"labels": {"a": None}}}, _content_type=MERGE)
    assert out.metadata.labels == {"b": "2"}


def test_json_patch_operations(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "j"}, "data": {"a": "1"}})
    ops = [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "copy", "from": "/data/b", "path": "/data/c"},
        {"op": "move", "from": "/data/c", "path": "/data/d"},
        {"op": "remove", "path": "/data/b"},
        {"op": "add", "path": "/metadata/labels", "value": {"example.com/zone": "w"}},
    ]
    out = core.patch_namespaced_config_map("j", ns, ops, _content_type=JSONP)
    assert out.data == {"a": "10", "d": "2"}
    out = core.patch_namespaced_config_map(
        "j", ns, [{"op": "remove", "path": "/metadata/labels/example.com~1zone"}], _content_type=JSONP
    )
    assert not out.metadata.labels


def test_json_patch_failing_test_operation_is_422(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "t"}, "data": {"a": "1"}})
    status = expect_error(
        422,
        core.patch_namespaced_config_map,
        "t",
        ns,
        [{"op": "test", "path": "/data/a", "value": "2"}],
        _content_type=JSONP,
    )
    assert status["reason"] == "Invalid"


def test_json_patch_on_a_missing_path_is_422(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "mp"}})
    expect_error(
        422,
        core.patch_namespaced_config_map,
        "mp",
        ns,
        [{"op": "replace", "path": "/data/nothing", "value": "x"}],
        _content_type=JSONP,
    )


def test_patch_of_a_missing_object_is_404(core: Any, ns: str, expect_error: Any) -> None:
    expect_error(404, core.patch_namespaced_config_map, "ghost", ns, {"data": {"a": "b"}})


@pytest.mark.parametrize(
    ("content_type", "code"),
    [
        pytest.param(MERGE, 200, id="merge-patch-is-accepted"),
        pytest.param(JSONP, 200, id="json-patch-is-accepted"),
        pytest.param(SMP, 415, id="strategic-merge-is-415-for-custom-resources"),
    ],
)
def test_custom_resources_accept_merge_and_json_patches(
    custom: Any, ns: str, widget_crd: Any, content_type: str, code: int
) -> None:
    group = "contract.ironlb.dev"
    custom.create_namespaced_custom_object(
        group,
        "v1",
        ns,
        "widgets",
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}},
    )
    body: Any = {"spec": {"size": 5}}
    if content_type == JSONP:
        body = [{"op": "replace", "path": "/spec/size", "value": 5}]
    if code == 200:
        out = custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", body, _content_type=content_type)
        assert out["spec"]["size"] == 5
        return
    with pytest.raises(client.ApiException) as info:
        custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", body, _content_type=content_type)
    assert info.value.status == code
    assert "UnsupportedMediaType" in info.value.body
