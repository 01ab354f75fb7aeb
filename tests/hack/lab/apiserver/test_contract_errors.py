"""Contract: bad requests get the Status the real server returns (reason and code), over plain HTTP.

Malformed JSON, a body of another kind or apiVersion, unknown fields under strict validation, wrong JSON types,
oversized bodies, unknown paths and resources, unsupported verbs and media types, and invalid names or labels.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

JSON_HDR = {"Content-Type": "application/json"}


def _path(ns: str, resource: str = "configmaps") -> str:
    return f"/api/v1/namespaces/{ns}/{resource}"


@pytest.mark.parametrize(
    ("body", "code", "reason", "fragment"),
    [
        pytest.param(
            "{not json",
            400,
            "BadRequest",
            "the object provided is unrecognized (must be of type ConfigMap)",
            id="malformed-json",
        ),
        pytest.param("[1,2]", 400, "BadRequest", "must be of type ConfigMap", id="json-array-body"),
        pytest.param(
            '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}',
            400,
            "BadRequest",
            'Pod in version "v1" cannot be handled as a ConfigMap',
            id="another-kind",
        ),
        pytest.param(
            '{"apiVersion":"v1","kind":"Foo","metadata":{"name":"x"}}',
            400,
            "BadRequest",
            'no kind "Foo" is registered for version "v1"',
            id="unknown-kind",
        ),
        pytest.param(
            '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}',
            400,
            "BadRequest",
            'no kind "ConfigMap" is registered for version "apps/v1"',
            id="wrong-api-version",
        ),
        pytest.param(
            '{"metadata":{"name":"x"},"data":{"a":1}}',
            400,
            "BadRequest",
            "cannot be handled as a ConfigMap: json: cannot unmarshal number",
            id="wrong-json-type",
        ),
        pytest.param(
            '{"metadata":{"name":"Bad_Name"}}', 422, "Invalid", "metadata.name: Invalid value", id="invalid-name"
        ),
        pytest.param(
            '{"metadata":{"name":"x","labels":{"a":"not valid!"}}}',
            422,
            "Invalid",
            "metadata.labels: Invalid value",
            id="invalid-label-value",
        ),
        pytest.param(
            '{"metadata":{"name":"x","labels":{"bad key":"v"}}}',
            422,
            "Invalid",
            "metadata.labels: Invalid value",
            id="invalid-label-key",
        ),
        pytest.param(
            '{"metadata":{}}',
            422,
            "Invalid",
            "metadata.name: Required value: name or generateName is required",
            id="missing-name",
        ),
    ],
)
def test_bad_create_bodies(raw: Any, ns: str, *, body: str, code: int, reason: str, fragment: str) -> None:
    status, parsed, _ = raw("POST", _path(ns), body, JSON_HDR)
    assert status == code, parsed
    assert parsed["kind"] == "Status" and parsed["reason"] == reason and parsed["code"] == code
    assert fragment in parsed["message"]


def test_unknown_fields_warn_by_default_and_fail_when_strict(raw: Any, ns: str) -> None:
    body = json.dumps({"metadata": {"name": "uf"}, "data": {}, "bogus": 1, "metadata2": {}})
    status, parsed, headers = raw("POST", _path(ns), body, JSON_HDR)
    assert status == 201
    assert "bogus" not in parsed
    assert 'unknown field \\"bogus\\"' in headers.get("Warning", "")
    body = json.dumps({"metadata": {"name": "uf2"}, "bogus": 1})
    status, parsed, _ = raw("POST", _path(ns) + "?fieldValidation=Strict", body, JSON_HDR)
    assert status == 400 and parsed["reason"] == "BadRequest"
    assert 'strict decoding error: unknown field "bogus"' in parsed["message"]


def test_oversized_body_is_413(raw: Any, ns: str) -> None:
    big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}})
    status, parsed, _ = raw("POST", _path(ns), big, JSON_HDR)
    assert status == 413
    assert parsed["reason"] == "RequestEntityTooLarge"


def test_unsupported_body_media_type_is_415(raw: Any, ns: str) -> None:
    status, parsed, _ = raw("POST", _path(ns), '{"metadata":{"name":"x"}}', {"Content-Type": "text/plain"})
    assert status == 415 and parsed["reason"] == "UnsupportedMediaType"


def test_unsupported_patch_media_type_is_415(raw: Any, ns: str) -> None:
    raw("POST", _path(ns), '{"metadata":{"name":"pt"}}', JSON_HDR)
    status, parsed, _ = raw("PATCH", _path(ns) + "/pt", '{"data":{}}', {"Content-Type": "application/json"})
    assert status == 415 and parsed["reason"] == "UnsupportedMediaType"


def test_unacceptable_accept_header_is_406(raw: Any, ns: str) -> None:
    status, parsed, _ = raw("GET", _path(ns), None, {"Accept": "image/png"})
    assert status == 406 and parsed["reason"] == "NotAcceptable"


def test_unknown_resource_under_a_known_group_is_404_status(raw: Any) -> None:
    status, parsed, _ = raw("GET", "/api/v1/frobnicators")
    assert status == 404
    assert parsed["reason"] == "NotFound"
    assert parsed["message"] == "the server could not find the requested resource"


def test_unknown_group_is_a_plain_404(raw: Any) -> None:
    status, parsed, _ = raw("GET", "/apis/nonexistent.example.com/v1/things")
    assert status == 404
    assert "404 page not found" in str(parsed)


def test_post_to_a_named_object_is_405(raw: Any, ns: str) -> None:
    status, parsed, _ = raw("POST", _path(ns) + "/x", '{"metadata":{"name":"x"}}', JSON_HDR)
    assert status == 405 and parsed["reason"] == "MethodNotAllowed"


def test_name_mismatch_between_body_and_url_is_400(raw: Any, ns: str) -> None:
    raw("POST", _path(ns), '{"metadata":{"name":"real"}}', JSON_HDR)
    status, parsed, _ = raw("PUT", _path(ns) + "/real", '{"metadata":{"name":"other"}}', JSON_HDR)
    assert status == 400
    assert parsed["message"] == "the name of the object (other) does not match the name on the URL (real)"


def test_namespace_mismatch_between_body_and_url_is_400(raw: Any, ns: str) -> None:
    status, parsed, _ = raw("POST", _path(ns), '{"metadata":{"name":"x","namespace":"elsewhere"}}', JSON_HDR)
    assert status == 400
    assert parsed["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_invalid_token_is_401(raw: Any) -> None:
    status, parsed, _ = raw("GET", "/api/v1/namespaces", None, {"Authorization": "Bearer not-a-token"})
    assert status == 401
    assert parsed == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_yaml_bodies_and_yaml_responses(raw: Any, ns: str) -> None:
    body = "metadata:\n  name: from-yaml\ndata:\n  k: v\n"
    status, parsed, _ = raw("POST", _path(ns), body, {"Content-Type": "application/yaml"})
    assert status == 201 and parsed["data"] == {"k": "v"}
    status, text, headers = raw("GET", _path(ns) + "/from-yaml", None, {"Accept": "application/yaml"})
    assert status == 200 and headers["Content-Type"].startswith("application/yaml")
    assert "name: from-yaml" in text


def test_version_and_discovery_documents(raw: Any) -> None:
    status, version, _ = raw("GET", "/version")
    assert status == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    status, groups, _ = raw("GET", "/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {
        "apps",
        "discovery.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "apiextensions.k8s.io",
        "rbac.authorization.k8s.io",
    } <= names
    status, core, _ = raw("GET", "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["services"]["shortNames"] == ["svc"] and by_name["services"]["namespaced"] is True
    assert by_name["services/status"]["verbs"] == ["get", "patch", "update"]
    assert "watch" in by_name["pods"]["verbs"]
