"""The ccm against an unreliable API server: racing writers (409 Conflict), expired watch history (410 Gone,
relist) and the API server going away for a while, with Services created and deleted around it."""

from __future__ import annotations

import functools
import signal
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.ccm.integration.harness import (
    FINALIZER,
    Cluster,
    assert_no_address_twice,
    ccm_argv,
    client,
    eventually,
)

RunCcm = Any
SpawnCcm = Any
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


def gone(cluster: Cluster, name: str) -> bool:
    return not cluster.service_exists(name)


def write_errors() -> float:
    return REGISTRY.get_sample_value("metallb_k8s_client_update_errors_total") or 0.0


class LabelWriter(threading.Thread):
    """A controller of someone else's: read-modify-write (GET, then PUT with the resourceVersion it read) of a
    counter label on each object, in a loop, retrying on 409 as client-go's RetryOnConflict does."""

    def __init__(self, read: Any, replace: Any, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.read, self.replace, self.names = read, replace, names
        self.written: dict[str, int] = {}
        self.conflicts = 0
        self.stop = threading.Event()

    def run(self) -> None:
        round_ = 0
        while not self.stop.is_set():
            round_ += 1
            for name in self.names:
                while not self.stop.is_set():
                    obj = self.read(name)
                    obj.metadata.labels = {**(obj.metadata.labels or {}), "writer": str(round_)}
                    try:
                        self.replace(name, obj)
                    except client.ApiException as exc:
                        if exc.status != 409:
                            raise
                        self.conflicts += 1
                        continue
                    self.written[name] = round_
                    break


def test_a_writer_racing_the_ccm_on_the_same_services_loses_nothing(cluster: Cluster, run_ccm: RunCcm) -> None:
    cluster.create_pool("first", ["192.0.2.0/26"])
    names = [f"svc-{i}" for i in range(40)]
    for name in names:
        cluster.create_service(name)
    writer = LabelWriter(
        lambda n: cluster.core.read_namespaced_service(n, "default"),
        lambda n, o: cluster.core.replace_namespaced_service(n, "default", o),
        names,
    )
    writer.start()
    run_ccm(ccm_argv(cluster))
    for name in names:
        cluster.wait_ingress(name, timeout=30)
    time.sleep(0.5)  # keep racing a little after the last allocation
    writer.stop.set()
    writer.join(10)
    shown = assert_no_address_twice(cluster)
    assert len(shown) == len(names)
    for name in names:
        svc = cluster.service(name)
        assert svc["metadata"]["finalizers"] == [FINALIZER], name
        assert svc["metadata"]["labels"]["writer"] == str(writer.written[name]), f"{name}: the writer's update kept"


def test_node_initialization_retries_on_conflict_with_a_kubelet_writing_the_same_node(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    names = [f"node-{i}" for i in range(10)]
    for i, name in enumerate(names):
        cluster.core.create_node(
            {
                "metadata": {
                    "name": name,
                    "annotations": {"alpha.kubernetes.io/provided-node-ip": f"192.0.2.{i + 10}"},
                },
                "spec": {"taints": [{"key": UNINITIALIZED, "value": "true", "effect": "NoSchedule"}]},
            }
        )
    # One "kubelet" per Node, each rewriting its Node back to back: the ccm's read-modify-write of a Node (GET,
    # then PUT with that resourceVersion) is then more likely than not to be overtaken at least once.
    kubelets = [LabelWriter(cluster.core.read_node, cluster.core.replace_node, [name]) for name in names]
    for kubelet in kubelets:
        kubelet.start()
    errors_before = write_errors()
    run_ccm(ccm_argv(cluster, "--controllers=cloud-node"))

    def initialized(name: str) -> bool:
        node = cluster.core.read_node(name)
        return bool(node.spec.provider_id) and not any(t.key == UNINITIALIZED for t in node.spec.taints or [])

    for name in names:
        eventually(functools.partial(initialized, name), timeout=30, what=f"{name} initialized")
    for kubelet in kubelets:
        kubelet.stop.set()
    for kubelet in kubelets:
        kubelet.join(10)
    ccm_conflicts = write_errors() - errors_before
    kubelet_conflicts = sum(k.conflicts for k in kubelets)
    print(f"conflicts: ccm {ccm_conflicts:g}, kubelets {kubelet_conflicts}")
    assert ccm_conflicts > 0, "the ccm never met a conflict: the retry path was not exercised"
    for i, (name, kubelet) in enumerate(zip(names, kubelets, strict=True)):
        node = cluster.core.read_node(name)
        assert node.spec.provider_id == f"ironlb://{name}"
        assert node.metadata.labels["writer"] == str(kubelet.written[name]), "the kubelet's update kept"
        assert [a.address for a in node.status.addresses if a.type == "InternalIP"] == [f"192.0.2.{i + 10}"]


def test_a_relist_after_410_catches_up_with_everything_that_happened_meanwhile(
    cluster: Cluster, spawn_ccm: SpawnCcm
) -> None:
    """Deterministic 410: the ccm process is paused (SIGSTOP), its watch connection is cut (the API server goes
    away and comes back), Services change and the history is compacted; resumed, its watch cannot resume and it
    must relist."""
    cluster.create_pool("a", ["192.0.2.0/29"])
    cluster.create_pool("b", ["198.51.100.0/29"], autoAssign=False)
    ccm = spawn_ccm(ccm_argv(cluster))
    for i, name in enumerate(("stays", "deleted", "moved")):
        cluster.create_service(name)
        assert cluster.wait_ingress(name) == [f"192.0.2.{i}"]

    ccm.signal(signal.SIGSTOP)
    cluster.api.pause()
    cluster.api.resume()
    cluster.delete_service("deleted")
    cluster.patch_service("moved", {"metadata": {"annotations": {"metallb.io/address-pool": "b"}}})
    cluster.create_service("new")
    cluster.api.compact()
    ccm.signal(signal.SIGCONT)

    eventually(lambda: not cluster.service_exists("deleted"), what="the Service deleted meanwhile is cleaned up")
    eventually(lambda: cluster.ingress("moved") == ["198.51.100.0"], what="the annotation change is seen")
    assert cluster.wait_ingress("new") == ["192.0.2.1"], "the new Service gets the address released meanwhile"
    assert cluster.ingress("stays") == ["192.0.2.0"]
    assert "410 Gone" in ccm.log_text(), "the watch could not resume: the informer relisted"
    assert_no_address_twice(cluster)


@pytest.mark.parametrize("outage", [pytest.param(10.0, id="10s"), pytest.param(30.0, id="30s", marks=pytest.mark.slow)])
def test_the_ccm_catches_up_after_the_api_server_was_down(cluster: Cluster, run_ccm: RunCcm, outage: float) -> None:
    cluster.create_pool("first", ["192.0.2.0/27"])
    run_ccm(ccm_argv(cluster))
    settled = [f"settled-{i}" for i in range(8)]
    for name in settled:
        cluster.create_service(name)
    before = {name: cluster.wait_ingress(name) for name in settled}

    # Just before the outage: changes the ccm may or may not have finished writing when the API goes away.
    for i in range(5):
        cluster.create_service(f"before-{i}")
    for name in settled[:3]:
        cluster.delete_service(name)
    cluster.api.pause()
    time.sleep(outage)
    cluster.api.resume()
    # Just after: more changes, racing the ccm's reconnection.
    for i in range(5):
        cluster.create_service(f"after-{i}")
    for name in settled[3:5]:
        cluster.delete_service(name)

    for name in [f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(5)]:
        cluster.wait_ingress(name, timeout=30)
    for name in settled[:5]:
        eventually(functools.partial(gone, cluster, name), timeout=30, what=f"{name} cleaned up")
    for name in settled[5:]:
        assert cluster.ingress(name) == before[name], f"{name} kept its address"
    shown = assert_no_address_twice(cluster)
    assert len(shown) == 13, "every Service that exists has an address, none lost"
