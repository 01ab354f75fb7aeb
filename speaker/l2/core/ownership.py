"""Which addresses this node answers for, and the life of each: probe, announce, answer, release (pure).

Theory of operation
-------------------
The speaker's election decides which addresses this node owns; :class:`Ownership` turns that desired table into
what the data plane does, one address at a time::

    (absent)  --set_owned, Takeover.PROBE*------> PROBING --no claim during the probe--> ANNOUNCED
    (absent)  --set_owned, Takeover.IMMEDIATE-------------------------------------------> ANNOUNCED
    PROBING   --a claim from another MAC--> CONFLICT --retry_after--> PROBING
    ANNOUNCED --release(after)--> RELEASING --after elapsed, or the next owner's announcement seen--> (absent)
    RELEASING --set_owned lists it again--> ANNOUNCED
    PROBING | CONFLICT | ANNOUNCED --set_owned omits it--> (absent)

- PROBING: probes go out (see :mod:`speaker.l2.core.probe`); the address is not answered yet - answering before
  the probe is over would fight a host that has it.
- ANNOUNCED: the address is in the responder's table and its announcement burst runs (:mod:`.announce`);
  interfaces that come up (or are newly allowed) get a burst of their own.
- CONFLICT: another MAC claimed the address. It is neither answered nor announced; an :class:`AddressConflict` event
  is emitted; after ``ProbeConfig.retry_after`` the address is probed again (the other host may be gone).
- RELEASING: :meth:`Ownership.release` was called during a planned handover. Announcements stop at once (the new
  owner is announcing), but requests are still answered until the grace period ends, so that a client resolving
  the address in the meantime is not left without an answer. A table that no longer lists a RELEASING address does
  not cut its grace short; one that lists it again takes it back to ANNOUNCED. The grace ends early, at once, when
  the next owner is seen announcing the address (a gratuitous ARP or unsolicited NA, :func:`.announce.
  parse_announcement`) from a known speaker's MAC (:meth:`Ownership.set_speaker_macs`) on an interface where we
  answer it: from then on the next owner answers, and two nodes answering would only make clients flip between
  them. Announcements from a MAC that is not a known speaker's (a foreign host, a stale cache) do not count: the
  grace then runs out as before, so the early end never shortens the time during which *someone* answers.

How an address that becomes ours is taken over is the caller's choice, per address (:class:`Takeover`):

- a new allocation, announced by no speaker before: PROBE - any answer means a foreign host has the address;
- failover from a dead peer: PROBE_IGNORING_SPEAKERS (the probe adds ``ProbeConfig.duration``, 150 ms by default,
  to the failover, and still catches a foreign host) or IMMEDIATE when every millisecond counts;
- a planned move from a live peer: PROBE_IGNORING_SPEAKERS, while the old owner calls :meth:`Ownership.release`
  with a grace period longer than the probe (say 0.5 s), so that some node answers at every moment. The live old
  owner answers the probe, and only knowing its MACs (:meth:`Ownership.set_speaker_macs`, fed from membership)
  keeps that from reading as a conflict.

What probing cannot see: two speakers that both believe they own an address (split membership) ignore each other
by design - that is the election's problem, not one a probe can settle. After an address is announced, claims are
no longer watched (RFC 5227 section 2.4 "ongoing address conflict detection" is not implemented).

Outputs follow the sans-IO convention: :meth:`data_to_send` (frames), :meth:`events` (announced, conflict,
released), :meth:`next_deadline`, :attr:`responder` (the answering table, kept in sync), :meth:`listening_interfaces`
(where the adapter must hand received ARP/NDP frames to :meth:`receive`: probes listen for claims, releasing
addresses for the next owner's announcements) and :meth:`answered` (which addresses are answered where, for
multicast group membership). Time is an argument of every call that needs it.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ironlb.api.addresses import IPAddress
from speaker.l2.core.announce import AnnounceConfig, AnnounceSchedule, Outgoing, parse_announcement
from speaker.l2.core.ethernet import format_mac
from speaker.l2.core.probe import AddressClear, AddressConflict, Probe, ProbeConfig, classify
from speaker.l2.core.responder import Interface, OwnedTable, Responder


class Takeover(enum.StrEnum):
    """How an address that newly becomes ours is taken over."""

    PROBE = "probe"
    """Probe first; any other MAC claiming the address is a conflict. For addresses no speaker announced before."""
    PROBE_IGNORING_SPEAKERS = "probe-ignoring-speakers"
    """Probe first, but claims from known speaker MACs do not count. For an address moving from a peer speaker."""
    IMMEDIATE = "immediate"
    """Announce at once, no probe: the fastest takeover, with no conflict detection."""


class Phase(enum.StrEnum):
    PROBING = "probing"
    ANNOUNCED = "announced"
    CONFLICT = "conflict"
    RELEASING = "releasing"


@dataclass(frozen=True, slots=True)
class AddressAnnounced:
    """The address is answered from now on, and its announcement burst started on ``interfaces``."""

    ip: IPAddress
    interfaces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddressReleased:
    """A released address is no longer answered: its grace period is over, or the next owner announced it."""

    ip: IPAddress
    #: the MAC the next owner announced it from, when that ended the grace early ("" otherwise)
    handed_to: str = ""


Event = AddressAnnounced | AddressConflict | AddressReleased


@dataclass(slots=True)
class _Address:
    ip: IPAddress
    allowed: frozenset[str] | None
    takeover: Takeover
    phase: Phase
    deadline: float | None = None  # release or retry time, by phase


class Ownership:
    """The desired table turned into probes, announcements and the answering table."""

    def __init__(self, *, announce: AnnounceConfig | None = None, probe: ProbeConfig | None = None) -> None:
        self.responder = Responder()
        self.probe_config = probe or ProbeConfig()
        self._schedule = AnnounceSchedule(announce)
        self._interfaces: dict[str, Interface] = {}
        self._speaker_macs: frozenset[bytes] = frozenset()
        self._addresses: dict[IPAddress, _Address] = {}
        self._probes: dict[bytes, Probe] = {}
        #: addresses in RELEASING, by packed address (what an announcement names)
        self._releasing: dict[bytes, IPAddress] = {}
        self._timers: list[tuple[float, int, IPAddress]] = []
        self._seq = 0
        self._outgoing: list[Outgoing] = []
        self._events: list[Event] = []
        self._dirty = False

    # -- inputs ------------------------------------------------------------------------------------------------
    def set_interfaces(self, interfaces: Mapping[str, Interface], now: float) -> None:
        """The eligible interfaces that are up. New or changed ones get a burst for every address allowed there."""
        old = self._interfaces
        self._interfaces = dict(interfaces)
        self._schedule.set_interfaces(self._interfaces)
        fresh = {name for name, iface in self._interfaces.items() if old.get(name) != iface}
        gone = set(old) - set(self._interfaces)
        for probe in self._probes.values():
            for name in gone:
                probe.remove_interface(name)
        if fresh:
            for state in self._addresses.values():
                if state.phase is Phase.ANNOUNCED:
                    names = [n for n in fresh if state.allowed is None or n in state.allowed]
                    if names:
                        self._schedule.takeover(state.ip, now, interfaces=names)
        self._run_timers(now)

    @property
    def speaker_macs(self) -> frozenset[bytes]:
        """The MACs :meth:`set_speaker_macs` gave."""
        return self._speaker_macs

    def set_speaker_macs(self, macs: Iterable[bytes]) -> None:
        """Interface MACs of every known speaker (ours included): their claims are ignored when a Takeover says so,
        and their announcements of an address we are releasing end its grace period (the next owner answers)."""
        self._speaker_macs = frozenset(macs)

    def set_owned(
        self, table: OwnedTable, now: float, *, takeover: Takeover | Mapping[IPAddress, Takeover] = Takeover.PROBE
    ) -> None:
        """Make ``table`` (address -> allowed interface names, None = all) the set of addresses this node owns.

        Args:
            table: every address this node should announce now.
            now: the current time.
            takeover: how addresses new in this table are taken over: one mode for all, or per address (addresses
                missing from the mapping are probed).
        """
        for ip in [ip for ip, state in self._addresses.items() if ip not in table]:
            if self._addresses[ip].phase is not Phase.RELEASING:
                self._forget(ip)
        for ip, given in table.items():
            allowed = None if given is None else frozenset(given)
            state = self._addresses.get(ip)
            if state is None:
                mode = takeover if isinstance(takeover, Takeover) else takeover.get(ip, Takeover.PROBE)
                state = self._addresses[ip] = _Address(ip, allowed, mode, Phase.PROBING)
                self._begin(state, now)
            elif state.phase is Phase.RELEASING:
                state.allowed = allowed
                self._announce(state, now)
            elif allowed != state.allowed:
                state.allowed = allowed
                if state.phase is Phase.ANNOUNCED:
                    self._announce(state, now)
                elif state.phase is Phase.PROBING:
                    self._begin(state, now)
        self._run_timers(now)

    def release(self, ip: IPAddress, *, after: float, now: float) -> None:
        """Give ``ip`` up, answering it ``after`` more seconds (planned handover). Stops its announcements at once.

        Make ``after`` longer than the new owner's probe (``ProbeConfig.duration``) plus the time the decision takes
        to reach it, so that requests are answered throughout the move: it is the bound. The grace ends earlier when
        the next owner is seen announcing the address (see :meth:`receive`). An address still probing or in conflict
        was never answered and is forgotten at once.
        """
        state = self._addresses.get(ip)
        if state is None:
            return
        if state.phase not in (Phase.ANNOUNCED, Phase.RELEASING) or after <= 0:
            self._forget(ip)
            if state.phase in (Phase.ANNOUNCED, Phase.RELEASING):
                self._events.append(AddressReleased(ip))
        else:
            self._schedule.withdraw(ip)
            state.phase = Phase.RELEASING
            self._releasing[ip.packed] = ip
            self._set_deadline(state, now + after)
        self._run_timers(now)

    def reannounce(self, ip: IPAddress, now: float) -> None:
        """Run the announcement burst of an announced address again (MetalLB re-announces on every re-decision)."""
        state = self._addresses.get(ip)
        if state is not None and state.phase is Phase.ANNOUNCED:
            self._schedule.takeover(ip, now, interfaces=self._names(state))
            self._run_timers(now)

    def receive(self, ifname: str, frame: bytes, now: float) -> None:
        """A frame heard on ``ifname`` by a listener (any ARP, Neighbor Solicitations and Advertisements): a claim
        for a probe, or the next owner's announcement of an address we are releasing."""
        if self._probes:
            claim = classify(frame)
            probe = self._probes.get(claim.address) if claim is not None else None
            if probe is not None and claim is not None:
                probe.handle_claim(ifname, claim)
                self._settle(probe, now)
        if self._releasing:
            seen = parse_announcement(frame)
            ip = self._releasing.get(seen.address) if seen is not None else None
            if ip is not None and seen is not None and self._is_next_owner(self._addresses[ip], ifname, seen.mac):
                self._forget(ip)
                self._events.append(AddressReleased(ip, format_mac(seen.mac)))
        self._run_timers(now)

    def _is_next_owner(self, state: _Address, ifname: str, mac: bytes) -> bool:
        """Whether an announcement of ``state.ip`` from ``mac`` on ``ifname`` proves another speaker answers it now."""
        if mac not in self._speaker_macs or any(mac == iface.mac for iface in self._interfaces.values()):
            return False  # a foreign host, or our own frame heard on another interface
        return ifname in self._interfaces and (state.allowed is None or ifname in state.allowed)

    def handle_timer(self, now: float) -> None:
        """Do what is due by ``now``: announcement rounds, probes and verdicts, retries, ends of grace periods."""
        self._run_timers(now)

    # -- outputs -----------------------------------------------------------------------------------------------
    def data_to_send(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        candidates = [d for d in (p.next_deadline() for p in self._probes.values()) if d is not None]
        scheduled = self._schedule.next_deadline()
        if scheduled is not None:
            candidates.append(scheduled)
        timer = self._next_timer()
        if timer is not None:
            candidates.append(timer)
        return min(candidates) if candidates else None

    def phase(self, ip: IPAddress) -> Phase | None:
        state = self._addresses.get(ip)
        return state.phase if state else None

    def phases(self) -> dict[IPAddress, Phase]:
        return {ip: state.phase for ip, state in self._addresses.items()}

    def probing(self) -> list[IPAddress]:
        """Addresses being probed now."""
        return [probe.ip for probe in self._probes.values()]

    def probing_interfaces(self) -> frozenset[str]:
        """Interfaces on which a probe is listening for claims."""
        names: set[str] = set()
        for probe in self._probes.values():
            names |= probe.interfaces
        return frozenset(names)

    def listening_interfaces(self) -> frozenset[str]:
        """Interfaces whose ARP/NDP frames :meth:`receive` needs: probing ones, and those where an address being
        released is answered (to see the next owner's announcement)."""
        names = set(self.probing_interfaces())
        for ip in self._releasing.values():
            names.update(self._names(self._addresses[ip]))
        return frozenset(names)

    def answered(self) -> OwnedTable:
        """Addresses answered now (announced or releasing), with their allowed interfaces."""
        return self.responder.table

    def pending(self, ip: IPAddress) -> dict[str, int]:
        """Announcement rounds still to send for ``ip``, per interface."""
        return self._schedule.pending(ip)

    # -- internals ---------------------------------------------------------------------------------------------
    def _names(self, state: _Address) -> list[str]:
        return [n for n in self._interfaces if state.allowed is None or n in state.allowed]

    def _begin(self, state: _Address, now: float) -> None:
        self._probes.pop(state.ip.packed, None)
        self._releasing.pop(state.ip.packed, None)
        if state.takeover is Takeover.IMMEDIATE:
            self._announce(state, now)
            return
        state.phase = Phase.PROBING
        state.deadline = None
        ignore = {iface.mac for iface in self._interfaces.values()}
        if state.takeover is Takeover.PROBE_IGNORING_SPEAKERS:
            ignore |= self._speaker_macs
        interfaces = {n: self._interfaces[n] for n in self._names(state)}
        probe = Probe(state.ip, interfaces, now, config=self.probe_config, ignore_macs=ignore)
        self._probes[state.ip.packed] = probe
        self._settle(probe, now)

    def _settle(self, probe: Probe, now: float) -> None:
        self._outgoing.extend(probe.handle_timer(now))
        outcome = probe.outcome
        if outcome is None:
            return
        del self._probes[probe.ip.packed]
        state = self._addresses[probe.ip]
        if isinstance(outcome, AddressClear):
            self._announce(state, now)
        else:
            state.phase = Phase.CONFLICT
            self._events.append(outcome)
            retry = self.probe_config.retry_after
            self._set_deadline(state, None if retry is None else now + retry)

    def _announce(self, state: _Address, now: float) -> None:
        self._releasing.pop(state.ip.packed, None)
        state.phase = Phase.ANNOUNCED
        state.deadline = None
        names = self._names(state)
        self._schedule.withdraw(state.ip)
        self._schedule.takeover(state.ip, now, interfaces=names)
        self._events.append(AddressAnnounced(state.ip, tuple(sorted(names))))
        self._dirty = True

    def _forget(self, ip: IPAddress) -> None:
        state = self._addresses.pop(ip)
        self._probes.pop(ip.packed, None)
        self._releasing.pop(ip.packed, None)
        self._schedule.withdraw(ip)
        if state.phase in (Phase.ANNOUNCED, Phase.RELEASING):
            self._dirty = True

    def _set_deadline(self, state: _Address, when: float | None) -> None:
        state.deadline = when
        if when is not None:
            self._seq += 1
            heapq.heappush(self._timers, (when, self._seq, state.ip))

    def _next_timer(self) -> float | None:
        timers = self._timers
        while timers:
            when, _, ip = timers[0]
            state = self._addresses.get(ip)
            if state is not None and state.deadline == when:
                return when
            heapq.heappop(timers)
        return None

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, ip = heapq.heappop(timers)
            state = self._addresses.get(ip)
            if state is None or state.deadline != when:
                continue
            if state.phase is Phase.RELEASING:
                self._forget(ip)
                self._events.append(AddressReleased(ip))
            elif state.phase is Phase.CONFLICT:
                self._begin(state, now)
        for probe in [p for p in self._probes.values() if (d := p.next_deadline()) is not None and d <= now]:
            self._settle(probe, now)
        self._outgoing.extend(self._schedule.handle_timer(now))
        if self._dirty:
            self._dirty = False
            self.responder.set_table(
                {
                    ip: state.allowed
                    for ip, state in self._addresses.items()
                    if state.phase in (Phase.ANNOUNCED, Phase.RELEASING)
                }
            )


__all__ = ["AddressAnnounced", "AddressReleased", "Event", "Ownership", "Phase", "Takeover"]
