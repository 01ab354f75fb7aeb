"""Membership: which speakers are alive, decided among the speakers over authenticated UDP, without the API server.

The sans-IO protocol lives in :mod:`speaker.membership.core` (codec, replay guard, member table, the
:class:`Membership` object); :mod:`speaker.membership.udp` runs it on an asyncio UDP socket;
:mod:`speaker.membership.metrics` exports it to Prometheus. README.md in this folder describes the behaviour
under failures and partitions. Only the names below are the public API.
"""

from __future__ import annotations

from speaker.membership.core.codec import Address, MemberState
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.errors import DecodeError, DropReason, MembershipError
from speaker.membership.core.events import (
    LIVE_SET_EVENTS,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberMetadataChanged,
    MembershipEvent,
    MemberSuspected,
    PacketDropped,
)
from speaker.membership.core.protocol import Membership, RunState
from speaker.membership.core.view import MemberInfo, MembershipView

__all__ = [
    # the protocol object and its settings
    "Membership",
    "MembershipConfig",
    "RunState",
    "Address",
    "MemberState",
    # what it reports
    "MembershipEvent",
    "MemberJoined",
    "MemberFailed",
    "MemberLeft",
    "MemberMetadataChanged",
    "MemberSuspected",
    "MemberAlive",
    "PacketDropped",
    "LIVE_SET_EVENTS",
    # the snapshot both liveness sources produce
    "MembershipView",
    "MemberInfo",
    # errors
    "MembershipError",
    "DecodeError",
    "DropReason",
]
