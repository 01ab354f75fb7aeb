"""ServiceL2Status and ServiceBGPStatus: one object per Service this node announces, kept equal to what it does.

MetalLB's status CRs (reference/metallb.md section 1.7), in the configuration namespace, labelled
``metallb.io/node``, ``metallb.io/service-name`` and ``metallb.io/service-namespace``, owned by the speaker pod
(so they go when the pod does), content in ``status``:

* ServiceL2Status - written by the node that answers for the Service's addresses: ``node``, ``serviceName``,
  ``serviceNamespace``, ``interfaces[].name``; deleted when the node stops announcing;
* ServiceBGPStatus - written by every node advertising the Service: the same three fields and ``peers`` (the
  BGPPeer names its routes go to: intent, not session state).

The controllers say what should exist (:meth:`StatusWriter.announce` / :meth:`StatusWriter.withdraw`); a work
queue keyed by (kind, Service) makes the API match it - create, patch the status subresource, delete - with
retries and backoff, level-triggered (client-go's shape). Object names are derived from node and Service
(``l2-`` / ``bgp-`` + 12 hex digits of sha256), so a restarted speaker finds and reuses its own objects, and
deletes those of Services it no longer announces. None of this is on the announcing path: while the API server
is unreachable the writes wait and the data planes carry on.

Starting to announce a Service emits ``nodeAssigned`` when the announcing node changed (:mod:`.assignments`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loguru import logger

from ironlb.api import names
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import EventType, Informer, WatchEvent
from ironlb.kube.resources import Resource, metallb
from ironlb.kube.rest import ApiError, Kube, Rest
from ironlb.kube.workqueue import Outcome, WorkQueue, run_workers
from speaker.status.assignments import AssignmentEvents, node_assigned_message

L2 = "ServiceL2Status"
BGP = "ServiceBGPStatus"
PROTOCOLS = {L2: "layer2", BGP: "bgp"}
_PREFIX = {L2: "l2", BGP: "bgp"}
Key = tuple[str, str]  # (kind, service key)


def status_name(kind: str, node: str, service_key: str) -> str:
    digest = hashlib.sha256(f"{node}/{service_key}".encode()).hexdigest()[:12]
    return f"{_PREFIX[kind]}-{digest}"


def _labels_key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    node = labels.get(names.LABEL_STATUS_NODE)
    name = labels.get(names.LABEL_STATUS_SERVICE_NAME)
    namespace = labels.get(names.LABEL_STATUS_SERVICE_NAMESPACE)
    if not (node and name and namespace):
        return None
    return node, f"{namespace}/{name}"


class StatusWriter:
    """Keeps this node's status objects equal to the announcements, and emits the Service Events.

    Args:
        service_ref: the Service object reference for Events (None when the Service is not known).
        owner: this speaker's Pod object, for ownerReferences (None when unknown).
    """

    def __init__(
        self,
        rest: Rest,
        kube: Kube,
        recorder: EventRecorder,
        *,
        namespace: str,
        node: str,
        service_ref: Callable[[str], ObjectRef | None],
        owner: Callable[[], Mapping[str, Any] | None],
    ) -> None:
        self.kube = kube
        self.recorder = recorder
        self.namespace = namespace
        self.node = node
        self._service_ref = service_ref
        self._owner = owner
        self.resources: dict[str, Resource] = {kind: metallb(kind) for kind in (L2, BGP)}
        # every node's ServiceL2Status (one per L2 Service: small), only this node's ServiceBGPStatus (every node
        # advertising a Service has one)
        self.informers = {
            L2: Informer(rest, self.resources[L2], namespace=namespace),
            BGP: Informer(
                rest, self.resources[BGP], namespace=namespace, label_selector=f"{names.LABEL_STATUS_NODE}={node}"
            ),
        }
        self._index: dict[Key, dict[str, str]] = {}
        self._desired: dict[Key, dict[str, Any]] = {}
        self.events = {kind: AssignmentEvents(node) for kind in (L2, BGP)}
        self.queue: WorkQueue[Key] = WorkQueue(base_delay=1.0, max_delay=30.0)
        self.synced = asyncio.Event()
        for kind, informer in self.informers.items():
            informer.add_handler(lambda events, kind=kind: self._on_events(kind, events))  # type: ignore[misc]

    # -- what the controllers say --------------------------------------------------------------------------------
    def recorded(self, kind: str, key: str) -> frozenset[str]:
        """Nodes whose status objects for ``key`` the informer holds."""
        return frozenset(self._index.get((kind, key), {}))

    def announce(self, kind: str, key: str, content: Mapping[str, Any]) -> None:
        """This node announces Service ``key`` (``content``: ``interfaces`` or ``peers``)."""
        if self.events[kind].announce(key, self.recorded(kind, key)):
            ref = self._service_ref(key)
            if ref is not None:
                self.recorder.event(ref, "Normal", "nodeAssigned", node_assigned_message(self.node, PROTOCOLS[kind]))
        if self._desired.get((kind, key)) != content:
            self._desired[(kind, key)] = dict(content)
            self.queue.add((kind, key))

    def withdraw(self, kind: str, key: str) -> None:
        self.events[kind].withdraw(key)
        if self._desired.pop((kind, key), None) is not None or self.node in self._index.get((kind, key), {}):
            self.queue.add((kind, key))

    def warn(self, key: str, reason: str, message: str) -> None:
        """A Warning Event on Service ``key`` (e.g. AddressConflict)."""
        ref = self._service_ref(key)
        if ref is not None:
            self.recorder.event(ref, "Warning", reason, message)

    def desired(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: content for (k, key), content in self._desired.items() if k == kind}

    # -- the loop ------------------------------------------------------------------------------------------------
    def _on_events(self, kind: str, events: Sequence[WatchEvent]) -> None:
        for event in events:
            found = _labels_key(event.object)
            if found is None:
                continue
            node, key = found
            nodes = self._index.setdefault((kind, key), {})
            if event.type is EventType.DELETED:
                nodes.pop(node, None)
                if not nodes:
                    del self._index[(kind, key)]
            else:
                nodes[node] = event.key
            if node == self.node and self.synced.is_set():
                self.queue.add((kind, key))

    async def run(self, *, start: asyncio.Event) -> None:
        """Run the informers; once ``start`` is set (the controllers said what they announce), write."""
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in self.informers.values()]
        try:
            await asyncio.gather(*(i.synced.wait() for i in self.informers.values()))
            self.synced.set()
            await start.wait()
            for kind, key in list(self._index):
                if self.node in self._index.get((kind, key), {}):
                    self.queue.add((kind, key))  # stale objects from before a restart are deleted
            await run_workers(self.queue, self._reconcile, concurrency=2, name="status")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _reconcile(self, item: Key) -> Outcome:
        kind, key = item
        resource = self.resources[kind]
        desired = self._desired.get(item)
        existing_key = self._index.get(item, {}).get(self.node)
        existing = self.informers[kind].get(existing_key) if existing_key else None
        try:
            if desired is None:
                if existing is not None:
                    await self.kube.delete(resource, existing["metadata"]["name"], self.namespace)
                return Outcome.success()
            namespace, _, name = key.partition("/")
            status = {"node": self.node, "serviceName": name, "serviceNamespace": namespace, **desired}
            if existing is None:
                existing = await self._create(kind, key, namespace, name)
            if (existing.get("status") or {}) != status:
                await self.kube.patch(
                    resource, existing["metadata"]["name"], {"status": status}, namespace=self.namespace,
                    subresource="status",
                )  # fmt: skip
        except ApiError as exc:
            logger.bind(kind=kind, service=key, error=str(exc)).warning("could not write the status object; retrying")
            return Outcome.retry()
        return Outcome.success()

    async def _create(self, kind: str, key: str, namespace: str, name: str) -> dict[str, Any]:
        resource = self.resources[kind]
        obj_name = status_name(kind, self.node, key)
        metadata: dict[str, Any] = {
            "name": obj_name,
            "namespace": self.namespace,
            "labels": {
                names.LABEL_STATUS_NODE: self.node,
                names.LABEL_STATUS_SERVICE_NAME: name,
                names.LABEL_STATUS_SERVICE_NAMESPACE: namespace,
            },
        }
        pod = self._owner()
        if pod is not None and (pod.get("metadata") or {}).get("uid"):
            metadata["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
            ]
        body = {"apiVersion": resource.api_version, "kind": kind, "metadata": metadata, "spec": {}}
        try:
            return await self.kube.create(resource, body, namespace=self.namespace)
        except ApiError as exc:
            if not exc.already_exists:
                raise
            found = await self.kube.get(resource, obj_name, self.namespace)
            if found is None:
                raise
            return found

    async def withdraw_all(self, limit: float) -> None:
        """Planned stop: delete every status object of this node now (best effort, within ``limit`` seconds)."""
        self._desired.clear()
        for kind in (L2, BGP):
            for key in self.events[kind].announcing():
                self.events[kind].withdraw(key)
        doomed = [
            (self.resources[kind], self.informers[kind].get(obj_key))
            for (kind, _), nodes in self._index.items()
            if (obj_key := nodes.get(self.node)) is not None
        ]

        async def delete_all() -> None:
            for resource, obj in doomed:
                if obj is not None:
                    with contextlib.suppress(ApiError):
                        await self.kube.delete(resource, obj["metadata"]["name"], self.namespace)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(delete_all(), limit)


__all__ = ["BGP", "L2", "PROTOCOLS", "StatusWriter", "status_name"]
