"""ARP for IPv4 over Ethernet (RFC 826), with the probe and announcement forms of RFC 5227 and RFC 5944.

Theory of operation
-------------------
An ARP packet for Ethernet/IPv4 is 28 bytes: hardware type 1, protocol type 0x0800, lengths 6 and 4, the operation,
then sender MAC, sender IP, target MAC, target IP. On the wire it is padded to the Ethernet minimum, so a decoder
must accept (and ignore) trailing bytes.

:class:`ArpPacket` is the codec; the builders below produce whole Ethernet frames for the four forms the speaker
sends:

- :func:`reply_frame` - the answer to a request (RFC 826 "Packet Reception": swap sender and target, put our MAC in
  the sender hardware field, set the opcode to reply, send it to the requester's hardware address);
- :func:`announcement_request_frame` - a gratuitous ARP in request form (RFC 5227 section 2.3 "ARP Announcement":
  sender IP = target IP = the address, target MAC zero, broadcast). Linux accepts this form even within
  ``neigh.locktime`` of the entry's last change (reference/lab-notes.md), so it is the one that flips caches;
- :func:`announcement_reply_frame` - the reply form (RFC 5944 section 4.6: sender IP = target IP, and the target
  hardware address set to the new link-layer address). MetalLB puts the broadcast MAC in that field; Linux ignores
  such a reply within locktime, while one whose target MAC equals the sender MAC counts as gratuitous, so we send
  that;
- :func:`probe_frame` - an ARP probe (RFC 5227 section 2.1.1: sender IP 0.0.0.0, target MAC zero, broadcast).

The responder's hot path does not go through :class:`ArpPacket` (building objects costs microseconds per packet);
it slices the frame at the offsets named here. Both are checked against each other and against scapy in the tests.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

from speaker.l2.core.ethernet import BROADCAST, ZERO_MAC, EtherType, FrameError, check_mac, frame

PACKET_LENGTH = 28
#: Hardware type 1 (Ethernet), protocol 0x0800 (IPv4), hardware length 6, protocol length 4: the only ARP we speak.
ETHERNET_IPV4_PREFIX = b"\x00\x01\x08\x00\x06\x04"

# Offsets of the fields inside an Ethernet frame (14-byte header first), for the responder's fast path.
OFFSET_PREFIX = 14
OFFSET_OP = 20
OFFSET_SENDER_MAC = 22
OFFSET_SENDER_IP = 28
OFFSET_TARGET_MAC = 32
OFFSET_TARGET_IP = 38
FRAME_LENGTH = 42

_PACKET = struct.Struct("!HHBBH6s4s6s4s")
UNSPECIFIED = ipaddress.IPv4Address(0)


class ArpOp(enum.IntEnum):
    """ARP operation codes (RFC 826; IANA "Operation Codes")."""

    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class ArpPacket:
    """One Ethernet/IPv4 ARP packet (RFC 826)."""

    op: int
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_mac: bytes
    target_ip: ipaddress.IPv4Address

    def encode(self) -> bytes:
        """The packet's 28 bytes (no Ethernet header, no padding).

        Raises:
            FrameError: a MAC is not 6 bytes or the operation does not fit in 16 bits.
        """
        check_mac(self.sender_mac, "sender MAC")
        check_mac(self.target_mac, "target MAC")
        if not 0 <= self.op <= 0xFFFF:
            raise FrameError(f"ARP operation {self.op} does not fit in 16 bits")
        return _PACKET.pack(
            1, EtherType.IPV4, 6, 4, self.op, self.sender_mac, self.sender_ip.packed, self.target_mac,
            self.target_ip.packed,
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> ArpPacket:
        """Decode the ARP payload of a frame; trailing padding is ignored.

        Raises:
            FrameError: too short, or not Ethernet/IPv4 ARP (RFC 826: a receiver checks ar$hrd, ar$pro and the
                lengths, and discards what it does not speak).
        """
        if len(data) < PACKET_LENGTH:
            raise FrameError(f"ARP packet of {len(data)} bytes is shorter than {PACKET_LENGTH}")
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _PACKET.unpack_from(data)
        if (htype, ptype, hlen, plen) != (1, EtherType.IPV4, 6, 4):
            raise FrameError(
                f"ARP for hardware type {htype}, protocol {ptype:#06x}, lengths {hlen}/{plen} is not Ethernet/IPv4"
            )
        return cls(op, sha, ipaddress.IPv4Address(spa), tha, ipaddress.IPv4Address(tpa))

    @classmethod
    def decode_frame(cls, data: bytes) -> ArpPacket:
        """Decode a whole Ethernet frame carrying ARP.

        Raises:
            FrameError: not an ARP frame, or see :meth:`decode`.
        """
        if len(data) < 14:
            raise FrameError(f"frame of {len(data)} bytes is shorter than an Ethernet header")
        ethertype = int.from_bytes(data[12:14], "big")
        if ethertype != EtherType.ARP:
            raise FrameError(f"EtherType {ethertype:#06x} is not ARP")
        return cls.decode(data[14:])

    @property
    def is_probe(self) -> bool:
        """RFC 5227 section 2.1.1: a request whose sender IP is all zeros."""
        return self.op == ArpOp.REQUEST and self.sender_ip == UNSPECIFIED

    @property
    def is_announcement(self) -> bool:
        """Gratuitous ARP, either form: sender IP equals target IP (RFC 5227 section 2.3, RFC 5944 section 4.6)."""
        return self.sender_ip == self.target_ip and self.sender_ip != UNSPECIFIED


def packet_frame(dst: bytes, src: bytes, packet: ArpPacket) -> bytes:
    """An Ethernet frame carrying ``packet``, padded to 60 bytes.

    Raises:
        FrameError: see :meth:`ArpPacket.encode`.
    """
    return frame(dst, src, EtherType.ARP, packet.encode())


def request_frame(mac: bytes, sender_ip: ipaddress.IPv4Address, target_ip: ipaddress.IPv4Address) -> bytes:
    """A broadcast who-has request (what a client sends to resolve ``target_ip``)."""
    return packet_frame(BROADCAST, mac, ArpPacket(ArpOp.REQUEST, mac, sender_ip, ZERO_MAC, target_ip))


def reply_frame(mac: bytes, request: ArpPacket) -> bytes:
    """Our answer to ``request``: ``request.target_ip`` is at ``mac``, sent to the requester's hardware address."""
    packet = ArpPacket(ArpOp.REPLY, mac, request.target_ip, request.sender_mac, request.sender_ip)
    return packet_frame(request.sender_mac, mac, packet)


