"""The informer against the API emulator: list then watch, a relist after 410 Gone that reports exactly what
changed while it could not watch, the reconnect signal, and the write-through view of our own writes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hack.lab.apiserver import ApiServerThread
from ironlb.kube.informer import EventType, Informer, WatchEvent
from ironlb.kube.resources import CONFIGMAPS
from ironlb.kube.rest import Kube, Rest
from tests.ironlb.kube.conftest import offline_write

NS = "default"


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {"v": value}}


async def until(check: Callable[[], object], limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[EventType, str]] = []
        self.reconnects = 0

    def __call__(self, events: Any) -> None:
        self.events.extend((e.type, e.key) for e in events if isinstance(e, WatchEvent))

    def reconnected(self) -> None:
        self.reconnects += 1


@pytest.fixture
async def running(rest: Rest, kube: Kube) -> AsyncIterator[tuple[Informer, Recorder]]:
    for name in ("a", "b", "c"):
        await kube.create(CONFIGMAPS, configmap(name), namespace=NS)
    informer = Informer(rest, CONFIGMAPS, namespace=NS, max_backoff=0.2)
    recorder = Recorder()
    informer.add_handler(recorder)
    informer.add_reconnect_handler(recorder.reconnected)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.synced.wait(), 10)
    yield informer, recorder
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_list_then_the_watch_deliver_every_object_once(running: tuple[Informer, Recorder], kube: Kube) -> None:
    informer, recorder = running
    assert sorted(recorder.events) == [(EventType.ADDED, f"{NS}/{n}") for n in ("a", "b", "c")]
    await kube.create(CONFIGMAPS, configmap("d"), namespace=NS)
    await kube.patch(CONFIGMAPS, "a", {"data": {"v": "2"}}, namespace=NS)
    await kube.delete(CONFIGMAPS, "b", namespace=NS)
    await until(lambda: len(recorder.events) == 6)
    assert recorder.events[3:] == [
        (EventType.ADDED, f"{NS}/d"),
        (EventType.MODIFIED, f"{NS}/a"),
        (EventType.DELETED, f"{NS}/b"),
    ]
    assert sorted(informer.store) == [f"{NS}/{n}" for n in ("a", "c", "d")]


async def test_a_relist_after_410_reports_exactly_what_changed_while_the_watch_was_down(
    running: tuple[Informer, Recorder], api: ApiServerThread
) -> None:
    informer, recorder = running
    recorder.events.clear()

    def gone() -> float:
        labels = {"resource": "configmaps", "cause": "gone"}
        return REGISTRY.get_sample_value("ironlb_k8s_client_watch_restarts_total", labels) or 0.0

    before = gone()
    api.pause()  # the watch breaks; nobody can see what happens next
    offline_write(api, "delete", "configmaps", NS, name="a")
    offline_write(api, "patch", "configmaps", NS, name="b", body={"data": {"v": "changed"}})
    offline_write(api, "create", "configmaps", NS, body=configmap("new"))
    api.compact()  # and the history is gone: the watch cannot resume
    await asyncio.sleep(0.3)  # let the informer fail to reconnect at least once
    api.resume()

    await until(lambda: len(recorder.events) == 3)
    await asyncio.sleep(0.3)  # nothing more arrives
    assert sorted(recorder.events) == sorted(
        [(EventType.DELETED, f"{NS}/a"), (EventType.MODIFIED, f"{NS}/b"), (EventType.ADDED, f"{NS}/new")]
    ), "c did not change and is not reported"
    assert gone() == before + 1
    assert recorder.reconnects >= 1
    assert sorted(informer.store) == [f"{NS}/{n}" for n in ("b", "c", "new")]
    assert informer.store[f"{NS}/b"]["data"] == {"v": "changed"}


async def test_our_own_write_is_seen_at_once_and_never_replaced_by_an_older_copy(
    running: tuple[Informer, Recorder], kube: Kube
) -> None:
    informer, _ = running
    key = f"{NS}/a"
    cached_rv = int(informer.store[key]["metadata"]["resourceVersion"])
    written = await kube.patch(CONFIGMAPS, "a", {"data": {"v": "mine"}}, namespace=NS)
    informer.observe(written)
    assert informer.get(key) == written, "get() returns the written object before the watch delivers it"

    stale = dict(informer.store[key])
    stale["metadata"] = {**stale["metadata"], "resourceVersion": str(cached_rv)}
    informer.observe(stale)  # an older copy never wins
    assert informer.get(key) == written

    await until(lambda: informer.store[key]["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"])
    assert informer.get(key) is informer.store[key], "the watch caught up: the store answers again"
    assert not informer._written

    newer = await kube.patch(CONFIGMAPS, "a", {"data": {"v": "again"}}, namespace=NS)
    informer.observe(newer)
    await kube.delete(CONFIGMAPS, "a", namespace=NS)
    await until(lambda: key not in informer.store)
    assert informer.get(key) is None and not informer._written, "a deletion drops the written copy"
