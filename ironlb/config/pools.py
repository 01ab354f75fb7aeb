"""IPAddressPool: address syntax, service allocation, and the rule that no two pools share an address.

Theory of operation
-------------------
Each ``addresses`` entry is a CIDR (``192.0.2.0/24``, ``2001:db8::/120``) or an inclusive range
(``192.0.2.10-192.0.2.20``), surrounding whitespace ignored. Ranges become the smallest list of CIDRs that covers
them, as MetalLB's ``ipaddr.Summarize`` does, and every later rule (overlap, aggregation length) works on those
CIDRs. A CIDR with host bits set (``192.0.2.1/24``) is read as its network, as Go's ``net.ParseCIDR`` does;
ironlb warns about it because it is almost always a typo.

``serviceAllocation`` restricts a pool to some namespaces and Services. ``namespaceSelectors`` are resolved here,
against the Namespace labels the caller passes in, into the pool's namespace set (so the parse is redone when
Namespace labels change - the daemons do that, as MetalLB does).

Overlap (MetalLB: "CIDR ... overlaps with already defined CIDR ...") is checked over every CIDR of every pool,
within one pool too, in the canonical order (pools by name, entries as written): the later one is the error.
The check sorts intervals once and sweeps, so a configuration without overlaps costs O(n log n), not O(n^2).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ironlb.api.addresses import IPNetwork, address_range_to_networks, parse_ip
from ironlb.config.drafts import AddressEntry, PoolDraft
from ironlb.config.errors import ConfigError
from ironlb.config.fields import Fields
from ironlb.config.model import Pool, ServiceAllocation
from ironlb.config.report import Report, q

SPEC_FIELDS = ("addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation")
ALLOCATION_FIELDS = ("priority", "namespaces", "namespaceSelectors", "serviceSelectors")
ADDRESS_HINT = "write a CIDR such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20"

_CIDR = re.compile(r"^([^/\s]+)/([0-9]{1,3})$")
_INT32 = (-(1 << 31), (1 << 31) - 1)


class AddressError(ValueError):
    """An ``addresses`` entry that is neither a CIDR nor a range; the message follows the quoted value."""


def parse_address(text: str) -> tuple[tuple[IPNetwork, ...], bool]:
    """One ``addresses`` entry -> (its CIDRs, whether a CIDR had host bits set). Raises :class:`AddressError`."""
    entry = text.strip()
    if "-" in entry:
        first_text, last_text = entry.split("-", 1)
        first, last = parse_ip(first_text), parse_ip(last_text)
        if first is None:
            raise AddressError(f"is not a valid range: invalid start IP {q(first_text.strip())}; {ADDRESS_HINT}")
        if last is None:
            raise AddressError(f"is not a valid range: invalid end IP {q(last_text.strip())}; {ADDRESS_HINT}")
        if first.version != last.version:
            raise AddressError(
                f"is not a valid range: start IP {first} and end IP {last} are not of the same IP family; "
                "write one range per family"
            )
        if int(first) > int(last):
            raise AddressError(
                f"is not a valid range: start IP {q(str(first))} is after the end IP {q(str(last))}; "
                "write the lower address first"
            )
        return address_range_to_networks(first, last), False
    match = _CIDR.match(entry)
    if match is None:
        if parse_ip(entry) is not None:
            single = "32" if ":" not in entry else "128"
            raise AddressError(f"is a single address, not a CIDR; write {entry}/{single} for one address")
        raise AddressError(f"is neither a CIDR nor a range; {ADDRESS_HINT}")
    address, prefix = parse_ip(match.group(1)), int(match.group(2))
    if address is None or prefix > address.max_prefixlen:
        raise AddressError(f"is neither a CIDR nor a range; {ADDRESS_HINT}")
    network = ipaddress.ip_network((address, prefix), strict=False)
    return (network,), network.network_address != address


def read_addresses(spec: Fields, key: str, *, required_hint: str) -> tuple[AddressEntry, ...]:
    """The ``addresses`` list of a pool (CR or legacy): every entry parsed, every bad entry reported."""
    if not spec.has(key):
        spec.error(key, f"is required: pool has no prefixes defined; {required_hint}")
        return ()
    items = spec.items(key, item="CIDRs or ranges")
    if not items and isinstance(spec.get(key), list):
        spec.error(key, f"is empty: pool has no prefixes defined; {required_hint}")
    entries: list[AddressEntry] = []
    for path, raw in items:
        if not isinstance(raw, str):
            spec.report.add(spec.where.at(path, f"must be a string; {ADDRESS_HINT}"))
            continue
        try:
            cidrs, host_bits = parse_address(raw)
        except AddressError as exc:
            spec.report.add(spec.where.at(path, f"{q(raw)} {exc}"))
            continue
        if host_bits:
            spec.report.warn(
                f"{spec.where.heading}: {path} {q(raw)} has host bits set and is read as {cidrs[0]}, as MetalLB "
                "reads it; write the network address to silence this warning"
            )
        entries.append(AddressEntry(path, raw, cidrs))
    return tuple(entries)


def read_pool_cr(
    name: str, spec: Fields, labels: Mapping[str, str], namespace_labels: Mapping[str, Mapping[str, str]]
) -> PoolDraft:
    """One IPAddressPool's spec -> a draft (the pool is complete; overlaps are checked across pools later)."""
    entries = read_addresses(spec, "addresses", required_hint=ADDRESS_HINT)
    auto_assign = spec.boolean("autoAssign")
    avoid_buggy = spec.boolean("avoidBuggyIPs")
    allocation = None
    if spec.get("serviceAllocation") is not None:
        allocation = _read_allocation(
            spec.mapping("serviceAllocation", known=ALLOCATION_FIELDS, what="serviceAllocation"), namespace_labels
        )
    pool = Pool(
        name=name,
        cidrs=tuple(c for e in entries for c in e.cidrs),
        auto_assign=True if auto_assign is None else auto_assign,
        avoid_buggy_ips=bool(avoid_buggy),
        allocation=allocation,
        labels=MappingProxyType(dict(labels)),
    )
    return PoolDraft(spec.where, pool, entries)


