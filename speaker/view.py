"""The speaker's view: every input that decides what this node announces, and the decisions, kept current (pure).

Theory of operation
-------------------
The wiring (:mod:`speaker.app`) feeds this object what the informers and the liveness source report - the
configuration, each Service and its endpoints, each Node, each speaker's liveness and usable interfaces - and
reads back which decisions changed. It holds, per Service:

* the L2 :class:`~speaker.election.Decision` (who owns the Service's addresses, on which interfaces), and
* the BGP plan of that Service alone (:func:`speaker.bgp.core.policy.plan` over a one-Service snapshot), which
  :class:`speaker.routetable.RouteTable` merges into the routes of every peer.

**Cost follows change** (ARCHITECTURE.md). Each input recomputes only what it can affect:

=============================================  ================================================================
input                                          recomputed
=============================================  ================================================================
a Service or its EndpointSlices                that Service (one election, one one-Service BGP plan)
the configuration                              everything (pools, advertisements and peers may all move)
this node's Node object (labels, exclusion)    every BGP plan (the node's own facts); L2 as for any node below
another speaker's liveness or facts            only the L2 elections that speaker can change (see below)
=============================================  ================================================================

A speaker is a candidate only while it is alive *and ready* (:class:`Liveness`, :mod:`speaker.liveness`): one that
joined the membership but cannot answer ARP/NDP yet is treated like a node outside the candidate set, by every
node alike, itself included. Becoming ready is then "X entering the candidate set" below.

Which elections can a change of speaker X move? The election ranks candidates by a total order that does not
depend on the other candidates - (preferred-node score descending, sha256(node "#" address)) - so:

1. X leaving the candidate set (failed, left, excluded, link down, labels no longer selected) moves an address
   only if X owned it. Those Services are found through an index owner -> Services.
2. X entering it, or X's score changing, moves an address only if X now ranks *before* the current owner. That
   is one sha256 and a comparison per Service - the *screen* - and a full election only where X passes it:
   about 1/(candidates + 1) of the Services X is eligible for.
3. Services without an owner whose reason depends on the nodes (no candidates, no local endpoints) are elected
   again on any change of any node, entering or leaving: rare, and it keeps their no-owner reason exact (a node
   leaving the selection can turn "noLocalEndpoints" into "noCandidates"). They are kept in an index of their own.

So a node failure costs one election per address it owned, a node join one hash per Service plus one election
per address it takes, and neither is a full resync. :attr:`SpeakerView.stats` counts elections and screens so
tests and benchmarks measure this instead of trusting it. The candidate tuple of each decision is kept as
computed; it may lack a speaker that joined without winning, which changes no owner (rule 1 then needs no entry
for it).

The view never reads a clock or does I/O: the same inputs give the same decisions, on every node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ironlb.api.addresses import IPAddress
from ironlb.api.endpoints import ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView
from ironlb.config.model import BGPPeer, Config, L2Advertisement
from speaker.bgp.core.policy import BgpPlan, peers_for_node, plan
from speaker.bgp.core.policy import ServiceState as BgpServiceState
from speaker.election import Decision, NodeState, Reason, ServiceState, applicable_advertisements, elect, rank_key

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
#: election reasons that do not depend on the nodes at all: no node change can alter them
_NODE_INDEPENDENT = frozenset(
    {
        Reason.IP_NOT_ALLOWED,
        Reason.NO_ENDPOINTS,
        Reason.NO_MATCHING_ADVERTISEMENT,
        Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
    }
)


@dataclass(frozen=True, slots=True)
class Liveness:
    """What the liveness source (membership or Node conditions) says about one speaker."""

    alive: bool
    #: announceable interfaces whose link is up, as the speaker published them; None = not known
    interfaces_up: frozenset[str] | None = None
    #: it can answer for what it wins (speaker.liveness: "ready"); an alive speaker that is not ready is no candidate
    ready: bool = True


@dataclass(frozen=True, slots=True)
class L2Record:
    """One Service's L2 election and what the screen needs to decide whether a node change can move it."""

    state: ServiceState
    decision: Decision
    ads: tuple[L2Advertisement, ...]
    #: (-score, rank key) of the owner; None when there is no owner
    owner_key: tuple[int, bytes] | None


@dataclass(slots=True)
class Changes:
    """What one input changed: Services whose L2 decision or BGP plan differs, and whether the peers changed."""

    l2: set[str] = field(default_factory=set)
    bgp: set[str] = field(default_factory=set)
    peers: bool = False

    def __bool__(self) -> bool:
        return bool(self.l2 or self.bgp or self.peers)

    def merge(self, other: Changes) -> None:
        self.l2 |= other.l2
        self.bgp |= other.bgp
        self.peers |= other.peers


@dataclass(slots=True)
class ViewStats:
    """Work done, for tests and benchmarks (cost follows change)."""

    elections: int = 0
    screens: int = 0
    bgp_plans: int = 0


