"""Moving an address between speakers: takeover modes, causes, the planned stop, and the handover ordering.

The ordering script runs the real sans-IO L2 cores of two nodes (speaker.l2.core.ownership) on a shared
simulated LAN, millisecond by millisecond: the leaving node follows :class:`PlannedStop`, the next owner takes
over the way the L2 controller does (cause ``planned`` -> PROBE_IGNORING_SPEAKERS). It checks that the address is
answered at every moment and that the next owner announces before the leaving one stops answering.
"""

from __future__ import annotations

import ipaddress

import pytest

from speaker.handover import (
    Cause,
    DrainBgp,
    Exit,
    LeaveMembership,
    PlannedStop,
    Release,
    StopAnswering,
    classify,
    release_grace,
    takeover_mode,
)
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Ownership, Takeover
from speaker.l2.core.probe import AddressConflict, ProbeConfig
from speaker.l2.core.responder import Interface, Reply

IP = ipaddress.ip_address("198.51.100.10")
OLD_MAC, NEW_MAC = bytes.fromhex("020000000003"), bytes.fromhex("020000000004")


@pytest.mark.parametrize(
    ("cause", "probe", "mode"),
    [
        pytest.param(Cause.NEW_ALLOCATION, True, Takeover.PROBE, id="new-allocation-probes-for-any-host"),
        pytest.param(Cause.FAILOVER, True, Takeover.PROBE_IGNORING_SPEAKERS, id="failover-ignores-speakers"),
        pytest.param(Cause.PLANNED, True, Takeover.PROBE_IGNORING_SPEAKERS, id="planned-move-ignores-speakers"),
        pytest.param(Cause.RESUMED, True, Takeover.PROBE_IGNORING_SPEAKERS, id="resumed-ignores-speakers"),
        pytest.param(Cause.NEW_ALLOCATION, False, Takeover.IMMEDIATE, id="no-probe-flag-is-immediate"),
        pytest.param(Cause.FAILOVER, False, Takeover.IMMEDIATE, id="no-probe-flag-failover-is-immediate"),
    ],
)
def test_takeover_mode(cause: Cause, probe: bool, mode: Takeover) -> None:
    assert takeover_mode(cause, probe=probe) is mode


@pytest.mark.parametrize(
    ("previous", "failed", "new", "cause"),
    [
        pytest.param(None, frozenset(), True, Cause.NEW_ALLOCATION, id="never-owned-new-address"),
        pytest.param(None, frozenset(), False, Cause.RESUMED, id="never-owned-known-address"),
        pytest.param("me", frozenset(), False, Cause.RESUMED, id="ours-before"),
        pytest.param("n2", frozenset({"n2"}), False, Cause.FAILOVER, id="owner-failed"),
        pytest.param("n2", frozenset({"n3"}), False, Cause.PLANNED, id="owner-left-while-another-failed"),
        pytest.param("n2", frozenset(), False, Cause.PLANNED, id="owner-alive-or-left"),
    ],
)
def test_classify(previous: str | None, failed: frozenset[str], new: bool, cause: Cause) -> None:
    assert classify(previous, me="me", failed=failed, new_allocation=new) is cause


def test_release_grace_outlasts_the_probe_of_the_next_owner() -> None:
    assert release_grace(ProbeConfig()) >= 2.0
    slow = ProbeConfig(count=5, interval=0.2)
    assert release_grace(slow) > slow.duration * 2


def test_planned_stop_steps_script() -> None:
    stop = PlannedStop(grace=1.0, deadline=8.0)
    steps = stop.start(10.0, [ipaddress.ip_address("2001:db8::1"), IP])
    assert steps == [Release(IP, 1.0), Release(ipaddress.ip_address("2001:db8::1"), 1.0), LeaveMembership(), DrainBgp()]
    assert stop.next_deadline() == 11.0
    assert stop.handle_timer(10.5) == []
    assert stop.handle_timer(11.0) == [StopAnswering()]
    assert not stop.done, "BGP still drains"
    assert stop.next_deadline() == 18.0
    assert stop.bgp_drained(12.0) == [Exit()]
    assert (stop.done, stop.next_deadline(), stop.handle_timer(30.0)) == (True, None, [])


def test_planned_stop_stops_answering_once_every_address_was_taken_over_script() -> None:
    """The next owners announced every released address: no need to wait for the grace period."""
    stop = PlannedStop(grace=2.0, deadline=8.0)
    v6 = ipaddress.ip_address("2001:db8::1")
    stop.start(10.0, [IP, v6])
    assert stop.released(IP, 10.2) == []
    assert stop.next_deadline() == 12.0, "one address is still answered only by us"
    assert stop.bgp_drained(10.3) == []
    assert stop.released(v6, 10.4) == [StopAnswering(), Exit()]
    assert stop.done


