"""The sockets of one eligible, up interface ("port"): what the announcer opens per interface, in one place.

A port holds

- an ARP socket (BPF: ARP requests only) and an NDP socket (BPF: Neighbor Solicitations only), each handing its
  frames to an *answerer* - a callable the announcer builds around the responder - which replies on the same
  socket;
- the solicited-node group memberships of the IPv6 addresses answered there (held by the NDP socket);
- while a probe runs on the interface, a claims socket (BPF: any ARP, NS and NA; our own frames ignored) feeding the
  probe.

Opening is all-or-nothing: if either answering socket cannot be opened (the interface vanished between the scan and
the bind), nothing stays open and the caller retries on a later scan.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable

from loguru import logger

from speaker.l2 import bpf
from speaker.l2.core.responder import Interface
from speaker.l2.interfaces import LinkState
from speaker.l2.multicast import SolicitedNodeGroups
from speaker.l2.packet_socket import ETH_P_ALL, ETH_P_ARP, ETH_P_IPV6, PacketSocket

#: Builds the per-socket frame handler from the interface and that socket's ``send``.
Answerer = Callable[[Interface, Callable[[bytes], bool]], Callable[[bytes], None]]


def _ignore(frame: bytes) -> None:
    del frame


class Port:
    """Answering, multicast and (while probing) claim-listening sockets of one interface."""

    def __init__(self, link: LinkState, arp: PacketSocket, ndp: PacketSocket, loop: asyncio.AbstractEventLoop) -> None:
        self.link = link
        self.interface = link.interface
        self.arp = arp
        self.ndp = ndp
        self.groups = SolicitedNodeGroups(ndp.sock, ndp.ifindex)
        self.claims: PacketSocket | None = None
        self._wanted_groups: frozenset[ipaddress.IPv6Address] = frozenset()
        self._loop = loop

    @classmethod
    def open(cls, link: LinkState, *, answerer: Answerer, rcvbuf: int, loop: asyncio.AbstractEventLoop) -> Port:
        """Open the answering sockets of ``link``.

        Raises:
            OSError: a socket could not be opened or bound (nothing is left open).
        """
        interface = link.interface
        arp = PacketSocket(link.name, ETH_P_ARP, program=bpf.ARP_REQUESTS, on_frame=_ignore, rcvbuf=rcvbuf)
        ndp = PacketSocket(link.name, ETH_P_IPV6, program=bpf.NEIGHBOR_SOLICITATIONS, on_frame=_ignore, rcvbuf=rcvbuf)
        arp.on_frame = answerer(interface, arp.send)
        ndp.on_frame = answerer(interface, ndp.send)
        try:
            arp.open(loop)
            ndp.open(loop)
        except OSError:
            arp.close()
            ndp.close()
            raise
        return cls(link, arp, ndp, loop)

    def close(self) -> None:
        for sock in (self.claims, self.ndp, self.arp):
            if sock is not None:
                sock.close()
        self.claims = None

    def send(self, frame: bytes) -> bool:
        """Send any frame on the interface (a raw packet socket sends whatever EtherType it is given)."""
        return self.arp.send(frame)

    def statistics(self) -> tuple[int, int]:
        """(frames passed by the answering sockets' filters, frames the kernel dropped for lack of buffer)."""
        arp_packets, arp_drops = self.arp.statistics()
        ndp_packets, ndp_drops = self.ndp.statistics()
        return arp_packets + ndp_packets, arp_drops + ndp_drops

    def listen_for_claims(self, on_frame: Callable[[bytes], None] | None) -> None:
        """Open (``on_frame`` given) or close (None) the claims socket; a failure is logged and retried next time."""
        if on_frame is None:
            if self.claims is not None:
                self.claims.close()
                self.claims = None
            return
        if self.claims is not None:
            return
        claims = PacketSocket(
            self.link.name, ETH_P_ALL, program=bpf.NEIGHBOR_CLAIMS, on_frame=on_frame, ignore_outgoing=True,
            rcvbuf=1 << 20,
        )  # fmt: skip
        try:
            claims.open(self._loop)
        except OSError as exc:
            logger.warning("cannot listen for address claims on {}: {}", self.link.name, exc)
            return
        self.claims = claims

    def sync_groups(self, wanted: Iterable[ipaddress.IPv6Address]) -> None:
        """Be in exactly the solicited-node groups of ``wanted``."""
        target = frozenset(wanted)
        if target == self._wanted_groups:
            return
        try:
            self.groups.sync(target)
        except OSError as exc:
            logger.warning("cannot join solicited-node groups on {}: {}", self.link.name, exc)
        self._wanted_groups = target


__all__ = ["Answerer", "Port"]
