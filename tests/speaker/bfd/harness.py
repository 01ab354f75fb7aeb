"""The pair harness (style anchor 12a): two sans-IO BFD sessions wired to each other in memory on a fake clock.

:class:`SessionPair` plays the network and the event loop: it advances a virtual clock to the earliest deadline of
either session, runs ``handle_timer`` exactly at that deadline, and delivers every queued datagram to the other
session at once (zero latency) unless that direction of the wire is cut. Everything that happened is recorded -
each packet with its send time and sender, each event with its time and session - so tests can assert on exact
virtual times. Runs are bounded by virtual time, never by wall-clock time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ironlb.config.model import BFDProfile
from speaker.bfd.core import ControlPacket, Event, PacketDropped, Session, State, StateChanged

FAST = BFDProfile(name="fast", receive_interval_ms=100, transmit_interval_ms=100, detect_multiplier=3)


@dataclass(frozen=True)
class Sent:
    time: float
    sender: str
    packet: ControlPacket
    delivered: bool


@dataclass(frozen=True)
class Seen:
    time: float
    who: str
    event: Event


@dataclass
class SessionPair:
    """Sessions ``a`` and ``b``; ``cut("a")`` silences a's packets towards b (and ``cut("b")`` the reverse)."""

    profile_a: BFDProfile = FAST
    profile_b: BFDProfile = FAST
    seed: int = 0
    start: float = 1000.0
    now: float = field(init=False)
    a: Session = field(init=False)
    b: Session = field(init=False)
    sent: list[Sent] = field(default_factory=list, init=False)
    seen: list[Seen] = field(default_factory=list, init=False)
    silenced: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        rng_a, rng_b = random.Random(self.seed), random.Random(self.seed + 1)
        self.now = self.start
        self.a = Session(self.profile_a, local_discriminator=0x0A0A0A0A, now=self.now, random=rng_a.random)
        self.b = Session(self.profile_b, local_discriminator=0x0B0B0B0B, now=self.now, random=rng_b.random)

    # -- the wire ---------------------------------------------------------------------------------------------------
    def session(self, name: str) -> Session:
        return self.a if name == "a" else self.b

    def cut(self, sender: str) -> None:
        self.silenced.add(sender)

    def mend(self, sender: str) -> None:
        self.silenced.discard(sender)

    def record(self, who: str, events: list[Event]) -> None:
        self.seen.extend(Seen(self.now, who, e) for e in events)

    def deliver(self) -> None:
        """Move queued datagrams until neither side has anything queued (a Poll is answered by a Final at once)."""
        for _ in range(100):
            moved = False
            for sender, receiver in (("a", "b"), ("b", "a")):
                for data in self.session(sender).datagrams_to_send():
                    moved = True
                    delivered = sender not in self.silenced
                    self.sent.append(Sent(self.now, sender, ControlPacket.decode(data), delivered))
                    if delivered:
                        self.record(receiver, self.session(receiver).receive(data, self.now))
            if not moved:
                return
        raise AssertionError("the sessions kept answering each other: a packet storm")

    # -- the clock --------------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    def step(self) -> bool:
        """Advance to the earliest deadline and run what is due there. False when nothing is scheduled."""
        self.deliver()
        deadline = self.next_deadline()
        if deadline is None:
            return False
        self.now = max(self.now, deadline)
        for name in ("a", "b"):
            session = self.session(name)
            due = session.next_deadline()
            if due is not None and due <= self.now:
                self.record(name, session.handle_timer(self.now))
        self.deliver()
        return True

    def run_until(self, until: float) -> None:
        """Run every deadline up to ``until`` (virtual seconds), then set the clock to ``until``."""
        for _ in range(1_000_000):
            deadline = self.next_deadline()
            if deadline is None or deadline > until:
                break
            self.step()
        self.now = max(self.now, until)
        self.deliver()

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until_states(self, a: State, b: State, *, limit: float = 30.0) -> float:
        """Run until a is in state ``a`` and b in ``b``; returns the virtual time. Fails after ``limit`` seconds."""
        give_up = self.now + limit
        while not (self.a.state is a and self.b.state is b):
            if not self.step() or self.now > give_up:
                raise AssertionError(f"not {a.name}/{b.name} within {limit} s: {self.a.state.name}/{self.b.state.name}")
        return self.now

    def command(self, who: str, events: list[Event]) -> None:
        """Record a command's events and deliver what it queued."""
        self.record(who, events)
        self.deliver()

    # -- what happened ----------------------------------------------------------------------------------------------
    def changes(self, who: str) -> list[StateChanged]:
        return [s.event for s in self.seen if s.who == who and isinstance(s.event, StateChanged)]

    def change_times(self, who: str) -> list[tuple[float, StateChanged]]:
        return [(s.time, s.event) for s in self.seen if s.who == who and isinstance(s.event, StateChanged)]

    def drops(self, who: str) -> list[PacketDropped]:
        return [s.event for s in self.seen if s.who == who and isinstance(s.event, PacketDropped)]

    def packets_from(self, sender: str, since: float = float("-inf")) -> list[Sent]:
        return [s for s in self.sent if s.sender == sender and s.time >= since]


__all__ = ["FAST", "Seen", "Sent", "SessionPair"]
