"""BFD's one error type and the named reason for every control packet we drop.

Theory of operation
-------------------
Two kinds of trouble reach the BFD core, and they end differently (style anchors 6 and 7):

* **The peer misbehaved**, or the datagram is not for us: it is truncated, has a version other than 1, a Length
  that lies, a malformed authentication section, or breaks one of the reception rules of RFC 5880 section 6.8.6
  (Detect Mult 0, the Multipoint bit, My Discriminator 0, ...). The codec and the rule checks raise
  :class:`DecodeError` carrying a :class:`DropReason`; the session (or the session table, for packets that never
  reach a session) is the single place that catches it, counts it and turns it into a
  :class:`~speaker.bfd.core.events.PacketDropped` event. Nothing escapes ``receive``: the adapter never sees a
  parser exception and the speaker never crashes on a packet.
* **We misused the API** (an interval out of range, a discriminator of 0, an unknown session): the call raises
  :class:`BfdError` at once, with a sentence naming the field and the fix.

A packet discarded by the RFC's rules is not an error at all: RFC 5880 says "the packet MUST be discarded",
and the reason says which rule applied, so ``ironlb_bfd_dropped_total{reason}`` and the log line ``reason=`` tell an
operator *why* a router's packets are ignored (most often: a TTL below 255 because the router is not directly
connected, or an authentication section on a session we run without authentication).
"""

from __future__ import annotations

import enum


class DropReason(enum.StrEnum):
    """Why a received BFD control packet was ignored. The value is the metric label."""

    # -- the codec (RFC 5880 section 4.1 and the first rules of section 6.8.6) -----------------------------------
    #: Shorter than the 24-byte mandatory section, or the Length field is greater than the datagram (6.8.6).
    TRUNCATED = "truncated"
    #: The version field is not 1 (6.8.6).
    BAD_VERSION = "bad_version"
    #: The Length field is below the minimum: 24, or 26 with the A bit set (6.8.6).
    BAD_LENGTH = "bad_length"
    #: The A bit is set but the authentication section is malformed: unknown type, wrong Auth Len (4.2-4.4).
    BAD_AUTHENTICATION_SECTION = "bad_authentication_section"
    # -- the header rules of section 6.8.6 ------------------------------------------------------------------------
    #: Detect Mult is zero (6.8.6).
    ZERO_DETECT_MULT = "zero_detect_mult"
    #: The Multipoint (M) bit is set (6.8.6; reserved for point-to-multipoint extensions).
    MULTIPOINT = "multipoint"
    #: My Discriminator is zero (6.8.6).
    ZERO_MY_DISCRIMINATOR = "zero_my_discriminator"
    #: Your Discriminator is zero while the State field is Init or Up (6.8.6).
    ZERO_YOUR_DISCRIMINATOR = "zero_your_discriminator"
    # -- demultiplexing (RFC 5880 section 6.8.6, RFC 5881 sections 3 and 5) ---------------------------------------
    #: Received with an IP TTL / hop limit other than 255 on a single-hop session (RFC 5881 section 5, GTSM).
    BAD_TTL = "bad_ttl"
    #: Your Discriminator is non-zero and names no session of ours (6.8.6).
    UNKNOWN_DISCRIMINATOR = "unknown_discriminator"
    #: Your Discriminator is zero and no session exists for the (source, local) address pair (6.8.6, RFC 5881 3).
    NO_SESSION = "no_session"
    #: Your Discriminator names a session, but the packet came from another peer or arrived on another address.
    ADDRESS_MISMATCH = "address_mismatch"
    # -- the session ----------------------------------------------------------------------------------------------
    #: The A bit is set on a session that runs without authentication (6.8.6).
    AUTHENTICATION_UNEXPECTED = "authentication_unexpected"
    #: The local session is AdminDown: packets update the remote variables and are then discarded (6.8.6).
    ADMIN_DOWN = "admin_down"


class BfdError(Exception):
    """BFD's error: local misuse raises it directly; bad packets raise the :class:`DecodeError` subclass."""


class DecodeError(BfdError):
    """A received control packet cannot be accepted. ``reason`` is the drop reason it is counted under."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(f"BFD control packet dropped ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


__all__ = ["BfdError", "DecodeError", "DropReason"]
