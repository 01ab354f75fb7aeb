"""Piggyback queue: recent member updates that ride along on every outgoing datagram (SWIM dissemination).

Theory of operation
-------------------
Events (a join, a failure, a leave, new metadata) are first sent directly to every member: one datagram each,
O(N) per event, and normally that is all it takes. Datagrams get lost, though, so every node that learns of a
change also queues the update here and attaches it to the pings, acks and other messages it sends anyway, up to
``transmits`` times (``retransmit_mult * ceil(log2(N + 1))``, as SWIM's infection-style dissemination and
memberlist's ``RetransmitMult`` do). With every node probing k ring neighbours each interval, an update reaches
every node within a few intervals even if the direct send was lost.

One entry per member name: a newer update about the same member replaces the older one (it supersedes it by the
merge rules). :meth:`GossipQueue.take` fills the room left in a datagram, freshest entries (most transmissions
left) first, so new news travels before old news.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.membership.core.codec import MemberUpdate, encode_update


@dataclass(slots=True)
class _Entry:
    update: MemberUpdate
    wire: bytes
    left: int  # transmissions still owed
    order: int  # insertion order, to break ties deterministically


class GossipQueue:
    """Updates owed to the cluster, each with a transmission budget."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._counter = 0

    def enqueue(self, update: MemberUpdate, transmits: int) -> None:
        """Queue ``update`` (replacing any pending update about the same member) for ``transmits`` sends."""
        self._counter += 1
        self._entries[update.name] = _Entry(update, encode_update(update), transmits, self._counter)

    def take(self, budget: int, *, skip: frozenset[str] = frozenset()) -> list[MemberUpdate]:
        """Updates that fit in ``budget`` bytes, freshest first; each one taken costs one transmission.

        Args:
            budget: room left in the datagram, in bytes (the 2-byte count is the caller's).
            skip: member names not to include (already carried by the message for another reason).
        """
        taken: list[MemberUpdate] = []
        for entry in sorted(self._entries.values(), key=lambda e: (-e.left, e.order)):
            if entry.update.name in skip or len(entry.wire) > budget:
                continue
            budget -= len(entry.wire)
            taken.append(entry.update)
            entry.left -= 1
            if entry.left <= 0:
                del self._entries[entry.update.name]
        return taken

    def discard(self, name: str) -> None:
        self._entries.pop(name, None)

    def pending(self) -> list[MemberUpdate]:
        return [e.update for e in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["GossipQueue"]
