"""How an address moves between speakers: the takeover mode of the new owner, the grace of the old one, and the
planned stop of a speaker as a script of steps (pure: time is an argument).

Theory of operation
-------------------
An L2 address is answered by one speaker at a time; when it moves, clients must never find nobody answering.
Three cases (see :mod:`speaker.l2.core.ownership` for the modes):

================  =========================================  ====================================================
cause             the new owner                              the old owner
================  =========================================  ====================================================
new allocation    PROBE: any answer is a foreign host        (none)
failover          PROBE_IGNORING_SPEAKERS: the dead owner's  (dead)
                  MACs are ignored, a foreign host is not
planned move      PROBE_IGNORING_SPEAKERS: the old owner     ``release(after=grace)``: stops its gratuitous
(LEAVE, or lost   still answers during the probe, and its    packets at once, keeps answering requests until
to a live node)   MACs (from membership) are ignored         it sees the new owner's gratuitous ARP / unsolicited
                                                             NA from a known speaker MAC, at most ``grace`` >
                                                             probe + decision time, then goes quiet
resumed           PROBE_IGNORING_SPEAKERS (start-up,         (unknown: possibly a speaker in its grace)
                  endpoints back, configuration change)
================  =========================================  ====================================================

``--l2-probe=false`` makes every takeover IMMEDIATE. So at every moment of a planned move some speaker answers
requests for the address, and the new owner's first gratuitous packet goes out *before* the old owner stops
answering: "the next owner announces before the leaving one stops answering". The old owner's early stop is
triggered by that very packet, so it cannot come first; a next owner that never announces (dead, not elected after
all, its MAC unknown) leaves the old one answering for the whole grace, as before. Clients that hear the
announcement move to the new owner at once; two owners answering together, which made a client's cache flip
between them, now last one LAN hop instead of the whole grace.

:class:`PlannedStop` is the leaving speaker's side of that, as steps over time (SIGTERM in :mod:`speaker.app`)::

    t0            Release(ip, grace) for every owned address; LeaveMembership; DrainBgp
    t0 + grace    StopAnswering (close the announcer)      - once every address's grace is over, or earlier once
                                                              every address was taken over (``released``)
    then          Exit                                      - once BGP has drained (or its time is up)

A test drives it against the real L2 cores of two nodes and checks, millisecond by millisecond, that the address
is always answered and that the new owner announces first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ironlb.api.addresses import IPAddress
from speaker.l2.core.ownership import Takeover
from speaker.l2.core.probe import ProbeConfig

#: Seconds a released address is still answered, at least. The new owner needs its probe (150 ms by default) plus
#: the time the LEAVE or the election takes to reach it: about 160 ms. The margin is for a starved machine (a
#: process not scheduled for a second happens on busy nodes); it is cheap: the stop takes this much longer, well
#: within the DaemonSet's 10 s, and the new owner's gratuitous rounds (5 x 1.1 s) outlast it, so a client that
#: resolved the address to the leaving node meanwhile is moved by a later round.
MIN_RELEASE_GRACE = 2.0


class Cause(enum.StrEnum):
    """Why an address became this node's (also the label of the takeover metrics)."""

    NEW_ALLOCATION = "new"
    FAILOVER = "failover"
    PLANNED = "planned"
    RESUMED = "resumed"


def takeover_mode(cause: Cause, *, probe: bool) -> Takeover:
    """The :class:`Takeover` for an address that became ours for ``cause``.

    Args:
        cause: why it became ours.
        probe: ``--l2-probe``; False makes every takeover immediate.
    """
    if not probe:
        return Takeover.IMMEDIATE
    if cause is Cause.NEW_ALLOCATION:
        return Takeover.PROBE
    return Takeover.PROBE_IGNORING_SPEAKERS


