"""The lab itself, in network namespaces: stand-ins without a speaker, teardown when interrupted or killed, the CLI.

These start real labs (about 3 s each with one or two nodes and no router), so they are few.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hack.lab import standin
from hack.lab.cluster import Lab, LabOptions, speaker_available
from hack.lab.kubeapi import wait_for
from hack.lab.kubeproxy import TABLE
from hack.lab.netns import list_ours, sweep_stale
from tests.conftest import requires_netns

pytestmark = [requires_netns, pytest.mark.netns, pytest.mark.lab, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lab-test", "namespace": "metallb-system"},
    "spec": {"addresses": ["198.51.100.240/29"]},
}


def _whoami() -> list[dict[str, Any]]:
    labels = {"app": "web"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "w", "image": "containous/whoami", "ports": [{"containerPort": 80}]}]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"name": "http", "port": 80}]},
        },
    ]


def test_stand_ins_run_pods_fill_slices_and_dnat_a_hand_placed_address() -> None:
    with Lab(LabOptions(nodes=2, router="none", speakers=False, tag="t")) as lab:
        kube = lab.kube
        assert kube is not None
        # up() waited for ironlb-ccm to initialize both Nodes: providerID set, taint gone.
        assert {n["spec"]["providerID"] for n in kube.list("v1", "Node")} == {"ironlb://node1", "ironlb://node2"}
        kube.apply(POOL)
        kube.apply_all(_whoami())
        (vip,) = kube.wait_ingress("web", "default")
        lab.wait_ready("web", "default", 2)
        pods = kube.list("v1", "Pod", "default", label_selector="app=web")
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node1", "node2"]
        pod_ip = {p["spec"]["nodeName"]: p["status"]["podIP"] for p in pods}
        # A pod answers on its own address, from another node (routes between the nodes' pod ranges).
        assert "Hostname: web-" in lab.answer("node2", f"http://{pod_ip['node1']}/")
        (eps,) = kube.list(
            "discovery.k8s.io/v1", "EndpointSlice", "default", label_selector="kubernetes.io/service-name=web"
        )
        assert sorted(e["nodeName"] for e in eps["endpoints"]) == ["node1", "node2"]
        assert all(e["conditions"]["ready"] for e in eps["endpoints"])
        # No speaker: put the address on node1 by hand; the kube-proxy stand-in's DNAT does the rest.
        wait_for(
            lambda: vip in lab.run("node1", "nft", "list", "table", "inet", TABLE).stdout,
            timeout=30,
            what="the kube-proxy stand-in to program the address",
        )
        lab.run("node1", "ip", "addr", "add", f"{vip}/32", "dev", "lo", check=True)
        hostnames = {lab.answer("client", f"http://{vip}/").splitlines()[0] for _ in range(12)}
        assert hostnames == {f"Hostname: {p['metadata']['name']}" for p in pods}, hostnames
        shown = lab.kubectl("get", "pods", "-n", "metallb-system").stdout
        assert "ironlb-ccm-lab-1" in shown and "Running" in shown
        namespaces = lab.namespaces()
    assert not set(namespaces) & set(list_ours())


def test_a_bare_lab_has_ready_nodes_local_backends_and_a_second_lan_but_no_ccm_or_stand_ins() -> None:
    options = LabOptions.bare(nodes=2, speakers=False, second_lan=True, tag="t")
    with Lab(options) as lab:
        kube, bare = lab.kube, lab.bare
        assert kube is not None and bare is not None and lab.supervisor is not None
        assert not [n for n in lab.supervisor.programs if n.startswith(("ccm-", "node-agent-", "control-plane"))]
        nodes = {n["metadata"]["name"]: n for n in kube.list("v1", "Node")}
        assert set(nodes) == {"node1", "node2"}
        assert all(not n["spec"].get("taints") and standin.is_true(n, "Ready") for n in nodes.values())
        bare.set_node_ready("node2", False)
        assert not standin.is_true(kube.get("v1", "Node", "node2") or {}, "Ready")
        # a Service address placed on node2 by hand is answered by node2's local backend, until it is blocked
        vip = "198.51.100.250"
        lab.run("node2", "ip", "addr", "add", f"{vip}/32", "dev", "lo", check=True)
        assert lab.hostname("client", f"http://{vip}/") == "node2"
        bare.block_traffic("node2", True)
        assert lab.hostname("client", f"http://{vip}/", timeout=1.0) is None
        bare.block_traffic("node2", False)
        assert lab.hostname("client", f"http://{vip}/") == "node2"
        # the second LAN: eth1 on every node and the client, with MACs of its own
        assert set(lab.lan2_macs) == {"node1", "node2", "client"}
        assert lab.node_of_mac(lab.mac("node1", "eth1")) == "node1" and lab.node_of_mac(lab.mac("node2")) == "node2"
        assert "state UP" in lab.run("node1", "ip", "link", "show", "eth1").stdout
        namespaces = lab.namespaces()
    assert not set(namespaces) & set(list_ours())


@pytest.mark.skipif(not speaker_available(), reason="needs ironlb-speaker")
def test_frr_as_the_router_installs_ecmp_routes_from_the_speakers() -> None:
    bgp = [
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", "namespace": "metallb-system"},
            "spec": {"peerAddress": "192.0.2.1", "peerASN": 64512, "myASN": 64513},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "all", "namespace": "metallb-system"},
            "spec": {},
        },
    ]
    with Lab(LabOptions(nodes=2, router="frr", tag="t")) as lab:
        kube = lab.kube
        router = lab.router
        assert kube is not None and router is not None
        kube.apply_all([POOL, *bgp, *_whoami()])
        (vip,) = kube.wait_ingress("web", "default")
        hops = wait_for(
            lambda: sorted(found) if len(found := router.nexthops(vip)) == 2 else None,
            timeout=60,
            what="FRR to install an ECMP route from both nodes",
        )
        assert hops == ["192.0.2.11", "192.0.2.12"]
        assert router.established() >= 2
        assert "Hostname: web-" in lab.answer("outside", f"http://{vip}/")
        frr_dir = router.frr_dir
    assert not frr_dir.exists()


def _start_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    argv = [sys.executable, "-m", "hack.lab.cli", "run", "--state-dir", str(tmp_path), "--nodes", "1"]
    argv += ["--router", "none", "--no-speakers"]
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    state_file = tmp_path / "state.json"
    wait_for(
        lambda: state_file.exists() or proc.poll() is not None,
        timeout=120,
        what="the lab to come up",
    )
    assert proc.poll() is None, (tmp_path / "run.log").read_text()
    state: dict[str, Any] = json.loads(state_file.read_text())
    return proc, state


def _pids(state: dict[str, Any]) -> list[int]:
    return [int(p["pid"]) for p in state["programs"] if p["pid"]]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0


def test_an_interrupted_lab_leaves_nothing_behind(tmp_path: Path) -> None:
    proc, state = _start_run(tmp_path)
    pids = _pids(state)
    assert len(pids) >= 4  # apiserver, control-plane, node-agent, ccm x2
    assert any(n.startswith(state["run_id"] + "-") for n in list_ours())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert not [n for n in list_ours() if n.startswith(state["run_id"] + "-")]
    assert all(_gone(pid) for pid in pids), [p for p in pids if not _gone(p)]
    assert not (tmp_path / "state.json").exists()


def test_a_killed_lab_takes_its_processes_along_and_is_swept_next_time(tmp_path: Path) -> None:
    proc, state = _start_run(tmp_path)
    pids = _pids(state)
    proc.kill()
    proc.wait(10)
    wait_for(lambda: all(_gone(pid) for pid in pids), timeout=10, what="every lab process to die with its owner")
    left = [n for n in list_ours() if n.startswith(state["run_id"] + "-")]
    assert left, "the namespaces outlive a SIGKILLed owner until the next sweep"
    removed = sweep_stale()
    assert set(left) <= set(removed)
    assert not [n for n in list_ours() if n.startswith(state["run_id"] + "-")]


def test_cli_up_exec_kubectl_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "IRONLB_LAB_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "hack.lab.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False
        )

    up = run("up", "--nodes", "1", "--router", "none", "--no-speakers")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "ironlb-lab kubectl get nodes,pods -A" in up.stdout
        assert "192.0.2.11/24" in run("exec", "node1", "ip", "-br", "addr").stdout
        assert "node1" in run("kubectl", "get", "nodes").stdout
        status = run("status")
        assert "node-agent-node1" in status.stdout and "running" in status.stdout
        assert run("up").returncode == 1  # one lab at a time
        state = json.loads((tmp_path / "state.json").read_text())
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "state.json").exists()
    assert not [n for n in list_ours() if n.startswith(state["run_id"] + "-")]
    assert run("status").returncode != 0
