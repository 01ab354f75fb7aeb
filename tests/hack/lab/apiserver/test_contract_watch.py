"""Contract: watches as informers use them (official client ``watch.Watch().stream``).

Covers replay from a resourceVersion, ADDED/MODIFIED/DELETED, selector-driven ADDED/DELETED transitions,
``timeoutSeconds``, bookmarks, and the controller pattern across a 410: list, watch from the list's
resourceVersion, lose history (forced compaction), get 410, relist, resume. The compaction knob exists only
in the emulator; on a real cluster those tests are skipped.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import urllib3
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch

from hack.lab.apiserver import ApiServerThread

client: Any = kube_client
config: Any = kube_config
watch: Any = kube_watch


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {}}


def _collect(stream: Any, count: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for event in stream:
        if event["type"] == "BOOKMARK" or event["object"].metadata.name == "kube-root-ca.crt":
            continue  # real clusters publish their CA bundle into every namespace
        out.append((event["type"], event["object"].metadata.name))
        if len(out) >= count:
            break
    return out


def test_watch_from_a_list_replays_later_changes_in_order(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, _cm("before"))
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("w1"))
    core.patch_namespaced_config_map("w1", ns, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w1", ns)
    w = watch.Watch()
    events = _collect(w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10), 3)
    w.stop()
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_without_resource_version_starts_with_current_objects(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, _cm("x1"))
    core.create_namespaced_config_map(ns, _cm("x2"))
    w = watch.Watch()
    events = _collect(w.stream(core.list_namespaced_config_map, ns, timeout_seconds=10), 2)
    w.stop()
    assert sorted(events) == [("ADDED", "x1"), ("ADDED", "x2")]


def test_live_events_arrive_while_watching(core: Any, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10)

    def write() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, _cm("live"))

    writer = threading.Thread(target=write)
    writer.start()
    events = _collect(stream, 1)
    w.stop()
    writer.join()
    assert events == [("ADDED", "live")]


def test_label_selector_turns_relabelling_into_added_and_deleted(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, _cm("sel", tier="back"))
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("sel", ns, {"metadata": {"labels": {"tier": "front"}}})
    core.patch_namespaced_config_map("sel", ns, {"data": {"k": "v"}})
    core.patch_namespaced_config_map("sel", ns, {"metadata": {"labels": {"tier": "back"}}})
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map, ns, resource_version=rv, label_selector="tier=front", timeout_seconds=10
    )
    events = _collect(stream, 3)
    w.stop()
    assert events == [("ADDED", "sel"), ("MODIFIED", "sel"), ("DELETED", "sel")]


def test_field_selector_on_name_watches_one_object(core: Any, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("other"))
    core.create_namespaced_config_map(ns, _cm("mine"))
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map,
        ns,
        resource_version=rv,
        field_selector="metadata.name=mine",
        timeout_seconds=10,
    )
    events = _collect(stream, 1)
    w.stop()
    assert events == [("ADDED", "mine")]


def test_timeout_seconds_ends_the_stream(core: Any, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=1))
    assert time.monotonic() - started < 30
    assert [e for e in events if e["type"] != "BOOKMARK"] == []


def test_bookmarks_carry_only_a_resource_version(target: Any, core: Any, ns: str) -> None:
    target.require_emulator("a real server sends bookmarks about once a minute")
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("bm"))
    w = watch.Watch()
    bookmark = None
    for event in w.stream(
        core.list_namespaced_config_map, ns, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=10
    ):
        if event["type"] == "BOOKMARK":
            bookmark = event["raw_object"]
            break
    w.stop()
    assert bookmark is not None
    assert bookmark["kind"] == "ConfigMap" and bookmark["apiVersion"] == "v1"
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(rv)


def test_watch_from_a_compacted_version_gets_410_expired(target: Any, core: Any, ns: str) -> None:
    api = target.require_emulator("forced compaction")
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("c1"))
    api.compact()
    w = watch.Watch()
    with pytest.raises(client.ApiException) as info:
        for _ in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
            pass
    assert info.value.status == 410
    assert "Expired: too old resource version" in str(info.value.reason)


def test_controller_relists_after_410_and_resumes(target: Any, core: Any, ns: str) -> None:
    """The informer loop: list, watch from the list's RV, lose the history, get 410, relist, keep watching."""
    api = target.require_emulator("forced compaction")
    cache: dict[str, dict[str, str]] = {}

    def relist() -> str:
        listed = core.list_namespaced_config_map(ns)
        cache.clear()
        cache.update({i.metadata.name: dict(i.data or {}) for i in listed.items})
        return str(listed.metadata.resource_version)

    core.create_namespaced_config_map(ns, _cm("a"))
    rv = relist()
    # A first watch session sees a change and ends by timeout, as client watches do.
    core.patch_namespaced_config_map("a", ns, {"data": {"v": "1"}})
    for event in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=1):
        if event["type"] == "BOOKMARK":
            continue
        obj = event["object"]
        cache[obj.metadata.name] = dict(obj.data or {})
        rv = obj.metadata.resource_version
    assert cache == {"a": {"v": "1"}}
    # While no watch is open, more happens and the history is compacted away.
    core.create_namespaced_config_map(ns, _cm("b"))
    core.delete_namespaced_config_map("a", ns)
    api.compact()
    relisted = False
    w = watch.Watch()
    try:
        for _ in w.stream(core.list_namespaced_config_map, ns, resource_version=rv):
            raise AssertionError("no event can come from a compacted resourceVersion")
    except client.ApiException as exc:
        assert exc.status == 410
        rv = relist()
        relisted = True
    assert relisted and cache == {"b": {}}
    core.patch_namespaced_config_map("b", ns, {"data": {"after": "relist"}})
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
        if event["type"] == "MODIFIED":
            cache[event["object"].metadata.name] = dict(event["object"].data or {})
            break
    w.stop()
    assert cache == {"b": {"after": "relist"}}


