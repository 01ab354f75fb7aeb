"""IPv6 Neighbor Discovery over Ethernet: the IPv6 header, ICMPv6 Neighbor Solicitation and Advertisement (RFC 4861).

Theory of operation
-------------------
A neighbour-discovery frame is Ethernet (EtherType 0x86dd), a 40-byte IPv6 header (RFC 8200 section 3) with next
header 58 and no extension headers, then an ICMPv6 message (RFC 4443): type, code, checksum, and for NS (type 135)
and NA (type 136) a 4-byte reserved/flags word, the 16-byte target address, and TLV options in units of 8 bytes
(RFC 4861 sections 4.3, 4.4, 4.6). We speak the two link-layer address options: source (type 1) and target
(type 2), which on Ethernet carry 6 bytes of MAC in an 8-byte option.

The ICMPv6 checksum (RFC 4443 section 2.3) covers the IPv6 pseudo-header of RFC 8200 section 8.1 (source,
destination, upper-layer length, next header 58) and the message. It is the 16-bit one's complement of the one's
complement sum of 16-bit words. Because 2**16 = 1 (mod 0xffff), the sum of big-endian words equals the whole byte
string read as one big integer, modulo 0xffff - so :func:`checksum` is a single C-level ``int.from_bytes`` and one
modulo, fast enough for the responder's per-packet path.

Decoders check structure only (lengths, code, option lengths, checksum) and raise :class:`FrameError`. The RFC 4861
section 7.1 validity rules that decide whether to *answer* (hop limit 255, source/destination combinations) are the
responder's and the probe's business, so they can name the reason when they drop.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import NamedTuple

from speaker.l2.core.ethernet import EtherType, FrameError, check_mac, frame

IPV6_HEADER_LENGTH = 40
NEXT_HEADER_ICMPV6 = 58
#: RFC 4861 sections 7.1.1 and 7.1.2: neighbour discovery is sent with hop limit 255 and MUST be dropped otherwise,
#: which proves the sender is on-link.
HOP_LIMIT = 255
TYPE_NEIGHBOR_SOLICITATION = 135
TYPE_NEIGHBOR_ADVERTISEMENT = 136
#: ICMPv6 length of NS and NA before options (RFC 4861 sections 7.1.1, 7.1.2: "ICMP length ... is 24 or more octets").
MESSAGE_LENGTH = 24
OPTION_SOURCE_LINK_LAYER = 1
OPTION_TARGET_LINK_LAYER = 2

FLAG_ROUTER = 0x80
FLAG_SOLICITED = 0x40
FLAG_OVERRIDE = 0x20

ALL_NODES = ipaddress.IPv6Address("ff02::1")
UNSPECIFIED = ipaddress.IPv6Address(0)
_SOLICITED_NODE_PREFIX = bytes.fromhex("ff02" + "00" * 9 + "01ff")  # ff02::1:ff00:0/104

# Offsets inside an Ethernet frame, for the responder's fast path.
OFFSET_IPV6 = 14
OFFSET_NEXT_HEADER = 20
OFFSET_HOP_LIMIT = 21
OFFSET_SOURCE = 22
OFFSET_DESTINATION = 38
OFFSET_ICMPV6 = 54
OFFSET_TARGET = 62
OFFSET_OPTIONS = 78

_IPV6 = struct.Struct("!IHBB16s16s")
_NDP = struct.Struct("!BBHB3x16s")


def solicited_node_address(ip: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """ff02::1:ffXX:XXXX, the group an address's neighbour solicitations go to (RFC 4291 section 2.7.1)."""
    return ipaddress.IPv6Address(_SOLICITED_NODE_PREFIX + ip.packed[13:])


def multicast_mac(ip: ipaddress.IPv6Address) -> bytes:
    """The Ethernet group address of an IPv6 multicast address: 33:33 and its low 32 bits (RFC 2464 section 7)."""
    return b"\x33\x33" + ip.packed[12:]


def checksum(source: bytes, destination: bytes, message: bytes) -> int:
    """The ICMPv6 checksum of ``message`` (its checksum field zero) between two packed addresses (RFC 4443 s. 2.3)."""
    data = source + destination + len(message).to_bytes(4, "big") + b"\x00\x00\x00\x3a" + message
    if len(data) & 1:
        data += b"\x00"
    return -int.from_bytes(data, "big") % 0xFFFF


