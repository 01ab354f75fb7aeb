"""The BFD control packet (RFC 5880 section 4): code points, the codec, and the header rules of section 6.8.6.

Theory of operation
-------------------
A control packet is a 24-byte mandatory section, optionally followed by an authentication section when the A bit
is set (RFC 5880 section 4.1)::

     0                   1                   2                   3
    |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
    |                       My Discriminator                        |
    |                      Your Discriminator                       |
    |                    Desired Min TX Interval                    |
    |                   Required Min RX Interval                    |
    |                 Required Min Echo RX Interval                 |
    |   Auth Type   |   Auth Len    |    Authentication Data...     |   (only with A)

Intervals are in microseconds, as on the wire. :class:`ControlPacket` is a frozen value: :meth:`ControlPacket.encode`
computes the Length field, :meth:`ControlPacket.decode` checks the syntax (size, version, Length, authentication
section shape) and raises :class:`~speaker.bfd.core.errors.DecodeError` with a named reason, nothing else.

The semantic reception rules that depend on the header alone (Detect Mult 0, the M bit, My Discriminator 0, Your
Discriminator 0 while Init/Up) live apart in :func:`check_reception_rules`, as gobgp keeps ``validate.go`` apart
from decoding: a test or a tool can still build and parse a packet that breaks them. The session applies both.

Authentication: the section is parsed and re-encoded for every type RFC 5880 defines (simple password, keyed and
meticulous keyed MD5 and SHA1, sections 4.2-4.4), but no digest is computed or checked here. MetalLB's BFDProfile
has no key fields, so ironlb runs every session without authentication and drops packets with the A bit set
(RFC 5880 section 6.8.6; :attr:`~speaker.bfd.core.errors.DropReason.AUTHENTICATION_UNEXPECTED`).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from speaker.bfd.core.errors import BfdError, DecodeError, DropReason

#: The only protocol version (RFC 5880 section 4.1).
VERSION = 1
#: Length of the mandatory section, in bytes.
MANDATORY_LENGTH = 24
#: The smallest Length with the A bit set: the mandatory section plus Auth Type and Auth Len (6.8.6).
MINIMUM_AUTHENTICATED_LENGTH = 26
#: Largest value of a 32-bit field (discriminators, intervals in microseconds).
MAX_U32 = 0xFFFF_FFFF

_MANDATORY = struct.Struct("!BBBBIIIII")
_KEYED = struct.Struct("!BBBBI")  # auth type, auth len, key id, reserved, sequence number

# Bits of the second byte: Sta(2) P F C A D M.
_POLL = 0x20
_FINAL = 0x10
_CONTROL_PLANE_INDEPENDENT = 0x08
_AUTHENTICATION_PRESENT = 0x04
_DEMAND = 0x02
_MULTIPOINT = 0x01


class State(enum.IntEnum):
    """Session states (RFC 5880 sections 4.1 and 6.2); the value is the 2-bit State field."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diagnostic(enum.IntEnum):
    """Diagnostic codes (RFC 5880 section 4.1; 9 from RFC 6428). Codes 10-31 are unassigned and decode as ints."""

    NONE = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8
    MIS_CONNECTIVITY_DEFECT = 9


_KNOWN_DIAGNOSTICS = frozenset(int(d) for d in Diagnostic)


class AuthType(enum.IntEnum):
    """Authentication types (RFC 5880 section 4.1). 0 is reserved; 6-255 are unassigned and rejected."""

    SIMPLE_PASSWORD = 1
    KEYED_MD5 = 2
    METICULOUS_KEYED_MD5 = 3
    KEYED_SHA1 = 4
    METICULOUS_KEYED_SHA1 = 5


#: Auth Len of the keyed types (RFC 5880 sections 4.3 and 4.4), and the digest length it leaves.
_KEYED_AUTH_LENGTH = {
    AuthType.KEYED_MD5: 24,
    AuthType.METICULOUS_KEYED_MD5: 24,
    AuthType.KEYED_SHA1: 28,
    AuthType.METICULOUS_KEYED_SHA1: 28,
}


def diagnostic_name(code: int) -> str:
    """``control_detection_time_expired`` for 1, ``diagnostic_12`` for an unassigned code: for logs and status."""
    try:
        return Diagnostic(code).name.lower()
    except ValueError:
        return f"diagnostic_{code}"


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= MAX_U32:
        raise BfdError(f"BFD control packet field {name} is {value}; it must fit in 32 bits (0-{MAX_U32}).")


