"""Layer 2 end to end: real speakers answer ARP/NDP from their node namespaces, traffic flows through the VIP.

Checked where a user would look: the client's ``arping`` / ``ndisc6`` answers and neighbour table, HTTP through
the VIP (answered by the node it reached, hack/lab/bare.py), the ServiceL2Status objects, the Service's Events and
``ironlbctl status``. Failover and planned moves are in test_failover.py, the API outage in test_api_outage.py.
"""

from __future__ import annotations

import pytest

from hack.lab import neighbours
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.manifests import NAMESPACE
from tests.speaker.integration.lookups import arp_owner, events, http, other_than, status_nodes, status_objects

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def test_one_owner_answers_arp_and_ndp_and_serves_http(lab: Lab) -> None:
    assert lab.bare is not None
    vip4, vip6 = "198.51.100.10", "2001:db8:100::10"
    lab.bare.service("dual", [vip4, vip6])
    try:
        owner = arp_owner(lab, vip4)
        # a dual-stack Service elects once: the IPv6 address is answered by the same node, through NDP
        ndp = wait_for(lambda: neighbours.ndisc(lab.topo, vip6), timeout=20, what=f"an NDP answer for {vip6}")
        assert ndp == lab.mac(owner)
        # three requests, three answers, all from the owner: the other speakers stay silent
        assert set(neighbours.arping(lab.topo, vip4, count=3)) == {lab.mac(owner)}
        assert http(lab, vip4) == owner
        assert http(lab, vip6) == owner
        metrics = lab.run(owner, "curl", "-sf", "http://127.0.0.1:9120/metrics", check=True).stdout
        for sample in (
            f'metallb_speaker_announced{{ip="{vip4}",node="{owner}",protocol="layer2",service="default/dual"}} 1.0',
            'ironlb_speaker_takeovers_total{cause="new"}',
            f'metallb_layer2_gratuitous_sent{{ip="{vip4}"}}',
            "metallb_k8s_client_config_loaded_bool 1.0",
        ):
            assert sample in metrics, sample
        for node in lab.nodes:
            announced = {a["ip"] for a in lab.speaker_status(node)["l2"]}
            assert (vip4 in announced and vip6 in announced) == (node == owner), (node, announced)
        wait_for(
            lambda: status_nodes(lab, "ServiceL2Status", "dual") == [owner],
            timeout=20,
            what="the owner's ServiceL2Status",
        )
        (only,) = status_objects(lab, "ServiceL2Status", "dual")
        assert only["metadata"]["labels"] == {
            "metallb.io/node": owner,
            "metallb.io/service-name": "dual",
            "metallb.io/service-namespace": "default",
        }
        assert {i["name"] for i in only["status"]["interfaces"]} == {"eth0", "eth1"}
        assert only["metadata"]["ownerReferences"][0]["name"] == f"ironlb-speaker-{owner}"
        found = wait_for(lambda: events(lab, "dual", "nodeAssigned"), timeout=20, what="the nodeAssigned Event")
        assert [(e["message"], e["count"]) for e in found] == [
            (f'announcing from node "{owner}" with protocol "layer2"', 1)
        ]
    finally:
        lab.bare.delete_service("dual")
    wait_for(
        lambda: not status_objects(lab, "ServiceL2Status", "dual"),
        timeout=20,
        what="the ServiceL2Status to be deleted",
    )
    neighbours.flush(lab.topo)
    assert neighbours.arping_one(lab.topo, vip4) is None, "a deleted Service's address is still answered"


def test_an_excluded_interface_never_answers(lab: Lab) -> None:
    assert lab.bare is not None and lab.kube is not None
    vip = "198.51.100.11"
    lab.bare.service("excl", [vip])
    try:
        owner = arp_owner(lab, vip)
        # without the excludel2 ConfigMap the owner answers on both LANs (the control for what follows)
        on_eth1 = wait_for(lambda: neighbours.arping_one(lab.topo, vip, "eth1"), timeout=20, what="an answer on eth1")
        assert on_eth1 == lab.mac(owner, "eth1")
        lab.kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "metallb-excludel2", "namespace": NAMESPACE},
                "data": {"excludel2.yaml": "announcedInterfacesToExclude: ['^eth1$']\n"},
            }
        )
        wait_for(
            lambda: neighbours.arping_one(lab.topo, vip, "eth1") is None,
            timeout=20,
            what="eth1 to stop answering once excluded",
        )
        assert neighbours.arping(lab.topo, vip, "eth1", count=3) == []
        assert neighbours.arping_one(lab.topo, vip, "eth0") == lab.mac(owner), "eth0 must keep answering"
    finally:
        lab.kube.delete("v1", "ConfigMap", "metallb-excludel2", NAMESPACE)
        lab.bare.delete_service("excl")
    wait_for(lambda: not status_objects(lab, "ServiceL2Status", "excl"), timeout=20, what="the ServiceL2Status to go")


