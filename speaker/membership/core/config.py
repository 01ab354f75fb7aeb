"""Tunables of the membership protocol, with defaults that detect a hard failure in about 400 ms.

Theory of operation
-------------------
Detection time is bounded by three numbers (see :mod:`speaker.membership.core.protocol` for the whole model):

    detection <= suspect_after + confirm_timeout                   (typical: 250 + 150 = 400 ms)
    detection <= suspect_after + confirm_rounds * confirm_timeout  (when a helper stays silent: 550 ms)

``probe_interval`` only sets how often live members prove themselves; it must be well below ``suspect_after`` so
that one lost ping or ack does not start a suspicion. Everything else (reconnection, anti-entropy, leaving) is
about robustness, not speed. :meth:`MembershipConfig.scaled` stretches or shrinks all the detection timers at
once for users who prefer fewer packets over speed (``scaled(4.0)``: ~1.6 s detection, a quarter of the probes).

Invariants are checked in :meth:`MembershipConfig.validate`, which raises :class:`MembershipError` with a
sentence naming the field and the fix; the protocol object calls it in its constructor.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from speaker.membership.core.errors import MembershipError


@dataclass(frozen=True, slots=True)
class MembershipConfig:
    """Timers in seconds, sizes in bytes, counts in packets or members."""

    #: Every ``probe_interval`` a node pings each of its ring successors.
    probe_interval: float = 0.1
    #: How many ring successors each node probes (k). Traffic is about 2 * k * N datagrams per interval.
    probe_fanout: int = 3
    #: Silence (no authenticated datagram from a probed member) after which confirmation starts.
    suspect_after: float = 0.25
    #: How long a confirmation (a direct ping plus ``indirect_probes`` ping-requests) waits for any answer.
    confirm_timeout: float = 0.15
    #: How many other members are asked to ping a suspect on our behalf (SWIM's indirect probe, k in the paper).
    indirect_probes: int = 2
    #: How long a helper waits for the suspect's ack before it answers the requester with a NACK.
    indirect_timeout: float = 0.09
    #: A confirmation in which no helper answered at all (neither ack nor NACK) is repeated this many times in
    #: total before the member is declared failed anyway: silence from helpers hints that *we* are the problem.
    confirm_rounds: int = 2
    #: A timer that fires later than this is taken as a stall of this node (CPU starvation, GC, SIGSTOP):
    #: the silence of others during our own stall is not held against them (see the protocol's timing model).
    stall_tolerance: float = 0.05
    #: How often failed members and unreachable seeds are probed, to heal partitions and rejoin.
    reconnect_interval: float = 1.0
    #: How many failed members are probed per reconnect tick (round robin), so healing stays O(N) per tick.
    reconnect_fanout: int = 3
    #: Retry period of the initial join until a seed answers (then ``reconnect_interval`` takes over).
    join_retry_interval: float = 0.25
    #: Join attempts at ``join_retry_interval`` before falling back to the slower ``reconnect_interval``.
    join_fast_attempts: int = 4
    #: Anti-entropy: a full-state exchange with one random member this often (0 disables).
    sync_interval: float = 10.0
    #: ``leave()`` sends LEAVE to every member this many times ...
    leave_repeats: int = 3
    #: ... this far apart.
    leave_repeat_interval: float = 0.02
    #: Each membership update is piggybacked ``retransmit_mult * ceil(log2(N + 1))`` times (SWIM dissemination).
    retransmit_mult: int = 3
    #: Failed and left members are remembered (and failed ones probed) this long, then forgotten.
    dead_retention: float = 300.0
    #: Largest datagram we build; piggybacked updates and sync chunks are packed to stay under it.
    max_datagram: int = 1400
    #: Largest per-member metadata accepted from the local node.
    max_metadata: int = 512
    #: Reordering window of the replay guard, in sequence numbers per sender.
    replay_window: int = 256

    # -- derived --------------------------------------------------------------------------------------------
    @property
    def detection_bound(self) -> float:
        """Time from the last datagram heard from a member to its declaration, when helpers answer."""
        return self.suspect_after + self.confirm_timeout

    @property
    def detection_bound_worst(self) -> float:
        """The same bound when every confirmation round has to be repeated because helpers stayed silent."""
        return self.suspect_after + self.confirm_rounds * self.confirm_timeout

    def retransmits(self, members: int) -> int:
        """How many times one update is piggybacked by each node, for a cluster of ``members`` nodes."""
        return self.retransmit_mult * max(1, math.ceil(math.log2(members + 1)))

    def scaled(self, factor: float) -> MembershipConfig:
        """The same protocol with every detection timer multiplied by ``factor`` (> 1 is slower and quieter)."""
        if not factor > 0:
            raise MembershipError(f"Membership timer scale {factor!r} is not positive; use a factor such as 2.0.")
        return dataclasses.replace(
            self,
            probe_interval=self.probe_interval * factor,
            suspect_after=self.suspect_after * factor,
            confirm_timeout=self.confirm_timeout * factor,
            indirect_timeout=self.indirect_timeout * factor,
            stall_tolerance=self.stall_tolerance * factor,
        )

    def validate(self) -> None:
        """Raise :class:`MembershipError` naming the first field that breaks an invariant, and the fix."""
        positive = (
            "probe_interval",
            "suspect_after",
            "confirm_timeout",
            "indirect_timeout",
            "stall_tolerance",
            "reconnect_interval",
            "join_retry_interval",
            "leave_repeat_interval",
            "dead_retention",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise MembershipError(f"Membership setting {name}={value!r} must be a positive number of seconds.")
        at_least_one = ("probe_fanout", "confirm_rounds", "leave_repeats", "retransmit_mult", "join_fast_attempts")
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise MembershipError(f"Membership setting {name}={getattr(self, name)!r} must be at least 1.")
        for name in ("indirect_probes", "reconnect_fanout"):
            if getattr(self, name) < 0:
                raise MembershipError(f"Membership setting {name}={getattr(self, name)!r} must not be negative.")
        if self.sync_interval < 0:
            raise MembershipError(f"Membership setting sync_interval={self.sync_interval!r} must be >= 0 (0 = off).")
        if self.suspect_after < 2 * self.probe_interval:
            raise MembershipError(
                f"Membership setting suspect_after={self.suspect_after} is shorter than two probe intervals "
                f"({2 * self.probe_interval}); one lost ping would start a suspicion. Raise suspect_after or "
                "lower probe_interval."
            )
        if self.indirect_timeout >= self.confirm_timeout:
            raise MembershipError(
                f"Membership setting indirect_timeout={self.indirect_timeout} must be shorter than "
                f"confirm_timeout={self.confirm_timeout}, so that a helper's NACK arrives before the requester "
                "gives up."
            )
        if self.max_datagram < 512 or self.max_datagram > 65000:
            raise MembershipError(
                f"Membership setting max_datagram={self.max_datagram} must be between 512 and 65000 bytes."
            )
        if self.max_metadata > self.max_datagram - 400:
            raise MembershipError(
                f"Membership setting max_metadata={self.max_metadata} leaves no room in a {self.max_datagram}-byte "
                "datagram; keep it at least 400 bytes below max_datagram."
            )
        if self.replay_window < 1:
            raise MembershipError(f"Membership setting replay_window={self.replay_window} must be at least 1.")


__all__ = ["MembershipConfig"]
