"""Solicited-node multicast membership for the IPv6 addresses we answer, per interface, reference-counted.

A client resolving 2001:db8:100::5 sends its Neighbor Solicitation to ff02::1:ff00:5, Ethernet 33:33:ff:00:00:05.
A NIC drops multicast frames for groups nobody joined, and the kernel joins only the groups of addresses configured
on the interface - ours are configured nowhere. So for every owned IPv6 address the announcer joins its
solicited-node group on each interface it is answered on (MetalLB does the same, reference/metallb.md 4.4).

``PACKET_ADD_MEMBERSHIP`` with ``PACKET_MR_MULTICAST`` on the interface's packet socket is the simplest way: it adds
the Ethernet group to the device's filter for as long as the socket holds it, and closing the socket releases it.
Addresses sharing their low 24 bits share a group, hence the reference counts: the group is left when the last
address using it goes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from collections.abc import Iterable

from speaker.l2.core.ndp import multicast_mac, solicited_node_address
from speaker.l2.packet_socket import PACKET_ADD_MEMBERSHIP, PACKET_DROP_MEMBERSHIP, SOL_PACKET

PACKET_MR_MULTICAST = 0


def group_mac(ip: ipaddress.IPv6Address) -> bytes:
    """The Ethernet group 33:33:ff:XX:XX:XX that neighbour solicitations for ``ip`` are sent to."""
    return multicast_mac(solicited_node_address(ip))


class SolicitedNodeGroups:
    """The groups one interface is in on behalf of our addresses."""

    def __init__(self, sock: socket.socket, ifindex: int) -> None:
        self._sock = sock
        self._ifindex = ifindex
        self._addresses: set[ipaddress.IPv6Address] = set()
        self._refs: dict[bytes, int] = {}

    @property
    def groups(self) -> dict[bytes, int]:
        """Joined group MAC -> number of our addresses using it."""
        return dict(self._refs)

    def join(self, ip: ipaddress.IPv6Address) -> None:
        """Join ``ip``'s group (once per address; a group shared with another address is joined once).

        Raises:
            OSError: the kernel refused the membership.
        """
        if ip in self._addresses:
            return
        mac = group_mac(ip)
        if mac not in self._refs:
            self._setsockopt(PACKET_ADD_MEMBERSHIP, mac)
            self._refs[mac] = 0
        self._refs[mac] += 1
        self._addresses.add(ip)

    def leave(self, ip: ipaddress.IPv6Address) -> None:
        """Drop ``ip``'s use of its group, leaving the group when no address uses it any more."""
        if ip not in self._addresses:
            return
        self._addresses.discard(ip)
        mac = group_mac(ip)
        self._refs[mac] -= 1
        if self._refs[mac] == 0:
            del self._refs[mac]
            with contextlib.suppress(OSError):  # the socket or interface is going away: the membership goes with it
                self._setsockopt(PACKET_DROP_MEMBERSHIP, mac)

    def sync(self, wanted: Iterable[ipaddress.IPv6Address]) -> None:
        """Make the joined set exactly ``wanted``.

        Raises:
            OSError: a join was refused (the others are still done).
        """
        target = set(wanted)
        for ip in self._addresses - target:
            self.leave(ip)
        error: OSError | None = None
        for ip in target - self._addresses:
            try:
                self.join(ip)
            except OSError as exc:
                error = exc
        if error is not None:
            raise error

    def _setsockopt(self, option: int, mac: bytes) -> None:
        mreq = struct.pack("iHH8s", self._ifindex, PACKET_MR_MULTICAST, 6, mac)
        self._sock.setsockopt(SOL_PACKET, option, mreq)


__all__ = ["SolicitedNodeGroups", "group_mac"]
