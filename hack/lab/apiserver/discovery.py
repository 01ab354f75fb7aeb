"""Discovery and OpenAPI: what kubectl reads before it does anything.

The installed kubectl is a dispatcher that asks ``/version`` first and then runs the matching kubectl (1.30
here), which reads ``/api`` and ``/apis`` (legacy discovery: we answer aggregated-discovery requests with the
plain ``APIGroupList``, and clients fall back on the content type), then ``/api/v1`` and ``/apis/<g>/<v>`` for
resources, verbs, short names and categories. ``kubectl apply`` and ``create`` validate with
``fieldValidation=Strict`` when the OpenAPI v3 document of the group/version advertises that parameter on the
kind's PATCH operation, so ``/openapi/v3`` lists every group/version and each document carries those
operations and the component schemas (with the ``x-kubernetes-patch-*`` extensions ``kubectl apply`` uses for
strategic merge patches, and what ``kubectl explain`` renders). ``/openapi/v2`` is served as JSON.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hack.lab.apiserver import schemas
from hack.lab.apiserver.resources import Registry, ResourceType

JSON = dict[str, Any]

VERSION_INFO: JSON = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.5",
    "gitCommit": "74e84a90c725047b1328ff3d589fedb1cb7a120e",
    "gitTreeState": "clean",
    "buildDate": "2024-09-12T00:11:55Z",
    "goVersion": "go1.22.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> JSON:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> JSON:
    groups = [_group(g, v) for g, v in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> JSON | None:
    versions = registry.groups().get(name)
    if not versions or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entry(rt: ResourceType) -> JSON:
    out: JSON = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    out["storageVersionHash"] = hashlib.sha256(rt.storage.encode()).digest()[:8].hex()
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    if not registry.has_group_version(group, version):
        return None
    resources: list[JSON] = []
    for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
        resources.append(_resource_entry(rt))
        for sub, verbs in sorted(rt.subresources.items()):
            entry: JSON = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(verbs),
            }
            if sub == "token":
                entry.update(group="authentication.k8s.io", version="v1", kind="TokenRequest")
            if sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale")
            resources.append(entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# ------------------------------------------------------------------------------------------------ OpenAPI


def _convert(node: Any, ref_prefix: str) -> Any:
    """A kubernetes-validate schema node as OpenAPI (single types, refs into our own document)."""
    if isinstance(node, list):
        return [_convert(n, ref_prefix) for n in node]
    if not isinstance(node, dict):
        return node
    out: JSON = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if kinds:
                out[key] = kinds[0]
        elif key == "oneOf" and all(isinstance(v, dict) and "type" in v for v in value):
            kinds = [t for v in value for t in (v["type"] if isinstance(v["type"], list) else [v["type"]])]
            if "integer" in kinds:
                out.update(type="string", format="int-or-string")
            else:
                out.update(type="string")
        elif key in ("properties", "patternProperties"):
            out[key] = {k: _convert(v, ref_prefix) for k, v in value.items()}
        else:
            out[key] = _convert(value, ref_prefix)
    return out


def _closure(roots: list[str]) -> list[str]:
    defs = schemas.definitions()
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        text = json.dumps(defs[name])
        start = 0
        while (i := text.find('"$ref": "#/$defs/', start)) != -1:
            j = text.find('"', i + 17)
            todo.append(text[i + 17 : j])
            start = j
    return sorted(seen)


_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]


def openapi_v3_document(registry: Registry, group: str, version: str) -> JSON:
    types = [rt for rt in registry.in_group_version(group, version) if rt.definition]
    paths: JSON = {}
    for rt in types:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        ns = "/namespaces/{namespace}" if rt.namespaced else ""
        gvk = {"group": group, "version": version, "kind": rt.kind}
        params = [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for p in _PARAMS]
        body_ref = {"$ref": f"#/components/schemas/{rt.definition}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": body_ref}}}}
        item: JSON = {
            "get": {
                "operationId": f"read{rt.kind}",
                "responses": ok,
                "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
        if "patch" in rt.verbs:
            item["patch"] = {
                "operationId": f"patch{rt.kind}",
                "parameters": params,
                "responses": ok,
                "requestBody": {
                    "content": {
                        "application/json-patch+json": {"schema": {"type": "object"}},
                        "application/merge-patch+json": {"schema": {"type": "object"}},
                        "application/strategic-merge-patch+json": {"schema": {"type": "object"}},
                        "application/apply-patch+yaml": {"schema": {"type": "object"}},
                    }
                },
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        paths[f"{prefix}{ns}/{rt.plural}/{{name}}"] = item
        paths[f"{prefix}{ns}/{rt.plural}"] = {
            "post": {
                "operationId": f"create{rt.kind}",
                "parameters": params,
                "responses": ok,
                "requestBody": {"content": {"application/json": {"schema": body_ref}}},
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            },
        }
    defs = schemas.definitions()
    names = _closure([rt.definition for rt in types if rt.definition])
    components = {n: _convert(defs[n], "#/components/schemas/") for n in names}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": components},
    }


def openapi_v3_root(registry: Registry) -> JSON:
    paths: JSON = {}
    for group, versions in registry.groups().items():
        for version in versions:
            if not any(rt.definition for rt in registry.in_group_version(group, version)):
                continue
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            digest = hashlib.sha512(f"{key}:{registry.generation}".encode()).hexdigest()[:32].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def openapi_v2_document() -> JSON:
    defs = schemas.definitions()
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": {},
        "definitions": {n: _convert(d, "#/definitions/") for n, d in defs.items()},
    }


__all__ = [
    "VERSION_INFO",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "openapi_v2_document",
    "openapi_v3_document",
    "openapi_v3_root",
]
