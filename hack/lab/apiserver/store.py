"""Storage with etcd's semantics: one cluster-wide revision, a bounded history, compaction, watchers.

Theory of operation
-------------------
Every committed change (create, update, delete) takes the next value of a single counter, ``rv``; the new
object carries it as ``metadata.resourceVersion``. That is what etcd's revision is to kube-apiserver, and what
clients rely on: resourceVersions are comparable only for equality by contract, but they are monotonic across
all kinds, so a list's resourceVersion is "everything up to here".

Each change is appended to a global history (``Change``: revision, storage key, type, object after, object
before). The history is bounded by ``window`` changes; older ones are compacted away, and ``compacted_rv``
remembers the newest revision that is no longer available. A watch from revision N replays the retained
changes after N and then follows live ones; when N is older than the compaction point the watch gets 410
("too old resource version"), which is what makes informers relist. :meth:`Store.compact` drops the whole
history at once, so tests can force that path. The history also gives consistent reads in the past
(:meth:`Store.snapshot`): the current objects with the newer changes undone, which is how ``continue`` tokens
and ``resourceVersionMatch=Exact`` read "as of" a revision, and expire with 410 exactly when etcd would.

Watchers register with a filter; every commit is offered to the watchers of its storage key synchronously,
in commit order, before the writing request returns. A watcher whose filter (label/field selector) stops or
starts matching an object sees DELETED or ADDED, as the watch cache reports it. A watcher that falls more than
``max_backlog`` events behind is closed (the real server drops slow watchers too); its client reconnects
from its last resourceVersion.

The store never mutates an object it has handed out: commits store new dicts, so readers may serialize stored
objects without copying. It runs on one asyncio loop; nothing here awaits, so a commit and its fan-out are
atomic with respect to other requests.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hack.lab.apiserver import errors

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(slots=True)
class Change:
    rv: int
    storage: str
    type: str
    obj: JSON
    prev: JSON | None
    #: encodings of this change, shared by every watcher that wants the same representation
    encoded: dict[Any, bytes] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        m = self.obj["metadata"]
        return (m.get("namespace") or "", m["name"])


Filter = Callable[[JSON], bool]


class Watcher:
    """One registered watch: a queue of (type, change) the streaming side drains."""

    def __init__(
        self,
        storage: str,
        namespace: str | None,
        matches: Filter,
        notify: Callable[[], None],
        *,
        max_backlog: int,
    ) -> None:
        self.storage = storage
        self.namespace = namespace
        self.matches = matches
        self.notify = notify
        self.queue: deque[tuple[str, Change]] = deque()
        self.max_backlog = max_backlog
        self.closed = False
        #: set when the store dropped the watcher (backlog overflow, compaction of what it needed, shutdown)
        self.terminated = False

    def offer(self, change: Change) -> None:
        if self.closed:
            return
        if self.namespace is not None and change.key[0] != self.namespace:
            return
        kind = self._translate(change)
        if kind is None:
            return
        if len(self.queue) >= self.max_backlog:
            self.terminated = True
            self.closed = True
            self.notify()
            return
        self.queue.append((kind, change))
        self.notify()

    def _translate(self, change: Change) -> str | None:
        # The watch cache's filtering: an object moving into or out of the selector is ADDED or DELETED.
        if change.type == ADDED:
            return ADDED if self.matches(change.obj) else None
        if change.type == DELETED:
            return DELETED if self.matches(change.prev or change.obj) else None
        new = self.matches(change.obj)
        old = change.prev is not None and self.matches(change.prev)
        if new and old:
            return MODIFIED
        if new:
            return ADDED
        if old:
            return DELETED
        return None


CommitHook = Callable[[Change], None]


class Store:
    """Objects by storage key and (namespace, name), with revisions, history and watchers."""

    def __init__(self, *, window: int = 10_000, max_backlog: int = 50_000) -> None:
        self.rv = 1  # etcd starts above zero; "0" means "any" to clients
        self.window = window
        self.max_backlog = max_backlog
        self.compacted_rv = 1
        self._objects: dict[str, dict[Key, JSON]] = {}
        self._sorted: dict[str, list[Key] | None] = {}
        self._history: deque[Change] = deque()
        self._watchers: dict[str, list[Watcher]] = {}
        self._hooks: list[CommitHook] = []

    # ------------------------------------------------------------------------------------------- reads

    def get(self, storage: str, namespace: str, name: str) -> JSON | None:
        return self._objects.get(storage, {}).get((namespace, name))

    def keys(self, storage: str) -> list[Key]:
        """Keys in etcd order (namespace, then name)."""
        cached = self._sorted.get(storage)
        if cached is None:
            cached = sorted(self._objects.get(storage, {}))
            self._sorted[storage] = cached
        return cached

    def list_objects(self, storage: str, namespace: str | None = None) -> list[JSON]:
        objects = self._objects.get(storage, {})
        return [objects[k] for k in self.keys(storage) if namespace is None or k[0] == namespace]

    def count(self, storage: str) -> int:
        return len(self._objects.get(storage, {}))

    def storages(self) -> list[str]:
        return [s for s, objs in self._objects.items() if objs]

    def snapshot(self, storage: str, at_rv: int) -> list[tuple[Key, JSON]]:
        """The objects of ``storage`` as they were at revision ``at_rv``, in key order.

        Raises:
            ApiError: 410 Expired when the history no longer reaches back to ``at_rv``.
        """
        if at_rv < self.compacted_rv:
            raise errors.expired(f"too old resource version: {at_rv} ({self.compacted_rv})")
        current = dict(self._objects.get(storage, {}))
        for change in reversed(self._history):
            if change.rv <= at_rv:
                break
            if change.storage != storage:
                continue
            key = change.key
            if change.type == ADDED:
                current.pop(key, None)
            elif change.prev is not None:
                current[key] = change.prev
        return sorted(current.items())

    # ------------------------------------------------------------------------------------------- writes

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _stamp(self, obj: JSON, rv: int) -> JSON:
        stamped = dict(obj)
        stamped["metadata"] = dict(obj["metadata"])
        stamped["metadata"]["resourceVersion"] = str(rv)
        return stamped

    def create(self, storage: str, obj: JSON) -> JSON:
        m = obj["metadata"]
        key = (m.get("namespace") or "", m["name"])
        objects = self._objects.setdefault(storage, {})
        if key in objects:  # the caller checks first; this is the last line of defence
            raise errors.already_exists("", storage.split("/", 1)[1], key[1])
        rv = self._next_rv()
        stored = self._stamp(obj, rv)
        objects[key] = stored
        self._sorted[storage] = None
        self._commit(Change(rv, storage, ADDED, stored, None))
        return stored

    def update(self, storage: str, obj: JSON) -> JSON:
        m = obj["metadata"]
        key = (m.get("namespace") or "", m["name"])
        objects = self._objects.setdefault(storage, {})
        prev = objects.get(key)
        if prev is None:
            raise errors.not_found("", storage.split("/", 1)[1], key[1])
        rv = self._next_rv()
        stored = self._stamp(obj, rv)
        objects[key] = stored
        self._commit(Change(rv, storage, MODIFIED, stored, prev))
        return stored

    def delete(self, storage: str, namespace: str, name: str) -> JSON:
        """Remove an object; watchers get DELETED carrying its last state at the deletion's revision."""
        objects = self._objects.get(storage, {})
        prev = objects.pop((namespace, name), None)
        if prev is None:
            raise errors.not_found("", storage.split("/", 1)[1], name)
        self._sorted[storage] = None
        rv = self._next_rv()
        final = self._stamp(prev, rv)
        self._commit(Change(rv, storage, DELETED, final, prev))
        return final

    def _commit(self, change: Change) -> None:
        self._history.append(change)
        while len(self._history) > self.window:
            dropped = self._history.popleft()
            self.compacted_rv = dropped.rv
        for watcher in self._watchers.get(change.storage, ()):
            watcher.offer(change)
        if any(w.closed for w in self._watchers.get(change.storage, ())):
            self._watchers[change.storage] = [w for w in self._watchers[change.storage] if not w.closed]
        for hook in self._hooks:
            hook(change)

    def add_hook(self, hook: CommitHook) -> None:
        """Call ``hook`` after every commit (controllers emulated inside the server use this)."""
        self._hooks.append(hook)

    # ------------------------------------------------------------------------------------------- history

    def compact(self, upto: int | None = None) -> int:
        """Drop history up to ``upto`` (default: all of it); watches from before it then get 410."""
        target = self.rv if upto is None else min(upto, self.rv)
        while self._history and self._history[0].rv <= target:
            self._history.popleft()
        self.compacted_rv = max(self.compacted_rv, target)
        return self.compacted_rv

    def set_window(self, window: int) -> None:
        self.window = max(0, window)
        while len(self._history) > self.window:
            self.compacted_rv = self._history.popleft().rv

    def changes_since(self, storage: str, rv: int) -> Iterable[Change]:
        """Retained changes of ``storage`` after ``rv`` (the caller checked ``rv`` against compaction)."""
        if rv >= self.rv:
            return []
        # The history is ordered by revision; walk back from the end to find the start quickly.
        start = len(self._history)
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            start -= 1
        return [c for c in itertools.islice(self._history, start, None) if c.storage == storage]

    # ------------------------------------------------------------------------------------------- watch

    def watch(
        self,
        storage: str,
        *,
        namespace: str | None,
        since: int | None,
        matches: Filter,
        notify: Callable[[], None],
        initial: list[JSON] | None = None,
    ) -> Watcher:
        """Register a watcher, replaying history after ``since`` (or ``initial`` objects as ADDED) first.

        Replay and registration happen in one synchronous step, so no commit can fall between them.

        Raises:
            ApiError: 410 Expired when ``since`` is older than the compaction point.
        """
        if since is not None and since < self.compacted_rv:
            raise errors.too_old_resource_version(since, self.compacted_rv)
        watcher = Watcher(storage, namespace, matches, notify, max_backlog=self.max_backlog)
        if initial is not None:
            for obj in initial:
                watcher.offer(Change(int(obj["metadata"]["resourceVersion"]), storage, ADDED, obj, None))
        if since is not None:
            for change in self.changes_since(storage, since):
                watcher.offer(change)
        self._watchers.setdefault(storage, []).append(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watcher.closed = True
        watchers = self._watchers.get(watcher.storage)
        if watchers and watcher in watchers:
            watchers.remove(watcher)

    def terminate_watchers(self) -> None:
        """Close every watch (the server is going down or pausing)."""
        for watchers in self._watchers.values():
            for w in watchers:
                w.closed = True
                w.terminated = True
                w.notify()
        self._watchers.clear()

    @property
    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())


# ------------------------------------------------------------------------------------------- continue tokens


def encode_continue(rv: int, start_key: Key) -> str:
    """A continue token in the shape etcd3's storage writes (base64 JSON with the revision and next key)."""
    body = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": "/".join(start_key) + "\x00"})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    """Parse a continue token.

    Raises:
        ApiError: 400 BadRequest for anything that is not a token of ours.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if body.get("v") != "meta.k8s.io/v1":
            raise ValueError("unexpected version")
        rv = int(body["rv"])
        start = str(body["start"]).rstrip("\x00")
        namespace, _, name = start.partition("/")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from None
    return rv, (namespace, name)


__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Change",
    "Filter",
    "Key",
    "Store",
    "Watcher",
    "decode_continue",
    "encode_continue",
]
