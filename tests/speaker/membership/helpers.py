"""Test helpers: a scripted peer that builds authenticated datagrams, and a way to read what a core sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from speaker.membership.core.codec import (
    Address,
    Body,
    Datagram,
    Gossip,
    MemberState,
    MemberUpdate,
    decode_datagram,
    encode_datagram,
)
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.events import MembershipEvent, PacketDropped
from speaker.membership.core.protocol import Membership

KEY = b"test-key-0123456789abcdef-0123456"
OTHER_KEY = b"another-key-0123456789abcdef-012"
EPOCH = 1_700_000_000_000
LOCAL = ("192.0.2.11", 7946)


def make_core(
    name: str = "node1",
    address: Address = LOCAL,
    *,
    config: MembershipConfig | None = None,
    keys: tuple[bytes, ...] = (KEY,),
    metadata: bytes = b"",
) -> Membership:
    return Membership(name=name, address=address, epoch=EPOCH, keys=keys, metadata=metadata, config=config, seed=7)


@dataclass
class Peer:
    """Plays another member by hand: every datagram gets the next sequence number unless told otherwise."""

    name: str
    address: Address
    epoch: int = EPOCH
    incarnation: int = 0
    metadata: bytes = b""
    seq: int = 0
    key: bytes = KEY
    sent: list[bytes] = field(default_factory=list)

    def datagram(
        self, body: Body, *, seq: int | None = None, epoch: int | None = None, key: bytes | None = None
    ) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        data = encode_datagram(
            body,
            sender=self.name,
            epoch=self.epoch if epoch is None else epoch,
            seq=seq,
            incarnation=self.incarnation,
            key=self.key if key is None else key,
        )
        self.sent.append(data)
        return data

    def alive(self) -> MemberUpdate:
        return MemberUpdate(MemberState.ALIVE, self.name, self.epoch, self.incarnation, self.address, self.metadata)

    def introduce(self, core: Membership, now: float) -> list[MembershipEvent]:
        """Make ``core`` know this peer as alive (a gossip carrying its own entry)."""
        return core.receive_datagram(self.datagram(Gossip((self.alive(),))), self.address, now)


def sent(core: Membership, keys: tuple[bytes, ...] = (KEY,)) -> list[tuple[Datagram, Address]]:
    """Decode everything the core queued (and clear its queue)."""
    return [(decode_datagram(data, keys), address) for data, address in core.datagrams_to_send()]


def drops(events: list[MembershipEvent]) -> list[PacketDropped]:
    return [e for e in events if isinstance(e, PacketDropped)]


def without_drops(events: list[MembershipEvent]) -> list[MembershipEvent]:
    return [e for e in events if not isinstance(e, PacketDropped)]


def run_timers(core: Membership, until: float, *, start: float | None = None) -> list[MembershipEvent]:
    """Fire the core's timer at each deadline up to ``until`` (an on-time event loop); returns all events."""
    events: list[MembershipEvent] = []
    deadline = core.next_deadline()
    while deadline is not None and deadline <= until:
        events.extend(core.handle_timer(deadline if start is None else max(deadline, start)))
        deadline = core.next_deadline()
    return events


def advance(core: Membership, until: float, *, talkers: tuple[Peer, ...] = ()) -> list[MembershipEvent]:
    """Run the core's timers on time up to ``until``; after each one every talker sends it a datagram."""
    events: list[MembershipEvent] = []
    deadline = core.next_deadline()
    while deadline is not None and deadline <= until:
        events.extend(core.handle_timer(deadline))
        for peer in talkers:
            events.extend(core.receive_datagram(peer.datagram(Gossip()), peer.address, deadline))
        deadline = core.next_deadline()
    return events
