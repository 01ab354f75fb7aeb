"""Configuration errors keep the last good configuration and are reported where users look; pool deletion moves or
clears the Services it held.

Invalid here means valid for the CRD schema but not for ironlb (pools that overlap: MetalLB's webhook would refuse
it, but a cluster without the webhook, or a change made past it, still gets there).
"""

from __future__ import annotations

from typing import Any

from tests.ccm.integration.harness import (
    ALLOCATED_FROM,
    NAMESPACE,
    Cluster,
    assert_no_address_twice,
    ccm_argv,
    eventually,
    free_port,
    scrape,
)

RunCcm = Any
STALE = "metallb_k8s_client_config_stale_bool"
LOADED = "metallb_k8s_client_config_loaded_bool"


def test_an_invalid_change_keeps_the_last_good_configuration_and_says_so_until_it_is_fixed(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("good", ["192.0.2.0/29"])
    port = free_port()
    run_ccm(ccm_argv(cluster, f"--secure-port={port}", "--bind-address=127.0.0.1"))
    cluster.create_service("before")
    assert cluster.wait_ingress("before") == ["192.0.2.0"]
    eventually(lambda: cluster.configuration_state().get("status", {}).get("result") == "Valid", what="Valid")
    assert scrape(port)[STALE] == 0

    cluster.create_pool("overlapping", ["192.0.2.4/30", "198.51.100.0/29"])

    state = eventually(
        lambda: (s := cluster.configuration_state().get("status", {})).get("result") == "Invalid" and s,
        what="ConfigurationState controller says Invalid",
    )
    assert "overlaps" in state["errorSummary"] and "overlapping" in state["errorSummary"], state
    condition = state["conditions"][0]
    assert (condition["type"], condition["status"]) == ("configReconcilerValid", "False")
    event = eventually(
        lambda: cluster.events("overlapping", NAMESPACE, reason="ConfigurationInvalid"), what="ConfigurationInvalid"
    )[0]
    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "IPAddressPool"
    assert "overlaps" in event["message"]
    metrics = eventually(lambda: (m := scrape(port))[STALE] == 1 and m, what="stale metric 1")
    assert metrics[LOADED] == 1

    # The last good configuration still serves: pool "overlapping" does not exist for the allocator.
    cluster.create_service("during")
    assert cluster.wait_ingress("during") == ["192.0.2.1"]
    cluster.create_service("wants-new", annotations={"metallb.io/address-pool": "overlapping"})
    failed = eventually(lambda: cluster.events("wants-new", reason="AllocationFailed"), what="unknown pool")
    assert "overlapping" in failed[0]["message"]
    # ...and the same error is not reported again while it lasts.
    cluster.patch_pool("good", {"avoidBuggyIPs": False})
    cluster.create_service("barrier")
    cluster.wait_ingress("barrier")
    assert len(cluster.events("overlapping", NAMESPACE, reason="ConfigurationInvalid")) == 1

    cluster.patch_pool("overlapping", {"addresses": ["198.51.100.0/29"]})  # fixed
    eventually(lambda: cluster.configuration_state()["status"]["result"] == "Valid", what="Valid again")
    assert cluster.configuration_state()["status"]["errorSummary"] == ""
    eventually(lambda: scrape(port)[STALE] == 0, what="stale metric back to 0")
    assert cluster.wait_ingress("wants-new") == ["198.51.100.0"], "the waiting Service gets the new pool at once"
    cluster.create_service("after", annotations={"metallb.io/address-pool": "overlapping"})
    assert cluster.wait_ingress("after") == ["198.51.100.1"]
    assert cluster.ingress("before") == ["192.0.2.0"] and cluster.ingress("during") == ["192.0.2.1"]


def test_deleting_a_pool_moves_its_services_to_the_remaining_pools_or_clears_them(
    cluster: Cluster, run_ccm: RunCcm
) -> None:
    cluster.create_pool("b", ["198.51.100.0/29"])
    run_ccm(ccm_argv(cluster))
    cluster.create_service("auto")
    cluster.create_service("pinned", annotations={"metallb.io/address-pool": "b"})
    assert cluster.wait_ingress("auto") == ["198.51.100.0"]
    assert cluster.wait_ingress("pinned") == ["198.51.100.1"]
    cluster.create_pool("a", ["192.0.2.0/29"])
    cluster.create_service("in-a", annotations={"metallb.io/address-pool": "a"})
    assert cluster.wait_ingress("in-a") == ["192.0.2.0"]

    cluster.delete_pool("b")

    assert eventually(lambda: (ips := cluster.ingress("auto")) and ips[0].startswith("192.0.2.") and ips) == [
        "192.0.2.1"
    ], "moved into the remaining pool"
    eventually(lambda: cluster.service("auto")["metadata"]["annotations"][ALLOCATED_FROM] == "a", what="annotated a")
    cleared = eventually(lambda: cluster.events("auto", reason="ClearAssignment"), what="ClearAssignment on auto")
    assert "198.51.100.0" in cleared[0]["message"]
    eventually(lambda: cluster.ingress("pinned") == [], what="the Service pinned to the deleted pool is cleared")
    eventually(
        lambda: ALLOCATED_FROM not in (cluster.service("pinned")["metadata"].get("annotations") or {}),
        what="its pool annotation removed",
    )
    failed = eventually(lambda: cluster.events("pinned", reason="AllocationFailed"), what="AllocationFailed on pinned")
    assert '"b"' in failed[0]["message"] or " b" in failed[0]["message"], failed[0]["message"]
    assert cluster.ingress("in-a") == ["192.0.2.0"], "untouched"
    assert_no_address_twice(cluster)
