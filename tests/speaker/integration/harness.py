"""A small lab for the speaker: the API emulator in-process, real ``ironlb-speaker`` processes in node namespaces.

::

    api 192.0.2.2:6443  (ApiServerThread in this process, TLS + RBAC, listening inside the api namespace too)
    router 192.0.2.1    (BIRD when a test starts it: passive, dynamic neighbours 192.0.2.0/24, ECMP to the kernel)
    node1..3 .11-.13    ironlb-speaker (ServiceAccount ironlb-speaker, manifests/base RBAC), a "pod" address on lo
                        (203.0.113.1N, 2001:db8:200::1N) with an HTTP server answering its node name, and an
                        nftables DNAT VIP:80 -> pod:8080 (kube-proxy's job; reference/lab-notes.md)
    client .100         on-link routes to the VIP ranges: it ARPs/NSes for VIPs as on a LAN

The test writes what the ccm and kubelets would: Services *with* ``status.loadBalancer.ingress``, EndpointSlices,
Nodes (Ready, InternalIP) and the speaker Pods (``status.podIP``: membership seeds). Nothing here stands in for
ironlb code: the speakers are the real console script, each in its node's namespace, talking TLS to the emulator.
The HTTP servers and the client's probe (traffic.py) run in threads of this process, inside the namespaces
(``setns`` is per thread); kubeadmin.py is the test's admin client. ``hack/bench/bench_failover.py`` uses the
same lab.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hack.lab.apiserver import ApiServerThread, write_kubeconfig
from hack.lab.netns import HostSpec, Topology
from tests.speaker.integration.kubeadmin import Admin, manifest_objects, wait_for
from tests.speaker.integration.traffic import Attempt, PodHandler, Probe, ProbeSummary, Server6, summarize

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "metallb-system"
API_HOST = "192.0.2.2"
API_PORT = 6443
SPEAKER_LABELS = {"app.kubernetes.io/name": "ironlb", "app.kubernetes.io/component": "speaker"}
SPEAKER_BIN = Path(sys.executable).with_name("ironlb-speaker")
IRONLBCTL_BIN = Path(sys.executable).with_name("ironlbctl")


# ------------------------------------------------------------------------------------------------
# The lab
# ------------------------------------------------------------------------------------------------
class SpeakerLab:
    """See the module docstring. ``with SpeakerLab(workdir) as lab:`` builds it; leaving removes everything."""

    def __init__(self, workdir: Path, *, nodes: int = 3, second_lan: bool = False, log_level: str = "info") -> None:
        self.workdir = workdir
        self.node_names = tuple(f"node{i}" for i in range(1, nodes + 1))
        self.second_lan = second_lan
        self.log_level = log_level
        specs = [
            HostSpec("router", "192.0.2.1/24", "2001:db8::1/64", forwarding=True),
            HostSpec("api", f"{API_HOST}/24", "2001:db8::2/64"),
        ]
        specs += [
            HostSpec(n, f"192.0.2.{10 + i}/24", f"2001:db8::{10 + i}/64", forwarding=True)
            for i, n in enumerate(self.node_names, start=1)
        ]
        specs.append(
            HostSpec(
                "client",
                "192.0.2.100/24",
                "2001:db8::100/64",
                routes=(("198.51.100.0/24", "dev", "eth0"), ("2001:db8:100::/64", "dev", "eth0")),
            )
        )
        self.topo = Topology(specs, tag="spk")
        self.api: ApiServerThread | None = None
        self.admin: Admin | None = None
        self.speakers: dict[str, subprocess.Popen[Any]] = {}
        self._servers: list[http.server.HTTPServer] = []
        self._bird: subprocess.Popen[Any] | None = None

    # -- up / down ----------------------------------------------------------------------------------------------
    def __enter__(self) -> SpeakerLab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.topo.up()
        if self.second_lan:
            self._add_second_lan()
        (self.workdir / "api").mkdir(exist_ok=True)
        self.api = ApiServerThread(
            tls=True,
            rbac_enabled=True,
            workdir=self.workdir / "api",
            service_cidrs=("10.96.0.0/16", "fd00:10:96::/112"),
            netns_listeners=[(self.topo.ns("api"), API_HOST, API_PORT)],
        ).start()
        self.admin = Admin(self.api.kubeconfig)
        base = REPO / "manifests"
        crds = sorted((base / "crds").glob("metallb.io_*.yaml"))
        for obj in manifest_objects(*crds, base / "base/namespace.yaml", base / "base/serviceaccounts.yaml"):
            self.admin.create(obj)
        for obj in manifest_objects(base / "base/rbac-speaker.yaml"):
            self.admin.create(obj)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.admin.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "memberlist", "namespace": NAMESPACE},
                "stringData": {"secretkey": key},
            }
        )
        assert self.api.ca_path is not None
        token = self.api.mint_token(NAMESPACE, "ironlb-speaker")
        self.kubeconfig = write_kubeconfig(
            self.workdir / "speaker.kubeconfig", f"https://{API_HOST}:{API_PORT}", token, ca=self.api.ca_path
        )
        for index, node in enumerate(self.node_names, start=1):
            self._node(index, node)

    def down(self) -> None:
        for proc in list(self.speakers.values()):
            self.topo.stop(proc, sig=signal.SIGKILL, timeout=5)
        self.speakers.clear()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        if self.api is not None:
            self.api.stop()
            self.api = None
        self.topo.down()

    def _add_second_lan(self) -> None:
        """``br1`` in the lan namespace, with ``eth1`` of every node and of the client on it (the nodes' without an
        address; the client's with 203.0.113.200/32, as the sender of its ARP requests there)."""
        lan = self.topo.lan
        self.topo.run(lan, "ip", "link", "add", "br1", "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
        self.topo.run(lan, "ip", "link", "set", "br1", "up")
        for i, role in enumerate([*self.node_names, "client"], start=1):
            ns = self.topo.ns(role)
            peer = f"w-{role}"[:15]
            mac = f"02:00:00:01:00:{i:02x}"
            subprocess.run(
                ["ip", "link", "add", "eth1", "netns", ns, "address", mac, "type", "veth", "peer", "name", peer,
                 "netns", lan],
                check=True, capture_output=True,
            )  # fmt: skip
            self.topo.run(lan, "ip", "link", "set", peer, "master", "br1", "up")
            self.topo.run(ns, "ip", "link", "set", "eth1", "up")
        # a source address for the client's ARP requests on eth1 (a /32: no route changes)
        self.topo.run("client", "ip", "addr", "add", "203.0.113.200/32", "dev", "eth1")

    def _node(self, index: int, node: str) -> None:
        admin = self._admin()
        ipv4, ipv6 = f"192.0.2.{10 + index}", f"2001:db8::{10 + index}"
        admin.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "lab/index": str(index)}},
            }
        )
        self.set_node_ready(node, True)
        pod = f"ironlb-speaker-{node}"
        admin.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": NAMESPACE, "labels": dict(SPEAKER_LABELS)},
                "spec": {"nodeName": node, "hostNetwork": True, "containers": [{"name": "speaker", "image": "ironlb"}]},
            }
        )
        admin.patch(
            "v1",
            "pods",
            pod,
            {"status": {"phase": "Running", "podIP": ipv4, "podIPs": [{"ip": ipv4}, {"ip": ipv6}]}},
            NAMESPACE,
            status=True,
        )
        pod4, pod6 = self.pod_ips(node)
        self.topo.run(node, "ip", "addr", "add", f"{pod4}/32", "dev", "lo")
        self.topo.run(node, "ip", "-6", "addr", "add", f"{pod6}/128", "dev", "lo", "nodad")
        handler = type(f"Handler_{node}", (PodHandler,), {"node": node})
        with self.topo.entered(node):
            servers: list[http.server.HTTPServer] = [
                http.server.ThreadingHTTPServer((pod4, 8080), handler),
                Server6((pod6, 8080), handler),
            ]
        for server in servers:
            threading.Thread(target=server.serve_forever, name=f"http-{node}", daemon=True).start()
            self._servers.append(server)
        rules = f"""
table ip kubeproxy {{
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;
    ip daddr 198.51.100.0/24 tcp dport 80 dnat to {pod4}:8080; }}
  chain gate {{ type filter hook prerouting priority raw; policy accept; }}
}}
table ip6 kubeproxy6 {{
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;
    ip6 daddr 2001:db8:100::/64 tcp dport 80 dnat to [{pod6}]:8080; }}
  chain gate {{ type filter hook prerouting priority raw; policy accept; }}
}}
"""
        self.topo.run(node, "nft", "-f", "-", input=rules)

    # -- what the ccm and the kubelets would write --------------------------------------------------------------
    def service(
        self, name: str, vips: list[str], *, local: bool = False, ready_on: tuple[str, ...] = ("node1",)
    ) -> None:
        """A LoadBalancer Service with ``status.loadBalancer.ingress`` set, and one EndpointSlice per family whose
        endpoints (one per node in ``ready_on``, on that node's pod address) are ready."""
        admin = self._admin()
        families = ["IPv6" if ":" in vip else "IPv4" for vip in vips]
        spec: dict[str, Any] = {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "selector": {"app": name},
            "ipFamilies": families,
            "ipFamilyPolicy": "RequireDualStack" if len(families) > 1 else "SingleStack",
            "externalTrafficPolicy": "Local" if local else "Cluster",
        }
        admin.create(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}
        )
        ingress = {"loadBalancer": {"ingress": [{"ip": vip, "ipMode": "VIP"} for vip in vips]}}
        admin.patch("v1", "services", name, {"status": ingress}, "default", status=True)
        self.endpoints(name, ready_on)

    def endpoints(self, name: str, ready_on: tuple[str, ...]) -> None:
        """Replace the Service's EndpointSlices: one ready endpoint on each node of ``ready_on`` (none: one endpoint
        that is not ready)."""
        admin = self._admin()
        for family, index in (("IPv4", 0), ("IPv6", 1)):
            slice_name = f"{name}-{family.lower()}"
            admin.delete("discovery.k8s.io/v1", "endpointslices", slice_name, "default")
            admin.create(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name,
                        "namespace": "default",
                        "labels": {"kubernetes.io/service-name": name},
                    },
                    "addressType": family,
                    "endpoints": [
                        {"addresses": [self.pod_ips(node)[index]], "conditions": {"ready": ready}, "nodeName": node}
                        # no ready endpoint: one that is not ready (a pod that is not ready yet, or terminating)
                        for node, ready in ([(n, True) for n in ready_on] or [(self.node_names[0], False)])
                    ],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                }
            )

    def delete_service(self, name: str) -> None:
        admin = self._admin()
        admin.delete("v1", "services", name, "default")
        for family in ("ipv4", "ipv6"):
            admin.delete("discovery.k8s.io/v1", "endpointslices", f"{name}-{family}", "default")

    def status_objects(self, plural: str, service: str) -> list[dict[str, Any]]:
        """The ServiceL2Status / ServiceBGPStatus objects of a Service (``plural``: servicel2statuses, ...)."""
        return self._admin().list("metallb.io/v1beta1", plural, NAMESPACE, labels=f"metallb.io/service-name={service}")

    def status_nodes(self, plural: str, service: str) -> list[str]:
        """The nodes named by a Service's status objects that have their status written, sorted."""
        return sorted(
            str(o["status"]["node"])
            for o in self.status_objects(plural, service)
            if (o.get("status") or {}).get("node")
        )

    def events(self, service: str, reason: str) -> list[dict[str, Any]]:
        items = self._admin().list("v1", "events", "default")
        return [e for e in items if e["involvedObject"]["name"] == service and e["reason"] == reason]

    # -- helpers ------------------------------------------------------------------------------------------------
    def _admin(self) -> Admin:
        assert self.admin is not None, "the lab is not up"
        return self.admin

    @staticmethod
    def pod_ips(node: str) -> tuple[str, str]:
        index = int(node.removeprefix("node"))
        return f"203.0.113.{10 + index}", f"2001:db8:200::{10 + index}"

    def mac(self, node: str, interface: str = "eth0") -> str:
        if interface == "eth1":
            return f"02:00:00:01:00:{self.node_names.index(node) + 1:02x}"
        return self.topo.hosts[node].mac

    def node_of_mac(self, mac: str | None) -> str | None:
        """The node owning ``mac`` (on either LAN)."""
        for node in self.node_names:
            if mac and mac.lower() in (self.mac(node), self.mac(node, "eth1")):
                return node
        return None

    def set_node_ready(self, node: str, ready: bool) -> None:
        index = int(node.removeprefix("node"))
        status = {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Lab"}],
            "addresses": [{"type": "InternalIP", "address": f"192.0.2.{10 + index}"}],
        }
        self._admin().patch("v1", "nodes", node, {"status": status}, status=True)

    def block_traffic(self, node: str, blocked: bool) -> None:
        """Drop (or stop dropping) VIP traffic arriving at ``node``: its data path dies (or comes back)."""
        for family, table, match in (("ip", "kubeproxy", "ip daddr 198.51.100.0/24"),
                                     ("ip6", "kubeproxy6", "ip6 daddr 2001:db8:100::/64")):  # fmt: skip
            self.topo.run(node, "nft", "flush", "chain", family, table, "gate")
            if blocked:
                self.topo.run(node, "nft", "add", "rule", family, table, "gate", *match.split(), "drop")

    # -- speakers -----------------------------------------------------------------------------------------------
    def status_address(self, node: str) -> str:
        return f"unix://{self.workdir}/{node}.sock"

    def start_speaker(self, node: str, *extra: str) -> subprocess.Popen[Any]:
        index = int(node.removeprefix("node"))
        log = (self.workdir / f"speaker-{node}.log").open("a")
        log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n")
        log.flush()
        argv = [
            str(SPEAKER_BIN),
            f"--node-name={node}",
            f"--kubeconfig={self.kubeconfig}",
            f"--ml-bind-addr=192.0.2.{10 + index}",
            f"--status-address={self.status_address(node)}",
            "--bind-address=127.0.0.1",
            "--log-format=text",
            f"--log-level={self.log_level}",
            "--bgp-graceful-shutdown=0.5s",
            *extra,
        ]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "POD_NAME": f"ironlb-speaker-{node}"}
        proc = self.topo.popen(node, ["env", *(f"{k}={v}" for k, v in env.items()), *argv], stdout=log, stderr=log)
        self.speakers[node] = proc
        return proc

    def wait_ready(self, node: str, limit: float = 30.0) -> None:
        wait_for(lambda: self.ready(node), f"ironlb-speaker on {node} to be ready; log:\n{self.log(node)}", limit)

    def ready(self, node: str) -> bool:
        proc = self.speakers.get(node)
        if proc is None or proc.poll() is not None:
            raise AssertionError(f"ironlb-speaker on {node} is not running; log:\n{self.log(node)}")
        done = self.topo.run(node, "curl", "-sf", "-m", "1", "http://127.0.0.1:9120/readyz", check=False)
        return done.returncode == 0

    def stop_speaker(self, node: str, sig: int = signal.SIGTERM, *, wait: bool = True) -> int | None:
        proc = self.speakers[node]
        with contextlib.suppress(ProcessLookupError):
            # `ip netns exec` replaces itself with the program: the PID is the speaker's
            proc.send_signal(sig)
        if wait:
            return proc.wait(15)
        return None

    def log(self, node: str, tail: int = 4000) -> str:
        path = self.workdir / f"speaker-{node}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def status(self, node: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(IRONLBCTL_BIN), "status", "--address", self.status_address(node), "-o", "json"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"ironlbctl status failed: {done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    # -- the client's view --------------------------------------------------------------------------------------
    def arping(self, vip: str, interface: str = "eth0", wait: float = 1.0) -> str | None:
        """The MAC that answers ``vip`` (ARP) on the client's ``interface`` (``arping -c 1``), or None."""
        macs = self.arping_all(vip, interface, count=1, wait=wait)
        return macs[0] if macs else None

    def arping_all(self, vip: str, interface: str = "eth0", *, count: int = 3, wait: float = 1.0) -> list[str]:
        """Every MAC that answered ``count`` ARP requests for ``vip`` (one entry per reply)."""
        argv = ["arping", "-I", interface, "-c", str(count), "-W", "0.2", "-w", str(wait * count), vip]
        done = self.topo.run("client", *argv, check=False, timeout=10 + wait * count)
        return [m.lower() for m in re.findall(r"from ([0-9a-f]{2}(?::[0-9a-f]{2}){5})", done.stdout, re.IGNORECASE)]

    def ndisc(self, vip: str, interface: str = "eth0") -> str | None:
        """The link-layer address a Neighbor Solicitation for ``vip`` gets (``ndisc6 -n -r 2``), or None."""
        done = self.topo.run("client", "ndisc6", "-n", "-r", "2", vip, interface, check=False, timeout=10)
        found = re.search(r"Target link-layer address: ([0-9A-Fa-f:]+)", done.stdout)
        return found.group(1).lower() if found else None

    def neighbour(self, vip: str) -> str | None:
        """The MAC the client's neighbour table holds for ``vip``."""
        family = "-6" if ":" in vip else "-4"
        out = self.topo.run("client", "ip", family, "neigh", "show", vip, check=False).stdout.split()
        return out[out.index("lladdr") + 1].lower() if "lladdr" in out else None

    def flush_neighbours(self) -> None:
        self.topo.run("client", "ip", "neigh", "flush", "all", check=False)

    def http(self, vip: str, timeout: float = 2.0) -> str | None:
        """One HTTP GET through the VIP from the client: the answering node's name, or None."""
        url = f"http://[{vip}]/" if ":" in vip else f"http://{vip}/"
        done = self.topo.run("client", "curl", "-sS", "-m", str(timeout), "-g", url, check=False, timeout=timeout + 5)
        return done.stdout.strip() if done.returncode == 0 else None

    def probe(self, vip: str, **kwargs: Any) -> Probe:
        return Probe(self.topo, vip, **kwargs).start()

    # -- BIRD ---------------------------------------------------------------------------------------------------
    def start_bird(self, *, bfd: bool = False) -> Path:
        """BIRD in the router namespace: passive, any node of the LAN as AS 64513, ECMP into the kernel."""
        directory = self.workdir / "bird"
        directory.mkdir(exist_ok=True)
        bfd_block = (
            'protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; }; }' if bfd else ""
        )
        config = f"""
log "{directory}/bird.log" all;
router id 192.0.2.1;
protocol device {{ }}
protocol kernel k4 {{ ipv4 {{ export where source = RTS_BGP; }}; merge paths on; }}
protocol kernel k6 {{ ipv6 {{ export where source = RTS_BGP; }}; merge paths on; }}
{bfd_block}
protocol bgp nodes {{
  local as 64512; passive on; neighbor range 192.0.2.0/24 as 64513;
  hold time 9; keepalive time 3; error wait time 1, 5; {"bfd on;" if bfd else ""}
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"""
        (directory / "bird.conf").write_text(config)
        ctl = directory / "bird.ctl"
        self._bird = self.topo.popen(
            "router",
            ["bird", "-f", "-c", str(directory / "bird.conf"), "-s", str(ctl), "-P", str(directory / "bird.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(ctl.exists, "BIRD's control socket", 10)
        return ctl

    def stop_bird(self) -> None:
        if self._bird is not None:
            self.topo.stop(self._bird)
            self._bird = None
            for leftover in ("bird.ctl", "bird.pid"):
                (self.workdir / "bird" / leftover).unlink(missing_ok=True)

    def birdc(self, *args: str) -> str:
        ctl = self.workdir / "bird" / "bird.ctl"
        done = subprocess.run(["birdc", "-s", str(ctl), *args], capture_output=True, text=True, timeout=10, check=False)
        return done.stdout

    def next_hops(self, prefix: str) -> list[str]:
        """Gateways of ``prefix`` in the router's kernel table (two: ECMP)."""
        family = "-6" if ":" in prefix else "-4"
        out = self.topo.run("router", "ip", "-j", family, "route", "show", prefix, check=False).stdout
        hops: list[str] = []
        for route in json.loads(out or "[]"):
            if "nexthops" in route:
                hops += [h.get("gateway", "") for h in route["nexthops"]]
            elif "gateway" in route:
                hops.append(route["gateway"])
        return sorted(hops)


@contextlib.contextmanager
def lab(workdir: Path, **kwargs: Any) -> Iterator[SpeakerLab]:
    with SpeakerLab(workdir, **kwargs) as running:
        yield running


def available() -> str | None:
    """Why the lab cannot run here, or None."""
    from hack.lab.netns import have_netns_privileges

    if not have_netns_privileges():
        return "needs root and iproute2 (network namespaces)"
    missing = [p for p in ("nft", "arping", "ndisc6", "curl", "openssl") if shutil.which(p) is None]
    if missing:
        return "missing programs: " + ", ".join(missing)
    if not SPEAKER_BIN.exists():
        return f"{SPEAKER_BIN} is not installed (pip install -e .)"
    return None


__all__ = [
    "NAMESPACE",
    "Admin",
    "Attempt",
    "Probe",
    "ProbeSummary",
    "SpeakerLab",
    "available",
    "lab",
    "manifest_objects",
    "summarize",
    "wait_for",
]
