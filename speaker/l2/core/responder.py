"""The answering decision: given one received frame, reply for an owned address or say why not.

Theory of operation
-------------------
:meth:`Responder.answer` takes the bytes of one Ethernet frame, the :class:`Interface` it arrived on, and consults
the owned-address table (address -> the interface names it may be answered on, or every interface). It returns a
:class:`Reply` (the frame to send back on that interface, and the address it answers for) or a :class:`DropReason`.
It never raises: every malformed input maps to a reason, and the adapter counts reasons (style anchor 7).

The semantics are MetalLB's (reference/metallb.md section 4.4), with the deviations marked *ironlb*:

ARP (RFC 826)
    Answer only *requests* whose Ethernet destination is broadcast or the receiving interface's MAC, for an owned
    address allowed on that interface. The reply says ``target IP is-at <receiving interface MAC>`` and goes to the
    requester's sender hardware address, as RFC 826 "Packet Reception" prescribes. *ironlb*: a request whose sender
    IP equals its target IP is somebody's gratuitous announcement, not a question, and is not answered; ARP probes
    (sender IP 0.0.0.0, RFC 5227 section 2.1.1) *are* answered, like the Linux kernel does for its own addresses,
    so that a host probing for one of our addresses learns it is taken.

NDP (RFC 4861)
    Answer Neighbor Solicitations that pass the section 7.1.1 validity checks (hop limit 255, code 0, valid
    checksum, ICMP length >= 24, no zero-length option, target not multicast) and carry a source link-layer address
    option (MetalLB drops those without one), sent to the target's solicited-node group or unicast to the target
    (a neighbour-unreachability probe - MetalLB's kernel ICMPv6 socket never sees those, a packet socket does).
    The solicited advertisement (section 7.2.4) goes to the solicitation's source, Ethernet destination = the
    source link-layer option, with the target link-layer option = the receiving interface's MAC, Solicited=1 and
    Router=0. *ironlb*: Override=1, where MetalLB sends 0. Section 7.2.4 says the Override flag SHOULD be set unless
    the target is anycast or the node is a proxy; a load-balancer address is a unicast address that exactly one
    node answers for, and with Override=0 a client whose entry still names the previous owner (its unsolicited NA
    lost) would only mark the entry STALE instead of correcting it (section 7.2.5). *ironlb*: a duplicate-address
    probe for an owned address (source ::, no source link-layer option) is answered as section 7.2.4 says - to
    all-nodes, Solicited=0 - which defends the address.

The IPv6 source of our advertisements is the target address itself, as Linux does for its own addresses (section
4.4: "an address assigned to the interface" - logically, the address is ours). Diagnostic tools such as ndisc6
ignore a solicited advertisement from another source, and a link-local source would need one per interface.

The hot path works on byte offsets and packed addresses, not on decoded objects: answering a request costs a
dictionary lookup and a few slices. Both paths are cross-checked against the object codecs and scapy in the tests.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.ethernet import BROADCAST, ZERO_MAC, FrameError

#: Owned address -> the interface names it may be answered on, or None for every interface.
OwnedTable = Mapping[IPAddress, frozenset[str] | None]


class DropReason(enum.StrEnum):
    """Why a received frame was not answered (the ``reason`` label of ``ironlb_layer2_dropped_total``)."""

    MALFORMED = "malformed"
    """Too short, truncated, or violating the codec's structure (bad option lengths, IP version)."""
    BAD_CHECKSUM = "bad-checksum"
    """ICMPv6 checksum wrong (RFC 4861 section 7.1.1)."""
    UNSUPPORTED_PROTOCOL = "unsupported-protocol"
    """Neither Ethernet/IPv4 ARP nor IPv6 with ICMPv6 directly after the fixed header."""
    NOT_REQUEST = "not-a-request"
    """An ARP reply, or an ICMPv6 message other than a Neighbor Solicitation."""
    NOT_FOR_US = "not-for-us"
    """Ethernet destination is neither broadcast, our MAC, nor the target's solicited-node group."""
    FROM_SELF = "from-self"
    """Sent with our own MAC as sender: our own frame looped back, or a spoof."""
    BAD_SENDER = "bad-sender"
    """The sender hardware address is a group or zero address: there is no one to answer to."""
    ANNOUNCEMENT = "announcement"
    """Someone else's gratuitous ARP (sender IP = target IP): an announcement, not a question."""
    HOP_LIMIT = "hop-limit-not-255"
    """RFC 4861 section 7.1.1: a solicitation not sent with hop limit 255 may come from off-link."""
    INVALID_SOLICITATION = "invalid-solicitation"
    """Other RFC 4861 section 7.1.1 violations: multicast target; from :: with a source link-layer option or not to
    the solicited-node group."""
    NO_SOURCE_LINK_LAYER = "no-source-link-layer-option"
    """A Neighbor Solicitation from a unicast address without a source link-layer option (MetalLB drops these)."""
    NOT_OWNED = "address-not-owned"
    """The target address is not one we announce."""
    INTERFACE_NOT_ALLOWED = "interface-not-allowed"
    """The address is owned, but not to be answered on the interface the request came in on."""
    SEND_FAILED = "send-failed"
    """(Adapter) the reply could not be written to the socket."""


