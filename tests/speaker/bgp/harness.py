"""The pair harness (style anchor 12a): two sans-IO BGP speakers wired together in memory, on a fake clock.

Each side is a :class:`~speaker.bgp.core.peer.PeerSessions`, driven exactly as the asyncio manager drives it:
``ConnectRequested`` opens an in-memory connection, ``CloseRequested`` closes it after the pending bytes are
delivered, and every session's events go back through ``PeerSessions.after`` (collision detection). A tap on each
direction decodes the messages and keeps the routes the receiving side holds, so tests can assert what a router
would see. :meth:`Pair.roundtrip_until_quiet` moves bytes until nothing moves (bounded, asserted);
:meth:`Pair.advance` walks the fake clock through every deadline on the way.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import DecodeContext, IPNetwork, PathAttributes
from speaker.bgp.core.events import CloseRequested, ConnectRequested, Event
from speaker.bgp.core.fsm import State
from speaker.bgp.core.messages import Message, Update, decode_message, message_length
from speaker.bgp.core.outbound import ConnectionInfo, SessionConfig
from speaker.bgp.core.peer import PeerSessions
from speaker.bgp.core.session import Session

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


@dataclass
class Side:
    name: str
    peer: PeerSessions
    v4: ipaddress.IPv4Address | None
    v6: ipaddress.IPv6Address
    link_local: ipaddress.IPv6Address
    events: list[Event] = field(default_factory=list)
    #: a connect attempt waits here until the pair completes it (to let SYNs cross)
    pending_connects: list[Session] = field(default_factory=list)

    def info(self, other: Side, *, initiated_locally: bool, ipv6_transport: bool) -> ConnectionInfo:
        local = self.v6 if ipv6_transport or self.v4 is None else self.v4
        remote = other.v6 if ipv6_transport or other.v4 is None else other.v4
        return ConnectionInfo(
            local=local,
            remote=remote,
            initiated_locally=initiated_locally,
            ipv4=self.v4,
            ipv6=self.v6,
            ipv6_link_local=self.link_local,
        )

    @property
    def session(self) -> Session:
        return self.peer.main


class Tap:
    """Decodes one direction of a connection and keeps the routes the receiver was told about."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.messages: list[Message] = []
        self.routes: dict[IPNetwork, PathAttributes] = {}

    def feed(self, data: bytes) -> None:
        self.buf += data
        while (length := message_length(self.buf)) is not None and len(self.buf) >= length:
            msg = decode_message(bytes(self.buf[:length]), DecodeContext(four_octet_as=True))
            del self.buf[:length]
            self.messages.append(msg)
            if isinstance(msg, Update):
                self._apply(msg)

    def _apply(self, update: Update) -> None:
        attrs = update.attributes
        gone: list[IPNetwork] = [*update.withdrawn, *(attrs.mp_unreach.withdrawn if attrs.mp_unreach else ())]
        new: list[IPNetwork] = [*update.nlri, *(attrs.mp_reach.nlri if attrs.mp_reach else ())]
        for prefix in gone:
            self.routes.pop(prefix, None)
        for prefix in new:
            self.routes[prefix] = attrs

    def of_type(self, kind: type[Message]) -> list[Message]:
        return [m for m in self.messages if isinstance(m, kind)]


@dataclass
class Wire:
    a: Session
    b: Session
    a_side: Side
    b_side: Side
    a_to_b: Tap = field(default_factory=Tap)
    b_to_a: Tap = field(default_factory=Tap)
    open: bool = True


