"""Moving an address: a node dying (SIGKILL + link cut), a planned stop (SIGTERM), and Node-condition liveness.

The client probes the VIP with a new HTTP request on a new TCP connection every 20 ms (hack/lab/probe.py) and the
counts are printed (``-s`` shows them): failed connects and failed requests separately, and the outage window.
Speed is measured by hack/bench/bench_failover.py, not asserted here; what is asserted is the behaviour: the
client's neighbour entry moves to the new owner, traffic resumes, and a planned stop fails no connection even
though the old node drops the VIP's traffic as soon as its speaker has exited.
"""

from __future__ import annotations

import signal
import time

import pytest

from hack.lab import neighbours
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.lab.probe import analyze
from tests.speaker.integration.lookups import arp_owner, events, http, other_than, status_nodes

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def _owner(lab: Lab, vip: str) -> str:
    node = arp_owner(lab, vip)
    assert http(lab, vip) == node  # the client's neighbour entry now holds the owner's MAC
    return node


def test_owner_killed_neighbour_entry_moves_and_traffic_resumes(lab: Lab) -> None:
    assert lab.bare is not None
    vip = "198.51.100.20"
    lab.bare.service("kill", [vip])
    try:
        owner = _owner(lab, vip)
        assert neighbours.neighbour(lab.topo, vip) == lab.mac(owner)
        with lab.probe("client", f"http://{vip}/", timeout=0.25) as probe:
            time.sleep(0.3)
            killed_at = lab.kill_node(owner)  # the speaker SIGKILLed and the link cut: its traffic goes nowhere
            new = wait_for(
                lambda: other_than(lab.l2_owner(vip), owner),
                timeout=20,
                what="the client's neighbour entry to move to another node",
            )
            wait_for(lambda: http(lab, vip) == new, timeout=20, what="traffic through the new owner")
            time.sleep(0.3)
            summary = analyze(probe.stop(), since=killed_at - 0.2)
        print(
            f"\nSIGKILL of {owner}'s speaker + link cut: {new} took over; outage {summary.span * 1000:.0f} ms, "
            f"failed connects {summary.failed_connect}, failed requests {summary.failed_request}"
        )
        assert list(summary.hosts)[-1] == new, summary.hosts
        assert summary.unrecovered_since is None
        wait_for(
            lambda: new in status_nodes(lab, "ServiceL2Status", "kill"),
            timeout=20,
            what="the new owner's ServiceL2Status",
        )
        causes = {a["ip"]: a["cause"] for a in lab.speaker_status(new)["l2"]}
        assert causes[vip] == "failover"
        assigned = wait_for(
            lambda: [e for e in events(lab, "kill", "nodeAssigned") if f'"{new}"' in e["message"]],
            timeout=20,
            what="nodeAssigned",
        )
        assert len(assigned) == 1
    finally:
        lab.bare.delete_service("kill")


def test_sigterm_hands_over_without_a_failed_connection(lab: Lab) -> None:
    bare = lab.bare
    assert bare is not None
    vip = "198.51.100.21"
    bare.service("move", [vip])
    try:
        owner = _owner(lab, vip)
        with lab.probe("client", f"http://{vip}/", timeout=0.25) as probe:
            time.sleep(0.3)
            stopped_at = time.monotonic()
            code = lab.stop_speaker(owner, signal.SIGTERM)
            took = time.monotonic() - stopped_at
            # the speaker has exited; from now on the old node drops the VIP's traffic (a drained node): any client
            # still sending to its MAC would fail
            bare.block_traffic(owner, True)
            time.sleep(0.6)
            summary = analyze(probe.stop(), since=stopped_at - 0.2)
        new = lab.l2_owner(vip)
        print(
            f"\nSIGTERM of {owner}'s speaker (exit {code} after {took:.2f} s): {new} took over; "
            f"failed connects {summary.failed_connect}, failed requests {summary.failed_request}, ok {summary.ok}"
        )
        assert code == 0, lab.logs(f"speaker-{owner}")
        assert new not in (None, owner)
        assert summary.failed_connect == 0
        assert summary.failed_request == 0
        assert list(summary.hosts)[-1] == new
        assert {a["ip"]: a["cause"] for a in lab.speaker_status(new)["l2"]}[vip] == "planned"
        wait_for(
            lambda: status_nodes(lab, "ServiceL2Status", "move") == [new],
            timeout=20,
            what="only the new owner's ServiceL2Status (the leaving speaker deletes its own)",
        )
    finally:
        bare.delete_service("move")


def test_without_membership_liveness_comes_from_node_ready(lab: Lab) -> None:
    bare = lab.bare
    assert bare is not None
    vip = "198.51.100.22"
    for node in lab.nodes:
        lab.stop_speaker(node, signal.SIGTERM)
    for node in lab.nodes:
        lab.start_speaker(node, "--membership=false")
    for node in lab.nodes:
        lab.wait_speaker_ready(node, timeout=30)
    bare.service("ready", [vip])
    try:
        owner = _owner(lab, vip)
        assert lab.speaker_status(owner)["membership"]["source"] == "node-conditions"
        bare.set_node_ready(owner, False)
        new = wait_for(
            lambda: other_than(lab.node_of_mac(neighbours.arping_one(lab.topo, vip)), owner),
            timeout=20,
            what="the address to move off the NotReady node",
        )
        assert http(lab, vip) == new
        bare.set_node_ready(owner, True)
    finally:
        bare.delete_service("ready")
        for node in lab.nodes:
            bare.set_node_ready(node, True)
            lab.stop_speaker(node, signal.SIGTERM)
        for node in lab.nodes:
            lab.start_speaker(node)
        for node in lab.nodes:
            lab.wait_speaker_ready(node, timeout=30)
