"""Processes for the BGP interop tests: BIRD, FRR and our speaker, each inside a namespace of a Topology.

Every process is started with ``topo.popen`` (tracked, killed by PID when the topology goes down); BIRD and FRR
run in the foreground for that reason. Each BIRD has its own control socket and each FRR its own ``-N`` name
(the namespace's), as reference/lab-notes.md prescribes. The speaker is ``python -m speaker.bgp.standalone``,
driven by JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hack.lab.netns import Topology

BIRD = shutil.which("bird")
BIRDC = shutil.which("birdc")
FRR_DIR = Path("/usr/lib/frr")
VTYSH = shutil.which("vtysh")
HAVE_FRR = (FRR_DIR / "bgpd").exists() and (FRR_DIR / "zebra").exists() and VTYSH is not None
requires_bird = pytest.mark.skipif(BIRD is None or BIRDC is None, reason="needs BIRD 2 (apt install bird2)")
requires_frr = pytest.mark.skipif(not HAVE_FRR, reason="needs FRR (apt install frr)")

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, limit: float = 20.0, every: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(every)


def workdir(prefix: str) -> Path:
    """A directory FRR (user frr) can write to; removed by the caller's fixture."""
    path = Path(tempfile.mkdtemp(prefix=f"ilb-bgp-{prefix}-"))
    path.chmod(0o755)
    return path


