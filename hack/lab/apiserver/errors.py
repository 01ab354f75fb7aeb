"""Errors as kube-apiserver reports them: a ``Status`` object with the same reason, code and wording.

Every failure inside the emulator is raised as :class:`ApiError` and turned into a response in exactly one
place (the HTTP layer). The constructors below mirror ``k8s.io/apimachinery/pkg/api/errors`` (``NewNotFound``,
``NewAlreadyExists``, ``NewConflict``, ``NewInvalid``, ...) so that clients which switch on ``reason`` and
``code`` (client-go's ``IsConflict``, the Python client's ``ApiException.status``) behave as they do against a
real cluster, and so that messages read the same in logs.

Field errors follow ``k8s.io/apimachinery/pkg/util/validation/field``: a :class:`FieldError` carries a type
("Invalid value", "Required value", ...), a path (``spec.ports[0].port``), the bad value and a detail, and
renders its ``ErrorBody`` the way Go does (strings quoted with ``%q``, numbers bare, other values in Go
syntax as far as we can imitate it).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class Reason(enum.StrEnum):
    """``metav1.StatusReason`` values, with the HTTP code each one travels with."""

    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    CONFLICT = "Conflict"
    INVALID = "Invalid"
    BAD_REQUEST = "BadRequest"
    FORBIDDEN = "Forbidden"
    UNAUTHORIZED = "Unauthorized"
    GONE = "Gone"
    EXPIRED = "Expired"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    NOT_ACCEPTABLE = "NotAcceptable"
    TIMEOUT = "Timeout"
    INTERNAL_ERROR = "InternalError"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    TOO_MANY_REQUESTS = "TooManyRequests"


class FieldErrorType(enum.Enum):
    """``field.ErrorType``: (cause type in ``details.causes[].reason``, text in the message)."""

    NOT_FOUND = ("FieldValueNotFound", "Not found")
    REQUIRED = ("FieldValueRequired", "Required value")
    DUPLICATE = ("FieldValueDuplicate", "Duplicate value")
    INVALID = ("FieldValueInvalid", "Invalid value")
    NOT_SUPPORTED = ("FieldValueNotSupported", "Unsupported value")
    FORBIDDEN = ("FieldValueForbidden", "Forbidden")
    TOO_LONG = ("FieldValueTooLong", "Too long")
    TOO_MANY = ("FieldValueTooMany", "Too many")
    INTERNAL = ("InternalError", "Internal error")
    TYPE_INVALID = ("FieldValueTypeInvalid", "Invalid value")

    @property
    def cause(self) -> str:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


_OMIT = object()
# Types whose ErrorBody never shows the value (field/errors.go ErrorBody).
_NO_VALUE = {FieldErrorType.REQUIRED, FieldErrorType.FORBIDDEN, FieldErrorType.TOO_LONG, FieldErrorType.INTERNAL}


def go_repr(value: Any) -> str:
    """Render a value roughly as Go's ``%#v`` would for the JSON-ish types validation reports."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(go_repr(v) for v in value) + "}"
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
            return "map[string]string{" + inner + "}"
        inner = ", ".join(f"{json.dumps(k)}:{go_repr(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    return str(value)


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error``: what is wrong with which field."""

    type: FieldErrorType
    field: str
    value: Any = _OMIT
    detail: str = ""

    def body(self) -> str:
        """``field.Error.ErrorBody()``: the message without the field path."""
        if self.type in _NO_VALUE or self.value is _OMIT:
            text = self.type.text
        elif isinstance(self.value, bool):
            text = f"{self.type.text}: {'true' if self.value else 'false'}"
        elif isinstance(self.value, int | float):
            text = f"{self.type.text}: {self.value}"
        elif isinstance(self.value, str):
            text = f"{self.type.text}: {json.dumps(self.value, ensure_ascii=False)}"
        else:
            text = f"{self.type.text}: {go_repr(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()


# Short constructors, named as in the field package.
def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(FieldErrorType.INVALID, path, value, detail)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(FieldErrorType.REQUIRED, path, detail=detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(FieldErrorType.FORBIDDEN, path, detail=detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(FieldErrorType.DUPLICATE, path, value)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported) if supported else ""
    return FieldError(FieldErrorType.NOT_SUPPORTED, path, value, detail)


def too_long(path: str, limit: int, *, unit: str = "characters") -> FieldError:
    return FieldError(FieldErrorType.TOO_LONG, path, detail=f"must have at most {limit} {unit}")


def too_many(path: str, count: int, limit: int) -> FieldError:
    return FieldError(FieldErrorType.TOO_MANY, path, count, f"must have at most {limit} items")


@dataclass
class ApiError(Exception):
    """A failure that becomes a ``Status`` response (and, inside a watch, an ``ERROR`` event)."""

    code: int
    reason: Reason
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        """The ``metav1.Status`` body, keys in the order the real server writes them."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.value,
        }
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    if kind:
        out["kind"] = kind
    out.update(extra)
    return out


