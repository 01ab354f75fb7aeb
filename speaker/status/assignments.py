"""When to tell a Service it has a new announcing node: the ``nodeAssigned`` Event, once per change (pure).

MetalLB emits ``nodeAssigned`` ("announcing from node \\"X\\" with protocol \\"layer2\\"") on every successful
reconcile, which users see as "x6503 over 5d" (reference/metallb.md section 3). ironlb emits it only when the
announcing node *changes*, and only from the new one:

* while this node keeps announcing a Service, however often it is reconciled, nothing more is emitted;
* when it starts announcing (first time, after a failover, or taking the Service back) the Event is due unless the
  status objects already say this node - and only this node - announces it: that is a speaker restart that
  resumes its own announcement, not a change (the ServiceL2Status objects survive the restart; a SIGKILLed
  owner's object survives its death, but then the new owner's object is there too);
* stopping forgets, so the next start is a change again.

The status objects the caller passes are the ones the informer holds *before* this node writes its own.
"""

from __future__ import annotations

from collections.abc import Collection


class AssignmentEvents:
    """Per protocol: which Services this node announces, and whether starting to announce one is news."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._announcing: set[str] = set()

    def announce(self, key: str, recorded: Collection[str]) -> bool:
        """This node announces Service ``key`` now. True when a ``nodeAssigned`` Event is due.

        Args:
            key: ``namespace/name`` of the Service.
            recorded: the nodes named by the status objects of this Service (for the protocol), as read now.
        """
        if key in self._announcing:
            return False
        self._announcing.add(key)
        return set(recorded) != {self.node}

    def withdraw(self, key: str) -> None:
        """This node stopped announcing ``key``."""
        self._announcing.discard(key)

    def announcing(self) -> frozenset[str]:
        return frozenset(self._announcing)


def node_assigned_message(node: str, protocol: str) -> str:
    """MetalLB's wording, unchanged (users grep for it)."""
    return f'announcing from node "{node}" with protocol "{protocol}"'


__all__ = ["AssignmentEvents", "node_assigned_message"]
