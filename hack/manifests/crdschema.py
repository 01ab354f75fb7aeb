"""The metallb.io CRD schemas as an API server applies them, without an API server.

A real API server is not available here, so its three schema steps are reproduced on the CRDs' own
openAPIV3Schema: defaulting (:func:`apply_defaults`, only below objects that are present), validation
(:func:`validator`, the schema translated to JSON Schema 2020-12 with unknown fields refused as under
``kubectl apply --validate=strict``), and CEL rules (:func:`cel_failures`, with cel-python; transition rules run only
when an old object exists). ``tests/manifests/test_custom_objects.py`` keeps the translation honest (a keyword the
helpers do not model fails the suite instead of being silently ignored); the install tests use :func:`admitted`
and :func:`cel_failures` on every metallb.io object in the docs, the overlays and the seed walkthrough.
"""

from __future__ import annotations

import copy
import datetime
import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import (  # type: ignore[import-untyped, unused-ignore]
    Draft202012Validator,
    FormatChecker,
    ValidationError,
    validators,
)

from ironlb.api.names import CONFIG_KINDS, GROUP, STATUS_KINDS

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "manifests" / "crds"

Json = dict[str, Any]

# --- loading ----------------------------------------------------------------------------------------------------


@functools.cache
def crds() -> dict[str, Json]:
    """kind -> CRD, each read from the file named after the kind's plural (``metallb.io_<plural>.yaml``), which
    must hold exactly that one document: a file that holds another kind, or several, is a packaging mistake."""
    loaded: dict[str, Json] = {}
    for kind, (plural, _) in {**CONFIG_KINDS, **STATUS_KINDS}.items():
        path = CRD_DIR / f"metallb.io_{plural}.yaml"
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if len(docs) != 1 or (docs[0].get("spec") or {}).get("names", {}).get("kind") != kind:
            raise ValueError(f"{path.name} must hold exactly one document, the CRD of {kind}")
        loaded[kind] = docs[0]
    return loaded


def schema_of(kind: str, version: str) -> Json:
    for entry in crds()[kind]["spec"]["versions"]:
        if entry["name"] == version:
            schema: Json = entry["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{kind} has no version {version}")


def served_versions() -> list[tuple[str, str]]:
    return [(kind, v["name"]) for kind, crd in crds().items() for v in crd["spec"]["versions"]]


def walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node with its dotted path (array items as ``[]``, map values as ``{}``)."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}" if path else name)
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from walk(node["additionalProperties"], f"{path}{{}}")
    if isinstance(node.get("items"), Mapping):
        yield from walk(node["items"], f"{path}[]")


# --- the API server's schema steps ------------------------------------------------------------------------------

#: Every schema keyword the CRDs may use. The helpers below model each one that affects validation; description,
#: x-kubernetes-map-type and x-kubernetes-list-type (atomic) only steer documentation and server-side apply merges.
KNOWN_KEYWORDS = {
    "description", "type", "format", "properties", "required", "items", "additionalProperties", "enum", "default",
    "minimum", "maximum", "minItems", "minLength", "maxLength", "pattern", "x-kubernetes-validations",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
}  # fmt: skip
_COPIED = (
    "type", "enum", "minimum", "maximum", "minItems", "minLength", "maxLength", "pattern", "required", "format",
    "x-kubernetes-list-map-keys",
)  # fmt: skip


def _unique_map_keys(validator: Any, keys: list[str], instance: Any, schema: Json) -> Iterator[Any]:
    """x-kubernetes-list-type: map: no two items may share the values of the map keys."""
    seen: set[tuple[Any, ...]] = set()
    for item in instance if isinstance(instance, list) else []:
        key = tuple(item.get(name) for name in keys)
        if key in seen:
            yield ValidationError(f"duplicate entry for {dict(zip(keys, key, strict=True))}")
        seen.add(key)


def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.datetime.fromisoformat(value).tzinfo is not None


#: Kubernetes checks the string formats it knows (date-time here); integer formats are documentation only.
FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time", raises=ValueError)(_is_date_time)


