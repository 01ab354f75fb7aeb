"""Typed reading of raw fields: one place that turns "whatever the YAML said" into Python values or errors.

Theory of operation
-------------------
Objects arrive as raw mappings (from the API, a YAML file, or the legacy ConfigMap) and may hold anything: a list
where a string belongs, ``"yes"`` for a boolean, a typo in a field name. :class:`Fields` wraps one mapping and
hands out typed values; every mismatch becomes an error sentence in the :class:`Report` and the getter returns
``None`` (or an empty result), so the caller carries on and the parse collects every problem in one pass.

Rules shared by every kind:

* ``null`` is the same as absent (Kubernetes treats an explicit null for an optional field as unset);
* booleans are only ``true``/``false`` and integers are never booleans (``True`` is an ``int`` in Python);
* unknown field names are errors that list the valid names - ``kubectl apply`` rejects them the same way with
  strict field validation, and a typo such as ``adresses`` must not be silently ignored;
* lists that MetalLB de-duplicates by rejecting (pool names, peers, communities, selectors) report
  ``duplicate definition of ...``, MetalLB's own fragment.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ironlb.api.selectors import LabelSelector, SelectorError
from ironlb.config.report import Report, Where, q, show

#: Linux IFNAMSIZ is 16 including the terminating NUL; '/', ':' and whitespace are never valid in a name.
_IFNAME = re.compile(r"^[^/\s:]{1,15}$")


def interface_name_error(name: str) -> str | None:
    """Why ``name`` cannot be a Linux interface name (the rest of a sentence), or None when it can."""
    if _IFNAME.match(name):
        return None
    return f"{q(name)} is not a Linux interface name; write 1 to 15 characters without '/', ':' or spaces, e.g. eth0"


class Fields:
    """Typed access to one raw mapping at ``path``, reporting into ``report``."""

    def __init__(
        self,
        raw: Any,
        where: Where,
        report: Report,
        *,
        path: str,
        known: Collection[str],
        what: str,
    ) -> None:
        self.where = where
        self.report = report
        self.path = path
        self.raw: Mapping[str, Any] = {}
        if raw is None:
            return
        if not isinstance(raw, Mapping):
            report.add(where.at(path, f"must be an object with the fields of {what}, not {show(raw)}"))
            return
        clean: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str):
                report.add(where.at(path, f"has a key {show(key)} that is not a field name; keys must be strings"))
                continue
            if key not in known:
                report.add(
                    where.at(
                        self.sub(key),
                        f"is not a field of {what}; the fields are {', '.join(sorted(known))}",
                    )
                )
                continue
            clean[key] = value
        self.raw = clean

    # -- paths -------------------------------------------------------------------------------------
    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def error(self, key: str, text: str, *, transient: bool = False) -> None:
        self.report.add(self.where.at(self.sub(key), text, transient=transient))

    # -- scalars -----------------------------------------------------------------------------------
    def string(self, key: str, *, required: bool = False, hint: str = "") -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.error(key, f"is required{'; ' + hint if hint else ''}")
            return None
        if not isinstance(value, str):
            self.error(key, f"{show(value)} must be a string{'; ' + hint if hint else ''}")
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.error(key, f"{show(value)} must be true or false")
            return None
        return value

    def integer(
        self, key: str, low: int, high: int, *, required: bool = False, unit: str = "", hint: str = ""
    ) -> int | None:
        value = self.raw.get(key)
        number = f"a whole number of {unit}" if unit else "a whole number"
        wanted = f"{number} from {low} to {high}" + (f"; {hint}" if hint else "")
        if value is None:
            if required:
                self.error(key, f"is required; write {wanted}")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"{show(value)} must be {wanted}")
            return None
        if not low <= value <= high:
            self.error(key, f"{value} is out of range; write {wanted}")
            return None
        return value

    # -- collections -------------------------------------------------------------------------------
    def items(self, key: str, *, item: str) -> list[tuple[str, Any]]:
        """The entries of a list field as ``(path, raw value)``; a non-list is reported and reads as empty."""
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, f"must be a list of {item}, not {show(value)}")
            return []
        return [(f"{self.sub(key)}[{index}]", entry) for index, entry in enumerate(value)]

    def strings(self, key: str, *, label: str | None = None) -> list[tuple[str, str]]:
        """A list of strings as ``(path, value)``; with ``label``, repeated values are errors."""
        found: list[tuple[str, str]] = []
        seen: set[str] = set()
        for path, entry in self.items(key, item="strings"):
            if not isinstance(entry, str):
                self.report.add(self.where.at(path, f"{show(entry)} must be a string"))
                continue
            if label is not None and entry in seen:
                self.report.add(self.where.at(path, f"repeats {q(entry)}: duplicate definition of {label} {q(entry)}"))
                continue
            seen.add(entry)
            found.append((path, entry))
        return found

    def mapping(self, key: str, *, known: Collection[str], what: str) -> Fields:
        return Fields(self.raw.get(key), self.where, self.report, path=self.sub(key), known=known, what=what)

    def selectors(self, key: str, *, label: str) -> tuple[LabelSelector, ...]:
        """A list of label selectors (OR), sorted so that equal lists compare equal; repeats are errors."""
        found: list[LabelSelector] = []
        for path, entry in self.items(key, item="label selectors"):
            selector = compile_selector(entry, self.where, self.report, path=path)
            if selector is None:
                continue
            if selector in found:
                self.report.add(
                    self.where.at(path, f"repeats selector {q(str(selector))}: duplicate definition of {label}")
                )
                continue
            found.append(selector)
        return tuple(sorted(found, key=str))


def compile_selector(raw: Any, where: Where, report: Report, *, path: str) -> LabelSelector | None:
    """Compile one ``metav1.LabelSelector`` object, reporting MetalLB's duplicate checks and syntax errors."""
    if isinstance(raw, Mapping):
        expressions = raw.get("matchExpressions")
        if isinstance(expressions, list):
            seen_expr: list[Any] = []
            for index, expr in enumerate(expressions):
                if not isinstance(expr, Mapping):
                    continue
                values = expr.get("values")
                if isinstance(values, list):
                    hashable = [v for v in values if isinstance(v, str)]
                    repeated = sorted({v for v in hashable if hashable.count(v) > 1})
                    if repeated:
                        report.add(
                            where.at(
                                f"{path}.matchExpressions[{index}].values",
                                f"repeats {q(repeated[0])}: duplicate definition of match expression value in "
                                "label selector",
                            )
                        )
                        return None
                canon = (
                    expr.get("key"),
                    expr.get("operator"),
                    sorted(map(str, values)) if isinstance(values, list) else values,
                )
                if canon in seen_expr:
                    report.add(
                        where.at(
                            f"{path}.matchExpressions[{index}]",
                            "repeats an earlier expression: duplicate definition of match expressions",
                        )
                    )
                    return None
                seen_expr.append(canon)
    try:
        return LabelSelector.from_object(raw if raw is not None else {})
    except SelectorError as exc:
        report.add(where.at(path, f"is not a valid label selector: {exc}"))
        return None
    except (TypeError, ValueError) as exc:  # unhashable or odd values deep inside; never escape the parser
        report.add(where.at(path, f"is not a valid label selector: {exc}"))
        return None


__all__ = ["Fields", "compile_selector", "interface_name_error"]
