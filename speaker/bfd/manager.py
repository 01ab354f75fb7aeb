"""The BFD manager: the one object the BGP speaker talks to about BFD.

The BGP side asks for a BFD session per peer that has a ``bfdProfile`` and gives a callback; the manager calls it
with ``up=False`` the moment BFD declares the forwarding path to that peer dead, and the BGP side drops the session
at once (RFC 5882 section 4.2: the BFD session going down is the client's signal), instead of waiting for the hold
timer::

    bfd = BfdManager()                                  # inside the running loop
    bfd.add_session(peer, local, profile, on_state)     # on_state(peer, up, diagnostic)
    bfd.update_profile(peer, profile)                   # BFDProfile edited: a Poll Sequence renegotiates timers
    bfd.remove_session(peer)                            # AdminDown is announced for a while, then it goes
    bfd.status()                                        # per-session state, intervals and counters
    await bfd.close()

What reaches ``on_state`` (RFC 5882 section 3.2): ``up=True`` when the session comes Up; ``up=False`` when it leaves
Up because of a *failure* - the detection time expired (diagnostic 1) or the peer signalled Down (diagnostic 3).
A session that goes down administratively - the peer sent AdminDown, or we removed the session - is not reported:
the path did not fail and the client must not tear itself down for it. A session that never came Up reports
nothing, so BGP sessions to peers without working BFD are not blocked (FRR does the same).

The manager must be created inside the running event loop (it opens sockets on that loop when sessions are added);
``add_session`` opens them synchronously, so a caller inside a network namespace gets sockets in that namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loguru import logger

from ironlb.api.addresses import IPAddress
from ironlb.config.model import BFDProfile
from speaker.bfd import metrics
from speaker.bfd.core import (
    BfdError,
    DropReason,
    Event,
    PacketDropped,
    SessionSnapshot,
    SessionTable,
    State,
    StateChanged,
    diagnostic_name,
)
from speaker.bfd.udp import UdpAdapter

#: on_state(peer, up, diagnostic): the BGP side's hook. ``diagnostic`` is a :class:`~speaker.bfd.core.Diagnostic`.
OnState = Callable[[IPAddress, bool, int], None]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One session, as the gRPC status service and the metrics see it."""

    peer: IPAddress
    local: IPAddress
    profile: str
    #: removed by the owner and announcing AdminDown before it goes.
    removing: bool
    session: SessionSnapshot

    @property
    def up(self) -> bool:
        return self.session.state is State.UP

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: states and diagnostics by name, intervals in milliseconds, as FRR's ``show bfd peers``."""
        s = self.session
        return {
            "peer": str(self.peer),
            "local": str(self.local),
            "profile": self.profile,
            "status": s.state.name.lower().replace("_", "-"),
            "remote_status": s.remote_state.name.lower().replace("_", "-"),
            "diagnostic": diagnostic_name(s.local_diagnostic),
            "remote_diagnostic": diagnostic_name(s.remote_diagnostic),
            "id": s.local_discriminator,
            "remote_id": s.remote_discriminator,
            "detect_multiplier": s.detect_mult,
            "remote_detect_multiplier": s.remote_detect_mult,
            "transmit_interval_ms": s.desired_min_tx_us / 1000,
            "receive_interval_ms": s.required_min_rx_us / 1000,
            "echo_receive_interval_ms": 0,
            "remote_transmit_interval_ms": s.remote_desired_min_tx_us / 1000,
            "remote_receive_interval_ms": s.remote_min_rx_us / 1000,
            "negotiated_transmit_interval_ms": s.transmit_interval_us / 1000,
            "detection_time_ms": s.detection_time_us / 1000,
            "passive": s.passive,
            "poll_active": s.poll_active,
            "removing": self.removing,
            "control_packet_input": s.packets_in,
            "control_packet_output": s.packets_out,
            "session_up_events": s.up_events,
            "session_down_events": s.down_events,
            "dropped": {reason.value: count for reason, count in s.drops.items()},
        }


@dataclass(slots=True)
class _Peer:
    local: IPAddress
    profile: BFDProfile
    on_state: OnState
    removing: bool = False


def _address(value: IPAddress | str) -> IPAddress:
    return value if not isinstance(value, str) else ipaddress.ip_address(value)


