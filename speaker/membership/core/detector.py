"""The failure detector: whom this node probes, when it suspects, how it confirms, and helping others confirm.

Theory of operation
-------------------
This is the part of the protocol that turns silence into a verdict (protocol.py has the whole timing model):

1. **Watch** the ``probe_fanout`` ring successors (:meth:`FailureDetector.refresh`, on every change of the live
   set). A member new to our watch is pinged at once and given two probe intervals, not the full
   ``suspect_after``, so that when a neighbour dies its own successor is not left unwatched for long.
2. **Probe** each watched member every ``probe_interval``. Any authenticated datagram from it counts as heard.
3. **Suspect** a watched member silent for ``suspect_after``: it stays in the live set (MemberSuspected).
4. **Confirm**: ping it with a SUSPECT notice (a live member refutes it, SWIM section 4.2), and send a PING-REQ to
   ``indirect_probes`` healthy members (SWIM section 4.1's indirect probe). A helper pings the suspect and
   forwards its ACK, or answers NACK after ``indirect_timeout`` (Lifeguard section 4.3).
5. **Decide** at ``confirm_timeout``: any answer cleared it already (MemberAlive). Otherwise the member is declared
   failed if a helper NACKed (the helper reached us but not the suspect), or no healthy helper was left to ask,
   or ``confirm_rounds`` rounds are spent. A round in which healthy helpers said nothing at all is repeated: such
   silence suggests that *this* node is the one cut off, and a verdict from a cut-off node is the one to avoid.

The detector owns no sockets and no clock: it is given ``now``, a ``send`` function that queues datagrams, and a
``declare`` function that publishes a verdict (the protocol sends it to every member).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from speaker.membership.core.codec import Ack, Address, Body, MemberState, Nack, Ping, PingReq
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.events import MemberAlive, MembershipEvent, MemberSuspected
from speaker.membership.core.members import Member, MemberTable

MAX_RELAYS = 256  # outstanding indirect probes we run for others; more requests are ignored

Send = Callable[[Body, Address], None]
Declare = Callable[[Member, float, list[MembershipEvent]], None]


@dataclass(slots=True)
class _Confirmation:
    """A suspicion being confirmed by this node."""

    target: str
    deadline: float
    round: int = 1
    probe_ids: set[int] = field(default_factory=set)
    helpers: list[str] = field(default_factory=list)
    nacks: int = 0


@dataclass(slots=True)
class _Relay:
    """An indirect probe this node runs on behalf of a requester."""

    requester_address: Address
    requester_probe: int
    target: str
    deadline: float


class FailureDetector:
    """Probing, suspicion and confirmation for one node (see the module docstring)."""

    def __init__(
        self,
        *,
        local: str,
        config: MembershipConfig,
        table: MemberTable,
        rng: random.Random,
        send: Send,
        declare: Declare,
    ) -> None:
        self.local = local
        self.config = config
        self._table = table
        self._rng = rng
        self._send = send
        self._declare = declare
        self._probe_counter = 0
        self.next_probe = 0.0
        self.monitored: dict[str, float] = {}  # watched ring successors -> when we started watching them
        self._generation = -1
        self.confirming: dict[str, _Confirmation] = {}
        self._relays: dict[int, _Relay] = {}

    def next_probe_id(self) -> int:
        self._probe_counter = (self._probe_counter + 1) & 0xFFFF_FFFF
        return self._probe_counter

    def grace_start(self, now: float) -> float:
        """A silence clock started here runs out two probe intervals from ``now`` (or after suspect_after)."""
        return now - max(0.0, self.config.suspect_after - 2 * self.config.probe_interval)

    # -- watching -------------------------------------------------------------------------------------------------
    def refresh(self, now: float) -> None:
        """Follow changes of the ring: watch the current successors, ping new ones at once."""
        if self._generation == self._table.generation:
            return
        self._generation = self._table.generation
        successors = self._table.successors(self.config.probe_fanout)
        previous, self.monitored = self.monitored, {}
        for name in successors:
            self.monitored[name] = previous.get(name, self.grace_start(now))
            member = self._table.get(name)
            if name not in previous and member is not None and member.address is not None:
                self._send(Ping(self.next_probe_id(), name), member.address)

    def tick(self, now: float, events: list[MembershipEvent]) -> None:
        """Everything due at ``now``: the probe round, silences, confirmation verdicts, relays for others."""
        if now >= self.next_probe:
            interval = self.config.probe_interval
            self.next_probe = self.next_probe + interval if self.next_probe + interval > now else now + interval
            for name in self.monitored:
                member = self._table.get(name)
                if member is not None and member.address is not None:
                    self._send(Ping(self.next_probe_id(), name), member.address)
        for name, since in list(self.monitored.items()):
            member = self._table.get(name)
            if member is None or member.state != MemberState.ALIVE or name in self.confirming:
                continue
            if now >= max(member.last_heard, since) + self.config.suspect_after:
                self.suspect(member, now, events)
        self._conclude(now, events)
        for probe_id, relay in list(self._relays.items()):
            if now >= relay.deadline:
                del self._relays[probe_id]
                self._send(Nack(relay.requester_probe, relay.target), relay.requester_address)

    def deadlines(self) -> Iterator[float]:
        yield self.next_probe
        for name, since in self.monitored.items():
            member = self._table.get(name)
            if member is not None and member.state == MemberState.ALIVE and name not in self.confirming:
                yield max(member.last_heard, since) + self.config.suspect_after
        yield from (c.deadline for c in self.confirming.values())
        yield from (r.deadline for r in self._relays.values())

    def shift(self, gap: float, floor: float) -> None:
        """This node stalled: move every silence clock forward by ``gap``, and at least to ``floor``."""
        for name in self.monitored:
            self.monitored[name] = max(self.monitored[name] + gap, floor)
        for confirmation in self.confirming.values():
            confirmation.deadline += gap
        for relay in self._relays.values():
            relay.deadline += gap

    # -- suspicion and confirmation -------------------------------------------------------------------------------
    def suspect(self, member: Member, now: float, events: list[MembershipEvent]) -> None:
        """Start confirming that ``member`` is dead; it stays in the live set until the confirmation fails."""
        self._table.set_state(member, MemberState.SUSPECT, now)
        events.append(MemberSuspected(member.name, self.local, now - member.last_heard))
        confirmation = _Confirmation(member.name, now + self.config.confirm_timeout)
        self.confirming[member.name] = confirmation
        self._probe_round(confirmation, member)

    def clear(self, member: Member, now: float, events: list[MembershipEvent]) -> None:
        """A suspect answered (directly or through a helper): it is plainly alive again."""
        self._table.set_state(member, MemberState.ALIVE, now)
        self.confirming.pop(member.name, None)
        events.append(MemberAlive(member.name, refuted=False))

    def settle(self, name: str) -> None:
        """The table moved ``name`` out of SUSPECT on its own (refutation, failure claim): stop confirming it."""
        member = self._table.get(name)
        if name in self.confirming and (member is None or member.state != MemberState.SUSPECT):
            del self.confirming[name]

    def _probe_round(self, confirmation: _Confirmation, member: Member) -> None:
        if member.address is None:
            return
        probe_id = self.next_probe_id()
        confirmation.probe_ids.add(probe_id)
        notice = replace(member.as_update(), state=MemberState.SUSPECT, metadata=b"", by=self.local)
        self._send(Ping(probe_id, member.name, (notice,)), member.address)
        candidates = sorted(m.name for m in self._table.live() if m.state == MemberState.ALIVE)
        confirmation.helpers = self._rng.sample(candidates, min(self.config.indirect_probes, len(candidates)))
        for helper in confirmation.helpers:
            helper_member = self._table.get(helper)
            if helper_member is not None and helper_member.address is not None:
                self._send(PingReq(probe_id, member.name, member.address), helper_member.address)

    def _conclude(self, now: float, events: list[MembershipEvent]) -> None:
        for name, confirmation in list(self.confirming.items()):
            if now < confirmation.deadline:
                continue
            member = self._table.get(name)
            if member is None or member.state != MemberState.SUSPECT:
                del self.confirming[name]
                continue
            healthy = [h for h in confirmation.helpers if (hm := self._table.get(h)) and hm.state == MemberState.ALIVE]
            if confirmation.nacks or not healthy or confirmation.round >= self.config.confirm_rounds:
                del self.confirming[name]
                self._declare(member, now, events)
            else:  # helpers we still trust said nothing at all: perhaps we are the one cut off; try once more
                confirmation.round += 1
                confirmation.nacks = 0
                confirmation.deadline = now + self.config.confirm_timeout
                self._probe_round(confirmation, member)

    # -- answers --------------------------------------------------------------------------------------------------
    def on_ack(self, sender: str, probe_id: int, subject: str, now: float, events: list[MembershipEvent]) -> None:
        relay = self._relays.get(probe_id)
        if relay is not None:
            if relay.target == subject == sender:
                del self._relays[probe_id]
                self._send(Ack(relay.requester_probe, relay.target), relay.requester_address)
            return
        if subject == sender:
            return  # a direct ack: the protocol already counted it as heard
        confirmation = self.confirming.get(subject)
        member = self._table.get(subject)
        if confirmation is not None and probe_id in confirmation.probe_ids and member is not None:
            member.last_heard = now
            self.clear(member, now, events)

    def on_nack(self, probe_id: int, subject: str) -> None:
        confirmation = self.confirming.get(subject)
        if confirmation is not None and probe_id in confirmation.probe_ids:
            confirmation.nacks += 1

    def on_ping_req(self, probe_id: int, target: str, target_address: Address, requester: Address, now: float) -> None:
        if target == self.local:
            self._send(Ack(probe_id, self.local), requester)
            return
        if len(self._relays) >= MAX_RELAYS:
            return
        own_id = self.next_probe_id()
        self._relays[own_id] = _Relay(requester, probe_id, target, now + self.config.indirect_timeout)
        self._send(Ping(own_id, target), target_address)


__all__ = ["MAX_RELAYS", "FailureDetector"]
