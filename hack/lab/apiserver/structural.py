"""Custom resources against their CRD's ``openAPIV3Schema``: pruning, defaulting and validation.

The order is the apiextensions-apiserver's: the request body is pruned (fields the structural schema does not
declare are dropped, except under ``x-kubernetes-preserve-unknown-fields``; ``null`` where the schema is not
``nullable`` is dropped too), then defaulted (``default`` of absent properties, recursively), then validated.
Validation runs the schema through ``jsonschema`` (OpenAPI v3.0 is close to draft 4; ``nullable`` and
``x-kubernetes-int-or-string`` are translated, formats are the Kubernetes ones) and maps each error to the
field error kube-openapi's validator reports, then checks ``x-kubernetes-list-type`` uniqueness and evaluates
``x-kubernetes-validations`` CEL rules with :mod:`.cel` (``oldSelf`` rules only on update, where both values
exist, as transition rules are).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]

from hack.lab.apiserver import cel, errors
from hack.lab.apiserver.errors import FieldError

JSON = dict[str, Any]
log = logging.getLogger(__name__)

_FORMATS = jsonschema.FormatChecker(formats=())


def _fmt(name: str) -> Callable[[Callable[[object], bool]], Callable[[object], bool]]:
    checks: Callable[[Callable[[object], bool]], Callable[[object], bool]] = _FORMATS.checks(
        name, raises=(ValueError, TypeError)
    )
    return checks


@_fmt("ipv4")
def _ipv4(value: object) -> bool:
    return not isinstance(value, str) or isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address)


@_fmt("ipv6")
def _ipv6(value: object) -> bool:
    return not isinstance(value, str) or isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)


@_fmt("cidr")
def _cidr(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.ip_network(value, strict=False))


@_fmt("uuid")
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


@_fmt("byte")
def _byte(value: object) -> bool:
    return not isinstance(value, str) or base64.b64decode(value, validate=True) is not None


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@_fmt("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@_fmt("hostname")
def _hostname(value: object) -> bool:
    return not isinstance(value, str) or bool(
        re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", value)
    )


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI v3.0 structural schema -> draft 4 schema for ``jsonschema``."""
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: JSON = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes") or key in ("default", "nullable", "description", "example"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_jsonschema(v) for k, v in value.items()}
        else:
            out[key] = _to_jsonschema(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        if "anyOf" not in out and "allOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _path(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class CompiledSchema:
    """One version's ``openAPIV3Schema``, ready to prune, default and validate objects."""

    def __init__(self, schema: JSON) -> None:
        self.schema = schema
        self._validator = jsonschema.Draft4Validator(_to_jsonschema(schema), format_checker=_FORMATS)
        self.rules: list[tuple[list[str], JSON, cel.Node]] = []
        self.skipped: list[str] = []
        self._collect_rules(schema, [])

    # ------------------------------------------------------------------------------------ pruning

    def prune(self, obj: JSON) -> tuple[JSON, list[str]]:
        """Drop undeclared fields; returns the pruned copy and the dropped paths (for strict decoding)."""
        unknown: list[str] = []
        pruned = self._prune(obj, self.schema, "", unknown, root=True)
        return pruned, unknown

    def _prune(self, value: Any, schema: JSON, path: str, unknown: list[str], *, root: bool = False) -> Any:
        if isinstance(value, dict):
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
            embedded = bool(schema.get("x-kubernetes-embedded-resource"))
            out: JSON = {}
            for key, sub in value.items():
                child = f"{path}.{key}" if path else key
                sub_schema = props.get(key) if isinstance(props, dict) else None
                if sub_schema is None and isinstance(extra, dict):
                    sub_schema = extra
                if sub is None and not (sub_schema or {}).get("nullable") and (sub_schema is not None or preserve):
                    continue
                if (root or embedded) and key in ("apiVersion", "kind", "metadata"):
                    out[key] = sub
                elif sub_schema is not None:
                    out[key] = self._prune(sub, sub_schema, child, unknown)
                elif preserve or extra is True:
                    out[key] = sub
                else:
                    unknown.append(child)
            return out
        if isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                return [self._prune(v, items, path, unknown) for v in value]
        return value

    # ------------------------------------------------------------------------------------ defaulting

    def default(self, obj: JSON) -> JSON:
        result = copy.deepcopy(obj)
        self._default(result, self.schema)
        return result

    def _default(self, value: Any, schema: JSON) -> None:
        if isinstance(value, dict):
            props = schema.get("properties")
            if isinstance(props, dict):
                for key, sub in props.items():
                    if key not in value and isinstance(sub, dict) and "default" in sub:
                        value[key] = copy.deepcopy(sub["default"])
                    if key in value:
                        self._default(value[key], sub)
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for key in value:
                    self._default(value[key], extra)
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                for v in value:
                    self._default(v, items)

    # ------------------------------------------------------------------------------------ validation

    def validate(self, obj: JSON, old: JSON | None = None) -> list[FieldError]:
        out: list[FieldError] = []
        for err in sorted(self._validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            mapped = self._map_error(err)
            if mapped is not None:
                out.append(mapped)
        out.extend(self._list_types(obj, self.schema, ""))
        out.extend(self._run_rules(obj, old))
        return out

    def _map_error(self, err: jsonschema.ValidationError) -> FieldError | None:
        parts = list(err.absolute_path)
        where = _path(parts)
        value = err.instance
        kind = err.validator
        arg = err.validator_value
        if kind == "required":
            missing = err.message.split("'")[1] if "'" in err.message else str(arg)
            return errors.required(_path([*parts, missing]))
        if kind == "type":
            want = arg if isinstance(arg, str) else next((t for t in arg if t != "null"), "object")
            shown = _type_name(value)
            return errors.invalid(where, shown, f'{where} in body must be of type {want}: "{shown}"')
        if kind == "enum":
            return errors.not_supported(where, value, [str(v) for v in arg])
        if kind == "pattern":
            return errors.invalid(where, value, f"{where} in body should match '{arg}'")
        if kind == "format":
            return errors.invalid(where, value, f"{where} in body must be of type {arg}: {errors.go_repr(value)}")
        if kind == "minimum":
            exclusive = (err.schema or {}).get("exclusiveMinimum") is True
            rel = "greater than" if exclusive else "greater than or equal to"
            return errors.invalid(where, value, f"{where} in body should be {rel} {arg}")
        if kind == "maximum":
            exclusive = (err.schema or {}).get("exclusiveMaximum") is True
            rel = "less than" if exclusive else "less than or equal to"
            return errors.invalid(where, value, f"{where} in body should be {rel} {arg}")
        if kind == "minLength":
            return errors.invalid(where, value, f"{where} in body should be at least {arg} chars long")
        if kind == "maxLength":
            return errors.FieldError(errors.FieldErrorType.TOO_LONG, where, detail=f"may not be more than {arg} bytes")
        if kind == "minItems":
            return errors.invalid(where, len(value), f"{where} in body should have at least {arg} items")
        if kind == "maxItems":
            return errors.too_many(where, len(value), int(arg))
        if kind == "minProperties":
            return errors.invalid(where, len(value), f"{where} in body should have at least {arg} properties")
        if kind == "maxProperties":
            return errors.too_many(where, len(value), int(arg))
        if kind == "uniqueItems":
            return errors.duplicate(where, value)
        if kind == "multipleOf":
            return errors.invalid(where, value, f"{where} in body should be a multiple of {arg}")
        if kind in ("anyOf", "oneOf", "allOf", "not"):
            word = {
                "anyOf": "at least one schema in anyOf",
                "oneOf": "exactly one schema in oneOf",
                "allOf": "all schemas in allOf",
                "not": "not the schema in not",
            }[kind]
            return errors.invalid(where, value, f"{where} in body must match {word}")
        return errors.invalid(where, value, err.message)

    def _list_types(self, value: Any, schema: JSON, path: str) -> list[FieldError]:
        out: list[FieldError] = []
        if isinstance(value, list):
            list_type = schema.get("x-kubernetes-list-type")
            if list_type in ("set", "map"):
                keys = schema.get("x-kubernetes-list-map-keys") or []
                seen: list[Any] = []
                for i, item in enumerate(value):
                    ident = (
                        tuple((item or {}).get(k) for k in keys)
                        if list_type == "map" and isinstance(item, dict)
                        else item
                    )
                    if ident in seen:
                        out.append(errors.duplicate(f"{path}[{i}]", item))
                    seen.append(ident)
            items = schema.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(value):
                    out.extend(self._list_types(item, items, f"{path}[{i}]"))
        elif isinstance(value, dict):
            props = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for key, sub in value.items():
                sub_schema = props.get(key) if isinstance(props, dict) else None
                if sub_schema is None and isinstance(extra, dict):
                    sub_schema = extra
                if isinstance(sub_schema, dict):
                    out.extend(self._list_types(sub, sub_schema, f"{path}.{key}" if path else key))
        return out

    # ------------------------------------------------------------------------------------ CEL rules

    def _collect_rules(self, schema: Any, where: list[str]) -> None:
        if not isinstance(schema, dict):
            return
        for rule in schema.get("x-kubernetes-validations") or []:
            text = str(rule.get("rule", ""))
            try:
                self.rules.append((list(where), rule, cel.compile_rule(text)))
            except cel.CelUnsupported as exc:
                note = f"skipping x-kubernetes-validations rule {text!r} at {'.'.join(where) or '<root>'}: {exc}"
                self.skipped.append(note)
                log.warning("%s", note)
        for key, sub in (schema.get("properties") or {}).items():
            self._collect_rules(sub, [*where, key])
        if isinstance(schema.get("additionalProperties"), dict):
            self._collect_rules(schema["additionalProperties"], [*where, "*"])
        if isinstance(schema.get("items"), dict):
            self._collect_rules(schema["items"], [*where, "[]"])

    def _run_rules(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        out: list[FieldError] = []
        for where, rule, compiled in self.rules:
            transition = cel.uses_old_self(compiled)
            for path, value, old_value in _resolve(obj, old, where, ""):
                if transition and old_value is _MISSING:
                    continue
                env = {"self": value}
                if old_value is not _MISSING:
                    env["oldSelf"] = old_value
                try:
                    ok = cel.evaluate(compiled, env) is True
                    detail = rule.get("message") or f"failed rule: {rule.get('rule')}"
                except cel.CelError as exc:
                    ok = False
                    detail = (
                        f"{rule.get('message') or 'rule'}: evaluation error: {exc}"
                        if not rule.get("message")
                        else rule["message"]
                    )
                if not ok:
                    field_path = path
                    if rule.get("fieldPath"):
                        field_path = (path + str(rule["fieldPath"])) if path else str(rule["fieldPath"]).lstrip(".")
                    shown = _type_name(value) if isinstance(value, dict | list) else value
                    reason = rule.get("reason") or "FieldValueInvalid"
                    if reason == "FieldValueForbidden":
                        out.append(errors.forbidden(field_path, detail))
                    elif reason == "FieldValueRequired":
                        out.append(errors.required(field_path, detail))
                    elif reason == "FieldValueDuplicate":
                        out.append(errors.FieldError(errors.FieldErrorType.DUPLICATE, field_path, shown, detail))
                    else:
                        out.append(errors.invalid(field_path, shown, detail))
        return out


_MISSING = object()


def _resolve(obj: Any, old: Any, where: list[str], path: str) -> Iterator[tuple[str, Any, Any]]:
    """Every value (and its old counterpart) at a schema location; absent values are not checked."""
    if not where:
        yield path, obj, old
        return
    head, rest = where[0], where[1:]
    if head == "[]":
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                yield from _resolve(item, _MISSING, rest, f"{path}[{i}]")
        return
    if head == "*":
        if isinstance(obj, dict):
            for key, item in obj.items():
                prev = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                yield from _resolve(item, prev, rest, f"{path}.{key}" if path else key)
        return
    if isinstance(obj, dict) and head in obj:
        prev = old.get(head, _MISSING) if isinstance(old, dict) else _MISSING
        yield from _resolve(obj[head], prev, rest, f"{path}.{head}" if path else head)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


__all__ = ["CompiledSchema"]
