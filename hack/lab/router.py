"""The lab's upstream router: BIRD 2 (default), FRR, or none, in the ``router`` namespace.

The router peers with every node's ironlb-speaker and installs what it learns into its kernel, so the ``outside``
host (behind the router, 203.0.113.130) reaches Service addresses only through BGP routes. As on most real
routers the nodes are *dynamic* neighbours: the router listens (passive) and accepts sessions from the LAN
ranges 192.0.2.0/24 and 2001:db8::/64 with the nodes' AS, so any node may peer without router changes. With
``peering="static"`` each node is a named neighbour instead (``node1``, ``node2`` in ``birdc show protocols``).
Routes from several nodes that tie form one ECMP route in the kernel (BIRD ``merge paths``; FRR
``maximum-paths``) - reference/lab-notes.md says what works here.

Configuration texts are pure functions (:func:`bird_config`, :func:`frr_config`); :class:`Router` starts the
daemons as tracked programs (foreground, so their PIDs are the lab's) and answers questions about the kernel's
routes (:meth:`Router.nexthops`) and the BGP sessions.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hack.lab.netns import Topology
from hack.lab.procs import Program, Supervisor

ROUTER_ASN = 64512
NODE_ASN = 64513
KINDS = ("bird", "frr", "none")
FRR_RUN = Path("/var/run/frr")


@dataclass(frozen=True)
class Neighbor:
    name: str
    ipv4: str
    ipv6: str | None


def bird_config(
    neighbors: Sequence[Neighbor],
    *,
    router_id: str = "192.0.2.1",
    router_asn: int = ROUTER_ASN,
    node_asn: int = NODE_ASN,
    peering: str = "dynamic",
    log: str | None = None,
    bfd: bool = False,
) -> str:
    """BIRD 2 configuration for the lab router (pure). With ``bfd`` every session also runs BFD on the LAN (100 ms
    intervals, as a fast profile would ask): a BFD session going down takes its BGP session down."""
    lines = []
    if log:
        lines.append(f'log "{log}" all;')
    lines += [
        f"router id {router_id};",
        "protocol device { scan time 10; }",
        "protocol kernel k4 { ipv4 { export where source = RTS_BGP; }; merge paths on; }",
        "protocol kernel k6 { ipv6 { export where source = RTS_BGP; }; merge paths on; }",
    ]
    if bfd:
        lines.append('protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; }; }')
    lines += [
        # eBGP needs explicit filters (RFC 8212); MP-BGP carries IPv6 over the IPv4 sessions too.
        "template bgp lab_node {",
        f"  local as {router_asn};",
        "  passive on;",
        "  connect delay time 1; connect retry time 1; error wait time 1, 10;",
        *(["  bfd on;"] if bfd else []),
        "  ipv4 { import all; export none; };",
        "  ipv6 { import all; export none; };",
        "}",
    ]
    if peering == "static":
        for n in neighbors:
            lines.append(f"protocol bgp {n.name} from lab_node {{ neighbor {n.ipv4} as {node_asn}; }}")
            if n.ipv6:
                lines.append(f"protocol bgp {n.name}_v6 from lab_node {{ neighbor {n.ipv6} as {node_asn}; }}")
    else:
        lines.append(f"protocol bgp nodes from lab_node {{ neighbor range 192.0.2.0/24 as {node_asn}; }}")
        lines.append(f"protocol bgp nodes6 from lab_node {{ neighbor range 2001:db8::/64 as {node_asn}; }}")
    return "\n".join(lines) + "\n"


def frr_config(
    neighbors: Sequence[Neighbor],
    *,
    router_id: str = "192.0.2.1",
    router_asn: int = ROUTER_ASN,
    node_asn: int = NODE_ASN,
    peering: str = "dynamic",
) -> str:
    """FRR bgpd configuration for the lab router (pure)."""
    lines = [
        "frr defaults traditional",
        "hostname lab-router",
        f"router bgp {router_asn}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " neighbor NODES peer-group",
        f" neighbor NODES remote-as {node_asn}",
        " neighbor NODES passive",
        " neighbor NODES timers connect 1",
    ]
    if peering == "static":
        for n in neighbors:
            lines.append(f" neighbor {n.ipv4} peer-group NODES")
            if n.ipv6:
                lines.append(f" neighbor {n.ipv6} peer-group NODES")
    else:
        lines.append(" bgp listen range 192.0.2.0/24 peer-group NODES")
        lines.append(" bgp listen range 2001:db8::/64 peer-group NODES")
    lines += [
        " address-family ipv4 unicast",
        "  neighbor NODES activate",
        "  maximum-paths 8",
        " exit-address-family",
        " address-family ipv6 unicast",
        "  neighbor NODES activate",
        "  maximum-paths 8",
        " exit-address-family",
        "line vty",
    ]
    return "\n".join(lines) + "\n"


def parse_nexthops(route_json: str) -> list[str]:
    """Next-hop addresses of the routes ``ip -j route show PREFIX`` printed (one, several, or none)."""
    try:
        routes = json.loads(route_json or "[]")
    except json.JSONDecodeError:
        return []
    out: list[str] = []
    for route in routes:
        if route.get("nexthops"):
            out += [str(nh["gateway"]) for nh in route["nexthops"] if nh.get("gateway")]
        elif route.get("gateway"):
            out.append(str(route["gateway"]))
    return sorted(out)


class Router:
    """The router daemon(s) of one lab."""

    def __init__(
        self,
        kind: str,
        topo: Topology,
        supervisor: Supervisor,
        workdir: Path,
        neighbors: Sequence[Neighbor],
        *,
        peering: str = "dynamic",
        bfd: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"router {kind!r} is not one of {', '.join(KINDS)}")
        if bfd and kind != "bird":
            raise ValueError(f"BFD on the lab router is available with BIRD only, not {kind!r}")
        self.kind = kind
        self.bfd = bfd
        self.topo = topo
        self.supervisor = supervisor
        self.dir = workdir / "router"
        self.neighbors = list(neighbors)
        self.peering = peering
        self.netns = topo.ns("router")
        self.frr_dir = FRR_RUN / self.netns

    @property
    def control_socket(self) -> Path:
        return self.dir / "bird.ctl"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.kind == "bird":
            conf = self.dir / "bird.conf"
            conf.write_text(
                bird_config(self.neighbors, peering=self.peering, log=str(self.dir / "bird.log"), bfd=self.bfd)
            )
            argv = ["bird", "-f", "-c", str(conf), "-s", str(self.control_socket), "-P", str(self.dir / "bird.pid")]
            self.supervisor.start(Program("router-bird", argv, self.netns, self.dir / "bird.out"))
        elif self.kind == "frr":
            self._start_frr()

    def _start_frr(self) -> None:
        self.frr_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.frr_dir, "frr", "frr")
        self.dir.chmod(0o755)
        self.dir.parent.chmod(0o755)
        conf = self.dir / "bgpd.conf"
        conf.write_text(frr_config(self.neighbors, peering=self.peering))
        conf.chmod(0o644)
        for log in ("zebra.log", "bgpd.log"):
            (self.dir / log).touch()
            shutil.chown(self.dir / log, "frr", "frr")
        common = ["-N", self.netns, "-u", "frr", "-g", "frr"]
        zebra = [
            "/usr/lib/frr/zebra",
            *common,
            "-f",
            "/dev/null",
            "-i",
            str(self.frr_dir / "zebra.pid"),
            "--log",
            f"file:{self.dir / 'zebra.log'}",
        ]
        self.supervisor.start(Program("router-zebra", zebra, self.netns, self.dir / "zebra.out"))
        bgpd = [
            "/usr/lib/frr/bgpd",
            *common,
            "-f",
            str(conf),
            "-i",
            str(self.frr_dir / "bgpd.pid"),
            "--log",
            f"file:{self.dir / 'bgpd.log'}",
        ]
        self.supervisor.start(Program("router-bgpd", bgpd, self.netns, self.dir / "bgpd.out"))

    def programs(self) -> list[str]:
        """The names of this router's programs in the lab's process table."""
        return {"bird": ["router-bird"], "frr": ["router-bgpd", "router-zebra"]}.get(self.kind, [])

    def stop(self) -> None:
        """Stop the daemon(s) (SIGTERM; the sessions drop) and clean up; :meth:`start` may follow."""
        for name in self.programs():
            if name in self.supervisor.programs:
                self.supervisor.stop(name, timeout=10)
        for leftover in ("bird.ctl", "bird.pid"):
            (self.dir / leftover).unlink(missing_ok=True)
        self.cleanup()

    def cleanup(self) -> None:
        """Remove what FRR keeps outside the lab directory (its per-namespace run directory)."""
        if self.kind == "frr":
            shutil.rmtree(self.frr_dir, ignore_errors=True)

    # -- questions ---------------------------------------------------------------------------------------------
    def nexthops(self, prefix: str) -> list[str]:
        """The next hops of the router's kernel route to ``prefix`` (several: ECMP)."""
        family = "-6" if ":" in prefix else "-4"
        done = self.topo.run("router", "ip", family, "-j", "route", "show", prefix, check=False)
        return parse_nexthops(done.stdout)

    def route_text(self, prefix: str) -> str:
        family = "-6" if ":" in prefix else "-4"
        return self.topo.run("router", "ip", family, "route", "show", prefix, check=False).stdout.strip()

    def birdc(self, *command: str) -> str:
        """What ``birdc`` answers to ``command`` (BIRD only; "" when it is not running)."""
        if self.kind != "bird":
            raise ValueError(f"birdc is for the BIRD router, not {self.kind!r}")
        return self.topo.run("router", "birdc", "-s", str(self.control_socket), *command, check=False).stdout

    def sessions(self) -> str:
        """The router's own view of its BGP sessions (for people and failure reports)."""
        if self.kind == "bird":
            return self.birdc("show", "protocols")
        if self.kind == "frr":
            done = self.topo.run("router", "vtysh", "-N", self.netns, "-c", "show bgp summary", check=False)
            return done.stdout
        return ""

    def established(self) -> int:
        """How many BGP sessions are up."""
        text = self.sessions()
        if self.kind == "bird":
            return sum(1 for line in text.splitlines() if "Established" in line)
        if self.kind == "frr":
            done = self.topo.run("router", "vtysh", "-N", self.netns, "-c", "show bgp summary json", check=False)
            try:
                data = json.loads(done.stdout or "{}")
            except json.JSONDecodeError:
                return 0
            peers: set[str] = set()
            for family in data.values():
                for addr, peer in (family.get("peers") or {}).items() if isinstance(family, dict) else []:
                    if peer.get("state") == "Established":
                        peers.add(addr)
            return len(peers)
        return 0


__all__ = ["KINDS", "NODE_ASN", "ROUTER_ASN", "Neighbor", "Router", "bird_config", "frr_config", "parse_nexthops"]
