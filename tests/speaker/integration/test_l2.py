"""Layer 2 end to end: real speakers answer ARP/NDP from their node namespaces, traffic flows through the VIP.

Checked where a user would look: the client's ``arping`` / ``ndisc6`` answers and neighbour table, HTTP through
the VIP (nftables DNAT to the owner's "pod"), the ServiceL2Status objects, the Service's Events and
``ironlbctl status``. Failover and planned moves are in test_failover.py, the API outage in test_api_outage.py.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.speaker.integration.harness import IRONLBCTL_BIN, SpeakerLab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.lab]


def owner_of(lab: SpeakerLab, vip: str, interface: str = "eth0") -> str:
    mac = wait_for(lambda: lab.arping(vip, interface), f"an ARP answer for {vip} on {interface}")
    node = lab.node_of_mac(mac)
    assert node is not None, f"{vip} answered by {mac}, which is no node's"
    return node


def _other_than(node: str | None, owner: str) -> str | None:
    return node if node != owner else None


def test_one_owner_answers_arp_and_ndp_and_serves_http(lab: SpeakerLab) -> None:
    vip4, vip6 = "198.51.100.10", "2001:db8:100::10"
    lab.service("dual", [vip4, vip6])
    try:
        owner = owner_of(lab, vip4)
        # a dual-stack Service elects once: the IPv6 address is answered by the same node, through NDP
        assert wait_for(lambda: lab.ndisc(vip6), f"an NDP answer for {vip6}") == lab.mac(owner)
        # three requests, three answers, all from the owner: the other speakers stay silent
        assert set(lab.arping_all(vip4, count=3)) == {lab.mac(owner)}
        assert lab.http(vip4) == owner
        assert lab.http(vip6) == owner
        metrics = lab.topo.run(owner, "curl", "-sf", "http://127.0.0.1:9120/metrics").stdout
        for sample in (
            f'metallb_speaker_announced{{ip="{vip4}",node="{owner}",protocol="layer2",service="default/dual"}} 1.0',
            'ironlb_speaker_takeovers_total{cause="new"}',
            f'metallb_layer2_gratuitous_sent{{ip="{vip4}"}}',
            "metallb_k8s_client_config_loaded_bool 1.0",
        ):
            assert sample in metrics, sample
        for node in lab.node_names:
            announced = {a["ip"] for a in lab.status(node)["l2"]}
            assert (vip4 in announced and vip6 in announced) == (node == owner), (node, announced)
        wait_for(lambda: lab.status_nodes("servicel2statuses", "dual") == [owner], "the owner's ServiceL2Status")
        (only,) = lab.status_objects("servicel2statuses", "dual")
        assert only["metadata"]["labels"] == {
            "metallb.io/node": owner,
            "metallb.io/service-name": "dual",
            "metallb.io/service-namespace": "default",
        }
        assert {i["name"] for i in only["status"]["interfaces"]} == {"eth0", "eth1"}
        assert only["metadata"]["ownerReferences"][0]["name"] == f"ironlb-speaker-{owner}"
        events = wait_for(lambda: lab.events("dual", "nodeAssigned"), "the nodeAssigned Event")
        assert [(e["message"], e["count"]) for e in events] == [
            (f'announcing from node "{owner}" with protocol "layer2"', 1)
        ]
    finally:
        lab.delete_service("dual")
    wait_for(lambda: not lab.status_objects("servicel2statuses", "dual"), "the ServiceL2Status to be deleted")
    lab.flush_neighbours()
    assert lab.arping(vip4) is None, "a deleted Service's address is still answered"


def test_an_excluded_interface_never_answers(lab: SpeakerLab) -> None:
    vip = "198.51.100.11"
    lab.service("excl", [vip])
    admin = lab.admin
    assert admin is not None
    try:
        owner = owner_of(lab, vip)
        # without the excludel2 ConfigMap the owner answers on both LANs (the control for what follows)
        assert wait_for(lambda: lab.arping(vip, "eth1"), "an answer on eth1") == lab.mac(owner, "eth1")
        admin.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "metallb-excludel2", "namespace": "metallb-system"},
                "data": {"excludel2.yaml": "announcedInterfacesToExclude: ['^eth1$']\n"},
            }
        )
        wait_for(lambda: lab.arping(vip, "eth1") is None, "eth1 to stop answering once excluded")
        assert lab.arping_all(vip, "eth1", count=3) == []
        assert lab.arping(vip, "eth0") == lab.mac(owner), "eth0 must keep answering"
    finally:
        admin.delete("v1", "configmaps", "metallb-excludel2", "metallb-system")
        lab.delete_service("excl")
    wait_for(lambda: not lab.status_objects("servicel2statuses", "excl"), "the ServiceL2Status to go")


def test_a_link_going_down_moves_the_addresses_announced_on_it(lab: SpeakerLab) -> None:
    vip = "198.51.100.70"  # pool l2-eth1: announced on eth1 only
    lab.service("eth1svc", [vip])
    try:
        owner = owner_of(lab, vip, "eth1")
        assert lab.arping(vip, "eth0") is None, "an address advertised on eth1 only is answered on eth0"
        lab.topo.run(owner, "ip", "link", "set", "eth1", "down")
        try:
            new = wait_for(lambda: _other_than(lab.node_of_mac(lab.arping(vip, "eth1")), owner), "another node")
            wait_for(
                lambda: lab.status_nodes("servicel2statuses", "eth1svc") == [new],
                "only the new owner's ServiceL2Status",
            )
            (status,) = lab.status_objects("servicel2statuses", "eth1svc")
            assert status["status"]["interfaces"] == [{"name": "eth1"}]
            members = {m["name"]: m for m in lab.status(new)["membership"]["members"]}
            assert '"up":["eth0"]' in members[owner]["metadata"], members[owner]
        finally:
            lab.topo.run(owner, "ip", "link", "set", "eth1", "up")
    finally:
        lab.delete_service("eth1svc")


def test_ironlbctl_status_shows_announcements_and_membership(lab: SpeakerLab) -> None:
    vip = "198.51.100.12"
    lab.service("ctl", [vip])
    try:
        owner = owner_of(lab, vip)
        done = subprocess.run(
            [str(IRONLBCTL_BIN), "status", "--address", lab.status_address(owner)],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
        lines = done.stdout.splitlines()
        row = next(line for line in lines if line.strip().startswith(vip))
        assert "announced" in row and "default/ctl" in row, row
        assert f"Node {owner}" in lines[0]
        assert any(line.strip().startswith(n) and "alive" in line for n in lab.node_names for line in lines)
        counters = {(c["name"], c.get("labels", {}).get("ip")): c["value"] for c in lab.status(owner)["counters"]}
        assert counters[("metallb_layer2_gratuitous_sent", vip)] > 0
        assert counters[("metallb_layer2_responses_sent", vip)] > 0
    finally:
        lab.delete_service("ctl")


def test_an_address_another_host_uses_is_not_announced_and_a_warning_says_why(lab: SpeakerLab) -> None:
    vip = "198.51.100.13"
    lab.topo.run("client", "ip", "addr", "add", f"{vip}/32", "dev", "eth0")  # the client's kernel now answers it
    try:
        lab.service("clash", [vip])
        events = wait_for(lambda: lab.events("clash", "AddressConflict"), "the AddressConflict Warning")
        (event,) = events
        assert event["type"] == "Warning"
        assert f"address {vip} is already used by another host (02:00:00:00:00:06 on eth0" in event["message"]
        owner = event["source"]["host"]
        phases = {a["ip"]: a["phase"] for a in lab.status(owner)["l2"]}
        assert phases[vip] == "conflict"
        assert not lab.status_objects("servicel2statuses", "clash"), "a conflicting address is not reported announced"
        assert not lab.events("clash", "nodeAssigned")
    finally:
        lab.delete_service("clash")
        lab.topo.run("client", "ip", "addr", "del", f"{vip}/32", "dev", "eth0")
