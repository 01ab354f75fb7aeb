"""The API server away for more than 10 s: the speakers keep announcing and withdraw nothing.

``Lab.api_down`` closes every listener of the API emulator and drops every connection (a crashed or restarting
kube-apiserver). During the outage the client keeps resolving and reaching the VIP, every speaker keeps it in its
status, nothing moves; after ``api_up`` the status objects are as they were, and a change made right after is
acted on (the informers reconnected).
"""

from __future__ import annotations

import time

import pytest

from hack.lab import neighbours
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.lab.probe import analyze
from tests.speaker.integration.lookups import arp_owner, http, status_nodes, status_objects

pytestmark = [pytest.mark.netns, pytest.mark.lab]

PAUSE = 11.0


def test_api_server_away_nothing_is_withdrawn(lab: Lab) -> None:
    bare = lab.bare
    assert bare is not None
    vip = "198.51.100.30"
    bare.service("outage", [vip])
    try:
        owner = arp_owner(lab, vip)
        assert http(lab, vip) == owner
        wait_for(
            lambda: status_nodes(lab, "ServiceL2Status", "outage") == [owner], timeout=20, what="the ServiceL2Status"
        )
        before = status_objects(lab, "ServiceL2Status", "outage")
        with lab.probe("client", f"http://{vip}/", timeout=0.25) as probe:
            lab.api_down()
            paused_at = time.monotonic()
            try:
                while time.monotonic() - paused_at < PAUSE:
                    neighbours.flush(lab.topo)  # resolve again: somebody must still answer
                    assert neighbours.arping_one(lab.topo, vip) == lab.mac(owner)
                    for node in lab.nodes:
                        announced = {a["ip"] for a in lab.speaker_status(node)["l2"]}
                        assert (vip in announced) == (node == owner), (node, announced)
                    time.sleep(1.0)
            finally:
                lab.api_up()
            summary = analyze(probe.stop(), since=paused_at)
        print(
            f"\nAPI server away {PAUSE:g} s: ok {summary.ok}, failed connects {summary.failed_connect}, "
            f"failed requests {summary.failed_request}"
        )
        assert summary.ok > 0 and summary.failed_connect == 0 and summary.failed_request == 0
        assert list(summary.hosts) == [owner]
        after = status_objects(lab, "ServiceL2Status", "outage")
        assert [o["metadata"]["uid"] for o in after] == [o["metadata"]["uid"] for o in before]
        # the informers are back: an endpoint change is acted on (no endpoints -> nobody announces)
        bare.endpoints("outage", ())
        wait_for(
            lambda: not status_objects(lab, "ServiceL2Status", "outage"),
            timeout=30,
            what="the withdrawal after the API server is back",
        )
        neighbours.flush(lab.topo)
        assert neighbours.arping_one(lab.topo, vip) is None
    finally:
        bare.delete_service("outage")
