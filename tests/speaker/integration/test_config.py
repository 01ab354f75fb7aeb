"""The configuration as each speaker parses it: ConfigurationState ``speaker-<node>``, Events, the stale metric,
and the last good configuration kept running while a newer one is invalid."""

from __future__ import annotations

from typing import Any

import pytest

from tests.speaker.integration.harness import NAMESPACE, SpeakerLab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def states(lab: SpeakerLab) -> dict[str, dict[str, Any]]:
    assert lab.admin is not None
    items = lab.admin.list("metallb.io/v1beta1", "configurationstates", NAMESPACE)
    return {o["metadata"]["name"]: o for o in items}


def test_an_invalid_configuration_is_reported_and_the_last_good_one_kept(lab: SpeakerLab) -> None:
    admin = lab.admin
    assert admin is not None
    vip = "198.51.100.14"
    lab.service("cfg", [vip])
    try:
        owner = lab.node_of_mac(wait_for(lambda: lab.arping(vip), "an ARP answer"))
        assert owner is not None
        wanted = {f"speaker-{n}" for n in lab.node_names}
        wait_for(lambda: wanted <= set(states(lab)), "every speaker's ConfigurationState")
        found = states(lab)
        for node in lab.node_names:
            state = found[f"speaker-{node}"]
            assert state["metadata"]["labels"] == {
                "metallb.io/component-type": "speaker",
                "metallb.io/node-name": node,
            }
            assert state["status"]["result"] == "Valid"
        # a pool overlapping pool "l2": every speaker refuses the new configuration, keeps the last good one
        admin.create(
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
            "every speaker's ConfigurationState to say Invalid",
        )  # fmt: skip
        summary = states(lab)[f"speaker-{owner}"]["status"]["errorSummary"]
        assert "overlapping" in summary and "overlaps" in summary, summary
        events = wait_for(
            lambda: [e for e in admin.list("v1", "events", NAMESPACE) if e["reason"] == "ConfigurationInvalid"],
            "the ConfigurationInvalid Event",
        )
        assert events[0]["involvedObject"]["name"] == "overlapping"
        metrics = lab.topo.run(owner, "curl", "-sf", "http://127.0.0.1:9120/metrics").stdout
        assert "metallb_k8s_client_config_stale_bool 1.0" in metrics
        lab.flush_neighbours()
        assert lab.arping(vip) == lab.mac(owner), "the last good configuration still announces"
    finally:
        admin.delete("metallb.io/v1beta1", "ipaddresspools", "overlapping", NAMESPACE)
        lab.delete_service("cfg")
    wait_for(lambda: all(s.get("status", {}).get("result") == "Valid" for s in states(lab).values()), "Valid again")
