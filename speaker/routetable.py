"""The routes of every BGP peer, merged from per-Service plans, updated per Service (pure).

Theory of operation
-------------------
:func:`speaker.bgp.core.policy.plan` decides over a whole snapshot; the speaker calls it with one Service at a
time (:class:`speaker.view.SpeakerView`) so that a Service change costs one Service. This table does the part of
``plan`` that spans Services - the merge - incrementally, with the same rules (policy.py, rule 6):

* several Services (or advertisements) giving the same prefix to the same peer are one route;
* its communities and large communities are the union of theirs;
* its LOCAL_PREF is the highest one set (None when none is set).

Each (peer, prefix) keeps its contributors by Service key; replacing one Service's plan touches only the
(peer, prefix) pairs that Service had or has, and recomputes those routes from their contributors. The result is
the same as ``plan`` over every Service at once (a test checks it against ``plan``, shuffled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ironlb.api.addresses import IPNetwork
from speaker.bgp.core.rib import RouteAttrs

PeerRoutes = Mapping[IPNetwork, RouteAttrs]


def merge_attrs(contributions: Iterable[RouteAttrs]) -> RouteAttrs:
    """One route from several contributions: highest LOCAL_PREF, union of communities (sorted)."""
    prefs: list[int] = []
    communities: set[int] = set()
    large: set[tuple[int, int, int]] = set()
    for attrs in contributions:
        if attrs.local_pref is not None:
            prefs.append(attrs.local_pref)
        communities.update(attrs.communities)
        large.update(attrs.large_communities)
    return RouteAttrs(max(prefs) if prefs else None, tuple(sorted(communities)), tuple(sorted(large)))


class RouteTable:
    """Routes by peer, with the Services behind each route."""

    def __init__(self) -> None:
        self._by_service: dict[str, dict[tuple[str, IPNetwork], RouteAttrs]] = {}
        self._contributors: dict[tuple[str, IPNetwork], dict[str, RouteAttrs]] = {}
        self._routes: dict[str, dict[IPNetwork, RouteAttrs]] = {}
        self._peers: tuple[str, ...] = ()

    def set_peers(self, peers: Iterable[str]) -> bool:
        """The peers this node has sessions with (each gets an entry, empty when nothing goes to it)."""
        names = tuple(sorted(set(peers)))
        if names == self._peers:
            return False
        self._peers = names
        for name in names:
            self._routes.setdefault(name, {})
        for name in [n for n in self._routes if n not in names and not self._routes[n]]:
            del self._routes[name]
        return True

    def set_service(self, key: str, routes: Mapping[str, PeerRoutes] | None) -> bool:
        """Replace Service ``key``'s contribution (peer -> prefix -> attributes; None = none). True if a route
        changed."""
        new: dict[tuple[str, IPNetwork], RouteAttrs] = {}
        for peer, prefixes in (routes or {}).items():
            for prefix, attrs in prefixes.items():
                new[(peer, prefix)] = attrs
        old = self._by_service.pop(key, {})
        if new:
            self._by_service[key] = new
        if old == new:
            return False
        changed = False
        for pair in set(old) | set(new):
            contributors = self._contributors.setdefault(pair, {})
            if pair in new:
                contributors[key] = new[pair]
            else:
                contributors.pop(key, None)
            changed |= self._refresh(pair)
        return changed

    def _refresh(self, pair: tuple[str, IPNetwork]) -> bool:
        peer, prefix = pair
        contributors = self._contributors.get(pair) or {}
        by_prefix = self._routes.setdefault(peer, {})
        if not contributors:
            self._contributors.pop(pair, None)
            if by_prefix.pop(prefix, None) is None:
                return False
            if not by_prefix and peer not in self._peers:
                del self._routes[peer]
            return True
        merged = merge_attrs(contributors[k] for k in sorted(contributors))
        if by_prefix.get(prefix) == merged:
            return False
        by_prefix[prefix] = merged
        return True

    # -- reading ------------------------------------------------------------------------------------------------
    def routes(self) -> dict[str, PeerRoutes]:
        """A snapshot: peer -> prefix -> attributes, copies the caller may keep (what ``BgpManager.set_routes``
        takes)."""
        return {peer: MappingProxyType(dict(by_prefix)) for peer, by_prefix in sorted(self._routes.items())}

    def services_of(self, peer: str, prefix: IPNetwork) -> tuple[str, ...]:
        """The Services behind one route (for the status service)."""
        return tuple(sorted(self._contributors.get((peer, prefix)) or ()))

    def __len__(self) -> int:
        return sum(len(p) for p in self._routes.values())


__all__ = ["PeerRoutes", "RouteTable", "merge_attrs"]
