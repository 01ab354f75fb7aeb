"""What this node advertises to which peer: a pure function of the configuration, the node and the Services.

Theory of operation
-------------------
MetalLB's BGP announce rules (metallb.md sections 4.1 and 4.5), decided once per input snapshot, the same way on
every node (only the node's own facts differ):

1. Sessions: a BGPPeer runs on this node when one of its ``nodeSelectors`` matches the node's labels (none =
   every node): :func:`peers_for_node`.
2. A node excluded from load balancers (label ``node.kubernetes.io/exclude-from-external-load-balancers``, any
   value) or whose ``NetworkUnavailable`` condition is True advertises nothing (it keeps its sessions).
3. A Service needs ingress addresses (the ccm's allocation), and a ready endpoint: on this node for
   ``externalTrafficPolicy: Local``, anywhere for ``Cluster`` (reasons ``noLocalEndpoints`` / ``noEndpoints``).
4. Each address must lie in a pool; each BGPAdvertisement of that pool whose ``serviceSelectors`` match the
   Service and whose ``nodeSelectors`` match this node yields the prefix ``address/aggregationLength`` (or
   ``aggregationLengthV6``), for every active peer its ``peers`` list admits (empty = all).
5. LOCAL_PREF goes to iBGP peers only (RFC 4271 section 5.1.5). If two advertisements give one Service the same
   prefix for the same peer with different LOCAL_PREFs, the Service is not announced (``localPrefConflict``,
   as MetalLB does).
6. When several Services or advertisements give the same prefix to a peer, their communities are merged (union);
   LOCAL_PREFs that still differ across Services resolve to the highest, so the result does not depend on order.

The result is a :class:`BgpPlan`: per peer, prefix -> :class:`~speaker.bgp.core.rib.RouteAttrs` (what
``BgpManager.set_routes`` takes), and per Service the :class:`Reason` and the peers it went to (what a
ServiceBGPStatus shows). Services are processed in key order and the output is sorted, so equal inputs give equal
plans.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ironlb.api.addresses import IPNetwork, parse_ip
from ironlb.api.endpoints import ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView
from ironlb.config.model import BGPAdvertisement, BGPPeer, CommunityKind, Config
from speaker.bgp.core.rib import RouteAttrs


class Reason(enum.StrEnum):
    """Why a Service is or is not advertised by this node (MetalLB's reason strings where it has one)."""

    ANNOUNCED = "announced"
    NOT_LOAD_BALANCER = "notLoadBalancer"
    OTHER_LOAD_BALANCER_CLASS = "otherLoadBalancerClass"
    NO_INGRESS_IP = "noIPAllocated"
    IP_NOT_ALLOWED = "ipNotAllowed"
    NODE_EXCLUDED = "nodeExcluded"
    NODE_NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
    NO_ENDPOINTS = "noEndpoints"
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    LOCAL_PREF_CONFLICT = "localPrefConflict"


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One Service as the speaker sees it: the Service and its endpoints."""

    service: ServiceView
    endpoints: ServiceEndpoints = field(default_factory=ServiceEndpoints)


@dataclass(frozen=True, slots=True)
class BgpPlan:
    #: peer name -> prefix -> attributes, for every active peer (an empty map withdraws everything)
    routes: Mapping[str, Mapping[IPNetwork, RouteAttrs]]
    #: service key -> why it is (not) advertised
    reasons: Mapping[str, Reason]
    #: service key -> names of the peers its prefixes go to
    peers: Mapping[str, frozenset[str]]


def peers_for_node(config: Config, node: NodeView) -> tuple[BGPPeer, ...]:
    """The BGPPeers whose nodeSelectors select this node: the sessions it runs."""
    return tuple(p for p in config.peers if p.selects_node(node.labels))


def node_reason(node: NodeView, *, ignore_exclude_lb: bool = False) -> Reason | None:
    """Why this node advertises nothing at all, or None."""
    if node.excluded_from_load_balancers and not ignore_exclude_lb:
        return Reason.NODE_EXCLUDED
    if node.network_unavailable:
        return Reason.NODE_NETWORK_UNAVAILABLE
    return None


_Contribution = tuple[str, IPNetwork, int | None, frozenset[int], frozenset[tuple[int, int, int]]]


def plan(
    config: Config,
    node: NodeView,
    services: Iterable[ServiceState],
    peers: Sequence[BGPPeer],
    *,
    load_balancer_class: str | None = None,
    ignore_exclude_lb: bool = False,
) -> BgpPlan:
    """Decide every route this node advertises.

    Args:
        config: the validated configuration.
        node: this node.
        services: every Service with its endpoints (non-LoadBalancer ones are skipped with a reason).
        peers: the sessions this node runs (usually :func:`peers_for_node`).
        load_balancer_class: the ``spec.loadBalancerClass`` this speaker serves (None: Services without one).
        ignore_exclude_lb: MetalLB's ``--ignore-exclude-lb``: the exclusion label does not apply.
    """
    merged: dict[str, dict[IPNetwork, tuple[set[int | None], set[int], set[tuple[int, int, int]]]]] = {
        p.name: {} for p in peers
    }
    reasons: dict[str, Reason] = {}
    sent_to: dict[str, frozenset[str]] = {}
    blocked = node_reason(node, ignore_exclude_lb=ignore_exclude_lb)
    for state in sorted(services, key=lambda s: s.service.key):
        svc = state.service
        reason, contributions = _service(
            config, node, state=state, peers=peers, blocked=blocked, load_balancer_class=load_balancer_class
        )
        reasons[svc.key] = reason
        if reason is not Reason.ANNOUNCED:
            continue
        sent_to[svc.key] = frozenset(c[0] for c in contributions)
        for peer_name, prefix, local_pref, communities, large in contributions:
            prefs, comms, larges = merged[peer_name].setdefault(prefix, (set(), set(), set()))
            prefs.add(local_pref)
            comms |= communities
            larges |= large
    routes = {
        name: {
            prefix: RouteAttrs(_highest(prefs), tuple(sorted(comms)), tuple(sorted(larges)))
            for prefix, (prefs, comms, larges) in sorted(by_prefix.items(), key=lambda kv: _prefix_key(kv[0]))
        }
        for name, by_prefix in merged.items()
    }
    return BgpPlan(routes, reasons, sent_to)


def _service(
    config: Config,
    node: NodeView,
    *,
    state: ServiceState,
    peers: Sequence[BGPPeer],
    blocked: Reason | None,
    load_balancer_class: str | None,
) -> tuple[Reason, list[_Contribution]]:
    svc, endpoints = state.service, state.endpoints
    if not svc.is_load_balancer:
        return Reason.NOT_LOAD_BALANCER, []
    if svc.load_balancer_class != load_balancer_class:
        return Reason.OTHER_LOAD_BALANCER_CLASS, []
    addresses = [a for a in (parse_ip(text) for text in svc.ingress_ips) if a is not None]
    if not addresses:
        return Reason.NO_INGRESS_IP, []
    if blocked is not None:
        return blocked, []
    if svc.is_local and node.name not in endpoints.ready_nodes:
        return Reason.NO_LOCAL_ENDPOINTS, []
    if not svc.is_local and not endpoints.any_ready:
        return Reason.NO_ENDPOINTS, []
    contributions: list[_Contribution] = []
    pooled = False
    for address in addresses:
        pool = config.pool_of(address)
        if pool is None:
            continue
        pooled = True
        for ad in config.bgp_advertisements:
            if pool.name in ad.pools and ad.selects_service(svc.labels) and ad.selects_node(node.labels):
                contributions.extend(_contributions(ad, address, peers))
    if not pooled:
        return Reason.IP_NOT_ALLOWED, []
    if not contributions:
        return Reason.NO_MATCHING_ADVERTISEMENT, []
    prefs: dict[tuple[str, IPNetwork], int | None] = {}
    for peer_name, prefix, local_pref, _, _ in contributions:
        key = (peer_name, prefix)
        if key in prefs and prefs[key] != local_pref:
            return Reason.LOCAL_PREF_CONFLICT, []
        prefs[key] = local_pref
    return Reason.ANNOUNCED, contributions


def _contributions(
    ad: BGPAdvertisement, address: ipaddress.IPv4Address | ipaddress.IPv6Address, peers: Sequence[BGPPeer]
) -> list[_Contribution]:
    length = ad.aggregation_length if address.version == 4 else ad.aggregation_length_v6
    prefix = ipaddress.ip_network((address, length), strict=False)
    standard = frozenset(c.value for c in ad.communities if c.kind is CommunityKind.STANDARD)
    large = frozenset((c.parts[0], c.parts[1], c.parts[2]) for c in ad.communities if c.kind is CommunityKind.LARGE)
    out: list[_Contribution] = []
    for peer in peers:
        if ad.selects_peer(peer.name):
            local_pref = ad.local_pref if peer.is_ibgp else None  # RFC 4271 section 5.1.5
            out.append((peer.name, prefix, local_pref, standard, large))
    return out


def _highest(prefs: set[int | None]) -> int | None:
    values = [p for p in prefs if p is not None]
    return max(values) if values else None


def _prefix_key(prefix: IPNetwork) -> tuple[int, int, int]:
    return prefix.version, int(prefix.network_address), prefix.prefixlen


__all__ = ["BgpPlan", "Reason", "ServiceState", "node_reason", "peers_for_node", "plan"]
