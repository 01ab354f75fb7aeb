"""Kubernetes label selectors, in both of their forms.

* The object form (``metav1.LabelSelector``: ``matchLabels`` + ``matchExpressions``) appears in every
  metallb.io CR (nodeSelectors, serviceSelectors, ipAddressPoolSelectors, namespaceSelectors).
* The string form (``a=b,c!=d,e in (x,y),!f``) is what the API server accepts in ``?labelSelector=``.

Both compile to the same :class:`LabelSelector`, so matching has one implementation. Semantics follow
apimachinery's ``labels.Selector``: requirements are ANDed; an empty selector matches everything;
``NotIn`` and ``!=`` match objects that lack the key.

Parsing raises :class:`SelectorError` with a sentence that says what is wrong and what would be valid;
callers that collect errors (the configuration parser) prefix it with the object and field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# apimachinery validation: a qualified name is an optional DNS-subdomain prefix and a name part.
_NAME_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message is a complete sentence."""


class Operator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None when it is."""
    if not key:
        return "a label key must not be empty"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"label key {key!r} has an empty prefix before '/'"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key prefix {prefix!r} must be a lowercase DNS subdomain of at most 253 characters"
    if len(name) > 63 or not _NAME_PART.match(name):
        return (
            f"label key name {name!r} must be 1-63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None when it is."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return (
            f"label value {value!r} must be at most 63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case Operator.IN:
                return present and labels[self.key] in self.values
            case Operator.NOT_IN:
                return not present or labels[self.key] not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present

    def __str__(self) -> str:
        values = ",".join(sorted(self.values))
        match self.operator:
            case Operator.IN:
                return f"{self.key}={values}" if len(self.values) == 1 else f"{self.key} in ({values})"
            case Operator.NOT_IN:
                return f"{self.key}!={values}" if len(self.values) == 1 else f"{self.key} notin ({values})"
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of requirements. ``LabelSelector()`` matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    @classmethod
    def from_object(cls, obj: Any) -> LabelSelector:
        """Compile the object form (``{"matchLabels": ..., "matchExpressions": [...]}``)."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise SelectorError(
                f"a label selector must be an object with matchLabels and/or matchExpressions, not {obj!r}"
            )
        unknown = sorted(set(obj) - {"matchLabels", "matchExpressions"})
        if unknown:
            raise SelectorError(
                f"a label selector has only matchLabels and matchExpressions; {', '.join(unknown)} is not a field"
            )
        reqs: list[Requirement] = []
        match_labels = obj.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise SelectorError(f"matchLabels must map label keys to values, not {match_labels!r}")
        for key, value in match_labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SelectorError(f"matchLabels entry {key!r}: {value!r} must map a string to a string")
            _check_key(key)
            _check_value(value)
            reqs.append(Requirement(key, Operator.IN, frozenset({value})))
        expressions = obj.get("matchExpressions") or []
        if not isinstance(expressions, list):
            raise SelectorError(f"matchExpressions must be a list, not {expressions!r}")
        for index, expr in enumerate(expressions):
            reqs.append(_requirement_from_object(index, expr))
        return cls(_normalize(reqs))

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Compile the string form used in ``?labelSelector=``."""
        return cls(_normalize(_StringParser(text).parse()))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        return cls(_normalize(Requirement(k, Operator.IN, frozenset({v})) for k, v in labels.items()))


def matches_any(selectors: Iterable[LabelSelector], labels: Mapping[str, str], *, empty: bool = True) -> bool:
    """OR over a list of selectors, as MetalLB treats nodeSelectors/serviceSelectors lists.

    ``empty`` is the answer for an empty list (MetalLB: an empty list selects everything).
    """
    found = False
    for selector in selectors:
        found = True
        if selector.matches(labels):
            return True
    return empty if not found else False


def _normalize(reqs: Iterable[Requirement]) -> tuple[Requirement, ...]:
    # Sorted and de-duplicated so that equal selectors compare equal, whatever order the user wrote.
    return tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator.value, sorted(r.values))))


def _check_key(key: str) -> None:
    error = label_key_error(key)
    if error:
        raise SelectorError(error)


def _check_value(value: str) -> None:
    error = label_value_error(value)
    if error:
        raise SelectorError(error)


def _requirement_from_object(index: int, expr: Any) -> Requirement:
    where = f"matchExpressions[{index}]"
    if not isinstance(expr, Mapping):
        raise SelectorError(f"{where} must be an object with key, operator and values, not {expr!r}")
    key = expr.get("key")
    if not isinstance(key, str):
        raise SelectorError(f"{where}.key must be a label key string")
    _check_key(key)
    op_text = expr.get("operator")
    try:
        operator = Operator(str(op_text))
    except ValueError:
        raise SelectorError(f"{where}.operator {op_text!r} is not one of In, NotIn, Exists, DoesNotExist") from None
    values = expr.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{where}.values must be a list of strings")
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        raise SelectorError(f"{where}: operator {operator.value} needs at least one value")
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        raise SelectorError(f"{where}: operator {operator.value} takes no values")
    for value in values:
        _check_value(value)
    return Requirement(key, operator, frozenset(values))


class _StringParser:
    """A small recursive-descent parser for the string selector grammar of apimachinery."""

    _TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = self._TOKEN.match(text, pos)
            if not m:  # pragma: no cover - the token pattern accepts every non-space character
                raise SelectorError(f"unable to parse label selector {text!r} at position {pos}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> str:
        tok = self._peek()
        if tok is None:
            raise SelectorError(f"label selector {self.text!r} ends too early")
        self.i += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        if self._peek() is None:
            return reqs
        while True:
            reqs.append(self._requirement())
            tok = self._peek()
            if tok is None:
                return reqs
            if tok != ",":
                raise SelectorError(f"label selector {self.text!r}: expected ',' but found {tok!r}")
            self._next()

    def _requirement(self) -> Requirement:
        tok = self._next()
        if tok == "!":
            key = self._next()
            _check_key(key)
            return Requirement(key, Operator.DOES_NOT_EXIST)
        key = tok
        _check_key(key)
        op = self._peek()
        if op is None or op == ",":
            return Requirement(key, Operator.EXISTS)
        self._next()
        if op in ("=", "=="):
            value = self._value()
            return Requirement(key, Operator.IN, frozenset({value}))
        if op == "!=":
            value = self._value()
            return Requirement(key, Operator.NOT_IN, frozenset({value}))
        if op in ("in", "notin"):
            values = self._set()
            return Requirement(key, Operator.IN if op == "in" else Operator.NOT_IN, frozenset(values))
        raise SelectorError(
            f"label selector {self.text!r}: {op!r} after {key!r} is not an operator (=, ==, !=, in, notin)"
        )

    def _value(self) -> str:
        tok = self._peek()
        if tok is None or tok in (",", ")", "("):
            return ""
        self._next()
        _check_value(tok)
        return tok

    def _set(self) -> list[str]:
        if self._next() != "(":
            raise SelectorError(f"label selector {self.text!r}: 'in' and 'notin' need a list in parentheses")
        values: list[str] = []
        while True:
            tok = self._next()
            if tok == ")":
                break
            if tok == ",":
                continue
            _check_value(tok)
            values.append(tok)
        if not values:
            raise SelectorError(f"label selector {self.text!r}: an 'in' or 'notin' list must not be empty")
        return values


__all__ = [
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "label_key_error",
    "label_value_error",
    "matches_any",
]