# ------------------------------------------------------------------------------------------------
# Our speaker
# ------------------------------------------------------------------------------------------------
class Speaker:
    """``python -m speaker.bgp.standalone`` in a node namespace."""

    def __init__(self, topo: Topology, role: str, logdir: Path, *, shutdown_wait: float = 0.5) -> None:
        self.role = role
        self.log_path = logdir / f"speaker-{role}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.proc = topo.popen(
            role,
            [
                sys.executable,
                "-m",
                "speaker.bgp.standalone",
                "--node",
                role,
                "--log-level",
                "DEBUG",
                "--shutdown-wait",
                str(shutdown_wait),
                "--connect-retry",
                "0.2",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_event(lambda e: e["event"] == "ready", "the speaker to start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self._queue.put(json.loads(line))

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def peers(self, *peers: dict[str, Any]) -> None:
        self.send(op="peers", peers=list(peers))

    def routes(self, by_peer: dict[str, list[dict[str, Any]]]) -> None:
        self.send(op="routes", routes=by_peer)

    def wait_event(self, match: Callable[[dict[str, Any]], bool], what: str, limit: float = 20.0) -> dict[str, Any]:
        for event in self.events:
            if match(event):
                return event
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                event = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.events.append(event)
            if match(event):
                return event
        raise AssertionError(f"speaker {self.role}: no {what} within {limit:g} s; log:\n{self.log()[-3000:]}")

    def established(self, peer: str, limit: float = 20.0) -> dict[str, Any]:
        return self.wait_event(
            lambda e: e == {**e, "event": "session", "peer": peer, "established": True},
            f"session {peer} Established",
            limit,
        )

    def status(self) -> list[dict[str, Any]]:
        mark = len(self.events)
        self.send(op="status")
        event = self.wait_event(lambda e: e["event"] == "status" and self.events.index(e) >= mark, "status")
        self.events.remove(event)
        sessions: list[dict[str, Any]] = event["sessions"]
        return sessions

    def shutdown(self, *, graceful: bool = True, restarting: bool = True) -> None:
        self.send(op="shutdown", graceful=graceful, restarting=restarting)
        self.wait_event(lambda e: e["event"] == "bye", "the speaker to stop")
        self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()


def peer(name: str, my_asn: int, peer_asn: int, address: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "my_asn": my_asn, "peer_asn": peer_asn, "peer_address": address, **extra}


# ------------------------------------------------------------------------------------------------
# BIRD
# ------------------------------------------------------------------------------------------------
class Bird:
    """BIRD 2 in the router namespace, with its own control socket."""

    def __init__(self, topo: Topology, role: str, directory: Path, config: str) -> None:
        self.dir = directory
        self.ctl = directory / "bird.ctl"
        self.conf = directory / "bird.conf"
        self.log_path = directory / "bird.log"
        self.conf.write_text(f'log "{self.log_path}" all;\n' + config)
        self.proc = topo.popen(
            role,
            [str(BIRD), "-f", "-c", str(self.conf), "-s", str(self.ctl), "-P", str(directory / "bird.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ctl.exists, "BIRD's control socket", 10)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIRDC), "-s", str(self.ctl), *args], check=False, capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def state(self, protocol: str) -> str:
        lines = self.cli("show", "protocols", protocol).splitlines()
        return lines[-1] if lines else ""

    def wait_established(self, *protocols: str, limit: float = 20.0) -> None:
        for name in protocols:
            wait_for(lambda n=name: "Established" in self.state(n), f"BIRD protocol {name} Established", limit)  # type: ignore[misc]

    def route(self, prefix: str) -> str:
        return self.cli("show", "route", "for", prefix, "all")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def bird_config(*neighbors: str, local_as: int = 64512, channels: str = "ipv4 ipv6", extra: str = "") -> str:
    """A router that imports everything from ``neighbors`` (``"n1 192.0.2.11 as 64513"`` lines) into the kernel.

    BIRD is the active side with fast connect timers (lab-notes: sessions then come up in about 1 s).
    """
    chans = " ".join(f"{c} {{ import all; export none; }};" for c in channels.split())
    protocols = "\n".join(
        f"protocol bgp {n.split()[0]} from node {{ neighbor {' '.join(n.split()[1:])}; }}" for n in neighbors
    )
    return f"""
router id 192.0.2.1;
timeformat protocol iso long;
protocol device {{ }}
protocol kernel k4 {{ ipv4 {{ export where source = RTS_BGP; }}; merge paths on; }}
protocol kernel k6 {{ ipv6 {{ export where source = RTS_BGP; }}; merge paths on; }}
template bgp node {{
  local as {local_as}; direct;
  connect delay time 1; connect retry time 1; error wait time 1, 5;
  hold time 9; keepalive time 3;
  {chans}
  {extra}
}}
{protocols}
"""


# ------------------------------------------------------------------------------------------------
# FRR
# ------------------------------------------------------------------------------------------------
class Frr:
    """zebra + bgpd in the router namespace, named after the namespace (``-N``), in the foreground."""

    def __init__(self, topo: Topology, role: str, directory: Path, bgpd_conf: str) -> None:
        self.name = topo.ns(role)
        self.dir = directory
        self.rundir = Path(f"/var/run/frr/{self.name}")
        self.rundir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.rundir, "frr", "frr")
        shutil.chown(directory, "frr", "frr")
        conf = directory / "bgpd.conf"
        conf.write_text(bgpd_conf)
        shutil.chown(conf, "frr", "frr")
        common = ["-N", self.name, "--log", "file:{}"]
        self.procs = []
        for daemon, config in (("zebra", "/dev/null"), ("bgpd", str(conf))):
            argv = [str(FRR_DIR / daemon), "-f", config, "-i", f"{self.rundir}/{daemon}.pid"]
            argv += [a.format(directory / f"{daemon}.log") for a in common]
            self.procs.append(topo.popen(role, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(lambda d=daemon: (self.rundir / f"{d}.vty").exists(), f"FRR {daemon} to start", 15)  # type: ignore[misc]

    def vtysh(self, *commands: str) -> str:
        argv = [str(VTYSH), "-N", self.name]
        for command in commands:
            argv += ["-c", command]
        return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=15).stdout

    def json(self, command: str) -> Any:
        text = self.vtysh(command)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {}

    def close(self) -> None:
        shutil.rmtree(self.rundir, ignore_errors=True)


def frr_config(*, asn: int = 64512, remote_as: int | str = 64513, extra_neighbor: str = "") -> str:
    """FRR as the router: passive for the nodes' range, ECMP over 8 paths, no eBGP policy required."""
    return f"""frr defaults traditional
hostname router
router bgp {asn}
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 timers bgp 3 9
 neighbor NODES peer-group
 neighbor NODES remote-as {remote_as}
 {extra_neighbor}
 bgp listen range 192.0.2.0/24 peer-group NODES
 address-family ipv4 unicast
  neighbor NODES activate
  maximum-paths 8
  maximum-paths ibgp 8
 exit-address-family
 address-family ipv6 unicast
  neighbor NODES activate
  maximum-paths 8
  maximum-paths ibgp 8
 exit-address-family
"""


# ------------------------------------------------------------------------------------------------
# The router's kernel
# ------------------------------------------------------------------------------------------------
def kernel_next_hops(topo: Topology, role: str, prefix: str) -> list[str]:
    """The gateways of ``prefix`` in ``role``'s main table ([] when absent); two of them means ECMP."""
    family = "-6" if ":" in prefix else "-4"
    out = topo.run(role, "ip", "-j", family, "route", "show", prefix, check=False).stdout
    routes = json.loads(out or "[]")
    hops: list[str] = []
    for route in routes:
        if "nexthops" in route:
            hops += [h.get("gateway", "") for h in route["nexthops"]]
        elif "gateway" in route:
            hops.append(route["gateway"])
    return sorted(hops)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "Bird",
    "Frr",
    "Speaker",
    "bird_config",
    "frr_config",
    "kernel_next_hops",
    "peer",
    "remove_tree",
    "requires_bird",
    "requires_frr",
    "wait_for",
    "workdir",
]
