"""Nothing is said twice and nothing moves when the ccm looks at everything again: after a configuration change
(reprocess all), after a forced relist (410 Gone), after a restart - including 20 SIGKILLs of a real process
with 500 Services - and a Service deleted while the ccm was down is cleaned up by the next one."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.ccm.integration.harness import (
    FINALIZER,
    CcmThread,
    Cluster,
    assert_no_address_twice,
    ccm_argv,
    eventually,
    ingress_of,
)

RunCcm = Any
SpawnCcm = Any


def reconciles() -> float:
    return REGISTRY.get_sample_value("ironlb_ccm_reconcile_duration_seconds_count", {"controller": "service"}) or 0.0


def relists() -> float:
    return (
        REGISTRY.get_sample_value("ironlb_k8s_client_watch_restarts_total", {"resource": "services", "cause": "gone"})
        or 0.0
    )


def all_events(cluster: Cluster) -> dict[str, int]:
    """(service, reason) -> count, over every event in the namespace."""
    counts: dict[str, int] = {}
    for e in cluster.events():
        key = f"{e['involvedObject']['name']}:{e['reason']}"
        counts[key] = counts.get(key, 0) + int(e.get("count") or 1)
    return counts


def test_no_event_is_repeated_when_every_service_is_reconciled_again(cluster: Cluster, run_ccm: RunCcm) -> None:
    cluster.create_pool("first", ["192.0.2.0/28"])
    ccm: CcmThread = run_ccm(ccm_argv(cluster))
    names = [f"svc-{i}" for i in range(10)]
    for name in names:
        cluster.create_service(name)
    for name in names:
        cluster.wait_ingress(name)

    def settled() -> dict[str, int]:
        counts = all_events(cluster)
        return counts if sum(counts.values()) == 30 else {}

    before = eventually(settled, what="3 events for each Service")
    shown = assert_no_address_twice(cluster)

    # 1. A configuration change: every Service is reprocessed (MetalLB's reprocess-all).
    done = reconciles()
    cluster.create_pool("unused", ["198.51.100.0/28"], autoAssign=False)
    eventually(lambda: reconciles() >= done + len(names), what="every Service reconciled after the config change")

    # 2. A relist after 410 Gone, with every Service changed meanwhile: the watch breaks (the API server goes
    #    away), the history is compacted, labels change while nobody can watch; on return the informer's
    #    resumed watch gets 410, it relists, and every Service comes back MODIFIED.
    done, gone = reconciles(), relists()
    cluster.api.pause()
    for name in names:
        cluster.patch_while_paused("services", "default", name, {"metadata": {"labels": {"relisted": "yes"}}})
    cluster.api.compact()
    cluster.api.resume()
    eventually(lambda: relists() > gone, what="the informer relisted after 410 Gone")
    eventually(lambda: reconciles() >= done + len(names), what="every Service reconciled after the relist")
    assert ccm.call(lambda: len(ccm.services.services.store)) == len(names) + 1

    cluster.create_service("barrier")  # its three events are written after anything the reconciles queued
    cluster.wait_ingress("barrier")
    eventually(lambda: all_events(cluster).get("barrier:EnsuredLoadBalancer"), what="the barrier's events")
    after = {k: v for k, v in all_events(cluster).items() if not k.startswith("barrier:")}
    assert after == before, "no event repeated by a resync"
    assert assert_no_address_twice(cluster) == {**shown, "default/barrier": cluster.ingress("barrier")}


def test_a_service_deleted_while_the_ccm_is_down_is_cleaned_up_by_the_next_one(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/30"])
    first: CcmThread = run_ccm(ccm_argv(cluster))
    cluster.create_service("doomed")
    cluster.create_service("kept")
    assert cluster.wait_ingress("doomed") == ["192.0.2.0"]
    assert cluster.wait_ingress("kept") == ["192.0.2.1"]
    assert first.stop() == 0

    cluster.delete_service("doomed")
    held = cluster.service("doomed")
    assert held["metadata"].get("deletionTimestamp"), "the finalizer keeps the Service while nobody cleans up"
    assert held["metadata"]["finalizers"] == [FINALIZER]
    cluster.create_service("later")

    run_ccm(ccm_argv(cluster))
    eventually(lambda: not cluster.service_exists("doomed"), what="the deleted Service is gone")
    counts = cluster.event_counts("doomed")
    assert counts.get("DeletingLoadBalancer") == 1
    eventually(lambda: cluster.event_counts("doomed").get("DeletedLoadBalancer") == 1, what="DeletedLoadBalancer")
    assert cluster.wait_ingress("later") == ["192.0.2.0"], "the released address is free for the next Service"
    assert cluster.ingress("kept") == ["192.0.2.1"]


@pytest.mark.slow
def test_twenty_sigkills_with_500_services_never_change_an_address(cluster: Cluster, spawn_ccm: SpawnCcm) -> None:
    """The restart promise (MetalLB #1774/#2443): a SIGKILLed and restarted ccm restores every address before it
    allocates anything new. Each round kills the ccm, starts a new process, creates Services that would take the
    lowest free addresses if restore were wrong, and compares every Service's ingress; a watch also records
    every status change over the whole test, so even a transient change would be seen."""
    cluster.create_pool("big", ["10.200.0.0/22"])
    argv = ccm_argv(cluster, "--concurrent-service-syncs=4", "--log-level=warn")
    ccm = spawn_ccm(argv, name="ccm-0")
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: cluster.create_service(f"svc-{i}"), range(500)))

    def snapshot() -> dict[str, list[str]]:
        return {
            s["metadata"]["name"]: ingress_of(s)
            for s in cluster.services("default")
            if s["spec"]["type"] == "LoadBalancer"
        }

    def all_allocated() -> dict[str, list[str]]:
        now = snapshot()
        return now if len(now) == 500 and all(now.values()) else {}

    expected = eventually(all_allocated, timeout=120, what="500 Services allocated")
    changes: list[str] = []
    stop = threading.Event()
    rv = cluster.raw(cluster.core.list_namespaced_service, "default")["metadata"]["resourceVersion"]

    def watch() -> None:
        from kubernetes import watch as kube_watch

        last = dict(expected)
        w: Any = kube_watch.Watch()  # type: ignore[no-untyped-call]
        for event in w.stream(
            cluster.core.list_namespaced_service, "default", resource_version=rv, timeout_seconds=600
        ):
            if stop.is_set():
                break
            obj = event["raw_object"]
            name = obj["metadata"]["name"]
            now = ingress_of(obj)
            if last.get(name) and now != last[name]:
                changes.append(f"{name}: {last[name]} -> {now} ({event['type']})")
            last[name] = now
        w.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for round_ in range(1, 21):
        in_flight = [f"early-{round_}-{i}" for i in range(3)]
        for name in in_flight:  # the kill below lands while these are being allocated
            cluster.create_service(name)
        ccm.signal(signal.SIGKILL)
        assert ccm.wait() == -signal.SIGKILL
        ccm = spawn_ccm(argv, name=f"ccm-{round_}")
        fresh = [f"late-{round_}-{i}" for i in range(3)]
        for name in fresh:
            cluster.create_service(name)
        for name in in_flight + fresh:
            expected[name] = cluster.wait_ingress(name, timeout=60)
        now = snapshot()
        moved = {k: (expected[k], now[k]) for k in expected if now.get(k) != expected[k]}
        assert not moved, f"round {round_}: addresses changed: {dict(list(moved.items())[:5])}"
        assert_no_address_twice(cluster)
    stop.set()
    cluster.create_service("wake-the-watch")
    watcher.join(30)
    assert not changes, changes[:10]
    assert "Traceback" not in ccm.log_text()
