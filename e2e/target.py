"""Where the end-to-end suite runs: the lab (default) or a real cluster described by a YAML file.

Tests talk to a :class:`Target`: the Kubernetes API (:class:`hack.lab.kubeapi.KubeClient`), kubectl, commands on
two client hosts (``client`` on the nodes' LAN, ``outside`` behind the router), the router's kernel routes, the
address blocks the suite may put into pools, and - where it can - faults. :class:`LabTarget` drives
:class:`hack.lab.cluster.Lab`; :class:`ClusterTarget` drives a real cluster through ``kubectl`` and the command
prefixes the description gives (``ssh root@client`` ...). Faults a real cluster cannot offer on demand (cutting a
node's link, SIGKILLing one process, stopping the API server) raise ``pytest.skip`` there; e2e/README.md lists
them.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.lab import probe
from hack.lab.cluster import Lab, LabOptions
from hack.lab.kubeapi import JSON, KubeClient, wait_for
from hack.lab.probe import ProbeRun
from hack.lab.router import parse_nexthops
from ironlb.api import names

DESCRIPTION_ENV = "IRONLB_E2E_CLUSTER"
E2E_DIR = Path(__file__).resolve().parent
#: what the ``measure`` fixture gives a test: record one line for the summary at the end of the run
Measure = Callable[[str], None]
NAMESPACE = names.DEFAULT_NAMESPACE
SPEAKER_SELECTOR = "app.kubernetes.io/name=ironlb,app.kubernetes.io/component=speaker"


class Target:
    """What every test gets. Subclasses fill in the details."""

    kube: KubeClient
    is_lab = False
    #: first addresses of the blocks tests carve pools from (IPv4, IPv6)
    base4: ipaddress.IPv4Address
    base6: ipaddress.IPv6Address | None
    router_address = "192.0.2.1"
    router_asn = 64512
    node_asn = 64513

    # -- addresses ---------------------------------------------------------------------------------------------
    #: the block index the seed scenario uses on a real cluster (the lab uses the seed's own range)
    SEED_BLOCK = 20

    def block_start(self, index: int) -> ipaddress.IPv4Address:
        """The first address of the ``index``-th block of 8 (tests use distinct blocks, so pools never overlap)."""
        return self.base4 + index * 8

    def block4(self, index: int) -> str:
        """The ``index``-th block of 8 IPv4 addresses, as a pool range ``a-b``."""
        first = self.block_start(index)
        return f"{first}-{first + 7}"

    def addr4(self, index: int, offset: int = 0) -> str:
        return str(self.block_start(index) + offset)

    def block6(self, index: int) -> str:
        if self.base6 is None:
            pytest.skip("the cluster description gives no IPv6 addresses")
        first = self.base6 + index * 8
        return f"{first}-{first + 7}"

    # -- cluster -----------------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.kube.list("v1", "Node"))

    def node_ip(self, node: str) -> str:
        obj = self.kube.get("v1", "Node", node) or {}
        for addr in (obj.get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP" and ":" not in addr["address"]:
                return str(addr["address"])
        raise AssertionError(f"node {node} has no IPv4 InternalIP")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError

    # -- hosts -------------------------------------------------------------------------------------------------
    def on(self, host: str, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command on ``client`` or ``outside`` (or ``router``)."""
        raise NotImplementedError

    def http(self, host: str, url: str, *, timeout: float = 3.0) -> subprocess.CompletedProcess[str]:
        return self.on(host, "curl", "-sS", "-g", "-m", str(timeout), url, timeout=timeout + 10)

    def answer(self, host: str, url: str, *, timeout: float = 30.0) -> str:
        """Wait until ``url`` answers like whoami (``Hostname: ...``) on ``host``; returns the answer."""

        def check() -> str | None:
            done = self.http(host, url)
            return done.stdout if done.returncode == 0 and done.stdout.startswith("Hostname:") else None

        return wait_for(check, timeout=timeout, what=f"an answer from {url} on {host}")

    def wait_ready(self, name: str, namespace: str, replicas: int, *, timeout: float = 60.0) -> None:
        """Wait until Deployment ``namespace/name`` has ``replicas`` ready Pods."""

        def check() -> bool:
            deployment = self.kube.get("apps/v1", "Deployment", name, namespace) or {}
            return bool((deployment.get("status") or {}).get("readyReplicas") == replicas)

        wait_for(check, timeout=timeout, what=f"Deployment {namespace}/{name} to have {replicas} ready replicas")

    def probe(self, host: str, url: str, *, duration: float = 600.0) -> ProbeRun:
        raise NotImplementedError

    def nexthops(self, prefix: str) -> list[str]:
        family = "-6" if ":" in prefix else "-4"
        return parse_nexthops(self.on("router", "ip", family, "-j", "route", "show", prefix).stdout)

    def l2_owner(self, vip: str, namespace: str, service: str) -> str | None:
        """The node announcing ``vip`` (of Service ``namespace/service``) in L2, as the LAN sees it."""
        raise NotImplementedError

    # -- faults ------------------------------------------------------------------------------------------------
    def lab(self, why: str) -> Lab:
        pytest.skip(f"needs the lab: {why}")

    def stop_speaker_gracefully(self, node: str) -> None:
        raise NotImplementedError

    def start_speaker(self, node: str) -> None:
        raise NotImplementedError

    def restart_ccm(self) -> None:
        raise NotImplementedError

    def kill_ccm_leader(self) -> str:
        """Kill the replica holding the Lease without letting it hand over; returns its name."""
        raise NotImplementedError

    def ccm_leader(self) -> str | None:
        """The Lease holder's identity prefix (the Pod name), None while nobody holds it."""
        lease = self.kube.get("coordination.k8s.io/v1", "Lease", "ironlb-ccm", NAMESPACE) or {}
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        return holder.split("_", 1)[0] or None

    def heal(self) -> None:
        """Undo whatever faults a test left (between tests)."""


