"""The announcer end to end in network namespaces: real clients (arping, ndisc6, the kernel's neighbour cache).

Each announcer is a ``python -m speaker.l2`` process started inside a node's namespace (so every socket it opens,
whenever it opens it, is there), driven through :class:`speaker.l2.runner.L2Process`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from hack.lab.netns import Topology
from speaker.l2.runner import L2Process, popen_kwargs

pytestmark = [pytest.mark.netns, pytest.mark.lab]

VIP4 = "198.51.100.5"
VIP6 = "2001:db8:100::5"


@pytest.fixture
def lab(topology: Callable[..., Topology]) -> Iterator[tuple[Topology, Callable[..., L2Process]]]:
    topo = topology(nodes=2, router=True, client=True)
    started: list[L2Process] = []

    def announcer(role: str, *options: str) -> L2Process:
        process = L2Process(lambda argv: topo.popen(role, argv, **popen_kwargs()), *options)
        started.append(process)
        return process

    yield topo, announcer
    for process in started:
        process.stop()


def arping_macs(topo: Topology, ip: str, count: int = 1) -> list[str]:
    out = topo.run("client", "arping", "-I", "eth0", "-c", str(count), "-W", "0.1", "-w", "3", ip, check=False).stdout
    return re.findall(r"bytes from ([0-9a-f:]{17})", out)


def ndisc_mac(topo: Topology, ip: str) -> str | None:
    out = topo.run("client", "ndisc6", "-n", "-r", "2", ip, "eth0", check=False).stdout
    found = re.search(r"Target link-layer address: ([0-9A-Fa-f:]{17})", out)
    return found.group(1).lower() if found else None


def neighbour_mac(topo: Topology, ip: str) -> str | None:
    out = topo.run("client", "ip", "neigh", "show", ip, "dev", "eth0").stdout
    found = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return found.group(1) if found else None


def wait_for_neighbour(topo: Topology, ip: str, mac: str) -> str | None:
    """Poll the client's neighbour entry (bounded) until it names ``mac``; returns what it last said."""
    seen = None
    for _ in range(100):
        seen = neighbour_mac(topo, ip)
        if seen == mac:
            break
        time.sleep(0.02)
    return seen


def test_client_resolves_owned_addresses_and_a_non_owner_never_answers(
    lab: tuple[Topology, Callable[..., L2Process]],
) -> None:
    topo, announcer = lab
    node1, node2 = announcer("node1"), announcer("node2")
    node1.own({VIP4: None, VIP6: None}, takeover="immediate")
    node1.wait_for("announced", ip=VIP4)
    node1.wait_for("announced", ip=VIP6)
    node2.own({}, takeover="immediate")
    mac1 = topo.hosts["node1"].mac
    assert arping_macs(topo, VIP4, count=3) == [mac1] * 3
    assert ndisc_mac(topo, VIP6) == mac1
    stats1, stats2 = node1.request("stats"), node2.request("stats")
    assert stats1["addresses"][VIP4]["requests_received"] >= 3
    assert stats1["addresses"][VIP4]["responses_sent"] == stats1["addresses"][VIP4]["requests_received"]
    assert stats1["addresses"][VIP6]["responses_sent"] >= 1
    assert stats1["addresses"][VIP4]["gratuitous_sent"] >= 2  # the first round: request and reply form
    # node2 saw the same broadcasts and named why it stayed silent.
    assert VIP4 not in stats2["addresses"] and stats2["dropped"]["address-not-owned"] >= 4


