"""BGP end to end: the speakers dial BIRD in the router namespace; the router's kernel holds the routes.

BIRD is the lab's router (hack/lab/router.py): passive with dynamic neighbours (any node of 192.0.2.0/24 as AS
64513), merging equal paths into ECMP routes in its kernel table, where the checks look (``ip route``: one next hop
per advertising node). The BGPPeer is created once BIRD runs, so that the sessions come up at once instead of after
a connect backoff.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest

from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.manifests import NAMESPACE
from tests.speaker.integration.lookups import status_nodes, status_objects

pytestmark = [pytest.mark.netns, pytest.mark.lab, pytest.mark.skipif(shutil.which("bird") is None, reason="no BIRD")]

PEER: dict[str, Any] = {
    "apiVersion": "metallb.io/v1beta2",
    "kind": "BGPPeer",
    "metadata": {"name": "router", "namespace": NAMESPACE},
    "spec": {"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1", "holdTime": "9s"},
}


def test_ecmp_from_the_endpoint_nodes_withdrawn_on_endpoint_loss_and_delete(lab: Lab) -> None:
    kube, bare = lab.kube, lab.bare
    assert kube is not None and bare is not None
    vip = "198.51.100.140"
    prefix = f"{vip}/32"
    router = lab.start_router("bird")
    kube.create(PEER)
    try:
        wait_for(lambda: router.established() == 3, timeout=30, what="3 BGP sessions Established")
        # externalTrafficPolicy Local: only nodes with a ready endpoint advertise
        bare.service("bgpweb", [vip], local=True, ready_on=("node1", "node2"))
        wait_for(
            lambda: router.nexthops(prefix) == ["192.0.2.11", "192.0.2.12"],
            timeout=20,
            what="an ECMP route via node1 and node2",
        )
        wait_for(
            lambda: status_nodes(lab, "ServiceBGPStatus", "bgpweb") == ["node1", "node2"],
            timeout=20,
            what="ServiceBGPStatus from node1 and node2",
        )
        statuses = status_objects(lab, "ServiceBGPStatus", "bgpweb")
        assert all(s["status"]["peers"] == ["router"] for s in statuses)
        status = lab.speaker_status("node1")
        sessions = {s["peer"]: s for s in status["bgpSessions"]}
        assert sessions["router"]["state"] == "Established"
        routes = {r["prefix"]: r for b in status["bgp"] if b["peer"] == "router" for r in b["routes"]}
        assert routes[prefix]["services"] == ["default/bgpweb"]
        # node2 loses its endpoint: it withdraws, node1 stays
        bare.endpoints("bgpweb", ("node1",))
        wait_for(lambda: router.nexthops(prefix) == ["192.0.2.11"], timeout=20, what="node2's path withdrawn")
        wait_for(
            lambda: status_nodes(lab, "ServiceBGPStatus", "bgpweb") == ["node1"],
            timeout=20,
            what="node2's ServiceBGPStatus deleted",
        )
        bare.delete_service("bgpweb")
        wait_for(lambda: not router.nexthops(prefix), timeout=20, what="the route withdrawn after the Service is gone")
        wait_for(
            lambda: not status_objects(lab, "ServiceBGPStatus", "bgpweb"),
            timeout=20,
            what="every ServiceBGPStatus deleted",
        )
    finally:
        bare.delete_service("bgpweb")
        kube.delete("metallb.io/v1beta2", "BGPPeer", "router", NAMESPACE)
        lab.stop_router()


def _bfd_profile(name: str) -> dict[str, object]:
    """A BFDProfile as fast as the lab router's BFD (100 ms x 3)."""
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"receiveInterval": 100, "transmitInterval": 100, "detectMultiplier": 3},
    }


def _session_state(lab: Lab, node: str) -> str:
    return str({s["peer"]: s["state"] for s in lab.speaker_status(node)["bgpSessions"]}.get("router", ""))