class LabTarget(Target):
    is_lab = True

    def __init__(self, lab: Lab) -> None:
        self._lab = lab
        assert lab.kube is not None
        self.kube = lab.kube
        self.base4 = ipaddress.IPv4Address("198.51.100.0")
        self.base6 = ipaddress.IPv6Address("2001:db8:100::100")

    def block_start(self, index: int) -> ipaddress.IPv4Address:
        # 198.51.100.8-.95 and .208-.255: around the seed's pool, 198.51.100.100-198.51.100.200.
        return self.base4 + (8 + 8 * index if index < 11 else 208 + 8 * (index - 11))

    @classmethod
    def start(cls) -> LabTarget:
        return cls(Lab(LabOptions(nodes=3, router="bird", tag="e2e")).up())

    def close(self) -> None:
        self._lab.down()

    def lab(self, why: str) -> Lab:
        del why
        return self._lab

    def node_ip(self, node: str) -> str:
        return self._lab.nodes[node].ipv4

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._lab.kubectl(*args, input=input, check=check)

    def on(self, host: str, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return self._lab.run(host, *argv, timeout=timeout)

    def probe(self, host: str, url: str, *, duration: float = 600.0) -> ProbeRun:
        return self._lab.probe(host, url, duration=duration)

    def l2_owner(self, vip: str, namespace: str, service: str) -> str | None:
        del namespace, service
        return self._lab.l2_owner(vip)

    def stop_speaker_gracefully(self, node: str) -> None:
        self._lab.stop_speaker(node, signal.SIGTERM)

    def start_speaker(self, node: str) -> None:
        self._lab.start_speaker(node)

    def restart_ccm(self) -> None:
        self._lab.restart_ccms()

    def kill_ccm_leader(self) -> str:
        program = wait_for(self._lab.ccm_leader, timeout=60, what="a ccm replica to hold the Lease")
        pod = self.ccm_leader()
        self._lab.kill_ccm(program, signal.SIGKILL, hold=True)
        return str(pod)

    def heal(self) -> None:
        lab = self._lab
        assert lab.supervisor is not None
        if (lab.workdir / "apiserver" / "state").read_text().strip() != "up":
            lab.api_up()
        for node in lab.nodes:
            lab.topo.link_up(node)
        for program in list(lab.supervisor.programs.values()):
            if program.held and program.name != "apiserver" and not program.running:
                lab.supervisor.revive(program.name)
        if lab.speakers:
            for node in lab.nodes:
                lab.wait_speaker_ready(node)


class ClusterTarget(Target):
    """A real cluster: ``$IRONLB_E2E_CLUSTER`` names a description file (e2e/README.md)."""

    def __init__(self, description: Path) -> None:
        data: dict[str, Any] = yaml.safe_load(description.read_text()) or {}
        kubeconfig = Path(str(data.get("kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config")).expanduser()
        self.kubeconfig = str(kubeconfig)
        self.kube = KubeClient(kubeconfig)
        addresses = data.get("addresses") or {}
        self.base4 = ipaddress.IPv4Network(addresses["ipv4"]).network_address
        self.base6 = ipaddress.IPv6Network(addresses["ipv6"]).network_address if addresses.get("ipv6") else None
        self.hosts: dict[str, list[str]] = {k: list(v) for k, v in (data.get("hosts") or {}).items()}
        router = data.get("router") or {}
        self.router_address = str(router.get("address", self.router_address))
        self.router_asn = int(router.get("asn", self.router_asn))
        self.node_asn = int(router.get("node_asn", self.node_asn))
        if router.get("exec"):
            self.hosts["router"] = list(router["exec"])
        self.node_macs: dict[str, str] = {k: v.lower() for k, v in (data.get("node_macs") or {}).items()}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", self.kubeconfig, *args]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def _prefix(self, host: str) -> list[str]:
        if host not in self.hosts:
            pytest.skip(f"the cluster description names no {host!r} host")
        return self.hosts[host]

    def on(self, host: str, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix(host), *argv], capture_output=True, text=True, timeout=timeout, check=False
        )

    def probe(self, host: str, url: str, *, duration: float = 600.0) -> ProbeRun:
        argv = [*self._prefix(host), "python3", "-", "--url", url, "--duration", str(duration)]
        return ProbeRun.start(argv)

    def l2_owner(self, vip: str, namespace: str, service: str) -> str | None:
        if self.node_macs:  # the client's neighbour entry, as in the lab
            family = "-6" if ":" in vip else "-4"
            words = self.on("client", "ip", family, "neigh", "show", vip).stdout.split()
            mac = words[words.index("lladdr") + 1].lower() if "lladdr" in words else None
            return next((node for node, m in self.node_macs.items() if m == mac), None)
        # Otherwise the announcing speaker's own report (ServiceL2Status), read the way MetalLB users read it.
        selector = f"{names.LABEL_STATUS_SERVICE_NAME}={service},{names.LABEL_STATUS_SERVICE_NAMESPACE}={namespace}"
        for status in self.kube.list("metallb.io/v1beta1", "ServiceL2Status", NAMESPACE, label_selector=selector):
            node = (status.get("status") or {}).get("node")
            if node:
                return str(node)
        return None

    def stop_speaker_gracefully(self, node: str) -> None:
        self.kubectl(
            "delete", "pod", "-n", NAMESPACE, "-l", SPEAKER_SELECTOR, "--field-selector", f"spec.nodeName={node}"
        )

    def start_speaker(self, node: str) -> None:
        # The DaemonSet recreates the pod; wait until it is Ready again.
        def ready() -> bool:
            pods = self.kube.list(
                "v1", "Pod", NAMESPACE, label_selector=SPEAKER_SELECTOR, field_selector=f"spec.nodeName={node}"
            )
            return any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for p in pods
                for c in (p.get("status") or {}).get("conditions") or []
            )

        wait_for(ready, timeout=120, what=f"the speaker pod on {node} to be Ready again")

    def restart_ccm(self) -> None:
        self.kubectl("rollout", "restart", "deployment/ironlb-ccm", "-n", NAMESPACE)
        self.kubectl("rollout", "status", "deployment/ironlb-ccm", "-n", NAMESPACE, "--timeout=180s")

    def kill_ccm_leader(self) -> str:
        pod = wait_for(self.ccm_leader, timeout=60, what="a ccm replica to hold the Lease")
        self.kubectl("delete", "pod", pod, "-n", NAMESPACE, "--grace-period=0", "--force")
        return pod


