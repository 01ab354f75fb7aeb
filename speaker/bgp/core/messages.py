"""BGP messages (RFC 4271 section 4, RFC 2918): frozen values with ``encode(ctx)`` and ``decode(buf, ctx)``.

Theory of operation
-------------------
A BGP connection is a byte stream of messages, each framed by a 19-octet header: 16 octets of ones, a 2-octet
total length, a 1-octet type (RFC 4271 section 4.1). :func:`message_length` looks at the start of a buffer and
answers the length of the first message, or None while fewer than 19 octets have arrived; it is where header
errors are found (section 6.1: a marker that is not all ones is "Connection Not Synchronized"; a length below 19
or above 4096 is "Bad Message Length" with the length field as data). :func:`decode_message` then takes exactly
one whole message, checks its type ("Bad Message Type", data = the type) and the length each type allows, and
hands the body to the type's ``decode``.

Every message class is a frozen, slotted dataclass; ``decode(encode(m)) == m`` for every value the tests build,
which is what the codec vector table checks in both directions. :class:`EncodeContext`/:class:`DecodeContext`
carry the negotiated capabilities that change the wire format (4-octet AS numbers) or its error handling (iBGP
versus eBGP, RFC 7606). Every failure to decode is a :class:`~speaker.bgp.core.errors.BgpError`; nothing else
escapes (a fuzz test holds us to it).

UPDATE decoding applies RFC 7606: a fatal error raises, milder ones ride on ``Update.errors`` (worst first), and
``Update.error`` names the one that decides what happens to the message.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import ClassVar

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import (
    EMPTY,
    DecodeContext,
    EncodeContext,
    IPNetwork,
    MpUnreach,
    PathAttributes,
    PrefixError,
    decode_attributes,
    decode_prefixes,
    encode_attributes,
    encode_prefixes,
)
from speaker.bgp.core.capabilities import (
    Capability,
    FourOctetAs,
    decode_optional_parameters,
    encode_optional_parameters,
    peer_asn,
)
from speaker.bgp.core.errors import BgpError, header_error, open_error, strongest, update_error
from speaker.bgp.core.iana import HeaderSubcode, MessageType, OpenSubcode, UpdateSubcode

_HEADER = struct.Struct("!16sHB")
_OPEN = struct.Struct("!BHH4s")
_U16 = struct.Struct("!H")


def _frame(msg_type: int, body: bytes) -> bytes:
    length = iana.HEADER_LEN + len(body)
    if length > iana.MAX_MESSAGE_LEN:
        raise ValueError(f"a {MessageType(msg_type).name} of {length} octets exceeds {iana.MAX_MESSAGE_LEN}")
    return _HEADER.pack(iana.MARKER, length, msg_type) + body


def message_length(buf: bytes | bytearray | memoryview) -> int | None:
    """The length of the first message in ``buf``, or None until its 19-octet header has arrived.

    Raises:
        BgpError: 1/1 when the marker is not all ones, 1/2 when the length is outside 19..4096 (RFC 4271 6.1).
    """
    if len(buf) < iana.HEADER_LEN:
        return None
    if bytes(buf[:16]) != iana.MARKER:
        raise header_error(HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, message="the message marker is not all ones")
    length = _U16.unpack_from(buf, 16)[0]
    if length < iana.HEADER_LEN or length > iana.MAX_MESSAGE_LEN:
        raise header_error(HeaderSubcode.BAD_MESSAGE_LENGTH, _U16.pack(length), f"message length {length} is invalid")
    return int(length)


# ------------------------------------------------------------------------------------------------
# OPEN (RFC 4271 section 4.2)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Open:
    type: ClassVar[MessageType] = MessageType.OPEN
    #: the 2-octet "My Autonomous System" field: AS_TRANS when the real AS needs 4 octets (RFC 6793 section 4.1)
    my_as: int
    hold_time: int
    router_id: ipaddress.IPv4Address
    capabilities: tuple[Capability, ...] = ()
    version: int = iana.BGP_VERSION

    @classmethod
    def build(
        cls, *, asn: int, hold_time: int, router_id: ipaddress.IPv4Address, capabilities: tuple[Capability, ...]
    ) -> Open:
        """An OPEN for ``asn``, with the 4-octet AS capability added and AS_TRANS in ``my_as`` when needed."""
        caps = (
            capabilities if any(isinstance(c, FourOctetAs) for c in capabilities) else (*capabilities, FourOctetAs(asn))
        )
        return cls(asn if asn <= 0xFFFF else iana.AS_TRANS, hold_time, router_id, caps)

    @property
    def asn(self) -> int:
        """The sender's real AS number (from the 4-octet AS capability when present)."""
        return peer_asn(self.my_as, self.capabilities)

    def encode(self, ctx: EncodeContext | None = None) -> bytes:
        body = _OPEN.pack(self.version, self.my_as, self.hold_time, self.router_id.packed)
        return _frame(MessageType.OPEN, body + encode_optional_parameters(self.capabilities))

    @classmethod
    def decode(cls, buf: bytes, ctx: DecodeContext | None = None) -> Open:
        body = buf[iana.HEADER_LEN :]
        version, my_as, hold, router_id = _OPEN.unpack_from(body)
        if version != iana.BGP_VERSION:
            # RFC 4271 section 6.2: data = the largest locally supported version below the peer's bid (or our smallest).
            raise open_error(OpenSubcode.UNSUPPORTED_VERSION, _U16.pack(iana.BGP_VERSION), f"BGP version {version}")
        if hold in (1, 2):
            # RFC 4271 section 6.2: "An implementation MUST reject Hold Time values of one or two seconds."
            raise open_error(OpenSubcode.UNACCEPTABLE_HOLD_TIME, message=f"hold time {hold} s is not allowed")
        if router_id == b"\0\0\0\0":
            # RFC 6286 section 2.2: the BGP Identifier is a non-zero 4-octet number.
            raise open_error(OpenSubcode.BAD_BGP_IDENTIFIER, message="the BGP identifier is 0.0.0.0")
        caps, used = decode_optional_parameters(body[_OPEN.size :])
        if _OPEN.size + used != len(body):
            raise open_error(OpenSubcode.UNSPECIFIC, message="the optional parameters do not fill the OPEN message")
        return cls(my_as, hold, ipaddress.IPv4Address(router_id), caps, version)


