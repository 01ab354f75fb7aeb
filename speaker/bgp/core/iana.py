"""BGP code points, as IANA registers them: one ``IntEnum`` per registry, nothing else.

Theory of operation
-------------------
Every number that appears on the wire is named here, once, so that the codec (``messages``, ``attributes``,
``capabilities``), the error mapping (``errors``) and the state machine (``fsm``) never spell a bare integer.
Registries are IANA's "Border Gateway Protocol (BGP) Parameters" and "Address Family Numbers"; each enum cites
the RFC that defines its values. Values we decode but do not understand (an unknown capability, an unknown AFI)
stay plain ``int`` in the decoded objects: converting them to an enum would raise on the first router that is
newer than this file.
"""

from __future__ import annotations

import enum

#: RFC 4271 section 4.1: every message starts with 16 octets of ones, a 2-octet length and a 1-octet type.
MARKER = b"\xff" * 16
HEADER_LEN = 19
#: RFC 4271 section 4: "The maximum message size is 4096 octets". RFC 8654 (extended messages) is not negotiated.
MAX_MESSAGE_LEN = 4096
#: RFC 4271 section 4.2: the only version there is.
BGP_VERSION = 4
BGP_PORT = 179
#: RFC 6793 section 9: the 2-octet stand-in for a 4-octet AS number.
AS_TRANS = 23456
#: RFC 4271 section 4.2 / 10: a Hold Time of 1 or 2 seconds is unacceptable; 0 means "no keepalives".
MIN_HOLD_TIME = 3
#: RFC 4271 section 10: suggested initial Hold Time while waiting for the peer's OPEN ("4 minutes").
LARGE_HOLD_TIME = 240.0
#: RFC 4724 section 3: Restart Time is a 12-bit number of seconds.
MAX_RESTART_TIME = 4095
#: RFC 9003 section 2: a shutdown communication is at most 255 octets of UTF-8.
MAX_SHUTDOWN_MESSAGE_LEN = 255


class MessageType(enum.IntEnum):
    """RFC 4271 section 4.1; ROUTE-REFRESH is RFC 2918 section 3."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class OptionalParameter(enum.IntEnum):
    """RFC 5492 section 4 (type 1, authentication, is deprecated); 255 is RFC 9072's extended-length marker."""

    CAPABILITIES = 2
    EXTENDED_LENGTH = 255


class CapabilityCode(enum.IntEnum):
    MULTIPROTOCOL = 1  # RFC 4760 section 8
    ROUTE_REFRESH = 2  # RFC 2918 section 2
    EXTENDED_NEXT_HOP = 5  # RFC 8950 section 3
    EXTENDED_MESSAGE = 6  # RFC 8654
    GRACEFUL_RESTART = 64  # RFC 4724 section 3
    FOUR_OCTET_AS = 65  # RFC 6793 section 3
    ADD_PATH = 69  # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494
    FQDN = 73  # draft-walton-bgp-hostname-capability
    ROUTE_REFRESH_CISCO = 128  # pre-standard route refresh, still sent by some routers


class Afi(enum.IntEnum):
    """IANA Address Family Numbers."""

    IPV4 = 1
    IPV6 = 2


class Safi(enum.IntEnum):
    """RFC 4760 section 6 (SAFI values)."""

    UNICAST = 1