def test_a_link_going_down_moves_the_addresses_announced_on_it(lab: Lab) -> None:
    assert lab.bare is not None
    vip = "198.51.100.70"  # pool l2-eth1: announced on eth1 only
    lab.bare.service("eth1svc", [vip])
    try:
        owner = arp_owner(lab, vip, "eth1")
        assert neighbours.arping_one(lab.topo, vip, "eth0") is None, "an address advertised on eth1 is answered on eth0"
        lab.run(owner, "ip", "link", "set", "eth1", "down", check=True)
        try:
            new = wait_for(
                lambda: other_than(lab.node_of_mac(neighbours.arping_one(lab.topo, vip, "eth1")), owner),
                timeout=20,
                what="another node",
            )
            wait_for(
                lambda: status_nodes(lab, "ServiceL2Status", "eth1svc") == [new],
                timeout=20,
                what="only the new owner's ServiceL2Status",
            )
            (status,) = status_objects(lab, "ServiceL2Status", "eth1svc")
            assert status["status"]["interfaces"] == [{"name": "eth1"}]
            members = {m["name"]: m for m in lab.speaker_status(new)["membership"]["members"]}
            assert '"up":["eth0"]' in members[owner]["metadata"], members[owner]
        finally:
            lab.run(owner, "ip", "link", "set", "eth1", "up", check=True)
    finally:
        lab.bare.delete_service("eth1svc")


def test_ironlbctl_status_shows_announcements_and_membership(lab: Lab) -> None:
    assert lab.bare is not None
    vip = "198.51.100.12"
    lab.bare.service("ctl", [vip])
    try:
        owner = arp_owner(lab, vip)
        lines = lab.ironlbctl("status", "--address", lab.status_address(owner)).stdout.splitlines()
        row = next(line for line in lines if line.strip().startswith(vip))
        assert "announced" in row and "default/ctl" in row, row
        assert f"Node {owner}" in lines[0]
        assert any(line.strip().startswith(n) and "alive" in line for n in lab.nodes for line in lines)
        status = lab.speaker_status(owner)
        counters = {(c["name"], c.get("labels", {}).get("ip")): c["value"] for c in status["counters"]}
        assert counters[("metallb_layer2_gratuitous_sent", vip)] > 0
        assert counters[("metallb_layer2_responses_sent", vip)] > 0
    finally:
        lab.bare.delete_service("ctl")


def test_an_address_another_host_uses_is_not_announced_and_a_warning_says_why(lab: Lab) -> None:
    assert lab.bare is not None
    vip = "198.51.100.13"
    # the client's kernel answers it, on both its LANs (Linux's weak host model: arp_ignore 0), so the probe on
    # either of the advertised interfaces may be the one that hears the claim first
    client_macs = {
        ifname: lab.run("client", "cat", f"/sys/class/net/{ifname}/address", check=True).stdout.strip()
        for ifname in ("eth0", "eth1")
    }
    lab.run("client", "ip", "addr", "add", f"{vip}/32", "dev", "eth0", check=True)
    try:
        lab.bare.service("clash", [vip])
        found = wait_for(
            lambda: events(lab, "clash", "AddressConflict"), timeout=20, what="the AddressConflict Warning"
        )
        (event,) = found
        assert event["type"] == "Warning"
        claims = [
            f"address {vip} is already used by another host ({mac} on {ifname}" for ifname, mac in client_macs.items()
        ]
        assert any(claim in event["message"] for claim in claims), event["message"]
        owner = event["source"]["host"]
        phases = {a["ip"]: a["phase"] for a in lab.speaker_status(owner)["l2"]}
        assert phases[vip] == "conflict"
        assert not status_objects(lab, "ServiceL2Status", "clash"), "a conflicting address is not reported announced"
        assert not events(lab, "clash", "nodeAssigned")
    finally:
        lab.bare.delete_service("clash")
        lab.run("client", "ip", "addr", "del", f"{vip}/32", "dev", "eth0", check=True)
