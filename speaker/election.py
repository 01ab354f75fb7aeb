"""L2 leader election: which node announces each Service address. Pure: a function of one snapshot.

Theory of operation (MetalLB's layer2 controller, metallb.md section 4.2, made explicit)
-----------------------------------------------------------------------------------
Every speaker runs :func:`elect` on its own view and announces the addresses it wins. Nothing is negotiated, so
the answer must be the same on every node that has the same view: it depends only on the arguments, never on
dict order, time or randomness. For one Service:

1. It needs at least one usable endpoint (else ``noEndpoints``).
2. The L2Advertisements that apply are those whose pools contain the Service's address and whose
   serviceSelectors select it (none: ``noMatchingAdvertisement``). A shared address (``allow-shared-ip``) with an
   advertisement that has serviceSelectors is not announced (``sharedIPWithServiceSelector``), as MetalLB.
3. Candidates are the live speakers (membership, or Node readiness when membership is off) that are not
   excluded (``node.kubernetes.io/exclude-from-external-load-balancers``), not NetworkUnavailable, selected by the
   nodeSelectors of at least one applicable advertisement, and - ironlb's addition - with a usable link: when an
   advertisement names interfaces, the node must have one of them up; otherwise any announceable interface up
   (nodes whose link state is unknown are assumed up).
4. externalTrafficPolicy Local keeps only candidates with a ready local endpoint.
5. Candidates are ranked by preferred-node score (sum of the weights of matching preferredNodeSelectors over the
   applicable advertisements, highest first), then by sha256(node name + "#" + address), lowest first. The first
   wins.

Consequences: removing a node that is not the owner never moves an address; adding one moves it only if the
newcomer ranks first; every Service on a shared address elects with the same address hash and lands on the same
node; a dual-stack Service elects once, with its first address, so both of its addresses move together.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ironlb.api.addresses import IPAddress
from ironlb.config.model import Config, L2Advertisement

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class Reason(enum.StrEnum):
    """Why a node does or does not announce (MetalLB's ShouldAnnounce strings where they exist)."""

    OWNER = "owner"
    NOT_OWNER = "notOwner"
    NO_ENDPOINTS = "noEndpoints"
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
    IP_NOT_ALLOWED = "ipNotAllowed"
    NO_CANDIDATES = "noCandidates"


@dataclass(frozen=True, slots=True)
class NodeState:
    """One speaker node as this speaker sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, compare=False, hash=False)
    alive: bool = True
    excluded: bool = False
    network_unavailable: bool = False
    #: announceable interfaces whose link is up; None = not known (treated as up).
    interfaces_up: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ServiceState:
    key: str
    #: ingress addresses; the first one is the election key (dual-stack Services elect once).
    addresses: tuple[IPAddress, ...]
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, compare=False, hash=False)
    local: bool = False
    any_ready: bool = True
    ready_nodes: frozenset[str] = frozenset()
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    owner: str | None
    reason: Reason
    #: the ranked candidates (owner first)
    candidates: tuple[str, ...] = ()
    #: interfaces to announce on: the union of the applicable advertisements' lists; None = every eligible one.
    interfaces: frozenset[str] | None = None

    def for_node(self, node: str) -> Reason:
        """The reason as seen by ``node``: OWNER for the winner, NOT_OWNER for the others."""
        if self.owner is None:
            return self.reason
        return Reason.OWNER if node == self.owner else Reason.NOT_OWNER


def applicable_advertisements(config: Config, service: ServiceState) -> tuple[L2Advertisement, ...]:
    pool = config.pool_of(service.addresses[0]) if service.addresses else None
    if pool is None:
        return ()
    return tuple(ad for ad in config.l2_advertisements if pool.name in ad.pools and ad.selects_service(service.labels))


def rank_key(node: str, address: IPAddress) -> bytes:
    return hashlib.sha256(f"{node}#{address}".encode()).digest()


def _has_link(node: NodeState, ads: Iterable[L2Advertisement]) -> bool:
    if node.interfaces_up is None:
        return True
    wanted: set[str] = set()
    for ad in ads:
        if not ad.interfaces:
            return bool(node.interfaces_up)
        wanted.update(ad.interfaces)
    return bool(node.interfaces_up & wanted)


def elect(config: Config, service: ServiceState, nodes: Mapping[str, NodeState]) -> Decision:
    if not service.addresses or config.pool_of(service.addresses[0]) is None:
        return Decision(None, Reason.IP_NOT_ALLOWED)
    if not service.any_ready:
        return Decision(None, Reason.NO_ENDPOINTS)
    ads = applicable_advertisements(config, service)
    if not ads:
        return Decision(None, Reason.NO_MATCHING_ADVERTISEMENT)
    if service.shared and any(ad.service_selectors for ad in ads):
        return Decision(None, Reason.SHARED_IP_WITH_SERVICE_SELECTOR)
    interfaces: frozenset[str] | None = frozenset().union(*(ad.interfaces for ad in ads))
    if any(not ad.interfaces for ad in ads):
        interfaces = None

    address = service.addresses[0]
    scored: list[tuple[int, bytes, str]] = []
    lacking_local_endpoint = 0
    for name in sorted(nodes):
        node = nodes[name]
        if not node.alive or node.excluded or node.network_unavailable:
            continue
        node_ads = [ad for ad in ads if ad.selects_node(node.labels)]
        if not node_ads or not _has_link(node, node_ads):
            continue
        if service.local and name not in service.ready_nodes:
            lacking_local_endpoint += 1
            continue
        score = sum(pref.weight for ad in ads for pref in ad.preferred_nodes if pref.selector.matches(node.labels))
        scored.append((-score, rank_key(name, address), name))
    if not scored:
        reason = Reason.NO_LOCAL_ENDPOINTS if lacking_local_endpoint else Reason.NO_CANDIDATES
        return Decision(None, reason, (), interfaces)
    scored.sort()
    ranked = tuple(name for _, _, name in scored)
    return Decision(ranked[0], Reason.OWNER, ranked, interfaces)


__all__ = ["Decision", "NodeState", "Reason", "ServiceState", "applicable_advertisements", "elect", "rank_key"]
