"""Contract: create/read/update/delete, resourceVersion semantics, lists and pagination (official client).

Covers what informers and controllers rely on: server-set metadata, 404/409 Status bodies, the cluster-wide
monotonic resourceVersion, 409 on a stale one, no new revision for a no-op update, list resourceVersions and
``limit``/``continue``. Runs against the emulator or a real cluster (see conftest.py).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as kube_client

client: Any = kube_client


def _cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {}}


def test_create_sets_server_metadata_and_get_returns_it(core: Any, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, _cm("a", {"k": "v"}))
    m = created.metadata
    assert m.uid and m.creation_timestamp and m.resource_version
    assert m.namespace == ns
    assert m.generation is None  # ConfigMaps have no generation
    got = core.read_namespaced_config_map("a", ns)
    assert got.metadata.uid == m.uid
    assert got.metadata.resource_version == m.resource_version
    assert got.data == {"k": "v"}


def test_generate_name_appends_five_characters(core: Any, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    name = created.metadata.name
    assert name.startswith("gen-") and len(name) == len("gen-") + 5


def test_get_missing_is_404_not_found_status(core: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(404, core.read_namespaced_config_map, "nope", ns)
    assert status["reason"] == "NotFound"
    assert status["message"] == 'configmaps "nope" not found'
    assert status["details"] == {"name": "nope", "kind": "configmaps"}


def test_not_found_names_the_group_for_grouped_resources(apps: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(404, apps.read_namespaced_deployment, "nope", ns)
    assert status["message"] == 'deployments.apps "nope" not found'
    assert status["details"]["group"] == "apps"


def test_create_twice_is_409_already_exists(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, _cm("dup"))
    status = expect_error(409, core.create_namespaced_config_map, ns, _cm("dup"))
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "dup" already exists'


def test_create_in_missing_namespace_is_404(core: Any, expect_error: Any) -> None:
    status = expect_error(404, core.create_namespaced_config_map, "no-such-ns-xyz", _cm("a"))
    assert status["message"] == 'namespaces "no-such-ns-xyz" not found'


def test_update_with_stale_resource_version_is_409_conflict(core: Any, ns: str, expect_error: Any) -> None:
    first = core.create_namespaced_config_map(ns, _cm("c", {"n": "1"}))
    body = first.to_dict(serialize=True)
    body["data"] = {"n": "2"}
    core.replace_namespaced_config_map("c", ns, body)
    body["data"] = {"n": "3"}  # still carries the first resourceVersion
    status = expect_error(409, core.replace_namespaced_config_map, "c", ns, body)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert core.read_namespaced_config_map("c", ns).data == {"n": "2"}


def test_patch_carrying_a_stale_resource_version_is_409(core: Any, ns: str, expect_error: Any) -> None:
    first = core.create_namespaced_config_map(ns, _cm("p"))
    core.patch_namespaced_config_map("p", ns, {"data": {"x": "1"}})
    stale = {"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"x": "2"}}
    expect_error(409, core.patch_namespaced_config_map, "p", ns, stale)


def test_resource_versions_increase_across_kinds(core: Any, ns: str) -> None:
    a = int(core.create_namespaced_config_map(ns, _cm("rv1")).metadata.resource_version)
    b = int(core.create_namespaced_secret(ns, {"metadata": {"name": "rv2"}}).metadata.resource_version)
    c = int(core.patch_namespaced_config_map("rv1", ns, {"data": {"a": "b"}}).metadata.resource_version)
    assert a < b < c


def test_no_op_update_keeps_the_resource_version(core: Any, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, _cm("same", {"k": "v"}))
    again = core.replace_namespaced_config_map("same", ns, created.to_dict(serialize=True))
    assert again.metadata.resource_version == created.metadata.resource_version
    patched = core.patch_namespaced_config_map("same", ns, {"data": {"k": "v"}})
    assert patched.metadata.resource_version == created.metadata.resource_version


def test_identity_fields_cannot_be_changed_by_an_update(core: Any, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, _cm("ident"))
    body = created.to_dict(serialize=True)
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    body["data"] = {"changed": "yes"}
    updated = core.replace_namespaced_config_map("ident", ns, body)
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert updated.metadata.uid == created.metadata.uid


def test_list_carries_a_collection_resource_version(core: Any, ns: str) -> None:
    for i in range(3):
        core.create_namespaced_config_map(ns, _cm(f"l{i}"))
    listed = core.list_namespaced_config_map(ns)
    names = [i.metadata.name for i in listed.items]
    assert names == sorted(names) and {"l0", "l1", "l2"} <= set(names)
    newest = max(int(i.metadata.resource_version) for i in listed.items)
    assert int(listed.metadata.resource_version) >= newest


def test_list_with_resource_version_zero_returns_everything(core: Any, ns: str) -> None:
    for i in range(4):
        core.create_namespaced_config_map(ns, _cm(f"z{i}"))
    listed = core.list_namespaced_config_map(ns, resource_version="0")
    assert {"z0", "z1", "z2", "z3"} <= {i.metadata.name for i in listed.items}


def test_pagination_with_limit_and_continue_sees_every_object_once(core: Any, ns: str) -> None:
    for i in range(7):
        core.create_namespaced_config_map(ns, _cm(f"page{i}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items if i.metadata.name.startswith("page")]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count is not None
        # Objects created after the first page do not show up in later pages: pages read one snapshot.
        if pages == 1:
            core.create_namespaced_config_map(ns, _cm("page-late"))
    assert seen == [f"page{i}" for i in range(7)]
    assert pages == 3


def test_delete_without_finalizers_removes_at_once(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, _cm("gone"))
    core.delete_namespaced_config_map("gone", ns)
    expect_error(404, core.read_namespaced_config_map, "gone", ns)
    expect_error(404, core.delete_namespaced_config_map, "gone", ns)


def test_delete_with_uid_precondition_mismatch_is_409(core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_config_map(ns, _cm("pre"))
    body = {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}
    status = expect_error(409, core.delete_namespaced_config_map, "pre", ns, body=body)
    assert "Precondition failed: UID in precondition" in status["message"]


def test_delete_collection_with_a_label_selector(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, _cm("dc1", labels={"sweep": "yes"}))
    core.create_namespaced_config_map(ns, _cm("dc2", labels={"sweep": "yes"}))
    core.create_namespaced_config_map(ns, _cm("dc3", labels={"sweep": "no"}))
    core.delete_collection_namespaced_config_map(ns, label_selector="sweep=yes")
    left = {i.metadata.name for i in core.list_namespaced_config_map(ns).items}
    assert "dc3" in left and not {"dc1", "dc2"} & left


def test_namespace_deletion_removes_its_objects(core: Any, expect_error: Any) -> None:
    import time

    core.create_namespace({"metadata": {"name": "contract-doomed"}})
    core.create_namespaced_config_map("contract-doomed", _cm("inside"))
    core.delete_namespace("contract-doomed")
    for _ in range(300):
        try:
            ns = core.read_namespace("contract-doomed")
        except client.ApiException as exc:
            assert exc.status == 404
            break
        assert ns.status.phase == "Terminating"
        time.sleep(0.1)
    else:
        raise AssertionError("namespace never went away")
    expect_error(404, core.read_namespaced_config_map, "inside", "contract-doomed")


def test_default_namespaces_and_service_exist(core: Any) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.ports[0].port == 443


def test_deleting_the_default_namespace_is_forbidden(core: Any, expect_error: Any) -> None:
    status = expect_error(403, core.delete_namespace, "default")
    assert status["message"] == 'namespaces "default" is forbidden: this namespace may not be deleted'


def test_dry_run_validates_without_storing(core: Any, ns: str, expect_error: Any) -> None:
    out = core.create_namespaced_config_map(ns, _cm("dry", {"k": "v"}), dry_run="All")
    assert out.metadata.name == "dry" and out.metadata.uid
    expect_error(404, core.read_namespaced_config_map, "dry", ns)
    expect_error(422, core.create_namespaced_config_map, ns, _cm("Not_Valid"), dry_run="All")


def test_list_at_an_exact_past_resource_version(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, _cm("then"))
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("now"))
    core.delete_namespaced_config_map("then", ns)
    past = core.list_namespaced_config_map(ns, resource_version=rv, resource_version_match="Exact")
    assert past.metadata.resource_version == rv
    names = {i.metadata.name for i in past.items}
    assert "then" in names and "now" not in names


def test_an_endpointslice_without_endpoints_is_accepted(target: Any, ns: str) -> None:
    """The EndpointSlice controller writes placeholder slices with ``endpoints: []`` for Services without pods."""
    api = client.DiscoveryV1Api(target.api_client())
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "empty"},
        "addressType": "IPv4",
        "endpoints": [],
    }
    created = api.create_namespaced_endpoint_slice(ns, body)
    assert not created.endpoints
