"""Real processes in namespaces: three membership runners on the lab LAN; SIGKILL is detected, SIGTERM is a leave.

The runners are ``python -m speaker.membership.runner`` started with ``topo.popen`` (killed by PID) and read
through :class:`hack.bench.bench_membership.RunnerFleet`, the same harness the benchmark uses. Waits have generous
limits that only guard against hanging; detection speed is the benchmark's business.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from hack.bench.bench_membership import Record, RunnerFleet
from hack.lab.netns import Topology

pytestmark = pytest.mark.netns


def _event(kind: str, name: str) -> Callable[[Record], bool]:
    return lambda r: r.get("event") == kind and r.get("name") == name


def test_sigkill_is_detected_and_sigterm_is_a_leave(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=3, router=False, client=False)
    fleet = RunnerFleet(topo, ["node1", "node2", "node3"])
    fleet.start_all()
    assert fleet.wait(fleet.converged, 20.0)
    assert all(r.alive_view() == {"node1", "node2", "node3"} for r in fleet.running())

    fleet.signal("node3", signal.SIGKILL)
    node1, node2 = fleet.runners["node1"], fleet.runners["node2"]
    assert fleet.wait(
        lambda: bool(node1.find(_event("MemberFailed", "node3")) and node2.find(_event("MemberFailed", "node3"))), 10.0
    )
    failure = node1.find(_event("MemberFailed", "node3"))
    assert failure is not None and failure["detected_by"] in {"node1", "node2"}
    assert node1.alive_view() == {"node1", "node2"}
    fleet.reap("node3")

    fleet.signal("node2", signal.SIGTERM)
    assert fleet.wait(lambda: node1.find(_event("MemberLeft", "node2")) is not None, 10.0)
    assert fleet.reap("node2") == 0
    assert node2.find(lambda r: r.get("event") == "left") is not None
    assert node1.find(_event("MemberFailed", "node2")) is None
    assert node1.alive_view() == {"node1"}
    fleet.signal("node1", signal.SIGTERM)
    assert fleet.reap("node1") == 0
