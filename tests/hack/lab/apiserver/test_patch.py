"""The three patch algorithms, directly: RFC 7386 and RFC 6902 examples, strategic merge directives, fuzzing.

Only :class:`PatchError` may escape, whatever the patch.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hack.lab.apiserver.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from hack.lab.apiserver.schemas import SchemaNode

SERVICE = SchemaNode.for_definition("io.k8s.api.core.v1.Service")
POD = SchemaNode.for_definition("io.k8s.api.core.v1.Pod")


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A
        pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace-a-value"),
        pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add-a-member"),
        pytest.param({"a": "b"}, {"a": None}, {}, id="null-removes"),
        pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="null-removes-only-that-member"),
        pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="array-replaced-by-scalar"),
        pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="scalar-replaced-by-array"),
        pytest.param({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nested-merge"),
        pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="arrays-are-replaced-whole"),
        pytest.param(["a", "b"], ["c", "d"], ["c", "d"], id="array-target-replaced"),
        pytest.param({"a": "b"}, ["c"], ["c"], id="array-patch-replaces-object"),
        pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
        pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="nulls-in-new-members-vanish"),
    ],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [  # RFC 6902 appendix A
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"foo": "bar", "baz": "qux"},
            id="add-member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="add-array-element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}, id="remove-member"
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="remove-array-element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="replace",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="move",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="move-array-element",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="add-nested-object",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="append-with-dash",
        ),
        pytest.param(
            {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}, id="escaped-pointer"
        ),
    ],
)
def test_json_patch_rfc6902(doc: Any, ops: list[Any], expected: Any) -> None:
    assert json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    ("doc", "ops"),
    [
        pytest.param({"foo": "bar"}, [{"op": "test", "path": "/foo", "value": "baz"}], id="failed-test"),
        pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], id="missing-parent"),
        pytest.param({"foo": "bar"}, [{"op": "remove", "path": "/nope"}], id="remove-missing"),
        pytest.param({"foo": [1]}, [{"op": "add", "path": "/foo/5", "value": 2}], id="index-out-of-range"),
        pytest.param({"foo": "bar"}, [{"op": "frobnicate", "path": "/foo"}], id="unknown-op"),
        pytest.param({"foo": "bar"}, [{"op": "add", "path": "/x"}], id="add-without-value"),
        pytest.param({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], id="move-into-child"),
    ],
)
def test_json_patch_that_does_not_apply_is_a_422_error(doc: Any, ops: list[Any]) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(doc, ops)
    assert info.value.code == 422


def test_json_patch_must_be_a_list() -> None:
    with pytest.raises(PatchError) as info:
        json_patch({}, {"op": "add"})
    assert info.value.code == 400


SVC = {
    "spec": {
        "ports": [{"name": "a", "port": 80, "protocol": "TCP"}, {"name": "b", "port": 443}],
        "selector": {"x": "1"},
    },
    "metadata": {"finalizers": ["f1"]},
}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        pytest.param(
            {"spec": {"ports": [{"port": 80, "name": "renamed"}]}},
            lambda o: [p["name"] for p in o["spec"]["ports"]] == ["renamed", "b"],
            id="ports-merge-by-port",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 8080}]}}, lambda o: len(o["spec"]["ports"]) == 3, id="new-port-appended"
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 443, "$patch": "delete"}]}},
            lambda o: [p["port"] for p in o["spec"]["ports"]] == [80],
            id="delete-directive",
        ),
        pytest.param(
            {"spec": {"ports": [{"$patch": "replace"}, {"port": 1}]}},
            lambda o: o["spec"]["ports"] == [{"port": 1}],
            id="replace-directive-on-list",
        ),
        pytest.param(
            {"spec": {"selector": {"$patch": "replace", "y": "2"}}},
            lambda o: o["spec"]["selector"] == {"y": "2"},
            id="replace-directive-on-map",
        ),
        pytest.param(
            {"spec": {"selector": {"$patch": "delete"}}},
            lambda o: "selector" not in o["spec"],
            id="delete-directive-on-map",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["f2", "f1"]}},
            lambda o: o["metadata"]["finalizers"] == ["f1", "f2"],
            id="finalizers-are-a-set",
        ),
        pytest.param(
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}},
            lambda o: o["metadata"]["finalizers"] == [],
            id="delete-from-primitive-list",
        ),
        pytest.param(
            {"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 80}]}},
            lambda o: [p["port"] for p in o["spec"]["ports"]] == [443, 80],
            id="set-element-order",
        ),
        pytest.param({"spec": {"selector": None}}, lambda o: "selector" not in o["spec"], id="null-deletes"),
    ],
)
def test_strategic_merge_on_a_service(patch: Any, check: Any) -> None:
    before = copy.deepcopy(SVC)
    out = strategic_merge_patch(SVC, patch, SERVICE)
    assert check(out), out
    assert before == SVC


def test_strategic_merge_containers_and_env_by_name() -> None:
    pod = {
        "spec": {
            "containers": [
                {"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "1"},
            ]
        }
    }
    patch = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]}]}}
    out = strategic_merge_patch(pod, patch, POD)
    assert out["spec"]["containers"][0]["env"] == [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]
    assert out["spec"]["containers"][1] == {"name": "b", "image": "1"}


def test_strategic_merge_element_without_merge_key_is_an_error() -> None:
    with pytest.raises(PatchError):
        strategic_merge_patch(SVC, {"spec": {"ports": [{"name": "no-port"}]}}, SERVICE)


def test_strategic_merge_retain_keys() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(doc, patch, SchemaNode.for_definition("io.k8s.api.apps.v1.Deployment"))
    assert out["spec"]["strategy"] == {"type": "Recreate"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=15,
)


@given(target=json_values, patch=json_values)
def test_merge_patch_never_raises_and_is_idempotent(target: Any, patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(
    doc=json_values,
    ops=st.lists(
        st.dictionaries(
            st.sampled_from(["op", "path", "from", "value"]),
            json_values | st.sampled_from(["add", "remove", "/a", "/0", ""]),
            max_size=4,
        ),
        max_size=4,
    ),
)
def test_json_patch_only_raises_patch_error(doc: Any, ops: list[Any]) -> None:
    with contextlib.suppress(PatchError):
        json_patch(doc, ops)


@given(patch=st.dictionaries(st.sampled_from(["spec", "metadata", "status", "$patch", "x"]), json_values, max_size=4))
def test_strategic_merge_only_raises_patch_error(patch: Any) -> None:
    with contextlib.suppress(PatchError):
        strategic_merge_patch(SVC, patch, SERVICE)
