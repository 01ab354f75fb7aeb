"""The validated configuration: one immutable :class:`Config` built from MetalLB's CRs or legacy ConfigMap.

Theory of operation
-------------------
Users write MetalLB objects (IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile, Community,
or the pre-0.13 ConfigMap). The parser (``ironlb.config.parse``) checks every rule MetalLB's webhooks and
``config.For`` check, collects *all* errors, and only when there are none returns a ``Config``. Everything
downstream (allocator, election, BGP) reads these types and never the raw objects, so:

* references are resolved here: advertisement pool lists and pool selectors become pool-name sets, community
  aliases become values, namespaceSelectors become namespace-name sets, passwordSecret becomes a password;
* defaults are applied here (aggregation lengths, peer port, BFD intervals), so consumers never re-default;
* values are typed (``ipaddress`` objects, enums, seconds as floats), so consumers never re-parse strings.

Fields MetalLB's *native* mode rejects (BFD, graceful restart, keepaliveTime, connectTime, ebgpMultiHop,
dynamicASN, IPv6 under BGP, large communities, ...) are accepted and carried: ironlb implements them.

Objects are frozen dataclasses; mappings are read-only views. Collections are sorted by name so that two
``Config``s built from the same objects in any order compare equal (determinism: ARCHITECTURE.md).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from ironlb.api.addresses import IPAddress, IPFamily, IPNetwork
from ironlb.api.selectors import LabelSelector, matches_any

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_V = TypeVar("_V")

#: BGP defaults (metallb.md section 8: native hold 90 s; keepalive = hold / 3).
DEFAULT_HOLD_TIME = 90.0
DEFAULT_PEER_PORT = 179


# ------------------------------------------------------------------------------------------------
# Communities
# ------------------------------------------------------------------------------------------------
class CommunityKind(enum.StrEnum):
    STANDARD = "standard"  # RFC 1997: two 16-bit halves, written "65000:100"
    LARGE = "large"  # RFC 8092: three 32-bit parts, written "large:65000:1:2"


@dataclass(frozen=True, slots=True, order=True)
class Community:
    kind: CommunityKind
    parts: tuple[int, ...]  # (asn16, value16) or (global32, local1, local2)

    @property
    def value(self) -> int:
        """The 32-bit wire value of a standard community."""
        if self.kind is not CommunityKind.STANDARD:
            raise ValueError("only standard communities have a 32-bit value")
        return (self.parts[0] << 16) | self.parts[1]

    def __str__(self) -> str:
        text = ":".join(str(p) for p in self.parts)
        return f"large:{text}" if self.kind is CommunityKind.LARGE else text


# ------------------------------------------------------------------------------------------------
# IPAddressPool
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServiceAllocation:
    """``spec.serviceAllocation`` of a pool: which Services may use it, and in what order pools are tried."""

    #: lower is preferred; 0 (unset) is tried after every positive priority.
    priority: int = 0
    #: None = no namespace restriction. Otherwise the union of ``namespaces`` and the namespaces matched by
    #: ``namespaceSelectors`` when the configuration was parsed (it is re-parsed when Namespace labels change).
    namespaces: frozenset[str] | None = None
    namespace_selectors: tuple[LabelSelector, ...] = ()
    #: OR of selectors against Service labels; empty = every Service.
    service_selectors: tuple[LabelSelector, ...] = ()

    def admits(self, namespace: str, service_labels: Mapping[str, str]) -> bool:
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return matches_any(self.service_selectors, service_labels)


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    #: CIDRs in declaration order; ``a-b`` ranges are summarized into CIDRs. Never empty.
    cidrs: tuple[IPNetwork, ...]
    auto_assign: bool = True
    #: skip every IPv4 address ending in .0 or .255 (in every /24 of the pool, not only at its edges).
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, compare=False, hash=False)

    @property
    def families(self) -> frozenset[IPFamily]:
        return frozenset(IPFamily.of(c) for c in self.cidrs)

    def contains(self, address: IPAddress) -> bool:
        return any(address in cidr for cidr in self.cidrs if cidr.version == address.version)

    def is_buggy(self, address: IPAddress) -> bool:
        """True when ``avoidBuggyIPs`` forbids handing out ``address``."""
        if not self.avoid_buggy_ips or not isinstance(address, ipaddress.IPv4Address):
            return False
        return int(address) & 0xFF in (0, 255)


# ------------------------------------------------------------------------------------------------
# Advertisements
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PreferredNode:
    weight: int  # 1-100
    selector: LabelSelector


@dataclass(frozen=True, slots=True)
class L2Advertisement:
    name: str
    #: resolved from ipAddressPools + ipAddressPoolSelectors (both empty = every pool).
    pools: frozenset[str]
    node_selectors: tuple[LabelSelector, ...] = ()  # empty = every node
    interfaces: tuple[str, ...] = ()  # empty = every (non-excluded) interface
    service_selectors: tuple[LabelSelector, ...] = ()  # empty = every Service
    preferred_nodes: tuple[PreferredNode, ...] = ()

    def selects_node(self, node_labels: Mapping[str, str]) -> bool:
        return matches_any(self.node_selectors, node_labels)

    def selects_service(self, service_labels: Mapping[str, str]) -> bool:
        return matches_any(self.service_selectors, service_labels)


@dataclass(frozen=True, slots=True)
class BGPAdvertisement:
    name: str
    pools: frozenset[str]
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    #: None = not set (MetalLB's 0); sent on iBGP sessions only.
    local_pref: int | None = None
    #: aliases resolved; sorted, de-duplicated.
    communities: tuple[Community, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    #: BGPPeer names; empty = every peer.
    peers: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()

    def selects_node(self, node_labels: Mapping[str, str]) -> bool:
        return matches_any(self.node_selectors, node_labels)

    def selects_service(self, service_labels: Mapping[str, str]) -> bool:
        return matches_any(self.service_selectors, service_labels)

    def selects_peer(self, peer_name: str) -> bool:
        return not self.peers or peer_name in self.peers


# ------------------------------------------------------------------------------------------------
# BGP peers and BFD
# ------------------------------------------------------------------------------------------------
class DynamicASN(enum.StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class SecretRef:
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class BFDProfile:
    name: str
    receive_interval_ms: int = 300
    transmit_interval_ms: int = 300
    detect_multiplier: int = 3
    echo_interval_ms: int = 50
    echo_mode: bool = False
    passive_mode: bool = False
    minimum_ttl: int = 254


@dataclass(frozen=True, slots=True)
class BGPPeer:
    name: str
    my_asn: int
    #: exactly one of peer_asn / dynamic_asn is set.
    peer_asn: int | None = None
    dynamic_asn: DynamicASN | None = None
    local_asn: int | None = None
    #: exactly one of peer_address / interface is set.
    peer_address: IPAddress | None = None
    interface: str | None = None
    source_address: IPAddress | None = None
    peer_port: int = DEFAULT_PEER_PORT
    #: seconds; None = not configured (see :meth:`timers`). A hold time of 0 disables keepalives.
    hold_time: float | None = None
    keepalive_time: float | None = None
    #: seconds between connection attempts; None = ironlb's fast default with backoff.
    connect_time: float | None = None
    router_id: ipaddress.IPv4Address | None = None
    node_selectors: tuple[LabelSelector, ...] = ()
    #: TCP-MD5 key, from ``password`` or resolved from ``passwordSecret``. Never printed.
    password: str | None = field(default=None, repr=False)
    password_secret: SecretRef | None = None
    bfd_profile: str | None = None
    enable_graceful_restart: bool = False
    ebgp_multihop: bool = False
    vrf: str | None = None
    disable_mp: bool = False
    dual_stack_address_family: bool = False

    def selects_node(self, node_labels: Mapping[str, str]) -> bool:
        return matches_any(self.node_selectors, node_labels)

    @property
    def is_ibgp(self) -> bool | None:
        """True for iBGP, False for eBGP, None when the peer's ASN is only known once it connects."""
        if self.dynamic_asn is not None:
            return self.dynamic_asn is DynamicASN.INTERNAL
        local = self.local_asn if self.local_asn is not None else self.my_asn
        return self.peer_asn == local

    def timers(self) -> tuple[float, float]:
        """(hold, keepalive) in seconds, following MetalLB: hold alone => keepalive = hold/3; keepalive alone =>
        hold = 3 x keepalive; neither => 90 s / 30 s."""
        hold, keepalive = self.hold_time, self.keepalive_time
        if hold is None and keepalive is None:
            return DEFAULT_HOLD_TIME, DEFAULT_HOLD_TIME / 3
        if hold is None:
            assert keepalive is not None
            return keepalive * 3, keepalive
        if keepalive is None:
            return hold, hold / 3
        return hold, keepalive


