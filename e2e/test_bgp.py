"""BGP: every node peers with the upstream router, which forwards to the Service addresses over ECMP routes, and
the outside host (behind the router) reaches them. With ``externalTrafficPolicy: Local`` only nodes with a ready
endpoint announce; the exclusion label withdraws a node's routes.
"""

from __future__ import annotations

from e2e import objects
from e2e.target import Config, Measure, Target
from hack.lab.kubeapi import wait_for
from ironlb.api import names


def _hops(target: Target, ip: str, want: set[str] | None = None, *, at_least: int = 1) -> list[str]:
    """Wait until the router's kernel route to ``ip`` has exactly ``want`` next hops (or at least ``at_least``)."""

    def check() -> list[str] | None:
        hops = target.nexthops(ip)
        if want is not None:
            return hops if set(hops) == want and len(hops) == len(want) else None
        return hops if len(hops) >= at_least else None

    return wait_for(
        check,
        timeout=60,
        what=f"the router's route to {ip} to have next hops {sorted(want) if want else f'>= {at_least}'}",
        describe=lambda: str(target.nexthops(ip)),
    )


def _pod_nodes(target: Target, ns: str, app: str) -> set[str]:
    pods = target.kube.list("v1", "Pod", ns, label_selector=f"app={app}")
    return {
        p["spec"]["nodeName"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions") or [])
    }


def _wait_pod_nodes(target: Target, ns: str, app: str, count: int) -> set[str]:
    def check() -> set[str] | None:
        found = _pod_nodes(target, ns, app)
        return found if len(found) == count else None

    return wait_for(check, timeout=60, what=f"{count} ready {app} Pods on {count} nodes")


def _outside_answer(target: Target, ip: str) -> str:
    return target.answer("outside", f"http://{ip}/")


def _one(ips: list[str]) -> str:
    assert len(ips) == 1, ips
    return ips[0]


def test_bgp_ecmp_local_policy_and_exclusion(target: Target, config: Config, ns: str, measure: Measure) -> None:
    config.apply(
        objects.pool("e2e-bgp", target.block4(6)),
        objects.bgp_peer("e2e-router", target.router_address, target.router_asn, target.node_asn),
        objects.bgp_advertisement("e2e-bgp", "e2e-bgp"),
    )
    nodes = target.nodes
    node_ips = {target.node_ip(n): n for n in nodes}

    # Cluster policy: every node announces, the router spreads flows over all of them.
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("web", ns))
    ip = _one(target.kube.wait_ingress("web", ns, timeout=30))
    hops = _hops(target, ip, set(node_ips))
    assert len(hops) >= 2, hops
    for _ in range(4):
        assert _outside_answer(target, ip).startswith("Hostname: web-")
    measure(f"BGP ECMP: the router's route to {ip} has {len(hops)} next hops: {', '.join(hops)}")

    # Local policy: only the nodes with a ready endpoint announce; the client's address reaches the Pod.
    target.kube.apply(objects.whoami("local", ns, replicas=1))
    target.kube.apply(objects.lb_service("local", ns, app="local", local=True))
    lip = _one(target.kube.wait_ingress("local", ns, timeout=30))
    with_pods = _wait_pod_nodes(target, ns, "local", 1)
    _hops(target, lip, {target.node_ip(n) for n in with_pods})
    answer = _outside_answer(target, lip)
    if target.is_lab:
        assert "RemoteAddr: 203.0.113.130:" in answer, answer  # not masqueraded: the outside host's own address
    target.kube.patch("apps/v1", "Deployment", "local", {"spec": {"replicas": 2}}, ns)
    with_pods = _wait_pod_nodes(target, ns, "local", 2)
    _hops(target, lip, {target.node_ip(n) for n in with_pods})

    # The exclusion label: that node withdraws, the others keep announcing.
    excluded = nodes[0]
    target.kube.patch("v1", "Node", excluded, {"metadata": {"labels": {names.LABEL_EXCLUDE_FROM_LB: ""}}})
    try:
        _hops(target, ip, {a for a, n in node_ips.items() if n != excluded})
        assert _outside_answer(target, ip).startswith("Hostname: web-")
    finally:
        target.kube.patch("v1", "Node", excluded, {"metadata": {"labels": {names.LABEL_EXCLUDE_FROM_LB: None}}})
    _hops(target, ip, set(node_ips))
