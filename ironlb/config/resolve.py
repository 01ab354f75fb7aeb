"""Phase two: the rules that need more than one object, and turning drafts into the model.

Theory of operation
-------------------
Input: drafts with unique names (``parse`` removed name clashes), every list in canonical order (by name). The
rules, each MetalLB's unless marked:

1. **Pools never overlap** (``pools.check_overlaps``).
2. **Pool selection** - ``ipAddressPools`` names (an unknown name is an error here: MetalLB ignores it silently,
   which hides typos; it is transient because the pool may simply not exist *yet*), union the pools whose labels
   match an ``ipAddressPoolSelectors`` entry; both empty = every pool.
3. **Community aliases** are looked up (``communities.resolve_communities``).
4. **Aggregation** - an advertisement's aggregation length may not be shorter than the prefix of any address
   entry of a pool it selects: aggregating ``10.0.0.0/26`` into a ``/24`` would announce addresses that are not
   in the pool ("prefix N in this pool is more specific than the aggregation length").
5. **LOCAL_PREF** - two advertisements without serviceSelectors that can produce the same BGP update (same pool,
   same aggregation lengths for the pool's families, a common peer, a common node) must agree on localPref
   ("invalid local preference ... already set for the same type of BGP update"). MetalLB compares node *sets*
   computed from the cluster's Nodes; when the caller passes Node labels so do we, otherwise two selector lists
   are taken to share a node when either is empty (every node) or they share a selector.
6. **Exact duplicates** - two BGPAdvertisements, or two BGPPeers, identical but for the name are rejected.
   (ironlb) Two peers for the same session - same address or interface, port and VRF - on a common node are
   rejected too: the router would see two connections from one node and close one (RFC 4271 section 6.8).
7. **References** - a peer's ``bfdProfile`` must exist (transient); an advertisement's ``peers`` naming no
   BGPPeer is a warning (nothing is sent to it until it exists, as in MetalLB).
8. **BFD echo** is not possible towards a peer that receives IPv6 pools.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ironlb.api.addresses import IPFamily
from ironlb.api.selectors import LabelSelector, matches_any
from ironlb.config.communities import resolve_communities
from ironlb.config.drafts import BFDDraft, BGPAdDraft, L2Draft, PeerDraft, PoolDraft, PoolRefs
from ironlb.config.errors import ConfigError
from ironlb.config.model import BFDProfile, BGPAdvertisement, BGPPeer, Community, L2Advertisement, Pool
from ironlb.config.pools import check_overlaps
from ironlb.config.report import Report, Where, q

NodeLabels = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Resolved:
    pools: tuple[Pool, ...]
    l2_advertisements: tuple[L2Advertisement, ...]
    bgp_advertisements: tuple[BGPAdvertisement, ...]
    peers: tuple[BGPPeer, ...]
    bfd_profiles: tuple[BFDProfile, ...]


def resolve(
    *,
    pools: list[PoolDraft],
    l2: list[L2Draft],
    bgp: list[BGPAdDraft],
    peers: list[PeerDraft],
    bfd: list[BFDDraft],
    aliases: Mapping[str, Community],
    node_labels: NodeLabels | None,
    report: Report,
) -> Resolved:
    check_overlaps(pools, report)
    by_name = {draft.pool.name: draft for draft in pools}
    l2_ads = tuple(dataclasses.replace(d.ad, pools=_select(d.refs, d.where, by_name, report)) for d in l2)
    bgp_ads = _resolve_bgp(
        bgp, by_name, aliases=aliases, peer_names={p.peer.name for p in peers}, node_labels=node_labels, report=report
    )
    profiles = {draft.profile.name: draft.profile for draft in bfd}
    _check_peers(peers, profiles, node_labels, report)
    _check_echo(bgp_ads, by_name, peers, profiles, report)
    return Resolved(
        pools=tuple(d.pool for d in pools),
        l2_advertisements=l2_ads,
        bgp_advertisements=tuple(ad for ad, _ in bgp_ads),
        peers=tuple(d.peer for d in peers),
        bfd_profiles=tuple(profiles.values()),
    )


def _select(refs: PoolRefs, where: Where, by_name: Mapping[str, PoolDraft], report: Report) -> frozenset[str]:
    if refs.every_pool:
        return frozenset(by_name)
    chosen: set[str] = set()
    for field_path, name in refs.names:
        if name in by_name:
            chosen.add(name)
        else:
            report.add(
                where.at(
                    field_path,
                    f"{q(name)} names no IPAddressPool; create the pool or fix the name (the pools are "
                    f"{_listing(by_name)})",
                    transient=True,
                )
            )
    if refs.selectors:
        chosen.update(name for name, d in by_name.items() if matches_any(refs.selectors, d.pool.labels, empty=False))
    return frozenset(chosen)


def _listing(names: Iterable[str]) -> str:
    shown = sorted(names)
    if not shown:
        return "none"
    text = ", ".join(shown[:10])
    return text + (", ..." if len(shown) > 10 else "")


def _resolve_bgp(
    drafts: list[BGPAdDraft],
    by_name: Mapping[str, PoolDraft],
    *,
    aliases: Mapping[str, Community],
    peer_names: set[str],
    node_labels: NodeLabels | None,
    report: Report,
) -> list[tuple[BGPAdvertisement, BGPAdDraft]]:
    done: list[tuple[BGPAdvertisement, BGPAdDraft]] = []
    attached: dict[str, list[tuple[BGPAdvertisement, BGPAdDraft]]] = {}
    identical: dict[BGPAdvertisement, str] = {}
    conflicts: set[tuple[str, str]] = set()
    for draft in drafts:
        selected = _select(draft.refs, draft.where, by_name, report)
        communities = resolve_communities(list(draft.community_refs), aliases, draft.where, report)
        ad = dataclasses.replace(draft.ad, pools=selected, communities=communities)
        for field_path, peer in draft.peer_refs:
            if peer not in peer_names:
                report.warn(
                    f"{draft.where.heading}: {field_path} {q(peer)} names no BGPPeer; nothing is sent to it until a "
                    "BGPPeer of that name exists"
                )
        twin = dataclasses.replace(ad, name="")
        if twin in identical:
            report.add(
                draft.where.at(
                    "",
                    f"is an exact duplicate of BGPAdvertisement {q(identical[twin])}: duplicate definition of "
                    "bgpadvertisements; delete one of them",
                )
            )
        else:
            identical[twin] = ad.name
        for pool_name in sorted(selected):
            pool_draft = by_name[pool_name]
            _check_aggregation(ad, draft, pool_draft, report)
            for other, other_draft in attached.setdefault(pool_name, []):
                if (other.name, ad.name) in conflicts:
                    continue
                if not _local_pref_compatible(ad, other, pool_draft.pool, node_labels):
                    conflicts.add((other.name, ad.name))
                    report.add(_local_pref_error(ad, draft, other, other_draft, pool_name))
            attached[pool_name].append((ad, draft))
        done.append((ad, draft))
    return done


def _check_aggregation(ad: BGPAdvertisement, draft: BGPAdDraft, pool: PoolDraft, report: Report) -> None:
    reported: set[int] = set()
    for entry in pool.entries:
        if not entry.cidrs:
            continue
        version = entry.cidrs[0].version
        length = ad.aggregation_length if version == 4 else ad.aggregation_length_v6
        lowest = min(c.prefixlen for c in entry.cidrs)
        if length >= lowest or version in reported:
            continue
        reported.add(version)
        field_path = draft.fields.aggregation_length if version == 4 else draft.fields.aggregation_length_v6
        report.add(
            draft.where.at(
                field_path,
                f"{length} is shorter than the /{lowest} of pool {q(pool.pool.name)} entry {q(entry.text)}: invalid "
                f"aggregation length {length}: prefix {lowest} in this pool is more specific than the aggregation "
                f"length for addresses {entry.text}; use {lowest} or more, or select other pools",
            )
        )


def _local_pref_compatible(
    new: BGPAdvertisement, old: BGPAdvertisement, pool: Pool, node_labels: NodeLabels | None
) -> bool:
    if new.service_selectors or old.service_selectors:
        return True  # which Services each one selects is unknown, so MetalLB does not compare them
    if (new.local_pref or 0) == (old.local_pref or 0):
        return True
    families = pool.families
    has_v4, has_v6 = IPFamily.IPV4 in families, IPFamily.IPV6 in families
    v4_differs = new.aggregation_length != old.aggregation_length
    v6_differs = new.aggregation_length_v6 != old.aggregation_length_v6
    if (v4_differs and not has_v6) or (v6_differs and not has_v4) or (v4_differs and v6_differs):
        return True
    if new.peers and old.peers and not set(new.peers) & set(old.peers):
        return True
    return not nodes_overlap(new.node_selectors, old.node_selectors, node_labels)


def nodes_overlap(
    first: tuple[LabelSelector, ...], second: tuple[LabelSelector, ...], node_labels: NodeLabels | None
) -> bool:
    """Whether two nodeSelectors lists (empty = every node) can select a common node."""
    if node_labels is None:
        return not first or not second or bool(set(first) & set(second))
    return any(matches_any(first, labels) and matches_any(second, labels) for labels in node_labels.values())


def _local_pref_error(
    ad: BGPAdvertisement, draft: BGPAdDraft, other: BGPAdvertisement, other_draft: BGPAdDraft, pool: str
) -> ConfigError:
    return draft.where.at(
        draft.fields.local_pref,
        f"{ad.local_pref or 0} conflicts with localPref {other.local_pref or 0} of {other_draft.where.heading} for "
        f"pool {q(pool)}: invalid local preference {ad.local_pref or 0}: local preference {other.local_pref or 0} "
        "was already set for the same type of BGP update. Check existing BGP advertisements with common pools and "
        "aggregation lengths; give both the same localPref, or make their peers, nodes or aggregation lengths differ",
    )


def _check_peers(
    drafts: list[PeerDraft], profiles: Mapping[str, BFDProfile], node_labels: NodeLabels | None, report: Report
) -> None:
    identical: dict[BGPPeer, str] = {}
    sessions: dict[tuple[str, int, str], list[BGPPeer]] = {}
    for draft in drafts:
        peer = draft.peer
        if peer.bfd_profile is not None and peer.bfd_profile not in profiles:
            report.add(
                draft.where.at(
                    draft.bfd_field,
                    f"{q(peer.bfd_profile)} names no BFDProfile: peer {peer.name} referencing non existing bfd "
                    f"profile {peer.bfd_profile}; create the BFDProfile or remove the reference",
                    transient=True,
                )
            )
        twin = dataclasses.replace(peer, name="")
        if twin in identical:
            report.add(
                draft.where.at(
                    "",
                    f"is an exact duplicate of BGPPeer {q(identical[twin])}: peer {peer.name} already exists; delete "
                    "one of them",
                )
            )
            continue
        identical[twin] = peer.name
        target = str(peer.peer_address) if peer.peer_address is not None else (peer.interface or "")
        key = (target, peer.peer_port, peer.vrf or "")
        for other in sessions.get(key, []):
            if nodes_overlap(peer.node_selectors, other.node_selectors, node_labels):
                vrf = f" in VRF {q(peer.vrf)}" if peer.vrf else ""
                report.add(
                    draft.where.at(
                        draft.address_field if peer.peer_address is not None else "spec.interface",
                        f"{q(target)}: peer {target} already exists: BGPPeer {q(other.name)} opens the same session "
                        f"({target} port {peer.peer_port}{vrf}) from the same nodes; a node can hold one session per "
                        "peer, so merge the two or give them disjoint nodeSelectors",
                    )
                )
                break
        sessions.setdefault(key, []).append(peer)


def _check_echo(
    ads: list[tuple[BGPAdvertisement, BGPAdDraft]],
    pools: Mapping[str, PoolDraft],
    peers: list[PeerDraft],
    profiles: Mapping[str, BFDProfile],
    report: Report,
) -> None:
    echo = [d for d in peers if d.peer.bfd_profile is not None and _echo(profiles.get(d.peer.bfd_profile))]
    if not echo:
        return
    for peer_draft in echo:
        peer = peer_draft.peer
        for ad, _ in ads:
            if not ad.selects_peer(peer.name):
                continue
            v6 = sorted(name for name in ad.pools if IPFamily.IPV6 in pools[name].pool.families)
            if v6:
                report.add(
                    peer_draft.where.at(
                        peer_draft.bfd_field,
                        f"{q(peer.bfd_profile)} has echoMode on, but BGPAdvertisement {q(ad.name)} sends IPv6 pool "
                        f"{q(v6[0])} to this peer: pool {v6[0]} has bgpadvertisement {ad.name} which references "
                        f"peer {peer.name} which has bfd echo enabled, which is not possible; turn echoMode off or "
                        "keep IPv6 pools away from this peer",
                    )
                )


def _echo(profile: BFDProfile | None) -> bool:
    return profile is not None and profile.echo_mode


__all__ = ["NodeLabels", "Resolved", "nodes_overlap", "resolve"]
