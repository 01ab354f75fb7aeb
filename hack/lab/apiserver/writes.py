"""Create, update, patch and delete, with the generic registry's rules (``apiserver/pkg/registry/generic``).

Every write follows one path: decode the body (:meth:`~.cluster.Cluster.decode`), fill or carry over the
metadata the server owns, run the kind's strategy (:mod:`.strategies`), validate, and only then touch the
store. The rules clients rely on:

* ``resourceVersion`` in an update or patch is a precondition: stale means 409 Conflict. Kinds that forbid
  unconditional updates (custom resources) need one (422).
* An update that changes nothing is not written: no new resourceVersion, no watch event.
* Deleting an object with finalizers only sets ``deletionTimestamp`` (and ``deletionGracePeriodSeconds: 0``,
  and bumps ``generation`` where there is one); the update that removes the last finalizer deletes it. Pods
  bound to a node are deleted gracefully (``deletionTimestamp`` in the future) until deleted with grace 0.
* Namespaces are deleted by the namespace controller (:mod:`.controllers`) once empty.
* Invalid objects are refused whole with 422 and every cause; nothing is allocated for them.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import yaml

from hack.lab.apiserver import crds, errors, meta, patch, services, strategies
from hack.lab.apiserver.cluster import Cluster, WriteOptions
from hack.lab.apiserver.errors import FieldError
from hack.lab.apiserver.resources import ResourceType
from hack.lab.apiserver.schemas import SchemaNode

JSON = dict[str, Any]
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def _invalid(rt: ResourceType, name: str, problems: list[FieldError]) -> errors.ApiError:
    unique: list[FieldError] = []
    for p in problems:
        if not any(p.field == u.field and p.type == u.type for u in unique):
            unique.append(p)
    return errors.invalid_object(rt.group, rt.kind, name, unique)


def _missing_required(missing: list[str]) -> list[FieldError]:
    return [errors.required(path) for path in missing]


def _kind_steps(c: Cluster, rt: ResourceType, obj: JSON, old: JSON | None) -> list[FieldError]:
    """Kind-specific preparation that can fail validation (Services, CRDs)."""
    if rt.storage == "/services":
        return services.prepare(obj, old, c.network)
    if rt.storage == "apiextensions.k8s.io/customresourcedefinitions":
        problems = crds.validate_crd(obj, old)
        if not problems:
            obj["status"] = crds.compute_status(obj, old)
        return problems
    return []


# ------------------------------------------------------------------------------------------------ create


def create(c: Cluster, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> tuple[JSON, int]:
    """POST: a new object (201), or the reasons it cannot be."""
    obj, missing = c.decode(rt, body, opts)
    bad = strategies.secret_bad_request(rt, obj)
    if bad is not None:
        raise bad
    m = obj["metadata"]
    if m.get("resourceVersion"):
        raise errors.internal("resourceVersion should not be set on objects to be created")
    if rt.namespaced:
        if m.get("namespace") and namespace and m["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        m["namespace"] = namespace or m.get("namespace") or ""
    else:
        m.pop("namespace", None)
    if not m.get("name") and m.get("generateName"):
        for _ in range(8):
            m["name"] = meta.generate_name(str(m["generateName"]))
            if c.store.get(rt.storage, m.get("namespace", ""), m["name"]) is None:
                break
    name = m.get("name") or ""
    if name and rt.namespaced:
        c.check_namespace(rt, m["namespace"], name, creating=True)
    if rt.crd is not None:
        crd = c.store.get("apiextensions.k8s.io/customresourcedefinitions", "", rt.crd)
        if crd is not None and crd["metadata"].get("deletionTimestamp"):
            raise errors.method_not_allowed()
    m["uid"] = meta.new_uid()
    m["creationTimestamp"] = meta.format_time(meta.now())
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        m.pop(key, None)
    strategies.apply_defaults(rt, obj)
    strategies.prepare_create(rt, obj)
    if rt.storage == "apiextensions.k8s.io/customresourcedefinitions":
        finalizers = m.setdefault("finalizers", [])
        if crds.CLEANUP_FINALIZER not in finalizers:
            finalizers.append(crds.CLEANUP_FINALIZER)
    problems = _missing_required(missing) + strategies.validate(rt, obj, None, namespace=m.get("namespace", ""))
    problems += _kind_steps(c, rt, obj, None)
    if problems:
        raise _invalid(rt, name or str(m.get("generateName") or ""), problems)
    if c.store.get(rt.storage, m.get("namespace", "") if rt.namespaced else "", name) is not None:
        raise errors.already_exists(rt.group, rt.plural, name)
    if rt.storage == "/services":
        problems = services.allocate(obj, None, c.network)
        if problems:
            raise _invalid(rt, name, problems)
    if opts.dry_run:
        return obj, 201
    stored = c.store.create(rt.storage, c.to_storage(rt, obj))
    return c.external(rt, stored), 201


# ------------------------------------------------------------------------------------------------ update


def update(
    c: Cluster, rt: ResourceType, *, namespace: str, name: str, body: Any, opts: WriteOptions, subresource: str = ""
) -> tuple[JSON, int]:
    """PUT on an object or its ``/status`` (or a Namespace's ``/finalize``)."""
    obj, missing = c.decode(rt, body, opts)
    m = obj["metadata"]
    if not m.get("name"):
        m["name"] = name
    if m["name"] != name:
        raise errors.bad_request(f"the name of the object ({m['name']}) does not match the name on the URL ({name})")
    if rt.namespaced:
        if m.get("namespace") and m["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        m["namespace"] = namespace
    else:
        m.pop("namespace", None)
    old = c.store.get(rt.storage, namespace if rt.namespaced else "", name)
    if old is None:
        if rt.allow_create_on_update and not subresource:
            m.pop("resourceVersion", None)
            return create(c, rt, namespace, obj, opts)
        raise errors.not_found(rt.group, rt.plural, name)
    bad = strategies.secret_bad_request(rt, obj)
    if bad is not None:
        raise bad
    return update_existing(c, rt, obj, old, opts, subresource=subresource, missing=missing)


def _same(a: JSON, b: JSON) -> bool:
    def strip(o: JSON) -> JSON:
        out = dict(o)
        out["metadata"] = {k: v for k, v in (o.get("metadata") or {}).items() if k != "resourceVersion"}
        return out

    return strip(a) == strip(b)


def update_existing(
    c: Cluster,
    rt: ResourceType,
    new: JSON,
    old_stored: JSON,
    opts: WriteOptions,
    *,
    subresource: str = "",
    missing: list[str] | None = None,
) -> tuple[JSON, int]:
    """The shared tail of PUT and PATCH: preconditions, strategy, validation, then the store."""
    old = copy.deepcopy(c.external(rt, old_stored))
    m, om = new["metadata"], old["metadata"]
    name = om["name"]
    sent_rv = m.get("resourceVersion")
    if sent_rv:
        if str(sent_rv) != om.get("resourceVersion"):
            raise errors.conflict(rt.group, rt.plural, name, errors.OPTIMISTIC_LOCK)
    elif not rt.allow_unconditional_update:
        raise _invalid(rt, name, [errors.invalid("metadata.resourceVersion", 0, "must be specified for an update")])
    if m.get("uid") and m["uid"] != om.get("uid"):
        raise errors.conflict(
            rt.group,
            rt.plural,
            name,
            f"Precondition failed: UID in precondition: {m['uid']}, UID in object meta: {om.get('uid')}",
        )
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
        if key in om:
            m[key] = om[key]
        else:
            m.pop(key, None)
    if rt.namespaced:
        m["namespace"] = om.get("namespace")
    strategies.apply_defaults(rt, new)
    if subresource == "finalize":
        fresh = copy.deepcopy(old)
        fresh["spec"] = {"finalizers": list((new.get("spec") or {}).get("finalizers") or [])}
        new = fresh
        problems: list[FieldError] = []
    elif subresource == "status":
        strategies.prepare_status_update(rt, new, old)
        problems = strategies.validate_status(rt, new, old)
    else:
        strategies.prepare_update(rt, new, old)
        problems = _missing_required(missing or [])
        problems += strategies.validate(rt, new, old, namespace=om.get("namespace") or "")
        problems += _kind_steps(c, rt, new, old)
    if problems:
        raise _invalid(rt, name, problems)
    if _same(new, old):
        return old, 200
    if rt.storage == "/services" and subresource != "status":
        problems = services.allocate(new, old, c.network)
        if problems:
            raise _invalid(rt, name, problems)
    if opts.dry_run:
        return new, 200
    candidate = c.to_storage(rt, new)
    if _ready_to_go(candidate):
        c.store.delete(rt.storage, om.get("namespace") or "", name)
        return new, 200
    stored = c.store.update(rt.storage, candidate)
    return c.external(rt, stored), 200


def _ready_to_go(obj: JSON) -> bool:
    """Marked for deletion, no finalizers left, and no grace period still running."""
    m = obj["metadata"]
    if not m.get("deletionTimestamp") or m.get("finalizers"):
        return False
    if obj.get("kind") == "Namespace":
        return not (obj.get("spec") or {}).get("finalizers")
    return not m.get("deletionGracePeriodSeconds")


# ------------------------------------------------------------------------------------------------ patch


def parse_patch_body(patch_type: str, raw: bytes) -> Any:
    """Raises:
    ApiError: 400 when the body is not valid JSON (or YAML, for apply patches).
    """
    try:
        if patch_type == APPLY_PATCH:
            return yaml.safe_load(raw.decode("utf-8"))
        import json

        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None


def patch_object(
    c: Cluster,
    rt: ResourceType,
    *,
    namespace: str,
    name: str,
    patch_type: str,
    raw: bytes,
    opts: WriteOptions,
    subresource: str = "",
    force: bool = False,
) -> tuple[JSON, int]:
    """PATCH with one of the four patch types."""
    del force  # conflicts between managers are not tracked (no managedFields)
    body = parse_patch_body(patch_type, raw)
    stored = c.store.get(rt.storage, namespace if rt.namespaced else "", name)
    if patch_type == APPLY_PATCH:
        if not opts.field_manager:
            raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(body, dict):
            raise errors.bad_request("error decoding YAML: the apply patch must be an object")
        if stored is None:
            if subresource:
                raise errors.not_found(rt.group, rt.plural, name)
            body.setdefault("metadata", {}).setdefault("name", name)
            return create(c, rt, namespace, body, opts)
    if stored is None:
        raise errors.not_found(rt.group, rt.plural, name)
    current = c.external(rt, stored)
    try:
        if patch_type == JSON_PATCH:
            patched = patch.json_patch(current, body)
        elif patch_type == MERGE_PATCH:
            if not isinstance(body, dict):
                raise patch.PatchError("json: cannot unmarshal array into Go value of type map[string]interface {}")
            patched = patch.merge_patch(current, body)
        elif patch_type == STRATEGIC_PATCH:
            schema = SchemaNode.for_definition(rt.definition) if rt.definition else None
            patched = patch.strategic_merge_patch(current, body, schema)
        else:  # APPLY_PATCH, simplified: a merge of the applied configuration, lists by their keys
            schema = SchemaNode.for_definition(rt.definition) if rt.definition else None
            applied = {k: v for k, v in body.items() if k != "status" or subresource == "status"}
            applied.get("metadata", {}).pop("resourceVersion", None)
            patched = (
                patch.strategic_merge_patch(current, applied, schema) if schema else patch.merge_patch(current, applied)
            )
    except patch.PatchError as exc:
        if exc.code == 422:
            raise errors.ApiError(422, errors.Reason.INVALID, exc.message) from None
        raise errors.bad_request(exc.message) from None
    if not isinstance(patched, dict):
        raise errors.bad_request("the patch result is not an object")
    pm = patched.get("metadata")
    if isinstance(pm, dict) and pm.get("name") not in (None, name):
        raise errors.bad_request(
            f"the name of the object ({pm.get('name')}) does not match the name on the URL ({name})"
        )
    new, missing = c.decode(rt, patched, opts)
    new["metadata"]["name"] = name
    bad = strategies.secret_bad_request(rt, new)
    if bad is not None:
        raise bad
    return update_existing(c, rt, new, stored, opts, subresource=subresource, missing=missing)


# ------------------------------------------------------------------------------------------------ delete


def _status_success(rt: ResourceType, obj: JSON) -> JSON:
    m = obj["metadata"]
    details: JSON = {"name": m["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = m.get("uid")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def delete(
    c: Cluster, rt: ResourceType, *, namespace: str, name: str, options: JSON, opts: WriteOptions
) -> tuple[JSON, int]:
    """DELETE: gone now (the object or a Success Status), or marked for deletion (the object)."""
    ns = namespace if rt.namespaced else ""
    stored = c.store.get(rt.storage, ns, name)
    if stored is None:
        raise errors.not_found(rt.group, rt.plural, name)
    m = stored["metadata"]
    pre = options.get("preconditions") or {}
    if pre.get("uid") and pre["uid"] != m.get("uid"):
        raise errors.conflict(
            rt.group,
            rt.plural,
            name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {m.get('uid')}",
        )
    if pre.get("resourceVersion") and str(pre["resourceVersion"]) != m.get("resourceVersion"):
        raise errors.conflict(
            rt.group,
            rt.plural,
            name,
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {m.get('resourceVersion')}",
        )
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.invalid_object(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            [errors.not_supported("propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"])],
        )
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or grace < 0):
        raise errors.bad_request("gracePeriodSeconds must be a non-negative integer")
    if rt.storage == "/namespaces" and name in PROTECTED_NAMESPACES:
        raise errors.forbidden_error("", "namespaces", name, "this namespace may not be deleted")
    if policy == "Orphan" or options.get("orphanDependents") is True:
        c.controllers.orphan(m.get("uid", ""))
    obj = copy.deepcopy(stored)
    om = obj["metadata"]
    now = meta.now()
    graceful = _grace_period(rt, obj, grace)
    finalizers = om.get("finalizers") or []
    namespace_pending = rt.storage == "/namespaces" and (obj.get("spec") or {}).get("finalizers")
    if om.get("deletionTimestamp"):
        # Already terminating: only a shorter grace period for a Pod changes anything.
        if rt.storage == "/pods" and graceful is not None and graceful < (om.get("deletionGracePeriodSeconds") or 0):
            om["deletionGracePeriodSeconds"] = graceful
            om["deletionTimestamp"] = meta.format_time(now + dt.timedelta(seconds=graceful))
            if _ready_to_go(obj):
                return _finish_delete(c, rt, ns, name, opts)
            return _mark(c, rt, obj, opts)
        return c.external(rt, stored), 200
    if finalizers or graceful or namespace_pending:
        om["deletionTimestamp"] = meta.format_time(now + dt.timedelta(seconds=graceful or 0))
        om["deletionGracePeriodSeconds"] = graceful or 0
        if om.get("generation"):
            om["generation"] = om["generation"] + 1
        if rt.storage == "/namespaces":
            obj.setdefault("status", {})["phase"] = "Terminating"
        if rt.storage == "apiextensions.k8s.io/customresourcedefinitions":
            obj["status"] = crds.compute_status(obj, stored)
        return _mark(c, rt, obj, opts)
    return _finish_delete(c, rt, ns, name, opts)


def _grace_period(rt: ResourceType, obj: JSON, requested: int | None) -> int | None:
    """Seconds a Pod bound to a node waits before it goes (0: now); None for everything else."""
    if rt.storage != "/pods":
        return None
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return None
    if requested is not None:
        return requested
    value = spec.get("terminationGracePeriodSeconds", 30)
    return value if isinstance(value, int) and value > 0 else 0


def _mark(c: Cluster, rt: ResourceType, obj: JSON, opts: WriteOptions) -> tuple[JSON, int]:
    if opts.dry_run:
        return c.external(rt, obj), 200
    stored = c.store.update(rt.storage, obj)
    return c.external(rt, stored), 200


def _finish_delete(c: Cluster, rt: ResourceType, ns: str, name: str, opts: WriteOptions) -> tuple[JSON, int]:
    current = c.store.get(rt.storage, ns, name)
    assert current is not None
    if opts.dry_run:
        final = current
    else:
        final = c.store.delete(rt.storage, ns, name)
    if rt.return_deleted_object:
        return c.external(rt, final), 200
    return _status_success(rt, final), 200


def delete_collection(
    c: Cluster, rt: ResourceType, *, namespace: str | None, listed: JSON, options: JSON, opts: WriteOptions
) -> JSON:
    """DELETE on a collection: each listed object is deleted as a single DELETE would."""
    deleted: list[JSON] = []
    for item in listed["items"]:
        m = item["metadata"]
        try:
            obj, _ = delete(
                c, rt, namespace=m.get("namespace") or namespace or "", name=m["name"], options=options, opts=opts
            )
        except errors.ApiError as exc:
            if exc.code == 404:
                continue
            raise
        if obj.get("kind") != "Status":
            deleted.append(c.list_item(rt, obj) if "apiVersion" in obj else obj)
    return {
        "kind": rt.list_kind,
        "apiVersion": rt.api_version,
        "metadata": {"resourceVersion": str(c.store.rv)},
        "items": deleted,
    }


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "create",
    "delete",
    "delete_collection",
    "patch_object",
    "update",
    "update_existing",
]
