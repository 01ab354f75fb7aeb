"""The kubelet stand-in's pure parts: the Node it registers, pod addresses, pod status; and the router configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hack.lab.bootstrap import Install, with_flag
from hack.lab.kubelet import AddressPool, NodeSpec, container_ports, node_object, node_status, pod_status
from hack.lab.router import Neighbor, bird_config, frr_config, parse_nexthops
from ironlb.api import names

SPEC = NodeSpec("node1", "192.0.2.11", "2001:db8::11", "203.0.113.16/28", "2001:db8:200::1:0/112")


def test_node_is_registered_as_an_external_cloud_provider_kubelet_would() -> None:
    node = node_object(SPEC)
    assert node["spec"]["taints"] == [{"key": names.TAINT_UNINITIALIZED, "value": "true", "effect": "NoSchedule"}]
    assert node["metadata"]["annotations"][names.ANN_PROVIDED_NODE_IP] == "192.0.2.11,2001:db8::11"
    assert node["spec"]["podCIDRs"] == ["203.0.113.16/28", "2001:db8:200::1:0/112"]
    assert "providerID" not in node["spec"]  # the ccm sets it


def test_heartbeats_keep_transition_times_and_say_ready() -> None:
    transitions: dict[str, str] = {}
    first = node_status(SPEC, "2024-01-01T00:00:00Z", transitions)
    later = node_status(SPEC, "2024-01-01T00:00:10Z", transitions)
    ready = next(c for c in later["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastHeartbeatTime"] == "2024-01-01T00:00:10Z"
    assert ready["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert first["addresses"] == [{"type": "Hostname", "address": "node1"}]


def test_pod_addresses_are_lowest_free_first_sticky_and_returned() -> None:
    pool = AddressPool(SPEC.pod_cidr4, SPEC.pod_cidr6)
    assert pool.take("a") == ["203.0.113.17", "2001:db8:200::1:1"]
    assert pool.take("b") == ["203.0.113.18", "2001:db8:200::1:2"]
    assert pool.take("a") == ["203.0.113.17", "2001:db8:200::1:1"]
    pool.give_back("a")
    assert pool.take("c") == ["203.0.113.17", "2001:db8:200::1:1"]
    assert pool.take("d", ["203.0.113.30", "2001:db8:200::1:e"]) == ["203.0.113.30", "2001:db8:200::1:e"]


def test_a_full_node_refuses_another_pod() -> None:
    pool = AddressPool("203.0.113.16/30", None)
    pool.take("a")
    pool.take("b")
    with pytest.raises(RuntimeError, match="no free pod address"):
        pool.take("c")


def test_pod_status_and_ports() -> None:
    container: dict[str, Any] = {"name": "c", "image": "containous/whoami"}
    pod: dict[str, Any] = {"metadata": {"uid": "u"}, "spec": {"containers": [container]}}
    status = pod_status(pod, SPEC, ["203.0.113.17", "2001:db8:200::1:1"], "t", ready=True)
    assert status["podIP"] == "203.0.113.17" and status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert container_ports(pod) == [80]
    container["ports"] = [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]
    assert container_ports(pod) == [8080]


NEIGHBORS = [Neighbor("node1", "192.0.2.11", "2001:db8::11"), Neighbor("node2", "192.0.2.12", None)]


def test_bird_config_dynamic_and_static() -> None:
    dynamic = bird_config(NEIGHBORS)
    assert "neighbor range 192.0.2.0/24 as 64513;" in dynamic and "merge paths on" in dynamic
    static = bird_config(NEIGHBORS, peering="static")
    assert "protocol bgp node1 from lab_node { neighbor 192.0.2.11 as 64513; }" in static
    assert "protocol bgp node1_v6 from lab_node { neighbor 2001:db8::11 as 64513; }" in static
    assert "node2_v6" not in static


def test_bird_config_with_bfd_runs_it_on_every_session() -> None:
    text = bird_config(NEIGHBORS, bfd=True)
    assert 'protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; }; }' in text
    assert "  bfd on;" in text.split("template bgp lab_node {")[1].split("}")[0]
    assert "bfd" not in bird_config(NEIGHBORS)


@pytest.mark.lab
@pytest.mark.skipif(shutil.which("bird") is None, reason="needs bird")
@pytest.mark.parametrize("bfd", [pytest.param(False, id="no-bfd"), pytest.param(True, id="bfd")])
@pytest.mark.parametrize("peering", ["dynamic", "static"])
def test_bird_parses_the_config(tmp_path: Path, peering: str, bfd: bool) -> None:
    import subprocess

    conf = tmp_path / "bird.conf"
    conf.write_text(bird_config(NEIGHBORS, peering=peering, bfd=bfd))
    done = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_frr_config_listens_for_the_nodes() -> None:
    text = frr_config(NEIGHBORS)
    assert " bgp listen range 192.0.2.0/24 peer-group NODES" in text
    assert text.count("maximum-paths 8") == 2
    assert " neighbor 192.0.2.12 peer-group NODES" in frr_config(NEIGHBORS, peering="static")


@pytest.mark.parametrize(
    ("routes", "hops"),
    [
        pytest.param([], [], id="no-route"),
        pytest.param([{"dst": "198.51.100.1", "gateway": "192.0.2.11"}], ["192.0.2.11"], id="one-next-hop"),
        pytest.param(
            [{"dst": "198.51.100.1", "nexthops": [{"gateway": "192.0.2.12"}, {"gateway": "192.0.2.11"}]}],
            ["192.0.2.11", "192.0.2.12"],
            id="ecmp",
        ),
    ],
)
def test_parse_nexthops(routes: list[dict[str, object]], hops: list[str]) -> None:
    assert parse_nexthops(json.dumps(routes)) == hops
    assert parse_nexthops("not json") == []


def test_install_comes_from_manifests_base() -> None:
    install = Install.load()
    kinds = {o["kind"] for o in install.objects}
    assert {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "RoleBinding"} <= kinds
    assert not kinds & {"Deployment", "DaemonSet", "PodDisruptionBudget"}
    assert install.service_account("speaker") == "ironlb-speaker"
    assert "--cloud-provider=ironlb" in install.args("ccm")
    assert install.labels("speaker")["app.kubernetes.io/component"] == "speaker"


def test_with_flag_replaces_both_spellings() -> None:
    assert with_flag(["--a=1", "--b", "2", "--c=3"], "--b", "9") == ["--a=1", "--c=3", "--b=9"]
    assert with_flag(["--a=1"], "--a", "2") == ["--a=2"]
