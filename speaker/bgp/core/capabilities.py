"""OPEN capabilities (RFC 5492): their codec, and what two OPENs negotiate.

Theory of operation
-------------------
Capabilities travel in the OPEN's Optional Parameters, type 2 (RFC 5492 section 4), each as (code, length,
value). We send one Capabilities parameter holding all of ours, and accept any number of parameters and any
packing on receipt, including RFC 9072's extended parameter length. A parameter of another type is refused with
OPEN error "Unsupported Optional Parameter" (RFC 4271 section 6.2); a capability we know whose value is malformed
is an OPEN error with subcode 0 ("Unspecific", RFC 4271 section 6.2: "If one of the Optional Parameters in the
OPEN message is recognized, but is malformed"); a capability we do not know is kept as
:class:`UnknownCapability` and otherwise ignored (RFC 5492 section 3: "a BGP speaker ... MUST ignore it").

What we advertise:

* Multiprotocol (RFC 4760 section 8) for IPv4 and IPv6 unicast, so IPv6 prefixes can ride any session.
* 4-octet AS (RFC 6793 section 3), always: it carries our real AS when ``my AS`` must say AS_TRANS.
* Route refresh (RFC 2918 section 2): on request we resend the Adj-RIB-Out of that family.
* Graceful restart (RFC 4724 section 3) only when the peer has it enabled, with the F bit set for every family:
  the forwarding state lives in the kernel (kube-proxy), not in this process, so it survives our restart.
* Extended next hop (RFC 8950 section 3) for IPv4 NLRI over an IPv6 next hop, used only when a session has no
  IPv4 address to offer as next hop.

:func:`negotiate` intersects two capability lists: a family is used when both sides listed it (RFC 4760 section 8),
or, if the peer sent no Multiprotocol capability at all, IPv4 unicast is implied (RFC 4760 section 1, the
classic NLRI field). The Hold Time is the smaller of the two (RFC 4271 section 4.2).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.core import iana
from speaker.bgp.core.errors import open_error

_CAP_HEADER = struct.Struct("!BB")
_MP = struct.Struct("!HBB")
_GR_FAMILY = struct.Struct("!HBB")
_ENH = struct.Struct("!HHH")

GR_FLAG_RESTARTING = 0x8  # RFC 4724 section 3, "R"
GR_FLAG_NOTIFICATION = 0x4  # RFC 8538 section 2, "N"
GR_FAMILY_FORWARDING = 0x80  # RFC 4724 section 3, "F"


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    code: ClassVar[int] = iana.CapabilityCode.MULTIPROTOCOL
    afi: int
    safi: int

    def encode_value(self) -> bytes:
        return _MP.pack(self.afi, 0, self.safi)


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    code: ClassVar[int] = iana.CapabilityCode.ROUTE_REFRESH

    def encode_value(self) -> bytes:
        return b""


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    code: ClassVar[int] = iana.CapabilityCode.FOUR_OCTET_AS
    asn: int

    def encode_value(self) -> bytes:
        return struct.pack("!I", self.asn)


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    afi: int
    safi: int
    forwarding_preserved: bool = True


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    code: ClassVar[int] = iana.CapabilityCode.GRACEFUL_RESTART
    restart_time: int
    restarting: bool = False
    notification: bool = False
    families: tuple[GracefulRestartFamily, ...] = ()

    def encode_value(self) -> bytes:
        flags = (GR_FLAG_RESTARTING if self.restarting else 0) | (GR_FLAG_NOTIFICATION if self.notification else 0)
        out = bytearray(struct.pack("!H", (flags << 12) | (self.restart_time & 0x0FFF)))
        for fam in self.families:
            out += _GR_FAMILY.pack(fam.afi, fam.safi, GR_FAMILY_FORWARDING if fam.forwarding_preserved else 0)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class ExtendedNextHop:
    code: ClassVar[int] = iana.CapabilityCode.EXTENDED_NEXT_HOP
    #: (NLRI AFI, NLRI SAFI, next-hop AFI) triples
    entries: tuple[tuple[int, int, int], ...]

    def encode_value(self) -> bytes:
        return b"".join(_ENH.pack(*entry) for entry in self.entries)


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    code: int  # an instance field here, a ClassVar in the known capabilities
    value: bytes

    def encode_value(self) -> bytes:
        return self.value


Capability = Multiprotocol | RouteRefresh | FourOctetAs | GracefulRestart | ExtendedNextHop | UnknownCapability


def encode_capability(cap: Capability) -> bytes:
    value = cap.encode_value()
    return _CAP_HEADER.pack(cap.code, len(value)) + value


def decode_capability(code: int, value: bytes) -> Capability:
    """One capability from its code and value; raises an OPEN error (subcode 0) if a known one is malformed."""
    match code:
        case iana.CapabilityCode.MULTIPROTOCOL:
            if len(value) != 4:
                raise _malformed(code, value, "a Multiprotocol capability must be 4 octets")
            afi, _reserved, safi = _MP.unpack(value)
            return Multiprotocol(afi, safi)
        case iana.CapabilityCode.ROUTE_REFRESH:
            return RouteRefresh()
        case iana.CapabilityCode.FOUR_OCTET_AS:
            if len(value) != 4:
                raise _malformed(code, value, "a 4-octet AS capability must be 4 octets")
            return FourOctetAs(struct.unpack("!I", value)[0])
        case iana.CapabilityCode.GRACEFUL_RESTART:
            if len(value) < 2 or (len(value) - 2) % 4:
                raise _malformed(code, value, "a Graceful Restart capability must be 2 + 4*n octets")
            (head,) = struct.unpack_from("!H", value)
            families = tuple(
                GracefulRestartFamily(afi, safi, bool(flags & GR_FAMILY_FORWARDING))
                for afi, safi, flags in _GR_FAMILY.iter_unpack(value[2:])
            )
            flags = head >> 12
            return GracefulRestart(
                restart_time=head & 0x0FFF,
                restarting=bool(flags & GR_FLAG_RESTARTING),
                notification=bool(flags & GR_FLAG_NOTIFICATION),
                families=families,
            )
        case iana.CapabilityCode.EXTENDED_NEXT_HOP:
            if not value or len(value) % 6:
                raise _malformed(code, value, "an Extended Next Hop capability must be a non-zero multiple of 6")
            return ExtendedNextHop(tuple(_ENH.iter_unpack(value)))
        case _:
            return UnknownCapability(code, bytes(value))


def _malformed(code: int, value: bytes, message: str) -> Exception:
    return open_error(iana.OpenSubcode.UNSPECIFIC, _CAP_HEADER.pack(code, len(value)) + value[:255], message)


def encode_optional_parameters(capabilities: Sequence[Capability]) -> bytes:
    """The Optional Parameters Length octet and the parameters: all capabilities in one type-2 parameter."""
    if not capabilities:
        return b"\x00"
    body = b"".join(encode_capability(c) for c in capabilities)
    if len(body) + 2 > 255:
        # RFC 9072 section 2: non-extended length octet 255, then type 255, then a 2-octet length.
        param = bytes((iana.OptionalParameter.CAPABILITIES,)) + struct.pack("!H", len(body)) + body
        return b"\xff\xff" + struct.pack("!H", len(param)) + param
    param = bytes((iana.OptionalParameter.CAPABILITIES, len(body))) + body
    return bytes((len(param),)) + param


def decode_optional_parameters(buf: bytes) -> tuple[tuple[Capability, ...], int]:
    """Parse the Optional Parameters starting at the length octet; returns (capabilities, octets consumed)."""
    if not buf:
        raise open_error(iana.OpenSubcode.UNSPECIFIC, message="the OPEN ends before its optional parameters length")
    total = buf[0]
    pos = 1
    extended = False
    if total == 255 and len(buf) >= 2 and buf[1] == iana.OptionalParameter.EXTENDED_LENGTH:
        # RFC 9072 section 2: the extended form.
        if len(buf) < 4:
            raise open_error(iana.OpenSubcode.UNSPECIFIC, message="an extended optional parameters length is cut short")
        (total,) = struct.unpack_from("!H", buf, 2)
        pos = 4
        extended = True
    end = pos + total
    if end > len(buf):
        raise open_error(
            iana.OpenSubcode.UNSPECIFIC, message=f"optional parameters length {total} runs past the OPEN message"
        )
    caps: list[Capability] = []
    header = 3 if extended else 2
    while pos < end:
        if pos + header > end:
            raise open_error(iana.OpenSubcode.UNSPECIFIC, message="an optional parameter header is cut short")
        ptype = buf[pos]
        plen = struct.unpack_from("!H", buf, pos + 1)[0] if extended else buf[pos + 1]
        pos += header
        if pos + plen > end:
            raise open_error(iana.OpenSubcode.UNSPECIFIC, message=f"optional parameter {ptype} runs past its length")
        if ptype != iana.OptionalParameter.CAPABILITIES:
            # RFC 4271 section 6.2: "If one of the Optional Parameters in the OPEN message is not recognized, then
            # the Error Subcode MUST be set to Unsupported Optional Parameters."
            raise open_error(
                iana.OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER,
                message=f"optional parameter type {ptype} is not supported (only capabilities, type 2)",
            )
        caps.extend(_decode_capability_list(buf[pos : pos + plen]))
        pos += plen
    return tuple(caps), end


def _decode_capability_list(buf: bytes) -> Iterable[Capability]:
    pos = 0
    while pos < len(buf):
        if pos + 2 > len(buf):
            raise open_error(iana.OpenSubcode.UNSPECIFIC, message="a capability header is cut short")
        code, length = buf[pos], buf[pos + 1]
        pos += 2
        if pos + length > len(buf):
            raise open_error(iana.OpenSubcode.UNSPECIFIC, message=f"capability {code} runs past its parameter")
        yield decode_capability(code, buf[pos : pos + length])
        pos += length


# ------------------------------------------------------------------------------------------------
# Negotiation
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Negotiated:
    """What both sides of a session agreed on, from the two OPENs."""

    peer_asn: int
    peer_router_id: ipaddress.IPv4Address
    #: seconds; 0 = no keepalives and no hold timer (RFC 4271 section 4.4)
    hold_time: float
    keepalive_time: float
    four_octet_as: bool
    families: frozenset[tuple[int, int]]
    route_refresh: bool
    #: both sides advertised graceful restart
    graceful_restart: bool
    #: (NLRI AFI, NLRI SAFI, next-hop AFI) triples both sides advertised
    extended_next_hop: frozenset[tuple[int, int, int]]


def find(capabilities: Iterable[Capability], kind: type[Capability]) -> Capability | None:
    for cap in capabilities:
        if isinstance(cap, kind):
            return cap
    return None


def families(capabilities: Iterable[Capability]) -> frozenset[tuple[int, int]]:
    """The (AFI, SAFI) pairs a capability list announces; none at all means IPv4 unicast (RFC 4760 section 1)."""
    found = frozenset((c.afi, c.safi) for c in capabilities if isinstance(c, Multiprotocol))
    return found or frozenset({iana.IPV4_UNICAST})


def peer_asn(my_as_field: int, capabilities: Iterable[Capability]) -> int:
    """The peer's real AS: the 4-octet capability's value when present (RFC 6793 section 4.1), else ``My AS``."""
    four = find(capabilities, FourOctetAs)
    return four.asn if isinstance(four, FourOctetAs) else my_as_field


def negotiate(
    *,
    local: Sequence[Capability],
    remote: Sequence[Capability],
    local_hold: float,
    remote_hold: float,
    keepalive: float,
    remote_my_as: int,
    remote_router_id: ipaddress.IPv4Address,
) -> Negotiated:
    """Intersect two OPENs. ``keepalive`` is the configured interval; it never exceeds a third of the hold time."""
    hold = float(min(local_hold, remote_hold))
    keep = 0.0 if hold == 0 else min(keepalive, hold / 3) if keepalive > 0 else hold / 3
    local_enh = find(local, ExtendedNextHop)
    remote_enh = find(remote, ExtendedNextHop)
    enh: frozenset[tuple[int, int, int]] = frozenset()
    if isinstance(local_enh, ExtendedNextHop) and isinstance(remote_enh, ExtendedNextHop):
        enh = frozenset(local_enh.entries) & frozenset(remote_enh.entries)
    return Negotiated(
        peer_asn=peer_asn(remote_my_as, remote),
        peer_router_id=remote_router_id,
        hold_time=hold,
        keepalive_time=keep,
        four_octet_as=find(local, FourOctetAs) is not None and find(remote, FourOctetAs) is not None,
        families=families(local) & families(remote),
        route_refresh=find(local, RouteRefresh) is not None
        and any(isinstance(c, RouteRefresh) or c.code == iana.CapabilityCode.ROUTE_REFRESH_CISCO for c in remote),
        graceful_restart=find(local, GracefulRestart) is not None and find(remote, GracefulRestart) is not None,
        extended_next_hop=enh,
    )


__all__ = [
    "Capability",
    "ExtendedNextHop",
    "FourOctetAs",
    "GracefulRestart",
    "GracefulRestartFamily",
    "Multiprotocol",
    "Negotiated",
    "RouteRefresh",
    "UnknownCapability",
    "decode_capability",
    "decode_optional_parameters",
    "encode_capability",
    "encode_optional_parameters",
    "families",
    "find",
    "negotiate",
    "peer_asn",
]
