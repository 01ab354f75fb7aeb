"""The membership protocol's one error type and the named reasons for every dropped datagram.

Theory of operation
-------------------
Two kinds of trouble reach the membership core, and they end differently (style anchors 6 and 7):

* **The peer misbehaved** (or is not a peer at all): a datagram that is truncated, has the wrong magic or
  version, fails the HMAC, replays an old sequence number, or names an unknown message type. The codec raises
  :class:`DecodeError` carrying a :class:`DropReason`; the protocol object is the single place that catches it,
  counts it and turns it into a :class:`~speaker.membership.core.events.PacketDropped` event. Nothing escapes
  ``receive_datagram``: an adapter never sees a parser exception, and a daemon never crashes on bad input.
* **We misused the API** (metadata larger than the limit, an empty key list, a node name that cannot be encoded):
  the command raises :class:`MembershipError` at once, with a sentence naming the field and the fix.

Every drop has a name, so the metric ``ironlb_membership_dropped_total{reason}`` and the log line ``reason=`` say
*why* a packet was ignored, and tests assert the reason rather than "nothing happened".
"""

from __future__ import annotations

import enum


class DropReason(enum.StrEnum):
    """Why a received datagram was ignored. The value is the metric label."""

    #: Shorter than the fixed header and trailer, or a length field points past the end.
    TRUNCATED = "truncated"
    #: Does not start with our magic bytes: not a membership datagram at all (or a different protocol on the port).
    BAD_MAGIC = "bad_magic"
    #: A protocol version this build does not speak (a newer or older speaker during an upgrade).
    BAD_VERSION = "bad_version"
    #: The HMAC-SHA256 trailer matches none of the accepted keys: forged, corrupted, or a key mismatch.
    UNAUTHENTICATED = "unauthenticated"
    #: Authenticated, but the body does not parse (bad UTF-8, bad address family, trailing bytes ...).
    MALFORMED = "malformed"
    #: Authenticated, but a message type this build does not know.
    UNKNOWN_TYPE = "unknown_type"
    #: The exact (sender, epoch, sequence) was already accepted: a duplicate or a replay.
    REPLAYED = "replayed"
    #: The sequence number is older than the reordering window allows.
    STALE_SEQUENCE = "stale_sequence"
    #: The sender's boot epoch is older than one we already accepted from that name: a replay from a past life.
    STALE_EPOCH = "stale_epoch"
    #: The datagram claims to come from this node (a loop, or another node configured with our name).
    FROM_SELF = "from_self"
    #: A probe addressed to a different node name (an address now used by another node).
    WRONG_TARGET = "wrong_target"
    #: This node has left (or is leaving) the cluster and answers nothing.
    NOT_RUNNING = "not_running"


class MembershipError(Exception):
    """The membership protocol's error: local misuse raises it directly; bad datagrams raise :class:`DecodeError`."""


class DecodeError(MembershipError):
    """A received datagram cannot be accepted. ``reason`` is the drop reason it is counted under."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(f"membership datagram dropped ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


__all__ = ["DecodeError", "DropReason", "MembershipError"]
