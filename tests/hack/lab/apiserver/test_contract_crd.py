"""Contract: CRDs and the custom resources they define.

Registration makes the kind appear in discovery and be served in every served version (objects stored once, in
the storage version; conversion ``None`` rewrites ``apiVersion``). The openAPIV3Schema prunes unknown fields,
applies defaults and validates (types, required, enum, pattern, min/max, formats, list-type sets and
``x-kubernetes-validations`` rules). Deleting the CRD deletes its objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as kube_client

client: Any = kube_client

GROUP = "contract.ironlb.dev"


def _widget(obj_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": obj_name}, "spec": spec}


def _create(custom: Any, ns: str, body: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    out: dict[str, Any] = custom.create_namespaced_custom_object(GROUP, version, ns, "widgets", body)
    return out


def test_crd_gets_established_and_served_in_discovery(api: Any, raw: Any, widget_crd: Any) -> None:
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(f"widgets.{GROUP}")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    assert crd.status.stored_versions == ["v1"]
    status, listed, _ = raw("GET", f"/apis/{GROUP}/v1")
    assert status == 200
    names = {r["name"]: r for r in listed["resources"]}
    assert names["widgets"]["kind"] == "Widget" and names["widgets"]["shortNames"] == ["wdg"]
    assert "widgets/status" in names
    status, group, _ = raw("GET", f"/apis/{GROUP}")
    assert group["preferredVersion"]["version"] == "v1"


def test_defaults_are_applied_and_unknown_fields_pruned(custom: Any, ns: str, widget_crd: Any) -> None:
    body = _widget("d", size=3, unknownField="dropped", extra={"anything": {"goes": [1, 2]}})
    body["topLevelJunk"] = True
    out = _create(custom, ns, body)
    assert out["spec"] == {"size": 3, "color": "red", "extra": {"anything": {"goes": [1, 2]}}}
    assert "topLevelJunk" not in out


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        pytest.param({}, "spec.size", "Required value", id="required"),
        pytest.param({"size": "big"}, "spec.size", "must be of type integer", id="wrong-type"),
        pytest.param({"size": 0}, "spec.size", "should be greater than or equal to 1", id="minimum"),
        pytest.param({"size": 101}, "spec.size", "should be less than or equal to 100", id="maximum"),
        pytest.param({"size": 1, "color": "pink"}, "spec.color", 'Unsupported value: "pink"', id="enum"),
        pytest.param({"size": 1, "name": "ABC"}, "spec.name", "should match '^[a-z]+$'", id="pattern"),
        pytest.param({"size": 1, "name": "abcdefghijkl"}, "spec.name", "Too long", id="max-length"),
        pytest.param({"size": 1, "address": "300.1.1.1"}, "spec.address", "must be of type ipv4", id="format-ipv4"),
        pytest.param({"size": 1, "tags": ["a", "a"]}, "spec.tags[1]", "Duplicate value", id="list-type-set"),
        pytest.param({"size": 5, "maxSize": 3}, "spec", "size must not exceed maxSize", id="cel-rule-on-object"),
        pytest.param(
            {"size": 1, "timeout": "500ms"}, "spec.timeout", "timeout must be at least 1s", id="cel-rule-with-duration"
        ),
    ],
)
def test_schema_validation_errors_are_422(
    custom: Any,
    ns: str,
    *,
    widget_crd: Any,
    expect_error: Any,
    spec: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    body = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": spec}
    status = expect_error(422, _create, custom, ns, body)
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Widget" and status["details"]["group"] == GROUP
    assert field in {c["field"] for c in status["details"]["causes"]}, status
    assert fragment in status["message"]


def test_transition_rule_compares_with_the_old_object(custom: Any, ns: str, widget_crd: Any, expect_error: Any) -> None:
    _create(custom, ns, _widget("t", size=1, immutable="first"))
    custom.patch_namespaced_custom_object(GROUP, "v1", ns, "widgets", "t", {"spec": {"size": 2}})
    status = expect_error(
        422, custom.patch_namespaced_custom_object, GROUP, "v1", ns, "widgets", "t", {"spec": {"immutable": "second"}}
    )
    assert "immutable cannot change" in status["message"]


def test_updates_need_a_resource_version(custom: Any, ns: str, widget_crd: Any, expect_error: Any) -> None:
    created = _create(custom, ns, _widget("rv", size=1))
    body = dict(created)
    body["metadata"] = {"name": "rv"}
    status = expect_error(422, custom.replace_namespaced_custom_object, GROUP, "v1", ns, "widgets", "rv", body)
    assert "metadata.resourceVersion" in status["message"]


def test_objects_are_served_in_every_served_version(custom: Any, ns: str, widget_crd: Any) -> None:
    _create(custom, ns, _widget("mv", size=4))
    via_beta = custom.get_namespaced_custom_object(GROUP, "v1beta1", ns, "widgets", "mv")
    assert via_beta["apiVersion"] == f"{GROUP}/v1beta1" and via_beta["spec"]["size"] == 4
    listed = custom.list_namespaced_custom_object(GROUP, "v1beta1", ns, "widgets")
    assert [i["apiVersion"] for i in listed["items"]] == [f"{GROUP}/v1beta1"]
    body = {"apiVersion": f"{GROUP}/v1beta1", "kind": "Widget", "metadata": {"name": "from-beta"}, "spec": {"size": 9}}
    custom.create_namespaced_custom_object(GROUP, "v1beta1", ns, "widgets", body)
    assert custom.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "from-beta")["apiVersion"] == f"{GROUP}/v1"


def test_printer_columns_in_tables(raw: Any, custom: Any, ns: str, widget_crd: Any) -> None:
    _create(custom, ns, _widget("tbl", size=7, color="blue"))
    custom.patch_namespaced_custom_object_status(GROUP, "v1", ns, "widgets", "tbl", {"status": {"phase": "Ready"}})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table, _ = raw("GET", f"/apis/{GROUP}/v1/namespaces/{ns}/widgets", None, {"Accept": accept})
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Color", "Phase", "Age"]
    assert table["columnDefinitions"][1]["type"] == "integer"
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["tbl", 7, "blue", "Ready"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_deleting_the_crd_deletes_its_objects(api: Any, target: Any) -> None:
    import copy
    import time

    ext = client.ApiextensionsV1Api(api)
    crd: dict[str, Any] = copy.deepcopy(_GADGET_CRD)
    ext.create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api)
    if not target.is_emulator:
        time.sleep(3)
    custom.create_cluster_custom_object(
        GROUP, "v1", "gadgets", {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "g1"}}
    )
    ext.delete_custom_resource_definition(crd["metadata"]["name"])
    for _ in range(300):
        try:
            ext.read_custom_resource_definition(crd["metadata"]["name"])
        except client.ApiException as exc:
            assert exc.status == 404
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the CRD was never removed")
    with pytest.raises(client.ApiException) as info:
        custom.list_cluster_custom_object(GROUP, "v1", "gadgets")
    assert info.value.status == 404


_GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
        "scope": "Cluster",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def test_invalid_crd_is_refused(api: Any, expect_error: Any) -> None:
    import copy

    crd: dict[str, Any] = copy.deepcopy(_GADGET_CRD)
    crd["metadata"]["name"] = "wrong.name.example.com"
    status = expect_error(422, client.ApiextensionsV1Api(api).create_custom_resource_definition, crd)
    assert 'must be spec.names.plural+"."+spec.group' in status["message"]
