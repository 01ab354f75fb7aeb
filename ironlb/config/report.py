"""Where a problem is, and the sentence that says so.

Theory of operation
-------------------
The parser never stops at the first problem: every module appends to one :class:`Report` and carries on, so a
user sees every mistake in one pass (``ironlbctl validate`` prints them all). Each error is built by a
:class:`Where` - the object being read - so that every sentence starts the same way and names the kind, the
object and the field::

    IPAddressPool "first-pool": spec.addresses[0] "10.0.0.0/33" is neither a CIDR nor a range; ...
    ConfigMap "config" pool "default": address-pools[0].protocol "l2" is not a protocol; ...

Values are quoted the way MetalLB's Go code quotes them (``%q``: double quotes), because users grep their logs
and our messages for the same fragments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ironlb.config.errors import ConfigError

#: Longest rendering of a user value inside a message; fuzzed or pasted blobs must not flood the output.
_MAX_SHOWN = 80


def q(text: object) -> str:
    """Double-quote ``text`` as Go's ``%q`` does (JSON string syntax), shortened when very long."""
    shown = str(text)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def show(value: Any) -> str:
    """A short, YAML-flavoured rendering of any user value for a message."""
    if isinstance(value, str):
        return q(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def sentence(text: str) -> str:
    """End ``text`` with a period unless it already ends a sentence."""
    return text if text.endswith((".", "!", "?")) else text + "."


@dataclass(frozen=True, slots=True)
class Where:
    """The object a message is about: its kind and name for :class:`ConfigError`, and the heading of the message."""

    kind: str
    name: str
    heading: str

    @classmethod
    def cr(cls, kind: str, name: str) -> Where:
        return cls(kind, name, f"{kind} {q(name)}")

    def at(self, field_path: str, text: str, *, transient: bool = False) -> ConfigError:
        """``<heading>: <field> <text>`` - for the usual "this field holds this bad value" sentence.

        Without a field the text continues the heading: ``BGPPeer "b" is an exact duplicate of ...``.
        """
        message = f"{self.heading}: {field_path} {text}" if field_path else f"{self.heading} {text}"
        return ConfigError(self.kind, self.name, field_path, sentence(message), transient)

    def say(self, field_path: str, text: str, *, transient: bool = False) -> ConfigError:
        """``<heading>: <text>`` - for sentences that name their fields themselves."""
        return ConfigError(self.kind, self.name, field_path, sentence(f"{self.heading}: {text}"), transient)


@dataclass(slots=True)
class Report:
    """Collects every error and warning of one parse."""

    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, error: ConfigError) -> None:
        self.errors.append(error)

    def warn(self, text: str) -> None:
        text = sentence(text)
        if text not in self.warnings:
            self.warnings.append(text)

    @property
    def error_count(self) -> int:
        return len(self.errors)


__all__ = ["Report", "Where", "q", "sentence", "show"]
