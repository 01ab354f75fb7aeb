"""Watch streams: ``?watch=true`` as a chunked HTTP response of newline-delimited JSON events.

A watch without ``resourceVersion`` (or with ``"0"``) starts with one synthetic ADDED per existing object and
then follows changes; with ``resourceVersion=N`` it replays the retained history after N first. A watch from
a compacted revision still gets 200, then a single ``ERROR`` event carrying a 410 ``Expired`` Status (the
cacher reports errors found after admission that way) and the end of the stream - the signal for an informer
to relist. ``allowWatchBookmarks=true`` adds BOOKMARK events (only ``metadata.resourceVersion``) at the
server's bookmark interval; ``sendInitialEvents=true`` ends the initial ADDED events with a bookmark annotated
``k8s.io/initial-events-end``. ``timeoutSeconds`` ends the stream (default: a random 30-60 minutes, as
``--min-request-timeout`` does).

Each event's JSON is encoded once per representation and shared by every watcher that needs it, so fan-out to
hundreds of watchers costs a queue append and a socket write each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hack.lab.apiserver import codec, errors, selectors, tables
from hack.lab.apiserver.cluster import parse_rv
from hack.lab.apiserver.resources import ResourceType
from hack.lab.apiserver.store import Change, Watcher

if TYPE_CHECKING:
    from hack.lab.apiserver.handlers import ServerState

JSON = dict[str, Any]
WAIT_FOR_FRESH_SECONDS = 3.0
_SEP = (",", ":")


def _int_param(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None


def _encode_event(kind: str, obj: JSON) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=_SEP, ensure_ascii=False).encode() + b"\n"


class WatchStream:
    """One client's watch: registration with the store, then a loop that writes what arrives."""

    def __init__(
        self, state: ServerState, rt: ResourceType, namespace: str | None, fmt: codec.Format, include: str
    ) -> None:
        self.state = state
        self.rt = rt
        self.namespace = namespace
        self.fmt = fmt
        self.include = include
        self.wake = asyncio.Event()

    def _render(self, kind: str, change: Change) -> bytes:
        rt = self.rt
        if self.fmt.as_kind == "Table":
            obj = self.state.cluster.external(rt, change.obj)
            table = tables.table(
                rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""), include=self.include
            )
            table["apiVersion"] = f"meta.k8s.io/{self.fmt.meta_version}"
            return _encode_event(kind, table)
        key = (rt.api_version, self.fmt.as_kind, kind)
        cached = change.encoded.get(key)
        if cached is None:
            obj = self.state.cluster.external(rt, change.obj)
            if self.fmt.as_kind.startswith("PartialObjectMetadata"):
                obj = tables.partial_metadata(obj)
            cached = _encode_event(kind, obj)
            change.encoded[key] = cached
        return cached

    def _bookmark(self, rv: int, *, initial_end: bool = False) -> bytes:
        m: JSON = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            m["annotations"] = {"k8s.io/initial-events-end": "true"}
        return _encode_event("BOOKMARK", {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": m})

    async def serve(self, request: web.Request) -> web.StreamResponse:
        params = request.query
        cluster = self.state.cluster
        store = cluster.store
        labels = selectors.parse_label_selector(params.get("labelSelector"))
        terms = selectors.parse_field_selector(params.get("fieldSelector"), self.rt)
        matches = selectors.make_filter(labels, terms, self.rt)
        rv = parse_rv(params.get("resourceVersion"))
        timeout = _int_param(params, "timeoutSeconds")
        if not timeout or timeout < 0:  # 0 or absent: the server's own random timeout
            timeout = random.randint(self.state.min_request_timeout, 2 * self.state.min_request_timeout)
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        send_initial = params.get("sendInitialEvents") in ("true", "1")
        if send_initial and not bookmarks:
            raise errors.invalid_object(
                "meta.k8s.io",
                "ListOptions",
                "",
                [
                    errors.forbidden(
                        "allowWatchBookmarks", "allowWatchBookmarks must be set to true when sendInitialEvents is set"
                    )
                ],
            )
        if rv is not None and rv > store.rv:
            for _ in range(int(WAIT_FOR_FRESH_SECONDS / 0.05)):  # the cacher waits this long to catch up
                if rv <= store.rv:
                    break
                await asyncio.sleep(0.05)
            if rv > store.rv:
                raise errors.too_large_resource_version(rv)
        ns = self.namespace if self.rt.namespaced else None
        initial: list[JSON] | None = None
        since: int | None = None
        if rv in (None, 0) or send_initial:
            initial = store.list_objects(self.rt.storage, ns)
            if rv not in (None, 0) and send_initial:
                initial = None
                since = rv
        else:
            since = rv
        start_rv = store.rv
        watcher: Watcher | None = None
        failure: errors.ApiError | None = None
        try:
            watcher = store.watch(
                self.rt.storage, namespace=ns, since=since, matches=matches, notify=self.wake.set, initial=initial
            )
        except errors.ApiError as exc:
            failure = exc
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        self.state.streams.add(response)
        try:
            await response.prepare(request)
            if failure is not None or watcher is None:
                status = failure.status() if failure else errors.internal("watch failed").status()
                await response.write(_encode_event("ERROR", status))
                return response
            await self._pump(
                response, watcher, duration=timeout, bookmarks=bookmarks, send_initial=send_initial, start_rv=start_rv
            )
        except (ConnectionResetError, asyncio.CancelledError, RuntimeError):
            pass
        finally:
            self.state.streams.discard(response)
            if watcher is not None:
                store.unwatch(watcher)
        return response

    async def _pump(
        self,
        response: web.StreamResponse,
        watcher: Watcher,
        *,
        duration: int,
        bookmarks: bool,
        send_initial: bool,
        start_rv: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        store = self.state.cluster.store
        end = loop.time() + duration
        interval = self.state.bookmark_interval
        next_bookmark = loop.time() + interval
        last_rv = start_rv
        if send_initial:
            chunk = self._drain(watcher)
            if chunk:
                await response.write(chunk)
            await response.write(self._bookmark(start_rv, initial_end=True))
        while True:
            now = loop.time()
            if now >= end:
                return
            wait = end - now
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            if not watcher.queue and not watcher.closed:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
            if watcher.queue:
                last_rv = watcher.queue[-1][1].rv
                chunk = self._drain(watcher)
                await response.write(chunk)
            if watcher.closed:
                return
            if bookmarks and loop.time() >= next_bookmark and not watcher.queue:
                # Computed with nothing queued and no await before it: every change up to here has been sent.
                await response.write(self._bookmark(max(last_rv, store.rv)))
                next_bookmark = loop.time() + interval

    def _drain(self, watcher: Watcher) -> bytes:
        parts: list[bytes] = []
        queue = watcher.queue
        while queue:
            kind, change = queue.popleft()
            parts.append(self._render(kind, change))
        return b"".join(parts)


__all__ = ["WatchStream"]
