"""``MembershipView``: the live set plus metadata, the one thing an L2 election needs from a liveness source.

Theory of operation
-------------------
The speaker can learn who is alive in two ways: from this package's UDP protocol (fast, no API server in the
path) or, when membership is disabled, from Kubernetes (Node conditions, Leases; slow but always available). The
election must not care which. Both therefore produce the same immutable snapshot, :class:`MembershipView`, and the
same four live-set events, and the view converts between the two forms:

* :meth:`MembershipView.apply` folds one event into a new view (the protocol's events -> a snapshot);
* :meth:`MembershipView.diff` turns two snapshots into the events between them (a Node-condition source that
  can only compute "who is ready now" -> the same events the protocol would emit).

So ``old.apply(e1).apply(e2)... == new`` for ``e1, e2, ... = MembershipView.diff(old, new)``; the tests check
that with hypothesis. Views are plain data: equal when they hold the same members, metadata and addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from speaker.membership.core.codec import Address
from speaker.membership.core.events import (
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberMetadataChanged,
    MembershipEvent,
)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One live member as the election sees it."""

    name: str
    address: Address | None = None
    metadata: bytes = b""


def _freeze(members: Iterable[MemberInfo]) -> Mapping[str, MemberInfo]:
    return MappingProxyType({m.name: m for m in sorted(members, key=lambda m: m.name)})


@dataclass(frozen=True, slots=True)
class MembershipView:
    """The live members (the local node included), by name. Immutable; build with :meth:`of`."""

    local: str
    members: Mapping[str, MemberInfo] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, local: str, members: Iterable[MemberInfo]) -> MembershipView:
        return cls(local, _freeze(members))

    # -- reading ------------------------------------------------------------------------------------------------
    def alive(self) -> frozenset[str]:
        """Names of every live member, the local node included."""
        return frozenset(self.members)

    def metadata(self, name: str) -> bytes | None:
        """The metadata ``name`` published, or ``None`` when it is not alive."""
        info = self.members.get(name)
        return info.metadata if info else None

    def __contains__(self, name: object) -> bool:
        return name in self.members

    def __iter__(self) -> Iterator[MemberInfo]:
        return iter(self.members.values())

    def __len__(self) -> int:
        return len(self.members)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MembershipView):
            return NotImplemented
        return self.local == other.local and dict(self.members) == dict(other.members)

    def __hash__(self) -> int:
        return hash((self.local, frozenset(self.members.items())))

    # -- converting between snapshots and events ---------------------------------------------------------------
    def apply(self, event: MembershipEvent) -> MembershipView:
        """The view after ``event``. Events that do not change the live set return ``self``."""
        members = dict(self.members)
        match event:
            case MemberJoined(name, address, metadata):
                members[name] = MemberInfo(name, address, metadata)
            case MemberFailed(name) | MemberLeft(name):
                if name == self.local:
                    return self
                members.pop(name, None)
            case MemberMetadataChanged(name, metadata):
                info = members.get(name)
                if info is None:
                    return self
                members[name] = MemberInfo(name, info.address, metadata)
            case _:
                return self
        return MembershipView.of(self.local, members.values())

    @staticmethod
    def diff(
        old: MembershipView,
        new: MembershipView,
        *,
        gone: Literal["failed", "left"] = "failed",
        detected_by: str = "",
    ) -> list[MembershipEvent]:
        """The live-set events that turn ``old`` into ``new``, in name order.

        Args:
            old: the previous snapshot.
            new: the current snapshot.
            gone: whether a member missing from ``new`` is reported as :class:`MemberFailed` (e.g. its Node went
                NotReady) or :class:`MemberLeft` (e.g. its Node was cordoned or deleted).
            detected_by: the ``detected_by`` of those failures (the source's name, e.g. ``"node-conditions"``).
        Returns:
            Events such that applying them to ``old`` in order gives ``new``.
        """
        events: list[MembershipEvent] = []
        for name in sorted(old.members.keys() | new.members.keys()):
            before, after = old.members.get(name), new.members.get(name)
            if before is None and after is not None:
                events.append(MemberJoined(name, after.address, after.metadata))
            elif before is not None and after is None:
                events.append(MemberFailed(name, detected_by, 0.0) if gone == "failed" else MemberLeft(name))
            elif before is not None and after is not None and before != after:
                if before.address != after.address:  # a moved member: report it as a fresh join
                    events.append(MemberJoined(name, after.address, after.metadata))
                else:
                    events.append(MemberMetadataChanged(name, after.metadata, (0, 0)))
        return events


__all__ = ["MemberInfo", "MembershipView"]
