"""The Adj-RIB-Out of one session: what we want the peer to hold, what it holds, and the UPDATEs between them.

Theory of operation
-------------------
RFC 4271 section 3.2: "Adj-RIBs-Out contains the routes for advertisement to specific peers by means of the
local speaker's UPDATE messages." Here it is two maps from prefix to :class:`RouteAttrs`: ``desired`` (set by
policy through the session, at any time) and ``sent`` (what the peer has been told on this connection).
:meth:`AdjRibOut.build` turns the difference into UPDATEs and makes ``sent`` equal to what those UPDATEs say:

* withdrawals first, batched: IPv4 in the Withdrawn Routes field, IPv6 in MP_UNREACH_NLRI (RFC 4760 section 4);
* then announcements, grouped by (family, attributes): every prefix that shares its attributes goes into as few
  UPDATEs as fit in 4096 octets (RFC 4271 section 4: "The maximum message size is 4096 octets"). A prefix whose
  attributes change is simply announced again: a new announcement replaces the old (implicit withdraw, RFC 4271
  section 3.1).

The session supplies ``attributes_for(family, route)``, the complete path attributes for a group (origin, AS path,
next hop, LOCAL_PREF on iBGP, ...), or None when the session cannot announce that family (not negotiated, no
next hop of that family): those prefixes stay *pending*, counted but not sent, until the session can.

A dropped connection forgets ``sent`` (:meth:`reset`); a ROUTE-REFRESH forgets one family (:meth:`forget`); a
graceful shutdown (RFC 8326) forgets everything so that it is re-announced with the GRACEFUL_SHUTDOWN community.
The order of prefixes within a group is the order they were set in, so equal inputs give equal bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import (
    EncodeContext,
    IPNetwork,
    MpUnreach,
    PathAttributes,
    encode_attributes,
    encode_prefix,
)
from speaker.bgp.core.messages import encode_update

Family = tuple[int, int]

#: room for the switch of an attribute from a 1- to a 2-octet length once its value passes 255 octets
_SLACK = 1


@dataclass(frozen=True, slots=True, order=True)
class RouteAttrs:
    """What policy decides for one prefix and one peer; the session adds next hop, AS path and ORIGIN."""

    #: None = not configured (iBGP sessions then send the customary 100)
    local_pref: int | None = None
    #: standard communities as 32-bit values, sorted
    communities: tuple[int, ...] = ()
    #: large communities (global, local1, local2), sorted
    large_communities: tuple[tuple[int, int, int], ...] = ()


def family_of(prefix: IPNetwork) -> Family:
    return iana.IPV4_UNICAST if prefix.version == 4 else iana.IPV6_UNICAST


@dataclass(frozen=True, slots=True)
class BuiltUpdates:
    """The result of one :meth:`AdjRibOut.build`: wire-ready UPDATEs and what they carry."""

    messages: tuple[bytes, ...] = ()
    announced: int = 0
    withdrawn: int = 0
    #: family -> prefixes left pending because the session cannot announce that family (no next hop, ...)
    unsendable: tuple[tuple[Family, int], ...] = ()


AttributesFor = Callable[[Family, RouteAttrs], PathAttributes | None]


class AdjRibOut:
    """Desired versus sent routes for one peer, and the packing of their difference into UPDATEs.

    Internally prefixes are keyed by their wire encoding (one family octet, then <length, prefix>): bytes hash
    fast and are the NLRI already, so the Established path neither hashes ``ipaddress`` objects nor encodes
    prefixes. Equal :class:`RouteAttrs` are interned so that "changed?" is an identity check.
    """

    def __init__(self) -> None:
        self._desired: dict[bytes, RouteAttrs] = {}
        self._sent: dict[bytes, RouteAttrs] = {}
        self._networks: dict[bytes, IPNetwork] = {}
        self._interned: dict[RouteAttrs, RouteAttrs] = {}

    def set_desired(self, routes: Mapping[IPNetwork, RouteAttrs]) -> None:
        interned, networks = self._interned, self._networks
        desired: dict[bytes, RouteAttrs] = {}
        for prefix, route in routes.items():
            key = _key(prefix)
            desired[key] = interned.setdefault(route, route)
            networks[key] = prefix
        self._desired = desired
        if len(networks) > 2 * (len(desired) + len(self._sent)) + 64:
            self._networks = {k: networks[k] for k in {*desired, *self._sent}}
        if len(interned) > 4 * len(set(desired.values())) + 64:
            self._interned = {r: r for r in {*desired.values(), *self._sent.values()}}

    @property
    def desired(self) -> dict[IPNetwork, RouteAttrs]:
        return {self._networks[k]: r for k, r in self._desired.items()}

    @property
    def sent(self) -> dict[IPNetwork, RouteAttrs]:
        """What the peer holds from us (a copy)."""
        return {self._networks[k]: r for k, r in self._sent.items()}

    @property
    def announced(self) -> int:
        return len(self._sent)

    def reset(self) -> None:
        """The connection is gone: the peer holds nothing from us any more."""
        self._sent.clear()

    def forget(self, family: Family | None = None) -> None:
        """Pretend the peer holds nothing of ``family`` (all families when None), so it is all sent again."""
        if family is None:
            self._sent.clear()
            return
        tag = _FAMILY_TAG[family]
        for key in [k for k in self._sent if k[0] == tag]:
            del self._sent[key]

    def pending(self) -> int:
        """Prefixes whose announcement or withdrawal has not been sent."""
        sent, desired = self._sent, self._desired
        changed = sum(1 for k, r in desired.items() if sent.get(k) is not r)
        return changed + sum(1 for k in sent if k not in desired)

    def build(self, attributes_for: AttributesFor, ctx: EncodeContext) -> BuiltUpdates:
        """UPDATEs that bring the peer from ``sent`` to ``desired`` (as far as ``attributes_for`` allows)."""
        messages: list[bytes] = []
        sent, desired = self._sent, self._desired
        withdrawn = [k for k in sent if k not in desired]
        by_family: dict[int, list[bytes]] = {}
        for key in withdrawn:
            by_family.setdefault(key[0], []).append(key[1:])
            del sent[key]
        for tag, encoded in sorted(by_family.items()):
            messages.extend(_withdrawals(_TAG_FAMILY[tag], encoded, ctx))
        groups: dict[tuple[int, int], list[bytes]] = {}
        routes: dict[int, RouteAttrs] = {}
        get = sent.get
        for key, route in desired.items():
            if get(key) is not route:
                groups.setdefault((key[0], id(route)), []).append(key)
                routes[id(route)] = route
        announced = 0
        unsendable: dict[Family, int] = {}
        for (tag, route_id), keys in groups.items():
            route = routes[route_id]
            template = attributes_for(_TAG_FAMILY[tag], route)
            if template is None:
                unsendable[_TAG_FAMILY[tag]] = unsendable.get(_TAG_FAMILY[tag], 0) + len(keys)
                continue
            messages.extend(_announcements(template, [k[1:] for k in keys], ctx))
            for key in keys:
                sent[key] = route
            announced += len(keys)
        return BuiltUpdates(tuple(messages), announced, len(withdrawn), tuple(sorted(unsendable.items())))


_FAMILY_TAG = {iana.IPV4_UNICAST: 4, iana.IPV6_UNICAST: 6}
_TAG_FAMILY = {4: iana.IPV4_UNICAST, 6: iana.IPV6_UNICAST}


def _key(prefix: IPNetwork) -> bytes:
    return bytes((prefix.version,)) + encode_prefix(prefix)


def _chunks(encoded: Iterable[bytes], budget: int) -> Iterable[bytes]:
    """Concatenate encoded prefixes into runs of at most ``budget`` octets."""
    run: list[bytes] = []
    size = 0
    for item in encoded:
        if size + len(item) > budget and run:
            yield b"".join(run)
            run, size = [], 0
        run.append(item)
        size += len(item)
    if run:
        yield b"".join(run)


def _withdrawals(family: Family, encoded: list[bytes], ctx: EncodeContext) -> list[bytes]:
    if family == iana.IPV4_UNICAST:
        budget = iana.MAX_MESSAGE_LEN - len(encode_update(b"", b"", b""))
        return [encode_update(run, b"", b"") for run in _chunks(encoded, budget)]
    empty = encode_attributes(PathAttributes(mp_unreach=MpUnreach(*family)), ctx)
    budget = iana.MAX_MESSAGE_LEN - len(encode_update(b"", empty, b"")) - _SLACK
    out = []
    for run in _chunks(encoded, budget):
        raw = _mp_unreach_value(family, run)
        out.append(encode_update(b"", encode_attributes(PathAttributes(mp_unreach=raw), ctx), b""))
    return out


def _mp_unreach_value(family: Family, nlri: bytes) -> MpUnreach:
    return MpUnreach(family[0], family[1], raw=family[0].to_bytes(2, "big") + bytes((family[1],)) + nlri)


def _announcements(template: PathAttributes, encoded: list[bytes], ctx: EncodeContext) -> list[bytes]:
    mp = template.mp_reach
    if mp is None:
        attrs = encode_attributes(template, ctx)
        budget = iana.MAX_MESSAGE_LEN - len(encode_update(b"", attrs, b""))
        return [encode_update(b"", attrs, run) for run in _chunks(encoded, budget)]
    budget = iana.MAX_MESSAGE_LEN - len(encode_update(b"", encode_attributes(template, ctx), b"")) - _SLACK
    next_hop = b"".join(a.packed for a in mp.next_hop)
    head = mp.afi.to_bytes(2, "big") + bytes((mp.safi, len(next_hop))) + next_hop + b"\0"
    out = []
    for run in _chunks(encoded, budget):
        chunk = replace(template, mp_reach=replace(mp, raw=head + run))
        out.append(encode_update(b"", encode_attributes(chunk, ctx), b""))
    return out


def routes_from(prefixes: Collection[str | IPNetwork], route: RouteAttrs | None = None) -> dict[IPNetwork, RouteAttrs]:
    """A desired-routes map giving every prefix the same attributes (tests and benchmarks build these)."""
    attrs = route or RouteAttrs()
    return {ipaddress.ip_network(p): attrs for p in prefixes}


__all__ = ["AdjRibOut", "AttributesFor", "BuiltUpdates", "Family", "RouteAttrs", "family_of", "routes_from"]
