"""ObjectMeta: timestamps, uids, generated names, and the metadata validation every kind shares.

The checks and their wording follow ``apimachinery/pkg/api/validation/objectmeta.go`` and
``apimachinery/pkg/util/validation``: names are DNS-1123 subdomains (or labels, or DNS-1035 labels for
Services), label and annotation keys are qualified names, label values are at most 63 characters, annotations
total at most 256 KiB, and on update the identity fields (name, namespace, uid, creationTimestamp) cannot move.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from hack.lab.apiserver import errors
from hack.lab.apiserver.errors import FieldError

JSON = dict[str, Any]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
ANNOTATIONS_MAX_BYTES = 256 * 1024

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

MSG_DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
MSG_DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
MSG_DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
MSG_QUALIFIED_NAME = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
MSG_LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# ---------------------------------------------------------------------------------------------- time, ids


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(t: dt.datetime) -> str:
    """``metav1.Time``: RFC 3339 to the second, UTC."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(t: dt.datetime) -> str:
    """``metav1.MicroTime``: RFC 3339 with microseconds (Leases, events.k8s.io)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def new_uid() -> str:
    return str(uuid.uuid4())


_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apiserver/pkg/storage/names: no vowels, no confusables


def generate_name(base: str) -> str:
    """``names.SimpleNameGenerator``: the base (cut to leave room) plus five random characters."""
    base = base[: DNS1123_SUBDOMAIN_MAX - 5] if len(base) > DNS1123_SUBDOMAIN_MAX - 5 else base
    return base + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def human_duration(seconds: float) -> str:
    """``duration.HumanDuration``: the AGE column (``45s``, ``3m20s``, ``5h``, ``12d``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, at: dt.datetime | None = None) -> str:
    """``translateTimestampSince``: ``<unknown>`` for a missing time."""
    parsed = parse_time(timestamp) if isinstance(timestamp, str) else None
    if parsed is None:
        return "<unknown>"
    return human_duration(((at or now()) - parsed).total_seconds())


# ---------------------------------------------------------------------------------------------- names


def dns1123_label_errors(value: str) -> list[str]:
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.match(value):
        out.append(MSG_DNS1123_LABEL)
    return out


def dns1123_subdomain_errors(value: str) -> list[str]:
    out = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        out.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        out.append(MSG_DNS1123_SUBDOMAIN)
    return out


def dns1035_label_errors(value: str) -> list[str]:
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1035_LABEL.match(value):
        out.append(MSG_DNS1035_LABEL)
    return out


def path_segment_errors(value: str) -> list[str]:
    """``path.IsValidPathSegmentName``: what any name must satisfy to sit in a URL."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


NameValidator = Callable[[str], list[str]]


def qualified_name_errors(value: str) -> list[str]:
    """``validation.IsQualifiedName``: an optional DNS-subdomain prefix, a slash, and a name part."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        prefix = None
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')"
        ]
    out: list[str] = []
    if prefix is not None:
        out.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        out.append(f"name part must be no more than {QUALIFIED_NAME_MAX} characters")
    if name and not _QUALIFIED_NAME.match(name):
        out.append(MSG_QUALIFIED_NAME)
    return out


def label_value_errors(value: str) -> list[str]:
    out = []
    if len(value) > LABEL_VALUE_MAX:
        out.append(f"must be no more than {LABEL_VALUE_MAX} characters")
    if not _LABEL_VALUE.match(value):
        out.append(MSG_LABEL_VALUE)
    return out


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [errors.invalid(path, labels, "must be a map of string keys to string values")]
    out: list[FieldError] = []
    for key, value in labels.items():
        out.extend(errors.invalid(path, key, e) for e in qualified_name_errors(str(key)))
        if not isinstance(value, str):
            out.append(errors.invalid(f"{path}", value, "label values must be strings"))
            continue
        out.extend(errors.invalid(path, value, e) for e in label_value_errors(value))
    return out


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [errors.invalid(path, annotations, "must be a map of string keys to string values")]
    out: list[FieldError] = []
    total = 0
    for key, value in annotations.items():
        out.extend(errors.invalid(path, key, e) for e in qualified_name_errors(str(key).lower()))
        total += len(str(key)) + len(str(value))
    if total > ANNOTATIONS_MAX_BYTES:
        out.append(errors.too_long(path, ANNOTATIONS_MAX_BYTES, unit="bytes"))
    return out


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    if finalizers is None:
        return []
    out: list[FieldError] = []
    seen: set[str] = set()
    for i, name in enumerate(finalizers):
        if not isinstance(name, str):
            out.append(errors.invalid(f"{path}[{i}]", name, "must be a string"))
            continue
        out.extend(errors.invalid(f"{path}[{i}]", name, e) for e in qualified_name_errors(name))
        if name in seen:
            out.append(errors.duplicate(f"{path}[{i}]", name))
        seen.add(name)
    return out


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    controllers = 0
    for i, ref in enumerate(refs or []):
        where = f"{path}[{i}]"
        if not isinstance(ref, Mapping):
            out.append(errors.invalid(where, ref, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                detail = "uid must not be empty" if key == "uid" else f"{key} must not be empty"
                out.append(errors.invalid(f"{where}.{key}", ref.get(key, ""), detail))
        if ref.get("controller"):
            controllers += 1
    if controllers > 1:
        out.append(errors.invalid(path, refs, "Only one reference can have Controller set to true."))
    return out


def validate_object_meta(
    meta: Mapping[str, Any], *, namespaced: bool, name_errors: NameValidator, path: str = "metadata"
) -> list[FieldError]:
    """``ValidateObjectMeta``: name or generateName, namespace presence, labels, annotations, finalizers."""
    out: list[FieldError] = []
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if generate:
        out.extend(errors.invalid(f"{path}.generateName", generate, e) for e in name_errors(_strip_tail(generate)))
    if not name:
        if not generate:
            out.append(errors.required(f"{path}.name", "name or generateName is required"))
    else:
        out.extend(errors.invalid(f"{path}.name", name, e) for e in name_errors(name))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            out.append(errors.required(f"{path}.namespace"))
        else:
            out.extend(errors.invalid(f"{path}.namespace", namespace, e) for e in dns1123_label_errors(namespace))
    elif namespace:
        out.append(errors.forbidden(f"{path}.namespace", "not allowed on this type"))
    out.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    out.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    out.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    out.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    return out


def _strip_tail(generate: str) -> str:
    # maskTrailingDash: a generateName may end in '-', the generated suffix makes it valid.
    return generate[:-1] + "a" if generate.endswith("-") else generate


def validate_object_meta_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """``ValidateObjectMetaUpdate``: no new finalizers on an object being deleted."""
    out: list[FieldError] = []
    if old.get("deletionTimestamp"):
        added = [f for f in new.get("finalizers") or [] if f not in (old.get("finalizers") or [])]
        if added:
            out.append(
                errors.forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new finalizers "
                    + errors.go_repr(added),
                )
            )
    return out


__all__ = [
    "JSON",
    "NameValidator",
    "age",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "format_micro_time",
    "format_time",
    "generate_name",
    "human_duration",
    "label_value_errors",
    "new_uid",
    "now",
    "parse_time",
    "path_segment_errors",
    "qualified_name_errors",
    "validate_annotations",
    "validate_finalizers",
    "validate_labels",
    "validate_object_meta",
    "validate_object_meta_update",
]
