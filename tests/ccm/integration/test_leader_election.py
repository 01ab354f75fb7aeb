"""Two ``ironlb-ccm`` replicas with a short Lease (3 s duration, 2 s renew deadline, 0.5 s retry period): the
standby takes over when the leader is paused, killed or stopped, and two replicas never both write.

Takeover times are printed (``pytest -s``), not asserted: they are measurements (the lead's report has them).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tests.ccm.integration.harness import (
    CcmProcess,
    Cluster,
    ServiceRecorder,
    assert_no_address_twice,
    ccm_argv,
    eventually,
    free_port,
)

SpawnCcm = Callable[..., CcmProcess]


def two_replicas(cluster: Cluster, spawn_ccm: SpawnCcm) -> tuple[CcmProcess, CcmProcess]:
    cluster.create_pool("first", ["192.0.2.0/27"])
    first = spawn_ccm(
        ccm_argv(cluster, "--bind-address=127.0.0.1", f"--secure-port={free_port()}", leader_elect=True), name="ccm-a"
    )
    eventually(lambda: cluster.lease_holder().startswith("ccm-a_"), timeout=30, what="ccm-a leads")
    port = free_port()
    second = spawn_ccm(
        ccm_argv(cluster, "--bind-address=127.0.0.1", f"--secure-port={port}", leader_elect=True), name="ccm-b"
    )
    for i in range(4):
        cluster.create_service(f"svc-{i}")
        assert cluster.wait_ingress(f"svc-{i}") == [f"192.0.2.{i}"]
    eventually(lambda: ready(port), timeout=30, what="ccm-b ready (its caches synced)")
    assert cluster.lease_holder().startswith("ccm-a_"), "ccm-b stands by"
    return first, second


def ready(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def wait_for_takeover(cluster: Cluster, by: str, since: float) -> float:
    eventually(lambda: cluster.lease_holder().startswith(f"{by}_"), timeout=30, interval=0.02, what=f"{by} leads")
    return time.monotonic() - since


def settled_event_count(cluster: Cluster) -> int:
    """The number of Event objects, once it stopped changing for a second (writes are asynchronous)."""
    last = -1
    stable_since = time.monotonic()
    while True:
        now = len(cluster.events())
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            return now
        time.sleep(0.1)


def test_a_paused_leader_is_replaced_and_when_resumed_writes_nothing_and_exits_1(
    cluster: Cluster, spawn_ccm: SpawnCcm
) -> None:
    recorder = ServiceRecorder(cluster)
    old, new = two_replicas(cluster, spawn_ccm)

    old.signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    took = wait_for_takeover(cluster, "ccm-b", paused_at)
    print(f"SIGSTOP: ccm-b took over {took:.2f}s after the leader was paused (lease duration 3s)")

    # Work the paused replica will see in its watch buffers when it wakes up, and must not act on.
    for i in range(4, 7):
        cluster.create_service(f"svc-{i}")
    cluster.delete_service("svc-0")
    for i in range(4, 7):
        cluster.wait_ingress(f"svc-{i}")
    eventually(lambda: not cluster.service_exists("svc-0"), what="svc-0 cleaned up by the new leader")
    events_before = settled_event_count(cluster)
    services_before = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in cluster.services("default")}
    holder = cluster.lease_holder()

    old.signal(signal.SIGCONT)
    assert old.wait(timeout=20) == 1, "a replica that lost its Lease exits with status 1"
    assert "leadership lost" in old.log_text()

    services_after = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in cluster.services("default")}
    assert services_after == services_before, "the resumed old leader wrote to a Service"
    assert len(cluster.events()) == events_before, "the resumed old leader wrote an Event"
    assert cluster.lease_holder() == holder, "the resumed old leader wrote the Lease"

    cluster.create_service("after")
    assert cluster.wait_ingress("after")
    recorder.stop()
    assert recorder.replay() == []
    assert_no_address_twice(cluster)
    assert new.poll() is None


def test_a_killed_leader_is_replaced_within_the_lease_duration(cluster: Cluster, spawn_ccm: SpawnCcm) -> None:
    recorder = ServiceRecorder(cluster)
    old, new = two_replicas(cluster, spawn_ccm)
    old.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    took = wait_for_takeover(cluster, "ccm-b", killed_at)
    print(f"SIGKILL: ccm-b took over {took:.2f}s after the leader was killed (lease duration 3s)")
    for i in range(4, 8):
        cluster.create_service(f"svc-{i}")
    shown = [cluster.wait_ingress(f"svc-{i}") for i in range(4, 8)]
    assert shown == [[f"192.0.2.{i}"] for i in range(4, 8)], "the new leader restored before allocating"
    recorder.stop()
    assert recorder.replay() == []
    assert new.poll() is None


def test_sigterm_releases_the_lease_and_the_standby_takes_over_at_once(cluster: Cluster, spawn_ccm: SpawnCcm) -> None:
    old, new = two_replicas(cluster, spawn_ccm)
    old.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert old.wait(timeout=20) == 0, "a graceful stop exits 0"
    holder = cluster.lease_holder()
    assert not holder.startswith("ccm-a_"), f"the Lease was released on SIGTERM (holder {holder!r})"
    took = wait_for_takeover(cluster, "ccm-b", stopped_at)
    print(f"SIGTERM: ccm-b took over {took:.2f}s after the leader was told to stop (retry period 0.5s)")
    cluster.create_service("after")
    assert cluster.wait_ingress("after") == ["192.0.2.4"]
    assert new.poll() is None


def test_a_standby_never_writes(cluster: Cluster, spawn_ccm: SpawnCcm) -> None:
    """While ccm-a leads, ccm-b keeps its caches warm and writes nothing: with ccm-a paused before a change and
    resumed after it, the change waits for whoever holds the Lease."""
    old, new = two_replicas(cluster, spawn_ccm)
    del new
    old.signal(signal.SIGSTOP)
    cluster.create_service("waiting")
    time.sleep(1.0)  # well inside the 3 s lease: ccm-a still holds it and ccm-b must stand by
    shown = cluster.ingress("waiting")
    if not cluster.lease_holder().startswith("ccm-a_"):
        pytest.skip("the machine stalled past the 3 s lease: ccm-b took over legitimately, nothing to judge")
    assert shown == [], "the standby wrote while the Lease was ccm-a's"
    old.signal(signal.SIGCONT)
    assert cluster.wait_ingress("waiting") == ["192.0.2.4"]
