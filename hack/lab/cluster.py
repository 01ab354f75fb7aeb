"""The lab: an emulated Kubernetes cluster with ironlb's real daemons, in network namespaces.

::

        outside 203.0.113.130 (+2001:db8:300::2)
           |
        router 192.0.2.1 (BIRD / FRR / none)     api 192.0.2.2: API emulator listener, ironlb-ccm x2,
           |                                                    control-plane stand-in
    ---- lan (bridge) -------------------------------------------------------------------------------
           |                 |                 |                     |
        node1 .11         node2 .12         node3 .13            client .100 (on-link routes to the VIP
        ironlb-speaker    ironlb-speaker    ironlb-speaker        ranges: ARP/NDP for VIPs, as on a LAN)
        node-agent        node-agent        node-agent
        (kubelet + kube-proxy stand-ins, whoami pods on lo: 203.0.113.16/28, .32/28, ...)

Everything runs as real processes: the API emulator (TLS, RBAC; kubectl and tests reach it on loopback, the
daemons on 192.0.2.2:6443 across the lab LAN), ``ironlb-ccm`` with two leader-elected replicas, one
``ironlb-speaker`` per node, one node-agent per node and one control-plane stand-in. ironlb is installed from
``manifests/base`` (:mod:`hack.lab.bootstrap`), and each daemon authenticates as its own ServiceAccount. The
kubelet stand-ins register tainted Nodes as ``--cloud-provider=external`` kubelets do, so nothing is scheduled
until ironlb-ccm's node controller has initialized them: ``up()`` waits for that, which proves the node
controller every time a lab starts.

``LabOptions.bare()`` (``stand_ins=False, ccm_replicas=0``) gives a *bare* lab for testing ironlb-speaker alone:
no ccm, no stand-in programs; the lab writes Ready Nodes itself and each node serves Service addresses with a
local backend that answers with the node's name, while the test writes Services and EndpointSlices
(:mod:`hack.lab.bare`, ``lab.bare``). ``second_lan=True`` adds a second Ethernet segment (``eth1`` of every node
and of the client).

Use it as a context manager (``with Lab(nodes=3) as lab:``), or ``up()``/``down()``. Every process is tracked
(:mod:`hack.lab.procs`) and dies with the lab: on ``down()``, at interpreter exit, on SIGTERM, on Ctrl-C; if the
owning process is killed outright, the kernel kills the children (PDEATHSIG) and the next lab sweeps the
namespaces (:func:`hack.lab.netns.sweep_stale`). Faults for tests: :meth:`Lab.kill_node`,
:meth:`Lab.stop_speaker`, :meth:`Lab.stop_router`, :meth:`Lab.api_down`, :meth:`Lab.kill_ccm`, and their inverses.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hack.lab import bare, bootstrap, neighbours
from hack.lab.bare import Bare
from hack.lab.kubeapi import KubeClient, wait_for
from hack.lab.netns import Topology, have_netns_privileges, sweep_stale
from hack.lab.probe import ProbeRun
from hack.lab.procs import Program, Supervisor, signals_deferred, tail
from hack.lab.router import Neighbor, Router
from hack.lab.standin import now_iso
from hack.manifests import NAMESPACE
from ironlb.api import names

REPO = Path(__file__).resolve().parents[2]
API_V4 = "192.0.2.2"
API_PORT = 6443
MAX_NODES = 7


def speaker_available() -> bool:
    """Whether ``ironlb-speaker`` can run here (its wiring modules exist)."""
    return all(importlib.util.find_spec(m) is not None for m in ("speaker.cli", "speaker.app"))


def _program(name: str, module: str) -> list[str]:
    """A console script of this environment, else ``python -m module``."""
    exe = Path(sys.executable).parent / name
    return [str(exe)] if exe.exists() else [sys.executable, "-m", module]


@dataclass(frozen=True)
class NodeInfo:
    name: str
    index: int
    netns: str
    ipv4: str
    ipv6: str
    mac: str
    pod_cidr4: str
    pod_cidr6: str


@dataclass
class LabOptions:
    nodes: int = 3
    router: str = "bird"
    peering: str = "dynamic"
    ccm_replicas: int = 2
    #: None: start speakers when ironlb-speaker exists here
    speakers: bool | None = None
    #: the control-plane stand-in's --node-monitor-grace-period
    node_monitor_grace: float = 40.0
    #: ironlb-ccm --leader-elect-lease-duration / renew-deadline / retry-period (manifest defaults: 15s 10s 2s)
    leader_election: tuple[str, str, str] = ("15s", "10s", "2s")
    log_level: str = "info"
    workdir: Path | None = None
    tag: str = ""
    #: False: a bare lab (hack/lab/bare.py) - no control-plane or node-agent stand-ins; Nodes written once by the lab,
    #: a local backend per node; use with ``ccm_replicas=0``, the test writes Services as the ccm would
    stand_ins: bool = True
    #: a second Ethernet segment: ``eth1`` of every node and of the client on bridge ``br1`` (no node addresses;
    #: the client's 203.0.113.200/32, as the source of its ARP requests there)
    second_lan: bool = False
    #: flags added to every ironlb-speaker's command line (after the manifest's and the lab's)
    speaker_args: tuple[str, ...] = ()
    #: objects applied once ironlb is installed, before its daemons start (a configuration they find at start-up)
    objects: tuple[dict[str, Any], ...] = ()

    @classmethod
    def bare(cls, **changes: Any) -> LabOptions:
        """A bare lab for ironlb-speaker alone (hack/lab/bare.py): no ccm, no stand-ins, no router, speakers on."""
        return cls(**{"router": "none", "ccm_replicas": 0, "stand_ins": False, "speakers": True, **changes})


class Lab:
    """One emulated cluster (see the module docstring)."""

    def __init__(self, options: LabOptions | None = None, **kwargs: Any) -> None:
        self.options = options or LabOptions(**kwargs)
        if not 1 <= self.options.nodes <= MAX_NODES:
            raise ValueError(f"nodes={self.options.nodes}: the lab has room for 1 to {MAX_NODES} nodes")
        self._own_workdir = self.options.workdir is None
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix="ironlb-lab-"))
        self.topo = Topology.standard(
            nodes=self.options.nodes, router=True, client=True, outside=True, api=True, tag=self.options.tag
        )
        self.supervisor: Supervisor | None = None
        self.router: Router | None = None
        self.kube: KubeClient | None = None
        self.install: bootstrap.Install | None = None
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.nodes: dict[str, NodeInfo] = {}
        #: the bare lab's writer (``stand_ins=False``), else None
        self.bare: Bare | None = None
        #: role -> MAC of its ``eth1`` (``second_lan=True``)
        self.lan2_macs: dict[str, str] = {}
        self.speakers = False
        self._daemon_pods: dict[str, tuple[dict[str, Any], list[str]]] = {}
        self._status_lock = threading.Lock()
        self._down = False
        self._api_url = ""

    # ------------------------------------------------------------------------------------------------ up
    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> Lab:
        if not have_netns_privileges():
            raise PermissionError("the lab needs root and iproute2 (network namespaces)")
        sweep_stale()
        atexit.register(self.down)
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.install = bootstrap.Install.load()
        self.supervisor = Supervisor()
        self.topo.up()
        self._network()
        if self.options.second_lan:
            self.lan2_macs = self.topo.add_lan([*self.nodes, "client"])
            # a source address for the client's ARP requests on eth1 (a /32: no route changes)
            self.topo.run("client", "ip", "addr", "add", "203.0.113.200/32", "dev", "eth1")
        self._start_apiserver()
        kube = self.kube
        assert kube is not None
        kube.apply_all(self.install.objects)
        wait_for(self._crds_served, timeout=30, what="the metallb.io CRDs to be served")
        kube.apply(bootstrap.memberlist_secret())
        kube.apply_all(self.options.objects)
        _, _, ca = bootstrap.read_kubeconfig(self.admin_kubeconfig)
        server = f"https://{API_V4}:{API_PORT}"
        self._agent_kubeconfig = bootstrap.write_kubeconfig(
            self.workdir / "stand-ins.kubeconfig", server, self._admin_token(), ca, user="ironlb-lab-stand-ins"
        )
        for component in ("ccm", "speaker"):
            sa = self.install.service_account(component)
            token = bootstrap.mint_token(kube, NAMESPACE, sa)
            bootstrap.write_kubeconfig(self.workdir / f"{component}.kubeconfig", server, token, ca, user=sa)
        if self.options.stand_ins:
            self._start_stand_ins()
            wait_for(
                lambda: len(kube.list("v1", "Node")) == len(self.nodes),
                timeout=60,
                what=f"{len(self.nodes)} Nodes to register",
                describe=self._logs_of("node-agent-node1"),
            )
        else:
            self._bare_nodes()
        for i in range(1, self.options.ccm_replicas + 1):
            self._start_ccm(i)
        if self.options.stand_ins and self.options.ccm_replicas:
            wait_for(
                self._nodes_initialized,
                timeout=60,
                what="ironlb-ccm to initialize every Node (providerID set, uninitialized taint removed)",
                describe=self._logs_of("ccm-1"),
            )
        want = self.options.speakers
        self.speakers = speaker_available() if want is None else want
        if self.speakers:
            for name in self.nodes:
                self._start_speaker(name)
        if self.options.router != "none":
            self.start_router(self.options.router)
        if self.speakers:
            for name in self.nodes:
                self.wait_speaker_ready(name)

    def _network(self) -> None:
        """Nodes: routes to each other's pod ranges and to the outside network (via the router)."""
        for index in range(1, self.options.nodes + 1):
            name = f"node{index}"
            host = self.topo.hosts[name]
            self.nodes[name] = NodeInfo(
                name,
                index,
                host.netns,
                f"192.0.2.{10 + index}",
                f"2001:db8::{10 + index}",
                host.mac,
                f"203.0.113.{16 * index}/28",
                f"2001:db8:200::{index:x}:0/112",
            )
        for node in self.nodes.values():
            for other in self.nodes.values():
                if other.name == node.name:
                    continue
                self.topo.run(node.netns, "ip", "route", "add", other.pod_cidr4, "via", other.ipv4)
                self.topo.run(node.netns, "ip", "-6", "route", "add", other.pod_cidr6, "via", other.ipv6)
            self.topo.run(node.netns, "ip", "route", "add", "203.0.113.128/25", "via", "192.0.2.1")
            self.topo.run(node.netns, "ip", "-6", "route", "add", "2001:db8:300::/64", "via", "2001:db8::1")

    def _start_apiserver(self) -> None:
        assert self.supervisor is not None
        with contextlib.suppress(FileNotFoundError):
            self.admin_kubeconfig.unlink()
        argv = [
            *_program("ironlb-lab", "hack.lab.cli"),
            "lab-apiserver",
            "--listen",
            "127.0.0.1:0",
            "--listen-netns",
            f"{self.topo.ns('api')}:{API_V4}:{API_PORT}",
            "--kubeconfig",
            str(self.admin_kubeconfig),
            "--workdir",
            str(self.workdir / "apiserver"),
            "--service-cidr",
            "10.96.0.0/16",
            "--service-cidr",
            "fd00:10:96::/112",
        ]
        self.supervisor.start(Program("apiserver", argv, None, self.workdir / "logs" / "apiserver.log", restart=False))
        wait_for(
            self.admin_kubeconfig.exists,
            timeout=60,
            what="the API emulator to start and write its kubeconfig",
            describe=self._logs_of("apiserver"),
        )
        self._api_url, _, _ = bootstrap.read_kubeconfig(self.admin_kubeconfig)
        self.kube = KubeClient(self.admin_kubeconfig)
        kube = self.kube
        wait_for(lambda: kube.call("GET", "/version"), timeout=30, what="the API emulator to answer /version")

    def _admin_token(self) -> str:
        return bootstrap.read_kubeconfig(self.admin_kubeconfig)[1]

    def _crds_served(self) -> bool:
        assert self.kube is not None
        for kind, (plural, version) in names.CONFIG_KINDS.items():
            del kind
            self.kube.call("GET", f"/apis/{names.GROUP}/{version}/{plural}")
        return True

    def _start_stand_ins(self) -> None:
        assert self.supervisor is not None
        cli = _program("ironlb-lab", "hack.lab.cli")
        logs = self.workdir / "logs"
        cp = [
            *cli,
            "control-plane",
            "--kubeconfig",
            str(self._agent_kubeconfig),
            "--node-monitor-grace-period",
            str(self.options.node_monitor_grace),
        ]
        self.supervisor.start(Program("control-plane", cp, self.topo.ns("api"), logs / "control-plane.log"))
        for node in self.nodes.values():
            argv = [
                *cli,
                "node-agent",
                "--node",
                node.name,
                "--kubeconfig",
                str(self._agent_kubeconfig),
                "--node-ip",
                node.ipv4,
                "--node-ip6",
                node.ipv6,
                "--pod-cidr",
                node.pod_cidr4,
                "--pod-cidr6",
                node.pod_cidr6,
            ]
            self.supervisor.start(
                Program(f"node-agent-{node.name}", argv, node.netns, logs / f"node-agent-{node.name}.log")
            )

    def _bare_nodes(self) -> None:
        """The bare lab's Nodes and local backends (hack/lab/bare.py), each backend answering before we go on."""
        assert self.kube is not None and self.supervisor is not None
        self.bare = Bare(self.kube, self.topo, self.nodes, self.workdir / "logs")
        for name in self.nodes:
            self.supervisor.start(self.bare.add_node(name, _program("ironlb-lab", "hack.lab.cli")))
        for name, node in self.nodes.items():
            url = f"http://{bare.backend_ips(node)[0]}/"
            wait_for(
                lambda n=name, u=url: self.hostname(n, u) == n,  # type: ignore[misc]
                timeout=30,
                what=f"{name}'s local backend to answer",
                describe=self._logs_of(f"backend-{name}"),
            )

    def _nodes_initialized(self) -> bool:
        assert self.kube is not None
        nodes = self.kube.list("v1", "Node")
        return len(nodes) == len(self.nodes) and all(
            (n.get("spec") or {}).get("providerID")
            and not any(t.get("key") == names.TAINT_UNINITIALIZED for t in (n.get("spec") or {}).get("taints") or [])
            for n in nodes
        )

    # ------------------------------------------------------------------------------------------------ daemons
    def _start_ccm(self, replica: int) -> None:
        assert self.supervisor is not None and self.install is not None
        pod_name = f"ironlb-ccm-lab-{replica}"
        lease, renew, retry = self.options.leader_election
        args = self.install.args("ccm")
        for flag, value in (
            ("--kubeconfig", str(self.workdir / "ccm.kubeconfig")),
            ("--secure-port", str(10257 + replica)),
            ("--bind-address", "127.0.0.1"),
            ("--log-format", "text"),
            ("--log-level", self.options.log_level),
            ("--leader-elect-lease-duration", lease),
            ("--leader-elect-renew-deadline", renew),
            ("--leader-elect-retry-period", retry),
        ):
            args = bootstrap.with_flag(args, flag, value)
        env = {"METALLB_NAMESPACE": NAMESPACE, "POD_NAME": pod_name}
        self._daemon_pod(pod_name, "ccm", None, [API_V4, "2001:db8::2"])
        program = Program(
            f"ccm-{replica}",
            [*_program("ironlb-ccm", "ccm.cli"), *args],
            self.topo.ns("api"),
            self.workdir / "logs" / f"ccm-{replica}.log",
            env=env,
            on_change=self._on_daemon_change(pod_name),
        )
        self.supervisor.start(program)

    def _speaker_argv(self, node: str, extra: tuple[str, ...] = ()) -> list[str]:
        assert self.install is not None
        args = self.install.args("speaker")
        for flag, value in (
            ("--kubeconfig", str(self.workdir / "speaker.kubeconfig")),
            ("--node-name", node),
            ("--status-address", self.status_address(node)),
            ("--log-format", "text"),
            ("--log-level", self.options.log_level),
        ):
            args = bootstrap.with_flag(args, flag, value)
        return [*_program("ironlb-speaker", "speaker.cli"), *args, *self.options.speaker_args, *extra]

    def _start_speaker(self, node: str) -> None:
        assert self.supervisor is not None
        info = self.nodes[node]
        pod_name = f"ironlb-speaker-{node}"
        env = {
            "METALLB_NODE_NAME": node,
            "METALLB_NAMESPACE": NAMESPACE,
            "METALLB_ML_BIND_ADDR": info.ipv4,
            "POD_NAME": pod_name,
        }
        self._daemon_pod(pod_name, "speaker", node, [info.ipv4, info.ipv6])
        program = Program(
            f"speaker-{node}",
            self._speaker_argv(node),
            info.netns,
            self.workdir / "logs" / f"speaker-{node}.log",
            env=env,
            on_change=self._on_daemon_change(pod_name),
        )
        self.supervisor.start(program)

    def _daemon_pod(self, name: str, component: str, node: str | None, ips: list[str]) -> None:
        assert self.kube is not None and self.install is not None
        pod = bootstrap.daemon_pod(
            name, component, self.install, node=node, description=f"ironlb-lab (pid {os.getpid()})"
        )
        self.kube.apply(pod)
        self._daemon_pods[name] = (pod, ips)

    def _on_daemon_change(self, pod_name: str) -> Any:
        def changed(program: Program, what: str) -> None:
            if self._down:
                return
            pod, ips = self._daemon_pods[pod_name]
            status = bootstrap.daemon_pod_status(
                pod, ips, ready=what == "started", restarts=program.restarts, started=now_iso()
            )
            threading.Thread(target=self._post_pod_status, args=(pod_name, status), daemon=True).start()

        return changed

    def _post_pod_status(self, pod_name: str, status: dict[str, Any]) -> None:
        with self._status_lock, contextlib.suppress(Exception):
            kube = KubeClient(self.admin_kubeconfig, timeout=3.0)
            kube.patch("v1", "Pod", pod_name, {"status": status}, NAMESPACE, subresource="status")

    def wait_speaker_ready(self, node: str, timeout: float = 60.0) -> None:
        wait_for(
            lambda: self.speaker_ready(node),
            timeout=timeout,
            what=f"ironlb-speaker on {node} to be ready (/readyz)",
            describe=self._logs_of(f"speaker-{node}"),
        )

    def speaker_ready(self, node: str) -> bool:
        done = self.topo.run(
            self.nodes[node].netns, "curl", "-sf", "-m", "1", "http://127.0.0.1:9120/readyz", check=False
        )
        return done.returncode == 0

    def status_address(self, node: str) -> str:
        """Where a node's speaker serves its gRPC status (``ironlbctl status --address``)."""
        return f"unix://{self.workdir}/speaker-{node}.sock"

    def ironlbctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*_program("ironlbctl", "ironlb.ctl.main"), *args], capture_output=True, text=True, timeout=20, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"ironlbctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def speaker_status(self, node: str) -> dict[str, Any]:
        """``ironlbctl status -o json`` of a node's speaker: what it announces, its sessions, members, counters."""
        result: dict[str, Any] = json.loads(
            self.ironlbctl("status", "--address", self.status_address(node), "-o", "json").stdout
        )
        return result

    # ------------------------------------------------------------------------------------------------ router
    def start_router(self, kind: str = "bird", *, bfd: bool = False) -> Router:
        """Start the upstream router (``up()`` does, unless ``router="none"``); ``bfd``: BIRD runs BFD too."""
        assert self.supervisor is not None
        neighbors = [Neighbor(n.name, n.ipv4, n.ipv6) for n in self.nodes.values()]
        self.router = Router(
            kind, self.topo, self.supervisor, self.workdir, neighbors, peering=self.options.peering, bfd=bfd
        )
        self.router.start()
        return self.router

    def stop_router(self) -> None:
        """Stop the router (its BGP sessions drop); :meth:`start_router` may start another."""
        if self.router is not None:
            self.router.stop()
            self.router = None

    # ------------------------------------------------------------------------------------------------ down
    def down(self) -> None:
        """Stop everything and remove every namespace (idempotent). A Ctrl-C or SIGTERM arriving meanwhile waits
        until the teardown is complete, so that an impatient second Ctrl-C cannot leave half a lab behind."""
        if self._down:
            return
        self._down = True
        with signals_deferred():
            self._teardown()

    def _teardown(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self.down)
        if self.supervisor is not None:
            order = [f"speaker-{n}" for n in self.nodes] + ["ccm-1", "ccm-2"]
            self.supervisor.close(order=order)
        if self.router is not None:
            self.router.cleanup()
        self.topo.down()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------------------------------------ using it
    def ns(self, role: str) -> str:
        return self.topo.ns(role)

    def run(
        self, role: str, *argv: str, check: bool = False, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on a lab host (``node1``, ``client``, ``router``, ``outside``, ``api``, ``lan``)."""
        return self.topo.run(role, *argv, check=check, timeout=timeout)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            "kubectl",
            "--kubeconfig",
            str(self.admin_kubeconfig),
            "--cache-dir",
            str(self.workdir / "kubectl"),
            *args,
        ]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def curl(self, role: str, url: str, *, timeout: float = 3.0) -> subprocess.CompletedProcess[str]:
        return self.topo.run(role, "curl", "-sS", "-m", str(timeout), "-g", url, check=False)

    def answer(self, role: str, url: str, *, timeout: float = 30.0) -> str:
        """Wait until ``url`` answers like whoami (``Hostname: ...``) from a lab host; returns the answer."""

        def check() -> str | None:
            done = self.curl(role, url)
            return done.stdout if done.returncode == 0 and done.stdout.startswith("Hostname:") else None

        return wait_for(check, timeout=timeout, what=f"an answer from {url} on {role}")

    def wait_ready(self, name: str, namespace: str, replicas: int, *, timeout: float = 60.0) -> None:
        """Wait until Deployment ``namespace/name`` has ``replicas`` ready Pods."""
        kube = self.kube
        assert kube is not None

        def check() -> bool:
            deployment = kube.get("apps/v1", "Deployment", name, namespace) or {}
            return bool((deployment.get("status") or {}).get("readyReplicas") == replicas)

        wait_for(check, timeout=timeout, what=f"Deployment {namespace}/{name} to have {replicas} ready replicas")

    def probe(
        self, role: str, url: str, *, duration: float = 600.0, interval: float = 0.02, timeout: float = 1.0
    ) -> ProbeRun:
        """Start a client probing ``url`` from a lab host (a new connection every ``interval``)."""
        argv = [
            "ip", "netns", "exec", self.ns(role), sys.executable, "-", "--url", url,
            "--interval", str(interval), "--timeout", str(timeout), "--duration", str(duration),
        ]  # fmt: skip
        return ProbeRun.start(argv)

    def hostname(self, role: str, url: str, *, timeout: float = 2.0) -> str | None:
        """One GET of ``url`` from a lab host: the ``Hostname:`` of the whoami answer, or None."""
        done = self.curl(role, url, timeout=timeout)
        lines = done.stdout.splitlines() if done.returncode == 0 else []
        return lines[0].removeprefix("Hostname: ") if lines and lines[0].startswith("Hostname: ") else None

    def l2_owner(self, vip: str) -> str | None:
        """The node whose MAC the client's neighbour table holds for ``vip`` (after traffic to it)."""
        return self.node_of_mac(neighbours.neighbour(self.topo, vip))

    def mac(self, node: str, interface: str = "eth0") -> str:
        """The MAC of a node's ``eth0``, or of its ``eth1`` on the second LAN."""
        return self.lan2_macs[node] if interface == "eth1" else self.nodes[node].mac

    def node_of_mac(self, mac: str | None) -> str | None:
        """The node owning ``mac`` (on either LAN), or None."""
        found = mac.lower() if mac else None
        return next((n for n in self.nodes if found in (self.nodes[n].mac, self.lan2_macs.get(n))), None)

    def logs(self, name: str, lines: int = 40) -> str:
        """The last lines of a program's log (``apiserver``, ``ccm-1``, ``speaker-node1``, ``node-agent-node2``)."""
        if self.supervisor is None or name not in self.supervisor.programs:
            return ""
        return tail(self.supervisor.programs[name].log, lines)

    def _logs_of(self, name: str) -> Any:
        return lambda: f"\n--- {name} log ---\n{self.logs(name)}"

    def programs(self) -> list[dict[str, Any]]:
        return self.supervisor.describe() if self.supervisor else []

    # ------------------------------------------------------------------------------------------------ faults
    def _sup(self) -> Supervisor:
        assert self.supervisor is not None, "the lab is not up"
        return self.supervisor

    def stop_speaker(self, node: str, sig: int = signal.SIGKILL, *, wait: bool = True) -> int | None:
        """Kill or stop a node's speaker; it stays down until :meth:`start_speaker`. With ``wait``, returns its exit
        status."""
        if wait:
            return self._sup().stop(f"speaker-{node}", sig=sig, timeout=15)
        self._sup().send(f"speaker-{node}", sig)
        return None

    def start_speaker(self, node: str, *extra: str) -> None:
        """Start a stopped speaker again, with the lab's flags plus ``extra`` (``--membership=false``)."""
        program = self._sup().programs[f"speaker-{node}"]
        argv = self._speaker_argv(node, extra)
        if list(program.argv) != argv:
            if program.running:
                raise RuntimeError(f"speaker-{node} is running; stop it before starting it with other flags")
            program.argv = argv
        self._sup().revive(program.name)

    def kill_node(self, node: str) -> float:
        """A hard node failure: the speaker SIGKILLed and the link cut silently. Returns the monotonic time."""
        moment = time.monotonic()
        if self.speakers:
            self._sup().send(f"speaker-{node}", signal.SIGKILL)
        self.topo.link_down(node)
        return moment

    def revive_node(self, node: str) -> None:
        self.topo.link_up(node)
        if self.speakers:
            program = self._sup().programs[f"speaker-{node}"]
            if program.popen is not None:
                program.popen.wait(10)
            self._sup().revive(program.name)

    def ccm_leader(self) -> str | None:
        """The program name (``ccm-1``) of the replica holding the Lease."""
        assert self.kube is not None
        lease = self.kube.get("coordination.k8s.io/v1", "Lease", "ironlb-ccm", NAMESPACE) or {}
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        for i in range(1, self.options.ccm_replicas + 1):
            if holder.startswith(f"ironlb-ccm-lab-{i}_"):
                return f"ccm-{i}"
        return None

    def kill_ccm(self, name: str, sig: int = signal.SIGKILL, *, hold: bool = False) -> None:
        """Signal a ccm replica; without ``hold`` it comes back after a second, as a restarted container."""
        self._sup().stop(name, sig=sig, timeout=15, hold=hold)

    def restart_ccms(self) -> None:
        """Restart every ccm replica (SIGTERM, then start again) - a rollout restart."""
        for i in range(1, self.options.ccm_replicas + 1):
            self._sup().stop(f"ccm-{i}", sig=signal.SIGTERM, timeout=15, hold=True)
        for i in range(1, self.options.ccm_replicas + 1):
            self._sup().revive(f"ccm-{i}")

    def api_down(self) -> None:
        """Take the API server away (listeners closed, connections dropped); objects are kept."""
        self._api_switch(signal.SIGUSR1, "down")

    def api_up(self) -> None:
        self._api_switch(signal.SIGUSR2, "up")

    def _api_switch(self, sig: int, state: str) -> None:
        self._sup().send("apiserver", sig, hold=True)
        marker = self.workdir / "apiserver" / "state"
        wait_for(lambda: marker.read_text().strip() == state, timeout=15, what=f"the API server to go {state}")

    # ------------------------------------------------------------------------------------------------ info
    def describe(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "run_id": self.topo.run_id,
            "workdir": str(self.workdir),
            "kubeconfig": str(self.admin_kubeconfig),
            "api": self._api_url,
            "router": self.options.router,
            "speakers": self.speakers,
            "hosts": {role: h.netns for role, h in self.topo.hosts.items()} | {"lan": self.topo.lan},
            "nodes": {
                n.name: {"ipv4": n.ipv4, "ipv6": n.ipv6, "mac": n.mac, "pods": n.pod_cidr4} for n in self.nodes.values()
            },
            "programs": self.programs(),
        }

    def namespaces(self) -> list[str]:
        return [*self.describe()["hosts"].values()]


@contextlib.contextmanager
def lab(**kwargs: Any) -> Iterator[Lab]:
    with Lab(**kwargs) as running:
        yield running


__all__ = ["API_V4", "Lab", "LabOptions", "NodeInfo", "ProbeRun", "lab", "speaker_available"]
