"""``?labelSelector=`` and ``?fieldSelector=`` as kube-apiserver parses and applies them.

Label selectors use the project's one parser (:meth:`ironlb.api.selectors.LabelSelector.parse`); a selector
it refuses is a 400 BadRequest, as ``labels.Parse`` failures are upstream. Field selectors are the simple
``key=value,key!=value`` grammar of ``fields.ParseSelector``; each registry supports a fixed set of field
labels (``metadata.name`` everywhere, ``spec.nodeName`` for Pods, ``involvedObject.*`` for Events, ``type``
for Secrets...), and a label it does not know is refused with "field label not supported" - which is why a
``spec.type`` selector on Services fails against a real 1.30 server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hack.lab.apiserver import errors
from hack.lab.apiserver.resources import ResourceType
from ironlb.api.selectors import LabelSelector, SelectorError

JSON = dict[str, Any]


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``?labelSelector=``.

    Raises:
        ApiError: 400 BadRequest with the parser's sentence.
    """
    if not text:
        return LabelSelector()
    try:
        return LabelSelector.parse(text)
    except SelectorError as exc:
        raise errors.bad_request(f"unable to parse requirement: {exc}") from None


@dataclass(frozen=True)
class FieldTerm:
    label: str
    value: str
    negate: bool

    def matches(self, fields: dict[str, str]) -> bool:
        present = fields.get(self.label, "")
        return (present != self.value) if self.negate else (present == self.value)


def _split_terms(text: str) -> list[str]:
    # fields.splitTerms: commas separate terms unless escaped with a backslash.
    terms: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")
    terms.append("".join(current))
    return terms


def _unescape(value: str) -> str:
    out: list[str] = []
    it = iter(value)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            if nxt not in ("\\", ",", "="):
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
        else:
            out.append(ch)
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, bool] | None:
    # fields.splitTerm: the leftmost operator wins; at one position "!=" and "==" are tried before "=".
    for i in range(len(term)):
        for op, negate in (("!=", True), ("==", False), ("=", False)):
            if term.startswith(op, i):
                return term[:i], term[i + len(op) :], negate
    return None


def parse_field_selector(text: str | None, rt: ResourceType) -> list[FieldTerm]:
    """Parse ``?fieldSelector=`` and check each label against what ``rt``'s registry supports.

    Raises:
        ApiError: 400 BadRequest for bad syntax or an unsupported field label.
    """
    if not text:
        return []
    terms: list[FieldTerm] = []
    for raw in _split_terms(text):
        if raw == "":
            continue
        split = _split_term(raw)
        if split is None:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
        label, value, negate = split
        try:
            value = _unescape(value)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        label = label.strip()
        if not rt.supports_field(label):
            raise errors.bad_request(f"field label not supported: {label}")
        terms.append(FieldTerm(label, value, negate))
    return terms


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_values(obj: JSON, rt: ResourceType) -> dict[str, str]:
    """The selectable fields of ``obj`` (``ToSelectableFields`` of its registry)."""
    m = obj.get("metadata") or {}
    out = {"metadata.name": _str(m.get("name")), "metadata.namespace": _str(m.get("namespace"))}
    for label in rt.field_labels:
        value: Any = obj
        for part in label.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if label == "status.podIPs":
            value = ",".join(p.get("ip", "") for p in (obj.get("status") or {}).get("podIPs") or [])
        elif label == "source":
            source = obj.get("source") or {}
            value = source.get("component") or obj.get("reportingComponent")
        elif label in ("spec.unschedulable", "spec.hostNetwork"):
            value = bool(value)
        elif label == "status.replicas":
            value = int(value or 0)
        out[label] = _str(value)
    return out


def make_filter(labels: LabelSelector, fields: list[FieldTerm], rt: ResourceType) -> Callable[[JSON], bool]:
    """One predicate for lists and watches: labels first (cheap), then fields."""
    if labels.is_empty and not fields:
        return lambda _obj: True

    def matches(obj: JSON) -> bool:
        if not labels.is_empty and not labels.matches((obj.get("metadata") or {}).get("labels") or {}):
            return False
        if fields:
            values = field_values(obj, rt)
            return all(t.matches(values) for t in fields)
        return True

    return matches


def single_name(fields: list[FieldTerm]) -> str | None:
    """The name a ``metadata.name=X`` selector pins (kubectl's wait and ``get -w NAME`` use this)."""
    for term in fields:
        if term.label == "metadata.name" and not term.negate:
            return term.value
    return None


__all__ = ["FieldTerm", "field_values", "make_filter", "parse_field_selector", "parse_label_selector", "single_name"]
