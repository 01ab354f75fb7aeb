"""The service controller: upstream's LoadBalancer semantics, with ironlb's allocator as the cloud.

Theory of operation (k8s.io/cloud-provider ``controllers/service``; reference/peers-and-cloud-provider.md 1.3)
-------------------------------------------------------------------------------------------------------------
*Which Services.* Type LoadBalancer and a matching class: with no ``--load-balancer-class``, Services without a
class; with one, exactly that class. Any other Service is never written to.

*Finalizer.* ``service.kubernetes.io/load-balancer-cleanup`` is on every Service we serve before its address is
published (it goes out in the same write) and is removed only after the address has been released, so a Service
deleted while the ccm is down still gets cleaned up. A Service "needs cleanup" when it carries the finalizer and
is being deleted or no longer wants a load balancer (type changed away); cleanup releases the address, clears the
status (unless the object is going away) and drops the finalizer, again in one write.

*Start-up.* Nothing is allocated until the configuration is valid and every Service has been listed. Then every
Service that shows addresses re-takes them (sorted by key, so two restarts restore identically) before any
Service is allocated anew: a restart never moves an address (MetalLB #1774/#2443).

*Reconcile.* Level-triggered and idempotent: one converge step of the allocator, then *one* strategic-merge
PATCH of ``services/status`` carrying whatever differs: the finalizer, ``status.loadBalancer.ingress`` (compared
by address) and the ``metallb.io/ip-allocated-from-pool`` annotation (the API server applies metadata changes
made through ``services/status``; upstream's controller writes its finalizer the same way). One write means no
half-written state for the next reconcile to trip over, no resourceVersion precondition (the finalizer list is
merged, not replaced, so no 409 either), and a third of the requests at 10,000 Services. The server's answer goes
to :meth:`Informer.observe`, and the watch's echo of our own write is not reconciled again.

*Workers.* ``--concurrent-service-syncs`` workers drain the queue (a key is never processed twice at once).
Every allocator call happens before a reconcile's first ``await``, on the one event loop, so allocations stay
serialized and in queue order however many workers there are; more workers only overlap the API writes.

*Events* are emitted when something changes, never on a resync: the same failure is reported once until it
changes or clears. Failures retry with the per-key backoff (5 s to 300 s); a Service waiting for an address is
also retried at once when an address is released or the configuration changes, and everything waiting on a
backoff is retried at once when the Service watch reconnects after the API server was unreachable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from ccm import metrics
from ccm.allocator import Allocator, RequestError
from ccm.provider.loadbalancer import LoadBalancerProvider
from ironlb.api import names
from ironlb.api.service import ServiceView
from ironlb.config import Config
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import EventType, Informer, WatchEvent
from ironlb.kube.resources import SERVICES
from ironlb.kube.rest import ApiError, Kube
from ironlb.kube.workqueue import Outcome, WorkQueue, run_workers

ALLOCATED_FROM = names.ANNOTATION_PREFIX + names.ANN_ALLOCATED_FROM_POOL
#: ``_write(pool=KEEP)``: leave the ``ip-allocated-from-pool`` annotation as it is
KEEP = object()


class ServiceController:
    def __init__(
        self,
        kube: Kube,
        services: Informer,
        recorder: EventRecorder,
        allocator: Allocator,
        *,
        fence: Callable[[], None],
        load_balancer_class: str | None = None,
        concurrency: int = 1,
        cluster_name: str = "kubernetes",
    ) -> None:
        self.kube = kube
        self.services = services
        self.recorder = recorder
        self.allocator = allocator
        self.provider = LoadBalancerProvider(allocator, cluster_name=cluster_name)
        self.fence = fence
        self.load_balancer_class = load_balancer_class
        self.concurrency = concurrency
        self.queue: WorkQueue[str] = WorkQueue()
        self.started = asyncio.Event()
        self.on_allocations_changed: Callable[[], None] = lambda: None
        #: keys waiting for an address (AllocationFailed, or AdditionalAssignFailed): retried when one is freed
        self._pending: set[str] = set()
        #: (key, reason) -> last message emitted, so a failure is reported once until it changes
        self._reported: dict[tuple[str, str], str] = {}
        self._deprecation_warned: dict[str, tuple[str, ...]] = {}
        #: key -> resourceVersion of our last write, whose watch echo needs no reconcile
        self._own_writes: dict[str, str] = {}
        services.add_handler(self._on_events)
        services.add_reconnect_handler(self._on_reconnect)

    # -- which Services ---------------------------------------------------------------------------------
    def wants_load_balancer(self, view: ServiceView) -> bool:
        return view.is_load_balancer and view.load_balancer_class == self.load_balancer_class

    def needs_cleanup(self, view: ServiceView) -> bool:
        return names.LB_CLEANUP_FINALIZER in view.finalizers and (view.deleting or not self.wants_load_balancer(view))

    def _on_events(self, events: Sequence[WatchEvent]) -> None:
        if not self.started.is_set():
            return  # start() enqueues everything once the barrier is passed
        for event in events:
            if event.type is EventType.DELETED:
                self._own_writes.pop(event.key, None)
                if self.allocator.assignment(event.key) is not None:
                    self.queue.add(event.key)
                continue
            echo = self._own_writes.get(event.key)
            if echo is not None and echo == str(event.object.get("metadata", {}).get("resourceVersion")):
                del self._own_writes[event.key]  # the state our last reconcile wrote: nothing new to do
                continue
            view = ServiceView.from_object(event.object)
            if (
                self.wants_load_balancer(view)
                or self.needs_cleanup(view)
                or self.allocator.assignment(event.key) is not None
            ):
                self.queue.add(event.key)

    def _on_reconnect(self) -> None:
        if self.started.is_set():
            waiting = self.queue.retry_waiting_now()
            if waiting:
                logger.bind(services=waiting).info("API server reachable again: retrying failed Services now")

    # -- start-up barrier and configuration -------------------------------------------------------------
    def restore(self) -> int:
        """Re-take every address Services already show, before anything new is allocated."""
        restored = 0
        for key in sorted(self.services.store):
            view = ServiceView.from_object(self.services.store[key])
            if not (self.wants_load_balancer(view) or self.needs_cleanup(view)):
                continue
            if self.provider.restore(view) is not None:
                restored += 1
        return restored

    def on_config(self, config: Config) -> None:
        change = self.allocator.set_config(config)
        if not self.started.is_set():
            return
        for eviction in change.evicted:
            self.queue.add(eviction.assignment.service)
        # A new configuration may place what was pending, or move what no longer fits: reprocess every Service
        # that is ours (cost proportional to the Services, once per configuration change, as MetalLB).
        for key, obj in self.services.store.items():
            view = ServiceView.from_object(obj)
            if self.wants_load_balancer(view) or self.needs_cleanup(view):
                self.queue.add(key)
        self.on_allocations_changed()

    async def run(self) -> None:
        """Restore, then reconcile until cancelled. The caller ensures config is loaded and Services synced."""
        await self.services.synced.wait()
        started = time.monotonic()
        restored = self.restore()
        self.started.set()
        for key, obj in sorted(self.services.store.items()):
            view = ServiceView.from_object(obj)
            if self.wants_load_balancer(view) or self.needs_cleanup(view):
                self.queue.add(key)
        logger.bind(restored=restored, services=len(self.services.store)).info(
            f"restored existing assignments in {time.monotonic() - started:.3f}s; serving"
        )
        self.on_allocations_changed()
        await run_workers(self.queue, self.reconcile, concurrency=self.concurrency, name="service-lb-controller")

    # -- reconcile --------------------------------------------------------------------------------------
    async def reconcile(self, key: str) -> Outcome:
        with metrics.RECONCILE_SECONDS.labels("service").time():
            try:
                return await self._reconcile(key)
            except ApiError as exc:
                if exc.not_found:
                    return Outcome.success()  # deleted meanwhile: its DELETED event releases what it held
                # The API server is unreachable or refused the write: retry with backoff (cut short when the
                # watch reconnects). Not an error in our code, so no traceback.
                logger.bind(service=key, error=str(exc)).warning("could not write the Service; will retry")
                return Outcome.retry()

    async def _reconcile(self, key: str) -> Outcome:
        obj = self.services.get(key)
        if obj is None:
            if self.provider.ensure_load_balancer_deleted(key) is not None:
                self._freed()
            self._forget(key)
            return Outcome.success()
        view = ServiceView.from_object(obj)
        if self.needs_cleanup(view):
            return await self._cleanup(view, obj)
        if view.deleting or not self.wants_load_balancer(view):
            # Not ours, or going away without our finalizer (another one holds it; none can be added now).
            if self.provider.ensure_load_balancer_deleted(key) is not None:
                self._freed()
            self._forget(key)
            return Outcome.success()
        return await self._ensure(view, obj)

    def _report(self, ref: ObjectRef, key: str, type_: str, reason: str, message: str) -> None:
        if self._reported.get((key, reason)) == message:
            return
        self._reported[(key, reason)] = message
        self.recorder.event(ref, type_, reason, message)

    def _clear_reports(self, key: str, *reasons: str) -> None:
        for reason in reasons:
            self._reported.pop((key, reason), None)

    def _forget(self, key: str) -> None:
        self._pending.discard(key)
        self._deprecation_warned.pop(key, None)
        for reported in [k for k in self._reported if k[0] == key]:
            del self._reported[reported]

    def _freed(self) -> None:
        self.on_allocations_changed()
        for key in sorted(self._pending):
            self.queue.add(key)

    def _warn_deprecated(self, ref: ObjectRef, view: ServiceView) -> None:
        deprecated = view.deprecated_annotations
        if not deprecated or self._deprecation_warned.get(view.key) == deprecated:
            return
        self._deprecation_warned[view.key] = deprecated
        for key in deprecated:
            short = key.removeprefix(names.LEGACY_ANNOTATION_PREFIX)
            self.recorder.event(
                ref,
                "Warning",
                "deprecatedAnnotation",
                f"annotation {key} is deprecated; use {names.ANNOTATION_PREFIX}{short} instead",
            )

    async def _ensure(self, view: ServiceView, obj: dict[str, Any]) -> Outcome:
        ref = ObjectRef.of(obj, kind="Service", api_version="v1")
        log = logger.bind(service=view.key)
        self._warn_deprecated(ref, view)
        request = self.provider.request(view)
        if isinstance(request, RequestError):
            await self._write(view, finalizer=True)
            self._report(ref, view.key, "Warning", "LoadBalancerFailed", str(request))
            return Outcome.no_retry()  # the Service asks for something impossible: an update will retry
        self._clear_reports(view.key, "LoadBalancerFailed")

        # No await above this line on the allocation path: allocations are serialized and in queue order.
        decision = self.provider.ensure_load_balancer(view, request=request)
        assert not isinstance(decision, RequestError)
        if decision.cleared is not None:
            current = ", ".join(view.ingress_ips)
            self.recorder.event(
                ref,
                "Normal",
                "ClearAssignment",
                f"current IP(s) [{current}] not allowed by the configuration, will re-assign: {decision.cleared}",
            )
        if decision.add_failed is not None:
            self._report(
                ref,
                view.key,
                "Normal",
                "AdditionalAssignFailed",
                f"could not add an address of the missing family: {decision.add_failed}",
            )

        desired = tuple(str(a) for a in decision.addresses)
        # Compare addresses only: the API server may default fields such as ipMode into each entry.
        changed = desired != view.ingress_ips
        pool = decision.assignment.pool if decision.assignment is not None else None
        if changed and desired:
            self.recorder.event(ref, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        await self._write(view, finalizer=True, ingress=desired if changed else None, pool=pool)
        if decision.error is not None:
            self._pending.add(view.key)
            self._report(
                ref,
                view.key,
                "Warning",
                "AllocationFailed",
                f'Failed to allocate IP for "{view.key}": {decision.error}',
            )
            if changed:
                self._freed()
            log.bind(error=str(decision.error)).warning("allocation failed")
            return Outcome.retry()
        if decision.add_failed is not None:
            self._pending.add(view.key)  # PreferDualStack still waits for an address of its other family
        else:
            self._pending.discard(view.key)
            self._clear_reports(view.key, "AdditionalAssignFailed")
        self._clear_reports(view.key, "AllocationFailed")
        if changed:
            addresses = ", ".join(desired)
            if decision.added is not None:
                self.recorder.event(ref, "Normal", "IPAllocated", f"Assigned additional IP {decision.added}")
            else:
                self.recorder.event(ref, "Normal", "IPAllocated", f"Assigned IP [{addresses}]")
            self.recorder.event(ref, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
            log.bind(ip=addresses, pool=pool).info("load balancer ensured")
            self.on_allocations_changed()
            if decision.cleared is not None:
                self._freed()
        return Outcome.success()

    async def _cleanup(self, view: ServiceView, obj: dict[str, Any]) -> Outcome:
        ref = ObjectRef.of(obj, kind="Service", api_version="v1")
        _, exists = self.provider.get_load_balancer(view)
        if exists:
            self.recorder.event(ref, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        released = self.provider.ensure_load_balancer_deleted(view.key)
        if view.deleting:  # the object is going away: only the finalizer matters
            await self._write(view, finalizer=False)
        else:
            await self._write(view, finalizer=False, ingress=() if view.ingress_ips else None, pool=None)
        if exists:
            self.recorder.event(ref, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
            logger.bind(service=view.key, ip=", ".join(view.ingress_ips)).info("load balancer deleted")
        self._forget(view.key)
        if released is not None or exists:
            self._freed()
        return Outcome.success()

    # -- writes -----------------------------------------------------------------------------------------
    async def _write(
        self,
        view: ServiceView,
        *,
        finalizer: bool,
        ingress: Sequence[str] | None = None,
        pool: object = KEEP,
    ) -> None:
        """One strategic-merge PATCH of ``services/status`` with what differs from ``view``; nothing if nothing.

        Args:
            finalizer: whether our finalizer should be on the Service (merged into, or deleted from, the list,
                so other controllers' finalizers are never touched).
            ingress: the addresses ``status.loadBalancer.ingress`` should show; None leaves it alone.
            pool: the value of the ``ip-allocated-from-pool`` annotation (None removes it); KEEP leaves it.
        """
        meta: dict[str, Any] = {}
        if finalizer != (names.LB_CLEANUP_FINALIZER in view.finalizers):
            if finalizer:
                meta["finalizers"] = [names.LB_CLEANUP_FINALIZER]
            else:
                meta["$deleteFromPrimitiveList/finalizers"] = [names.LB_CLEANUP_FINALIZER]
        if pool is not KEEP and pool != view.annotations.get(ALLOCATED_FROM):
            meta["annotations"] = {ALLOCATED_FROM: pool}
        body: dict[str, Any] = {"metadata": meta} if meta else {}
        if ingress is not None:
            body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress] or None}}
        if not body:
            return
        self.fence()
        try:
            written = await self.kube.patch(
                SERVICES, view.name, body, namespace=view.namespace, patch_type="strategic", subresource="status"
            )
        except ApiError as exc:
            if exc.not_found and not finalizer:
                return  # removing our finalizer from a Service that is already gone
            raise
        rv = (written.get("metadata") or {}).get("resourceVersion")
        if rv is not None:
            self._own_writes[view.key] = str(rv)
        self.services.observe(written)


__all__ = ["ALLOCATED_FROM", "ServiceController"]
