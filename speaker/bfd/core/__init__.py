"""BFD (RFC 5880 asynchronous mode, RFC 5881 single hop) as a sans-IO core: codec, session, session table."""

from speaker.bfd.core.errors import BfdError, DecodeError, DropReason
from speaker.bfd.core.events import Event, PacketDropped, SessionSnapshot, StateChanged
from speaker.bfd.core.packet import (
    Authentication,
    AuthType,
    ControlPacket,
    Diagnostic,
    State,
    check_reception_rules,
    diagnostic_name,
)
from speaker.bfd.core.session import DETECTION_TRANSITIONS, RECEIVE_TRANSITIONS, SLOW_TX_INTERVAL_US, Session
from speaker.bfd.core.table import REQUIRED_TTL, Delivery, Entry, SessionTable

__all__ = [
    # codec
    "AuthType",
    "Authentication",
    "ControlPacket",
    "Diagnostic",
    "State",
    "check_reception_rules",
    "diagnostic_name",
    # errors
    "BfdError",
    "DecodeError",
    "DropReason",
    # session
    "DETECTION_TRANSITIONS",
    "RECEIVE_TRANSITIONS",
    "SLOW_TX_INTERVAL_US",
    "Event",
    "PacketDropped",
    "Session",
    "SessionSnapshot",
    "StateChanged",
    # table
    "REQUIRED_TTL",
    "Delivery",
    "Entry",
    "SessionTable",
]
