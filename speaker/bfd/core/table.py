"""The session table: which session a received control packet belongs to (RFC 5880 6.8.6, RFC 5881 sections 3-5).

Theory of operation
-------------------
One table holds every BFD session of the speaker, keyed by the peer's address (one BFD session per BGP peer). For
each received datagram the adapter hands over the payload, the source address, the local address it arrived on and
the IP TTL / hop limit the kernel reported; :meth:`SessionTable.receive` then applies, in order:

1. the codec and the header rules of RFC 5880 section 6.8.6 (:func:`~speaker.bfd.core.packet.check_reception_rules`);
2. GTSM (RFC 5881 section 5): "All received BFD Control packets that are demultiplexed to the session MUST be
   discarded if the received TTL or Hop Limit is not equal to 255" - every session here is single hop and runs
   without authentication, so the rule applies to all of them, and a packet whose TTL the kernel did not report
   is treated as failing it;
3. demultiplexing: a non-zero Your Discriminator selects the session ("If no session is found, the packet MUST be
   discarded"); a zero one - the peer has not heard from us yet - selects by (source address, local address),
   which RFC 5881 section 3 allows for single hop. A packet whose discriminator names a session but comes from
   another peer, or arrives on another local address, is dropped too: a single-hop session is bound to its pair
   of addresses.

Packets dropped before a session is known are counted here, by reason; the others are counted by their session.
The table also allocates local discriminators: random, non-zero and unique (RFC 5880 section 6.8.1; random values
make blind spoofing harder), from the injected ``rng`` so tests are deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ironlb.api.addresses import IPAddress
from ironlb.config.model import BFDProfile
from speaker.bfd.core.errors import BfdError, DecodeError, DropReason
from speaker.bfd.core.events import Event, PacketDropped
from speaker.bfd.core.packet import MAX_U32, ControlPacket, check_reception_rules
from speaker.bfd.core.session import Session

#: RFC 5881 section 5: single-hop packets are sent with, and must arrive with, TTL / hop limit 255.
REQUIRED_TTL = 255


class Rng(Protocol):
    """What the table needs of a random source (``random.Random`` and ``random.SystemRandom`` both fit)."""

    def random(self) -> float: ...

    def randint(self, a: int, b: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one received datagram did: the session it reached (None if dropped before one was found) and events."""

    peer: IPAddress | None
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class Entry:
    """A session with the addresses it is bound to."""

    peer: IPAddress
    local: IPAddress
    session: Session


class SessionTable:
    """Every BFD session of one speaker, with packet demultiplexing. See the module docstring.

    Args:
        rng: the source of discriminators and of each session's jitter (``random.SystemRandom()`` in the daemon,
            a seeded ``random.Random`` in tests).
    """

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self._by_peer: dict[IPAddress, Entry] = {}
        self._by_discriminator: dict[int, Entry] = {}
        #: drops of packets that reached no session, by reason.
        self.drops: Counter[DropReason] = Counter()

    # -- membership -------------------------------------------------------------------------------------------------
    def add(self, peer: IPAddress, local: IPAddress, profile: BFDProfile, now: float) -> Session:
        """Create the session for ``peer``, bound to ``local``.

        Raises:
            BfdError: a session for this peer exists, the two addresses are of different families, or the profile
                cannot be sent.
        """
        if peer in self._by_peer:
            raise BfdError(f"A BFD session for peer {peer} exists already; remove it first or update its profile.")
        if peer.version != local.version:
            raise BfdError(
                f"BFD peer {peer} and local address {local} are of different IP families; use a local address of "
                f"the peer's family (the BGP session's source address)."
            )
        discriminator = self._new_discriminator()
        session = Session(profile, local_discriminator=discriminator, now=now, random=self._rng.random)
        entry = Entry(peer, local, session)
        self._by_peer[peer] = entry
        self._by_discriminator[discriminator] = entry
        return session

    def remove(self, peer: IPAddress) -> Session | None:
        entry = self._by_peer.pop(peer, None)
        if entry is None:
            return None
        del self._by_discriminator[entry.session.local_discriminator]
        return entry.session

    def get(self, peer: IPAddress) -> Entry | None:
        return self._by_peer.get(peer)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._by_peer.values()))

    def __len__(self) -> int:
        return len(self._by_peer)

    # -- input ------------------------------------------------------------------------------------------------------
    def receive(self, data: bytes, *, source: IPAddress, local: IPAddress, ttl: int | None, now: float) -> Delivery:
        """Route one received datagram to its session and run it there. Never raises."""
        try:
            packet = ControlPacket.decode(data)
            check_reception_rules(packet)
        except DecodeError as exc:
            return self._drop(exc.reason, f"from {source}: {exc.detail}")
        if ttl != REQUIRED_TTL:
            return self._drop(DropReason.BAD_TTL, f"from {source}: TTL {ttl}, single-hop BFD requires 255")
        if packet.your_discriminator:
            entry = self._by_discriminator.get(packet.your_discriminator)
            if entry is None:
                return self._drop(
                    DropReason.UNKNOWN_DISCRIMINATOR,
                    f"from {source}: Your Discriminator {packet.your_discriminator} names no session",
                )
            if entry.peer != source or entry.local != local:
                return self._drop(
                    DropReason.ADDRESS_MISMATCH,
                    f"from {source} to {local}: the discriminator belongs to the session {entry.peer} -> {entry.local}",
                )
        else:
            found = self._by_peer.get(source)
            if found is None or found.local != local:
                return self._drop(DropReason.NO_SESSION, f"from {source} to {local}: no BFD session for this pair")
            entry = found
        return Delivery(entry.peer, entry.session.receive_packet(packet, now))

    # -- internals --------------------------------------------------------------------------------------------------
    def _drop(self, reason: DropReason, detail: str) -> Delivery:
        self.drops[reason] += 1
        return Delivery(None, [PacketDropped(reason, detail)])

    def _new_discriminator(self) -> int:
        while True:
            candidate = self._rng.randint(1, MAX_U32)
            if candidate not in self._by_discriminator:
                return candidate


__all__ = ["REQUIRED_TTL", "Delivery", "Entry", "Rng", "SessionTable"]
