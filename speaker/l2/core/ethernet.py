"""Ethernet II frame header (IEEE 802.3 clause 3.2.6 with EtherType >= 0x0600), MAC helpers, and the L2 error.

Theory of operation
-------------------
Every frame the L2 data plane reads or writes starts with a 14-byte header: destination MAC, source MAC, EtherType.
We handle only untagged Ethernet II: a packet socket bound to an interface gets frames with the VLAN tag already
stripped (tag offload or the 8021q driver), and the announcer binds one socket per interface, VLAN sub-interfaces
included. The codec keeps MAC addresses as 6-byte ``bytes`` (what goes on the wire and what dictionaries are keyed
by on the hot path); :func:`format_mac` and :func:`parse_mac` convert at the edges (logs, metrics, configuration).

:class:`FrameError` is the one exception every L2 codec raises for bad input (style anchor 6). The responder and the
probe catch it at one point each and turn it into a named drop reason; nothing else may escape a decoder.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEADER_LENGTH = 14
#: Smallest Ethernet payload (64-byte frame minus header and FCS); shorter frames are padded with zeros on the wire.
MIN_PAYLOAD = 46

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

_HEADER = struct.Struct("!6s6sH")


class EtherType(enum.IntEnum):
    """The EtherTypes the L2 data plane speaks (IEEE registry)."""

    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100
    IPV6 = 0x86DD


class FrameError(ValueError):
    """A frame or packet that cannot be decoded (or a value that cannot be encoded). The only error L2 codecs raise."""


def parse_mac(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or with ``-``) to 6 bytes.

    Raises:
        FrameError: the text is not six hexadecimal octets.
    """
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise FrameError(f"{text!r} is not a MAC address; write six hexadecimal octets such as 02:00:00:00:00:01")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise FrameError(
            f"{text!r} is not a MAC address; write six hexadecimal octets such as 02:00:00:00:00:01"
        ) from None


def format_mac(mac: bytes) -> str:
    """6 bytes to the lower-case colon form ``02:00:00:00:00:01``."""
    return mac.hex(":")


def is_unicast_mac(mac: bytes) -> bool:
    """True for an individual (not group) address that is not all zeros (IEEE 802: the I/G bit is bit 0 of octet 0)."""
    return len(mac) == 6 and not mac[0] & 1 and mac != ZERO_MAC


def check_mac(mac: bytes, what: str) -> None:
    """Raise :class:`FrameError` unless ``mac`` is exactly 6 bytes."""
    if len(mac) != 6:
        raise FrameError(f"{what} must be 6 bytes, got {len(mac)}")


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    """The 14-byte Ethernet II header."""

    dst: bytes
    src: bytes
    ethertype: int

    def encode(self) -> bytes:
        """The header's 14 bytes.

        Raises:
            FrameError: a MAC is not 6 bytes or the EtherType is out of range.
        """
        check_mac(self.dst, "destination MAC")
        check_mac(self.src, "source MAC")
        if not 0x0600 <= self.ethertype <= 0xFFFF:
            raise FrameError(f"EtherType {self.ethertype:#x} is not an Ethernet II type (must be 0x0600..0xffff)")
        return _HEADER.pack(self.dst, self.src, self.ethertype)

    @classmethod
    def decode(cls, frame: bytes) -> tuple[EthernetHeader, bytes]:
        """Split a frame into its header and payload (padding, if any, stays in the payload).

        Raises:
            FrameError: the frame is shorter than a header, or carries an 802.3 length instead of an EtherType.
        """
        if len(frame) < HEADER_LENGTH:
            raise FrameError(f"frame of {len(frame)} bytes is shorter than an Ethernet header ({HEADER_LENGTH})")
        dst, src, ethertype = _HEADER.unpack_from(frame)
        if ethertype < 0x0600:
            raise FrameError(f"frame carries an 802.3 length field ({ethertype}), not an Ethernet II EtherType")
        return cls(dst, src, ethertype), bytes(frame[HEADER_LENGTH:])


def frame(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """Header plus payload, padded with zeros to the 60-byte minimum (the NIC adds the FCS).

    Raises:
        FrameError: see :meth:`EthernetHeader.encode`.
    """
    data = EthernetHeader(dst, src, ethertype).encode() + payload
    if len(payload) < MIN_PAYLOAD:
        data += b"\x00" * (MIN_PAYLOAD - len(payload))
    return data


__all__ = [
    "BROADCAST",
    "HEADER_LENGTH",
    "MIN_PAYLOAD",
    "ZERO_MAC",
    "EtherType",
    "EthernetHeader",
    "FrameError",
    "check_mac",
    "format_mac",
    "frame",
    "is_unicast_mac",
    "parse_mac",
]