def qualified(group: str, resource: str) -> str:
    """``schema.GroupResource.String()``: ``services`` or ``deployments.apps``."""
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        404, Reason.NOT_FOUND, f'{qualified(group, resource)} "{name}" not found', _details(name, group, resource)
    )


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        Reason.ALREADY_EXISTS,
        f'{qualified(group, resource)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(group: str, resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        Reason.CONFLICT,
        f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
        _details(name, group, resource),
    )


OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again"


def invalid_object(group: str, kind: str, name: str, errors: Sequence[FieldError]) -> ApiError:
    """``NewInvalid``: 422 with one cause per field error; the message aggregates them as Go does."""
    gk = f"{kind}.{group}" if group else kind
    causes = [{"reason": e.type.cause, "message": e.body(), "field": e.field} for e in errors]
    if not errors:
        message = f'{gk} "{name}" is invalid'
    elif len(errors) == 1:
        message = f'{gk} "{name}" is invalid: {errors[0]}'
    else:
        message = f'{gk} "{name}" is invalid: [' + ", ".join(str(e) for e in errors) + "]"
    return ApiError(422, Reason.INVALID, message, _details(name, group, kind, causes=causes))


def bad_request(message: str) -> ApiError:
    return ApiError(400, Reason.BAD_REQUEST, message)


def forbidden_error(group: str, resource: str, name: str, why: str) -> ApiError:
    if not resource:
        message = f"forbidden: {why}"
    elif name:
        message = f'{qualified(group, resource)} "{name}" is forbidden: {why}'
    else:
        message = f"{qualified(group, resource)} is forbidden: {why}"
    return ApiError(403, Reason.FORBIDDEN, message, _details(name, group, resource))


def unauthorized() -> ApiError:
    return ApiError(401, Reason.UNAUTHORIZED, "Unauthorized")


def expired(message: str) -> ApiError:
    return ApiError(410, Reason.EXPIRED, message)


def too_old_resource_version(requested: int, oldest: int) -> ApiError:
    """What a watch from a compacted resourceVersion gets (the cacher's wording)."""
    return expired(f"too old resource version: {requested} ({oldest})")


def gone(message: str) -> ApiError:
    return ApiError(410, Reason.GONE, message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, Reason.METHOD_NOT_ALLOWED, "the server does not allow this method on the requested resource", {}
    )


def resource_not_found() -> ApiError:
    """A path under a known group/version naming no resource."""
    return ApiError(404, Reason.NOT_FOUND, "the server could not find the requested resource", {})


def too_large(limit: int) -> ApiError:
    return ApiError(413, Reason.REQUEST_ENTITY_TOO_LARGE, f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str, accepted: Sequence[str]) -> ApiError:
    del content_type  # the real message lists only what would have been accepted
    return ApiError(
        415,
        Reason.UNSUPPORTED_MEDIA_TYPE,
        "the body of the request was in an unknown format - accepted media types include: " + ", ".join(accepted),
    )


def not_acceptable(accepted: Sequence[str]) -> ApiError:
    return ApiError(406, Reason.NOT_ACCEPTABLE, "only the following media types are accepted: " + ", ".join(accepted))


def timeout(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(504, Reason.TIMEOUT, message, {"retryAfterSeconds": retry_after})


def too_large_resource_version(requested: int) -> ApiError:
    """A list or watch at a resourceVersion the store has not reached yet (storage/cacher)."""
    return ApiError(
        504,
        Reason.TIMEOUT,
        f"Too large resource version: {requested}, current: (waited too long)",
        {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        },
    )


def internal(message: str) -> ApiError:
    return ApiError(
        500, Reason.INTERNAL_ERROR, f"Internal error occurred: {message}", {"causes": [{"message": message}]}
    )


def namespace_terminating(namespace: str, group: str, resource: str, name: str) -> ApiError:
    return forbidden_error(
        group,
        resource,
        name,
        f"unable to create new content in namespace {namespace} because it is being terminated",
    )


__all__ = [
    "ApiError",
    "FieldError",
    "FieldErrorType",
    "OPTIMISTIC_LOCK",
    "Reason",
    "already_exists",
    "bad_request",
    "conflict",
    "duplicate",
    "expired",
    "forbidden",
    "forbidden_error",
    "gone",
    "go_repr",
    "internal",
    "invalid",
    "invalid_object",
    "method_not_allowed",
    "namespace_terminating",
    "not_acceptable",
    "not_found",
    "not_supported",
    "qualified",
    "required",
    "resource_not_found",
    "timeout",
    "too_large",
    "too_large_resource_version",
    "too_long",
    "too_many",
    "too_old_resource_version",
    "unauthorized",
    "unsupported_media_type",
]