def _score(ads: tuple[L2Advertisement, ...], labels: Mapping[str, str]) -> int:
    return sum(pref.weight for ad in ads for pref in ad.preferred_nodes if pref.selector.matches(labels))


class SpeakerView:
    """Every input of this speaker's decisions and the decisions themselves. See the module docstring.

    Args:
        node: this node's name.
        load_balancer_class: the ``spec.loadBalancerClass`` served (None: Services without one).
        ignore_exclude_lb: ``--ignore-exclude-lb``: the exclusion label does not apply.
    """

    def __init__(self, node: str, *, load_balancer_class: str | None = None, ignore_exclude_lb: bool = False) -> None:
        self.node = node
        self.load_balancer_class = load_balancer_class
        self.ignore_exclude_lb = ignore_exclude_lb
        self.config: Config | None = None
        self.services: dict[str, ServiceView] = {}
        self.endpoints: dict[str, ServiceEndpoints] = {}
        self.node_views: dict[str, NodeView] = {}
        self.liveness: dict[str, Liveness] = {}
        #: the election's node states, derived from node_views + liveness
        self.nodes: dict[str, NodeState] = {}
        self.l2: dict[str, L2Record] = {}
        self.bgp: dict[str, BgpPlan] = {}
        self.peers: tuple[BGPPeer, ...] = ()
        self.stats = ViewStats()
        self._owned_by: dict[str, set[str]] = {}
        #: Services without an owner for a reason a node change can alter (rule 3 of the module docstring)
        self._ownerless: set[str] = set()

    # ===== inputs ==============================================================================================
    def set_config(self, config: Config | None) -> Changes:
        """A new valid configuration: everything is recomputed."""
        if config == self.config:
            return Changes()
        self.config = config
        changes = Changes(peers=self._update_peers())
        for key in sorted(set(self.services) | set(self.l2) | set(self.bgp)):
            changes.merge(self._recompute_service(key))
        return changes

    def set_service(self, key: str, service: ServiceView | None) -> Changes:
        """A Service was added, changed (``service``) or deleted (None): that Service is recomputed."""
        if service is None:
            if self.services.pop(key, None) is None:
                return Changes()
        else:
            self.services[key] = service
        return self._recompute_service(key)

    def set_endpoints(self, key: str, endpoints: ServiceEndpoints) -> Changes:
        """The union of a Service's EndpointSlices changed: that Service is recomputed."""
        if self.endpoints.get(key, ServiceEndpoints()) == endpoints:
            return Changes()
        if endpoints.endpoints:
            self.endpoints[key] = endpoints
        else:
            self.endpoints.pop(key, None)
        return self._recompute_service(key) if key in self.services else Changes()

    def set_node(self, name: str, node: NodeView | None) -> Changes:
        """A Node object was added, changed or deleted."""
        if node is None:
            if self.node_views.pop(name, None) is None:
                return Changes()
        else:
            old = self.node_views.get(name)
            self.node_views[name] = node
            if old is not None and _node_facts(old) == _node_facts(node):
                return Changes()
        changes = self._node_changed(name)
        if name == self.node:
            changes.peers = self._update_peers()
            for key in sorted(set(self.services) | set(self.bgp)):
                changes.merge(self._recompute_bgp(key))
        return changes

    def set_liveness(self, name: str, liveness: Liveness | None) -> Changes:
        """The liveness source's word on speaker ``name`` (None: it is not a speaker any more)."""
        if liveness is None:
            if self.liveness.pop(name, None) is None:
                return Changes()
        else:
            if self.liveness.get(name) == liveness:
                return Changes()
            self.liveness[name] = liveness
        return self._node_changed(name)

    # ===== outputs =============================================================================================
    def decision(self, key: str) -> Decision | None:
        record = self.l2.get(key)
        return record.decision if record else None

    def owned(self) -> frozenset[str]:
        """Services whose L2 election this node wins."""
        return frozenset(self._owned_by.get(self.node, ()))

    def owned_by(self, node: str) -> frozenset[str]:
        return frozenset(self._owned_by.get(node, ()))

    def local_node(self) -> NodeView:
        return self.node_views.get(self.node) or NodeView(name=self.node)

    # ===== internals ===========================================================================================
    def _node_state(self, name: str) -> NodeState | None:
        view = self.node_views.get(name)
        live = self.liveness.get(name)
        if live is None:
            return None  # not a speaker (no membership entry, or no Node when membership is off)
        labels = view.labels if view is not None else _NO_LABELS
        return NodeState(
            name,
            labels=labels,
            alive=live.alive and live.ready,  # never elect a speaker that cannot answer yet (speaker.app)
            excluded=bool(view and view.excluded_from_load_balancers and not self.ignore_exclude_lb),
            network_unavailable=bool(view and view.network_unavailable),
            interfaces_up=live.interfaces_up,
        )

    def _node_changed(self, name: str) -> Changes:
        state = self._node_state(name)
        if state is None:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = state
        affected = set(self._owned_by.get(name, ())) | self._ownerless
        if state is not None and state.alive and not state.excluded and not state.network_unavailable:
            for key, record in self.l2.items():
                if key not in affected and self._could_win(state, record):
                    affected.add(key)
        changes = Changes()
        for key in sorted(affected):
            if self._recompute_l2(key):
                changes.l2.add(key)
        return changes

    def _could_win(self, node: NodeState, record: L2Record) -> bool:
        """The screen: can ``node`` rank before the owner of ``record``? (False proves the owner stays.)"""
        self.stats.screens += 1
        decision = record.decision
        if decision.reason in _NODE_INDEPENDENT or not record.ads:
            return False
        node_ads = [ad for ad in record.ads if ad.selects_node(node.labels)]
        if not node_ads:
            return False
        if record.owner_key is None:
            return True  # no owner: elect again (rare), which also keeps the no-owner reason exact
        state = record.state
        if state.local and node.name not in state.ready_nodes:
            return False
        key = (-_score(record.ads, node.labels), rank_key(node.name, state.addresses[0]))
        return key < record.owner_key

    def _service_state(self, key: str) -> ServiceState | None:
        svc = self.services.get(key)
        if svc is None or not svc.is_load_balancer or svc.load_balancer_class != self.load_balancer_class:
            return None
        addresses: list[IPAddress] = []
        for text in svc.ingress_ips:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            return None
        endpoints = self.endpoints.get(key, ServiceEndpoints())
        return ServiceState(
            key=key,
            addresses=tuple(addresses),
            labels=svc.labels,
            local=svc.is_local,
            any_ready=endpoints.any_ready,
            ready_nodes=endpoints.ready_nodes,
            shared=svc.sharing_key is not None,
        )

    def _recompute_service(self, key: str) -> Changes:
        changes = Changes()
        if self._recompute_l2(key):
            changes.l2.add(key)
        changes.merge(self._recompute_bgp(key))
        return changes

    def _recompute_l2(self, key: str) -> bool:
        """Elect ``key`` again; True when the decision or the addresses changed."""
        old = self.l2.get(key)
        state = self._service_state(key) if self.config is not None else None
        if state is None:
            if old is None:
                return False
            self._index(key, old, None)
            del self.l2[key]
            return True
        assert self.config is not None
        self.stats.elections += 1
        decision = elect(self.config, state, self.nodes)
        ads = applicable_advertisements(self.config, state)
        owner_key: tuple[int, bytes] | None = None
        if decision.owner is not None:
            owner = self.nodes[decision.owner]
            owner_key = (-_score(ads, owner.labels), rank_key(owner.name, state.addresses[0]))
        record = L2Record(state, decision, ads, owner_key)
        self.l2[key] = record
        self._index(key, old, record)
        return old is None or _l2_outcome(old) != _l2_outcome(record)

    def _index(self, key: str, old: L2Record | None, new: L2Record | None) -> None:
        if new is not None and new.decision.owner is None and new.ads and new.decision.reason not in _NODE_INDEPENDENT:
            self._ownerless.add(key)
        else:
            self._ownerless.discard(key)
        before = old.decision.owner if old else None
        after = new.decision.owner if new else None
        if before == after:
            return
        if before is not None:
            owned = self._owned_by.get(before)
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._owned_by[before]
        if after is not None:
            self._owned_by.setdefault(after, set()).add(key)

    def _recompute_bgp(self, key: str) -> Changes:
        changes = Changes()
        old = self.bgp.get(key)
        svc = self.services.get(key)
        if self.config is None or svc is None or not self.peers:
            if old is not None:
                del self.bgp[key]
                changes.bgp.add(key)
            return changes
        self.stats.bgp_plans += 1
        state = BgpServiceState(svc, self.endpoints.get(key, ServiceEndpoints()))
        result = plan(
            self.config,
            self.local_node(),
            [state],
            self.peers,
            load_balancer_class=self.load_balancer_class,
            ignore_exclude_lb=self.ignore_exclude_lb,
        )
        self.bgp[key] = result
        if old is None or old.routes != result.routes or old.reasons != result.reasons or old.peers != result.peers:
            changes.bgp.add(key)
        return changes

    def _update_peers(self) -> bool:
        """Re-derive the sessions this node runs; True when they changed (callers then replan every Service)."""
        peers = peers_for_node(self.config, self.local_node()) if self.config is not None else ()
        if peers == self.peers:
            return False
        self.peers = peers
        return True


def _node_facts(node: NodeView) -> tuple[object, ...]:
    """What of a Node the decisions read (heartbeats and other status churn are ignored)."""
    return (dict(node.labels), node.excluded_from_load_balancers, node.network_unavailable, node.ready)


def _l2_outcome(record: L2Record) -> tuple[object, ...]:
    d = record.decision
    return (d.owner, d.reason, d.interfaces, record.state.addresses)


__all__ = ["Changes", "L2Record", "Liveness", "SpeakerView", "ViewStats"]