class Pair:
    """Two speakers, ``x`` and ``y``, that peer with each other over in-memory connections."""

    def __init__(
        self,
        x_config: SessionConfig,
        y_config: SessionConfig,
        *,
        now: float = 1000.0,
        ipv6_transport: bool = False,
    ) -> None:
        self.now = now
        self.ipv6_transport = ipv6_transport
        self.x = Side("x", PeerSessions(x_config), V4("192.0.2.11"), V6("2001:db8::11"), V6("fe80::11"))
        self.y = Side("y", PeerSessions(y_config), V4("192.0.2.1"), V6("2001:db8::1"), V6("fe80::1"))
        self.wires: list[Wire] = []
        self._work: deque[tuple[Side, Session, list[Event]]] = deque()

    # -- driving -------------------------------------------------------------------------------
    def start(self, *sides: Side) -> None:
        for side in sides or (self.x, self.y):
            for session, events in side.peer.start(self.now):
                self.dispatch(side, session, events)
        self.settle()

    def dispatch(self, side: Side, session: Session, events: list[Event]) -> None:
        self._work.append((side, session, events))

    def settle(self) -> None:
        """Handle queued events (and what they cause) until none is left; then complete connect attempts."""
        while self._work:
            side, session, events = self._work.popleft()
            side.events.extend(events)
            for event in events:
                if isinstance(event, ConnectRequested):
                    side.pending_connects.append(session)
                elif isinstance(event, CloseRequested):
                    self._close(session)
            for loser, more in side.peer.after(session, events, self.now):
                self._work.append((side, loser, more))

    def complete_connects(self, *, crossed: bool = False) -> None:
        """Let every pending connect attempt succeed; ``crossed`` makes both SYNs cross (a collision)."""
        attempts = [(side, s) for side in (self.x, self.y) for s in side.pending_connects]
        for side in (self.x, self.y):
            side.pending_connects.clear()
        accepted: list[tuple[Side, Session]] = []
        for side, session in attempts:
            if session.state is not State.CONNECT or session not in side.peer.sessions():
                continue
            if not crossed:
                self._connect(side, session)
                continue
            accepted.append((side, session))
            self.dispatch(side, session, session.connection_made(self.now, self._info(side, True)))
        self.settle()
        for side, session in accepted:
            self._accept(side, session)
        self.settle()

    def _other(self, side: Side) -> Side:
        return self.y if side is self.x else self.x

    def _info(self, side: Side, initiated_locally: bool) -> ConnectionInfo:
        return side.info(self._other(side), initiated_locally=initiated_locally, ipv6_transport=self.ipv6_transport)

    def _connect(self, side: Side, session: Session) -> None:
        if self._accept(side, session):
            self.dispatch(side, session, session.connection_made(self.now, self._info(side, True)))
            self.settle()

    def _accept(self, side: Side, session: Session) -> bool:
        """The other side's listener takes (or refuses) ``session``'s connection; whether a wire now joins them."""
        other = self._other(side)
        target, events = other.peer.incoming(self.now, self._info(other, False))
        if target is None:
            self.dispatch(side, session, session.connection_lost(self.now, "connection refused"))
            return False
        self.wires.append(Wire(session, target, side, other))
        self.dispatch(other, target, events)
        return True

    def _close(self, session: Session) -> None:
        for wire in self.wires:
            if wire.open and session in (wire.a, wire.b):
                self._move(wire)
                wire.open = False
                far, far_side = (wire.b, wire.b_side) if session is wire.a else (wire.a, wire.a_side)
                if far is not session:
                    self.dispatch(far_side, far, far.connection_lost(self.now, "closed by the other end"))

    def _move(self, wire: Wire) -> int:
        moved = 0
        for src, dst, dst_side, tap in (
            (wire.a, wire.b, wire.b_side, wire.a_to_b),
            (wire.b, wire.a, wire.a_side, wire.b_to_a),
        ):
            data = src.data_to_send()
            if data and wire.open:
                tap.feed(data)
                moved += len(data)
                self.dispatch(dst_side, dst, dst.receive_data(data, self.now))
        return moved

    def roundtrip_until_quiet(self, max_rounds: int = 50) -> int:
        """Complete connects and move bytes until nothing moves; returns the number of rounds (bounded)."""
        for rounds in range(1, max_rounds + 1):
            self.settle()
            self.complete_connects()
            moved = sum(self._move(w) for w in self.wires if w.open)
            self.settle()
            if not moved and not any(s.pending_connects for s in (self.x, self.y)):
                return rounds
        raise AssertionError(f"the pair did not quiesce in {max_rounds} rounds")

    def advance(self, seconds: float) -> None:
        """Move the clock forward, firing every timer on the way and exchanging what they cause."""
        target = self.now + seconds
        while True:
            deadlines = [
                d for side in (self.x, self.y) for s in side.peer.sessions() if (d := s.next_deadline()) is not None
            ]
            due = [d for d in deadlines if d <= target]
            if not due:
                break
            self.now = max(self.now, min(due))
            for side in (self.x, self.y):
                for session in side.peer.sessions():
                    self.dispatch(side, session, session.handle_timer(self.now))
            self.roundtrip_until_quiet()
        self.now = target
        self.roundtrip_until_quiet()

    # -- looking -------------------------------------------------------------------------------
    def open_wires(self) -> list[Wire]:
        return [w for w in self.wires if w.open]

    def routes_at(self, side: Side) -> dict[IPNetwork, PathAttributes]:
        """What ``side`` was told over its open connection(s) (its Adj-RIB-In)."""
        found: dict[IPNetwork, PathAttributes] = {}
        for wire in self.open_wires():
            tap = wire.a_to_b if wire.b_side is side else wire.b_to_a
            found.update(tap.routes)
        return found

    def received_by(self, side: Side) -> list[Message]:
        """Every message ``side`` received, over every connection, in order per connection."""
        out: list[Message] = []
        for wire in self.wires:
            out.extend((wire.a_to_b if wire.b_side is side else wire.b_to_a).messages)
        return out

    def events_of(self, side: Side, kind: type[Event]) -> list[Event]:
        return [e for e in side.events if isinstance(e, kind)]


def config(
    local_asn: int = 64513,
    peer_asn: int | None = 64512,
    *,
    hold_time: float = 9.0,
    keepalive_time: float = 3.0,
    router_id: str = "192.0.2.11",
    **kwargs: object,
) -> SessionConfig:
    """A SessionConfig with short timers and an explicit router id (keyword overrides pass through)."""
    return SessionConfig(
        local_asn=local_asn,
        peer_asn=peer_asn,
        router_id=ipaddress.IPv4Address(router_id),
        hold_time=hold_time,
        keepalive_time=keepalive_time,
        node_name="node1",
        **kwargs,  # type: ignore[arg-type]
    )


def state_of(session: Session) -> State:
    """A session's state read through a call, so that mypy does not carry an earlier assert's narrowing."""
    return session.state


def prefixes(*texts: str) -> list[IPNetwork]:
    return [ipaddress.ip_network(t) for t in texts]


def families_of(routes: Iterable[IPNetwork]) -> set[tuple[int, int]]:
    return {iana.IPV4_UNICAST if p.version == 4 else iana.IPV6_UNICAST for p in routes}


__all__ = ["Pair", "Side", "Tap", "Wire", "config", "families_of", "prefixes", "state_of"]
