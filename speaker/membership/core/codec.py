"""Wire format of the membership protocol: one authenticated UDP datagram per message.

Theory of operation
-------------------
Every datagram has the same shape (big-endian, sizes in bytes)::

    0      2  magic  b"IM"                      -- "ironlb membership"; anything else is BAD_MAGIC
    2      1  version (1)                       -- anything else is BAD_VERSION
    3      1  message type (MessageType)
    4      8  sender epoch (u64)                -- boot id of the sending process, e.g. its start time in ms
    12     8  sender sequence number (u64)      -- +1 for every datagram the process sends, to anyone
    20     4  sender incarnation (u32)          -- SWIM incarnation, bumped by the sender to refute suspicion
    24     1  sender name length n (1..255)
    25     n  sender name, UTF-8                -- the Kubernetes node name: the sender's identity
    25+n   .  body (depends on the type; every body ends with a list of piggybacked member updates)
    end-32 32 HMAC-SHA256 over every byte before it, under the cluster key

Validation order matters for cost and for honest counting: the cheap framing checks (length, magic, version)
come first, then the HMAC under each accepted key (the first key is the one we send with; the others are
accepted during a key rotation), and only an authenticated datagram is parsed further. So an attacker without
the key makes us compute at most one HMAC per accepted key and never reaches the parser, and a malformed body
from an authenticated peer (a bug, not an attack) is counted as MALFORMED rather than as forged.

Replay protection (epoch + sequence) is *not* the codec's business: it needs per-sender state and lives in
:mod:`speaker.membership.core.replay`. The codec only carries the numbers, inside the authenticated bytes.

A member update (:class:`MemberUpdate`) is one claim "member X, at version (epoch, incarnation), is in state S",
with X's address and metadata, and for failures who detected it and after how much silence. Updates ride on
every message (SWIM's piggybacking) and make up the whole body of SYNC and GOSSIP messages.

Decoding raises only :class:`~speaker.membership.core.errors.DecodeError` (tests fuzz this with hypothesis).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from speaker.membership.core.errors import DecodeError, DropReason, MembershipError

#: A UDP endpoint: an IP address literal and a port.
Address = tuple[str, int]

MAGIC = b"IM"
VERSION = 1
MAC_SIZE = 32  # HMAC-SHA256 digest, in bytes
_HEADER = struct.Struct("!2sBBQQIB")  # magic, version, type, epoch, seq, incarnation, name length
HEADER_MIN = _HEADER.size + 1 + MAC_SIZE  # the shortest possible datagram (one-byte name, empty body)
MAX_NAME = 255  # bytes of UTF-8
MAX_U32 = 0xFFFF_FFFF
MAX_U64 = 0xFFFF_FFFF_FFFF_FFFF


class MessageType(enum.IntEnum):
    """Code points of the message type byte."""

    PING = 1  # "are you alive?" to a ring successor, or a confirmation, or a reconnect probe
    ACK = 2  # answer to PING; also forwarded by a helper on behalf of the subject (indirect ack)
    NACK = 3  # a helper could not reach the subject within indirect_timeout (Lifeguard's NACK)
    PING_REQ = 4  # "please ping this suspect for me" (SWIM indirect probe)
    SYNC = 5  # full state exchange: join, anti-entropy, and answer to an unknown sender
    GOSSIP = 6  # updates only: the direct send to every member on an event
    LEAVE = 7  # the sender is leaving for good (SIGTERM)


class MemberState(enum.IntEnum):
    """What an update claims about a member. Order is not precedence; see members.py for the merge rules."""

    ALIVE = 1
    SUSPECT = 2
    FAILED = 3
    LEFT = 4


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    """One claim about one member, at one version. ``by``/``after_ms`` are filled for SUSPECT and FAILED."""

    state: MemberState
    name: str
    epoch: int
    incarnation: int
    address: Address | None = None
    metadata: bytes = b""
    by: str = ""
    after_ms: int = 0

    @property
    def version(self) -> tuple[int, int]:
        return (self.epoch, self.incarnation)


@dataclass(frozen=True, slots=True)
class Ping:
    probe_id: int
    target: str  # the node name the sender means to reach: an ack from anyone else is meaningless
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    probe_id: int
    subject: str  # whose liveness this proves: the sender itself, or the suspect when a helper forwards it
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Nack:
    probe_id: int
    subject: str  # the suspect the helper could not reach
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class PingReq:
    probe_id: int
    target: str
    target_address: Address
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Sync:
    reply_wanted: bool
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Gossip:
    updates: tuple[MemberUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Leave:
    updates: tuple[MemberUpdate, ...] = ()


Body = Ping | Ack | Nack | PingReq | Sync | Gossip | Leave

_TYPE_OF: dict[type[Body], MessageType] = {
    Ping: MessageType.PING,
    Ack: MessageType.ACK,
    Nack: MessageType.NACK,
    PingReq: MessageType.PING_REQ,
    Sync: MessageType.SYNC,
    Gossip: MessageType.GOSSIP,
    Leave: MessageType.LEAVE,
}


@dataclass(frozen=True, slots=True)
class Datagram:
    """A decoded, authenticated datagram: who sent it, at which (epoch, seq, incarnation), and what."""

    sender: str
    epoch: int
    seq: int
    incarnation: int
    body: Body

    @property
    def type(self) -> MessageType:
        return _TYPE_OF[type(self.body)]

    @property
    def version(self) -> tuple[int, int]:
        return (self.epoch, self.incarnation)


# ===== encoding ================================================================================================
def _str8(text: str, field: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > MAX_NAME:
        raise MembershipError(f"Membership {field} {text[:40]!r}... is {len(raw)} bytes; the limit is {MAX_NAME}.")
    return bytes([len(raw)]) + raw


def _address(address: Address | None) -> bytes:
    if address is None:
        return b"\x00"
    host, port = canonical_address(address)
    ip = ipaddress.ip_address(host)
    return bytes([ip.version]) + ip.packed + struct.pack("!H", port)


def canonical_address(address: Address) -> Address:
    """``address`` with its host in canonical text form (``2001:DB8::0011`` -> ``2001:db8::11``), validated."""
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise MembershipError(f"Membership address {host!r} is not an IP address literal; pass one.") from None
    if not 0 <= port <= 0xFFFF:
        raise MembershipError(f"Membership port {port!r} is outside 0..65535.")
    return (str(ip), port)


def encode_update(update: MemberUpdate) -> bytes:
    """The wire form of one member update (also used to measure how many fit in a datagram)."""
    if len(update.metadata) > 0xFFFF:
        raise MembershipError(f"Metadata of member {update.name!r} is {len(update.metadata)} bytes; too large.")
    return b"".join(
        (
            bytes([int(update.state)]),
            _str8(update.name, "member name"),
            struct.pack("!QI", update.epoch, update.incarnation),
            _address(update.address),
            struct.pack("!H", len(update.metadata)),
            update.metadata,
            _str8(update.by, "detector name"),
            struct.pack("!I", min(update.after_ms, MAX_U32)),
        )
    )


def _updates(updates: Sequence[MemberUpdate]) -> bytes:
    return struct.pack("!H", len(updates)) + b"".join(encode_update(u) for u in updates)


def encode_body(body: Body) -> bytes:
    match body:
        case Ping(probe_id, target, updates):
            return struct.pack("!I", probe_id) + _str8(target, "ping target") + _updates(updates)
        case Ack(probe_id, subject, updates) | Nack(probe_id, subject, updates):
            return struct.pack("!I", probe_id) + _str8(subject, "ack subject") + _updates(updates)
        case PingReq(probe_id, target, target_address, updates):
            head = struct.pack("!I", probe_id) + _str8(target, "ping-req target") + _address(target_address)
            return head + _updates(updates)
        case Sync(reply_wanted, updates):
            return bytes([1 if reply_wanted else 0]) + _updates(updates)
        case Gossip(updates) | Leave(updates):
            return _updates(updates)


def encode_datagram(
    body: Body,
    *,
    sender: str,
    epoch: int,
    seq: int,
    incarnation: int,
    key: bytes,
) -> bytes:
    """Serialize and sign one datagram. Raises :class:`MembershipError` on values that cannot be encoded."""
    name = sender.encode("utf-8")
    if not 1 <= len(name) <= MAX_NAME:
        raise MembershipError(f"Membership node name {sender[:40]!r} must be 1..{MAX_NAME} bytes of UTF-8.")
    if not (0 <= epoch <= MAX_U64 and 0 <= seq <= MAX_U64 and 0 <= incarnation <= MAX_U32):
        raise MembershipError(f"Membership header numbers out of range: epoch={epoch} seq={seq} inc={incarnation}.")
    head = _HEADER.pack(MAGIC, VERSION, _TYPE_OF[type(body)], epoch, seq, incarnation, len(name)) + name
    signed = head + encode_body(body)
    return signed + hmac.new(key, signed, hashlib.sha256).digest()


def overhead(sender: str) -> int:
    """Bytes a datagram from ``sender`` spends on header and trailer, before its body."""
    return _HEADER.size + len(sender.encode("utf-8")) + MAC_SIZE


# ===== decoding ================================================================================================
class _Reader:
    """A cursor over authenticated bytes; running past the end is TRUNCATED, bad content MALFORMED."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, start: int, end: int) -> None:
        self.buf = buf
        self.pos = start
        self.end = end

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise DecodeError(DropReason.TRUNCATED, f"needs {size} bytes at offset {self.pos}, has {self.end}")
        chunk = self.buf[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("!H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack("!I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("!Q", self.take(8))[0]
        return value

    def str8(self, *, allow_empty: bool = False) -> str:
        raw = self.take(self.u8())
        if not raw and not allow_empty:
            raise DecodeError(DropReason.MALFORMED, f"empty name at offset {self.pos}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(DropReason.MALFORMED, f"name is not UTF-8 at offset {self.pos}") from None

    def address(self) -> Address | None:
        family = self.u8()
        if family == 0:
            return None
        if family not in (4, 6):
            raise DecodeError(DropReason.MALFORMED, f"address family {family} is neither 4 nor 6")
        packed = self.take(4 if family == 4 else 16)
        host = str(ipaddress.ip_address(packed))
        return (host, self.u16())

    def update(self) -> MemberUpdate:
        code = self.u8()
        try:
            state = MemberState(code)
        except ValueError:
            raise DecodeError(DropReason.MALFORMED, f"member state {code} is unknown") from None
        name = self.str8()
        epoch = self.u64()
        incarnation = self.u32()
        address = self.address()
        metadata = self.take(self.u16())
        by = self.str8(allow_empty=True)
        after_ms = self.u32()
        return MemberUpdate(state, name, epoch, incarnation, address, metadata, by, after_ms)

    def updates(self) -> tuple[MemberUpdate, ...]:
        return tuple(self.update() for _ in range(self.u16()))

    def finish(self) -> None:
        if self.pos != self.end:
            raise DecodeError(DropReason.MALFORMED, f"{self.end - self.pos} trailing bytes after the body")


def _decode_body(kind: MessageType, reader: _Reader) -> Body:
    match kind:
        case MessageType.PING:
            return Ping(reader.u32(), reader.str8(), reader.updates())
        case MessageType.ACK:
            return Ack(reader.u32(), reader.str8(), reader.updates())
        case MessageType.NACK:
            return Nack(reader.u32(), reader.str8(), reader.updates())
        case MessageType.PING_REQ:
            probe_id, target, address = reader.u32(), reader.str8(), reader.address()
            if address is None:
                raise DecodeError(DropReason.MALFORMED, "ping-req without a target address")
            return PingReq(probe_id, target, address, reader.updates())
        case MessageType.SYNC:
            flags = reader.u8()
            return Sync(bool(flags & 1), reader.updates())
        case MessageType.GOSSIP:
            return Gossip(reader.updates())
        case MessageType.LEAVE:
            return Leave(reader.updates())


def authenticate(data: bytes, keys: Sequence[bytes]) -> None:
    """Check framing and the HMAC trailer; raise :class:`DecodeError` if the datagram is not ours."""
    if len(data) < HEADER_MIN:
        raise DecodeError(DropReason.TRUNCATED, f"{len(data)} bytes is shorter than the {HEADER_MIN}-byte minimum")
    if data[:2] != MAGIC:
        raise DecodeError(DropReason.BAD_MAGIC, f"magic {data[:2].hex()} is not {MAGIC.hex()}")
    if data[2] != VERSION:
        raise DecodeError(DropReason.BAD_VERSION, f"version {data[2]} is not {VERSION}")
    signed, trailer = data[:-MAC_SIZE], data[-MAC_SIZE:]
    for key in keys:
        if hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), trailer):
            return
    raise DecodeError(DropReason.UNAUTHENTICATED, "the HMAC-SHA256 trailer matches no accepted key")


def decode_datagram(data: bytes, keys: Sequence[bytes]) -> Datagram:
    """Authenticate and parse one datagram. Raises only :class:`DecodeError`.

    Args:
        data: the UDP payload as received.
        keys: accepted HMAC keys, tried in order.
    Returns:
        The decoded datagram (not yet checked for replay).
    Raises:
        DecodeError: with the :class:`DropReason` to count it under.
    """
    authenticate(data, keys)
    _magic, _version, code, epoch, seq, incarnation, _ = _HEADER.unpack_from(data)
    reader = _Reader(data, _HEADER.size - 1, len(data) - MAC_SIZE)
    sender = reader.str8()
    try:
        kind = MessageType(code)
    except ValueError:
        raise DecodeError(DropReason.UNKNOWN_TYPE, f"message type {code} is unknown") from None
    body = _decode_body(kind, reader)
    reader.finish()
    return Datagram(sender, epoch, seq, incarnation, body)


__all__ = [
    "HEADER_MIN",
    "MAC_SIZE",
    "MAGIC",
    "VERSION",
    "Ack",
    "Address",
    "Body",
    "Datagram",
    "Gossip",
    "Leave",
    "MemberState",
    "MemberUpdate",
    "MessageType",
    "Nack",
    "Ping",
    "PingReq",
    "Sync",
    "authenticate",
    "canonical_address",
    "decode_datagram",
    "encode_body",
    "encode_datagram",
    "encode_update",
    "overhead",
]