# ------------------------------------------------------------------------------------------------
# The whole configuration
# ------------------------------------------------------------------------------------------------
def _frozen_map(items: dict[str, _V] | None = None) -> Mapping[str, _V]:
    return MappingProxyType(dict(sorted((items or {}).items())))


@dataclass(frozen=True, slots=True)
class Config:
    pools: Mapping[str, Pool] = field(default_factory=_frozen_map)
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    peers: tuple[BGPPeer, ...] = ()
    bfd_profiles: Mapping[str, BFDProfile] = field(default_factory=_frozen_map)
    #: Community CR aliases: name -> value.
    communities: Mapping[str, Community] = field(default_factory=_frozen_map)

    @classmethod
    def build(
        cls,
        *,
        pools: list[Pool] | tuple[Pool, ...] = (),
        l2_advertisements: list[L2Advertisement] | tuple[L2Advertisement, ...] = (),
        bgp_advertisements: list[BGPAdvertisement] | tuple[BGPAdvertisement, ...] = (),
        peers: list[BGPPeer] | tuple[BGPPeer, ...] = (),
        bfd_profiles: list[BFDProfile] | tuple[BFDProfile, ...] = (),
        communities: dict[str, Community] | None = None,
    ) -> Config:
        """Assemble a Config in canonical (name-sorted) order; the parser and the tests both use this."""
        return cls(
            pools=_frozen_map({p.name: p for p in pools}),
            l2_advertisements=tuple(sorted(l2_advertisements, key=lambda a: a.name)),
            bgp_advertisements=tuple(sorted(bgp_advertisements, key=lambda a: a.name)),
            peers=tuple(sorted(peers, key=lambda p: p.name)),
            bfd_profiles=_frozen_map({b.name: b for b in bfd_profiles}),
            communities=_frozen_map(communities),
        )

    def pool_of(self, address: IPAddress) -> Pool | None:
        """The pool containing ``address`` (pools never overlap, so there is at most one)."""
        for pool in self.pools.values():
            if pool.contains(address):
                return pool
        return None


__all__ = [
    "DEFAULT_HOLD_TIME",
    "DEFAULT_PEER_PORT",
    "BFDProfile",
    "BGPAdvertisement",
    "BGPPeer",
    "Community",
    "CommunityKind",
    "Config",
    "DynamicASN",
    "L2Advertisement",
    "Pool",
    "PreferredNode",
    "SecretRef",
    "ServiceAllocation",
]
