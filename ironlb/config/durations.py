"""Go duration strings (``metav1.Duration``): ``"90s"``, ``"1m30s"``, ``"500ms"``, ``"1.5h"``.

Theory of operation
-------------------
MetalLB's CRs carry timers as ``metav1.Duration``, which is a string parsed by Go's ``time.ParseDuration``; the
legacy ConfigMap used the same syntax (``hold-time: 120s``). A duration is an optional sign followed by one or
more ``<decimal number><unit>`` terms, units ``ns``, ``us`` (also ``µs``/``μs``), ``ms``, ``s``, ``m``, ``h``;
the bare string ``"0"`` is the only term without a unit. Go keeps durations as signed 64-bit nanoseconds, so
this module does too (exactly, in integers) and refuses what would overflow, as Go does.

The parser is pure and total: :func:`parse_duration` returns nanoseconds or raises :class:`DurationError` with a
sentence fragment the caller puts after the field name.
"""

from __future__ import annotations

import re

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX_NS = (1 << 63) - 1
_TERM = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")

#: Appended to every syntax error so the user sees what would be valid.
SYNTAX_HINT = 'write a Go duration such as "90s", "1m30s" or "500ms"'


class DurationError(ValueError):
    """Not a Go duration; the message continues a sentence about the text: ``"90" has a number without a unit``."""


def parse_duration(text: str) -> int:
    """Parse ``text`` like Go's ``time.ParseDuration`` and return signed nanoseconds."""
    if text in ("0", "+0", "-0"):
        return 0
    if not text:
        raise DurationError("is not a duration")
    negative = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
    if not text:
        raise DurationError("is not a duration")
    total = 0
    pos = 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if match is None or match.end() == pos:  # pragma: no cover - the pattern always matches something
            raise DurationError("is not a duration")
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise DurationError("is not a duration")
        if not unit:
            raise DurationError("has a number without a unit")
        scale = _UNITS.get(unit)
        if scale is None:
            raise DurationError(f"has the unknown unit {unit!r} (the units are ns, us, ms, s, m and h)")
        value = int(whole or "0") * scale
        if fraction:
            # Go truncates digits beyond nanosecond precision; so do we, exactly.
            value += int(fraction) * scale // (10 ** len(fraction))
        total += value
        if total > _MAX_NS:
            raise DurationError("is too long (Go durations end at about 292 years)")
        pos = match.end()
    return -total if negative else total


def format_duration(seconds: float) -> str:
    """Render seconds as a Go duration string that :func:`parse_duration` reads back to the same value."""
    nanos = round(seconds * SECOND)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos % SECOND == 0:
        return f"{sign}{nanos // SECOND}s"
    if nanos % MILLISECOND == 0:
        return f"{sign}{nanos // MILLISECOND}ms"
    if nanos % MICROSECOND == 0:
        return f"{sign}{nanos // MICROSECOND}us"
    return f"{sign}{nanos}ns"


__all__ = [
    "HOUR",
    "MICROSECOND",
    "MILLISECOND",
    "MINUTE",
    "NANOSECOND",
    "SECOND",
    "SYNTAX_HINT",
    "DurationError",
    "format_duration",
    "parse_duration",
]