def checksum_ok(source: bytes, destination: bytes, message: bytes) -> bool:
    """True when ``message``'s checksum field is right: the one's complement sum over everything is -0."""
    data = source + destination + len(message).to_bytes(4, "big") + b"\x00\x00\x00\x3a" + message
    if len(data) & 1:
        data += b"\x00"
    return int.from_bytes(data, "big") % 0xFFFF == 0


@dataclass(frozen=True, slots=True)
class IPv6Header:
    """The fixed IPv6 header (RFC 8200 section 3)."""

    payload_length: int
    next_header: int
    hop_limit: int
    source: ipaddress.IPv6Address
    destination: ipaddress.IPv6Address
    traffic_class: int = 0
    flow_label: int = 0

    def encode(self) -> bytes:
        """The header's 40 bytes.

        Raises:
            FrameError: a field does not fit its width.
        """
        if not (0 <= self.traffic_class <= 0xFF and 0 <= self.flow_label <= 0xFFFFF):
            raise FrameError("IPv6 traffic class must fit 8 bits and flow label 20 bits")
        if not (0 <= self.payload_length <= 0xFFFF and 0 <= self.next_header <= 0xFF and 0 <= self.hop_limit <= 0xFF):
            raise FrameError("IPv6 payload length must fit 16 bits, next header and hop limit 8 bits")
        first = (6 << 28) | (self.traffic_class << 20) | self.flow_label
        return _IPV6.pack(
            first, self.payload_length, self.next_header, self.hop_limit, self.source.packed, self.destination.packed
        )

    @classmethod
    def decode(cls, data: bytes) -> tuple[IPv6Header, bytes]:
        """Decode the header and return it with exactly ``payload_length`` bytes of payload (link padding dropped).

        Raises:
            FrameError: too short, version not 6, or fewer payload bytes than the header claims.
        """
        if len(data) < IPV6_HEADER_LENGTH:
            raise FrameError(f"IPv6 packet of {len(data)} bytes is shorter than its 40-byte header")
        first, length, next_header, hop_limit, src, dst = _IPV6.unpack_from(data)
        if first >> 28 != 6:
            raise FrameError(f"IP version {first >> 28} in an IPv6 frame")
        if len(data) - IPV6_HEADER_LENGTH < length:
            raise FrameError(f"IPv6 payload length {length} exceeds the {len(data) - IPV6_HEADER_LENGTH} bytes present")
        header = cls(
            length,
            next_header,
            hop_limit,
            ipaddress.IPv6Address(src),
            ipaddress.IPv6Address(dst),
            traffic_class=(first >> 20) & 0xFF,
            flow_label=first & 0xFFFFF,
        )
        return header, bytes(data[IPV6_HEADER_LENGTH : IPV6_HEADER_LENGTH + length])


