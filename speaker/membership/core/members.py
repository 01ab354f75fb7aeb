"""The member table: one record per known node, the SWIM merge rules, and the probing ring.

Theory of operation
-------------------
Each record holds what this node believes about one other node: its address, metadata, *version* and state.
A version is the pair ``(epoch, incarnation)`` compared lexicographically. The epoch is the member's boot id
(it grows when the process restarts), the incarnation a counter only the member itself increments, to refute a
suspicion or failure claim about it or to publish new metadata (SWIM, Das et al. 2002, section 4.2; memberlist
does the same). So a newer version always comes from the member, and claims can be ordered without clocks.

Merge rules for an update ``U`` about member ``X`` with record ``R`` (the SWIM rules, with LEFT as a
final form of FAILED that the member claims about itself):

    U.state   applies when                         effect
    ALIVE     U.version >  R.version               R := alive at U.version (address, metadata from U);
                                                   if R was FAILED/LEFT: MemberJoined; if SUSPECT: MemberAlive
    FAILED    U.version >= R.version, R alive      R := failed; MemberFailed(by, after)
    LEFT      U.version >= R.version, R not LEFT   R := left; MemberLeft if R was alive
    SUSPECT   never, for third parties             only the subject acts on it (refutes); see below

"Failed beats alive at the same version" is what forces a wrongly accused member to answer with a higher
incarnation, and makes every node converge on the same state whatever order claims arrive in. Suspicion is kept
local to the detector (it confirms with probes before it declares a failure), so a gossiped SUSPECT about a third
party changes nothing here; the subject itself refutes it (protocol.py).

Updates about the local node never change the table; :meth:`MemberTable.apply` reports ``refute`` instead and
the protocol bumps its incarnation (SWIM section 4.2: "when a member learns it is suspected ... it increments
its incarnation number and disseminates an Alive message").

The ring (for choosing whom to probe) orders the live members and the local node by SHA-256 of the name, so every
node computes the same ring from the same live set, and neighbours are spread independently of naming.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from speaker.membership.core.codec import Address, MemberState, MemberUpdate
from speaker.membership.core.events import (
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberMetadataChanged,
    MembershipEvent,
)

LIVE = (MemberState.ALIVE, MemberState.SUSPECT)
GONE = (MemberState.FAILED, MemberState.LEFT)


@dataclass(slots=True)
class Member:
    """What this node believes about one other node. Times are on the core's ``now`` clock."""

    name: str
    address: Address | None
    epoch: int
    incarnation: int
    state: MemberState
    metadata: bytes = b""
    since: float = 0.0  # when ``state`` last changed
    last_heard: float = 0.0  # last authenticated datagram from it (or an ack forwarded on its behalf)
    detected_by: str = ""
    after_ms: int = 0

    @property
    def version(self) -> tuple[int, int]:
        return (self.epoch, self.incarnation)

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def as_update(self) -> MemberUpdate:
        """This record as a claim to pass on (local suspicion is passed on as ALIVE: it is not a verdict)."""
        state = MemberState.ALIVE if self.state == MemberState.SUSPECT else self.state
        return MemberUpdate(
            state, self.name, self.epoch, self.incarnation, self.address, self.metadata, self.detected_by, self.after_ms
        )


@dataclass(slots=True)
class Applied:
    """The outcome of merging one update: events for the consumer, whether to pass it on, whether to refute."""

    events: list[MembershipEvent] = field(default_factory=list)
    changed: bool = False
    refute_above: int | None = None  # the local node must move its incarnation above this


def ring_key(name: str) -> bytes:
    return hashlib.sha256(name.encode("utf-8")).digest()