def classify(
    previous_owner: str | None,
    *,
    me: str,
    failed: frozenset[str],
    new_allocation: bool,
) -> Cause:
    """Why an address whose last known owner was ``previous_owner`` is becoming ours.

    Args:
        previous_owner: the owner before this decision (None: nobody owned it, or we do not know).
        me: this node.
        failed: nodes that just failed (the membership events behind this decision); others that vanished left.
        new_allocation: the address appeared on its Service while this speaker was running and in sync.
    """
    if previous_owner is None or previous_owner == me:
        return Cause.NEW_ALLOCATION if new_allocation else Cause.RESUMED
    if previous_owner in failed:
        return Cause.FAILOVER
    return Cause.PLANNED


def release_grace(probe: ProbeConfig) -> float:
    """How long a released address is still answered: well past the new owner's probe."""
    return max(MIN_RELEASE_GRACE, 4 * probe.duration)


# ----- the planned stop ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Release:
    """Stop announcing ``ip`` now, keep answering requests for it ``after`` more seconds."""

    ip: IPAddress
    after: float


@dataclass(frozen=True, slots=True)
class LeaveMembership:
    """Tell every member we leave, so that the next owners take over at once."""


@dataclass(frozen=True, slots=True)
class DrainBgp:
    """Graceful shutdown of every BGP session (RFC 8326, or RFC 4724 for peers with graceful restart)."""


@dataclass(frozen=True, slots=True)
class StopAnswering:
    """Every grace period is over: close the L2 data plane."""


@dataclass(frozen=True, slots=True)
class Exit:
    """Nothing is left to do."""


Step = Release | LeaveMembership | DrainBgp | StopAnswering | Exit


class PlannedStop:
    """The leaving speaker's steps, fed the time (sans-IO)."""

    def __init__(self, *, grace: float, deadline: float) -> None:
        """Args:
        grace: how long released addresses are still answered (:func:`release_grace`).
        deadline: seconds after the start by which the process must have exited, whatever is still running
            (the DaemonSet's terminationGracePeriodSeconds minus a margin).
        """
        self.grace = grace
        self.deadline = deadline
        self._outstanding: set[IPAddress] = set()  # released addresses the data plane still answers
        self._started: float | None = None
        self._bgp_done = False
        self._answering = True
        self._exited = False

    def start(self, now: float, owned: Iterable[IPAddress]) -> list[Step]:
        """SIGTERM: release what we own, leave, drain BGP."""
        self._started = now
        self._outstanding = set(owned)
        steps: list[Step] = [Release(ip, self.grace) for ip in sorted(owned, key=lambda a: (a.version, a))]
        steps += [LeaveMembership(), DrainBgp()]
        return steps

    def bgp_drained(self, now: float) -> list[Step]:
        self._bgp_done = True
        return self.handle_timer(now)

    def released(self, ip: IPAddress, now: float) -> list[Step]:
        """The data plane no longer answers ``ip`` (its next owner announced it, or its grace ran out)."""
        self._outstanding.discard(ip)
        return self.handle_timer(now)

    def next_deadline(self) -> float | None:
        if self._started is None or self._exited:
            return None
        if self._answering:
            return self._started + self.grace if self._outstanding else self._started
        return self._started + self.deadline

    def handle_timer(self, now: float) -> list[Step]:
        if self._started is None or self._exited:
            return []
        steps: list[Step] = []
        elapsed = now - self._started
        if self._answering and (not self._outstanding or elapsed >= self.grace or elapsed >= self.deadline):
            self._answering = False
            steps.append(StopAnswering())
        if not self._answering and (self._bgp_done or elapsed >= self.deadline):
            self._exited = True
            steps.append(Exit())
        return steps

    @property
    def done(self) -> bool:
        return self._exited


__all__ = [
    "MIN_RELEASE_GRACE",
    "Cause",
    "DrainBgp",
    "Exit",
    "LeaveMembership",
    "PlannedStop",
    "Release",
    "Step",
    "StopAnswering",
    "classify",
    "release_grace",
    "takeover_mode",
]
