"""Events the membership core reports: changes of the live set, of metadata, and dropped datagrams.

Theory of operation
-------------------
The core returns these from ``receive_datagram`` and ``handle_timer``. They are nouns (h11's style), frozen and
slotted. Only four of them change *who is alive* (and so what the L2 election sees):

    MemberJoined            a member is in the live set (first contact, rejoin after failure or restart)
    MemberFailed            a member left the live set because it stopped answering
    MemberLeft              a member left the live set because it said so (SIGTERM, ``leave()``)
    MemberMetadataChanged   a live member's metadata changed (e.g. which L2 interfaces are up there)

The others are diagnostics and do not change the live set: a suspected member is still alive until it is
declared failed (SWIM), so :class:`MemberSuspected` and :class:`MemberAlive` only explain what the detector is
doing; :class:`PacketDropped` feeds the drop counter. :class:`~speaker.membership.core.view.MembershipView`
folds the first four into the live set, and can produce them from two snapshots, so a different liveness source
(Node conditions, Leases) can drive the same consumers.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.membership.core.codec import Address
from speaker.membership.core.errors import DropReason


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """``name`` is alive: first contact, a rejoin after a failure, or a restart (new epoch)."""

    name: str
    address: Address | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class MemberSuspected:
    """This node stopped hearing from ``name`` and started confirming (direct + indirect probes). Still alive."""

    name: str
    suspected_by: str
    silent_for: float  # seconds without any datagram from the member when the confirmation started


@dataclass(frozen=True, slots=True)
class MemberAlive:
    """A suspicion of ``name`` was cleared: it answered a confirmation probe, or refuted with a new incarnation."""

    name: str
    refuted: bool  # True: the member bumped its incarnation; False: it (or a helper on its behalf) acked


@dataclass(frozen=True, slots=True)
class MemberFailed:
    """``name`` is out of the live set: ``detected_by`` declared it after ``after_seconds`` of silence."""

    name: str
    detected_by: str
    after_seconds: float


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """``name`` is out of the live set because it said it was leaving."""

    name: str


@dataclass(frozen=True, slots=True)
class MemberMetadataChanged:
    """A live member published new metadata; ``version`` is its (epoch, incarnation) at that point."""

    name: str
    metadata: bytes
    version: tuple[int, int]


@dataclass(frozen=True, slots=True)
class PacketDropped:
    """A received datagram was ignored. Counted under ``reason``; ``detail`` is for the debug log."""

    reason: DropReason
    address: Address
    detail: str


MembershipEvent = (
    MemberJoined | MemberSuspected | MemberAlive | MemberFailed | MemberLeft | MemberMetadataChanged | PacketDropped
)

#: The events that change the live set or its metadata (what an election consumer must handle).
LIVE_SET_EVENTS = (MemberJoined, MemberFailed, MemberLeft, MemberMetadataChanged)

__all__ = [
    "LIVE_SET_EVENTS",
    "MemberAlive",
    "MemberFailed",
    "MemberJoined",
    "MemberLeft",
    "MemberMetadataChanged",
    "MemberSuspected",
    "MembershipEvent",
    "PacketDropped",
]