def test_planned_stop_with_nothing_to_hand_over_stops_answering_at_once() -> None:
    stop = PlannedStop(grace=0.0, deadline=8.0)
    stop.start(5.0, [])
    assert stop.next_deadline() == 5.0
    assert stop.handle_timer(5.0) == [StopAnswering()]


def test_planned_stop_exits_at_the_deadline_whatever_bgp_does() -> None:
    stop = PlannedStop(grace=1.0, deadline=3.0)
    stop.start(0.0, [])
    assert stop.handle_timer(1.0) == [StopAnswering()]
    assert stop.handle_timer(3.0) == [Exit()]


class _Node:
    """One speaker's L2 core on the simulated LAN."""

    def __init__(self, mac: bytes, speaker_macs: list[bytes]) -> None:
        self.interface = Interface("eth0", mac)
        self.core = Ownership()
        self.core.set_interfaces({"eth0": self.interface}, 0.0)
        self.core.set_speaker_macs(speaker_macs)
        self.events: list[tuple[float, object]] = []
        self.gratuitous: list[float] = []
        self.stopped_answering: float | None = None

    def answers(self) -> bool:
        return IP in self.core.answered()


def _run_handover(new_mode: Takeover) -> tuple[_Node, _Node, list[float]]:
    old, new = _Node(OLD_MAC, [OLD_MAC, NEW_MAC]), _Node(NEW_MAC, [OLD_MAC, NEW_MAC])
    old.core.set_owned({IP: None}, 0.0, takeover=Takeover.IMMEDIATE)
    stop = PlannedStop(grace=release_grace(old.core.probe_config), deadline=8.0)
    unanswered: list[float] = []
    stopped: set[object] = set()
    nodes = (old, new)
    for tick in range(4001):
        now = tick / 1000
        if tick == 1000:
            for step in stop.start(now, [IP]):
                if isinstance(step, Release):
                    old.core.release(step.ip, after=step.after, now=now)
        if tick == 1001:  # MemberLeft reaches the next owner one LAN hop later; it elects itself
            cause = classify("old", me="new", failed=frozenset(), new_allocation=False)
            assert cause is Cause.PLANNED
            new.core.set_owned({IP: None}, now, takeover=new_mode)
        for node in nodes:
            node.core.handle_timer(now)
        # the LAN: every frame reaches the other node; answers to probes come straight back
        for sender, receiver in ((old, new), (new, old)):
            for out in sender.core.data_to_send():
                if out.purpose.value == "announcement":
                    sender.gratuitous.append(now)
                reply = receiver.core.responder.answer(out.frame, receiver.interface)
                if isinstance(reply, Reply):
                    sender.core.receive("eth0", reply.frame, now)
                receiver.core.receive("eth0", out.frame, now)
        for node in nodes:
            node.events += [(now, e) for e in node.core.events()]
        steps = stop.handle_timer(now)
        for _, event in old.events:
            if isinstance(event, AddressReleased) and event.ip not in stopped:
                stopped.add(event.ip)
                steps += stop.released(event.ip, now)
        for step in steps:
            if isinstance(step, StopAnswering):
                old.core.set_owned({}, now)
                old.stopped_answering = now
        if tick >= 1 and not (old.answers() or new.answers()):
            unanswered.append(now)
    return old, new, unanswered


def test_the_next_owner_announces_before_the_leaving_one_stops_answering_script() -> None:
    old, new, unanswered = _run_handover(Takeover.PROBE_IGNORING_SPEAKERS)
    assert unanswered == [], f"nobody answered at {unanswered[:3]}..."
    announced = next(t for t, e in new.events if isinstance(e, AddressAnnounced))
    released = next(e for t, e in old.events if isinstance(e, AddressReleased))
    released_at = next(t for t, e in old.events if isinstance(e, AddressReleased))
    # The leaving node stops on the very announcement (the same millisecond on this LAN), never before it ...
    assert 1.0 < announced <= released_at, (announced, released_at)
    assert released.handed_to == "02:00:00:00:00:04", "... and because it heard the next owner's announcement"
    # ... long before its grace would have ended; and the planned stop is over with it.
    assert released_at < 1.0 + release_grace(old.core.probe_config)
    assert old.stopped_answering == released_at
    assert new.gratuitous and new.gratuitous[0] == announced
    assert not [t for t in old.gratuitous if t >= 1.0], "the leaving node keeps sending gratuitous packets"
    assert not any(isinstance(e, AddressConflict) for _, e in new.events)
    assert new.answers() and not old.answers()


def test_a_plain_probe_would_take_the_leaving_speaker_for_a_conflict_script() -> None:
    """The control: what PROBE_IGNORING_SPEAKERS prevents (the leaving node answers the probe in its grace)."""
    _, new, _ = _run_handover(Takeover.PROBE)
    assert any(isinstance(e, AddressConflict) for _, e in new.events)
    assert not new.answers()