class AttrFlag(enum.IntFlag):
    """RFC 4271 section 4.3: the high-order bits of the Attribute Flags octet."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class AttrType(enum.IntEnum):
    ORIGIN = 1  # RFC 4271 section 5.1.1
    AS_PATH = 2  # RFC 4271 section 5.1.2
    NEXT_HOP = 3  # RFC 4271 section 5.1.3
    MULTI_EXIT_DISC = 4  # RFC 4271 section 5.1.4
    LOCAL_PREF = 5  # RFC 4271 section 5.1.5
    ATOMIC_AGGREGATE = 6  # RFC 4271 section 5.1.6
    AGGREGATOR = 7  # RFC 4271 section 5.1.7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760 section 3
    MP_UNREACH_NLRI = 15  # RFC 4760 section 4
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17  # RFC 6793 section 3
    AS4_AGGREGATOR = 18  # RFC 6793 section 3
    LARGE_COMMUNITIES = 32  # RFC 8092


class Origin(enum.IntEnum):
    """RFC 4271 section 4.3, ORIGIN values."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class AsPathSegmentType(enum.IntEnum):
    """RFC 4271 section 4.3 (AS_SET, AS_SEQUENCE) and RFC 5065 section 3 (confederations)."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


class WellKnownCommunity(enum.IntEnum):
    """Well-known standard communities (IANA "BGP Well-known Communities")."""

    GRACEFUL_SHUTDOWN = 0xFFFF0000  # RFC 8326 section 4.1, 65535:0
    NO_EXPORT = 0xFFFFFF01  # RFC 1997
    NO_ADVERTISE = 0xFFFFFF02  # RFC 1997


# ------------------------------------------------------------------------------------------------
# NOTIFICATION codes and subcodes
# ------------------------------------------------------------------------------------------------
class ErrorCode(enum.IntEnum):
    """RFC 4271 section 4.5; ROUTE-REFRESH errors are RFC 7313 section 5."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSubcode(enum.IntEnum):
    """RFC 4271 section 6.1."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(enum.IntEnum):
    """RFC 4271 section 6.2, RFC 5492 section 5 (Unsupported Capability)."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(enum.IntEnum):
    """RFC 4271 section 6.3."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN = 6
    INVALID_NEXT_HOP = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(enum.IntEnum):
    """RFC 6608 section 3: which state received the unexpected message."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPEN_SENT = 1
    UNEXPECTED_IN_OPEN_CONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(enum.IntEnum):
    """RFC 4486 section 4; 9 is RFC 8538 (Hard Reset), 10 is RFC 9384 (BFD Down)."""

    UNSPECIFIC = 0
    MAX_PREFIXES = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


#: (AFI, SAFI) pairs this speaker advertises, in the order it lists them in OPEN.
IPV4_UNICAST: tuple[int, int] = (Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST: tuple[int, int] = (Afi.IPV6, Safi.UNICAST)


def error_name(code: int, subcode: int) -> str:
    """A human name for a NOTIFICATION (code, subcode), for logs: ``"Cease / Administrative Shutdown"``."""
    try:
        major = ErrorCode(code)
    except ValueError:
        return f"unknown error code {code} / subcode {subcode}"
    subcodes: dict[ErrorCode, type[enum.IntEnum]] = {
        ErrorCode.MESSAGE_HEADER: HeaderSubcode,
        ErrorCode.OPEN_MESSAGE: OpenSubcode,
        ErrorCode.UPDATE_MESSAGE: UpdateSubcode,
        ErrorCode.FSM: FsmSubcode,
        ErrorCode.CEASE: CeaseSubcode,
    }
    major_text = _words(major.name)
    table = subcodes.get(major)
    if table is None:
        return major_text if subcode == 0 else f"{major_text} / subcode {subcode}"
    try:
        minor_text = _words(table(subcode).name)
    except ValueError:
        minor_text = f"subcode {subcode}"
    return f"{major_text} / {minor_text}"


_ACRONYMS = {"Bfd": "BFD", "Fsm": "FSM", "As": "AS", "Bgp": "BGP", "Open": "OPEN", "Update": "UPDATE"}


def _words(name: str) -> str:
    return " ".join(_ACRONYMS.get(w, w) for w in name.replace("_", " ").title().split())


__all__ = [
    "AS_TRANS",
    "BGP_PORT",
    "BGP_VERSION",
    "HEADER_LEN",
    "IPV4_UNICAST",
    "IPV6_UNICAST",
    "LARGE_HOLD_TIME",
    "MARKER",
    "MAX_MESSAGE_LEN",
    "MAX_RESTART_TIME",
    "MAX_SHUTDOWN_MESSAGE_LEN",
    "MIN_HOLD_TIME",
    "Afi",
    "AsPathSegmentType",
    "AttrFlag",
    "AttrType",
    "CapabilityCode",
    "CeaseSubcode",
    "ErrorCode",
    "FsmSubcode",
    "HeaderSubcode",
    "MessageType",
    "OpenSubcode",
    "OptionalParameter",
    "Origin",
    "Safi",
    "UpdateSubcode",
    "WellKnownCommunity",
    "error_name",
]
