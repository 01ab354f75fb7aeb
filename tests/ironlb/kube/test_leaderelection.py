"""Lease leader election against the API emulator, with short durations (lease 1.5 s, renew deadline 1 s, retry
0.1 s): one leader at a time, takeover only after a Lease stayed unchanged for its duration (as seen by the
candidate), the fence closing before any rival can take over, release on a graceful stop, and the callback when
leadership is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hack.lab.apiserver import ApiServerThread
from ironlb.kube.leaderelection import LeaderElector, NotLeaderError
from ironlb.kube.resources import LEASES
from ironlb.kube.rest import Kube, Rest, load_api_client

LEASE, RENEW, RETRY = 1.5, 1.0, 0.1
NS = "kube-system"


class Candidate:
    """One replica: its own client, its elector, and what happened to it."""

    def __init__(self, api: ApiServerThread, identity: str) -> None:
        self.rest = Rest(load_api_client(str(api.kubeconfig)))
        self.kube = Kube(self.rest)
        self.elector = LeaderElector(
            self.kube,
            namespace=NS,
            name="test-lease",
            identity=identity,
            lease_duration=LEASE,
            renew_deadline=RENEW,
            retry_period=RETRY,
        )
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.work_cancelled = False
        self.task: asyncio.Task[None] | None = None

    async def _work(self) -> None:
        self.started.set()
        try:
            await asyncio.Future()
        except asyncio.CancelledError:
            self.work_cancelled = True
            raise

    def campaign(self) -> Candidate:
        self.task = asyncio.create_task(self.elector.run(self._work, self.stopped.set))
        return self

    async def halt(self) -> None:
        """Stop campaigning and renewing, as a process that died would (nothing is released)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def close(self) -> None:
        self.kube.close()
        self.rest.api_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
async def candidates(api: ApiServerThread) -> AsyncIterator[Callable[[str], Candidate]]:
    made: list[Candidate] = []

    def make(identity: str) -> Candidate:
        c = Candidate(api, identity)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.halt()
        c.close()


async def holder(kube: Kube) -> str:
    lease = await kube.get(LEASES, "test-lease", NS)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


async def test_one_candidate_leads_and_a_rival_waits_while_the_lease_is_renewed(
    candidates: Callable[[str], Candidate],
) -> None:
    a = candidates("a").campaign()
    await asyncio.wait_for(a.started.wait(), 5)
    b = candidates("b").campaign()
    await asyncio.sleep(3 * LEASE)  # many renewals; b observes a record that keeps changing
    assert not b.started.is_set()
    assert a.elector.is_leader() and not b.elector.is_leader()
    a.elector.check()
    with pytest.raises(NotLeaderError):
        b.elector.check()
    assert await holder(a.kube) == "a"


async def test_a_dead_leader_is_replaced_only_after_its_fence_closed(candidates: Callable[[str], Candidate]) -> None:
    a = candidates("a").campaign()
    await asyncio.wait_for(a.started.wait(), 5)
    b = candidates("b").campaign()
    await asyncio.sleep(0.3)
    await a.halt()  # no more renewals, no release
    loop = asyncio.get_running_loop()
    halted_at = loop.time()
    await asyncio.wait_for(b.started.wait(), 10)
    took = loop.time() - halted_at
    assert not a.elector.is_leader(), "the old leader's fence closed before the takeover"
    with pytest.raises(NotLeaderError):
        a.elector.check()
    assert took >= LEASE - RETRY, f"took over after {took:.2f}s, before the lease could have expired"
    assert await holder(b.kube) == "b"
    lease = await b.kube.get(LEASES, "test-lease", NS)
    assert lease is not None and lease["spec"]["leaseTransitions"] == 1


async def test_release_lets_the_standby_take_over_at_once(candidates: Callable[[str], Candidate]) -> None:
    a = candidates("a").campaign()
    await asyncio.wait_for(a.started.wait(), 5)
    b = candidates("b").campaign()
    await asyncio.sleep(0.3)
    await a.halt()  # a graceful stop cancels run() ...
    assert a.work_cancelled
    a.elector.check()  # ... and the fence stays open (the Lease is still ours) until released
    await a.elector.release()
    with pytest.raises(NotLeaderError):
        a.elector.check()
    assert await holder(a.kube) in ("", "b"), "released: the holder is cleared"
    await asyncio.wait_for(b.started.wait(), 1.0)  # the lease duration is 1.5 s: this is the release, not expiry


async def test_losing_the_lease_stops_the_work_and_calls_back(
    candidates: Callable[[str], Candidate], kube: Kube
) -> None:
    a = candidates("a").campaign()
    await asyncio.wait_for(a.started.wait(), 5)
    lease = await kube.get(LEASES, "test-lease", NS)
    assert lease is not None
    lease["spec"]["holderIdentity"] = "usurper"  # someone else holds it now (and keeps renewing)

    async def usurp() -> None:
        current: dict[str, Any] | None = lease
        while True:
            assert current is not None
            current["spec"]["renewTime"] = f"2030-01-01T00:00:{int(asyncio.get_running_loop().time()) % 60:02d}.000000Z"
            with contextlib.suppress(Exception):
                current = await kube.replace(LEASES, current)
            await asyncio.sleep(0.2)
            current = await kube.get(LEASES, "test-lease", NS)

    usurper = asyncio.create_task(usurp())
    try:
        await asyncio.wait_for(a.stopped.wait(), 10)
    finally:
        usurper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await usurper
    assert a.work_cancelled
    assert not a.elector.is_leader()


async def test_of_two_candidates_racing_for_an_expired_lease_exactly_one_wins(
    candidates: Callable[[str], Candidate], kube: Kube
) -> None:
    await kube.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "test-lease", "namespace": NS},
            "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1, "renewTime": "2020-01-01T00:00:00.000000Z"},
        },
        namespace=NS,
    )
    a, b = candidates("a"), candidates("b")
    assert not await a.elector.try_acquire_or_renew()  # first sight of the record: not expired yet for them
    assert not await b.elector.try_acquire_or_renew()
    await asyncio.sleep(1.2)  # unchanged for longer than its 1 s duration
    results = await asyncio.gather(a.elector.try_acquire_or_renew(), b.elector.try_acquire_or_renew())
    assert sorted(results) == [False, True], "the loser's update carried a stale resourceVersion: 409"
    assert await holder(kube) == ("a" if results[0] else "b")
