"""Informers: LIST, then WATCH from the list's resourceVersion, for ever, with the store kept on the event loop.

Theory of operation (client-go's reflector, kopf's ``continuous_watch``)
------------------------------------------------------------------------
A thread per informer runs the blocking official-client calls: it LISTs, hands the whole list to the loop, then
WATCHes from the list's resourceVersion. Every watch event is handed to the loop with ``call_soon_threadsafe``;
the store (key -> object) is only ever touched on the loop, so handlers read it without locks.

* A relist (first start, 410 Gone, a watch that cannot resume) is diffed against the store: objects that vanished
  meanwhile produce DELETED, changed ones MODIFIED, new ones ADDED. Handlers therefore see a consistent event
  stream however long the API server was away, and nothing is lost or duplicated.
* BOOKMARK events only advance the resourceVersion. A watch that ends (``timeoutSeconds``) resumes from the last
  resourceVersion seen; errors back off (doubling, capped low so a returning API server is caught quickly).
* ``synced`` is set after the first LIST has been applied: controllers wait on it before acting (start-up
  barrier), so nothing is decided from a partial view.
* A controller that has just written an object hands the server's answer to :meth:`Informer.observe`; until the
  watch delivers that version (or a newer one), :meth:`Informer.get` returns it instead of the older cached copy
  (client-go's MutationCache). Without this, a reconcile that runs between the write and its watch event would
  see the object as it was before the write and do the work, and emit the Events, a second time.
* Reconnect handlers run (on the loop) when a watch is established again after the API server could not be
  reached, so controllers can retry at once what failed during the outage instead of waiting out a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from ironlb.kube import metrics
from ironlb.kube.resources import Resource
from ironlb.kube.rest import ApiError, Rest


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    key: str
    object: dict[str, Any]  # for DELETED: the last state known
    old: dict[str, Any] | None = None


Handler = Callable[[Sequence[WatchEvent]], None]


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _rv_number(obj: Mapping[str, Any]) -> int | None:
    """The resourceVersion as a number, or None. Resource versions are opaque to clients in general, but every
    API server (etcd revisions, and the lab's emulator) issues increasing integers; client-go's MutationCache
    relies on the same. Where one is not a number, :meth:`Informer.observe` simply does nothing."""
    text = _rv(obj)
    return int(text) if text.isdigit() else None


class Informer:
    def __init__(
        self,
        rest: Rest,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        watch_timeout: int = 300,
        max_backoff: float = 2.0,
    ) -> None:
        self.rest = rest
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.store: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []
        self._reconnect_handlers: list[Callable[[], None]] = []
        #: key -> an object this process wrote, newer than the store's copy until the watch catches up
        self._written: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._close_lock = threading.Lock()
        self._close_stream: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing = False  # touched by the informer thread only

    @property
    def name(self) -> str:
        return self.resource.plural

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def add_reconnect_handler(self, handler: Callable[[], None]) -> None:
        """``handler()`` runs on the loop each time a watch is re-established after the API was unreachable."""
        self._reconnect_handlers.append(handler)

    def get(self, key: str) -> dict[str, Any] | None:
        """The newest known state of ``key``: the watched copy, or an object written since (see :meth:`observe`)."""
        cached = self.store.get(key)
        written = self._written.get(key)
        if written is None or cached is None:
            return cached
        return written

    def observe(self, obj: dict[str, Any]) -> None:
        """Record an object as returned by a write of ours, so :meth:`get` does not go back in time meanwhile."""
        key = self.resource.key(obj)
        cached = self.store.get(key)
        new_rv = _rv_number(obj)
        if cached is None or new_rv is None:
            return
        old_rv = _rv_number(cached)
        if old_rv is not None and new_rv > old_rv:
            known = self._written.get(key)
            if known is None or new_rv > (_rv_number(known) or 0):
                self._written[key] = obj

    def _catch_up(self, key: str, obj: dict[str, Any] | None) -> None:
        """The watch delivered ``obj`` for ``key`` (None: deleted): drop a written copy it makes obsolete."""
        written = self._written.get(key)
        if written is None:
            return
        rv = _rv_number(obj) if obj is not None else None
        if obj is None or rv is None or rv >= (_rv_number(written) or 0):
            del self._written[key]

    # -- the loop side --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        thread = threading.Thread(target=self._thread_main, name=f"informer-{self.name}", daemon=True)
        thread.start()
        try:
            await asyncio.Future()
        finally:
            self._stop.set()
            with self._close_lock:
                if self._close_stream is not None:
                    self._close_stream()

    def _dispatch(self, events: Sequence[WatchEvent]) -> None:
        if not events:
            return
        for handler in self._handlers:
            try:
                handler(events)
            except Exception:  # a broken handler must not stop the informer
                logger.bind(resource=self.name).exception("informer handler failed")

    def _apply_list(self, items: list[dict[str, Any]]) -> None:
        fresh = {self.resource.key(obj): obj for obj in items}
        events: list[WatchEvent] = []
        for key, obj in fresh.items():
            old = self.store.get(key)
            if old is None:
                events.append(WatchEvent(EventType.ADDED, key, obj))
            elif _rv(old) != _rv(obj):
                events.append(WatchEvent(EventType.MODIFIED, key, obj, old))
        events.extend(WatchEvent(EventType.DELETED, key, obj) for key, obj in self.store.items() if key not in fresh)
        self.store = fresh
        for key in list(self._written):
            self._catch_up(key, fresh.get(key))
        self._dispatch(events)
        self.synced.set()

    def _apply_event(self, kind: str, obj: dict[str, Any]) -> None:
        key = self.resource.key(obj)
        old = self.store.get(key)
        self._catch_up(key, None if kind == "DELETED" else obj)
        if kind == "DELETED":
            if self.store.pop(key, None) is not None:
                self._dispatch([WatchEvent(EventType.DELETED, key, obj, old)])
            return
        self.store[key] = obj
        event_type = EventType.ADDED if old is None else EventType.MODIFIED
        self._dispatch([WatchEvent(event_type, key, obj, old)])

    def _reconnected(self) -> None:
        for handler in self._reconnect_handlers:
            try:
                handler()
            except Exception:
                logger.bind(resource=self.name).exception("informer reconnect handler failed")

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(fn, *args)

    # -- the thread side ------------------------------------------------------------------------------
    def _query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        return query

    def _thread_main(self) -> None:
        path = self.resource.path(self.namespace)
        log = logger.bind(resource=self.name)
        resource_version: str | None = None
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    data = self.rest.call("GET", path, query=self._query(), timeout=60)
                    resource_version = str((data.get("metadata") or {}).get("resourceVersion", ""))
                    self._to_loop(self._apply_list, list(data.get("items") or []))
                    self._connected()
                resource_version = self._watch(path, resource_version)
                backoff = 0.1
            except ApiError as exc:
                if self._stop.is_set():
                    return
                if exc.gone:
                    metrics.WATCH_RESTARTS.labels(self.name, "gone").inc()
                    log.info("watch history expired (410 Gone); relisting")
                    resource_version = None
                    continue
                metrics.WATCH_RESTARTS.labels(self.name, "error").inc()
                self._failing = True
                log.bind(error=str(exc)).warning("watch failed; retrying")
                self._stop.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # never let a malformed response kill the informer thread
                metrics.WATCH_RESTARTS.labels(self.name, "error").inc()
                self._failing = True
                log.bind(error=repr(exc)).warning("watch broke unexpectedly; relisting")
                resource_version = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _connected(self) -> None:
        """A LIST or a watch just succeeded: if the previous attempt had failed, tell the reconnect handlers."""
        if self._failing:
            self._failing = False
            self._to_loop(self._reconnected)

    def _watch(self, path: str, resource_version: str) -> str:
        query = self._query() | {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout),
        }
        events, close = self.rest.stream(path, query=query, timeout=(10.0, self.watch_timeout + 30.0))
        with self._close_lock:
            self._close_stream = close
        self._connected()
        try:
            for event in events:
                if self._stop.is_set():
                    break
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    raise ApiError(code, str(obj.get("reason") or "Error"), str(obj.get("message") or ""), obj)
                if kind == "BOOKMARK":
                    resource_version = _rv(obj) or resource_version
                    continue
                if kind not in ("ADDED", "MODIFIED", "DELETED") or not isinstance(obj, dict):
                    continue
                resource_version = _rv(obj) or resource_version
                self._to_loop(self._apply_event, kind, obj)
        finally:
            with self._close_lock:
                self._close_stream = None
            close()
        return resource_version


__all__ = ["EventType", "Handler", "Informer", "WatchEvent"]