def test_bfd_down_drops_the_bgp_session_before_the_hold_timer(lab: Lab) -> None:
    kube = lab.kube
    assert kube is not None
    lab.start_router("bird", bfd=True)
    kube.create(_bfd_profile("fast"))
    kube.create({**PEER, "spec": {**PEER["spec"], "bfdProfile": "fast"}})
    try:
        wait_for(lambda: _session_state(lab, "node1") == "Established", timeout=30, what="node1's BGP session")
        bfd = wait_for(
            lambda: [s for s in lab.speaker_status("node1")["bfdSessions"] if s["state"] == "up"],
            timeout=30,
            what="node1's BFD session up",
        )
        assert (bfd[0]["peer"], bfd[0]["local"], bfd[0]["profile"]) == ("192.0.2.1", "192.0.2.11", "fast")
        # the router's BFD packets stop reaching node1 (BGP's keepalives still flow; the hold time is 9 s): node1
        # detects the failure first and must drop the session itself
        rules = "table inet nobfd {\n  chain bfdin { type filter hook input priority 0; udp dport 3784 drop; }\n}\n"
        lab.topo.run("node1", "nft", "-f", "-", input=rules)
        try:
            wait_for(
                lambda: _session_state(lab, "node1") != "Established", timeout=5, what="BFD to drop the BGP session"
            )
            assert "BFD session to 192.0.2.1 went down" in lab.logs("speaker-node1", 2000)
        finally:
            lab.topo.run("node1", "nft", "delete", "table", "inet", "nobfd")
        wait_for(
            lambda: _session_state(lab, "node1") == "Established",
            timeout=30,
            what="the session back after BFD recovers",
        )
    finally:
        kube.delete("metallb.io/v1beta2", "BGPPeer", "router", NAMESPACE)
        kube.delete("metallb.io/v1beta1", "BFDProfile", "fast", NAMESPACE)
        lab.stop_router()


_SILENT = (
    "table inet silent {\n"
    '  chain in { type filter hook input priority -10; iifname "eth0" drop; }\n'
    '  chain out { type filter hook output priority -10; oifname "eth0" drop; }\n'
    "}\n"
)


def test_bfd_down_removes_the_routes_at_once_even_with_graceful_restart_negotiated(lab: Lab) -> None:
    """Graceful restart makes a router keep a silent speaker's routes (for the restart time, or the hold time);
    BFD is what removes them at once. BIRD runs BFD and is graceful-restart aware (its default); the peer asks for
    graceful restart. node1's link then goes silent in both directions: no FIN, no NOTIFICATION, only BFD."""
    kube, bare = lab.kube, lab.bare
    assert kube is not None and bare is not None
    vip = "198.51.100.141"
    prefix = f"{vip}/32"
    router = lab.start_router("bird", bfd=True)
    kube.create(_bfd_profile("fast-gr"))
    spec = {**PEER["spec"], "holdTime": "30s", "bfdProfile": "fast-gr", "enableGracefulRestart": True}
    kube.create({**PEER, "spec": spec})
    try:
        wait_for(lambda: router.established() == 3, timeout=30, what="3 BGP sessions Established")
        wait_for(
            lambda: all(
                any(s["state"] == "up" for s in lab.speaker_status(n)["bfdSessions"]) for n in ("node1", "node2")
            ),
            timeout=30,
            what="BFD up on node1 and node2",
        )
        details = router.birdc("show", "protocols", "all")
        negotiated = [block for block in details.split("\n\n") if "192.0.2.11" in block]
        assert negotiated and "Neighbor capabilities" in negotiated[0], details
        assert "Graceful restart" in negotiated[0].split("Neighbor capabilities")[1], details
        bare.service("grweb", [vip], local=True, ready_on=("node1", "node2"))
        wait_for(
            lambda: router.nexthops(prefix) == ["192.0.2.11", "192.0.2.12"],
            timeout=20,
            what="an ECMP route via node1 and node2",
        )
        lab.topo.run("node1", "nft", "-f", "-", input=_SILENT)
        try:
            # the hold time is 30 s and graceful restart would keep the routes longer still: only BFD (3 x 100 ms)
            # can remove node1's path this soon
            silenced = time.monotonic()
            wait_for(
                lambda: router.nexthops(prefix) == ["192.0.2.12"],
                timeout=3,
                interval=0.02,
                what="node1's path removed by BFD",
            )
            print(f"node1's path removed {time.monotonic() - silenced:.3f} s after its link went silent")
            details = router.birdc("show", "protocols", "all")
            node1 = [block for block in details.split("\n\n") if "192.0.2.11" in block]
            assert node1 and "BFD session down" in node1[0], details
        finally:
            lab.topo.run("node1", "nft", "delete", "table", "inet", "silent")
        wait_for(
            lambda: router.nexthops(prefix) == ["192.0.2.11", "192.0.2.12"],
            timeout=30,
            what="node1's path back once its link speaks again",
        )
    finally:
        bare.delete_service("grweb")
        kube.delete("metallb.io/v1beta2", "BGPPeer", "router", NAMESPACE)
        kube.delete("metallb.io/v1beta1", "BFDProfile", "fast-gr", NAMESPACE)
        lab.stop_router()
