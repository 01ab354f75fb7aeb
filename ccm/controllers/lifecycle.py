"""The cloud-node-lifecycle controller, with bare-metal answers (reference/peers-and-cloud-provider.md 1.5).

Every ``--node-monitor-period`` (5 s) it looks at every Node:

* Ready: the ``node.cloudprovider.kubernetes.io/shutdown`` taint, if present, is removed.
* Not Ready and the instance no longer exists (a person annotated ``ironlb.io/machine-removed: "true"``): the Node
  object is deleted (event ``DeletingNode``). Nothing else ever makes ironlb delete a Node.
* Not Ready and the machine is shut down (the upstream ``node.kubernetes.io/out-of-service`` taint, or
  ``ironlb.io/machine-shutdown: "true"``): the shutdown taint (NoSchedule) is added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger

from ccm.provider import instances
from ironlb.api import names
from ironlb.api.node import NodeView
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import Informer
from ironlb.kube.resources import NODES
from ironlb.kube.rest import ApiError, Kube

SHUTDOWN_TAINT = {"key": names.TAINT_SHUTDOWN, "effect": "NoSchedule"}


class LifecycleController:
    def __init__(
        self,
        kube: Kube,
        nodes: Informer,
        recorder: EventRecorder,
        *,
        fence: Callable[[], None],
        monitor_period: float = 5.0,
    ) -> None:
        self.kube = kube
        self.nodes = nodes
        self.recorder = recorder
        self.fence = fence
        self.monitor_period = monitor_period

    async def run(self) -> None:
        await self.nodes.synced.wait()
        while True:
            await self.sync_once()
            await asyncio.sleep(self.monitor_period)

    async def sync_once(self) -> None:
        for obj in list(self.nodes.store.values()):
            node = NodeView.from_object(obj)
            try:
                await self._sync_node(node, obj)
            except ApiError as exc:
                logger.bind(node=node.name, error=str(exc)).warning("node lifecycle action failed; will retry")

    async def _sync_node(self, node: NodeView, obj: dict[str, Any]) -> None:
        ref = ObjectRef.of(obj, kind="Node")
        if node.ready:
            if node.has_taint(names.TAINT_SHUTDOWN):
                await self._set_shutdown_taint(node.name, present=False)
            return
        if not instances.instance_exists(node):
            self.fence()
            self.recorder.event(ref, "Normal", "DeletingNode", f"Deleting node {node.name} because it does not exist")
            await self.kube.delete(NODES, node.name)
            return
        if instances.instance_shutdown(node) and not node.has_taint(names.TAINT_SHUTDOWN):
            await self._set_shutdown_taint(node.name, present=True)

    async def _set_shutdown_taint(self, name: str, *, present: bool) -> None:
        for _ in range(20):
            obj = await self.kube.get(NODES, name)
            if obj is None:
                return
            spec = obj.setdefault("spec", {})
            taints = [t for t in spec.get("taints") or [] if t.get("key") != names.TAINT_SHUTDOWN]
            if present:
                taints.append(dict(SHUTDOWN_TAINT))
            spec["taints"] = taints
            self.fence()
            try:
                await self.kube.replace(NODES, obj)
                logger.bind(node=name).info("added shutdown taint" if present else "removed shutdown taint")
                return
            except ApiError as exc:
                if not exc.conflict:
                    raise
                await asyncio.sleep(0.05)


__all__ = ["LifecycleController"]
