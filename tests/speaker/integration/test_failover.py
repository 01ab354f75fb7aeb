"""Moving an address: a node dying (SIGKILL + link cut), a planned stop (SIGTERM), and Node-condition liveness.

The client probes the VIP with a new HTTP request on a new TCP connection every 20 ms (harness.Probe) and the
counts are printed (``-s`` shows them): failed connects and failed requests separately, and the outage window.
Speed is measured by hack/bench/bench_failover.py, not asserted here; what is asserted is the behaviour: the
client's neighbour entry moves to the new owner, traffic resumes, and a planned stop fails no connection even
though the old node drops the VIP's traffic as soon as its speaker has exited.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.speaker.integration.harness import SpeakerLab, summarize, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def _owner(lab: SpeakerLab, vip: str) -> str:
    node = lab.node_of_mac(wait_for(lambda: lab.arping(vip), f"an answer for {vip}"))
    assert node is not None
    assert lab.http(vip) == node  # the client's neighbour entry now holds the owner's MAC
    return node


def _other_than(node: str | None, owner: str) -> str | None:
    return node if node != owner else None


def test_owner_killed_neighbour_entry_moves_and_traffic_resumes(lab: SpeakerLab) -> None:
    vip = "198.51.100.20"
    lab.service("kill", [vip])
    try:
        owner = _owner(lab, vip)
        assert lab.neighbour(vip) == lab.mac(owner)
        probe = lab.probe(vip)
        time.sleep(0.3)
        killed_at = time.monotonic()
        lab.stop_speaker(owner, signal.SIGKILL, wait=False)
        lab.topo.link_down(owner)  # the node is gone: its traffic goes nowhere
        new = wait_for(
            lambda: _other_than(lab.node_of_mac(lab.neighbour(vip)), owner),
            "the client's neighbour entry to move to another node",
        )
        wait_for(lambda: any(a.outcome == "ok" and a.start > killed_at + 0.1 for a in probe.attempts), "traffic")
        time.sleep(0.3)
        summary = summarize(probe.stop(), since=killed_at - 0.2)
        print(
            f"\nSIGKILL of {owner}'s speaker + link cut: {new} took over; outage {summary.outage * 1000:.0f} ms, "
            f"failed connects {summary.failed_connect}, failed requests {summary.failed_request}"
        )
        assert summary.bodies[-1] == new, summary.bodies
        assert lab.http(vip) == new
        wait_for(lambda: new in lab.status_nodes("servicel2statuses", "kill"), "the new owner's ServiceL2Status")
        causes = {a["ip"]: a["cause"] for a in lab.status(new)["l2"]}
        assert causes[vip] == "failover"
        events = wait_for(
            lambda: [e for e in lab.events("kill", "nodeAssigned") if f'"{new}"' in e["message"]], "nodeAssigned"
        )
        assert len(events) == 1
    finally:
        lab.delete_service("kill")


def test_sigterm_hands_over_without_a_failed_connection(lab: SpeakerLab) -> None:
    vip = "198.51.100.21"
    lab.service("move", [vip])
    try:
        owner = _owner(lab, vip)
        probe = lab.probe(vip)
        time.sleep(0.3)
        stopped_at = time.monotonic()
        code = lab.stop_speaker(owner, signal.SIGTERM)
        took = time.monotonic() - stopped_at
        # the speaker has exited; from now on the old node drops the VIP's traffic (a drained node): any client
        # still sending to its MAC would fail
        lab.block_traffic(owner, True)
        time.sleep(0.6)
        summary = summarize(probe.stop(), since=stopped_at - 0.2)
        new = lab.node_of_mac(lab.neighbour(vip))
        print(
            f"\nSIGTERM of {owner}'s speaker (exit {code} after {took:.2f} s): {new} took over; "
            f"failed connects {summary.failed_connect}, failed requests {summary.failed_request}, ok {summary.ok}"
        )
        assert code == 0, lab.log(owner)
        assert new not in (None, owner)
        assert summary.failed_connect == 0
        assert summary.failed_request == 0
        assert summary.bodies[-1] == new
        assert {a["ip"]: a["cause"] for a in lab.status(new)["l2"]}[vip] == "planned"
        wait_for(
            lambda: lab.status_nodes("servicel2statuses", "move") == [new],
            "only the new owner's ServiceL2Status (the leaving speaker deletes its own)",
        )
    finally:
        lab.delete_service("move")


def test_without_membership_liveness_comes_from_node_ready(lab: SpeakerLab) -> None:
    vip = "198.51.100.22"
    for node in lab.node_names:
        lab.stop_speaker(node, signal.SIGTERM)
    for node in lab.node_names:
        lab.start_speaker(node, "--membership=false")
    for node in lab.node_names:
        lab.wait_ready(node)
    lab.service("ready", [vip])
    try:
        owner = _owner(lab, vip)
        assert lab.status(owner)["membership"]["source"] == "node-conditions"
        lab.set_node_ready(owner, False)
        new = wait_for(
            lambda: _other_than(lab.node_of_mac(lab.arping(vip)), owner), "the address to move off the NotReady node"
        )
        assert lab.http(vip) == new
        lab.set_node_ready(owner, True)
    finally:
        lab.delete_service("ready")
        for node in lab.node_names:
            lab.set_node_ready(node, True)
            lab.stop_speaker(node, signal.SIGTERM)
        for node in lab.node_names:
            lab.start_speaker(node)
        for node in lab.node_names:
            lab.wait_ready(node)
