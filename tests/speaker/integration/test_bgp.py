"""BGP end to end: the speakers dial BIRD in the router namespace; the router's kernel holds the routes.

BIRD is passive with dynamic neighbours (any node of 192.0.2.0/24 as AS 64513) and merges equal paths into
ECMP routes in its kernel table, where the checks look (``ip route``: one next hop per advertising node). The
BGPPeer is created once BIRD runs, so that the sessions come up at once instead of after a connect backoff.
"""

from __future__ import annotations

import shutil

import pytest

from tests.speaker.integration.harness import NAMESPACE, SpeakerLab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.lab, pytest.mark.skipif(shutil.which("bird") is None, reason="no BIRD")]

PEER = {
    "apiVersion": "metallb.io/v1beta2",
    "kind": "BGPPeer",
    "metadata": {"name": "router", "namespace": NAMESPACE},
    "spec": {"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1", "holdTime": "9s"},
}


def test_ecmp_from_the_endpoint_nodes_withdrawn_on_endpoint_loss_and_delete(lab: SpeakerLab) -> None:
    vip = "198.51.100.140"
    prefix = f"{vip}/32"
    admin = lab.admin
    assert admin is not None
    lab.start_bird()
    admin.create(PEER)
    try:
        wait_for(lambda: lab.birdc("show", "protocols").count("Established") == 3, "3 BGP sessions Established", 30)
        # externalTrafficPolicy Local: only nodes with a ready endpoint advertise
        lab.service("bgpweb", [vip], local=True, ready_on=("node1", "node2"))
        assert wait_for(
            lambda: lab.next_hops(prefix) == ["192.0.2.11", "192.0.2.12"], "an ECMP route via node1 and node2"
        )
        wait_for(
            lambda: lab.status_nodes("servicebgpstatuses", "bgpweb") == ["node1", "node2"],
            "ServiceBGPStatus from node1 and node2",
        )
        statuses = lab.status_objects("servicebgpstatuses", "bgpweb")
        assert all(s["status"]["peers"] == ["router"] for s in statuses)
        status = lab.status("node1")
        sessions = {s["peer"]: s for s in status["bgpSessions"]}
        assert sessions["router"]["state"] == "Established"
        routes = {r["prefix"]: r for b in status["bgp"] if b["peer"] == "router" for r in b["routes"]}
        assert routes[prefix]["services"] == ["default/bgpweb"]
        # node2 loses its endpoint: it withdraws, node1 stays
        lab.endpoints("bgpweb", ("node1",))
        assert wait_for(lambda: lab.next_hops(prefix) == ["192.0.2.11"], "node2's path withdrawn")
        wait_for(
            lambda: lab.status_nodes("servicebgpstatuses", "bgpweb") == ["node1"], "node2's ServiceBGPStatus deleted"
        )
        lab.delete_service("bgpweb")
        wait_for(lambda: not lab.next_hops(prefix), "the route withdrawn after the Service is deleted")
        wait_for(lambda: not lab.status_objects("servicebgpstatuses", "bgpweb"), "every ServiceBGPStatus deleted")
    finally:
        lab.delete_service("bgpweb")
        admin.delete("metallb.io/v1beta2", "bgppeers", "router", NAMESPACE)
        lab.stop_bird()


def _session_state(lab: SpeakerLab, node: str) -> str:
    return str({s["peer"]: s["state"] for s in lab.status(node)["bgpSessions"]}.get("router", ""))


def test_bfd_down_drops_the_bgp_session_before_the_hold_timer(lab: SpeakerLab) -> None:
    admin = lab.admin
    assert admin is not None
    lab.start_bird(bfd=True)
    profile = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": "fast", "namespace": NAMESPACE},
        "spec": {"receiveInterval": 100, "transmitInterval": 100, "detectMultiplier": 3},
    }
    admin.create(profile)
    admin.create({**PEER, "spec": {**PEER["spec"], "bfdProfile": "fast"}})  # type: ignore[dict-item]
    try:
        wait_for(lambda: _session_state(lab, "node1") == "Established", "node1's BGP session", 30)
        bfd = wait_for(
            lambda: [s for s in lab.status("node1")["bfdSessions"] if s["state"] == "up"], "node1's BFD session up", 30
        )
        assert (bfd[0]["peer"], bfd[0]["local"], bfd[0]["profile"]) == ("192.0.2.1", "192.0.2.11", "fast")
        # the router's BFD packets stop reaching node1 (BGP's keepalives still flow; the hold time is 9 s): node1
        # detects the failure first and must drop the session itself
        rules = "table inet nobfd {\n  chain bfdin { type filter hook input priority 0; udp dport 3784 drop; }\n}\n"
        lab.topo.run("node1", "nft", "-f", "-", input=rules)
        try:
            wait_for(lambda: _session_state(lab, "node1") != "Established", "BFD to drop the BGP session", 5)
            assert "BFD session to 192.0.2.1 went down" in lab.log("node1", 20000)
        finally:
            lab.topo.run("node1", "nft", "delete", "table", "inet", "nobfd")
        wait_for(lambda: _session_state(lab, "node1") == "Established", "the session back after BFD recovers", 30)
    finally:
        admin.delete("metallb.io/v1beta2", "bgppeers", "router", NAMESPACE)
        admin.delete("metallb.io/v1beta1", "bfdprofiles", "fast", NAMESPACE)
        lab.stop_bird()