class MemberTable:
    """Records of every known node except the local one; applies updates; computes the probing ring."""

    def __init__(self, local: str) -> None:
        self.local = local
        self._members: dict[str, Member] = {}
        self._ring: list[str] | None = None
        #: Incremented whenever the live set changes, so callers can cache derived data.
        self.generation = 0

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, name: str) -> Member | None:
        return self._members.get(name)

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def live(self) -> list[Member]:
        return [m for m in self._members.values() if m.live]

    def in_state(self, *states: MemberState) -> list[Member]:
        return sorted((m for m in self._members.values() if m.state in states), key=lambda m: m.name)

    def ring(self) -> list[str]:
        """Live members and the local node, ordered by the SHA-256 of their names."""
        if self._ring is None:
            names = [m.name for m in self._members.values() if m.live] + [self.local]
            self._ring = sorted(names, key=ring_key)
        return self._ring

    def successors(self, count: int) -> list[str]:
        """The ``count`` members following the local node on the ring (fewer when the cluster is smaller)."""
        ring = self.ring()
        at = ring.index(self.local)
        return [ring[(at + i) % len(ring)] for i in range(1, min(count, len(ring) - 1) + 1)]

    # -- changing -----------------------------------------------------------------------------------------------
    def _live_set_changed(self) -> None:
        self._ring = None
        self.generation += 1

    def set_state(self, member: Member, state: MemberState, now: float) -> None:
        """Move a record to ``state`` (local decisions: suspect, clear, declare failed)."""
        was_live = member.live
        member.state = state
        member.since = now
        if was_live != member.live:
            self._live_set_changed()

    def forget(self, name: str) -> None:
        member = self._members.pop(name, None)
        if member is not None and member.live:
            self._live_set_changed()

    def apply(self, update: MemberUpdate, local_version: tuple[int, int], now: float) -> Applied:
        """Merge one claim (the rules in the module docstring). ``local_version`` is the local node's version."""
        if update.name == self.local:
            return self._about_local(update, local_version)
        record = self._members.get(update.name)
        if record is None:
            return self._first_contact(update, now)
        if update.version < record.version:
            return Applied()
        match update.state:
            case MemberState.ALIVE:
                return self._alive(record, update, now)
            case MemberState.FAILED:
                if not record.live:
                    return self._newer_version_only(record, update)
                record.epoch, record.incarnation = update.version
                record.detected_by, record.after_ms = update.by, update.after_ms
                self.set_state(record, MemberState.FAILED, now)
                return Applied([MemberFailed(record.name, update.by, update.after_ms / 1000.0)], changed=True)
            case MemberState.LEFT:
                if record.state == MemberState.LEFT:
                    return self._newer_version_only(record, update)
                was_live = record.live
                record.epoch, record.incarnation = update.version
                self.set_state(record, MemberState.LEFT, now)
                return Applied([MemberLeft(record.name)] if was_live else [], changed=True)
            case MemberState.SUSPECT:
                return Applied()

    @staticmethod
    def _newer_version_only(record: Member, update: MemberUpdate) -> Applied:
        if update.version > record.version:
            record.epoch, record.incarnation = update.version
        return Applied()

    @staticmethod
    def _about_local(update: MemberUpdate, local_version: tuple[int, int]) -> Applied:
        epoch, incarnation = local_version
        if update.epoch != epoch:
            return Applied()  # a claim about a previous (or a foreign) life of this name: not ours to refute
        if update.state == MemberState.ALIVE:
            accused = update.incarnation > incarnation  # someone believes in a newer us: outbid it
        else:
            accused = update.incarnation >= incarnation
        return Applied(refute_above=update.incarnation if accused else None)

    def _first_contact(self, update: MemberUpdate, now: float) -> Applied:
        if update.address is None:
            return Applied()  # a member we could never probe: wait for a full update
        state = MemberState.ALIVE if update.state in LIVE else update.state
        record = Member(
            update.name,
            update.address,
            update.epoch,
            update.incarnation,
            state,
            update.metadata if state == MemberState.ALIVE else b"",
            since=now,
            last_heard=now,
            detected_by=update.by,
            after_ms=update.after_ms,
        )
        self._members[update.name] = record
        if record.live:
            self._live_set_changed()
            return Applied([MemberJoined(record.name, record.address, record.metadata)], changed=True)
        return Applied(changed=True)

    def _alive(self, record: Member, update: MemberUpdate, now: float) -> Applied:
        if update.version <= record.version:
            return Applied()
        was = record.state
        moved = update.address is not None and update.address != record.address
        metadata_changed = update.metadata != record.metadata
        record.epoch, record.incarnation = update.version
        if update.address is not None:
            record.address = update.address
        record.metadata = update.metadata
        version = record.version
        events: list[MembershipEvent] = []
        if was in GONE or moved:
            if was in GONE:
                record.last_heard = now
                self.set_state(record, MemberState.ALIVE, now)
            events.append(MemberJoined(record.name, record.address, record.metadata))
            if was == MemberState.SUSPECT:
                self.set_state(record, MemberState.ALIVE, now)
                events.append(MemberAlive(record.name, refuted=True))
            return Applied(events, changed=True)
        if was == MemberState.SUSPECT:
            self.set_state(record, MemberState.ALIVE, now)
            record.last_heard = now
            events.append(MemberAlive(record.name, refuted=True))
        if metadata_changed:
            events.append(MemberMetadataChanged(record.name, record.metadata, version))
        return Applied(events, changed=True)


__all__ = ["GONE", "LIVE", "Applied", "Member", "MemberTable", "ring_key"]
