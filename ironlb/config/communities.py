"""BGP communities: the value syntax, the Community CR's alias table, and resolving an advertisement's list.

Theory of operation
-------------------
A community is written either as a standard community ``AA:NN`` (RFC 1997: two 16-bit halves) or as a large
community ``large:A:B:C`` (RFC 8092 section 3: three 32-bit parts, "Global Administrator", "Local Data Part 1"
and "Local Data Part 2"). Anything else in a BGPAdvertisement's ``communities`` list is the name of an alias
defined in a Community object (or the legacy ConfigMap's ``bgp-communities``).

MetalLB distinguishes two failures, and so do we: a string with the *shape* of a value but bad numbers
(``65536:1``, ``large:1:2:x``) is always wrong, while a string of another shape might name an alias that simply
does not exist *yet* - that error is transient (``ConfigError.transient``), as in MetalLB's ``TransientError``.
Numbers are decimal digits only, as Go's ``strconv.ParseUint(s, 10, n)`` reads them (no sign, no spaces).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ironlb.config.fields import Fields
from ironlb.config.model import Community, CommunityKind
from ironlb.config.report import Report, Where, q, show

_DIGITS = re.compile(r"^[0-9]+$")
_LARGE_MARKER = "large"
_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF

VALUE_HINT = (
    'write "AA:NN" with two numbers from 0 to 65535 (e.g. "65000:100") or "large:A:B:C" with three numbers '
    'from 0 to 4294967295 (e.g. "large:65000:1:2")'
)


class CommunityError(ValueError):
    """Not a community value. ``maybe_alias`` is true when the text does not even have a value's shape."""

    def __init__(self, reason: str, *, maybe_alias: bool) -> None:
        super().__init__(reason)
        self.maybe_alias = maybe_alias


def _number(part: str, limit: int, text: str) -> int:
    if not _DIGITS.match(part) or int(part) > limit:
        raise CommunityError(
            f"section {q(part)} of community {q(text)} is not a number from 0 to {limit}", maybe_alias=False
        )
    return int(part)


def parse_community(text: str) -> Community:
    """``"65000:100"`` or ``"large:65000:1:2"`` -> :class:`Community`; raises :class:`CommunityError`."""
    parts = text.split(":")
    if len(parts) == 2:
        return Community(CommunityKind.STANDARD, (_number(parts[0], _U16, text), _number(parts[1], _U16, text)))
    if len(parts) == 4:
        if parts[0] != _LARGE_MARKER:
            raise CommunityError(
                f"a large community must start with {q(_LARGE_MARKER + ':')}, as in large:<uint32>:<uint32>:<uint32>",
                maybe_alias=False,
            )
        return Community(CommunityKind.LARGE, tuple(_number(p, _U32, text) for p in parts[1:]))
    raise CommunityError(f"{q(text)} has neither the AA:NN nor the large:A:B:C shape", maybe_alias=True)


@dataclass(frozen=True, slots=True)
class AliasDraft:
    """One alias from a Community object or the legacy ``bgp-communities`` table."""

    where: Where
    field: str
    name: str
    value: Community


def read_community_cr(spec: Fields) -> list[AliasDraft]:
    """``spec.communities[] {name, value}`` of a Community object."""
    found: list[AliasDraft] = []
    for path, raw in spec.items("communities", item="{name, value} objects"):
        entry = Fields(
            raw, spec.where, spec.report, path=path, known=("name", "value"), what="a community alias {name, value}"
        )
        name = entry.string("name", required=True, hint="give the alias a name such as no-export")
        value = entry.string("value", required=True, hint=VALUE_HINT)
        if name is None or value is None:
            continue
        if not name:
            entry.error("name", "is empty; give the alias a name such as no-export")
            continue
        community = _checked(value, spec.where, spec.report, entry.sub("value"))
        if community is not None:
            found.append(AliasDraft(spec.where, entry.sub("name"), name, community))
    return found


def read_legacy_aliases(raw: Any, where: Where, report: Report, *, path: str) -> list[AliasDraft]:
    """The legacy ConfigMap's ``bgp-communities: {name: value}`` table."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        report.add(where.at(path, f"must map alias names to community values, not {show(raw)}"))
        return []
    found: list[AliasDraft] = []
    for name, value in raw.items():
        field_path = f"{path}.{name}"
        if not isinstance(name, str) or not name:
            report.add(where.at(path, f"has the alias name {show(name)}; alias names must be non-empty strings"))
            continue
        if not isinstance(value, str):
            report.add(where.at(field_path, f"{show(value)} must be a string; {VALUE_HINT}"))
            continue
        community = _checked(value, where, report, field_path)
        if community is not None:
            found.append(AliasDraft(where, field_path, name, community))
    return found


def _checked(value: str, where: Where, report: Report, field_path: str) -> Community | None:
    try:
        return parse_community(value)
    except CommunityError as exc:
        report.add(where.at(field_path, f"{q(value)} is not a community value: {exc}; {VALUE_HINT}"))
        return None


def collect_aliases(drafts: list[AliasDraft], report: Report) -> dict[str, Community]:
    """Merge every alias table; a name defined twice is an error wherever the two definitions live."""
    table: dict[str, Community] = {}
    first: dict[str, AliasDraft] = {}
    for draft in drafts:
        if draft.name in first:
            other = first[draft.name]
            report.add(
                draft.where.at(
                    draft.field,
                    f"{q(draft.name)} is already defined by {other.where.heading} ({other.field}): duplicate "
                    f"definition of community {q(draft.name)}; give one of them another name",
                )
            )
            continue
        first[draft.name] = draft
        table[draft.name] = draft.value
    return table


def resolve_communities(
    refs: list[tuple[str, str]], aliases: Mapping[str, Community], where: Where, report: Report
) -> tuple[Community, ...]:
    """An advertisement's ``communities`` entries -> sorted, de-duplicated values (aliases looked up first)."""
    values: set[Community] = set()
    for field_path, text in refs:
        alias = aliases.get(text)
        if alias is not None:
            values.add(alias)
            continue
        try:
            values.add(parse_community(text))
        except CommunityError as exc:
            if exc.maybe_alias:
                report.add(
                    where.at(
                        field_path,
                        f"{q(text)} names no Community alias and is not a community value: invalid community "
                        f"format; define the alias in a Community object, or {VALUE_HINT}",
                        transient=True,
                    )
                )
            else:
                report.add(
                    where.at(
                        field_path,
                        f"{q(text)} is not a community value: invalid community value: {exc}; {VALUE_HINT}",
                    )
                )
    return tuple(sorted(values))


__all__ = [
    "VALUE_HINT",
    "AliasDraft",
    "CommunityError",
    "collect_aliases",
    "parse_community",
    "read_community_cr",
    "read_legacy_aliases",
    "resolve_communities",
]
