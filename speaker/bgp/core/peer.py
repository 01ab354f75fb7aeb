"""One configured peer: its session, and a second one while two TCP connections collide (RFC 4271 section 6.8).

Theory of operation
-------------------
Both ends of a BGP peering may connect at once (we connect actively and also accept; routers do the same). Each
TCP connection runs its own FSM until one of them is chosen, so a peer has a *main* :class:`Session` and, for a
short while, a *twin* that took the second connection. :class:`PeerSessions` decides, sans-IO:

* :meth:`~PeerSessions.incoming`: an accepted connection goes to the main session when it is in Connect or
  Active (it abandons its own attempt); when the main session is in OpenSent or OpenConfirm, a twin is created
  for it; in Idle and Established it is refused (6.8: "a connection collision with an existing BGP connection
  that is in the Established state causes closing of the newly created connection").
* :meth:`~PeerSessions.after`: when either session reports :class:`~speaker.bgp.core.events.OpenReceived`
  while the other one has an OPEN out (OpenSent, OpenConfirm), the connection initiated by the speaker with the
  higher BGP Identifier survives (:func:`~speaker.bgp.core.fsm.collision_keeps_locally_initiated`); the other
  gets OpenCollisionDump (Cease / Connection Collision Resolution). Against an Established session the newcomer
  loses. Both speakers apply the same rule and so keep the same TCP connection. Detection in OpenSent uses the
  identifier from the other connection's OPEN: it is the same peer (6.8 allows it "by other means").
* a session pauses after a valid OPEN (``Session.paused``) so that detection runs before it reads the
  KEEPALIVE behind it; :meth:`~PeerSessions.after` resumes the survivor. Without the pause, both ends could
  reach Established on different connections and then each kill the one the other kept.
* a twin that dies is forgotten; a main session that lost to its twin is replaced by it.

The adapter keeps one transport per live session (``sessions()``) and feeds every session's events back through
:meth:`~PeerSessions.after`.
"""

from __future__ import annotations

from collections.abc import Mapping

from speaker.bgp.core.attributes import IPNetwork
from speaker.bgp.core.events import Event, OpenReceived
from speaker.bgp.core.fsm import State, collision_keeps_locally_initiated
from speaker.bgp.core.iana import CeaseSubcode
from speaker.bgp.core.outbound import ConnectionInfo, SessionConfig
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.core.session import Session

Outcome = list[tuple[Session, list[Event]]]
_OPEN_OUT = (State.OPEN_SENT, State.OPEN_CONFIRM)


class PeerSessions:
    """The main session of one peer and, during a collision, its twin."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.main = Session(config)
        self.twin: Session | None = None

    def sessions(self) -> tuple[Session, ...]:
        return (self.main,) if self.twin is None else (self.main, self.twin)

    @property
    def established(self) -> Session | None:
        for session in self.sessions():
            if session.state is State.ESTABLISHED:
                return session
        return None

    # -- commands, applied to every live session --------------------------------------------------
    def start(self, now: float) -> Outcome:
        return [(self.main, self.main.start(now))]

    def stop(
        self,
        now: float,
        *,
        graceful: bool,
        message: str = "",
        restarting: bool = False,
        subcode: CeaseSubcode = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> Outcome:
        out: Outcome = []
        for session in self.sessions():
            # a twin has not reached Established (or it would be main): it has nothing to drain
            planned = graceful and session is self.main
            events = session.stop(now, graceful=planned, message=message, restarting=restarting, subcode=subcode)
            out.append((session, events))
        return out

    def set_routes(self, routes: Mapping[IPNetwork, RouteAttrs], now: float) -> Outcome:
        return [(session, session.set_routes(routes, now)) for session in self.sessions()]

    def peer_down(self, now: float, reason: str) -> Outcome:
        return [(session, session.peer_down(now, reason)) for session in self.sessions()]

    # -- connections --------------------------------------------------------------------------------
    def incoming(self, now: float, info: ConnectionInfo) -> tuple[Session | None, list[Event]]:
        """Hand an accepted connection to a session; (None, []) means: refuse it (close the socket)."""
        if self.main.accepts_connection():
            return self.main, self.main.connection_made(now, info)
        if self.twin is None and self.main.state in _OPEN_OUT:
            twin = Session(self.config)
            twin.rib.set_desired(self.main.rib.desired)
            events = twin.start(now, passive=True)
            events += twin.connection_made(now, info)
            self.twin = twin
            return twin, events
        return None, []

    def after(self, session: Session, events: list[Event], now: float) -> Outcome:
        """Run collision detection on ``session``'s events; returns what the losers said, if any."""
        out: Outcome = []
        for event in events:
            if isinstance(event, OpenReceived):
                loser = self._collision_loser(session, event)
                if loser is not None:
                    out.append((loser, loser.collision_dump(now)))
        self._tidy()
        if session.paused and session in self.sessions():
            out.append((session, session.resume(now)))  # it survived: read what followed its OPEN
        return out

    def _collision_loser(self, session: Session, event: OpenReceived) -> Session | None:
        other = self.twin if session is self.main else self.main
        if other is None or session.state is State.IDLE:
            return None
        if other.state is State.ESTABLISHED:
            return session
        if other.state not in _OPEN_OUT or other.connection is None or session.connection is None:
            return None
        keep_local = collision_keeps_locally_initiated(
            local_id=event.local_router_id,
            remote_id=event.router_id,
            local_asn=self.config.local_asn,
            remote_asn=event.asn,
        )
        if session.connection.initiated_locally == other.connection.initiated_locally:
            return session  # two connections of the same direction: keep the older one
        return session if session.connection.initiated_locally != keep_local else other

    def _tidy(self) -> None:
        twin = self.twin
        if twin is None:
            return
        if twin.state is State.IDLE:
            self.twin = None
        elif self.main.state is State.IDLE:
            # the main session lost: the twin carries on as the peer's session
            self.main, self.twin = twin, None


__all__ = ["Outcome", "PeerSessions"]
