"""The speaker's state as one ``StatusResponse`` (ironlb/rpc/status.proto): announcements, sessions, membership.

Built on the event loop from plain values the parts expose (no locks: the loop is the only writer), so a reply is
a consistent snapshot. Kept apart from the gRPC server so that it is tested without a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ironlb.rpc import status_pb2 as pb
from speaker.bfd.manager import PeerStatus
from speaker.bgp.manager import SessionStatus
from speaker.l2.stats import L2Stats
from speaker.l2controller import Announcement
from speaker.membership import MembershipView
from speaker.routetable import RouteTable
from speaker.view import ViewStats


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    loaded: bool
    stale: bool
    error_summary: str = ""
    pools: int = 0
    peers: int = 0


def _community(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


def l2_messages(announcements: Iterable[Announcement]) -> list[pb.L2Announcement]:
    return [
        pb.L2Announcement(
            ip=str(a.ip),
            services=list(a.services),
            interfaces=list(a.interfaces),
            phase=a.phase,
            since_unix=a.since,
            cause=a.cause,
        )
        for a in announcements
    ]


def bgp_messages(table: RouteTable) -> list[pb.BgpAnnouncement]:
    out = []
    for peer, routes in table.routes().items():
        messages = []
        for prefix, attrs in sorted(routes.items(), key=lambda kv: (kv[0].version, kv[0])):
            messages.append(
                pb.Route(
                    prefix=str(prefix),
                    local_pref=attrs.local_pref or 0,
                    has_local_pref=attrs.local_pref is not None,
                    communities=[_community(c) for c in attrs.communities],
                    large_communities=[":".join(str(p) for p in c) for c in attrs.large_communities],
                    services=list(table.services_of(peer, prefix)),
                )
            )
        out.append(pb.BgpAnnouncement(peer=peer, routes=messages))
    return out


def session_messages(sessions: Sequence[SessionStatus]) -> list[pb.BgpSession]:
    return [
        pb.BgpSession(
            peer=s.peer,
            address=s.address,
            state=s.state,
            local_address=s.local_address or "",
            local_asn=s.local_asn,
            peer_asn=s.peer_asn or 0,
            router_id=s.router_id or "",
            peer_router_id=s.peer_router_id or "",
            uptime_seconds=s.uptime or 0.0,
            hold_time=s.hold_time,
            keepalive_time=s.keepalive_time,
            families=list(s.families),
            graceful_restart=s.graceful_restart,
            advertised=list(s.advertised),
            pending=s.pending,
            updates_sent=s.updates_sent,
            updates_received=s.updates_received,
            prefixes_received=s.prefixes_received,
            last_error=s.last_error,
        )
        for s in sessions
    ]


def bfd_messages(peers: Sequence[PeerStatus]) -> list[pb.BfdSession]:
    out = []
    for peer in peers:
        d = peer.as_dict()
        out.append(
            pb.BfdSession(
                peer=str(peer.peer),
                local=str(peer.local),
                profile=peer.profile,
                state=str(d["status"]),
                remote_state=str(d["remote_status"]),
                diagnostic=str(d["diagnostic"]),
                detection_time_ms=float(d["detection_time_ms"]),  # type: ignore[arg-type]
                transmit_interval_ms=float(d["negotiated_transmit_interval_ms"]),  # type: ignore[arg-type]
                packets_in=peer.session.packets_in,
                packets_out=peer.session.packets_out,
                up_events=peer.session.up_events,
                down_events=peer.session.down_events,
            )
        )
    return out


def membership_message(*, enabled: bool, source: str, view: MembershipView, states: Mapping[str, str]) -> pb.Membership:
    members = []
    for name in sorted(set(states) | set(view.alive())):
        info = view.members.get(name)
        address = f"{info.address[0]}:{info.address[1]}" if info is not None and info.address else ""
        state = "alive" if name in view else states.get(name, "")
        metadata = metadata_text(info.metadata) if info is not None else ""
        members.append(pb.Member(name=name, address=address, state=state, metadata=metadata))
    return pb.Membership(enabled=enabled, source=source, local=view.local, members=members)


def counters(l2: L2Stats | None, view: ViewStats, extra: Mapping[str, float]) -> list[pb.Counter]:
    out = [
        pb.Counter(name="ironlb_speaker_elections", value=view.elections),
        pb.Counter(name="ironlb_speaker_election_screens", value=view.screens),
        pb.Counter(name="ironlb_speaker_bgp_plans", value=view.bgp_plans),
    ]
    out += [pb.Counter(name=name, value=value) for name, value in sorted(extra.items())]
    if l2 is not None:
        for ip, c in sorted(l2.per_address().items(), key=lambda kv: (kv[0].version, kv[0])):
            for name, value in (
                ("metallb_layer2_requests_received", c.requests_received),
                ("metallb_layer2_responses_sent", c.responses_sent),
                ("metallb_layer2_gratuitous_sent", c.gratuitous_sent),
            ):
                out.append(pb.Counter(name=name, labels={"ip": str(ip)}, value=value))
        for reason, count in sorted(l2.dropped().items()):
            out.append(pb.Counter(name="ironlb_layer2_dropped", labels={"reason": reason.value}, value=count))
        out.append(pb.Counter(name="ironlb_layer2_address_conflicts", value=l2.conflicts))
    return out


def metadata_text(data: bytes) -> str:
    """Metadata as compact JSON text when it is JSON, else as received."""
    try:
        return json.dumps(json.loads(data), separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


__all__ = [
    "ConfigSummary",
    "bfd_messages",
    "bgp_messages",
    "counters",
    "l2_messages",
    "membership_message",
    "metadata_text",
    "session_messages",
]