@dataclass(frozen=True, slots=True)
class Interface:
    """What the data plane needs to know about the interface a frame arrived on or is sent from."""

    name: str
    mac: bytes


class Reply(NamedTuple):
    """The frame to send back on the receiving interface, and the packed owned address it answers for."""

    frame: bytes
    address: bytes


class _AnyInterface:
    """The stored form of "every interface" (the speaker's None): contains every name."""

    __slots__ = ()

    def __contains__(self, name: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY_INTERFACE"


_ANY = _AnyInterface()
_ARP = b"\x08\x06"
_IPV6 = b"\x86\xdd"
_ARP_REQUEST = b"\x00\x01"
_ARP_REPLY_HEADER = b"\x08\x06" + arp.ETHERNET_IPV4_PREFIX + b"\x00\x02"
_ARP_PADDING = b"\x00" * 18
_ALL_NODES = ndp.ALL_NODES.packed
_ALL_NODES_MAC = ndp.multicast_mac(ndp.ALL_NODES)
_SOLICITED_NODE_PREFIX = ndp.solicited_node_address(ndp.UNSPECIFIED).packed[:13]
_UNSPECIFIED6 = bytes(16)
_NS_MIN_FRAME = ndp.OFFSET_ICMPV6 + ndp.MESSAGE_LENGTH
_SOLICITED = ndp.FLAG_SOLICITED | ndp.FLAG_OVERRIDE
_DEFENDED = ndp.FLAG_OVERRIDE


class Responder:
    """The owned-address table and the per-frame decision. Pure: no sockets, no clock."""

    __slots__ = ("_packed", "_table")

    def __init__(self, table: OwnedTable | None = None) -> None:
        self._table: OwnedTable = MappingProxyType({})
        self._packed: dict[bytes, Container[str]] = {}
        if table:
            self.set_table(table)

    @property
    def table(self) -> OwnedTable:
        """The table in force (read-only)."""
        return self._table

    def set_table(self, table: OwnedTable) -> None:
        """Replace the owned-address table: address -> allowed interface names, or None for every interface."""
        self._table = MappingProxyType(dict(table))
        self._packed = {ip.packed: (_ANY if allowed is None else allowed) for ip, allowed in table.items()}

    def owns(self, address: IPAddress) -> bool:
        return address.packed in self._packed

    def answer(self, frame: bytes, interface: Interface) -> Reply | DropReason:
        """Decide about one received frame.

        Args:
            frame: the whole Ethernet frame as read from the packet socket.
            interface: the interface it was read from; replies carry its MAC.

        Returns:
            The reply to send on ``interface``, or why nothing is sent. Never raises.
        """
        ethertype = frame[12:14]
        if ethertype == _ARP:
            return self._answer_arp(frame, interface)
        if ethertype == _IPV6:
            return self._answer_ndp(frame, interface)
        if len(frame) < 14:
            return DropReason.MALFORMED
        return DropReason.UNSUPPORTED_PROTOCOL

    def _answer_arp(self, frame: bytes, interface: Interface) -> Reply | DropReason:
        if len(frame) < arp.FRAME_LENGTH:
            return DropReason.MALFORMED
        if frame[14:20] != arp.ETHERNET_IPV4_PREFIX:
            return DropReason.UNSUPPORTED_PROTOCOL
        if frame[20:22] != _ARP_REQUEST:
            return DropReason.NOT_REQUEST
        mac = interface.mac
        destination = frame[0:6]
        if destination not in (BROADCAST, mac):
            return DropReason.NOT_FOR_US
        sender_mac = frame[22:28]
        if sender_mac == mac:
            return DropReason.FROM_SELF
        if sender_mac[0] & 1 or sender_mac == ZERO_MAC:
            return DropReason.BAD_SENDER
        sender_ip = frame[28:32]
        target_ip = frame[38:42]
        if sender_ip == target_ip:
            return DropReason.ANNOUNCEMENT
        allowed = self._packed.get(target_ip)
        if allowed is None:
            return DropReason.NOT_OWNED
        if interface.name not in allowed:
            return DropReason.INTERFACE_NOT_ALLOWED
        # RFC 826 "Packet Reception": swap sender and target, our MAC as sender hardware address, opcode reply.
        reply = sender_mac + mac + _ARP_REPLY_HEADER + mac + target_ip + sender_mac + sender_ip + _ARP_PADDING
        return Reply(reply, target_ip)

    def _answer_ndp(self, frame: bytes, interface: Interface) -> Reply | DropReason:
        if len(frame) < _NS_MIN_FRAME or frame[14] >> 4 != 6:
            return DropReason.MALFORMED
        if frame[20] != ndp.NEXT_HEADER_ICMPV6:
            return DropReason.UNSUPPORTED_PROTOCOL
        end = ndp.OFFSET_ICMPV6 + int.from_bytes(frame[18:20], "big")
        if end > len(frame):
            return DropReason.MALFORMED
        if frame[54] != ndp.TYPE_NEIGHBOR_SOLICITATION:
            return DropReason.NOT_REQUEST
        # RFC 4861 section 7.1.1: ICMP code 0, ICMP length >= 24, hop limit 255, valid checksum - else discard.
        if frame[55] != 0 or end < _NS_MIN_FRAME:
            return DropReason.MALFORMED
        if frame[21] != ndp.HOP_LIMIT:
            return DropReason.HOP_LIMIT
        source = frame[22:38]
        destination = frame[38:54]
        message = frame[54:end]
        if not ndp.checksum_ok(source, destination, message):
            return DropReason.BAD_CHECKSUM
        mac = interface.mac
        target = frame[62:78]
        eth_destination = frame[0:6]
        multicast = destination[0] == 0xFF
        if multicast:
            if destination[:13] != _SOLICITED_NODE_PREFIX or destination[13:] != target[13:]:
                return DropReason.NOT_FOR_US
            if eth_destination not in (mac, b"\x33\x33" + destination[12:]):
                return DropReason.NOT_FOR_US
        elif destination != target or eth_destination != mac:
            return DropReason.NOT_FOR_US
        if frame[6:12] == mac:
            return DropReason.FROM_SELF
        if target[0] == 0xFF:  # RFC 4861 section 7.1.1: the target MUST NOT be a multicast address
            return DropReason.INVALID_SOLICITATION
        try:
            sender_mac = _source_link_layer(message)
        except FrameError:
            return DropReason.MALFORMED
        if source == _UNSPECIFIED6:
            # RFC 4861 section 7.1.1: from :: the destination is a solicited-node group and no source LLA is present.
            if sender_mac is not None or not multicast:
                return DropReason.INVALID_SOLICITATION
            reply_destination, reply_mac, flags = _ALL_NODES, _ALL_NODES_MAC, _DEFENDED
        else:
            if sender_mac is None:
                return DropReason.NO_SOURCE_LINK_LAYER
            if sender_mac[0] & 1 or sender_mac == ZERO_MAC:
                return DropReason.BAD_SENDER
            reply_destination, reply_mac, flags = source, sender_mac, _SOLICITED
        allowed = self._packed.get(target)
        if allowed is None:
            return DropReason.NOT_OWNED
        if interface.name not in allowed:
            return DropReason.INTERFACE_NOT_ALLOWED
        # RFC 4861 section 7.2.4: solicited NA to the solicitation's source (all-nodes, S=0, when that was ::).
        reply = ndp.advertisement_frame(
            mac, target, destination=reply_destination, dst_mac=reply_mac, target=target, flags=flags
        )
        return Reply(reply, target)


def _source_link_layer(message: bytes) -> bytes | None:
    """The MAC of the first source link-layer option of an NS (its bytes after the 24-byte fixed part)."""
    offset = ndp.MESSAGE_LENGTH
    found: bytes | None = None
    while offset < len(message):
        if len(message) - offset < 2:
            raise FrameError("ND option area ends in the middle of an option header")
        kind, units = message[offset], message[offset + 1]
        if units == 0:  # RFC 4861 section 4.6: an option with length zero voids the whole packet
            raise FrameError(f"ND option type {kind} has length zero")
        end = offset + units * 8
        if end > len(message):
            raise FrameError(f"ND option type {kind} runs past the end of the message")
        if kind == ndp.OPTION_SOURCE_LINK_LAYER and found is None:
            found = message[offset + 2 : offset + 8]
        offset = end
    return found


__all__ = ["DropReason", "Interface", "OwnedTable", "Reply", "Responder"]