_extend: Any = validators.extend  # untyped even in types-jsonschema
StructuralValidator = _extend(Draft202012Validator, {"x-kubernetes-list-map-keys": _unique_map_keys})


def to_json_schema(node: Mapping[str, Any]) -> Json:
    """One structural OpenAPI v3 schema node as JSON Schema; object fields not declared are refused (strict)."""
    out: Json = {key: node[key] for key in _COPIED if key in node}
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        out["properties"] = {name: to_json_schema(sub) for name, sub in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    return out


def validator(kind: str, version: str) -> Any:
    return StructuralValidator(to_json_schema(schema_of(kind, version)), format_checker=FORMATS)


def apply_defaults(node: Mapping[str, Any], value: Any) -> None:
    """Fill ``default``s into ``value`` in place, as the API server does: only inside objects that are present."""
    if isinstance(value, dict):
        for name, sub in node.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                apply_defaults(sub, value[name])
        if isinstance(node.get("additionalProperties"), Mapping):
            for item in value.values():
                apply_defaults(node["additionalProperties"], item)
    elif isinstance(value, list) and "items" in node:
        for item in value:
            apply_defaults(node["items"], item)


def admitted(obj: Json) -> Json:
    """``obj`` defaulted and validated against the schema of its apiVersion; raises ValidationError if refused."""
    group, version = obj["apiVersion"].split("/")
    assert group == GROUP
    out = copy.deepcopy(obj)
    schema = schema_of(obj["kind"], version)
    apply_defaults(schema, out)
    validator(obj["kind"], version).validate(out)
    return out


def refusals(obj: Json) -> list[tuple[str, str]]:
    """(path, JSON Schema keyword) of every reason the schema refuses ``obj`` after defaulting."""
    _, version = obj["apiVersion"].split("/")
    out = copy.deepcopy(obj)
    apply_defaults(schema_of(obj["kind"], version), out)
    return sorted(
        (dotted(error.absolute_path), str(error.validator))
        for error in validator(obj["kind"], version).iter_errors(out)
    )


def dotted(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_ABSENT = object()


def cel_failures(celpy: Any, node: Mapping[str, Any], new: Any, old: Any = _ABSENT, path: str = "") -> list[str]:
    """Messages of the x-kubernetes-validations rules that ``new`` breaks (transition rules need ``old``)."""
    failures: list[str] = []
    for rule in node.get("x-kubernetes-validations", []):
        transition = re.search(r"\boldSelf\b", rule["rule"]) is not None
        if transition and old is _ABSENT:
            continue
        activation = {"self": celpy.json_to_cel(new)}
        if transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        env = celpy.Environment()
        try:
            result = env.program(env.compile(rule["rule"])).evaluate(activation)
        except celpy.CELEvalError:
            result = False  # an evaluation error (a malformed duration, say) refuses the object
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failures.append(f"{path or '<root>'}: {rule['message']}")
    if isinstance(new, dict):
        for name, sub in node.get("properties", {}).items():
            if name in new:
                before = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
                failures += cel_failures(celpy, sub, new[name], before, f"{path}.{name}" if path else name)
    elif isinstance(new, list) and "items" in node:
        for index, item in enumerate(new):  # list items are not correlated with old ones (no list-type map here)
            failures += cel_failures(celpy, node["items"], item, _ABSENT, f"{path}[{index}]")
    return failures


def is_custom(obj: Mapping[str, Any]) -> bool:
    """True for objects of the metallb.io group (the kinds these CRDs define)."""
    return str(obj.get("apiVersion", "")).startswith(GROUP + "/")


__all__ = [
    "CRD_DIR",
    "FORMATS",
    "KNOWN_KEYWORDS",
    "StructuralValidator",
    "admitted",
    "apply_defaults",
    "cel_failures",
    "crds",
    "dotted",
    "is_custom",
    "refusals",
    "schema_of",
    "served_versions",
    "to_json_schema",
    "validator",
    "walk",
]