def _read_allocation(fields: Fields, namespace_labels: Mapping[str, Mapping[str, str]]) -> ServiceAllocation:
    priority = fields.integer("priority", *_INT32, hint="lower numbers are tried first; 0 is tried last")
    namespaces = fields.strings("namespaces", label="namespaces")
    ns_selectors = fields.selectors("namespaceSelectors", label="namespaceSelectors")
    svc_selectors = fields.selectors("serviceSelectors", label="serviceSelectors")
    resolved: frozenset[str] | None = None
    if fields.has("namespaces") or fields.has("namespaceSelectors"):
        chosen = {ns for _, ns in namespaces}
        for ns_name, ns_labels in namespace_labels.items():
            if any(sel.matches(ns_labels) for sel in ns_selectors):
                chosen.add(ns_name)
        resolved = frozenset(chosen)
    return ServiceAllocation(
        priority=priority or 0,
        namespaces=resolved,
        namespace_selectors=ns_selectors,
        service_selectors=svc_selectors,
    )


@dataclass(frozen=True, slots=True)
class _Interval:
    version: int
    first: int
    last: int
    order: int
    draft: PoolDraft
    entry: AddressEntry
    cidr: IPNetwork


def check_overlaps(drafts: list[PoolDraft], report: Report) -> None:
    """Report every CIDR that overlaps a CIDR defined before it (pools in the given order, entries as written)."""
    intervals: list[_Interval] = []
    for draft in drafts:
        for entry in draft.entries:
            for cidr in entry.cidrs:
                first = int(cidr.network_address)
                intervals.append(
                    _Interval(cidr.version, first, first + cidr.num_addresses - 1, len(intervals), draft, entry, cidr)
                )
    intervals.sort(key=lambda i: (i.version, i.first, i.order))
    active: list[_Interval] = []
    reported: set[tuple[int, int]] = set()
    for current in intervals:
        active = [a for a in active if a.version == current.version and a.last >= current.first]
        for other in active:
            earlier, later = (other, current) if other.order < current.order else (current, other)
            key = (id(later.entry), id(earlier.entry))
            if key in reported:
                continue
            reported.add(key)
            report.add(_overlap_error(later, earlier))
        active.append(current)


def _overlap_error(later: _Interval, earlier: _Interval) -> ConfigError:
    return later.draft.where.at(
        later.entry.field,
        f"{q(later.entry.text)}: CIDR {q(str(later.cidr))} in pool {q(later.draft.pool.name)} overlaps with already "
        f"defined CIDR {q(str(earlier.cidr))} in pool {q(earlier.draft.pool.name)} ({earlier.entry.field}); "
        "pools must not share addresses, so remove or narrow one of them",
    )


__all__ = ["ADDRESS_HINT", "SPEC_FIELDS", "AddressError", "check_overlaps", "parse_address", "read_pool_cr"]
