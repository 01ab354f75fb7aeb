"""Kubernetes Events, written in the background and aggregated like client-go's EventCorrelator.

Controllers emit an event only when something changed (no event on a resync); the recorder adds a second guard:
an event identical to one it already wrote (same object, type, reason, message) bumps ``count`` and
``lastTimestamp`` on the existing Event instead of creating another object, so a flapping condition shows as
``x12 over 5m`` in ``kubectl describe`` rather than as spam (MetalLB's ``nodeAssigned`` "x6503 over 5d").

Writing never blocks the caller: events go to a bounded queue drained by :meth:`EventRecorder.run`. While the API
server is unreachable the writer retries the oldest event (backing off to ``max_retry_delay``) and the queue keeps
the newest ones: when it is full the oldest queued event is dropped and counted (``ironlb_events_dropped``).
Events the API server refuses are dropped and counted too.

Events pass the same write ``fence`` as every other write of a leader-elected daemon: a replica that lost its
Lease (or was paused past its renew deadline) writes none of what it queued before.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger
from prometheus_client import Counter

from ironlb.kube.resources import EVENTS
from ironlb.kube.rest import ApiError, Kube

DROPPED = Counter("ironlb_events_dropped", "Events not written because the queue was full or the API refused them")
MAX_MESSAGE = 1024


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""
    api_version: str = "v1"

    @classmethod
    def of(cls, obj: Mapping[str, Any], *, kind: str | None = None, api_version: str | None = None) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            kind=kind or str(obj.get("kind") or ""),
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
            api_version=api_version or str(obj.get("apiVersion") or "v1"),
        )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self,
        kube: Kube,
        *,
        component: str,
        host: str = "",
        max_pending: int = 1000,
        fence: Callable[[], None] = lambda: None,
        max_retry_delay: float = 2.0,
    ) -> None:
        self.kube = kube
        self.component = component
        self.host = host
        self.fence = fence
        self.max_retry_delay = max_retry_delay
        self._queue: asyncio.Queue[tuple[ObjectRef, str, str, str]] = asyncio.Queue(max_pending)
        #: aggregation key -> (event namespace, event name, count); bounded LRU
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()

    def event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Queue an event (``type_`` is ``Normal`` or ``Warning``). Never blocks, never raises."""
        logger.bind(kind=ref.kind, object=f"{ref.namespace}/{ref.name}", reason=reason, event_type=type_).info(message)
        if self._queue.full():
            self._queue.get_nowait()  # keep the newest
            DROPPED.inc()
        self._queue.put_nowait((ref, type_, reason, message[:MAX_MESSAGE]))

    def pending(self) -> int:
        """Events queued and not yet written."""
        return self._queue.qsize()

    async def flush(self) -> None:
        """Write everything queued so far, one attempt each (used on shutdown and by tests)."""
        while not self._queue.empty():
            with contextlib.suppress(ApiError):
                await self._write(*self._queue.get_nowait())

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            delay = 0.1
            while True:
                try:
                    await self._write(*item)
                    break
                except ApiError:  # unreachable: keep this event and try again
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_delay)

    async def _write(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Write one event. Raises :class:`ApiError` only when the API server is unreachable (worth a retry);
        a refused event, or one this replica may no longer write (the fence), is dropped and counted."""
        namespace = ref.namespace or "default"
        key = (ref.kind, namespace, ref.name, ref.uid, type_, reason, message)
        now = _now()
        try:
            self.fence()
        except Exception as exc:
            DROPPED.inc()
            logger.bind(reason=reason, error=str(exc)).debug("event not written")
            return
        try:
            seen = self._seen.get(key)
            if seen is not None:
                ev_ns, ev_name, count = seen
                try:
                    await self.kube.patch(EVENTS, ev_name, {"count": count + 1, "lastTimestamp": now}, namespace=ev_ns)
                    self._seen[key] = (ev_ns, ev_name, count + 1)
                    self._seen.move_to_end(key)
                    return
                except ApiError as exc:
                    if not exc.not_found:
                        raise
            name = f"{ref.name}.{secrets.token_hex(8)}"
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "kind": ref.kind,
                    "name": ref.name,
                    "namespace": ref.namespace or None,
                    "uid": ref.uid or None,
                    "apiVersion": ref.api_version,
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": self.component, "host": self.host or None},
                "reportingComponent": self.component,
                "reportingInstance": self.host or self.component,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            await self.kube.create(EVENTS, body, namespace=namespace)
            self._seen[key] = (namespace, name, 1)
            if len(self._seen) > 4096:
                self._seen.popitem(last=False)
        except ApiError as exc:
            if exc.unreachable:
                raise
            DROPPED.inc()
            logger.bind(reason=reason, error=str(exc)).warning("could not write event")


__all__ = ["EventRecorder", "ObjectRef"]