def test_a_small_history_window_expires_old_versions(core: Any, ns: str, target: Any) -> None:
    target.require_emulator("a private server with a tiny history window")
    with ApiServerThread(history_window=5) as small:
        c = client.CoreV1Api(config.new_client_from_config(str(small.kubeconfig)))
        c.create_namespaced_config_map("default", _cm("first"))
        rv = c.list_namespaced_config_map("default").metadata.resource_version
        for i in range(10):
            c.create_namespaced_config_map("default", _cm(f"n{i}"))
        with pytest.raises(client.ApiException) as info:
            list(watch.Watch().stream(c.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5))
        assert info.value.status == 410
        # A recent version is still inside the window.
        recent = c.list_namespaced_config_map("default").metadata.resource_version
        c.create_namespaced_config_map("default", _cm("last"))
        events = _collect(
            watch.Watch().stream(c.list_namespaced_config_map, "default", resource_version=recent, timeout_seconds=5), 1
        )
        assert events == [("ADDED", "last")]


def test_continue_token_expires_with_the_history(target: Any, core: Any, ns: str) -> None:
    api = target.require_emulator("forced compaction")
    for i in range(4):
        core.create_namespaced_config_map(ns, _cm(f"p{i}"))
    page = core.list_namespaced_config_map(ns, limit=2)
    core.create_namespaced_config_map(ns, _cm("later"))
    api.compact()
    with pytest.raises(client.ApiException) as info:
        core.list_namespaced_config_map(ns, limit=2, _continue=page.metadata._continue)
    assert info.value.status == 410
    assert "continue parameter is too old" in info.value.body


def test_pause_and_resume_keep_state_and_versions(target: Any) -> None:
    target.require_emulator("simulating the API going away")
    with ApiServerThread() as api:
        c = client.CoreV1Api(config.new_client_from_config(str(api.kubeconfig)))
        c.create_namespaced_config_map("default", _cm("kept"))
        rv = c.list_namespaced_config_map("default").metadata.resource_version
        api.pause()
        with pytest.raises(urllib3.exceptions.MaxRetryError):  # connection refused while the API is down
            client.CoreV1Api(config.new_client_from_config(str(api.kubeconfig))).list_namespace(_request_timeout=2)
        api.resume()
        c = client.CoreV1Api(config.new_client_from_config(str(api.kubeconfig)))
        c.create_namespaced_config_map("default", _cm("after"))
        events = _collect(
            watch.Watch().stream(c.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5), 1
        )
        assert events == [("ADDED", "after")]
        assert c.read_namespaced_config_map("kept", "default").metadata.name == "kept"
