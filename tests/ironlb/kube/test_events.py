"""The event recorder against the API emulator: repeated events are aggregated into one object (count), the
write fence drops what a replica may no longer say, an unreachable API server delays events instead of losing
them, and a full queue keeps the newest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hack.lab.apiserver import ApiServerThread
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.leaderelection import NotLeaderError
from ironlb.kube.rest import Kube

REF = ObjectRef("Service", "web", "default", uid="1234")


async def events(kube: Kube) -> list[dict[str, Any]]:
    from ironlb.kube.resources import EVENTS

    return (await kube.list(EVENTS, "default")).items


def dropped() -> float:
    return REGISTRY.get_sample_value("ironlb_events_dropped_total") or 0.0


@pytest.fixture
async def recorder(kube: Kube) -> AsyncIterator[EventRecorder]:
    r = EventRecorder(kube, component="test", host="h", max_retry_delay=0.2)
    task = asyncio.create_task(r.run())
    yield r
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def written(kube: Kube, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        found = await events(kube)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} events written")


async def test_a_repeated_event_bumps_the_count_of_one_object(recorder: EventRecorder, kube: Kube) -> None:
    for _ in range(3):
        recorder.event(REF, "Warning", "AllocationFailed", "no available IPs")
    recorder.event(REF, "Warning", "AllocationFailed", "something else")
    await written(kube, 2)
    for _ in range(50):
        if recorder.pending() == 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    by_message = {e["message"]: e for e in await events(kube)}
    assert sorted(by_message) == ["no available IPs", "something else"]
    assert by_message["no available IPs"]["count"] == 3
    assert by_message["something else"]["count"] == 1
    first = by_message["no available IPs"]
    assert first["involvedObject"] == {
        "kind": "Service",
        "name": "web",
        "namespace": "default",
        "uid": "1234",
        "apiVersion": "v1",
    }
    assert first["source"]["component"] == "test" and first["type"] == "Warning"


async def test_the_fence_drops_events_a_replica_may_no_longer_write(kube: Kube) -> None:
    def fence() -> None:
        raise NotLeaderError("not the leader")

    r = EventRecorder(kube, component="test", fence=fence)
    before = dropped()
    r.event(REF, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
    await r.flush()
    assert await events(kube) == []
    assert dropped() == before + 1


async def test_an_unreachable_api_server_delays_events_instead_of_losing_them(
    recorder: EventRecorder, kube: Kube, api: ApiServerThread
) -> None:
    api.pause()
    recorder.event(REF, "Normal", "IPAllocated", "Assigned IP [192.0.2.1]")
    recorder.event(REF, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
    await asyncio.sleep(0.5)  # several failed attempts
    api.resume()
    found = await written(kube, 2)
    assert sorted(e["reason"] for e in found) == ["EnsuredLoadBalancer", "IPAllocated"]


async def test_a_full_queue_keeps_the_newest_events(kube: Kube) -> None:
    r = EventRecorder(kube, component="test", max_pending=2)
    before = dropped()
    for i in range(3):
        r.event(REF, "Normal", "Step", f"step {i}")
    assert dropped() == before + 1
    await r.flush()
    assert sorted(e["message"] for e in await events(kube)) == ["step 1", "step 2"]