def announcement_request_frame(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """Gratuitous ARP, request form (RFC 5227 section 2.3): sender IP = target IP = ``ip``, target MAC zero."""
    return packet_frame(BROADCAST, mac, ArpPacket(ArpOp.REQUEST, mac, ip, ZERO_MAC, ip))


def announcement_reply_frame(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """Gratuitous ARP, reply form (RFC 5944 section 4.6): sender IP = target IP, target MAC = sender MAC."""
    return packet_frame(BROADCAST, mac, ArpPacket(ArpOp.REPLY, mac, ip, mac, ip))


def probe_frame(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """ARP probe (RFC 5227 section 2.1.1): broadcast request, sender IP 0.0.0.0, target MAC zero, target IP ``ip``."""
    return packet_frame(BROADCAST, mac, ArpPacket(ArpOp.REQUEST, mac, UNSPECIFIED, ZERO_MAC, ip))


__all__ = [
    "ETHERNET_IPV4_PREFIX",
    "FRAME_LENGTH",
    "OFFSET_OP",
    "OFFSET_PREFIX",
    "OFFSET_SENDER_IP",
    "OFFSET_SENDER_MAC",
    "OFFSET_TARGET_IP",
    "OFFSET_TARGET_MAC",
    "PACKET_LENGTH",
    "UNSPECIFIED",
    "ArpOp",
    "ArpPacket",
    "announcement_reply_frame",
    "announcement_request_frame",
    "packet_frame",
    "probe_frame",
    "reply_frame",
    "request_frame",
]
