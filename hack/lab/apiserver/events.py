"""Events are one stored object served in two groups: core ``v1`` and ``events.k8s.io/v1``.

kube-apiserver keeps a single ``/registry/events`` and converts between the two external shapes, so an Event
written with the new API (client-go's ``events`` recorder, which newer controllers use) shows in ``kubectl
describe`` (which reads core ``v1`` events), and the other way round. We store the core shape and convert with
the field mapping of ``pkg/apis/events/v1/conversion.go``; the events.k8s.io validation rules that the new API
adds on create (``ValidateEventCreate`` for ``events.k8s.io/v1``) are here too.
"""

from __future__ import annotations

from typing import Any

from hack.lab.apiserver import errors
from hack.lab.apiserver.errors import FieldError

JSON = dict[str, Any]

# events.k8s.io/v1 field -> core v1 field (the rest keep their names).
_TO_CORE = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_EVENTS = {v: k for k, v in _TO_CORE.items()}
_COMMON = ("metadata", "reason", "type", "action", "related", "reportingInstance", "eventTime", "series")


def events_v1_to_core(obj: JSON) -> JSON:
    """An ``events.k8s.io/v1`` Event in the stored (core ``v1``) shape."""
    out: JSON = {"apiVersion": "v1", "kind": "Event"}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        out[_TO_CORE.get(key, key)] = value
    out.setdefault("involvedObject", {})
    return out


def core_to_events_v1(obj: JSON) -> JSON:
    """The stored (core ``v1``) Event as ``events.k8s.io/v1`` shows it."""
    out: JSON = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key in _TO_EVENTS:
            out[_TO_EVENTS[key]] = value
        elif key in _COMMON:
            out[key] = value
    # events.k8s.io/v1 has no eventTime-less events: the conversion fills it from the first timestamp.
    if not out.get("eventTime") and obj.get("firstTimestamp"):
        out["eventTime"] = obj["firstTimestamp"].replace("Z", ".000000Z")
    return out


def validate_events_v1_create(obj: JSON) -> list[FieldError]:
    """What ``events.k8s.io/v1`` requires of a new Event (legacy core events are not checked as strictly)."""
    out: list[FieldError] = []
    if not obj.get("eventTime"):
        out.append(errors.required("eventTime"))
    if obj.get("type") not in ("Normal", "Warning"):
        out.append(errors.not_supported("type", obj.get("type", ""), ["Normal", "Warning"]))
    for name in ("reportingController", "reportingInstance", "action", "reason"):
        value = obj.get(name)
        if not value:
            out.append(errors.required(name))
        elif len(str(value)) > 128:
            out.append(errors.too_long(name, 128))
    note = obj.get("note") or ""
    if len(note) > 1024:
        out.append(errors.too_long("note", 1024))
    return out


def validate_core_event(obj: JSON, namespace: str) -> list[FieldError]:
    """Core ``v1`` checks kept for compatibility: the involved object's namespace must match the event's."""
    out: list[FieldError] = []
    involved = obj.get("involvedObject") or {}
    inv_ns = involved.get("namespace") or ""
    if inv_ns and namespace and namespace not in (inv_ns, "default"):
        out.append(errors.invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    if obj.get("type") and obj["type"] not in ("Normal", "Warning"):
        out.append(errors.not_supported("type", obj["type"], ["Normal", "Warning"]))
    return out


__all__ = ["core_to_events_v1", "events_v1_to_core", "validate_core_event", "validate_events_v1_create"]
