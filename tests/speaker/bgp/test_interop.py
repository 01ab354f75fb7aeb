"""Interop in network namespaces: our speaker against BIRD 2 and FRR as the upstream router.

Topology (hack/lab/netns.py): ``router`` 192.0.2.1 / 2001:db8::1 and ``node1``/``node2`` .11/.12 on one LAN. Each
node runs ``python -m speaker.bgp.standalone``; the router runs BIRD (as the active side, 1 s connect timers)
or FRR (passive, ``bgp listen range``). Checks are made where an operator would look: ``birdc show route all``,
``vtysh ... json``, and the router's kernel table (``ip route``: two next hops = ECMP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hack.lab.netns import Topology
from tests.speaker.bgp.lab import (
    Bird,
    Frr,
    Speaker,
    bird_config,
    frr_config,
    kernel_next_hops,
    peer,
    remove_tree,
    requires_bird,
    requires_frr,
    wait_for,
    workdir,
)

pytestmark = [pytest.mark.netns, pytest.mark.lab]

V4 = "198.51.100.10/32"
V6 = "2001:db8:100::10/128"
ROUTE_ATTRS = {"local_pref": 200, "communities": ["65000:1"], "large_communities": ["65000:2:3"]}
NODES = ("node1", "node2")


@pytest.fixture
def lab_dir() -> Iterator[Path]:
    path = workdir("interop")
    yield path
    remove_tree(path)


def routes(*prefixes: str, **attrs: object) -> list[dict[str, object]]:
    return [{"prefix": p, **attrs} for p in prefixes]


# ------------------------------------------------------------------------------------------------
# BIRD
# ------------------------------------------------------------------------------------------------
@requires_bird
def test_bird_ibgp_ecmp_attributes_and_withdraw(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=2, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 192.0.2.11 as 64512", "n2 192.0.2.12 as 64512"))
    speakers = []
    for role in NODES:
        speaker = Speaker(topo, role, lab_dir)
        speaker.peers(peer("r", 64512, 64512, "192.0.2.1", hold_time=9))
        speaker.routes({"r": routes(V4, V6, **ROUTE_ATTRS)})
        speakers.append(speaker)
    bird.wait_established("n1", "n2")
    # both nodes' paths tie, so the router's kernel gets one route with two next hops, for each family
    assert wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.11", "192.0.2.12"], "IPv4 ECMP")
    assert wait_for(lambda: kernel_next_hops(topo, "router", V6) == ["2001:db8::11", "2001:db8::12"], "IPv6 ECMP")
    shown = bird.route(V4)
    for line in (
        "BGP.local_pref: 200",
        "BGP.community: (65000,1)",
        "BGP.large_community: (65000, 2, 3)",
        "BGP.origin: IGP",
        "BGP.as_path: \n",
    ):
        assert line.strip() in shown, shown
    assert "BGP.next_hop: 2001:db8::11 fe80::" in bird.route(V6)  # global plus link-local: 32-octet next hop
    speakers[0].routes({"r": []})
    assert wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.12"], "node1's path withdrawn")
    speakers[1].routes({"r": []})
    assert wait_for(
        lambda: kernel_next_hops(topo, "router", V4) == [] and kernel_next_hops(topo, "router", V6) == [],
        "all routes withdrawn",
    )
    assert "Established" in bird.state("n1")  # a withdrawal is not a session reset


@requires_bird
def test_bird_ebgp_with_a_4_octet_asn(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=1, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 192.0.2.11 as 4200000001"))
    speaker = Speaker(topo, "node1", lab_dir)
    speaker.peers(peer("r", 4200000001, 64512, "192.0.2.1", hold_time=9))
    speaker.routes({"r": routes(V4, V6, **ROUTE_ATTRS)})
    bird.wait_established("n1")
    wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.11"], "the route in the kernel")
    shown = bird.route(V4)
    assert "BGP.as_path: 4200000001" in shown
    assert "local_pref: 200" not in shown  # LOCAL_PREF never goes to an external peer
    assert "Neighbor AS:      4200000001" in bird.cli("show", "protocols", "all", "n1")


@requires_bird
def test_bird_over_an_ipv6_session_gets_both_families(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=1, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 2001:db8::11 as 64513"))
    speaker = Speaker(topo, "node1", lab_dir)
    speaker.peers(peer("r", 64513, 64512, "2001:db8::1", hold_time=9))
    speaker.routes({"r": routes(V4, V6)})
    bird.wait_established("n1")
    assert wait_for(lambda: kernel_next_hops(topo, "router", V6) == ["2001:db8::11"], "IPv6 over IPv6")
    assert wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.11"], "IPv4 over IPv6")
    (status,) = speaker.status()
    assert status["router_id"] == "192.0.2.11"  # an IPv4 of the session's interface (metallb.md 1.4)


@requires_bird
def test_bird_tcp_md5_right_and_wrong(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=2, client=False)
    bird = Bird(
        topo,
        "router",
        lab_dir,
        bird_config("n1 192.0.2.11 as 64513", "n2 192.0.2.12 as 64513", extra='password "lab-secret-1";'),
    )
    good = Speaker(topo, "node1", lab_dir)
    good.peers(peer("r", 64513, 64512, "192.0.2.1", password="lab-secret-1"))
    bad = Speaker(topo, "node2", lab_dir)
    bad.peers(peer("r", 64513, 64512, "192.0.2.1", password="not-the-secret"))
    bird.wait_established("n1")
    line = wait_for(
        lambda: next((ln for ln in bad.log().splitlines() if "MD5" in ln and "WARNING" in ln), None),
        "node2's MD5 warning",
    )
    assert "BGPPeer r" in line and "not-the-secret" not in bad.log() and "lab-secret-1" not in good.log()
    assert "Established" not in bird.state("n2")
    assert not [e for e in bad.events if e.get("event") == "session" and e.get("established")]


@requires_bird
def test_bird_graceful_restart_keeps_routes_across_a_planned_restart(
    topology: Callable[..., Topology], lab_dir: Path
) -> None:
    topo = topology(nodes=1, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 192.0.2.11 as 64513", extra="graceful restart on;"))
    config = peer("r", 64513, 64512, "192.0.2.1", hold_time=9, enable_graceful_restart=True)
    first = Speaker(topo, "node1", lab_dir)
    first.peers(config)
    first.routes({"r": routes(V4, V6)})
    bird.wait_established("n1")
    wait_for(lambda: kernel_next_hops(topo, "router", V4), "the route in the kernel")
    assert "restart" in bird.cli("show", "protocols", "all", "n1").lower()
    first.shutdown(graceful=True, restarting=True)  # a planned restart: no NOTIFICATION
    wait_for(
        lambda: "Neighbor graceful restart active" in bird.cli("show", "protocols", "all", "n1"),
        "BIRD to hold our routes as stale",
    )
    assert kernel_next_hops(topo, "router", V4) == ["192.0.2.11"]  # still forwarding while we restart
    assert kernel_next_hops(topo, "router", V6) == ["2001:db8::11"]
    second = Speaker(topo, "node1", lab_dir)
    second.peers(config)
    second.routes({"r": routes(V6)})  # the new process no longer has V4
    bird.wait_established("n1")
    # our End-of-RIB ends the restart: what was not announced again (V4) goes, V6 stays
    wait_for(lambda: not kernel_next_hops(topo, "router", V4), "the stale IPv4 route to be flushed at End-of-RIB")
    assert kernel_next_hops(topo, "router", V6) == ["2001:db8::11"]
    assert "graceful restart active" not in bird.cli("show", "protocols", "all", "n1")


@requires_bird
def test_bird_graceful_shutdown_drains_withdraws_and_says_why(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=1, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 192.0.2.11 as 64513"))
    speaker = Speaker(topo, "node1", lab_dir, shutdown_wait=2.0)
    speaker.peers(peer("r", 64513, 64512, "192.0.2.1", hold_time=9))
    speaker.routes({"r": routes(V4)})
    bird.wait_established("n1")
    wait_for(lambda: kernel_next_hops(topo, "router", V4), "the route in the kernel")
    speaker.send(op="shutdown", graceful=True, restarting=False)
    shown = wait_for(lambda: r if "(65535,0)" in (r := bird.route(V4)) else None, "GRACEFUL_SHUTDOWN at the router")
    assert "BGP.community: (65535,0)" in shown
    wait_for(lambda: not kernel_next_hops(topo, "router", V4), "the withdrawal")
    wait_for(lambda: "speaker shutting down" in bird.log(), "the shutdown communication in BIRD's log")
    assert "Administrative shutdown" in bird.log()


@requires_bird
def test_hold_timer_expires_when_the_router_goes_silent(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=1, client=False)
    bird = Bird(topo, "router", lab_dir, bird_config("n1 192.0.2.11 as 64513"))
    speaker = Speaker(topo, "node1", lab_dir)
    speaker.peers(peer("r", 64513, 64512, "192.0.2.1", hold_time=3))
    bird.wait_established("n1")
    speaker.established("r")
    topo.link_down("router")  # no FIN, no RST: the router just stops talking
    speaker.wait_event(
        lambda e: e == {**e, "event": "session", "peer": "r", "established": False}, "the session to go down", limit=15
    )
    (status,) = speaker.status()
    assert "Hold Timer Expired" in status["last_error"]


# ------------------------------------------------------------------------------------------------
# FRR
# ------------------------------------------------------------------------------------------------
def _frr_paths(frr: Frr, prefix: str) -> list[dict[str, object]]:
    family = "ipv6" if ":" in prefix else "ipv4"
    data = frr.json(f"show bgp {family} unicast {prefix} json")
    paths: list[dict[str, object]] = data.get("paths", [])
    return paths


@requires_frr
def test_frr_ebgp_ecmp_communities_and_withdraw(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=2, client=False)
    frr = Frr(topo, "router", lab_dir, frr_config(remote_as=64513))
    try:
        speakers = []
        for role in NODES:
            speaker = Speaker(topo, role, lab_dir)
            speaker.peers(peer("r", 64513, 64512, "192.0.2.1", hold_time=9))
            speaker.routes({"r": routes(V4, V6, **ROUTE_ATTRS)})
            speakers.append(speaker)
        paths = wait_for(lambda: p if len(p := _frr_paths(frr, V4)) == 2 else None, "two paths at FRR")
        for path in paths:
            assert path["community"] == {"string": "65000:1", "list": ["65000:1"]}
            assert path["largeCommunity"]["string"] == "65000:2:3"  # type: ignore[index]
            assert path["aspath"]["string"] == "64513"  # type: ignore[index]
            assert "locPrf" not in path
        assert wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.11", "192.0.2.12"], "ECMP v4")
        assert wait_for(lambda: len(kernel_next_hops(topo, "router", V6)) == 2, "ECMP v6")
        for speaker in speakers:
            speaker.routes({"r": []})
        wait_for(lambda: not kernel_next_hops(topo, "router", V4) and not _frr_paths(frr, V6), "withdrawal")
    finally:
        frr.close()


@requires_frr
def test_frr_ibgp_with_a_4_octet_asn_and_local_pref(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=1, client=False)
    frr = Frr(topo, "router", lab_dir, frr_config(asn=4200000001, remote_as="internal"))
    try:
        speaker = Speaker(topo, "node1", lab_dir)
        speaker.peers(peer("r", 4200000001, 4200000001, "192.0.2.1", hold_time=9))
        speaker.routes({"r": routes(V4, V6, **ROUTE_ATTRS)})
        (path,) = wait_for(lambda: _frr_paths(frr, V4), "the path at FRR")
        assert path["locPrf"] == 200
        assert path["aspath"]["string"] == "Local"  # type: ignore[index]
        (v6,) = wait_for(lambda: _frr_paths(frr, V6), "the IPv6 path at FRR")
        assert v6["locPrf"] == 200
        wait_for(lambda: kernel_next_hops(topo, "router", V4) == ["192.0.2.11"], "the route in the kernel")
    finally:
        frr.close()


@requires_frr
def test_frr_tcp_md5_right_and_wrong(topology: Callable[..., Topology], lab_dir: Path) -> None:
    topo = topology(nodes=2, client=False)
    frr = Frr(
        topo, "router", lab_dir, frr_config(remote_as=64513, extra_neighbor="neighbor NODES password frr-secret-1")
    )
    try:
        good = Speaker(topo, "node1", lab_dir)
        good.peers(peer("r", 64513, 64512, "192.0.2.1", password="frr-secret-1"))
        good.routes({"r": routes(V4)})
        bad = Speaker(topo, "node2", lab_dir)
        bad.peers(peer("r", 64513, 64512, "192.0.2.1", password="wrong-secret-2"))
        bad.routes({"r": routes(V4)})
        good.established("r")
        wait_for(lambda: "MD5" in bad.log() and "WARNING" in bad.log(), "node2's MD5 warning")
        assert kernel_next_hops(topo, "router", V4) == ["192.0.2.11"]
        assert not [e for e in bad.events if e.get("event") == "session" and e.get("established")]
    finally:
        frr.close()
