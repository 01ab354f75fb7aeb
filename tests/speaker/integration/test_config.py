"""The configuration as each speaker parses it: ConfigurationState ``speaker-<node>``, Events, the stale metric,
and the last good configuration kept running while a newer one is invalid."""

from __future__ import annotations

from typing import Any

import pytest

from hack.lab import neighbours
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.manifests import NAMESPACE
from tests.speaker.integration.lookups import arp_owner

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def states(lab: Lab) -> dict[str, dict[str, Any]]:
    assert lab.kube is not None
    items = lab.kube.list("metallb.io/v1beta1", "ConfigurationState", NAMESPACE)
    return {o["metadata"]["name"]: o for o in items}


def test_an_invalid_configuration_is_reported_and_the_last_good_one_kept(lab: Lab) -> None:
    kube, bare = lab.kube, lab.bare
    assert kube is not None and bare is not None
    vip = "198.51.100.14"
    bare.service("cfg", [vip])
    try:
        owner = arp_owner(lab, vip)
        wanted = {f"speaker-{n}" for n in lab.nodes}
        wait_for(lambda: wanted <= set(states(lab)), timeout=20, what="every speaker's ConfigurationState")
        found = states(lab)
        for node in lab.nodes:
            state = found[f"speaker-{node}"]
            assert state["metadata"]["labels"] == {
                "metallb.io/component-type": "speaker",
                "metallb.io/node-name": node,
            }
            assert state["status"]["result"] == "Valid"
        # a pool overlapping pool "l2": every speaker refuses the new configuration, keeps the last good one
        kube.create(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "overlapping", "namespace": NAMESPACE},
                "spec": {"addresses": ["198.51.100.0/28"]},
            }
        )
        wait_for(
            lambda: all(s.get("status", {}).get("result") == "Invalid" for s in states(lab).values()
                        if s["metadata"]["name"].startswith("speaker-")),
            timeout=20,
            what="every speaker's ConfigurationState to say Invalid",
        )  # fmt: skip
        summary = states(lab)[f"speaker-{owner}"]["status"]["errorSummary"]
        assert "overlapping" in summary and "overlaps" in summary, summary
        events = wait_for(
            lambda: [e for e in kube.list("v1", "Event", NAMESPACE) if e["reason"] == "ConfigurationInvalid"],
            timeout=20,
            what="the ConfigurationInvalid Event",
        )
        assert events[0]["involvedObject"]["name"] == "overlapping"
        metrics = lab.run(owner, "curl", "-sf", "http://127.0.0.1:9120/metrics", check=True).stdout
        assert "metallb_k8s_client_config_stale_bool 1.0" in metrics
        neighbours.flush(lab.topo)
        assert neighbours.arping_one(lab.topo, vip) == lab.mac(owner), "the last good configuration still announces"
    finally:
        kube.delete("metallb.io/v1beta1", "IPAddressPool", "overlapping", NAMESPACE)
        bare.delete_service("cfg")
    wait_for(
        lambda: all(s.get("status", {}).get("result") == "Valid" for s in states(lab).values()),
        timeout=20,
        what="Valid again",
    )