# ------------------------------------------------------------------------------------------------
# UPDATE (RFC 4271 section 4.3)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Update:
    type: ClassVar[MessageType] = MessageType.UPDATE
    withdrawn: tuple[ipaddress.IPv4Network, ...] = ()
    attributes: PathAttributes = EMPTY
    nlri: tuple[ipaddress.IPv4Network, ...] = ()
    #: RFC 7606 findings that did not reset the session, worst first (set by decode only)
    errors: tuple[BgpError, ...] = field(default=(), compare=False)

    @property
    def error(self) -> BgpError | None:
        """The finding that decides the fate of this UPDATE (None = use it as is)."""
        return strongest(self.errors)

    @property
    def end_of_rib(self) -> tuple[int, int] | None:
        """The family this UPDATE is the End-of-RIB marker of (RFC 4724 section 2), or None."""
        if self.withdrawn or self.nlri:
            return None
        if self.attributes == EMPTY:
            return iana.IPV4_UNICAST
        mp = self.attributes.mp_unreach
        if mp is not None and not mp.withdrawn and mp.raw is None and self.attributes == PathAttributes(mp_unreach=mp):
            return (mp.afi, mp.safi)
        return None

    @classmethod
    def end_of_rib_marker(cls, family: tuple[int, int]) -> Update:
        if family == iana.IPV4_UNICAST:
            return cls()
        return cls(attributes=PathAttributes(mp_unreach=MpUnreach(family[0], family[1])))

    def encode(self, ctx: EncodeContext | None = None) -> bytes:
        return encode_update(
            encode_prefixes(self.withdrawn), encode_attributes(self.attributes, ctx or EncodeContext()), self.nlri
        )

    @classmethod
    def decode(cls, buf: bytes, ctx: DecodeContext | None = None) -> Update:
        ctx = ctx or DecodeContext()
        body = buf[iana.HEADER_LEN :]
        (wlen,) = _U16.unpack_from(body)
        if 2 + wlen + 2 > len(body):
            # RFC 4271 section 6.3: lengths that overrun the message are "Malformed Attribute List".
            raise update_error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message="withdrawn routes overrun the UPDATE")
        (alen,) = _U16.unpack_from(body, 2 + wlen)
        if 4 + wlen + alen > len(body):
            raise update_error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message="path attributes overrun the UPDATE")
        try:
            withdrawn = decode_prefixes(body[2 : 2 + wlen], iana.Afi.IPV4)
            nlri = decode_prefixes(body[4 + wlen + alen :], iana.Afi.IPV4)
        except PrefixError as exc:
            # RFC 4271 section 6.3 "Invalid Network Field"; RFC 7606 section 5.3: unparsable NLRI resets the session.
            raise update_error(UpdateSubcode.INVALID_NETWORK_FIELD, message=str(exc)) from None
        attrs, errors = decode_attributes(body[4 + wlen : 4 + wlen + alen], ctx, has_nlri=bool(nlri))
        return cls(withdrawn, attrs, nlri, errors)  # type: ignore[arg-type]


def encode_update(withdrawn: bytes, attributes: bytes, nlri: tuple[IPNetwork, ...] | bytes) -> bytes:
    """An UPDATE from already-encoded parts (the Adj-RIB-Out builds many that share one attribute block)."""
    nlri_bytes = nlri if isinstance(nlri, bytes) else encode_prefixes(nlri)
    body = b"".join((_U16.pack(len(withdrawn)), withdrawn, _U16.pack(len(attributes)), attributes, nlri_bytes))
    return _frame(MessageType.UPDATE, body)


