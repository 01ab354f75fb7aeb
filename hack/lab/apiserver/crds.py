"""CustomResourceDefinitions: their validation, their server-owned status, and serving what they define.

When a CRD is stored, every served version becomes a :class:`~.resources.ResourceType` (discovery, REST,
watch, tables from ``additionalPrinterColumns``, the status subresource if declared) sharing one storage key,
with objects stored in the storage version; conversion strategy ``None`` only rewrites ``apiVersion``, which is
what reading a stored object through another served version does here. The status the apiextensions
controllers would write (``NamesAccepted``, ``Established``, ``acceptedNames``, ``storedVersions``) is set
synchronously on every write, so a CR can be created right after its CRD: a real cluster takes a moment
longer, which clients must tolerate anyway.

Deletion follows the ``customresourcecleanup.apiextensions.k8s.io`` finalizer: the CRD is marked, its
instances are deleted (their own finalizers respected), and the CRD goes when the last one has.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hack.lab.apiserver import errors, meta
from hack.lab.apiserver.errors import FieldError
from hack.lab.apiserver.resources import Generation, Registry, ResourceType
from hack.lab.apiserver.structural import CompiledSchema

JSON = dict[str, Any]
GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
_SIMPLE_JSONPATH = re.compile(r"^(\.[A-Za-z0-9_-]+|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])+$")


def validate_crd(obj: JSON, old: JSON | None) -> list[FieldError]:
    out: list[FieldError] = []
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    name = (obj.get("metadata") or {}).get("name") or ""
    if not group:
        out.append(errors.required("spec.group"))
    elif "." not in group:
        out.append(errors.invalid("spec.group", group, "should be a domain with at least one dot"))
    else:
        out.extend(errors.invalid("spec.group", group, m) for m in meta.dns1123_subdomain_errors(group))
    if name and plural and group and name != f"{plural}.{group}":
        out.append(errors.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    for field in ("plural", "singular", "kind", "listKind"):
        value = names.get(field) or ""
        if not value:
            out.append(errors.required(f"spec.names.{field}"))
        elif field in ("plural", "singular"):
            out.extend(errors.invalid(f"spec.names.{field}", value, m) for m in meta.dns1123_label_errors(value))
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        out.append(errors.not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    versions = spec.get("versions") or []
    if not versions:
        out.append(errors.invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if versions and len(storage) != 1:
        out.append(errors.invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
    seen: set[str] = set()
    for i, version in enumerate(versions):
        if not isinstance(version, dict):
            continue
        where = f"spec.versions[{i}]"
        vname = version.get("name") or ""
        out.extend(errors.invalid(f"{where}.name", vname, m) for m in meta.dns1035_label_errors(vname))
        if vname in seen:
            out.append(errors.duplicate(f"{where}.name", vname))
        seen.add(vname)
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            out.append(errors.required(f"{where}.schema.openAPIV3Schema", "schemas are required"))
        elif schema.get("type") != "object":
            out.append(
                errors.invalid(f"{where}.schema.openAPIV3Schema.type", schema.get("type"), "must be object at the root")
            )
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            cw = f"{where}.additionalPrinterColumns[{j}]"
            if not column.get("name"):
                out.append(errors.required(f"{cw}.name"))
            if column.get("type") not in _COLUMN_TYPES:
                out.append(errors.not_supported(f"{cw}.type", column.get("type"), _COLUMN_TYPES))
            path = column.get("jsonPath") or ""
            if not path:
                out.append(errors.required(f"{cw}.jsonPath"))
            elif not _SIMPLE_JSONPATH.match(path):
                out.append(errors.invalid(f"{cw}.jsonPath", path, "must be a simple json path"))
    if served := [v for v in versions if isinstance(v, dict) and v.get("served")]:
        del served
    elif versions:
        out.append(errors.invalid("spec.versions", versions, "must have at least one version marked as served"))
    strategy = (spec.get("conversion") or {}).get("strategy", "None")
    if strategy not in ("None", "Webhook"):
        out.append(errors.not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
    if old is not None:
        old_spec = old.get("spec") or {}
        if group != old_spec.get("group"):
            out.append(errors.invalid("spec.group", group, "field is immutable"))
        if spec.get("scope") != old_spec.get("scope"):
            out.append(errors.invalid("spec.scope", spec.get("scope"), "field is immutable"))
        stored = ((old.get("status") or {}).get("storedVersions")) or []
        for v in stored:
            if v not in seen:
                out.append(
                    errors.invalid(
                        "status.storedVersions", stored, f"must appear in spec.versions: {v} is a stored version"
                    )
                )
    return out


def compute_status(obj: JSON, old: JSON | None) -> JSON:
    """The status the apiextensions controllers converge to for an acceptable CRD."""
    spec = obj.get("spec") or {}
    now = meta.format_time(meta.now())
    old_status = (old or {}).get("status") or {}
    previous = {c.get("type"): c for c in old_status.get("conditions") or [] if isinstance(c, dict)}

    def condition(kind: str, reason: str, message: str) -> JSON:
        before = previous.get(kind)
        stamp = before["lastTransitionTime"] if before and before.get("status") == "True" else now
        return {"lastTransitionTime": stamp, "message": message, "reason": reason, "status": "True", "type": kind}

    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    stored = list(old_status.get("storedVersions") or [])
    if storage and storage not in stored:
        stored.append(storage)
    conditions = [
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        conditions.append(
            {
                "lastTransitionTime": now,
                "message": "CustomResourceDefinition is being deleted",
                "reason": "InstanceDeletionInProgress",
                "status": "True",
                "type": "Terminating",
            }
        )
    return {"acceptedNames": dict(spec.get("names") or {}), "conditions": conditions, "storedVersions": stored}


class CrdServing:
    """Keeps the registry's custom resource types in step with the stored CRDs."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._served: dict[str, list[tuple[str, str, str]]] = {}  # crd name -> (group, version, plural)
        self._schemas: dict[str, CompiledSchema] = {}

    def _compiled(self, schema: JSON) -> CompiledSchema:
        key = json.dumps(schema, sort_keys=True)
        found = self._schemas.get(key)
        if found is None:
            found = CompiledSchema(schema)
            self._schemas[key] = found
        return found

    def sync(self, crd: JSON | None, name: str) -> None:
        """(Re-)register the types a CRD serves; ``crd=None`` unregisters them."""
        for group, version, plural in self._served.pop(name, []):
            self.registry.remove(group, version, plural)
        if crd is None:
            return
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec["group"]
        storage_version = next(v["name"] for v in spec["versions"] if v.get("storage"))
        served: list[tuple[str, str, str]] = []
        order = [v["name"] for v in sorted(spec["versions"], key=lambda v: _version_priority(v["name"]))]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
            subresources: dict[str, tuple[str, ...]] = {}
            declared = version.get("subresources") or {}
            if "status" in declared:
                subresources["status"] = ("get", "patch", "update")
            if "scale" in declared:
                subresources["scale"] = ("get", "patch", "update")
            rt = ResourceType(
                group,
                version["name"],
                names["plural"],
                names["kind"],
                spec.get("scope") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                name_errors=meta.dns1123_subdomain_errors,
                storage=f"{group}/{names['plural']}",
                storage_version=f"{group}/{storage_version}",
                generation=Generation.NON_STATUS if "status" in subresources else Generation.NON_METADATA,
                allow_unconditional_update=False,
                return_deleted_object=True,
                crd=name,
                schema=self._compiled(schema),
                printer_columns=list(version.get("additionalPrinterColumns") or []),
            )
            self.registry.add(rt)
            served.append((group, version["name"], names["plural"]))
        self.registry.set_version_order(group, order)
        self._served[name] = served

    def types(self, name: str) -> list[ResourceType]:
        return [t for g, v, p in self._served.get(name, []) if (t := self.registry.get(g, v, p)) is not None]


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _version_priority(name: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first, then the rest by name."""
    m = _VERSION.match(name)
    if not m:
        return (3, 0, 0, name)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, name)


__all__ = ["CLEANUP_FINALIZER", "CrdServing", "GROUP", "compute_status", "validate_crd"]
