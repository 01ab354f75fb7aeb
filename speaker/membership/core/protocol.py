"""The membership protocol: which speakers are alive, decided among the speakers themselves, in about 400 ms.

Theory of operation
-------------------
Every speaker runs one :class:`Membership`. It is sans-IO (style anchors 1 and 2): it is fed
``receive_datagram(data, address, now)`` and ``handle_timer(now)``, returns events, and queues datagrams that
the adapter takes with :meth:`Membership.datagrams_to_send` and sends; :meth:`Membership.next_deadline` says when
to call ``handle_timer`` next. ``now`` is any monotonic clock in seconds; the core never reads one.

**Probing (O(N) per interval).** Live members and the local node are placed on a ring ordered by SHA-256 of the
node name (members.py). Every ``probe_interval`` each node sends a PING to each of its ``probe_fanout`` (k)
successors, which answer with an ACK: 2kN datagrams per interval for the cluster, 2k sent per node, whatever N.
Every member is therefore probed by its k ring predecessors, and every authenticated datagram from a member,
not only an ACK, counts as "heard from".

**Detection (SWIM with Lifeguard's refinements).** When a probed member has been silent for ``suspect_after``,
the prober *suspects* it (locally; the member stays in the live set) and *confirms*: it pings it again, tells it
that it is suspected (so that a live member refutes by raising its incarnation, SWIM section 4.2), and asks
``indirect_probes`` other members to ping it on its behalf (SWIM's ping-req). A helper forwards the suspect's ack,
or answers NACK after ``indirect_timeout`` (Lifeguard, Dadgar et al. 2018, section 4.3). Any answer from or for
the suspect within ``confirm_timeout`` clears the suspicion. Otherwise the prober declares it FAILED and sends
that to every member at once (O(N) per event), and every node piggybacks it on later traffic for robustness.
If a confirmation round got neither an ack nor a NACK from helpers that are still believed healthy, the prober
doubts its own network and runs another round, up to ``confirm_rounds`` in total. (detector.py holds this part.)

**Second-hand verdicts.** A FAILED claim is believed at once when a live member sends it in ordinary traffic
(the detector's broadcast, or piggybacked copies), because that is how a failure reaches everyone within one
hop. It is *confirmed locally instead* (this node suspects and probes itself) when it arrives in a full-state
SYNC, or from a sender we hold as failed, or about a member we heard from within ``suspect_after``: those are
the signatures of stale news, typically from the other side of a partition that just healed. A genuine failure
is declared at least ``suspect_after + confirm_timeout`` after the member's last datagram, so nobody can have
heard from it that recently, and the fast path is never slowed down.

Timing model (defaults: probe 100 ms, suspect 250 ms, confirm 150 ms, helper wait 90 ms)::

    t0                      the member dies; its last ack reached the prober in [t0 - probe_interval, t0]
    t0 + 150..250 ms        the prober has heard nothing for suspect_after: confirmation starts
    t0 + 240..340 ms        helpers' NACKs arrive (helper wait 90 ms + two LAN hops)
    t0 + 300..400 ms        confirm_timeout expires: MemberFailed on the prober, FAILED sent to every member
    + one LAN hop           MemberFailed on every other node

So detection is bounded by ``suspect_after + confirm_timeout`` (400 ms), or by ``suspect_after + confirm_rounds
* confirm_timeout`` (550 ms) when helpers stay silent, plus how late the prober's timers run. All three scale
together with :meth:`MembershipConfig.scaled`. One correlated case is slower: when a member and all k of its ring
predecessors die together, nobody watches it until the predecessors are declared; it is then probed at once
and declared about ``2 * probe_interval + confirm_timeout`` later (about 650 ms in all with the defaults).

**CPU stalls.** These machines are small and busy, and a stalled process looks dead. Two rules keep a stall from
turning into a false failure:

* A stall of the *probed* node for X ms: while X < ``suspect_after`` nothing happens; while X is below the
  confirmation window (``suspect_after + confirm_timeout`` minus up to one probe interval) its probers suspect it
  (MemberSuspected) and clear it as soon as it wakes, reads the queued pings and answers (MemberAlive); the live
  set never changes. Only a stall longer than the window gets it declared failed; when it wakes it reads the
  FAILED claim about itself, raises its incarnation and tells everyone, and they take it back (MemberJoined):
  a brief false failover, the price of sub-second detection. Lengthen the timers for nodes known to stall.
* A stall of the *prober* (its timers fire late): the core notices that it is entered later than its own
  deadline by more than ``stall_tolerance`` and moves every silence clock forward by the excess (and at least to
  two probe intervals from now), so the silence of others while it was not running is not held against them:
  it probes again and waits for the answers before suspecting anyone. A stall of the prober delays its own
  detections by the length of the stall plus up to two probe intervals, and nothing else. When every node
  stalls at once (the whole machine starved), nobody is declared failed.

**Replay and authentication.** Every datagram carries an HMAC-SHA256 trailer (codec.py) and the sender's epoch and
sequence number (replay.py). Forged, malformed and replayed datagrams are dropped and reported as
:class:`PacketDropped` with a :class:`DropReason`.

**Joining, leaving, metadata.** ``join(seeds)`` sends a SYNC (our own entry) to every seed, retried every
``join_retry_interval``; a seed answers with its full state, and we then announce ourselves to every member
it told us about. Unknown seeds keep being tried every ``reconnect_interval``. ``leave()`` sends LEAVE to every
member ``leave_repeats`` times, ``leave_repeat_interval`` apart; receivers report MemberLeft at once.
``set_metadata()`` raises our incarnation and sends the new entry to every member: MemberMetadataChanged.

**Partitions.** During a partition each side's probers declare the other side failed (each side still has
helpers to NACK), so each side sees a live set of its own side only, and each side's L2 election picks an owner
for every address among its own nodes. Addresses owned on the far side get a second owner: both announce
(dual announcement). On a real L2 split each client only hears the owner on its own side, which is what one
wants; if only the membership traffic is cut (a firewall on the UDP port) while the LAN is whole, clients see two
MACs answering and the last gratuitous ARP wins until the partition heals. A node cut off from *everyone* ends
up believing it is alone (after one detection period per k of its ring successors) and elects itself for every
address it is a candidate for; the others have declared it failed and elected new owners.

Healing: every node keeps pinging ``reconnect_fanout`` of its failed members every ``reconnect_interval`` (and
its unknown seeds). When a datagram from a member we hold as FAILED arrives, we send it the FAILED claim; it
refutes with a higher incarnation and sends its ALIVE to every member it knows, failed ones included, and both
sides take it back. So a partition heals within about one ``reconnect_interval`` plus a round trip, with each
node refuting once. Healing only *adds* members: the stale FAILED claims each side carries about the other are
confirmed, not believed (see second-hand verdicts), so nobody sees its own side flap. Full-state SYNCs every
``sync_interval`` repair whatever gossip was lost.
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from speaker.membership.core.codec import (
    Ack,
    Address,
    Body,
    Datagram,
    Gossip,
    Leave,
    MemberState,
    MemberUpdate,
    Nack,
    Ping,
    PingReq,
    Sync,
    canonical_address,
    decode_datagram,
    encode_body,
    encode_datagram,
    encode_update,
    overhead,
)
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.detector import FailureDetector
from speaker.membership.core.errors import DecodeError, DropReason, MembershipError
from speaker.membership.core.events import (
    MemberFailed,
    MemberJoined,
    MemberMetadataChanged,
    MembershipEvent,
    PacketDropped,
)
from speaker.membership.core.gossip import GossipQueue
from speaker.membership.core.members import GONE, Member, MemberTable
from speaker.membership.core.replay import ReplayGuard
from speaker.membership.core.view import MemberInfo, MembershipView

MIN_KEY_BYTES = 16


class RunState(enum.Enum):
    RUNNING = "running"
    LEAVING = "leaving"  # LEAVE repeats still to send; everything received is dropped
    LEFT = "left"  # done; the adapter may close the socket


class Membership:
    """One node's membership protocol (sans-IO). See the module docstring for the whole design."""

    def __init__(
        self,
        *,
        name: str,
        address: Address,
        epoch: int,
        keys: Sequence[bytes],
        metadata: bytes = b"",
        config: MembershipConfig | None = None,
        seed: int | None = None,
    ) -> None:
        """Args:
        name: this node's name (the Kubernetes node name); the identity in every datagram.
        address: where other members reach us (IP literal, UDP port), advertised in our entry.
        epoch: boot id of this process, larger than any earlier one of the same name (e.g. start time in ms).
        keys: accepted HMAC-SHA256 keys, each at least 16 bytes; the first signs what we send.
        metadata: initial metadata (at most ``config.max_metadata`` bytes).
        config: timers and sizes; defaults detect a failure in about 400 ms.
        seed: seed of the pseudo-random choices (helpers, sync partner); default derived from name and epoch.
        Raises:
        MembershipError: a setting, key, name or metadata is invalid (the message says which and the fix).
        """
        self.config = config or MembershipConfig()
        self.config.validate()
        self.name = name
        self.address = canonical_address(address)
        self.epoch = epoch
        self._keys: tuple[bytes, ...] = ()
        self.set_keys(keys)
        self._check_metadata(metadata)
        encode_update(MemberUpdate(MemberState.ALIVE, name, epoch, 0, address, metadata))  # validates name/address
        self._metadata = metadata
        self._incarnation = 0
        self._seq = 0
        self._rng = random.Random(seed if seed is not None else f"{name}/{epoch}")
        self._table = MemberTable(name)
        self._replay = ReplayGuard(self.config.replay_window)
        self._gossip = GossipQueue()
        self._outbox: list[tuple[bytes, Address]] = []
        self._pending: list[MembershipEvent] = []
        self.state = RunState.RUNNING
        #: datagrams dropped, by reason (also reported one by one as PacketDropped events)
        self.drops: Counter[DropReason] = Counter()
        #: sent / received datagrams, stalls noticed, refutations, failures declared by this node, ...
        self.stats: Counter[str] = Counter()
        # timers (absolute, on the caller's clock); None until the first call that brings a ``now``
        self._now: float | None = None
        self._armed: float | None = None  # the timer deadline we last returned: entering later = a stall
        self._immediate = False  # a command queued work that should run at once
        self._next_reconnect = 0.0
        self._next_sync = 0.0
        self._seed_due: float | None = None
        self._seed_attempts = 0
        self._seeds: tuple[Address, ...] = ()
        self._leave_due: float | None = None
        self._leave_left = 0
        self._reconnect_cursor = 0
        self._detector = FailureDetector(
            local=name, config=self.config, table=self._table, rng=self._rng, send=self._send, declare=self._declare
        )
        self._told_dead: dict[str, float] = {}  # rate limits, by member name
        self._asked_state: dict[str, float] = {}
        self._strangers: dict[str, float] = {}  # authenticated senders not (yet) in the table -> last seen

    # ===== commands (they only queue; the caller then flushes and re-arms its timer) ===========================
    def join(self, seeds: Iterable[Address]) -> None:
        """Contact ``seeds`` (addresses of other speakers) now, and retry until one answers."""
        self._seeds = tuple(dict.fromkeys(canonical_address(s) for s in seeds))
        self._seed_attempts = 0
        self._seed_due = self._now if self._now is not None else 0.0
        self._immediate = True

    def set_seeds(self, seeds: Iterable[Address]) -> None:
        """Replace the seed list (e.g. speaker pod IPs refreshed from the API); new seeds are tried soon."""
        self._seeds = tuple(dict.fromkeys(canonical_address(s) for s in seeds))
        if self._seed_due is None:
            self._seed_due = self._now if self._now is not None else 0.0
            self._immediate = True

    def leave(self) -> None:
        """Leave for good: LEAVE goes to every member ``leave_repeats`` times; then :attr:`state` is LEFT."""
        if self.state != RunState.RUNNING:
            return
        self.state = RunState.LEAVING
        self._leave_left = self.config.leave_repeats
        self._leave_due = self._now if self._now is not None else 0.0
        self._immediate = True

    def set_metadata(self, metadata: bytes) -> None:
        """Publish new metadata: raises our incarnation and sends our entry to every member."""
        self._check_metadata(metadata)
        if metadata == self._metadata or self.state != RunState.RUNNING:
            return
        self._metadata = metadata
        self._incarnation += 1
        self._announce_self(include_gone=False)
        self._pending.append(MemberMetadataChanged(self.name, metadata, (self.epoch, self._incarnation)))
        self._immediate = True

    def set_keys(self, keys: Sequence[bytes]) -> None:
        """Replace the accepted keys (rotation: put the new key first once every node accepts it)."""
        keys = tuple(bytes(k) for k in keys)
        if not keys:
            raise MembershipError("Membership needs at least one key; pass the bytes of the memberlist Secret.")
        for k in keys:
            if len(k) < MIN_KEY_BYTES:
                raise MembershipError(
                    f"A membership key is {len(k)} bytes; use at least {MIN_KEY_BYTES} random bytes in the Secret."
                )
        self._keys = keys

    def _check_metadata(self, metadata: bytes) -> None:
        if len(metadata) > self.config.max_metadata:
            raise MembershipError(
                f"Membership metadata of node {self.name!r} is {len(metadata)} bytes; the limit is "
                f"{self.config.max_metadata}. Publish less (e.g. interface names only) or raise max_metadata."
            )

    # ===== outputs =============================================================================================
    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Datagrams queued since the last call, with their destination; the caller sends them in order."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> float | None:
        """When to call :meth:`handle_timer` next (absolute, on ``now``'s clock), or ``None`` once LEFT."""
        if self.state == RunState.LEFT:
            return None
        if self._now is None:
            return 0.0  # never run yet: start at once (the caller passes max(deadline, its clock))
        if self._immediate or self._pending:
            return self._now
        return self._armed

    @property
    def incarnation(self) -> int:
        return self._incarnation

    @property
    def metadata(self) -> bytes:
        return self._metadata

    def view(self) -> MembershipView:
        """The live members (suspects included: they are alive until declared failed) and the local node."""
        members = [MemberInfo(m.name, m.address, m.metadata) for m in self._table.live()]
        members.append(MemberInfo(self.name, self.address, self._metadata))
        return MembershipView.of(self.name, members)

    def member_states(self) -> dict[str, MemberState]:
        """Every known member (the local node excluded) and its state, for diagnostics and tests."""
        return {m.name: m.state for m in self._table}

    def watched(self) -> frozenset[str]:
        """The ring successors this node probes (diagnostics and tests)."""
        return frozenset(self._detector.monitored)

    def suspects(self) -> frozenset[str]:
        """The members this node is confirming right now (diagnostics and tests)."""
        return frozenset(self._detector.confirming)

    def member(self, name: str) -> Member | None:
        """The record of one member (read-only use: diagnostics and tests)."""
        return self._table.get(name)

    def counts(self) -> dict[MemberState, int]:
        """How many members are in each state, the local node counted as alive (for the members gauge)."""
        counts = dict.fromkeys(MemberState, 0)
        counts[MemberState.ALIVE] += 1 if self.state == RunState.RUNNING else 0
        for m in self._table:
            counts[m.state] += 1
        return counts

    # ===== inputs ==============================================================================================
    def receive_datagram(self, data: bytes, address: Address, now: float) -> list[MembershipEvent]:
        """Feed one received UDP payload. Never raises for bad input: drops are reported as PacketDropped.

        Args:
            data: the UDP payload.
            address: the (host, port) it came from; answers go there.
            now: the current time on the caller's monotonic clock, in seconds.
        Returns:
            The events this datagram caused (and any queued by commands since the last call).
        """
        events = self._enter(now)
        self.stats["received"] += 1
        if self.state != RunState.RUNNING:
            return self._exit(events, self._drop(DropReason.NOT_RUNNING, address, "this node has left"))
        try:
            dg = decode_datagram(data, self._keys)
        except DecodeError as exc:
            return self._exit(events, self._drop(exc.reason, address, exc.detail))
        if dg.sender == self.name:
            return self._exit(events, self._drop(DropReason.FROM_SELF, address, "datagram claims to be from us"))
        if isinstance(dg.body, Ping) and dg.body.target != self.name:
            return self._exit(events, self._drop(DropReason.WRONG_TARGET, address, f"ping for {dg.body.target!r}"))
        reason = self._replay.check(dg.sender, dg.epoch, dg.seq)
        if reason is not None:
            return self._exit(events, self._drop(reason, address, f"from {dg.sender!r} seq {dg.seq}"))
        if self._table.get(dg.sender) is None:
            self._strangers[dg.sender] = now
        sender = self._table.get(dg.sender)
        trusted = sender is not None and sender.live and not isinstance(dg.body, Sync)
        if isinstance(dg.body, Leave):
            leaving = MemberUpdate(MemberState.LEFT, dg.sender, dg.epoch, dg.incarnation)
            self._merge((leaving, *dg.body.updates), now, events, trusted=trusted)
            return self._exit(events)
        joined = self._merge(dg.body.updates, now, events, trusted=trusted)
        self._heard(dg, address, now, events)
        self._dispatch(dg, address, now, events, joined)
        return self._exit(events)

    def handle_timer(self, now: float) -> list[MembershipEvent]:
        """Run whatever is due at ``now``. Call it at :meth:`next_deadline` (or later; never earlier is needed)."""
        events = self._enter(now)
        self._immediate = False
        if self.state == RunState.LEAVING:
            self._tick_leave(now)
        elif self.state == RunState.RUNNING:
            if self._seed_due is not None and now >= self._seed_due:
                self._tick_seeds(now)
            self._detector.tick(now, events)
            if now >= self._next_reconnect:
                self._tick_reconnect(now)
            if self.config.sync_interval and now >= self._next_sync:
                self._tick_sync(now)
        return self._exit(events)

    # ===== entering and leaving every input ====================================================================
    def _enter(self, now: float) -> list[MembershipEvent]:
        if self._now is None:
            self._detector.next_probe = now
            self._next_reconnect = now + self.config.reconnect_interval
            self._next_sync = now + self.config.sync_interval * (0.5 + self._rng.random())
        elif self._armed is not None and now - self._armed > self.config.stall_tolerance:
            self._forgive_stall(now - self._armed - self.config.stall_tolerance, now)
        self._now = now if self._now is None else max(self._now, now)
        events, self._pending = self._pending, []
        return events

    def _exit(self, events: list[MembershipEvent], *more: MembershipEvent) -> list[MembershipEvent]:
        events.extend(more)
        if self.state == RunState.RUNNING and self._now is not None:
            self._detector.refresh(self._now)  # the live set may have changed: watch the new ring neighbours
        self._armed = self._compute_deadline()
        return events

    def _forgive_stall(self, gap: float, now: float) -> None:
        """We were not running for ``gap`` seconds beyond our deadline: that silence is not others' fault.

        Every silence clock moves forward by the gap, and at least to ``grace_start(now)``: nobody is suspected
        before the probes we send now have had two probe intervals to be answered.
        """
        self.stats["stalls"] += 1
        floor = self._detector.grace_start(now)
        for member in self._table:
            member.last_heard = max(member.last_heard + gap, floor) if member.live else member.last_heard + gap
        self._detector.shift(gap, floor)

    def _compute_deadline(self) -> float | None:
        if self.state == RunState.LEFT:
            return None
        if self.state == RunState.LEAVING:
            return self._leave_due
        due = [self._next_reconnect, *self._detector.deadlines()]
        if self.config.sync_interval:
            due.append(self._next_sync)
        if self._seed_due is not None:
            due.append(self._seed_due)
        return min(due)

    def _drop(self, reason: DropReason, address: Address, detail: str) -> PacketDropped:
        self.drops[reason] += 1
        return PacketDropped(reason, address, detail)

    # ===== sending =============================================================================================
    def _local_update(self) -> MemberUpdate:
        return MemberUpdate(MemberState.ALIVE, self.name, self.epoch, self._incarnation, self.address, self._metadata)

    def _send(self, body: Body, address: Address, *, piggyback: bool = True) -> None:
        """Queue ``body`` for ``address``, filling the room left with piggybacked updates."""
        if piggyback:
            room = self.config.max_datagram - overhead(self.name) - len(encode_body(body))
            carried = frozenset(u.name for u in body.updates)
            extra = self._gossip.take(room, skip=carried)
            if extra:
                body = replace(body, updates=(*body.updates, *extra))
        self._seq += 1
        data = encode_datagram(
            body, sender=self.name, epoch=self.epoch, seq=self._seq, incarnation=self._incarnation, key=self._keys[0]
        )
        self._outbox.append((data, address))
        self.stats["sent"] += 1

    def _send_full_state(self, address: Address, *, reply_wanted: bool) -> None:
        """Our whole table as SYNC datagrams that each fit ``max_datagram``; only the first asks for a reply."""
        updates = [self._local_update(), *(m.as_update() for m in self._table if m.address is not None)]
        room = self.config.max_datagram - overhead(self.name) - len(encode_body(Sync(False)))
        chunk: list[MemberUpdate] = []
        used = 0
        first = True
        for update in updates:
            size = len(encode_update(update))
            if chunk and used + size > room:
                self._send(Sync(reply_wanted and first, tuple(chunk)), address, piggyback=False)
                chunk, used, first = [], 0, False
            chunk.append(update)
            used += size
        self._send(Sync(reply_wanted and first, tuple(chunk)), address, piggyback=False)

    def _destinations(self, *, include_gone: bool) -> list[Address]:
        states = (MemberState.ALIVE, MemberState.SUSPECT, MemberState.FAILED)
        members = self._table.in_state(*states) if include_gone else self._table.live()
        return [m.address for m in members if m.address is not None]

    def _announce_self(self, *, include_gone: bool) -> None:
        """Send our current entry to every member (and queue it for piggybacking)."""
        update = self._local_update()
        self._gossip.enqueue(update, self._transmits())
        for address in self._destinations(include_gone=include_gone):
            self._send(Gossip((update,)), address)

    def _transmits(self) -> int:
        return self.config.retransmits(len(self._table.live()) + 1)

    # ===== merging what we hear ================================================================================
    def _merge(
        self, updates: Iterable[MemberUpdate], now: float, events: list[MembershipEvent], *, trusted: bool
    ) -> int:
        """Apply piggybacked claims; returns how many members joined.

        A FAILED claim about a member we hold as live is taken at its word only when it is *trusted*: carried by
        a live member in ordinary traffic (the detector's broadcast and its piggybacked copies), and about a member
        we have not heard from ourselves within ``suspect_after``. Otherwise (a full-state SYNC, a sender we hold
        as failed: typically stale news arriving across a partition that just healed; or a member that spoke to
        us a moment ago) we confirm it ourselves first, as memberlist does with dead nodes in a push-pull. A
        genuine failure is still accepted at once: it is declared at least ``suspect_after + confirm_timeout``
        after the member's last datagram, so nobody can have heard from it within ``suspect_after``.
        """
        joined = 0
        for update in updates:
            if len(update.metadata) > self.config.max_metadata:
                self.stats["oversized_updates"] += 1  # we could neither store nor pass it on within our limits
                continue
            if update.state == MemberState.FAILED and update.name != self.name:
                member = self._table.get(update.name)
                fresh = member is not None and now - member.last_heard < self.config.suspect_after
                if member is not None and member.live and update.version >= member.version and (fresh or not trusted):
                    if member.state == MemberState.ALIVE:
                        self._detector.suspect(member, now, events)
                    continue
            applied = self._table.apply(update, (self.epoch, self._incarnation), now)
            if applied.refute_above is not None:
                self._refute(applied.refute_above)
            if applied.changed:
                record = self._table.get(update.name)
                self._gossip.enqueue(record.as_update() if record else update, self._transmits())
                joined += sum(1 for e in applied.events if isinstance(e, MemberJoined))
            events.extend(applied.events)
            self._detector.settle(update.name)
        return joined

    def _refute(self, above: int) -> None:
        """Someone claims we are suspect/failed (or knows a newer us): outbid it and tell everyone, SWIM 4.2."""
        self._incarnation = max(self._incarnation, above) + 1
        self.stats["refutations"] += 1
        self._announce_self(include_gone=True)

    def _heard(self, dg: Datagram, address: Address, now: float, events: list[MembershipEvent]) -> None:
        """Any authenticated datagram from a member proves it alive now (replay protection made sure of 'now')."""
        record = self._table.get(dg.sender)
        if record is None:
            self._ask_for_state(dg.sender, address, now)
            return
        if not record.live:
            if record.state == MemberState.FAILED and dg.version <= record.version:
                self._tell_dead(record, address, now)
            elif dg.version > record.version:
                self._ask_for_state(dg.sender, address, now)
            return
        record.last_heard = now
        if record.state == MemberState.SUSPECT:
            self._detector.clear(record, now, events)
        if dg.version > record.version:
            self._ask_for_state(dg.sender, address, now)

    def _tell_dead(self, record: Member, address: Address, now: float) -> None:
        """A member we hold as FAILED is talking to us: tell it, so that it refutes and rejoins."""
        if now - self._told_dead.get(record.name, -1e18) < self.config.probe_interval:
            return
        self._told_dead[record.name] = now
        self._send(Gossip((record.as_update(),)), address)

    def _ask_for_state(self, name: str, address: Address, now: float) -> None:
        """A sender is unknown, or newer than we know: ask it for its full state (rate-limited per sender)."""
        if now - self._asked_state.get(name, -1e18) < self.config.reconnect_interval:
            return
        self._asked_state[name] = now
        self._send(Sync(True, (self._local_update(),)), address, piggyback=False)

    # ===== message handlers ====================================================================================
    def _dispatch(self, dg: Datagram, address: Address, now: float, events: list[MembershipEvent], joined: int) -> None:
        match dg.body:
            case Ping(probe_id):
                self._send(Ack(probe_id, self.name), address)
            case Ack(probe_id, subject):
                self._detector.on_ack(dg.sender, probe_id, subject, now, events)
            case Nack(probe_id, subject):
                self._detector.on_nack(probe_id, subject)
            case PingReq(probe_id, target, target_address):
                self._detector.on_ping_req(probe_id, target, target_address, address, now)
            case Sync(reply_wanted):
                if reply_wanted:
                    self._send_full_state(address, reply_wanted=False)
                elif joined:
                    self._seed_attempts = max(self._seed_attempts, self.config.join_fast_attempts)
                    self._announce_self(include_gone=False)
            case Gossip() | Leave():
                pass

    # ===== timers ==============================================================================================
    def _declare(self, member: Member, now: float, events: list[MembershipEvent]) -> None:
        """The detector's verdict: ``member`` failed. Record it and tell every member at once."""
        after = max(0.0, now - member.last_heard)
        member.detected_by, member.after_ms = self.name, round(after * 1000)
        self._table.set_state(member, MemberState.FAILED, now)
        self.stats["failures_declared"] += 1
        events.append(MemberFailed(member.name, self.name, after))
        update = member.as_update()
        self._gossip.enqueue(update, self._transmits())
        # Everyone at once (the event is O(N)); the member too, so that it refutes if it is in fact alive.
        for address in [*self._destinations(include_gone=False), member.address]:
            if address is not None:
                self._send(Gossip((update,)), address)

    def _tick_seeds(self, now: float) -> None:
        live_addresses = {m.address for m in self._table.live()}
        for seed in self._seeds:
            if seed != self.address and seed not in live_addresses:
                self._send(Sync(True, (self._local_update(),)), seed, piggyback=False)
        self._seed_attempts += 1
        fast = self._seed_attempts < self.config.join_fast_attempts and not self._table.live()
        self._seed_due = now + (self.config.join_retry_interval if fast else self.config.reconnect_interval)

    def _tick_reconnect(self, now: float) -> None:
        """Probe a few failed members (partition healing), then forget what is too old."""
        self._next_reconnect = now + self.config.reconnect_interval
        failed = self._table.in_state(MemberState.FAILED)
        for i in range(min(self.config.reconnect_fanout, len(failed))):
            member = failed[(self._reconnect_cursor + i) % len(failed)]
            if member.address is not None:
                self._send(Ping(self._detector.next_probe_id(), member.name), member.address)
        self._reconnect_cursor += self.config.reconnect_fanout
        self._collect_garbage(now)

    def _tick_sync(self, now: float) -> None:
        self._next_sync = now + self.config.sync_interval
        live = sorted(m.name for m in self._table.live())
        if live:
            partner = self._table.get(self._rng.choice(live))
            if partner is not None and partner.address is not None:
                self._send_full_state(partner.address, reply_wanted=True)

    def _tick_leave(self, now: float) -> None:
        if self._leave_due is None or now < self._leave_due:
            return
        states = (MemberState.ALIVE, MemberState.SUSPECT, MemberState.FAILED)
        for member in self._table.in_state(*states):
            if member.address is not None:
                self._send(Leave(), member.address, piggyback=False)
        self._leave_left -= 1
        if self._leave_left <= 0:
            self.state = RunState.LEFT
            self._leave_due = None
        else:
            self._leave_due = now + self.config.leave_repeat_interval

    def _collect_garbage(self, now: float) -> None:
        retention = self.config.dead_retention
        for member in list(self._table):
            if member.state in GONE and now - member.since > retention:
                self._table.forget(member.name)
                self._replay.forget(member.name)
                self._gossip.discard(member.name)
        for name, seen in list(self._strangers.items()):
            if self._table.get(name) is not None:
                del self._strangers[name]
            elif now - seen > retention:
                del self._strangers[name]
                self._replay.forget(name)
        horizon = 2 * self.config.reconnect_interval
        for limits in (self._told_dead, self._asked_state):
            for name, at in list(limits.items()):
                if now - at > horizon:
                    del limits[name]


__all__ = ["Membership", "RunState"]