class BfdManager:
    """Every BFD session of this speaker. See the module docstring.

    Args:
        rng: discriminators, jitter and source ports (``random.SystemRandom()`` unless a test injects a seed).
        collector: where the metrics are published (the default registry's; None publishes nothing).
    """

    def __init__(
        self, *, rng: random.Random | None = None, collector: metrics.BfdCollector | None = metrics.COLLECTOR
    ) -> None:
        self._rng = rng or random.SystemRandom()
        self._table = SessionTable(self._rng)
        self._adapter = UdpAdapter(self._table, on_events=self._on_events, rng=self._rng)
        self._peers: dict[IPAddress, _Peer] = {}
        self._dropped: Counter[DropReason] = Counter()
        self._collector = collector
        self._closing: dict[IPAddress, int] | None = None
        self._closed = asyncio.Event()
        if collector is not None:
            collector.add(self)

    # -- the BGP side's API -----------------------------------------------------------------------------------------
    def add_session(
        self, peer_address: IPAddress | str, local_address: IPAddress | str, profile: BFDProfile, on_state: OnState
    ) -> None:
        """Start a BFD session to ``peer_address`` from ``local_address`` (the BGP session's source address).

        Adding a peer that exists updates its profile and callback (or moves it, if the local address changed).

        Raises:
            BfdError: the addresses are of different families, the profile cannot be sent, or the sockets cannot
                be opened (another BFD daemon on the node, an address not configured). Nothing is left behind.
        """
        peer, local = _address(peer_address), _address(local_address)
        if self._closing is not None:
            raise BfdError(f"The BFD manager is closing; cannot add a session for peer {peer}.")
        existing = self._peers.get(peer)
        if existing is not None and not existing.removing and existing.local == local:
            existing.on_state = on_state
            self.update_profile(peer, profile)
            return
        if existing is not None:
            self._finish_removal(peer)
        self._table.add(peer, local, profile, self._adapter.now())
        self._peers[peer] = _Peer(local, profile, on_state)
        try:
            self._adapter.attach(peer, local)
        except BfdError:
            self._table.remove(peer)
            del self._peers[peer]
            raise
        log = logger.bind(peer=str(peer), local=str(local), profile=profile.name)
        log.info("BFD session added")
        if profile.echo_mode:
            log.warning("BFDProfile asks for echo mode, which ironlb does not implement; running without it")

    def update_profile(self, peer_address: IPAddress | str, profile: BFDProfile) -> None:
        """Apply an edited BFDProfile; changed intervals are renegotiated with a Poll Sequence.

        Raises:
            BfdError: no session for this peer, or the profile cannot be sent (the session keeps its old profile).
        """
        peer = _address(peer_address)
        known = self._peers.get(peer)
        entry = self._table.get(peer)
        if known is None or entry is None or known.removing:
            raise BfdError(f"No BFD session for peer {peer}; add it with add_session first.")
        events = entry.session.set_profile(profile, self._adapter.now())
        known.profile = profile
        self._adapter.service(peer, events)

    def remove_session(self, peer_address: IPAddress | str) -> None:
        """Stop the session: it announces AdminDown for a few slow intervals (RFC 5880 6.8.16), then goes.

        ``on_state`` is not called again for this peer. Removing an unknown peer does nothing.
        """
        peer = _address(peer_address)
        known = self._peers.get(peer)
        entry = self._table.get(peer)
        if known is None or entry is None or known.removing:
            return
        known.removing = True
        self._adapter.service(peer, entry.session.admin_down(self._adapter.now()))
        logger.bind(peer=str(peer)).info("BFD session removed")

    def status(self) -> list[PeerStatus]:
        """Every session, ordered by peer address (IPv4 first)."""
        out = []
        for entry in sorted(self._table, key=lambda e: (e.peer.version, e.peer)):
            known = self._peers[entry.peer]
            out.append(
                PeerStatus(entry.peer, entry.local, known.profile.name, known.removing, entry.session.snapshot())
            )
        return out

    def dropped(self) -> Mapping[DropReason, int]:
        """Every packet discarded since start, by reason (those of removed sessions included)."""
        return dict(self._dropped)

    def send_errors(self) -> int:
        return self._adapter.send_errors

    async def close(self, *, grace: float = 1.0) -> None:
        """Announce AdminDown on every Up session (waiting up to ``grace`` seconds for it to leave), then stop."""
        if self._closing is None:
            self._closing = {}
            now = self._adapter.now()
            for entry in self._table:
                if entry.session.state is State.UP:
                    self._closing[entry.peer] = entry.session.packets_out
                    self._peers[entry.peer].removing = True
                    self._adapter.service(entry.peer, entry.session.admin_down(now))
            self._check_closing()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), grace)
            self._adapter.close()
            for entry in self._table:
                self._table.remove(entry.peer)
            self._peers.clear()
            if self._collector is not None:
                self._collector.discard(self)

    # -- events -----------------------------------------------------------------------------------------------------
    def _on_events(self, peer: IPAddress | None, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, PacketDropped):
                self._dropped[event.reason] += 1
                logger.bind(peer=str(peer) if peer else None, reason=event.reason.value, detail=event.detail).trace(
                    "BFD packet dropped"
                )
            elif isinstance(event, StateChanged) and peer is not None:
                self._on_state_changed(peer, event)
        if peer is not None:
            known = self._peers.get(peer)
            entry = self._table.get(peer)
            if known is not None and known.removing and entry is not None and entry.session.next_deadline() is None:
                self._finish_removal(peer)
        self._check_closing()

    def _on_state_changed(self, peer: IPAddress, event: StateChanged) -> None:
        known = self._peers.get(peer)
        logger.bind(
            peer=str(peer),
            old=event.old.name,
            new=event.new.name,
            diagnostic=diagnostic_name(event.diagnostic),
            remote_state=event.remote_state.name,
        ).info("BFD session state changed")
        if known is None or known.removing:
            return
        if event.went_up:
            up = True
        elif event.went_down and not event.administrative:
            up = False
        else:
            return
        try:
            known.on_state(peer, up, event.diagnostic)
        except Exception:  # the client's bug must not stop BFD for every other peer
            logger.bind(peer=str(peer)).exception("BFD on_state callback failed")

    def _finish_removal(self, peer: IPAddress) -> None:
        known = self._peers.pop(peer, None)
        self._table.remove(peer)
        if known is not None:
            self._adapter.detach(peer, known.local)

    def _check_closing(self) -> None:
        if self._closing is None:
            return
        pending = [
            peer
            for peer, sent_before in self._closing.items()
            if (entry := self._table.get(peer)) is not None and entry.session.packets_out <= sent_before
        ]
        if not pending:
            self._closed.set()


__all__ = ["BfdManager", "OnState", "PeerStatus"]
