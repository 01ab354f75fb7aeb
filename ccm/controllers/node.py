"""The cloud-node controller: initializes Nodes registered by kubelets running with ``--cloud-provider=external``.

Such a kubelet registers its Node with the taint ``node.cloudprovider.kubernetes.io/uninitialized`` and waits for a
cloud provider to fill in what only the provider knows (reference/peers-and-cloud-provider.md 1.4). For each
tainted node this controller:

1. computes the instance metadata (:mod:`ccm.provider.instances`); a node without a usable address stays tainted
   and gets one Warning event saying how to fix it;
2. patches ``status.addresses`` (the provided node IP first, then the Hostname) - *before* removing the taint, so
   nothing schedules onto a node whose addresses are still empty (upstream does it the other way round);
3. sets ``spec.providerID`` to ``ironlb://<node>`` when empty (it is immutable afterwards) and removes the taint, in
   one Update retried on conflict (the node's kubelet writes the same object);
4. emits the Normal event ``Synced``.

Initialized nodes get their addresses refreshed every ``--node-status-update-frequency`` (5 m), as upstream.
Nodes without the taint are never touched otherwise: a cluster that does not run external kubelets is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from ccm.provider import instances
from ironlb.api import names
from ironlb.api.node import NodeView
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import EventType, Informer, WatchEvent
from ironlb.kube.resources import NODES
from ironlb.kube.rest import ApiError, Kube
from ironlb.kube.workqueue import Outcome, WorkQueue, run_workers

CONFLICT_RETRIES = 20


def _addresses_body(meta: instances.InstanceMetadata) -> list[dict[str, str]]:
    return [{"type": a.type, "address": a.address} for a in meta.addresses]


class NodeController:
    def __init__(
        self,
        kube: Kube,
        nodes: Informer,
        recorder: EventRecorder,
        *,
        fence: Callable[[], None],
        concurrency: int = 1,
        status_update_frequency: float = 300.0,
    ) -> None:
        self.kube = kube
        self.nodes = nodes
        self.recorder = recorder
        self.fence = fence
        self.concurrency = concurrency
        self.status_update_frequency = status_update_frequency
        self.queue: WorkQueue[str] = WorkQueue()
        self._warned: dict[str, str] = {}
        nodes.add_handler(self._on_events)

    def _on_events(self, events: Sequence[WatchEvent]) -> None:
        for event in events:
            if event.type is EventType.DELETED:
                self._warned.pop(event.key, None)
                continue
            if NodeView.from_object(event.object).has_taint(names.TAINT_UNINITIALIZED):
                self.queue.add(event.key)

    async def run(self) -> None:
        await self.nodes.synced.wait()
        for key in list(self.nodes.store):
            self.queue.add(key)
        refresher = asyncio.create_task(self._refresh_loop(), name="node-address-refresh")
        try:
            await run_workers(self.queue, self.reconcile, concurrency=self.concurrency, name="cloud-node")
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    async def reconcile(self, key: str) -> Outcome:
        obj = self.nodes.get(key)
        if obj is None:
            return Outcome.success()
        node = NodeView.from_object(obj)
        if not node.has_taint(names.TAINT_UNINITIALIZED):
            return Outcome.success()
        try:
            meta = instances.instance_metadata(node)
        except instances.MetadataError as exc:
            if self._warned.get(key) != str(exc):
                self._warned[key] = str(exc)
                self.recorder.event(ObjectRef.of(obj, kind="Node"), "Warning", "NodeInitializationFailed", str(exc))
            return Outcome.retry()
        self._warned.pop(key, None)
        self.fence()
        await self._patch_addresses(node.name, meta)
        await self._initialize(node.name, meta)
        self.recorder.event(ObjectRef.of(obj, kind="Node"), "Normal", "Synced", "Node synced successfully")
        logger.bind(node=node.name, provider_id=meta.provider_id).info("initialized node")
        return Outcome.success()

    async def _patch_addresses(self, name: str, meta: instances.InstanceMetadata) -> None:
        await self.kube.patch(NODES, name, {"status": {"addresses": _addresses_body(meta)}}, subresource="status")

    async def _initialize(self, name: str, meta: instances.InstanceMetadata) -> None:
        """Set providerID and drop the taint in one Update, retried on conflict as upstream's RetryOnConflict."""
        for attempt in range(CONFLICT_RETRIES):
            obj = await self.kube.get(NODES, name)
            if obj is None:
                return
            spec: dict[str, Any] = obj.setdefault("spec", {})
            if not spec.get("providerID"):
                spec["providerID"] = meta.provider_id
            spec["taints"] = [t for t in spec.get("taints") or [] if t.get("key") != names.TAINT_UNINITIALIZED]
            if not spec["taints"]:
                del spec["taints"]
            self.fence()
            try:
                await self.kube.replace(NODES, obj)
                return
            except ApiError as exc:
                if not exc.conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
                await asyncio.sleep(0.05)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_update_frequency)
            for obj in list(self.nodes.store.values()):
                node = NodeView.from_object(obj)
                if node.has_taint(names.TAINT_UNINITIALIZED) or not node.provided_node_ips:
                    continue
                try:
                    meta = instances.instance_metadata(node)
                except instances.MetadataError:
                    continue
                current = [{"type": a.type, "address": a.address} for a in node.addresses]
                if current != _addresses_body(meta):
                    try:
                        self.fence()
                        await self._patch_addresses(node.name, meta)
                    except ApiError as exc:
                        logger.bind(node=node.name, error=str(exc)).warning("could not refresh node addresses")


__all__ = ["NodeController"]
