"""What this node says to a peer: the session's settings, its OPEN capabilities, and its routes' path attributes.

Theory of operation
-------------------
Pure functions of (configuration, negotiated capabilities, connection facts), kept apart from the FSM engine in
``session.py`` so that both stay small and this part can be tested row by row.

* :class:`SessionConfig` is a BGPPeer resolved for one node: the AS we speak as (``localASN`` when set, else
  ``myASN``), the AS we accept, timers, graceful restart, connect back-off.
* :class:`ConnectionInfo` is what only the adapter can learn about a TCP connection: our address on it and the
  other addresses of the same interface, which become next hops.
* :func:`local_capabilities` lists what we put in OPEN (see ``capabilities.py`` for why each one).
* :func:`path_attributes` builds the attributes of one group of routes. The same inputs give the same attributes
  on every node (only the next hop differs), which is what lets the router form ECMP: ORIGIN IGP (RFC 4271
  5.1.1), AS_PATH empty on iBGP and ``[local AS]`` on eBGP (5.1.2), LOCAL_PREF on iBGP only (5.1.5: "MUST NOT
  include this attribute in UPDATE messages it sends to external peers"), the communities policy chose, and,
  during an RFC 8326 graceful shutdown, GRACEFUL_SHUTDOWN (65535:0) and LOCAL_PREF 0.

Next hops (RFC 4271 5.1.3, RFC 2545 section 3, RFC 8950): IPv4 routes get our IPv4 address on the session (its
local address, or an IPv4 of the same interface on an IPv6 session; failing both, our IPv6 address when the peer
agreed to extended next hops). IPv6 routes go in MP_REACH_NLRI with our global IPv6 address (the local address
on an IPv6 session, else a global IPv6 of the interface), plus the interface's link-local address when the peer
is on-link: the 32-octet form. A family with no usable next hop is not announced (the prefixes stay pending).
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, replace

from ironlb.config.model import BGPPeer, DynamicASN
from speaker.bgp.core import iana
from speaker.bgp.core.attributes import (
    AsPathSegment,
    EncodeContext,
    IPAddress,
    MpReach,
    PathAttributes,
    as4_path_for,
)
from speaker.bgp.core.capabilities import (
    Capability,
    ExtendedNextHop,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Negotiated,
    RouteRefresh,
)
from speaker.bgp.core.rib import Family, RouteAttrs

#: LOCAL_PREF on iBGP when the BGPAdvertisement sets none (the customary default of BIRD, FRR and the RFC's examples)
DEFAULT_LOCAL_PREF = 100
#: RFC 4724 section 3 suggests the restart time be no longer than the hold time; FRR's default is 120 s
DEFAULT_RESTART_TIME = 120
_ENH_IPV4_OVER_IPV6 = (iana.Afi.IPV4, iana.Safi.UNICAST, iana.Afi.IPV6)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything a session needs to know about its peer and this node, resolved from a BGPPeer."""

    local_asn: int
    #: None = any AS of the kind ``peer_kind`` says (BGPPeer.dynamicASN)
    peer_asn: int | None = None
    peer_kind: DynamicASN | None = None
    router_id: ipaddress.IPv4Address | None = None
    node_name: str = ""
    hold_time: float = 90.0
    keepalive_time: float = 30.0
    graceful_restart: bool = False
    restart_time: int = DEFAULT_RESTART_TIME
    connect_retry: float = 1.0
    connect_retry_max: float = 30.0
    #: the peer's connectTime: a fixed interval instead of the back-off
    connect_retry_fixed: float | None = None
    #: RFC 8326: seconds between re-announcing with GRACEFUL_SHUTDOWN and withdrawing
    shutdown_wait: float = 1.0
    #: never initiate the TCP connection, only accept it
    passive: bool = False

    @classmethod
    def from_peer(
        cls,
        peer: BGPPeer,
        *,
        node_name: str,
        restart_time: int = DEFAULT_RESTART_TIME,
        shutdown_wait: float = 1.0,
        connect_retry: float = 1.0,
        connect_retry_max: float = 30.0,
    ) -> SessionConfig:
        hold, keepalive = peer.timers()
        return cls(
            local_asn=peer.local_asn if peer.local_asn is not None else peer.my_asn,
            peer_asn=peer.peer_asn,
            peer_kind=peer.dynamic_asn,
            router_id=peer.router_id,
            node_name=node_name,
            hold_time=hold,
            keepalive_time=keepalive,
            graceful_restart=peer.enable_graceful_restart,
            restart_time=min(restart_time, iana.MAX_RESTART_TIME),
            connect_retry=peer.connect_time or connect_retry,
            connect_retry_max=connect_retry_max,
            connect_retry_fixed=peer.connect_time,
            shutdown_wait=shutdown_wait,
        )


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Facts about the TCP connection that only the adapter can learn (addresses on the session's interface)."""

    local: IPAddress
    remote: IPAddress
    initiated_locally: bool = True
    #: an IPv4 address of this node on the session's interface (next hop for IPv4 over an IPv6 session)
    ipv4: ipaddress.IPv4Address | None = None
    #: a global IPv6 address of this node on that interface (next hop for IPv6 over an IPv4 session)
    ipv6: ipaddress.IPv6Address | None = None
    ipv6_link_local: ipaddress.IPv6Address | None = None
    #: the peer is on a subnet of that interface (RFC 2545: then the link-local next hop goes along)
    on_link: bool = True

    @property
    def next_hop_v4(self) -> ipaddress.IPv4Address | None:
        return self.local if isinstance(self.local, ipaddress.IPv4Address) else self.ipv4

    @property
    def next_hop_v6(self) -> ipaddress.IPv6Address | None:
        if isinstance(self.local, ipaddress.IPv6Address) and not self.local.is_link_local:
            return self.local
        return self.ipv6


def default_router_id(
    local: IPAddress, nic_ipv4: ipaddress.IPv4Address | None, node_name: str
) -> ipaddress.IPv4Address:
    """MetalLB's default (metallb.md 1.4): the local TCP address if IPv4, else an IPv4 of the same interface,
    else the CRC-32 of the node name as four octets (never 0.0.0.0, which RFC 6286 forbids)."""
    if isinstance(local, ipaddress.IPv4Address):
        return local
    if nic_ipv4 is not None:
        return nic_ipv4
    return ipaddress.IPv4Address(zlib.crc32(node_name.encode()) or 1)


def local_capabilities(config: SessionConfig, connection: ConnectionInfo | None) -> tuple[Capability, ...]:
    """The capabilities of our OPEN (the 4-octet AS one carries ``config.local_asn``)."""
    caps: list[Capability] = [
        Multiprotocol(*iana.IPV4_UNICAST),
        Multiprotocol(*iana.IPV6_UNICAST),
        RouteRefresh(),
        FourOctetAs(config.local_asn),
    ]
    if connection is not None and connection.local.version == 6:
        caps.append(ExtendedNextHop((_ENH_IPV4_OVER_IPV6,)))
    if config.graceful_restart:
        # F bit set: forwarding lives in the kernel and survives our restart (RFC 4724 section 3).
        families = tuple(GracefulRestartFamily(*f, forwarding_preserved=True) for f in _FAMILIES)
        caps.append(GracefulRestart(config.restart_time, families=families))
    return tuple(caps)


_FAMILIES = (iana.IPV4_UNICAST, iana.IPV6_UNICAST)


def path_attributes(
    family: Family,
    route: RouteAttrs,
    *,
    config: SessionConfig,
    negotiated: Negotiated,
    connection: ConnectionInfo,
    draining: bool = False,
) -> PathAttributes | None:
    """The attributes for routes of ``family`` with ``route``'s policy, or None when they cannot be announced."""
    if family not in negotiated.families:
        return None
    ibgp = negotiated.peer_asn == config.local_asn
    as_path = () if ibgp else (AsPathSegment(iana.AsPathSegmentType.AS_SEQUENCE, (config.local_asn,)),)
    local_pref = None
    if ibgp:
        local_pref = DEFAULT_LOCAL_PREF if route.local_pref is None else route.local_pref
        if draining:
            local_pref = 0  # RFC 8326 section 4.2: the receiver would lower it; we do it for it on iBGP
    communities = route.communities
    if draining:
        communities = tuple(sorted({*communities, iana.WellKnownCommunity.GRACEFUL_SHUTDOWN.value}))
    common = PathAttributes(
        origin=iana.Origin.IGP,
        as_path=as_path,
        local_pref=local_pref,
        communities=communities,
        large_communities=route.large_communities,
        as4_path=as4_path_for(as_path, EncodeContext(four_octet_as=negotiated.four_octet_as)),
    )
    if family == iana.IPV4_UNICAST:
        v4 = connection.next_hop_v4
        if v4 is not None:
            return replace(common, next_hop=v4)
        v6 = connection.next_hop_v6
        if v6 is not None and _ENH_IPV4_OVER_IPV6 in negotiated.extended_next_hop:
            return replace(common, mp_reach=MpReach(*family, next_hop=(v6,)))  # RFC 8950 section 3
        return None
    v6 = connection.next_hop_v6
    if v6 is None:
        return None
    hops: tuple[ipaddress.IPv6Address, ...] = (v6,)
    if connection.on_link and connection.ipv6_link_local is not None:
        hops = (v6, connection.ipv6_link_local)  # RFC 2545 section 3: the 32-octet next hop
    return replace(common, mp_reach=MpReach(*family, next_hop=hops))


__all__ = [
    "DEFAULT_LOCAL_PREF",
    "DEFAULT_RESTART_TIME",
    "ConnectionInfo",
    "SessionConfig",
    "default_router_id",
    "local_capabilities",
    "path_attributes",
]