class Option(NamedTuple):
    """One neighbour-discovery option: its type and its body (everything after the type and length octets)."""

    kind: int
    body: bytes

    def encode(self) -> bytes:
        total = 2 + len(self.body)
        if total % 8 or total > 255 * 8 or not 0 <= self.kind <= 0xFF:
            raise FrameError(f"ND option type {self.kind} with {len(self.body)}-byte body is not a multiple of 8 long")
        return bytes((self.kind, total // 8)) + self.body


def link_layer_option(kind: int, mac: bytes) -> Option:
    """A source (1) or target (2) link-layer address option for Ethernet (RFC 4861 section 4.6.1)."""
    check_mac(mac, "link-layer address")
    return Option(kind, mac)


def decode_options(data: bytes) -> tuple[Option, ...]:
    """Split the option area into options.

    Raises:
        FrameError: an option with length zero (RFC 4861 section 4.6: "Nodes MUST silently discard an ND packet that
            contains an option with length zero") or one running past the end.
    """
    options: list[Option] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 2:
            raise FrameError("ND option area ends in the middle of an option header")
        kind, units = data[offset], data[offset + 1]
        if units == 0:
            raise FrameError(f"ND option type {kind} has length zero (RFC 4861 section 4.6)")
        end = offset + units * 8
        if end > len(data):
            raise FrameError(f"ND option type {kind} of {units * 8} bytes runs past the end of the message")
        options.append(Option(kind, bytes(data[offset + 2 : end])))
        offset = end
    return tuple(options)


def _find_link_layer(options: tuple[Option, ...], kind: int) -> bytes | None:
    for option in options:
        if option.kind == kind and len(option.body) >= 6:
            return option.body[:6]
    return None


@dataclass(frozen=True, slots=True)
class NeighborSolicitation:
    """ICMPv6 type 135 (RFC 4861 section 4.3)."""

    target: ipaddress.IPv6Address
    options: tuple[Option, ...] = ()

    @property
    def source_link_layer(self) -> bytes | None:
        """The MAC in the first source link-layer address option, if any."""
        return _find_link_layer(self.options, OPTION_SOURCE_LINK_LAYER)

    def encode(self, source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address) -> bytes:
        """The ICMPv6 message with its checksum for the given IPv6 source and destination."""
        return _encode_message(
            TYPE_NEIGHBOR_SOLICITATION, 0, target=self.target, options=self.options, source=source,
            destination=destination,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement:
    """ICMPv6 type 136 (RFC 4861 section 4.4)."""

    target: ipaddress.IPv6Address
    router: bool = False
    solicited: bool = False
    override: bool = False
    options: tuple[Option, ...] = ()

    @property
    def target_link_layer(self) -> bytes | None:
        """The MAC in the first target link-layer address option, if any."""
        return _find_link_layer(self.options, OPTION_TARGET_LINK_LAYER)

    @property
    def flags(self) -> int:
        return (FLAG_ROUTER * self.router) | (FLAG_SOLICITED * self.solicited) | (FLAG_OVERRIDE * self.override)

    def encode(self, source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address) -> bytes:
        """The ICMPv6 message with its checksum for the given IPv6 source and destination."""
        return _encode_message(
            TYPE_NEIGHBOR_ADVERTISEMENT, self.flags, target=self.target, options=self.options, source=source,
            destination=destination,
        )  # fmt: skip


NdpMessage = NeighborSolicitation | NeighborAdvertisement


def _encode_message(
    kind: int,
    flags: int,
    *,
    target: ipaddress.IPv6Address,
    options: tuple[Option, ...],
    source: ipaddress.IPv6Address,
    destination: ipaddress.IPv6Address,
) -> bytes:
    body = _NDP.pack(kind, 0, 0, flags, target.packed) + b"".join(o.encode() for o in options)
    value = checksum(source.packed, destination.packed, body)
    return body[:2] + value.to_bytes(2, "big") + body[4:]


def decode_message(
    data: bytes, source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address, *, verify_checksum: bool = True
) -> NdpMessage:
    """Decode an NS or NA from its ICMPv6 bytes (exactly the IPv6 payload).

    Raises:
        FrameError: not NS/NA, code not 0, shorter than 24 bytes (RFC 4861 sections 7.1.1/7.1.2), bad options, or a
            wrong checksum (RFC 4861 section 7.1.1: "The ICMP checksum is valid").
    """
    if len(data) < MESSAGE_LENGTH:
        raise FrameError(f"ICMPv6 message of {len(data)} bytes is shorter than an NS/NA ({MESSAGE_LENGTH})")
    kind, code, _, flags, target = _NDP.unpack_from(data)
    if kind not in (TYPE_NEIGHBOR_SOLICITATION, TYPE_NEIGHBOR_ADVERTISEMENT):
        raise FrameError(f"ICMPv6 type {kind} is not a neighbour solicitation or advertisement")
    if code != 0:
        raise FrameError(f"ICMPv6 type {kind} with code {code} (RFC 4861 requires 0)")
    if verify_checksum and not checksum_ok(source.packed, destination.packed, data):
        raise FrameError("ICMPv6 checksum does not match the IPv6 pseudo-header and message")
    options = decode_options(data[MESSAGE_LENGTH:])
    target_ip = ipaddress.IPv6Address(target)
    if kind == TYPE_NEIGHBOR_SOLICITATION:
        return NeighborSolicitation(target_ip, options)
    return NeighborAdvertisement(
        target_ip,
        router=bool(flags & FLAG_ROUTER),
        solicited=bool(flags & FLAG_SOLICITED),
        override=bool(flags & FLAG_OVERRIDE),
        options=options,
    )


def decode_frame(data: bytes) -> tuple[bytes, bytes, IPv6Header, NdpMessage]:
    """Decode a whole Ethernet frame: (destination MAC, source MAC, IPv6 header, NS or NA).

    Raises:
        FrameError: not IPv6, an extension header or another upper layer than ICMPv6, or see :func:`decode_message`.
    """
    if len(data) < 14:
        raise FrameError(f"frame of {len(data)} bytes is shorter than an Ethernet header")
    ethertype = int.from_bytes(data[12:14], "big")
    if ethertype != EtherType.IPV6:
        raise FrameError(f"EtherType {ethertype:#06x} is not IPv6")
    header, payload = IPv6Header.decode(data[14:])
    if header.next_header != NEXT_HEADER_ICMPV6:
        raise FrameError(f"IPv6 next header {header.next_header} is not ICMPv6 (extension headers are not followed)")
    message = decode_message(payload, header.source, header.destination)
    return bytes(data[0:6]), bytes(data[6:12]), header, message


def packet_frame(
    dst_mac: bytes,
    src_mac: bytes,
    source: ipaddress.IPv6Address,
    destination: ipaddress.IPv6Address,
    message: NdpMessage,
    *,
    hop_limit: int = HOP_LIMIT,
) -> bytes:
    """An Ethernet frame carrying ``message`` from ``source`` to ``destination``."""
    icmp = message.encode(source, destination)
    header = IPv6Header(len(icmp), NEXT_HEADER_ICMPV6, hop_limit, source, destination)
    return frame(dst_mac, src_mac, EtherType.IPV6, header.encode() + icmp)


def advertisement_frame(
    mac: bytes,
    source: bytes,
    *,
    destination: bytes,
    dst_mac: bytes,
    target: bytes,
    flags: int,
) -> bytes:
    """A neighbour advertisement with a target link-layer option, from packed addresses (the responder's fast path).

    ``source``, ``destination`` and ``target`` are 16 packed bytes each; ``flags`` is the R/S/O octet.
    """
    icmp = b"\x88\x00\x00\x00" + bytes((flags,)) + b"\x00\x00\x00" + target + b"\x02\x01" + mac
    value = checksum(source, destination, icmp)
    icmp = icmp[:2] + value.to_bytes(2, "big") + icmp[4:]
    return dst_mac + mac + b"\x86\xdd\x60\x00\x00\x00\x00\x20\x3a\xff" + source + destination + icmp


def unsolicited_advertisement_frame(mac: bytes, source: ipaddress.IPv6Address, target: ipaddress.IPv6Address) -> bytes:
    """Unsolicited NA to all-nodes with Override=1 and Solicited=0 (RFC 4861 section 7.2.6), target LLA = ``mac``."""
    return advertisement_frame(
        mac, source.packed, destination=ALL_NODES.packed, dst_mac=multicast_mac(ALL_NODES), target=target.packed,
        flags=FLAG_OVERRIDE,
    )  # fmt: skip


def solicitation_frame(mac: bytes, source: ipaddress.IPv6Address, target: ipaddress.IPv6Address) -> bytes:
    """A multicast NS with a source link-layer option (what a client sends to resolve ``target``)."""
    group = solicited_node_address(target)
    message = NeighborSolicitation(target, (link_layer_option(OPTION_SOURCE_LINK_LAYER, mac),))
    return packet_frame(multicast_mac(group), mac, source, group, message)


def probe_frame(mac: bytes, target: ipaddress.IPv6Address) -> bytes:
    """A duplicate-address-detection NS (RFC 4862 section 5.4.2): from ::, to the solicited-node group, no options."""
    group = solicited_node_address(target)
    return packet_frame(multicast_mac(group), mac, UNSPECIFIED, group, NeighborSolicitation(target))


__all__ = [
    "ALL_NODES",
    "FLAG_OVERRIDE",
    "FLAG_ROUTER",
    "FLAG_SOLICITED",
    "HOP_LIMIT",
    "IPV6_HEADER_LENGTH",
    "MESSAGE_LENGTH",
    "NEXT_HEADER_ICMPV6",
    "OFFSET_DESTINATION",
    "OFFSET_HOP_LIMIT",
    "OFFSET_ICMPV6",
    "OFFSET_IPV6",
    "OFFSET_NEXT_HEADER",
    "OFFSET_OPTIONS",
    "OFFSET_SOURCE",
    "OFFSET_TARGET",
    "OPTION_SOURCE_LINK_LAYER",
    "OPTION_TARGET_LINK_LAYER",
    "TYPE_NEIGHBOR_ADVERTISEMENT",
    "TYPE_NEIGHBOR_SOLICITATION",
    "UNSPECIFIED",
    "IPv6Header",
    "NdpMessage",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "Option",
    "advertisement_frame",
    "checksum",
    "checksum_ok",
    "decode_frame",
    "decode_message",
    "decode_options",
    "link_layer_option",
    "multicast_mac",
    "packet_frame",
    "probe_frame",
    "solicitation_frame",
    "solicited_node_address",
    "unsolicited_advertisement_frame",
]
