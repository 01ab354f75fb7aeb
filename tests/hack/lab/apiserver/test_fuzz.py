"""Fuzzing the emulator over HTTP: junk methods, paths, queries, media types and bodies.

Invariants: every answer is an HTTP response - 2xx, or a ``Status`` object (a plain "404 page not found" for
unknown groups) - never a 5xx from a bug; the server keeps answering; and objects outside the fuzzed namespace
are untouched, while every stored object stays well-formed. Emulator only.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.lab.apiserver import ApiServerThread

KEEP_NS = "keep"
SEGMENTS = [
    "api",
    "apis",
    "v1",
    "apps",
    "namespaces",
    "fuzz",
    "configmaps",
    "services",
    "pods",
    "nodes",
    "status",
    "finalize",
    "x",
    "deployments",
    "leases",
    "coordination.k8s.io",
    "events",
    "serviceaccounts",
    "token",
    "customresourcedefinitions",
    "apiextensions.k8s.io",
    "endpointslices",
    "discovery.k8s.io",
    "watch",
    "openapi",
    "v3",
    "version",
    "..",
    "%2F",
    "",
]
CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
    "",
    "application/json; charset=utf-8",
]
QUERY_KEYS = [
    "resourceVersion",
    "limit",
    "continue",
    "labelSelector",
    "fieldSelector",
    "dryRun",
    "fieldValidation",
    "propagationPolicy",
    "gracePeriodSeconds",
    "resourceVersionMatch",
    "fieldManager",
    "force",
    "includeObject",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
VALID = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fz", "labels": {"a": "b"}}, "data": {"k": "v"}},
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "fz", "labels": {"a": "b"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "data": {},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fz", "labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "data": {},
    },
    {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "fz", "labels": {"a": "b"}},
        "spec": {"holderIdentity": "me"},
        "data": {},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fz", "labels": {"a": "b"}},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "data": {},
    },
]


@st.composite
def mutated_object(draw: st.DrawFn) -> Any:
    obj: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    if draw(st.booleans()):
        return obj
    where = draw(st.sampled_from(["root", "metadata", "data", "labels"]))
    key = draw(
        st.sampled_from(
            [
                "apiVersion",
                "kind",
                "name",
                "namespace",
                "resourceVersion",
                "uid",
                "finalizers",
                "generateName",
                "spec",
                "status",
                "k",
                "deletionTimestamp",
            ]
        )
        | st.text(max_size=8)
    )
    value = draw(json_values)
    target = {"root": obj, "metadata": obj["metadata"], "data": obj["data"], "labels": obj["metadata"]["labels"]}[where]
    target[key] = value
    return obj


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_object().map(lambda v: json.dumps(v).encode()),
    mutated_object().map(lambda v: json.dumps(v).encode()),
    st.just(b""),
)
paths = st.lists(
    st.sampled_from(SEGMENTS) | st.text(alphabet=string.ascii_lowercase + "-.", max_size=8), min_size=1, max_size=7
).map(lambda parts: "/" + "/".join(parts))
COLLECTIONS = [
    "/api/v1/namespaces/fuzz/configmaps",
    "/api/v1/namespaces/fuzz/services",
    "/api/v1/namespaces/fuzz/pods",
    "/api/v1/namespaces/fuzz/events",
    "/api/v1/namespaces/fuzz/secrets",
    "/api/v1/nodes",
    "/apis/apps/v1/namespaces/fuzz/deployments",
    "/apis/coordination.k8s.io/v1/namespaces/fuzz/leases",
    "/apis/discovery.k8s.io/v1/namespaces/fuzz/endpointslices",
    "/apis/events.k8s.io/v1/namespaces/fuzz/events",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/api/v1/namespaces/fuzz/serviceaccounts",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/fuzz/rolebindings",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
]
plausible = st.tuples(
    st.sampled_from(COLLECTIONS), st.sampled_from(["", "/fz", "/fz/status", "/fz/token", "/x/y/z"])
).map(lambda t: t[0] + t[1])
paths = st.one_of(paths, plausible, plausible)
queries = st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=12), max_size=3)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[ApiServerThread, urllib3.PoolManager, dict[str, Any]]]:
    with ApiServerThread() as api:
        pool = urllib3.PoolManager()
        headers = {"Authorization": f"Bearer {api.admin_token}", "Content-Type": "application/json"}

        def call(method: str, path: str, body: Any = None) -> Any:
            data = json.dumps(body).encode() if body is not None else None
            resp = pool.request(method, api.url + path, body=data, headers=headers, retries=False)
            return json.loads(resp.data)

        for ns in (KEEP_NS, "fuzz"):
            call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        kept = {}
        for i in range(3):
            obj = call(
                "POST",
                f"/api/v1/namespaces/{KEEP_NS}/configmaps",
                {"metadata": {"name": f"precious-{i}", "finalizers": ["example.com/x"]}, "data": {"i": str(i)}},
            )
            kept[obj["metadata"]["name"]] = obj
        svc = call(
            "POST",
            f"/api/v1/namespaces/{KEEP_NS}/services",
            {"metadata": {"name": "precious"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        )
        kept["svc"] = svc
        yield api, pool, kept
        pool.clear()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    path=paths,
    query=queries,
    content_type=st.sampled_from(CONTENT_TYPES),
    body=bodies,
)
def test_junk_requests_get_status_answers(
    fuzz_server: Any, method: str, *, path: str, query: dict[str, str], content_type: str, body: bytes
) -> None:
    api, pool, _ = fuzz_server
    if KEEP_NS in path:
        return
    query = {k: v for k, v in query.items() if k != "watch"}
    if "watch" in path.split("/"):
        query["timeoutSeconds"] = "1"
    headers = {"Authorization": f"Bearer {api.admin_token}"}
    if content_type:
        headers["Content-Type"] = content_type
    url = api.url + path + ("?" + urlencode(query) if query else "")
    payload = body if method not in ("GET", "HEAD") else None
    try:
        resp = pool.request(method, url, body=payload, headers=headers, retries=False, timeout=10.0)
    except urllib3.exceptions.ProtocolError:
        # A keep-alive connection the server had closed (after an unread body): one retry on a fresh one.
        resp = urllib3.PoolManager().request(method, url, body=payload, headers=headers, retries=False, timeout=10.0)
    text = resp.data.decode("utf-8", "replace")
    if resp.status >= 500:
        assert "resourceVersion should not be set on objects to be created" in text, (method, path, text)
    if resp.status >= 400 and method != "HEAD" and text.strip() != "404 page not found":
        status = json.loads(text)
        assert status["kind"] == "Status" and status["code"] == resp.status, text


def test_store_is_intact_after_fuzzing(fuzz_server: Any) -> None:
    api, pool, kept = fuzz_server
    headers = {"Authorization": f"Bearer {api.admin_token}"}
    assert pool.request("GET", api.url + "/version", headers=headers).status == 200
    for name, before in kept.items():
        path = "services/precious" if name == "svc" else f"configmaps/{name}"
        resp = pool.request("GET", f"{api.url}/api/v1/namespaces/{KEEP_NS}/{path}", headers=headers)
        assert resp.status == 200
        assert json.loads(resp.data) == before

    def check(cluster: Any) -> int:
        count = 0
        for storage in cluster.store.storages():
            for obj in cluster.store.list_objects(storage):
                m = obj["metadata"]
                assert m["name"] and m["uid"] and int(m["resourceVersion"]) <= cluster.store.rv
                json.dumps(obj)
                count += 1
        return count

    assert api.run(check, api._server.cluster) > 0
