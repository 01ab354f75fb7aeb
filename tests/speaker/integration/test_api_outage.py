"""The API server away for more than 10 s: the speakers keep announcing and withdraw nothing.

``ApiServerThread.pause`` closes every listener and drops every connection (a crashed or restarting
kube-apiserver). During the pause the client keeps resolving and reaching the VIP, every speaker keeps it in its
status, nothing moves; after ``resume`` the status objects are as they were, and a change made right after is
acted on (the informers reconnected).
"""

from __future__ import annotations

import time

import pytest

from tests.speaker.integration.harness import SpeakerLab, summarize, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.lab]

PAUSE = 11.0


def test_api_server_away_nothing_is_withdrawn(lab: SpeakerLab) -> None:
    vip = "198.51.100.30"
    api = lab.api
    assert api is not None
    lab.service("outage", [vip])
    try:
        owner = lab.node_of_mac(wait_for(lambda: lab.arping(vip), "an ARP answer"))
        assert owner is not None and lab.http(vip) == owner
        wait_for(lambda: lab.status_nodes("servicel2statuses", "outage") == [owner], "the ServiceL2Status")
        before = lab.status_objects("servicel2statuses", "outage")
        probe = lab.probe(vip)
        api.pause()
        paused_at = time.monotonic()
        try:
            while time.monotonic() - paused_at < PAUSE:
                lab.flush_neighbours()  # resolve again: somebody must still answer
                assert lab.arping(vip) == lab.mac(owner)
                for node in lab.node_names:
                    announced = {a["ip"] for a in lab.status(node)["l2"]}
                    assert (vip in announced) == (node == owner), (node, announced)
                time.sleep(1.0)
        finally:
            api.resume()
        summary = summarize(probe.stop(), since=paused_at)
        print(
            f"\nAPI server paused {PAUSE:g} s: ok {summary.ok}, failed connects {summary.failed_connect}, "
            f"failed requests {summary.failed_request}"
        )
        assert summary.failed_connect == 0 and summary.failed_request == 0
        assert summary.bodies == (owner,)
        after = lab.status_objects("servicel2statuses", "outage")
        assert [o["metadata"]["uid"] for o in after] == [o["metadata"]["uid"] for o in before]
        # the informers are back: an endpoint change is acted on (no endpoints -> nobody announces)
        lab.endpoints("outage", ())
        wait_for(lambda: not lab.status_objects("servicel2statuses", "outage"), "the withdrawal after resume", 30)
        lab.flush_neighbours()
        assert lab.arping(vip) is None
    finally:
        lab.delete_service("outage")
