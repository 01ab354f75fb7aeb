"""The control plane going away: ironlb-ccm restarted or its leader killed, the API server down for 30 s.

None of it may change an address already given, and traffic never depends on the control plane: while the API
server is down the speakers keep announcing what they announce, in L2 and in BGP.
"""

from __future__ import annotations

import time

from e2e import objects
from e2e.target import Config, Measure, Target, settle
from hack.lab import probe
from hack.lab.kubeapi import wait_for


def _services(target: Target, ns: str, names: list[str]) -> dict[str, str]:
    for name in names:
        target.kube.apply(objects.lb_service(name, ns, app="web"))
    given: dict[str, str] = {}
    for name in names:
        ips = target.kube.wait_ingress(name, ns, timeout=30)
        given[name] = ips[0]
    return given


def _one(ips: list[str]) -> str:
    assert len(ips) == 1, ips
    return ips[0]


def test_ccm_restarts_keep_every_address(target: Target, config: Config, ns: str) -> None:
    config.apply(objects.pool("e2e-restart", target.block4(13)), objects.l2_advertisement("e2e-restart", "e2e-restart"))
    target.kube.apply(objects.whoami("web", ns))
    given = _services(target, ns, [f"s{i}" for i in range(5)])
    hole = given.pop("s1")
    target.kube.delete("v1", "Service", "s1", ns)
    target.kube.wait_gone("v1", "Service", "s1", ns, timeout=30)
    for _ in range(2):
        target.restart_ccm()
        wait_for(target.ccm_leader, timeout=60, what="a ccm replica to lead again")
        for name, ip in given.items():
            assert target.kube.ingress_ips(name, ns) == [ip], f"{name} changed address across a ccm restart"
    # The restarted leader knows what is taken: a new Service gets the freed address, not a taken one.
    assert _services(target, ns, ["s5"]) == {"s5": hole}
    for name, ip in given.items():
        assert target.kube.ingress_ips(name, ns) == [ip]


def test_ccm_leader_killed_the_standby_takes_over(target: Target, config: Config, ns: str, measure: Measure) -> None:
    config.apply(objects.pool("e2e-leader", target.block4(14)), objects.l2_advertisement("e2e-leader", "e2e-leader"))
    target.kube.apply(objects.whoami("web", ns))
    before = _services(target, ns, ["before"])
    killed = target.kill_ccm_leader()
    killed_at = time.monotonic()
    target.kube.apply(objects.lb_service("after", ns, app="web"))
    after = _one(target.kube.wait_ingress("after", ns, timeout=90))
    took = time.monotonic() - killed_at
    leader = target.ccm_leader()
    assert leader is not None and leader != killed, (killed, leader)
    assert after != before["before"]
    assert target.kube.ingress_ips("before", ns) == [before["before"]]
    measure(f"ccm leader SIGKILLed: a Service created right after got its address {took:.1f} s later (Lease 15 s)")


def test_api_server_down_30s_traffic_keeps_flowing(target: Target, config: Config, ns: str, measure: Measure) -> None:
    lab = target.lab("stops the API server")
    config.apply(
        objects.pool("e2e-api-l2", target.block4(15)),
        objects.l2_advertisement("e2e-api-l2", "e2e-api-l2"),
        objects.pool("e2e-api-bgp", target.block4(16)),
        objects.bgp_peer("e2e-api-router", target.router_address, target.router_asn, target.node_asn),
        objects.bgp_advertisement("e2e-api-bgp", "e2e-api-bgp"),
    )
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("l2", ns, app="web", annotations={"metallb.io/address-pool": "e2e-api-l2"}))
    target.kube.apply(objects.lb_service("bgp", ns, app="web", annotations={"metallb.io/address-pool": "e2e-api-bgp"}))
    l2_ip = _one(target.kube.wait_ingress("l2", ns))
    bgp_ip = _one(target.kube.wait_ingress("bgp", ns))
    target.answer("client", f"http://{l2_ip}/", timeout=60)
    target.answer("outside", f"http://{bgp_ip}/", timeout=60)
    with target.probe("client", f"http://{l2_ip}/") as l2_run, target.probe("outside", f"http://{bgp_ip}/") as bgp_run:
        settle(1.0)
        lab.api_down()
        try:
            settle(30.0)
        finally:
            lab.api_up()
        settle(2.0)
        l2 = probe.analyze(l2_run.stop())
        bgp = probe.analyze(bgp_run.stop())
    measure(f"API server down 30 s, L2 from the client: {l2.line()}")
    measure(f"API server down 30 s, BGP from the outside host: {bgp.line()}")
    assert l2.failed == 0 and l2.ok > 500, l2.line()
    assert bgp.failed == 0 and bgp.ok > 500, bgp.line()
    # The control plane is back: a new Service is allocated and announced.
    target.kube.apply(objects.lb_service("later", ns, app="web", annotations={"metallb.io/address-pool": "e2e-api-l2"}))
    later = _one(target.kube.wait_ingress("later", ns, timeout=60))
    target.answer("client", f"http://{later}/", timeout=60)