@dataclass(frozen=True, slots=True)
class Authentication:
    """An authentication section (RFC 5880 sections 4.2-4.4), carried but not verified (see the module docstring).

    ``data`` is the password (simple password, 1-16 bytes) or the digest (16 bytes for MD5, 20 for SHA1);
    ``sequence`` is 0 for a simple password, which has none.
    """

    auth_type: AuthType
    key_id: int
    data: bytes
    sequence: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.key_id <= 0xFF:
            raise BfdError(f"BFD authentication key id is {self.key_id}; it must be 0-255.")
        _check_u32("sequence", self.sequence)
        if self.auth_type is AuthType.SIMPLE_PASSWORD:
            if not 1 <= len(self.data) <= 16:
                raise BfdError(f"A BFD simple password is {len(self.data)} bytes; it must be 1-16 (RFC 5880 4.2).")
            if self.sequence:
                raise BfdError("A BFD simple password section has no sequence number; leave it 0.")
        elif len(self.data) != _KEYED_AUTH_LENGTH[self.auth_type] - 8:
            raise BfdError(
                f"A BFD {self.auth_type.name} digest is {_KEYED_AUTH_LENGTH[self.auth_type] - 8} bytes, "
                f"not {len(self.data)}."
            )

    def encode(self) -> bytes:
        if self.auth_type is AuthType.SIMPLE_PASSWORD:
            return bytes((self.auth_type, 3 + len(self.data), self.key_id)) + self.data
        length = _KEYED_AUTH_LENGTH[self.auth_type]
        return _KEYED.pack(self.auth_type, length, self.key_id, 0, self.sequence) + self.data

    @classmethod
    def decode(cls, section: bytes) -> Authentication:
        """Parse the section that fills the packet after the mandatory part. Raises :class:`DecodeError`."""
        bad = DropReason.BAD_AUTHENTICATION_SECTION
        if len(section) < 2:
            raise DecodeError(bad, f"authentication section of {len(section)} bytes; it needs at least 2")
        type_code, auth_len = section[0], section[1]
        if auth_len != len(section):
            raise DecodeError(bad, f"Auth Len {auth_len} does not match the {len(section)} bytes Length leaves")
        try:
            auth_type = AuthType(type_code)
        except ValueError:
            raise DecodeError(bad, f"unknown authentication type {type_code}") from None
        if auth_type is AuthType.SIMPLE_PASSWORD:
            if not 4 <= auth_len <= 19:
                raise DecodeError(bad, f"simple password Auth Len {auth_len}; it must be 4-19 (RFC 5880 4.2)")
            return cls(auth_type, section[2], section[3:auth_len])
        if auth_len != _KEYED_AUTH_LENGTH[auth_type]:
            raise DecodeError(
                bad, f"{auth_type.name} Auth Len {auth_len}; it must be {_KEYED_AUTH_LENGTH[auth_type]} (4.3, 4.4)"
            )
        _, _, key_id, _reserved, sequence = _KEYED.unpack_from(section)
        return cls(auth_type, key_id, section[_KEYED.size :], sequence)


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One BFD control packet; intervals in microseconds, as on the wire (RFC 5880 section 4.1)."""

    state: State
    my_discriminator: int
    your_discriminator: int = 0
    #: a :class:`Diagnostic` member, or a plain int for an unassigned code received from a peer.
    diagnostic: int = Diagnostic.NONE
    detect_mult: int = 3
    desired_min_tx_us: int = 1_000_000
    required_min_rx_us: int = 1_000_000
    required_min_echo_rx_us: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    authentication: Authentication | None = None
    version: int = VERSION

    def __post_init__(self) -> None:
        if not 0 <= self.version <= 7:
            raise BfdError(f"BFD version is {self.version}; the field has 3 bits (0-7).")
        if not 0 <= self.diagnostic <= 31:
            raise BfdError(f"BFD diagnostic is {self.diagnostic}; the field has 5 bits (0-31).")
        if not 0 <= self.detect_mult <= 0xFF:
            raise BfdError(f"BFD Detect Mult is {self.detect_mult}; it must be 0-255.")
        for name in ("my_discriminator", "your_discriminator", "desired_min_tx_us", "required_min_rx_us"):
            _check_u32(name, getattr(self, name))
        _check_u32("required_min_echo_rx_us", self.required_min_echo_rx_us)

    @property
    def length(self) -> int:
        """The Length field: the whole packet, authentication section included."""
        auth = self.authentication
        return MANDATORY_LENGTH + (len(auth.encode()) if auth is not None else 0)

    def encode(self) -> bytes:
        flags = (
            (_POLL if self.poll else 0)
            | (_FINAL if self.final else 0)
            | (_CONTROL_PLANE_INDEPENDENT if self.control_plane_independent else 0)
            | (_AUTHENTICATION_PRESENT if self.authentication is not None else 0)
            | (_DEMAND if self.demand else 0)
            | (_MULTIPOINT if self.multipoint else 0)
        )
        auth = self.authentication.encode() if self.authentication is not None else b""
        return (
            _MANDATORY.pack(
                (self.version << 5) | self.diagnostic,
                (int(self.state) << 6) | flags,
                self.detect_mult,
                MANDATORY_LENGTH + len(auth),
                self.my_discriminator,
                self.your_discriminator,
                self.desired_min_tx_us,
                self.required_min_rx_us,
                self.required_min_echo_rx_us,
            )
            + auth
        )

    @classmethod
    def decode(cls, data: bytes) -> ControlPacket:
        """Parse one datagram's payload. Raises :class:`DecodeError` (and nothing else) when it cannot be read.

        Bytes after the Length field's end are ignored (they belong to the encapsulation, RFC 5880 section 6.8.6
        only forbids a Length *greater* than the payload); so are bytes inside Length after the mandatory section
        when the A bit is clear.
        """
        if len(data) < MANDATORY_LENGTH:
            raise DecodeError(DropReason.TRUNCATED, f"{len(data)} bytes; the mandatory section has 24")
        (vers_diag, sta_flags, detect_mult, length, my_discr, your_discr, min_tx, min_rx, min_echo_rx) = (
            _MANDATORY.unpack_from(data)
        )
        version = vers_diag >> 5
        if version != VERSION:  # RFC 5880 6.8.6: "If the version number is not correct (1) ... MUST be discarded"
            raise DecodeError(DropReason.BAD_VERSION, f"version {version}; only version 1 exists")
        authenticated = bool(sta_flags & _AUTHENTICATION_PRESENT)
        minimum = MINIMUM_AUTHENTICATED_LENGTH if authenticated else MANDATORY_LENGTH
        if length < minimum:  # RFC 5880 6.8.6: Length below 24 (26 with A) MUST be discarded
            raise DecodeError(DropReason.BAD_LENGTH, f"Length {length} is below the minimum {minimum}")
        if length > len(data):  # RFC 5880 6.8.6: Length greater than the payload MUST be discarded
            raise DecodeError(DropReason.TRUNCATED, f"Length {length} but only {len(data)} bytes arrived")
        authentication = Authentication.decode(data[MANDATORY_LENGTH:length]) if authenticated else None
        diag_code = vers_diag & 0x1F
        return cls(
            state=State(sta_flags >> 6),
            my_discriminator=my_discr,
            your_discriminator=your_discr,
            diagnostic=Diagnostic(diag_code) if diag_code in _KNOWN_DIAGNOSTICS else diag_code,
            detect_mult=detect_mult,
            desired_min_tx_us=min_tx,
            required_min_rx_us=min_rx,
            required_min_echo_rx_us=min_echo_rx,
            poll=bool(sta_flags & _POLL),
            final=bool(sta_flags & _FINAL),
            control_plane_independent=bool(sta_flags & _CONTROL_PLANE_INDEPENDENT),
            demand=bool(sta_flags & _DEMAND),
            multipoint=bool(sta_flags & _MULTIPOINT),
            authentication=authentication,
            version=version,
        )


def check_reception_rules(packet: ControlPacket) -> None:
    """The header-only discard rules of RFC 5880 section 6.8.6, in the RFC's order. Raises :class:`DecodeError`.

    The rules that need a session (Your Discriminator naming one of ours, the A bit against the session's
    authentication, AdminDown) are the session table's and the session's.
    """
    if packet.detect_mult == 0:  # "If the Detect Mult field is zero, the packet MUST be discarded."
        raise DecodeError(DropReason.ZERO_DETECT_MULT, "Detect Mult is 0")
    if packet.multipoint:  # "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
        raise DecodeError(DropReason.MULTIPOINT, "the Multipoint bit is set")
    if packet.my_discriminator == 0:  # "If the My Discriminator field is zero, the packet MUST be discarded."
        raise DecodeError(DropReason.ZERO_MY_DISCRIMINATOR, "My Discriminator is 0")
    # "If the Your Discriminator field is zero and the State field is not Down or AdminDown, the packet MUST be
    # discarded."
    if packet.your_discriminator == 0 and packet.state not in (State.DOWN, State.ADMIN_DOWN):
        raise DecodeError(DropReason.ZERO_YOUR_DISCRIMINATOR, f"Your Discriminator is 0 in state {packet.state.name}")


__all__ = [
    "MANDATORY_LENGTH",
    "MAX_U32",
    "VERSION",
    "AuthType",
    "Authentication",
    "ControlPacket",
    "Diagnostic",
    "State",
    "check_reception_rules",
    "diagnostic_name",
]
