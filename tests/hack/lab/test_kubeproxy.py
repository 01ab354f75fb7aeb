"""The kube-proxy stand-in's rules: which endpoints get the traffic of a LoadBalancer address, and the nft text."""

from __future__ import annotations

from typing import Any

import pytest

from hack.lab.kubeproxy import TABLE, Rule, render, rules_for, ruleset
from tests.conftest import requires_netns


def _svc(*ips: str, local: bool = False, kind: str = "LoadBalancer", port: int = 80) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}
    if local:
        spec["externalTrafficPolicy"] = "Local"
    return {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def _slice(family: str, *endpoints: tuple[str, str, bool, bool], port: int = 8080) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{family.lower()}",
            "namespace": "ns",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": family,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "nodeName": node, "conditions": {"ready": ready, "serving": True, "terminating": term}}
            for ip, node, ready, term in endpoints
        ],
    }


TWO = _slice("IPv4", ("203.0.113.17", "node1", True, False), ("203.0.113.33", "node2", True, False))


@pytest.mark.parametrize(
    ("service", "slices", "targets"),
    [
        pytest.param(
            _svc("198.51.100.1"),
            [TWO],
            (("203.0.113.17", 8080, False), ("203.0.113.33", 8080, True)),
            id="cluster-policy-uses-every-ready-endpoint-and-masquerades-remote-ones",
        ),
        pytest.param(
            _svc("198.51.100.1", local=True),
            [TWO],
            (("203.0.113.17", 8080, False),),
            id="local-policy-uses-only-this-nodes-endpoints-without-masquerade",
        ),
        pytest.param(
            _svc("198.51.100.1", local=True),
            [_slice("IPv4", ("203.0.113.33", "node2", True, False))],
            (),
            id="local-policy-without-local-endpoints-drops",
        ),
        pytest.param(
            _svc("198.51.100.1"),
            [_slice("IPv4", ("203.0.113.17", "node1", False, False), ("203.0.113.33", "node2", True, False))],
            (("203.0.113.33", 8080, True),),
            id="not-ready-endpoints-get-nothing",
        ),
        pytest.param(
            _svc("198.51.100.1"),
            [_slice("IPv4", ("203.0.113.17", "node1", False, True))],
            (("203.0.113.17", 8080, False),),
            id="serving-terminating-endpoints-are-the-fallback",
        ),
        pytest.param(
            _svc("2001:db8:100::1"),
            [TWO, _slice("IPv6", ("2001:db8:200::1:1", "node1", True, False))],
            (("2001:db8:200::1:1", 8080, False),),
            id="an-ipv6-address-goes-to-ipv6-endpoints",
        ),
    ],
)
def test_rules_choose_endpoints(
    service: dict[str, Any], slices: list[dict[str, Any]], targets: tuple[Any, ...]
) -> None:
    (rule,) = rules_for(service, slices, "node1")
    assert rule.targets == targets
    assert rule.port == 80 and rule.protocol == "tcp"


def test_services_that_are_not_load_balancers_get_no_rules() -> None:
    assert rules_for(_svc("198.51.100.1", kind="ClusterIP"), [TWO], "node1") == []
    assert rules_for(_svc(), [TWO], "node1") == []


def test_ruleset_matches_slices_to_their_service_by_label() -> None:
    other = _slice("IPv4", ("203.0.113.50", "node1", True, False))
    other["metadata"]["labels"]["kubernetes.io/service-name"] = "other"
    text = ruleset([_svc("198.51.100.1")], [TWO, other], "node1")
    assert "203.0.113.17:8080" in text and "203.0.113.33:8080" in text
    assert "203.0.113.50" not in text


def test_render_replaces_the_table_atomically_and_balances_with_numgen() -> None:
    text = render(
        [Rule("ns/web:http", "198.51.100.1", "tcp", 80, (("203.0.113.17", 80, False), ("203.0.113.33", 80, True)))]
    )
    lines = text.splitlines()
    assert lines[:3] == [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    assert "numgen random mod 2 vmap { 0 : jump svc_0_ep_0, 1 : jump svc_0_ep_1 }" in text
    assert "meta mark set meta mark | 0x4000; meta l4proto tcp dnat ip to 203.0.113.33:80" in text
    assert "ip daddr 198.51.100.1 tcp dport 80 jump svc_0" in text


@requires_netns
@pytest.mark.netns
@pytest.mark.lab
def test_nft_accepts_the_rendered_table_twice(topology: Any) -> None:
    topo = topology(nodes=1, router=False, client=False)
    rules = [
        Rule("ns/a:http", "198.51.100.1", "tcp", 80, (("203.0.113.17", 80, False), ("203.0.113.33", 80, True))),
        Rule("ns/b:http", "2001:db8:100::1", "tcp", 80, (("2001:db8:200::1:1", 80, False),)),
        Rule("ns/c:dns", "198.51.100.2", "udp", 53, ()),
    ]
    for _ in range(2):  # the second run replaces the first
        topo.run("node1", "nft", "-f", "-", input=render(rules))
    listed = topo.run("node1", "nft", "list", "table", "inet", TABLE).stdout
    assert "dnat ip6 to [2001:db8:200::1:1]:80" in listed
    assert "udp dport 53 drop" in listed
    topo.run("node1", "nft", "-f", "-", input=render([]))
    assert "dnat" not in topo.run("node1", "nft", "list", "table", "inet", TABLE).stdout
