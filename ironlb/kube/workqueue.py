"""A keyed work queue with per-key exponential backoff, and the workers that drain it.

Semantics are client-go's workqueue, which controllers are written against:

* a key is in the queue at most once; adding it again while it waits is a no-op;
* a key being processed is never processed twice concurrently: if it is added meanwhile, it is marked dirty and
  queued again when its worker calls ``done`` (level-triggered reconcile sees the latest state);
* ``retry`` requeues after a per-key backoff (5 s doubling to 300 s by default, the service controller's numbers);
  ``forget`` resets it after a success; ``retry_waiting_now`` cuts every pending backoff short (the API server
  is back: what failed while it was away need not wait out its backoff).

Reconcilers return an :class:`Outcome`; one executor (:func:`run_workers`) turns exceptions into retries and is
the only place they stop (style anchor 9). ``CancelledError`` always propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from loguru import logger

K = TypeVar("K", bound=Hashable)


class OutcomeKind(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    NO_RETRY = "no-retry"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    #: for RETRY: a fixed delay (the cloud-provider ``RetryError``); None means the key's exponential backoff.
    delay: float | None = None

    @classmethod
    def success(cls) -> Outcome:
        return cls(OutcomeKind.SUCCESS)

    @classmethod
    def retry(cls, delay: float | None = None) -> Outcome:
        return cls(OutcomeKind.RETRY, delay)

    @classmethod
    def no_retry(cls) -> Outcome:
        return cls(OutcomeKind.NO_RETRY)


class WorkQueue(Generic[K]):
    def __init__(self, *, base_delay: float = 5.0, max_delay: float = 300.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        existing = self._timers.get(key)
        loop = asyncio.get_running_loop()
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def backoff(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        return float(min(self.base_delay * (2**failures), self.max_delay))

    def retry(self, key: K, delay: float | None = None) -> float:
        wait = self.backoff(key) if delay is None else delay
        self._failures[key] = self._failures.get(key, 0) + 1
        self.add_after(key, wait)
        return wait

    def retry_waiting_now(self) -> int:
        """Queue every key that waits for a retry timer at once; returns how many there were."""
        waiting = list(self._timers)
        for key in waiting:
            self.add(key)  # cancels the timer
        return len(waiting)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


async def run_workers(
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[Outcome]],
    *,
    concurrency: int = 1,
    name: str = "worker",
) -> None:
    """Drain ``queue`` with ``concurrency`` workers until cancelled."""

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                outcome = await reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                wait = queue.retry(key)
                logger.bind(controller=name, key=str(key), retry_in=wait).exception("reconcile failed; will retry")
            else:
                if outcome.kind is OutcomeKind.RETRY:
                    queue.retry(key, outcome.delay)
                else:
                    queue.forget(key)
            finally:
                queue.done(key)

    tasks = [asyncio.create_task(worker(), name=f"{name}-{i}") for i in range(concurrency)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        queue.shutdown()


__all__ = ["Outcome", "OutcomeKind", "WorkQueue", "run_workers"]
