"""The L2 data plane's counters: plain integers on the hot path, read by metrics and status at their own pace.

Counting a request must cost a dictionary increment, not a Prometheus label lookup under a lock, so the announcer
keeps :class:`L2Stats` and :mod:`speaker.l2.metrics` turns it into MetalLB's metrics when scraped. Per-address
counters are keyed by the packed address (what the responder hands back) and converted to addresses on reading.
Like MetalLB's, they are cumulative and survive the address being given up.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ironlb.api.addresses import IPAddress
from speaker.l2.core.responder import DropReason


@dataclass(frozen=True, slots=True)
class AddressCounters:
    requests_received: int = 0
    responses_sent: int = 0
    gratuitous_sent: int = 0
    probes_sent: int = 0


@dataclass(slots=True)
class L2Stats:
    """Mutable counters, owned by one announcer (single-threaded: no locks)."""

    requests_received: defaultdict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    responses_sent: defaultdict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    gratuitous_sent: defaultdict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    probes_sent: defaultdict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    drops: defaultdict[DropReason, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: int = 0
    #: frames the kernel dropped because a receive buffer was full (PACKET_STATISTICS), refreshed on reading
    socket_drops: int = 0
    #: frames that passed the BPF filters of the answering sockets (PACKET_STATISTICS), refreshed on reading
    socket_packets: int = 0

    def per_address(self) -> dict[IPAddress, AddressCounters]:
        """Counters by address, for every address that has any."""
        keys = set(self.requests_received) | set(self.responses_sent) | set(self.gratuitous_sent)
        keys |= set(self.probes_sent)
        return {
            ipaddress.ip_address(key): AddressCounters(
                self.requests_received.get(key, 0),
                self.responses_sent.get(key, 0),
                self.gratuitous_sent.get(key, 0),
                self.probes_sent.get(key, 0),
            )
            for key in keys
        }

    def dropped(self) -> dict[DropReason, int]:
        return {reason: count for reason, count in self.drops.items() if count}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {
            "addresses": {
                str(ip): {
                    "requests_received": c.requests_received,
                    "responses_sent": c.responses_sent,
                    "gratuitous_sent": c.gratuitous_sent,
                    "probes_sent": c.probes_sent,
                }
                for ip, c in sorted(self.per_address().items(), key=lambda item: (item[0].version, item[0]))
            },
            "dropped": {reason.value: count for reason, count in sorted(self.dropped().items())},
            "conflicts": self.conflicts,
            "socket_drops": self.socket_drops,
            "socket_packets": self.socket_packets,
        }


__all__ = ["AddressCounters", "L2Stats"]
