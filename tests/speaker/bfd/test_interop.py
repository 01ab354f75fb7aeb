"""Interop: ironlb's BFD in node1 against FRR's bfdd and BIRD 2's BFD in the router namespace, 100 ms x 3.

Covered, for each router: the session comes Up on both sides; a Poll Sequence renegotiates an interval the router
then uses; node1's link going silent is declared down by the router (and by us, diagnostic 1); the session comes
back; the router's BFD dying (SIGKILL, by PID) is detected by us with diagnostic 1. FRR also shows our AdminDown
when we remove the session; BIRD runs an IPv6 session beside the IPv4 one. The router drivers are the benchmark's
(hack/bench/bench_bfd.py). Skipped when the programs are missing; waits are bounded polls, never timed assertions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from hack.bench.bench_bfd import BirdBfd, FrrBfdd, have_bird, have_frr
from hack.lab.netns import Topology
from ironlb.api.addresses import IPAddress
from speaker.bfd.core import Diagnostic, State
from speaker.bfd.manager import BfdManager
from tests.speaker.bfd.harness import FAST

pytestmark = [pytest.mark.netns, pytest.mark.lab]

ROUTER, NODE = "192.0.2.1", "192.0.2.11"
ROUTER6, NODE6 = "2001:db8::1", "2001:db8::11"
EXPIRED = (False, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED)


@dataclass
class Calls:
    seen: list[tuple[str, bool, int]] = field(default_factory=list)

    def __call__(self, peer: IPAddress, up: bool, diagnostic: int) -> None:
        self.seen.append((str(peer), up, diagnostic))

    def last(self, peer: str) -> tuple[bool, int] | None:
        found = [(up, diag) for p, up, diag in self.seen if p == peer]
        return found[-1] if found else None


async def eventually(predicate: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    for _ in range(int(limit / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@dataclass
class Lab:
    topo: Topology
    manager: BfdManager
    calls: Calls

    def status(self, peer: str) -> State:
        return next(p.session.state for p in self.manager.status() if str(p.peer) == peer)


@pytest.fixture
async def lab(topology: Callable[..., Topology]) -> AsyncIterator[Lab]:
    topo = topology(nodes=1, router=True, client=False)
    calls = Calls()
    with topo.entered("node1"):
        manager = BfdManager(rng=random.Random(5), collector=None)
        manager.add_session(ROUTER, NODE, FAST, calls)
    yield Lab(topo, manager, calls)
    await manager.close(grace=0.2)


@pytest.mark.skipif(not have_frr(), reason="needs FRR (zebra, bfdd, vtysh)")
async def test_frr_bfdd(lab: Lab) -> None:
    frr = FrrBfdd(lab.topo, [(NODE, ROUTER)])
    try:
        await eventually(lambda: lab.calls.last(ROUTER) == (True, Diagnostic.NONE), "our session up")
        await eventually(lambda: frr.state(NODE) == "up", "bfdd's session up")
        seen = frr.peer(NODE) or {}
        assert (seen["remote-transmit-interval"], seen["remote-receive-interval"]) == (100, 100)
        assert seen["remote-detect-multiplier"] == 3 and seen["remote-echo-receive-interval"] == 0

        # A Poll Sequence: bfdd answers Final and adopts our slower transmit interval.
        lab.manager.update_profile(ROUTER, dataclasses.replace(FAST, transmit_interval_ms=300))
        await eventually(lambda: (frr.peer(NODE) or {}).get("remote-transmit-interval") == 300, "bfdd sees 300 ms")
        await eventually(lambda: not lab.manager.status()[0].session.poll_active, "our Poll to end with a Final")
        lab.manager.update_profile(ROUTER, FAST)
        await eventually(lambda: (frr.peer(NODE) or {}).get("remote-transmit-interval") == 100, "back to 100 ms")

        # node1 goes silent: bfdd declares it down, and so do we.
        lab.topo.link_down("node1")
        await eventually(lambda: frr.state(NODE) == "down", "bfdd to declare node1 down")
        await eventually(lambda: lab.calls.last(ROUTER) == EXPIRED, "us to declare the router down")
        assert "control" in str((frr.peer(NODE) or {}).get("diagnostic"))  # "control detection time expired"
        lab.topo.link_up("node1")
        await eventually(lambda: frr.state(NODE) == "up" and lab.status(ROUTER) is State.UP, "both up again")

        # bfdd dies without a word: we notice within the detection time.
        frr.kill()
        await eventually(lambda: lab.calls.last(ROUTER) == EXPIRED, "us to notice bfdd is gone")
    finally:
        frr.close()


@pytest.mark.skipif(not have_frr(), reason="needs FRR (zebra, bfdd, vtysh)")
async def test_frr_hears_our_admin_down(lab: Lab) -> None:
    frr = FrrBfdd(lab.topo, [(NODE, ROUTER)])
    try:
        await eventually(lambda: frr.state(NODE) == "up", "bfdd's session up")
        lab.manager.remove_session(ROUTER)
        await eventually(
            lambda: "administratively" in str((frr.peer(NODE) or {}).get("remote-diagnostic")),
            "bfdd to hear AdminDown",
        )
        assert frr.state(NODE) == "down"
    finally:
        frr.close()


@pytest.mark.skipif(not have_bird(), reason="needs BIRD 2 (bird, birdc)")
async def test_bird_bfd_over_ipv4_and_ipv6(lab: Lab) -> None:
    with lab.topo.entered("node1"):
        lab.manager.add_session(ROUTER6, NODE6, FAST, lab.calls)
    bird = BirdBfd(lab.topo, [(NODE, ROUTER), (NODE6, ROUTER6)])
    try:
        await eventually(
            lambda: all(lab.calls.last(p) == (True, Diagnostic.NONE) for p in (ROUTER, ROUTER6)), "our sessions up"
        )
        await eventually(lambda: bird.state(NODE) == "up" and bird.state(NODE6) == "up", "BIRD's sessions up")
        row = bird.row(NODE)
        assert row is not None and (row.interval, row.timeout) == (0.1, 0.3)

        # A Poll Sequence: we ask for packets every 300 ms at most; BIRD slows down to that.
        lab.manager.update_profile(ROUTER, dataclasses.replace(FAST, receive_interval_ms=300))
        await eventually(lambda: (bird.row(NODE) or row).interval == 0.3, "BIRD to send every 300 ms")
        assert lab.manager.status()[0].session.remote_desired_min_tx_us == 100_000  # BIRD still wishes 100 ms

        lab.topo.link_down("node1")
        await eventually(lambda: bird.state(NODE) != "up" and bird.state(NODE6) != "up", "BIRD to declare us down")
        await eventually(
            lambda: lab.calls.last(ROUTER) == EXPIRED and lab.calls.last(ROUTER6) == EXPIRED, "us to see BIRD go"
        )
        lab.topo.link_up("node1")
        await eventually(lambda: bird.state(NODE) == "up" and bird.state(NODE6) == "up", "both up again")

        bird.kill()
        await eventually(
            lambda: lab.calls.last(ROUTER) == EXPIRED and lab.calls.last(ROUTER6) == EXPIRED, "us to notice BIRD died"
        )
    finally:
        bird.close()