# ------------------------------------------------------------------------------------------------
# NOTIFICATION (RFC 4271 section 4.5), KEEPALIVE (4.4), ROUTE-REFRESH (RFC 2918 section 3)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Notification:
    type: ClassVar[MessageType] = MessageType.NOTIFICATION
    code: int
    subcode: int = 0
    data: bytes = b""

    @classmethod
    def cease(cls, subcode: iana.CeaseSubcode, message: str = "") -> Notification:
        """A Cease; Administrative Shutdown and Reset carry ``message`` as RFC 9003's shutdown communication."""
        data = b""
        if message and subcode in (iana.CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, iana.CeaseSubcode.ADMINISTRATIVE_RESET):
            text = message.encode()[: iana.MAX_SHUTDOWN_MESSAGE_LEN].decode(errors="ignore").encode()
            data = bytes((len(text),)) + text
        return cls(iana.ErrorCode.CEASE, subcode, data)

    @property
    def shutdown_message(self) -> str | None:
        """RFC 9003: the operator's message in a Cease 2 or 4, when the data is a well-formed one."""
        if self.code != iana.ErrorCode.CEASE or self.subcode not in (2, 4) or not self.data:
            return None
        length = self.data[0]
        if length + 1 > len(self.data):
            return None
        try:
            return self.data[1 : 1 + length].decode()
        except UnicodeDecodeError:
            return None

    @property
    def name(self) -> str:
        return iana.error_name(self.code, self.subcode)

    def describe(self) -> str:
        """``"Cease / Administrative Shutdown: 'maintenance'"`` for logs."""
        text = self.shutdown_message
        if text is not None:
            return f"{self.name}: {text!r}"
        return f"{self.name}" + (f" (data {self.data.hex()})" if self.data else "")

    def encode(self, ctx: EncodeContext | None = None) -> bytes:
        return _frame(MessageType.NOTIFICATION, bytes((self.code, self.subcode)) + self.data)

    @classmethod
    def decode(cls, buf: bytes, ctx: DecodeContext | None = None) -> Notification:
        return cls(buf[19], buf[20], bytes(buf[21:]))


@dataclass(frozen=True, slots=True)
class Keepalive:
    type: ClassVar[MessageType] = MessageType.KEEPALIVE

    def encode(self, ctx: EncodeContext | None = None) -> bytes:
        return KEEPALIVE_BYTES

    @classmethod
    def decode(cls, buf: bytes, ctx: DecodeContext | None = None) -> Keepalive:
        return cls()


KEEPALIVE_BYTES = _HEADER.pack(iana.MARKER, iana.HEADER_LEN, MessageType.KEEPALIVE)


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    type: ClassVar[MessageType] = MessageType.ROUTE_REFRESH
    afi: int
    safi: int
    #: RFC 7313 section 3.2: 0 = normal request (1 and 2 are BoRR/EoRR, which we never ask for)
    subtype: int = 0

    def encode(self, ctx: EncodeContext | None = None) -> bytes:
        return _frame(MessageType.ROUTE_REFRESH, struct.pack("!HBB", self.afi, self.subtype, self.safi))

    @classmethod
    def decode(cls, buf: bytes, ctx: DecodeContext | None = None) -> RouteRefresh:
        afi, subtype, safi = struct.unpack_from("!HBB", buf, iana.HEADER_LEN)
        return cls(afi, safi, subtype)


Message = Open | Update | Notification | Keepalive | RouteRefresh

#: type -> (class, minimum length, maximum length) (RFC 4271 section 6.1; RFC 2918 section 3 for ROUTE-REFRESH)
_TYPES: dict[int, tuple[type[Message], int, int]] = {
    MessageType.OPEN: (Open, 29, iana.MAX_MESSAGE_LEN),
    MessageType.UPDATE: (Update, 23, iana.MAX_MESSAGE_LEN),
    MessageType.NOTIFICATION: (Notification, 21, iana.MAX_MESSAGE_LEN),
    MessageType.KEEPALIVE: (Keepalive, 19, 19),
    MessageType.ROUTE_REFRESH: (RouteRefresh, 23, 23),
}


def decode_message(buf: bytes, ctx: DecodeContext | None = None) -> Message:
    """Decode exactly one whole message (``len(buf) == message_length(buf)``).

    Raises:
        BgpError: the error RFC 4271 section 6 (and RFC 7606 for UPDATE) prescribes; nothing else escapes.
    """
    length = message_length(buf)
    if length is None or length != len(buf):
        raise header_error(HeaderSubcode.BAD_MESSAGE_LENGTH, _U16.pack(len(buf) & 0xFFFF), "message framing is off")
    msg_type = buf[18]
    entry = _TYPES.get(msg_type)
    if entry is None:
        raise header_error(HeaderSubcode.BAD_MESSAGE_TYPE, bytes((msg_type,)), f"message type {msg_type} is unknown")
    cls, minimum, maximum = entry
    if not minimum <= length <= maximum:
        raise header_error(
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            _U16.pack(length),
            f"a {MessageType(msg_type).name} cannot be {length} octets long",
        )
    return cls.decode(bytes(buf), ctx)


__all__ = [
    "KEEPALIVE_BYTES",
    "DecodeContext",
    "EncodeContext",
    "Keepalive",
    "Message",
    "Notification",
    "Open",
    "RouteRefresh",
    "Update",
    "decode_message",
    "encode_update",
    "message_length",
]