def test_an_address_allowed_only_on_another_interface_is_not_answered(
    lab: tuple[Topology, Callable[..., L2Process]],
) -> None:
    topo, announcer = lab
    # A second eligible interface in node1: eth1, a veth whose peer veth1 stays in node1 (excluded by ^veth.*).
    topo.run("node1", "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "veth1")
    topo.run("node1", "ip", "link", "set", "veth1", "up")
    topo.run("node1", "ip", "link", "set", "eth1", "up")
    node1 = announcer("node1")
    assert {i["name"] for i in node1.ready["interfaces"]} == {"eth0", "eth1"}
    node1.own({VIP4: ["eth1"], VIP6: ["eth1"]}, takeover="immediate")
    assert node1.wait_for("announced", ip=VIP4)["interfaces"] == ["eth1"]
    assert arping_macs(topo, VIP4) == []
    assert ndisc_mac(topo, VIP6) is None
    assert node1.request("stats")["dropped"]["interface-not-allowed"] >= 2


def test_takeover_flips_the_clients_neighbour_entries(lab: tuple[Topology, Callable[..., L2Process]]) -> None:
    topo, announcer = lab
    mac1, mac2 = topo.hosts["node1"].mac, topo.hosts["node2"].mac
    node1, node2 = announcer("node1"), announcer("node2")
    node1.own({VIP4: None, VIP6: None}, takeover="immediate")
    node1.wait_for("announced", ip=VIP6)
    # Traffic makes the kernel resolve and cache the addresses (the pings themselves get no answer: no VIP is
    # configured anywhere, as with MetalLB).
    topo.run("client", "ping", "-c", "1", "-W", "0.3", VIP4, check=False)
    topo.run("client", "ping", "-6", "-c", "1", "-W", "0.3", VIP6, check=False)
    assert neighbour_mac(topo, VIP4) == mac1 and neighbour_mac(topo, VIP6) == mac1
    node1.own({}, takeover="immediate")  # node1 dies as far as L2 goes: silent, no withdrawal
    node2.own({VIP4: None, VIP6: None}, takeover="immediate")
    # Within neigh.locktime of the last change: only a real gratuitous ARP (request form) may flip it.
    assert wait_for_neighbour(topo, VIP4, mac2) == mac2
    assert wait_for_neighbour(topo, VIP6, mac2) == mac2


def test_probe_detects_a_host_that_already_has_the_address(lab: tuple[Topology, Callable[..., L2Process]]) -> None:
    topo, announcer = lab
    router_mac = topo.hosts["router"].mac
    topo.run("router", "ip", "addr", "add", "198.51.100.50/32", "dev", "eth0")
    topo.run("router", "ip", "-6", "addr", "add", "2001:db8:100::50/128", "dev", "eth0", "nodad")
    node1 = announcer("node1")
    node1.own({"198.51.100.50": None, "2001:db8:100::50": None}, takeover="probe")
    v4 = node1.wait_for("conflict", ip="198.51.100.50")
    v6 = node1.wait_for("conflict", ip="2001:db8:100::50")
    assert (v4["mac"], v4["evidence"]) == (router_mac, "arp-sender")  # the router's kernel answered our probe
    assert (v6["mac"], v6["evidence"]) == (router_mac, "neighbor-advertisement")  # it defended against our DAD
    assert node1.request("phases")["phases"] == {"198.51.100.50": "conflict", "2001:db8:100::50": "conflict"}
    assert arping_macs(topo, "198.51.100.50", count=2) == [router_mac] * 2  # we stay out of its way
    stats = node1.request("stats")
    assert stats["conflicts"] == 2 and stats["addresses"]["198.51.100.50"]["probes_sent"] >= 1
    assert stats["addresses"]["198.51.100.50"]["gratuitous_sent"] == 0


def test_planned_handover_probe_ignores_known_speakers(lab: tuple[Topology, Callable[..., L2Process]]) -> None:
    topo, announcer = lab
    mac1, mac2 = topo.hosts["node1"].mac, topo.hosts["node2"].mac
    node1, node2 = announcer("node1"), announcer("node2")
    node1.own({VIP4: None}, takeover="immediate")
    node1.wait_for("announced", ip=VIP4)
    # A plain probe hears node1 - still the owner - answer: that would be a conflict.
    node2.own({VIP4: None}, takeover="probe")
    assert node2.wait_for("conflict", ip=VIP4)["mac"] == mac1
    node2.own({}, takeover="probe")
    # The planned way: node1 releases with a grace period, node2 knows node1 is a speaker.
    node2.send(op="speaker_macs", macs=[mac1, mac2])
    node1.send(op="release", ip=VIP4, after=0.5)
    node1.own({}, takeover="immediate")
    node2.own({VIP4: None}, takeover="probe-ignoring-speakers")
    node2.wait_for("announced", ip=VIP4)
    node1.wait_for("released", ip=VIP4)
    assert arping_macs(topo, VIP4, count=2) == [mac2] * 2


@pytest.mark.parametrize(
    "vip", [pytest.param(VIP4, id="ipv4-gratuitous-arp"), pytest.param(VIP6, id="ipv6-unsolicited-na")]
)
def test_a_releasing_owner_stops_answering_when_the_next_owner_announces(
    lab: tuple[Topology, Callable[..., L2Process]], vip: str
) -> None:
    """The grace period (30 s here, far longer than the test) ends on the next owner's first announcement: the
    releasing node's claims listener hears it, from a known speaker MAC, and it stops answering at once."""
    topo, announcer = lab
    mac1, mac2 = topo.hosts["node1"].mac, topo.hosts["node2"].mac
    node1, node2 = announcer("node1"), announcer("node2")
    for node in (node1, node2):
        node.send(op="speaker_macs", macs=[mac1, mac2])
    node1.own({vip: None}, takeover="immediate")
    node1.wait_for("announced", ip=vip)
    node1.send(op="release", ip=vip, after=30.0)
    node1.own({}, takeover="immediate")
    assert node1.request("phases")["phases"] == {vip: "releasing"}
    node2.own({vip: None}, takeover="probe-ignoring-speakers")
    node2.wait_for("announced", ip=vip)
    released = node1.wait_for("released", ip=vip, timeout=5.0)
    assert released["handed_to"] == mac2
    assert node1.request("phases")["phases"] == {}
    if ":" in vip:
        assert ndisc_mac(topo, vip) == mac2
    else:
        assert arping_macs(topo, vip, count=3) == [mac2] * 3, "only the next owner answers"


def test_an_announcement_from_an_unknown_mac_does_not_end_the_grace(
    lab: tuple[Topology, Callable[..., L2Process]],
) -> None:
    topo, announcer = lab
    mac1 = topo.hosts["node1"].mac
    node1, node2 = announcer("node1"), announcer("node2")
    node1.send(op="speaker_macs", macs=[mac1])  # node2 is no speaker node1 knows of
    node1.own({VIP4: None}, takeover="immediate")
    node1.wait_for("announced", ip=VIP4)
    node1.send(op="release", ip=VIP4, after=30.0)
    node1.own({}, takeover="immediate")
    node2.own({VIP4: None}, takeover="immediate")
    node2.wait_for("announced", ip=VIP4)
    time.sleep(0.3)  # node2's first round has long reached node1
    assert node1.request("phases")["phases"] == {VIP4: "releasing"}


def test_link_down_and_up_are_reported_and_announcements_resent(lab: tuple[Topology, Callable[..., L2Process]]) -> None:
    topo, announcer = lab
    node1 = announcer("node1", "--announce-rounds", "1")
    node1.own({VIP4: None}, takeover="immediate")
    node1.wait_for("announced", ip=VIP4)
    before = node1.request("stats")["addresses"][VIP4]["gratuitous_sent"]
    topo.link_down("node1")
    down = node1.wait_for("link", kind="down")
    assert down["interface"]["name"] == "eth0" and down["interface"]["up"] is False
    topo.link_up("node1")
    node1.wait_for("link", kind="up")
    # Back up: the interface gets its own announcement round (1 round = request and reply form).
    assert node1.request("stats")["addresses"][VIP4]["gratuitous_sent"] == before + 2
    assert arping_macs(topo, VIP4) == [topo.hosts["node1"].mac]


def test_bad_commands_are_reported_not_fatal(lab: tuple[Topology, Callable[..., L2Process]]) -> None:
    _, announcer = lab
    node1 = announcer("node1")
    node1.send(op="own", table={"not-an-ip": None})
    assert "not an IP address" in node1.wait_for("error")["message"]
    node1.send(op="own", table={VIP4: None}, takeover="sideways")
    assert "takeover 'sideways'" in node1.wait_for("error")["message"]
    node1.send(op="dance")
    assert "unknown op" in node1.wait_for("error")["message"]
    assert node1.request("phases")["phases"] == {}
