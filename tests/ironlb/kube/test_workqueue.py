"""The work queue keeps client-go's guarantees: one entry per key, no concurrent processing of a key, a key added
while it is processed is processed again afterwards, per-key exponential backoff that a success resets."""

from __future__ import annotations

import asyncio

import pytest

from ironlb.kube.workqueue import Outcome, WorkQueue, run_workers


async def test_a_key_waits_in_the_queue_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(3):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_a_key_added_while_processing_is_queued_again_when_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # arrives while "a" is being processed
    assert len(q) == 0, "must not be handed to a second worker concurrently"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 5.0, id="first-retry-after-base-delay"),
        pytest.param(1, 10.0, id="doubles"),
        pytest.param(5, 160.0, id="keeps-doubling"),
        pytest.param(10, 300.0, id="capped-at-max"),
    ],
)
async def test_backoff_doubles_from_5s_to_300s(failures: int, expected: float) -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(failures):
        q.retry("k")
    assert q.backoff("k") == expected
    q.shutdown()


async def test_forget_resets_backoff() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.retry("k")
    q.retry("k")
    q.forget("k")
    assert q.backoff("k") == 5.0
    q.shutdown()


async def test_add_after_fires_and_an_explicit_add_preempts_it() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01)
    q.add_after("late", 0.02)
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "late"
    q.add_after("x", 60)
    q.add("x")  # an event arrives: no need to wait for the timer
    assert await asyncio.wait_for(q.get(), 1) == "x"
    q.shutdown()


async def test_workers_retry_failures_and_exceptions_then_succeed() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.004)
    calls: dict[str, int] = {}
    finished = asyncio.Event()

    async def reconcile(key: str) -> Outcome:
        calls[key] = calls.get(key, 0) + 1
        if key == "raises" and calls[key] < 3:
            raise RuntimeError("transient")
        if key == "retries" and calls[key] < 4:
            return Outcome.retry()
        if calls.get("raises", 0) >= 3 and calls.get("retries", 0) >= 4:
            finished.set()
        return Outcome.success()

    for key in ("raises", "retries"):
        q.add(key)
    task = asyncio.create_task(run_workers(q, reconcile, concurrency=2, name="test"))
    await asyncio.wait_for(finished.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == {"raises": 3, "retries": 4}
    assert q.failures("raises") == 0 and q.failures("retries") == 0


async def test_no_key_is_processed_concurrently() -> None:
    q: WorkQueue[str] = WorkQueue()
    active: set[str] = set()
    overlaps = 0
    processed = 0

    async def reconcile(key: str) -> Outcome:
        nonlocal overlaps, processed
        if key in active:
            overlaps += 1
        active.add(key)
        await asyncio.sleep(0.001)
        active.discard(key)
        processed += 1
        return Outcome.success()

    task = asyncio.create_task(run_workers(q, reconcile, concurrency=4))
    for _ in range(50):
        for key in ("a", "b"):
            q.add(key)
        await asyncio.sleep(0)
    while len(q) or processed < 2:  # noqa: ASYNC110 - polling the queue from outside is the point
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert overlaps == 0
    assert processed >= 2


async def test_retry_waiting_now_cuts_every_pending_backoff_short() -> None:
    q: WorkQueue[str] = WorkQueue()  # 5 s base delay: nothing would come back within this test by itself
    q.retry("a")
    q.retry("b")
    q.add("c")
    assert len(q) == 1
    assert q.retry_waiting_now() == 2
    assert sorted([await q.get() for _ in range(3)]) == ["a", "b", "c"]
    assert q.retry_waiting_now() == 0
    assert q.failures("a") == 1, "the backoff itself is kept: only the wait is cut short"
    q.shutdown()