class Config:
    """metallb.io objects a test creates; deleted after it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.objects: list[JSON] = []

    def apply(self, *objects: JSON) -> None:
        for obj in objects:
            self.target.kube.apply(obj)
            if all(o["metadata"]["name"] != obj["metadata"]["name"] or o["kind"] != obj["kind"] for o in self.objects):
                self.objects.append(obj)

    def delete(self, obj: JSON) -> None:
        self.target.kube.delete_obj(obj)
        self.objects = [
            o for o in self.objects if (o["kind"], o["metadata"]["name"]) != (obj["kind"], obj["metadata"]["name"])
        ]

    def cleanup(self) -> None:
        for obj in reversed(self.objects):
            self.target.kube.delete_obj(obj)
        self.objects.clear()


def make_target() -> Target:
    description = os.environ.get(DESCRIPTION_ENV)
    if description:
        return ClusterTarget(Path(description))
    return LabTarget.start()


def outage_line(what: str, attempts: list[probe.Attempt], *, since: float | None = None) -> str:
    summary = probe.analyze(attempts, since=since)
    return f"{what}: {summary.line()}"


def settle(seconds: float) -> None:
    """Let traffic run for a while (a probe is counting): not a wait for a condition."""
    time.sleep(seconds)


__all__ = ["ClusterTarget", "Config", "LabTarget", "Measure", "Target", "make_target", "outage_line", "settle"]
