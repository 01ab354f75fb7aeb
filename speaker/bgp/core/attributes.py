"""Path attributes (RFC 4271 section 4.3 and 5, RFC 1997, RFC 4760, RFC 6793, RFC 8092) and NLRI prefixes.

Theory of operation
-------------------
:class:`PathAttributes` is one frozen value holding every attribute of an UPDATE, typed where we use it (ORIGIN,
AS_PATH, NEXT_HOP, MED, LOCAL_PREF, COMMUNITIES, LARGE_COMMUNITIES, MP_REACH/MP_UNREACH, AS4_PATH, ...) and raw
(:class:`RawAttribute`) otherwise. Being hashable, it is also the key the Adj-RIB-Out groups prefixes by.

Encoding writes MP_REACH_NLRI and MP_UNREACH_NLRI first ("SHOULD be encoded as the very first path attribute",
RFC 7606 section 5.1), then the others by type code, each with the extended-length flag only when its value
exceeds 255 octets. Encoding is a pure function of the value: whoever builds the attributes decides (for example)
whether an AS4_PATH is needed (:func:`as4_path_for`).

Decoding applies RFC 7606 (revised UPDATE error handling). Each malformed attribute yields a :class:`BgpError`
whose action the RFC assigns: per attribute (section 7), for conflicting Optional/Transitive flags (section 3.c),
for attribute lengths that overrun the Total Path Attribute Length (section 4), for duplicates (3.g: MP_REACH/
MP_UNREACH twice is a session reset, any other duplicate is discarded), and for missing well-known attributes
(3.d: treat-as-withdraw). Errors whose action is ``RESET`` are raised; the others are returned beside the
attributes, the worst first, for the session to apply. Unknown optional transitive attributes are kept as
received (RFC 4271 section 9.1.2.2 would pass them on with the Partial bit set); unknown optional
non-transitive ones are "quietly ignored" (RFC 4271 section 9); an unknown *well-known* attribute is a session
reset with "Unrecognized Well-known Attribute" (RFC 4271 section 6.3).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from speaker.bgp.core import iana
from speaker.bgp.core.errors import BgpError, ErrorAction, update_error
from speaker.bgp.core.iana import AttrFlag, AttrType, UpdateSubcode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class EncodeContext:
    """Negotiated facts the encoder needs: 4-octet AS numbers in AS_PATH/AGGREGATOR (RFC 6793)."""

    four_octet_as: bool = True


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """Negotiated facts the decoder needs: AS number width, and iBGP vs eBGP (RFC 7606 sections 7.5, 7.9, 7.10)."""

    four_octet_as: bool = True
    ibgp: bool = False


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AsPathSegment:
    type: int  # iana.AsPathSegmentType
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MpReach:
    """MP_REACH_NLRI (RFC 4760 section 3). ``raw`` holds the value for an (AFI, SAFI) we do not parse."""

    afi: int
    safi: int
    next_hop: tuple[IPAddress, ...] = ()
    nlri: tuple[IPNetwork, ...] = ()
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class MpUnreach:
    """MP_UNREACH_NLRI (RFC 4760 section 4). No withdrawn routes at all is the End-of-RIB marker (RFC 4724)."""

    afi: int
    safi: int
    withdrawn: tuple[IPNetwork, ...] = ()
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class RawAttribute:
    flags: int
    type_code: int
    value: bytes


@dataclass(frozen=True, slots=True)
class PathAttributes:
    origin: int | None = None  # iana.Origin
    as_path: tuple[AsPathSegment, ...] | None = None
    next_hop: ipaddress.IPv4Address | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: tuple[int, ipaddress.IPv4Address] | None = None
    #: standard communities as 32-bit values (RFC 1997); () = attribute absent
    communities: tuple[int, ...] = ()
    #: (global administrator, local data 1, local data 2) (RFC 8092); () = attribute absent
    large_communities: tuple[tuple[int, int, int], ...] = ()
    as4_path: tuple[AsPathSegment, ...] | None = None
    as4_aggregator: tuple[int, ipaddress.IPv4Address] | None = None
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    other: tuple[RawAttribute, ...] = field(default=())


EMPTY = PathAttributes()


# ------------------------------------------------------------------------------------------------
# Prefixes (RFC 4271 section 4.3 "Network Layer Reachability Information"; RFC 4760 section 5)
# ------------------------------------------------------------------------------------------------
def encode_prefix(prefix: IPNetwork) -> bytes:
    """<length, prefix> with the fewest octets that hold ``length`` bits."""
    plen = prefix.prefixlen
    return bytes((plen,)) + prefix.network_address.packed[: (plen + 7) >> 3]


def encode_prefixes(prefixes: Iterable[IPNetwork]) -> bytes:
    return b"".join([encode_prefix(p) for p in prefixes])


def prefix_wire_len(prefix: IPNetwork) -> int:
    return 1 + ((prefix.prefixlen + 7) >> 3)


class PrefixError(ValueError):
    """A prefix field that cannot be parsed (the caller turns it into the BgpError its context prescribes)."""


def decode_prefixes(buf: bytes, afi: int) -> tuple[IPNetwork, ...]:
    """Parse a run of <length, prefix>; host bits beyond the length are cleared (they are "irrelevant")."""
    if afi == iana.Afi.IPV4:
        width, make = 4, ipaddress.IPv4Network
    elif afi == iana.Afi.IPV6:
        width, make = 16, ipaddress.IPv6Network  # type: ignore[assignment]
    else:
        raise PrefixError(f"address family {afi} has no prefix format we know")
    bits = width * 8
    out: list[IPNetwork] = []
    pos, end = 0, len(buf)
    while pos < end:
        plen = buf[pos]
        pos += 1
        if plen > bits:
            raise PrefixError(f"prefix length {plen} exceeds {bits}")
        nbytes = (plen + 7) >> 3
        if pos + nbytes > end:
            raise PrefixError(f"a /{plen} prefix needs {nbytes} octets but only {end - pos} remain")
        value = int.from_bytes(buf[pos : pos + nbytes].ljust(width, b"\0"), "big")
        pos += nbytes
        value &= ((1 << bits) - 1) ^ ((1 << (bits - plen)) - 1)
        out.append(make((value, plen)))
    return tuple(out)


# ------------------------------------------------------------------------------------------------
# Encoding
# ------------------------------------------------------------------------------------------------
_WELL_KNOWN = AttrFlag.TRANSITIVE
_OPTIONAL_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE
_OPTIONAL = AttrFlag.OPTIONAL

#: (Optional, Transitive) flags each recognised attribute must carry (RFC 4271 section 5 and each attribute's RFC).
EXPECTED_FLAGS: dict[int, int] = {
    AttrType.ORIGIN: _WELL_KNOWN,
    AttrType.AS_PATH: _WELL_KNOWN,
    AttrType.NEXT_HOP: _WELL_KNOWN,
    AttrType.MULTI_EXIT_DISC: _OPTIONAL,
    AttrType.LOCAL_PREF: _WELL_KNOWN,
    AttrType.ATOMIC_AGGREGATE: _WELL_KNOWN,
    AttrType.AGGREGATOR: _OPTIONAL_TRANSITIVE,
    AttrType.COMMUNITIES: _OPTIONAL_TRANSITIVE,
    AttrType.ORIGINATOR_ID: _OPTIONAL,
    AttrType.CLUSTER_LIST: _OPTIONAL,
    AttrType.MP_REACH_NLRI: _OPTIONAL,
    AttrType.MP_UNREACH_NLRI: _OPTIONAL,
    AttrType.EXTENDED_COMMUNITIES: _OPTIONAL_TRANSITIVE,
    AttrType.AS4_PATH: _OPTIONAL_TRANSITIVE,
    AttrType.AS4_AGGREGATOR: _OPTIONAL_TRANSITIVE,
    AttrType.LARGE_COMMUNITIES: _OPTIONAL_TRANSITIVE,
}


def encode_attribute(flags: int, type_code: int, value: bytes) -> bytes:
    flags &= ~AttrFlag.EXTENDED_LENGTH
    if len(value) > 255:
        return bytes((flags | AttrFlag.EXTENDED_LENGTH, type_code)) + _U16.pack(len(value)) + value
    return bytes((flags, type_code, len(value))) + value


def _encode_as_path(segments: Sequence[AsPathSegment], four_octet: bool) -> bytes:
    out = bytearray()
    for seg in segments:
        # RFC 4271 section 4.3: a segment holds at most 255 ASes; longer runs are split.
        for start in range(0, max(len(seg.asns), 1), 255):
            chunk = seg.asns[start : start + 255]
            out += bytes((seg.type, len(chunk)))
            if four_octet:
                out += struct.pack(f"!{len(chunk)}I", *chunk)
            else:
                out += struct.pack(f"!{len(chunk)}H", *(a if a <= 0xFFFF else iana.AS_TRANS for a in chunk))
    return bytes(out)


def _encode_aggregator(value: tuple[int, ipaddress.IPv4Address], four_octet: bool) -> bytes:
    asn, address = value
    if four_octet:
        return _U32.pack(asn) + address.packed
    return _U16.pack(asn if asn <= 0xFFFF else iana.AS_TRANS) + address.packed


def _encode_mp_reach(mp: MpReach) -> bytes:
    if mp.raw is not None:
        return mp.raw
    nh = b"".join(a.packed for a in mp.next_hop)
    return struct.pack("!HBB", mp.afi, mp.safi, len(nh)) + nh + b"\0" + encode_prefixes(mp.nlri)


def _encode_mp_unreach(mp: MpUnreach) -> bytes:
    if mp.raw is not None:
        return mp.raw
    return struct.pack("!HB", mp.afi, mp.safi) + encode_prefixes(mp.withdrawn)


def encode_attributes(attrs: PathAttributes, ctx: EncodeContext) -> bytes:
    """The Path Attributes field: MP attributes first (RFC 7606 section 5.1), then ascending type codes."""
    parts: list[tuple[int, bytes]] = []
    if attrs.mp_reach is not None:
        parts.append((-2, encode_attribute(_OPTIONAL, AttrType.MP_REACH_NLRI, _encode_mp_reach(attrs.mp_reach))))
    if attrs.mp_unreach is not None:
        value = _encode_mp_unreach(attrs.mp_unreach)
        parts.append((-1, encode_attribute(_OPTIONAL, AttrType.MP_UNREACH_NLRI, value)))
    if attrs.origin is not None:
        parts.append((1, encode_attribute(_WELL_KNOWN, AttrType.ORIGIN, bytes((attrs.origin,)))))
    if attrs.as_path is not None:
        value = _encode_as_path(attrs.as_path, ctx.four_octet_as)
        parts.append((2, encode_attribute(_WELL_KNOWN, AttrType.AS_PATH, value)))
    if attrs.next_hop is not None:
        parts.append((3, encode_attribute(_WELL_KNOWN, AttrType.NEXT_HOP, attrs.next_hop.packed)))
    if attrs.med is not None:
        parts.append((4, encode_attribute(_OPTIONAL, AttrType.MULTI_EXIT_DISC, _U32.pack(attrs.med))))
    if attrs.local_pref is not None:
        parts.append((5, encode_attribute(_WELL_KNOWN, AttrType.LOCAL_PREF, _U32.pack(attrs.local_pref))))
    if attrs.atomic_aggregate:
        parts.append((6, encode_attribute(_WELL_KNOWN, AttrType.ATOMIC_AGGREGATE, b"")))
    if attrs.aggregator is not None:
        value = _encode_aggregator(attrs.aggregator, ctx.four_octet_as)
        parts.append((7, encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.AGGREGATOR, value)))
    if attrs.communities:
        value = struct.pack(f"!{len(attrs.communities)}I", *attrs.communities)
        parts.append((8, encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.COMMUNITIES, value)))
    if attrs.as4_path is not None:
        value = _encode_as_path(attrs.as4_path, True)
        parts.append((17, encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.AS4_PATH, value)))
    if attrs.as4_aggregator is not None:
        value = _encode_aggregator(attrs.as4_aggregator, True)
        parts.append((18, encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.AS4_AGGREGATOR, value)))
    if attrs.large_communities:
        value = b"".join(struct.pack("!III", *c) for c in attrs.large_communities)
        parts.append((32, encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.LARGE_COMMUNITIES, value)))
    for raw in attrs.other:
        parts.append((raw.type_code, encode_attribute(raw.flags, raw.type_code, raw.value)))
    parts.sort(key=lambda p: p[0])
    return b"".join(p[1] for p in parts)


def as4_path_for(as_path: tuple[AsPathSegment, ...], ctx: EncodeContext) -> tuple[AsPathSegment, ...] | None:
    """RFC 6793 section 4.2.2: toward an OLD speaker, an AS_PATH holding a 4-octet AS also goes out as AS4_PATH."""
    if ctx.four_octet_as or not any(a > 0xFFFF for seg in as_path for a in seg.asns):
        return None
    return as_path


# ------------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------------
class _Malformed(Exception):
    def __init__(self, subcode: int, message: str, family: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.subcode = subcode
        self.message = message
        self.family = family


def _need_len(value: bytes, length: int, name: str) -> None:
    if len(value) != length:
        raise _Malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"{name} must be {length} octets, not {len(value)}")


def _u32_list(value: bytes, name: str, unit: int = 4) -> tuple[int, ...]:
    if not value or len(value) % unit:
        raise _Malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"{name} must be a non-zero multiple of {unit} octets")
    return struct.unpack(f"!{len(value) // 4}I", value)


def _decode_as_path(value: bytes, four_octet: bool, name: str = "AS_PATH") -> tuple[AsPathSegment, ...]:
    # RFC 7606 section 7.2: an unknown segment type, an overrun, a lone trailing octet or a zero-length segment.
    width = 4 if four_octet else 2
    fmt = "I" if four_octet else "H"
    segments: list[AsPathSegment] = []
    pos, end = 0, len(value)
    while pos < end:
        if end - pos < 2:
            raise _Malformed(UpdateSubcode.MALFORMED_AS_PATH, f"{name} ends with a lone octet")
        seg_type, count = value[pos], value[pos + 1]
        pos += 2
        if seg_type not in iana.AsPathSegmentType.__members__.values():
            raise _Malformed(UpdateSubcode.MALFORMED_AS_PATH, f"{name} has unknown segment type {seg_type}")
        if count == 0:
            raise _Malformed(UpdateSubcode.MALFORMED_AS_PATH, f"{name} has an empty segment")
        if pos + count * width > end:
            raise _Malformed(UpdateSubcode.MALFORMED_AS_PATH, f"a {name} segment overruns the attribute")
        segments.append(AsPathSegment(seg_type, struct.unpack_from(f"!{count}{fmt}", value, pos)))
        pos += count * width
    return tuple(segments)


def _decode_aggregator(value: bytes, four_octet: bool) -> tuple[int, ipaddress.IPv4Address]:
    _need_len(value, 8 if four_octet else 6, "AGGREGATOR")
    asn = _U32.unpack_from(value)[0] if four_octet else _U16.unpack_from(value)[0]
    return asn, ipaddress.IPv4Address(value[-4:])


def _decode_next_hops(afi: int, safi: int, nh: bytes) -> tuple[IPAddress, ...]:
    family = (afi, safi)
    if len(nh) == 4 and afi == iana.Afi.IPV4:
        return (ipaddress.IPv4Address(nh),)
    if len(nh) in (16, 32):  # RFC 2545 section 3 (global [+ link-local]); RFC 8950 for IPv4 NLRI
        return tuple(ipaddress.IPv6Address(nh[i : i + 16]) for i in range(0, len(nh), 16))
    raise _Malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"next hop length {len(nh)} is wrong for {family}", family)


_KNOWN_FAMILIES = frozenset({iana.IPV4_UNICAST, iana.IPV6_UNICAST})


def _decode_mp_reach(value: bytes) -> MpReach:
    # RFC 7606 section 7.11: errors here make the NLRI unlocatable: "session reset" or "AFI/SAFI disable".
    if len(value) < 5:
        raise _Malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, "MP_REACH_NLRI is shorter than 5 octets")
    afi, safi, nh_len = struct.unpack_from("!HBB", value)
    family = (afi, safi)
    if family not in _KNOWN_FAMILIES:
        return MpReach(afi, safi, raw=bytes(value))
    if 4 + nh_len + 1 > len(value):
        raise _Malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI next hop overruns it", family)
    next_hop = _decode_next_hops(afi, safi, value[4 : 4 + nh_len])
    try:
        nlri = decode_prefixes(value[5 + nh_len :], afi)
    except PrefixError as exc:
        raise _Malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI: {exc}", family) from None
    return MpReach(afi, safi, next_hop, nlri)


def _decode_mp_unreach(value: bytes) -> MpUnreach:
    if len(value) < 3:
        raise _Malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, "MP_UNREACH_NLRI is shorter than 3 octets")
    afi, safi = struct.unpack_from("!HB", value)
    family = (afi, safi)
    if family not in _KNOWN_FAMILIES:
        return MpUnreach(afi, safi, raw=bytes(value))
    try:
        withdrawn = decode_prefixes(value[3:], afi)
    except PrefixError as exc:
        raise _Malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_UNREACH_NLRI: {exc}", family) from None
    return MpUnreach(afi, safi, withdrawn)


def _decode_origin(value: bytes) -> int:
    _need_len(value, 1, "ORIGIN")
    if value[0] > iana.Origin.INCOMPLETE:
        raise _Malformed(UpdateSubcode.INVALID_ORIGIN, f"ORIGIN value {value[0]} is undefined")
    return value[0]


def _decode_large(value: bytes) -> tuple[tuple[int, int, int], ...]:
    # RFC 8092 section 6: "non-zero multiple of 12" or treat-as-withdraw.
    if not value or len(value) % 12:
        raise _Malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, "LARGE_COMMUNITY must be a non-zero multiple of 12")
    return tuple((a, b, c) for a, b, c in struct.iter_unpack("!III", value))


def _decode_next_hop(value: bytes, ctx: DecodeContext) -> ipaddress.IPv4Address:
    _need_len(value, 4, "NEXT_HOP")
    return ipaddress.IPv4Address(value)


def _decode_u32(name: str) -> Callable[[bytes, DecodeContext], int]:
    def decode(value: bytes, ctx: DecodeContext) -> int:
        _need_len(value, 4, name)
        return int(_U32.unpack(value)[0])

    return decode


def _decode_atomic(value: bytes, ctx: DecodeContext) -> bool:
    _need_len(value, 0, "ATOMIC_AGGREGATE")
    return True


def _check_originator(value: bytes, ctx: DecodeContext) -> None:
    _need_len(value, 4, "ORIGINATOR_ID")


def _check_cluster_list(value: bytes, ctx: DecodeContext) -> None:
    _u32_list(value, "CLUSTER_LIST")


def _check_extended_communities(value: bytes, ctx: DecodeContext) -> None:
    _u32_list(value, "EXTENDED_COMMUNITIES", 8)


_W, _D, _A, _R = ErrorAction.WITHDRAW, ErrorAction.DISCARD, ErrorAction.AFI_SAFI_DISABLE, ErrorAction.RESET


def _always(action: ErrorAction) -> Callable[[DecodeContext], ErrorAction]:
    return lambda ctx: action


def _ibgp_or_discard(ctx: DecodeContext) -> ErrorAction:
    # RFC 7606 sections 7.5, 7.9, 7.10: from an external neighbour the attribute is discarded.
    return _W if ctx.ibgp else _D


_Decoder = tuple[str | None, Callable[[bytes, DecodeContext], Any], Callable[[DecodeContext], ErrorAction]]

#: type code -> (PathAttributes field, or None to keep it raw; decoder; RFC 7606 section 7 action when malformed)
_DECODERS: dict[int, _Decoder] = {
    AttrType.ORIGIN: ("origin", lambda v, c: _decode_origin(v), _always(_W)),
    AttrType.AS_PATH: ("as_path", lambda v, c: _decode_as_path(v, c.four_octet_as), _always(_W)),
    AttrType.NEXT_HOP: ("next_hop", _decode_next_hop, _always(_W)),
    AttrType.MULTI_EXIT_DISC: ("med", _decode_u32("MULTI_EXIT_DISC"), _always(_W)),
    AttrType.LOCAL_PREF: ("local_pref", _decode_u32("LOCAL_PREF"), _ibgp_or_discard),
    AttrType.ATOMIC_AGGREGATE: ("atomic_aggregate", _decode_atomic, _always(_D)),
    AttrType.AGGREGATOR: ("aggregator", lambda v, c: _decode_aggregator(v, c.four_octet_as), _always(_D)),
    AttrType.COMMUNITIES: ("communities", lambda v, c: _u32_list(v, "COMMUNITIES"), _always(_W)),
    AttrType.ORIGINATOR_ID: (None, _check_originator, _ibgp_or_discard),
    AttrType.CLUSTER_LIST: (None, _check_cluster_list, _ibgp_or_discard),
    AttrType.MP_REACH_NLRI: ("mp_reach", lambda v, c: _decode_mp_reach(v), _always(_A)),
    AttrType.MP_UNREACH_NLRI: ("mp_unreach", lambda v, c: _decode_mp_unreach(v), _always(_A)),
    AttrType.EXTENDED_COMMUNITIES: (None, _check_extended_communities, _always(_W)),
    AttrType.AS4_PATH: ("as4_path", lambda v, c: _decode_as_path(v, True, "AS4_PATH"), _always(_D)),
    AttrType.AS4_AGGREGATOR: ("as4_aggregator", lambda v, c: _decode_aggregator(v, True), _always(_D)),
    AttrType.LARGE_COMMUNITIES: ("large_communities", lambda v, c: _decode_large(v), _always(_W)),
}


def decode_attributes(buf: bytes, ctx: DecodeContext, *, has_nlri: bool) -> tuple[PathAttributes, tuple[BgpError, ...]]:
    """Parse the Path Attributes field of an UPDATE.

    Args:
        buf: exactly the Total Path Attribute Length octets.
        ctx: the negotiated decode context.
        has_nlri: the UPDATE's classic NLRI field is non-empty (NEXT_HOP is then mandatory).

    Returns:
        The attributes (malformed ones left out) and the non-fatal errors found, worst first.

    Raises:
        BgpError: with action ``RESET`` when RFC 7606 leaves no milder choice.
    """
    values: dict[str, Any] = {}
    other: list[RawAttribute] = []
    errors: list[BgpError] = []
    seen: set[int] = set()
    pos, end = 0, len(buf)
    while pos < end:
        flags = buf[pos]
        header = 4 if flags & AttrFlag.EXTENDED_LENGTH else 3
        if end - pos < header:
            # RFC 7606 section 4, second case: too few octets left for an attribute header.
            errors.append(update_error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, b"", _W, "attribute header cut short"))
            break
        type_code = buf[pos + 1]
        length = _U16.unpack_from(buf, pos + 2)[0] if header == 4 else buf[pos + 2]
        if pos + header + length > end:
            # RFC 7606 section 4, first case: the last attribute overruns the Total Path Attribute Length.
            errors.append(
                update_error(
                    UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, b"", _W, f"attribute {type_code} overruns the list"
                )
            )
            break
        raw = buf[pos : pos + header + length]
        value = buf[pos + header : pos + header + length]
        pos += header + length
        if type_code in seen:
            if type_code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                # RFC 7606 section 3.g: MP_REACH/MP_UNREACH more than once is "Malformed Attribute List".
                raise update_error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message=f"attribute {type_code} repeated")
            errors.append(
                update_error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, b"", _D, f"attribute {type_code} repeated")
            )
            continue
        seen.add(type_code)
        decoder = _DECODERS.get(type_code)
        if decoder is None:
            if not flags & AttrFlag.OPTIONAL:
                raise update_error(
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    raw,
                    message=f"well-known attribute {type_code} is not one we recognise",
                )
            if flags & AttrFlag.TRANSITIVE:
                other.append(RawAttribute(flags, type_code, bytes(value)))
            continue
        name, decode, action_of = decoder
        action = action_of(ctx)
        if (flags & _OPTIONAL_TRANSITIVE) != EXPECTED_FLAGS[type_code]:
            # RFC 7606 section 3.c: conflicting Optional/Transitive bits make the attribute malformed.
            errors.append(
                _attr_error(UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, raw, action, f"attribute {type_code} flags", None)
            )
            continue
        try:
            decoded = decode(value, ctx)
        except _Malformed as exc:
            if action is _A and exc.family is None:
                action = _R
            errors.append(_attr_error(exc.subcode, raw, action, exc.message, exc.family))
            continue
        if type_code == AttrType.AS4_PATH and ctx.four_octet_as:
            # RFC 6793 section 6: AS4_PATH between two NEW speakers "MUST discard the path attribute".
            errors.append(_attr_error(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, raw, _D, "AS4_PATH from a NEW speaker"))
            continue
        if name is None:
            other.append(RawAttribute(flags, type_code, bytes(value)))
        else:
            values[name] = decoded
    reach = values.get("mp_reach")
    if has_nlri or (isinstance(reach, MpReach) and (reach.nlri or reach.raw)):
        # RFC 7606 section 3.d: a missing well-known mandatory attribute means treat-as-withdraw.
        required = [AttrType.ORIGIN, AttrType.AS_PATH] + ([AttrType.NEXT_HOP] if has_nlri else [])
        for code in required:
            if code not in seen:
                errors.append(
                    update_error(
                        UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, bytes((code,)), _W, f"attribute {code} missing"
                    )
                )
    fatal = [e for e in errors if e.action is _R]
    if fatal:
        raise fatal[0]
    attrs = PathAttributes(**values, other=tuple(other)) if values or other else EMPTY
    errors.sort(key=lambda e: -e.action)
    return attrs, tuple(errors)


def _attr_error(
    subcode: int, raw: bytes, action: ErrorAction, message: str, family: tuple[int, int] | None = None
) -> BgpError:
    return update_error(UpdateSubcode(subcode), raw, action, message, family)


def with_communities(attrs: PathAttributes, extra: Iterable[int]) -> PathAttributes:
    """The same attributes with more standard communities (sorted, de-duplicated)."""
    return replace(attrs, communities=tuple(sorted(set(attrs.communities) | set(extra))))


__all__ = [
    "EMPTY",
    "EXPECTED_FLAGS",
    "AsPathSegment",
    "DecodeContext",
    "EncodeContext",
    "IPAddress",
    "IPNetwork",
    "MpReach",
    "MpUnreach",
    "PathAttributes",
    "PrefixError",
    "RawAttribute",
    "as4_path_for",
    "decode_attributes",
    "decode_prefixes",
    "encode_attribute",
    "encode_attributes",
    "encode_prefix",
    "encode_prefixes",
    "prefix_wire_len",
    "with_communities",
]
