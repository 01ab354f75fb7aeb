"""Server-side printing: the ``Table`` kubectl asks for (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``).

``kubectl get`` does not format objects itself: the server converts them to rows with the columns of
``pkg/printers/internalversion/printers.go`` (always the wide set; kubectl hides ``priority > 0`` columns unless
``-o wide``). We reproduce those columns for the kinds we serve - Services with TYPE, CLUSTER-IP, EXTERNAL-IP
(``<pending>`` until the status has an ingress point) and PORT(S), Pods, Nodes, Deployments, Leases, Events,
EndpointSlices... - and, for custom resources, the CRD's ``additionalPrinterColumns`` evaluated with the
simple JSONPath the CRD allows, typed as the apiextensions table convertor types them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hack.lab.apiserver import meta
from hack.lab.apiserver.printers import PRINTERS, Column, Printer, format_selector
from hack.lab.apiserver.resources import ResourceType

JSON = dict[str, Any]

NAME_DESC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
    "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
    "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. "
    "Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def _name(o: JSON) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _age(o: JSON) -> str:
    return meta.age((o.get("metadata") or {}).get("creationTimestamp"))


_DEFAULT: Printer = ([("Name", "string", 0), ("Age", "string", 0)], lambda o: [_name(o), _age(o)])


# --------------------------------------------------------------------------------------------- JSONPath

_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The simple JSONPath of printer columns (fields, indexes, and ``[?(@.k=="v")]`` filters)."""
    values = [obj]
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return []
        pos = m.end()
        field = m.group(1) or m.group(3) or m.group(4)
        nxt: list[Any] = []
        for v in values:
            if field is not None:
                if isinstance(v, dict) and field in v:
                    nxt.append(v[field])
            elif m.group(2) is not None:
                i = int(m.group(2))
                if isinstance(v, list) and i < len(v):
                    nxt.append(v[i])
            elif isinstance(v, list):
                key, want = m.group(5), m.group(6)
                for item in v:
                    cur: Any = item
                    for part in key.split("."):
                        cur = cur.get(part) if isinstance(cur, dict) else None
                    if cur is not None and str(cur) == want:
                        nxt.append(item)
        values = nxt
    return values


def _go_print(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value)) if abs(value) < 1e6 else f"{value:g}".replace("e+0", "e+")
    return str(value)


def _custom_cell(column: JSON, obj: JSON) -> Any:
    found = jsonpath(obj, str(column.get("jsonPath", "")))
    if not found:
        return None
    value = found[0]
    kind = column.get("type")
    if value is None:
        return None
    if kind == "string":
        return _go_print(value)
    if kind == "integer":
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "number":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        return meta.age(value) if isinstance(value, str) and meta.parse_time(value) else "<invalid>"
    return None


def printer_for(rt: ResourceType) -> Printer:
    if rt.is_custom:
        columns: list[Column] = [("Name", "string", 0)]
        custom = rt.printer_columns or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        columns += [(str(c.get("name")), str(c.get("type")), int(c.get("priority") or 0)) for c in custom]
        return columns, lambda o: [_name(o), *(_custom_cell(c, o) for c in custom)]
    return PRINTERS.get(rt.storage, _DEFAULT)


def column_definitions(rt: ResourceType) -> list[JSON]:
    out: list[JSON] = []
    custom = {str(c.get("name")): c for c in rt.printer_columns}
    for name, kind, priority in printer_for(rt)[0]:
        desc = NAME_DESC if name == "Name" else AGE_DESC if name in ("Age", "Created At") else name
        if name in custom:
            desc = str(
                custom[name].get("description")
                or f"Custom resource definition column (in JSONPath format): {custom[name].get('jsonPath')}"
            )
        column: JSON = {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" and out == [] else "",
            "description": desc,
            "priority": priority,
        }
        if name in custom and custom[name].get("format"):
            column["format"] = custom[name]["format"]
        out.append(column)
    return out


def row(rt: ResourceType, obj: JSON, include: str) -> JSON:
    """One table row; ``include`` is the ``includeObject`` option (None, Metadata, Object)."""
    cells = printer_for(rt)[1](obj)
    out: JSON = {"cells": cells}
    if include == "Object":
        out["object"] = obj
    elif include != "None":
        out["object"] = partial_metadata(obj)
    return out


def partial_metadata(obj: JSON) -> JSON:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def table(
    rt: ResourceType,
    objects: list[JSON],
    *,
    resource_version: str,
    include: str,
    headers: bool = True,
    continue_token: str | None = None,
    remaining: int | None = None,
) -> JSON:
    meta_out: JSON = {"resourceVersion": resource_version}
    if continue_token:
        meta_out["continue"] = continue_token
    if remaining is not None:
        meta_out["remainingItemCount"] = remaining
    out: JSON = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta_out}
    out["columnDefinitions"] = column_definitions(rt) if headers else None
    out["rows"] = [row(rt, o, include) for o in objects]
    return out


__all__ = [
    "PRINTERS",
    "column_definitions",
    "format_selector",
    "jsonpath",
    "partial_metadata",
    "printer_for",
    "row",
    "table",
]
