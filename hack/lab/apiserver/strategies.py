"""What the REST strategies of each kind do on create, update and status update.

kube-apiserver's registry calls a kind's strategy around every write: ``PrepareForCreate`` and
``PrepareForUpdate`` decide which parts of the request are ignored (writes to the main resource do not touch
``status``; writes to ``/status`` do not touch ``spec``), how ``metadata.generation`` moves, and which
validation applies. The rules here are those of 1.30:

* Services: create clears status; ``/status`` keeps the old spec but *does* apply metadata changes, labels,
  annotations and finalizers included (the upstream service controller adds and removes
  ``service.kubernetes.io/load-balancer-cleanup`` that way).
* Pods: create sets ``phase: Pending``; ``/status`` keeps spec and ownerReferences.
* Nodes: create keeps the status a kubelet sends; ``/status`` keeps spec.
* Deployments, DaemonSets, ReplicaSets: create clears status, generation counts spec changes; ``/status``
  keeps spec and labels.
* Custom resources with a status subresource: create drops status, the main resource ignores status,
  ``/status`` changes nothing but status (``ResetObjectMetaForStatus`` and more: the whole object but status
  comes from the old one); generation counts changes outside metadata and status.
* CRDs: generation counts spec changes; the server owns status (see :mod:`.crds`).
"""

from __future__ import annotations

import copy
from typing import Any

from hack.lab.apiserver import defaults, errors, events, meta, service_validation, services, validation
from hack.lab.apiserver.errors import FieldError
from hack.lab.apiserver.resources import Generation, ResourceType

JSON = dict[str, Any]


def apply_defaults(rt: ResourceType, obj: JSON) -> None:
    """Defaults that apply to every decoded body of the kind (``SetDefaults_*``)."""
    if rt.storage == "/services":
        services.apply_defaults(obj)
        return
    fn = defaults.DEFAULTERS.get(rt.storage)
    if fn is not None:
        fn(obj)
    elif rt.is_custom and rt.schema is not None:
        obj.update(rt.schema.default(obj))


def prepare_create(rt: ResourceType, obj: JSON) -> None:
    storage = rt.storage
    if storage == "/services":
        obj["status"] = {"loadBalancer": {}}
    elif storage == "/pods":
        obj["status"] = {"phase": "Pending", "qosClass": _qos(obj)}
    elif storage in ("apps/deployments", "apps/daemonsets", "apps/replicasets"):
        obj["status"] = {}
    elif storage == "/namespaces":
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}
    elif rt.is_custom and rt.has_status:
        obj.pop("status", None)
    if rt.generation is not Generation.NONE:
        obj["metadata"]["generation"] = 1


def _qos(pod: JSON) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    if all(r.get("limits") and (not r.get("requests") or r.get("requests") == r.get("limits")) for r in resources):
        return "Guaranteed"
    return "Burstable"


def _without(obj: JSON, *keys: str) -> JSON:
    return {k: v for k, v in obj.items() if k not in keys}


def prepare_update(rt: ResourceType, new: JSON, old: JSON) -> None:
    """A write to the main resource: status is not the client's to change here."""
    if rt.has_status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    if rt.storage == "/namespaces":
        new["spec"] = copy.deepcopy(old.get("spec") or {})
    _bump_generation(rt, new, old)


def _bump_generation(rt: ResourceType, new: JSON, old: JSON) -> None:
    generation = (old.get("metadata") or {}).get("generation")
    if rt.generation is Generation.NONE:
        if generation is None:
            new["metadata"].pop("generation", None)
        else:
            new["metadata"]["generation"] = generation
        return
    if rt.generation is Generation.SPEC:
        changed = new.get("spec") != old.get("spec")
    elif rt.generation is Generation.NON_STATUS:
        changed = _without(new, "metadata", "status") != _without(old, "metadata", "status")
    else:
        changed = _without(new, "metadata") != _without(old, "metadata")
    new["metadata"]["generation"] = (generation or 0) + (1 if changed else 0) or 1


def prepare_status_update(rt: ResourceType, new: JSON, old: JSON) -> None:
    """A write to ``/status``: only what that kind lets status writers change survives."""
    storage = rt.storage
    if rt.is_custom:
        status = new.get("status")
        fresh = copy.deepcopy(old)
        fresh["metadata"]["resourceVersion"] = new["metadata"].get("resourceVersion", "")
        if status is None:
            fresh.pop("status", None)
        else:
            fresh["status"] = status
        new.clear()
        new.update(fresh)
        return
    if "spec" in old:
        new["spec"] = copy.deepcopy(old["spec"])
    else:
        new.pop("spec", None)
    m, om = new["metadata"], old["metadata"]
    if storage == "/pods":
        _copy_meta(m, om, "ownerReferences")
    elif storage in ("apps/deployments", "apps/daemonsets", "apps/replicasets"):
        _copy_meta(m, om, "labels")
    if rt.generation is not Generation.NONE and "generation" in om:
        m["generation"] = om["generation"]


def _copy_meta(m: JSON, om: JSON, key: str) -> None:
    if key in om:
        m[key] = copy.deepcopy(om[key])
    else:
        m.pop(key, None)


def validate(rt: ResourceType, obj: JSON, old: JSON | None, *, namespace: str) -> list[FieldError]:
    """Metadata and kind-specific validation of a whole object (create, or update of the main resource)."""
    out = meta.validate_object_meta(obj.get("metadata") or {}, namespaced=rt.namespaced, name_errors=rt.name_errors)
    if old is not None:
        out.extend(meta.validate_object_meta_update(obj["metadata"], old["metadata"]))
    if rt.storage == "/services":
        return out  # the Service checks run in services.prepare, before allocation
    validator = validation.VALIDATORS.get(rt.storage)
    if validator is not None:
        out.extend(validator(obj, old))
    if rt.storage == "/events":
        if rt.group == "events.k8s.io" and old is None:
            out.extend(events.validate_events_v1_create(obj))  # still in the events.k8s.io shape here
        elif rt.group == "":
            out.extend(events.validate_core_event(obj, namespace))
    if rt.is_custom and rt.schema is not None:
        out.extend(rt.schema.validate(obj, old))
    return out


def validate_status(rt: ResourceType, obj: JSON, old: JSON) -> list[FieldError]:
    out = meta.validate_object_meta(obj.get("metadata") or {}, namespaced=rt.namespaced, name_errors=rt.name_errors)
    out.extend(meta.validate_object_meta_update(obj["metadata"], old["metadata"]))
    if rt.storage == "/services":
        out.extend(service_validation.validate_status(obj))
    elif rt.storage == "/nodes":
        out.extend(validation.node(obj, old))
    elif rt.is_custom and rt.schema is not None:
        out.extend(rt.schema.validate(obj, old))
    return out


def secret_bad_request(rt: ResourceType, obj: JSON) -> errors.ApiError | None:
    """Secrets carry ``[]byte`` values: non-base64 data fails decoding (400), before any validation."""
    if rt.storage != "/secrets":
        return None
    problem = validation.check_base64_data(obj)
    if problem is None:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            import base64

            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
        return None
    return errors.bad_request(f'Secret in version "v1" cannot be handled as a Secret: {problem}')


__all__ = [
    "apply_defaults",
    "prepare_create",
    "prepare_status_update",
    "prepare_update",
    "secret_bad_request",
    "validate",
    "validate_status",
]
