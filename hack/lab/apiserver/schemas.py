"""The official schemas of the built-in kinds, as shipped by ``kubernetes-validate``, and what we derive from them.

kube-apiserver decodes a request body into a Go struct: unknown fields are dropped (and reported as warnings, or
refused under ``fieldValidation=Strict``), a value of the wrong JSON type fails the decode with 400 BadRequest,
and ``null`` becomes the zero value. :func:`decode` imitates that against the OpenAPI definitions of the server
version we pretend to be (1.30). The same definitions carry ``x-kubernetes-patch-merge-key`` and
``x-kubernetes-patch-strategy``, which drive the strategic merge patch (:class:`SchemaNode`), and
``x-kubernetes-group-version-kind``, which maps a kind to its definition.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "v1.30.0-local"
_REF_PREFIX = "#/$defs/"
_OMIT: Any = object()  # a value the Go encoder would leave out (empty map or slice under omitempty)


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """Every definition of the 1.30 OpenAPI document, keyed by its Go name (``io.k8s.api.core.v1.Service``)."""
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / SCHEMA_VERSION
    with (base / "_definitions.json").open(encoding="utf-8") as f:
        defs: dict[str, dict[str, Any]] = json.load(f)["$defs"]
    return defs


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    return _gvk_index().get((group, version, kind))


def resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow ``$ref`` (possibly beside a description) to the definition it names."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return definitions()[ref[len(_REF_PREFIX) :]]
    return schema


def _types(schema: Mapping[str, Any]) -> tuple[str, ...]:
    t = schema.get("type")
    if isinstance(t, str):
        return (t,)
    if isinstance(t, list):
        return tuple(x for x in t if x != "null")
    if "oneOf" in schema:  # IntOrString, Quantity
        return tuple(x for sub in schema["oneOf"] for x in _types(sub))
    return ()


@dataclass(frozen=True)
class SchemaNode:
    """A position in a definition, as the strategic merge patch walks it."""

    schema: Mapping[str, Any]

    @classmethod
    def for_definition(cls, name: str) -> SchemaNode:
        return cls(definitions()[name])

    def _resolved(self) -> Mapping[str, Any]:
        return resolve(self.schema)

    def child(self, key: str) -> SchemaNode | None:
        """The schema of field ``key`` of an object, or of any value of a map."""
        s = self._resolved()
        props = s.get("properties")
        if isinstance(props, Mapping) and key in props:
            return SchemaNode(props[key])
        extra = s.get("additionalProperties")
        if isinstance(extra, Mapping):
            return SchemaNode(extra)
        return None

    def items(self) -> SchemaNode | None:
        s = self._resolved()
        items = s.get("items")
        return SchemaNode(items) if isinstance(items, Mapping) else None

    @property
    def patch_strategies(self) -> tuple[str, ...]:
        raw = self.schema.get("x-kubernetes-patch-strategy") or self._resolved().get("x-kubernetes-patch-strategy")
        return tuple(s for s in str(raw).split(",") if s) if raw else ()

    @property
    def merge_key(self) -> str | None:
        key = self.schema.get("x-kubernetes-patch-merge-key") or self._resolved().get("x-kubernetes-patch-merge-key")
        return str(key) if key else None

    @property
    def is_map_type(self) -> bool:
        """A map (``additionalProperties``) rather than a struct: keys are data, not fields."""
        s = self._resolved()
        return isinstance(s.get("additionalProperties"), Mapping) and not s.get("properties")


@dataclass
class DecodeResult:
    obj: Any
    #: dotted paths of dropped unknown fields (``spec.foo``), as strict decoding names them
    unknown: list[str] = field(default_factory=list)
    #: Go-style unmarshal errors (a value of the wrong type)
    type_errors: list[str] = field(default_factory=list)
    #: dotted paths of required fields that are missing
    missing: list[str] = field(default_factory=list)


_GO_JSON_KIND = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}


def _json_kind(value: Any) -> str:
    return _GO_JSON_KIND.get(type(value), "value")


def _go_type(schema: Mapping[str, Any], def_name: str | None) -> str:
    types = _types(schema)
    fmt = schema.get("format")
    if def_name and def_name.endswith("IntOrString"):
        return "intstr.IntOrString"
    if def_name and def_name.endswith("Quantity"):
        return "resource.Quantity"
    if "integer" in types:
        return str(fmt) if fmt in ("int32", "int64") else "int64"
    if "number" in types:
        return "float64"
    if "boolean" in types:
        return "bool"
    if "string" in types:
        return "string"
    if "array" in types:
        return "[]" + (def_name.rsplit(".", 1)[-1] if def_name else "interface {}")
    if def_name:
        return "v1." + def_name.rsplit(".", 1)[-1]
    return "map[string]string"


def _accepts(types: tuple[str, ...], value: Any) -> bool:
    if not types:
        return True
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return "integer" in types or "number" in types
    if isinstance(value, float):
        return "number" in types or ("integer" in types and value.is_integer())
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, list):
        return "array" in types
    if isinstance(value, dict):
        return "object" in types
    return False


def decode(obj: Mapping[str, Any], def_name: str) -> DecodeResult:
    """Decode a built-in object as the Go JSON decoder would, against definition ``def_name``.

    Returns a copy without unknown fields and ``null`` values, with the problems found on the way.
    """
    result = DecodeResult(obj=None)
    decoded = _decode(
        obj, definitions()[def_name], def_name=def_name, path="", struct=def_name.rsplit(".", 1)[-1], out=result
    )
    result.obj = {} if decoded is _OMIT else decoded
    return result


def _decode(
    value: Any, schema: Mapping[str, Any], *, def_name: str | None, path: str, struct: str, out: DecodeResult
) -> Any:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        def_name = ref[len(_REF_PREFIX) :]
        schema = definitions()[def_name]
        struct = def_name.rsplit(".", 1)[-1]
    types = _types(schema)
    if not _accepts(types, value):
        where = f"{struct}.{path}" if path else struct
        out.type_errors.append(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type "
            f"{_go_type(schema, def_name)}"
        )
        return value
    if isinstance(value, float) and "integer" in types and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if isinstance(props, Mapping):
            result: dict[str, Any] = {}
            for key, sub in value.items():
                child_path = f"{path}.{key}" if path else key
                if sub is None:
                    continue
                if key not in props:
                    out.unknown.append(child_path)
                    continue
                decoded = _decode(sub, props[key], def_name=None, path=child_path, struct=struct, out=out)
                if decoded is not _OMIT:
                    result[key] = decoded
                elif key in (schema.get("required") or ()):
                    # A required field has no omitempty in Go: an empty list or map is kept, not dropped
                    # (EndpointSlice.endpoints is [] for a Service without endpoints).
                    result[key] = sub
            for key in schema.get("required") or ():
                if key not in result:
                    out.missing.append(f"{path}.{key}" if path else key)
            return result
        if isinstance(extra, Mapping):
            mapped = {
                k: _keep(_decode(v, extra, def_name=None, path=f"{path}.{k}" if path else k, struct=struct, out=out), v)
                for k, v in value.items()
                if v is not None or "null" in (extra.get("type") or ())
            }
            return mapped if mapped else _OMIT  # Go's omitempty drops an empty map
        return value  # free-form (RawExtension, JSON)
    if isinstance(value, list):
        if not value:
            return _OMIT  # ... and an empty slice
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [
                _keep(_decode(v, items, def_name=None, path=path, struct=struct, out=out), v)
                for v in value
                if v is not None
            ]
        return value
    return value


def _keep(decoded: Any, original: Any) -> Any:
    """Inside a map or list an empty value is still an element: keep it as sent."""
    return original if decoded is _OMIT else decoded


def strict_fields(obj: Mapping[str, Any], def_name: str) -> list[str]:
    """The unknown fields strict decoding would refuse (without changing anything)."""
    return decode(obj, def_name).unknown


__all__ = ["DecodeResult", "SchemaNode", "decode", "definition_name", "definitions", "resolve", "strict_fields"]
