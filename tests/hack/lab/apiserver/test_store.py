"""The store: one revision counter, history, compaction, consistent snapshots, and watcher filtering."""

from __future__ import annotations

from typing import Any

import pytest

from hack.lab.apiserver.errors import ApiError
from hack.lab.apiserver.store import ADDED, DELETED, MODIFIED, Store, decode_continue, encode_continue

S = "/configmaps"


def _obj(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


def test_revisions_increase_by_one_per_commit_across_storages() -> None:
    store = Store()
    a = store.create(S, _obj("a"))
    b = store.create("/secrets", _obj("b"))
    c = store.update(S, {**a, "data": {"x": "1"}})
    d = store.delete(S, "default", "a")
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, b, c, d)]
    assert rvs == list(range(rvs[0], rvs[0] + 4))
    assert store.rv == rvs[-1]


def test_stored_objects_are_never_mutated_by_later_commits() -> None:
    store = Store()
    first = store.create(S, _obj("a"))
    snapshot = dict(first["metadata"])
    store.update(S, {**first, "data": {"k": "v"}})
    assert first["metadata"] == snapshot and "data" not in first


def test_snapshot_undoes_later_changes() -> None:
    store = Store()
    store.create(S, _obj("a"))
    at = store.rv
    b = store.create(S, _obj("b"))
    store.update(S, {**b, "data": {"k": "v"}})
    store.delete(S, "default", "a")
    names = [key[1] for key, _ in store.snapshot(S, at)]
    assert names == ["a"]
    assert [key[1] for key, _ in store.snapshot(S, store.rv)] == ["b"]


def test_snapshot_and_watch_before_the_compaction_point_expire() -> None:
    store = Store()
    store.create(S, _obj("a"))
    old = store.rv
    store.create(S, _obj("b"))
    store.compact()
    with pytest.raises(ApiError) as info:
        store.snapshot(S, old)
    assert info.value.code == 410
    with pytest.raises(ApiError) as info:
        store.watch(S, namespace=None, since=old, matches=lambda o: True, notify=lambda: None)
    assert info.value.code == 410 and info.value.reason == "Expired"


def test_history_window_moves_the_compaction_point() -> None:
    store = Store(window=3)
    for i in range(5):
        store.create(S, _obj(f"o{i}"))
    assert store.compacted_rv == store.rv - 3
    store.watch(S, namespace=None, since=store.rv - 3, matches=lambda o: True, notify=lambda: None)


def test_watch_replays_then_follows_with_selector_transitions() -> None:
    store = Store()
    obj = store.create(S, _obj("a", tier="back"))
    since = store.rv
    moved = store.update(S, {**obj, "metadata": {**obj["metadata"], "labels": {"tier": "front"}}})
    watcher = store.watch(
        S,
        namespace="default",
        since=since,
        matches=lambda o: o["metadata"]["labels"].get("tier") == "front",
        notify=lambda: None,
    )
    store.update(S, {**moved, "metadata": {**moved["metadata"], "labels": {"tier": "back"}}})
    store.create(S, _obj("other", ns="elsewhere", tier="front"))
    assert [kind for kind, _ in watcher.queue] == [ADDED, DELETED]


def test_watch_sees_modified_and_deleted_in_order() -> None:
    store = Store()
    watcher = store.watch(S, namespace=None, since=store.rv, matches=lambda o: True, notify=lambda: None)
    obj = store.create(S, _obj("a"))
    store.update(S, {**obj, "data": {"k": "v"}})
    store.delete(S, "default", "a")
    assert [kind for kind, _ in watcher.queue] == [ADDED, MODIFIED, DELETED]
    rvs = [c.rv for _, c in watcher.queue]
    assert rvs == sorted(rvs)


def test_a_watcher_that_falls_too_far_behind_is_closed() -> None:
    store = Store(max_backlog=2)
    watcher = store.watch(S, namespace=None, since=store.rv, matches=lambda o: True, notify=lambda: None)
    for i in range(3):
        store.create(S, _obj(f"o{i}"))
    assert watcher.closed and watcher.terminated
    assert store.watcher_count == 0


def test_continue_tokens_round_trip_and_garbage_is_400() -> None:
    assert decode_continue(encode_continue(42, ("ns", "name"))) == (42, ("ns", "name"))
    assert decode_continue(encode_continue(7, ("", "cluster-scoped"))) == (7, ("", "cluster-scoped"))
    for junk in ("", "not-base64!", "eyJ4IjoxfQ"):
        with pytest.raises(ApiError) as info:
            decode_continue(junk)
        assert info.value.code == 400
