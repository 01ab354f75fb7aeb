"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics and a write fence.

Theory of operation
-------------------
A candidate reads the Lease every ``retry_period``. It may take the Lease when nobody holds it, when it holds it
itself, or when the record (holder, renewTime) has not changed for ``lease_duration`` *as measured on the
candidate's own monotonic clock* (client-go's "observed time": remote clocks are never trusted). Writes carry the
Lease's resourceVersion, so of two candidates racing for an expired Lease exactly one update succeeds (409 for
the other).

Two replicas never both write. The leader records ``last_renew`` as the moment it *sent* a renew that then
succeeded. :meth:`LeaderElector.is_leader` is true only while ``now - last_renew < renew_deadline``; every write
path checks it (:meth:`check`). A rival can take over only after it has seen the record unchanged for
``lease_duration`` > ``renew_deadline``, by which time the old leader has already stopped writing, because that
unchanged record means its renews failed. The Lease stores whole seconds, so the duration written is rounded up
(never down to the renew deadline). When leadership is lost the ``on_stopped_leading`` callback runs (the ccm
exits, as upstream cloud-controller-managers do, so it restarts clean).

On a graceful stop (:meth:`LeaderElector.run` cancelled) the work is cancelled but the fence stays open while the
Lease is fresh, so the caller can write its last words (queued Events); then :meth:`LeaderElector.release` closes
the fence and gives the Lease up (empty holder, 1 s duration) so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import random
from collections.abc import Callable, Coroutine
from typing import Any

from loguru import logger
from prometheus_client import Gauge

from ironlb.kube.resources import LEASES
from ironlb.kube.rest import ApiError, Kube

IS_LEADER = Gauge("ironlb_leader_election_is_leader", "1 while this replica holds the lease", ["lease"])


class NotLeaderError(RuntimeError):
    """Raised by :meth:`LeaderElector.check` when a write is attempted without a fresh lease."""


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("leader election needs lease duration > renew deadline > retry period > 0")
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed: tuple[Any, Any] | None = None
        self._observed_at = 0.0
        self._last_renew: float | None = None
        self._leading = False

    @property
    def _lease_seconds(self) -> int:
        """The Lease stores whole seconds, and rivals wait that long: round up, never down. (Truncating 2.5 s to
        2 s with a 2 s renew deadline would let a rival take over the moment the old leader's fence closes.)"""
        return max(1, math.ceil(self.lease_duration))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- the fence --------------------------------------------------------------------------------------
    def is_leader(self) -> bool:
        if not self._leading or self._last_renew is None:
            return False
        return self._now() - self._last_renew < self.renew_deadline

    def check(self) -> None:
        if not self.is_leader():
            raise NotLeaderError(f"not the leader of lease {self.namespace}/{self.name}: refusing to write")

    # -- acquisition and renewal ------------------------------------------------------------------------
    async def try_acquire_or_renew(self) -> bool:
        sent_at = self._now()
        now_text = _micro_time()
        try:
            lease = await self.kube.get(LEASES, self.name, self.namespace)
        except ApiError as exc:
            logger.bind(lease=self.name, error=str(exc)).debug("cannot read lease")
            return False
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": self._lease_seconds,
                    "acquireTime": now_text,
                    "renewTime": now_text,
                    "leaseTransitions": 0,
                },
            }
            try:
                await self.kube.create(LEASES, body, namespace=self.namespace)
            except ApiError:
                return False
            self._last_renew = sent_at
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"))
        if record != self._observed:
            self._observed = record
            self._observed_at = sent_at
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and sent_at < self._observed_at + duration:
            return False
        new_spec = dict(spec)
        new_spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=self._lease_seconds,
            renewTime=now_text,
        )
        if holder != self.identity:
            new_spec["acquireTime"] = now_text
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        lease["spec"] = new_spec
        try:
            await self.kube.replace(LEASES, lease)
        except ApiError as exc:
            logger.bind(lease=self.name, error=str(exc)).debug("lease update refused")
            return False
        self._last_renew = sent_at
        return True

    async def run(
        self,
        on_started_leading: Callable[[], Coroutine[Any, Any, None]],
        on_stopped_leading: Callable[[], None],
    ) -> None:
        """Campaign until leader, run ``on_started_leading`` while leading; return when leadership is lost."""
        log = logger.bind(lease=f"{self.namespace}/{self.name}", identity=self.identity)
        while not await self.try_acquire_or_renew():  # noqa: ASYNC110 - polling the Lease is the algorithm
            await asyncio.sleep(self.retry_period * (1 + 0.2 * random.random()))
        self._leading = True
        IS_LEADER.labels(self.name).set(1)
        log.info("became leader")
        work = asyncio.create_task(on_started_leading(), name="leader-work")
        try:
            while True:
                await asyncio.sleep(self.retry_period)
                if work.done():
                    break
                if await self.try_acquire_or_renew():
                    continue
                if not self.is_leader():
                    log.error("failed to renew the lease within the renew deadline: leadership lost")
                    break
        except asyncio.CancelledError:
            # A graceful stop. The Lease is still ours until release(): writes stay allowed while it is fresh,
            # so the caller can flush what it has to say before releasing.
            await self._stop(work)
            raise
        self._leading = False
        IS_LEADER.labels(self.name).set(0)
        await self._stop(work)
        on_stopped_leading()

    @staticmethod
    async def _stop(work: asyncio.Task[None]) -> None:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work

    async def release(self) -> None:
        """Give the lease up on a graceful stop so a standby takes over without waiting for expiry.

        Called after :meth:`run` has been cancelled (its work stopped) and the caller flushed what it had to
        write. From here on :meth:`check` refuses every write. It asks whether this replica ever held the Lease,
        not whether the Lease is fresh; the Lease itself says whether it is still ours (and the update carries
        its resourceVersion, so a Lease taken over meanwhile is left alone).
        """
        self._leading = False
        IS_LEADER.labels(self.name).set(0)
        if self._last_renew is None:
            return
        try:
            lease = await self.kube.get(LEASES, self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time())
            await self.kube.replace(LEASES, lease)
        except ApiError as exc:
            logger.bind(lease=self.name, error=str(exc)).warning("could not release the lease")


__all__ = ["IS_LEADER", "LeaderElector", "NotLeaderError"]
