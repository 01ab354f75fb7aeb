"""Every path a LoadBalancer Service takes through ironlb-ccm, over HTTP against the API emulator.

Each test gets a fresh emulated cluster and an in-process ccm (``CloudControllerManager(options).run()`` in a
thread, no leader election), and acts as a user would: the official client or kubectl.

Covered: create (address, finalizer, pool annotation, events), type change away and back, class change (through
a type change: the class is immutable while the type is LoadBalancer), pool annotation change (and the legacy
``metallb.universe.tf/`` prefix), requested addresses (annotation, ``spec.loadBalancerIP``, both), sharing,
delete with the finalizer, Services of another class, pool exhaustion. Dual-stack, restarts, configuration
errors, API faults and leader election have their own modules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from tests.ccm.integration.harness import (
    ALLOCATED_FROM,
    FINALIZER,
    CcmThread,
    Cluster,
    assert_no_address_twice,
    ccm_argv,
    eventually,
)

RunCcm = Any


def serve(cluster: Cluster, run_ccm: RunCcm, *extra: str) -> CcmThread:
    ccm: CcmThread = run_ccm(ccm_argv(cluster, *extra))
    return ccm


def at_least(value: Callable[[], int], minimum: int) -> bool:
    return value() >= minimum


def finalizers(cluster: Cluster, name: str) -> list[str]:
    return list(cluster.service(name)["metadata"].get("finalizers") or [])


def annotations_of(cluster: Cluster, name: str) -> dict[str, str]:
    return dict(cluster.service(name)["metadata"].get("annotations") or {})


def test_a_new_service_gets_the_lowest_address_the_finalizer_the_pool_annotation_and_three_events(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/29"])
    serve(cluster, run_ccm)
    manifest = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)

    assert cluster.wait_ingress("web") == ["192.0.2.0"]
    assert finalizers(cluster, "web") == [FINALIZER]
    assert annotations_of(cluster, "web")[ALLOCATED_FROM] == "first"
    shown = cluster.kubectl("get", "service", "web", "-o", "wide").stdout
    assert "192.0.2.0" in shown, shown
    events = eventually(lambda: (e := cluster.events("web")) and len(e) >= 3 and e, what="three events on the Service")
    by_reason = {e["reason"]: e for e in events}
    assert set(by_reason) == {"EnsuringLoadBalancer", "IPAllocated", "EnsuredLoadBalancer"}
    assert by_reason["IPAllocated"]["message"] == "Assigned IP [192.0.2.0]"
    assert all(e["type"] == "Normal" and e["count"] == 1 for e in events)
    assert all(e["involvedObject"]["kind"] == "Service" for e in events)


def test_a_type_change_away_releases_the_address_and_a_change_back_allocates_again(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/29"])
    serve(cluster, run_ccm)
    cluster.create_service("a")
    assert cluster.wait_ingress("a") == ["192.0.2.0"]

    cluster.patch_service("a", {"spec": {"type": "ClusterIP"}})

    def cleaned() -> bool:
        svc = cluster.service("a")
        return (
            not svc["status"].get("loadBalancer", {}).get("ingress")
            and FINALIZER not in (svc["metadata"].get("finalizers") or [])
            and ALLOCATED_FROM not in (svc["metadata"].get("annotations") or {})
        )

    eventually(cleaned, what="status, finalizer and pool annotation removed after the type change")
    counts = eventually(
        lambda: (c := cluster.event_counts("a")).get("DeletedLoadBalancer") and c, what="DeletedLoadBalancer"
    )
    assert counts.get("DeletingLoadBalancer") == 1

    cluster.create_service("b")
    assert cluster.wait_ingress("b") == ["192.0.2.0"], "the released address is handed out again"

    cluster.patch_service("a", {"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}})
    assert cluster.wait_ingress("a") == ["192.0.2.1"]
    assert finalizers(cluster, "a") == [FINALIZER]


def test_the_class_changes_only_through_a_type_change_and_a_foreign_class_is_then_left_alone(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/29"])
    serve(cluster, run_ccm)
    cluster.create_service("svc")
    assert cluster.wait_ingress("svc") == ["192.0.2.0"]

    with pytest.raises(Exception, match=r"422|Invalid|immutable"):
        cluster.patch_service("svc", {"spec": {"loadBalancerClass": "example.com/other"}})

    # Away from LoadBalancer (the API server drops the class with the type), then back with a foreign class.
    cluster.patch_service("svc", {"spec": {"type": "ClusterIP"}})
    eventually(lambda: FINALIZER not in finalizers(cluster, "svc"), what="cleanup after the type change")
    cluster.patch_service(
        "svc",
        {
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerClass": "example.com/other",
                "allocateLoadBalancerNodePorts": False,
            }
        },
    )
    cluster.create_service("barrier")  # queued after svc's update: once it is served, svc has been looked at
    assert cluster.wait_ingress("barrier") == ["192.0.2.0"]
    svc = cluster.service("svc")
    assert svc["spec"]["loadBalancerClass"] == "example.com/other"
    assert not svc["status"].get("loadBalancer", {}).get("ingress")
    assert not svc["metadata"].get("finalizers")

    # And back to no class: ours again.
    cluster.patch_service("svc", {"spec": {"type": "ClusterIP"}})
    cluster.patch_service("svc", {"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}})
    assert cluster.wait_ingress("svc") == ["192.0.2.1"]


@pytest.mark.parametrize(
    ("flag", "ours", "foreign"),
    [
        pytest.param((), {}, {"loadBalancerClass": "example.com/other"}, id="no-flag-serves-only-classless"),
        pytest.param(
            ("--load-balancer-class=ironlb.io/lb",),
            {"loadBalancerClass": "ironlb.io/lb"},
            {},
            id="flag-serves-only-that-class",
        ),
    ],
)
def test_a_service_of_another_class_is_never_touched(
    cluster: Cluster, run_ccm: RunCcm, flag: tuple[str, ...], ours: dict[str, Any], foreign: dict[str, Any]
) -> None:
    cluster.create_pool("first", ["192.0.2.0/29"])
    cluster.create_service("foreign-before", **foreign)
    serve(cluster, run_ccm, *flag)
    cluster.create_service("foreign-after", **foreign)
    cluster.create_service("ours", **ours)  # queued after both: once it is served, they were looked at
    assert cluster.wait_ingress("ours") == ["192.0.2.0"]
    for name in ("foreign-before", "foreign-after"):
        svc = cluster.service(name)
        assert not svc["status"].get("loadBalancer", {}).get("ingress"), name
        assert not svc["metadata"].get("finalizers"), name
        assert ALLOCATED_FROM not in (svc["metadata"].get("annotations") or {}), name
        assert cluster.events(name) == [], name


def test_changing_the_pool_annotation_moves_the_service_and_the_legacy_prefix_is_honoured_with_a_warning(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("a", ["192.0.2.0/29"])
    cluster.create_pool("b", ["198.51.100.0/29"], autoAssign=False)
    serve(cluster, run_ccm)
    cluster.create_service("svc", annotations={"metallb.io/address-pool": "a"})
    assert cluster.wait_ingress("svc") == ["192.0.2.0"]

    cluster.patch_service("svc", {"metadata": {"annotations": {"metallb.io/address-pool": "b"}}})
    eventually(lambda: cluster.ingress("svc") == ["198.51.100.0"], what="moved to pool b")
    eventually(lambda: annotations_of(cluster, "svc")[ALLOCATED_FROM] == "b", what="annotation names pool b")
    eventually(lambda: cluster.events("svc", reason="ClearAssignment"), what="ClearAssignment event")

    # The legacy prefix, as MetalLB <= 0.13 users wrote it: honoured, with one deprecation warning.
    cluster.create_service("legacy", annotations={"metallb.universe.tf/address-pool": "b"})
    assert cluster.wait_ingress("legacy") == ["198.51.100.1"]
    warnings = eventually(lambda: cluster.events("legacy", reason="deprecatedAnnotation"), what="deprecation event")
    assert warnings[0]["type"] == "Warning"
    assert "metallb.universe.tf/address-pool" in warnings[0]["message"]
    assert "metallb.io/address-pool" in warnings[0]["message"]
    cluster.patch_service("legacy", {"metadata": {"labels": {"touched": "yes"}}})  # reconciled again
    cluster.patch_service("legacy", {"metadata": {"annotations": {"unrelated": "x"}}})
    cluster.create_service("barrier", annotations={"metallb.io/address-pool": "b"})
    cluster.wait_ingress("barrier")
    assert cluster.event_counts("legacy")["deprecatedAnnotation"] == 1, "warned once, not on every reconcile"


def test_requested_addresses_by_annotation_or_spec_are_given_and_both_at_once_is_refused(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/28"])
    serve(cluster, run_ccm)
    cluster.create_service("by-annotation", annotations={"metallb.io/loadBalancerIPs": "192.0.2.5"})
    cluster.create_service("by-spec", loadBalancerIP="192.0.2.7")
    assert cluster.wait_ingress("by-annotation") == ["192.0.2.5"]
    assert cluster.wait_ingress("by-spec") == ["192.0.2.7"]

    cluster.patch_service("by-annotation", {"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.6"}}})
    eventually(lambda: cluster.ingress("by-annotation") == ["192.0.2.6"], what="moved to the new requested IP")
    cluster.patch_service("by-spec", {"spec": {"loadBalancerIP": "192.0.2.8"}})
    eventually(lambda: cluster.ingress("by-spec") == ["192.0.2.8"], what="moved to the new spec.loadBalancerIP")

    cluster.create_service("both", annotations={"metallb.io/loadBalancerIPs": "192.0.2.9"}, loadBalancerIP="192.0.2.10")
    failed = eventually(lambda: cluster.events("both", reason="LoadBalancerFailed"), what="LoadBalancerFailed")
    assert failed[0]["type"] == "Warning"
    assert "can not have both" in failed[0]["message"]
    assert cluster.ingress("both") == []
    # The freed addresses are free again: an automatic allocation takes the lowest, 192.0.2.0.
    cluster.create_service("auto")
    assert cluster.wait_ingress("auto") == ["192.0.2.0"]
    assert_no_address_twice(cluster)


def test_services_with_the_same_sharing_key_and_disjoint_ports_share_and_a_port_clash_is_refused(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("first", ["192.0.2.0/29"])
    serve(cluster, run_ccm)
    shared = {"metallb.io/allow-shared-ip": "key-1"}
    cluster.create_service("http", ports=[80], annotations=shared)
    assert cluster.wait_ingress("http") == ["192.0.2.0"]
    cluster.create_service("dns", ports=[(53, "UDP"), (53, "TCP")], annotations=shared)
    assert cluster.wait_ingress("dns") == ["192.0.2.0"], "same key, disjoint ports: the address is shared"

    clash = {**shared, "metallb.io/loadBalancerIPs": "192.0.2.0"}
    cluster.create_service("clash", ports=[80], annotations=clash)
    failed = eventually(lambda: cluster.events("clash", reason="AllocationFailed"), what="AllocationFailed")
    assert "TCP/80" in failed[0]["message"], failed[0]["message"]
    assert cluster.ingress("clash") == []

    cluster.create_service("other-key", ports=[8080], annotations={"metallb.io/allow-shared-ip": "key-2"})
    assert cluster.wait_ingress("other-key") == ["192.0.2.1"], "another key never shares"

    cluster.delete_service("http")
    eventually(lambda: cluster.ingress("clash") == ["192.0.2.0"], what="the clash resolves once TCP/80 is free")
    assert cluster.ingress("dns") == ["192.0.2.0"]


def test_deleting_a_service_releases_its_address_and_removes_the_finalizer(cluster: Cluster, run_ccm: RunCcm) -> None:
    cluster.create_pool("first", ["192.0.2.0/30"])
    serve(cluster, run_ccm)
    cluster.create_service("doomed")
    assert cluster.wait_ingress("doomed") == ["192.0.2.0"]
    cluster.kubectl("delete", "service", "doomed", "--wait=true", "--timeout=20s")
    assert not cluster.service_exists("doomed")
    counts = eventually(
        lambda: (c := cluster.event_counts("doomed")).get("DeletedLoadBalancer") and c, what="DeletedLoadBalancer"
    )
    assert counts["DeletingLoadBalancer"] == 1
    cluster.create_service("next")
    assert cluster.wait_ingress("next") == ["192.0.2.0"]


def test_an_exhausted_pool_reports_once_and_the_first_freed_address_goes_to_the_waiting_service_at_once(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("tiny", ["192.0.2.0/31"])
    ccm = serve(cluster, run_ccm)
    cluster.create_service("one")
    cluster.create_service("two")
    assert sorted(cluster.wait_ingress("one") + cluster.wait_ingress("two")) == ["192.0.2.0", "192.0.2.1"]
    cluster.create_service("waiting")
    eventually(lambda: cluster.events("waiting", reason="AllocationFailed"), what="AllocationFailed")

    # Make it fail again and again (each label change reconciles at once): its backoff grows past a minute,
    # so getting the freed address below within the wait can only be the immediate retry on release.
    def failures() -> int:
        return ccm.call(lambda: ccm.services.queue.failures("default/waiting"))

    for i in range(5):
        cluster.patch_service("waiting", {"metadata": {"labels": {"attempt": str(i)}}})
        eventually(functools.partial(at_least, failures, i + 2), what="another failed attempt")
    assert ccm.call(lambda: ccm.services.queue.backoff("default/waiting")) >= 60
    failed = cluster.events("waiting", reason="AllocationFailed")
    assert len(failed) == 1 and failed[0]["count"] == 1, "reported once, not on every retry"
    assert failed[0]["type"] == "Warning"
    assert "no available IPs" in failed[0]["message"]

    freed = cluster.ingress("one")[0]
    cluster.delete_service("one")
    assert cluster.wait_ingress("waiting", timeout=30) == [freed]
    assert_no_address_twice(cluster)
