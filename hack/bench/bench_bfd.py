"""BFD failure detection: how long a router takes to drop a silent node, and how long we take to drop a silent router.

One topology (router and node1 on a bridge, in namespaces). ironlb's BFD manager runs in this process with its
sockets in node1 (``Topology.entered``); the router runs FRR's bfdd (with zebra) or BIRD 2's ``protocol bfd``, with
100 ms x 3 on both sides - the profile ARCHITECTURE.md's "<= 1 s with BFD" row is about. Per trial, with the
session Up:

- **the router detects a silent node**: node1's link goes down silently (``Topology.link_down``: no FIN, no link
  event at the router); the time until the router reports the session down. FRR is polled with ``vtysh -c 'show bfd
  peers json'`` and BIRD with ``birdc show bfd sessions`` in a tight loop, so those figures include up to one poll
  (a vtysh call takes ~20 ms here, birdc ~1-3 ms; the per-poll time is in the note). A second, poll-free figure
  comes from the router's own millisecond wall-clock stamp of the change: bfdd's log (``log timestamp precision
  3``, ``debug bfd peer``) and BIRD's "Since" column.
- **we detect a silent router**: the router's link goes down; the time until our ``on_state(up=False)`` callback.

The clock starts just before the ``ip link set down`` command (run in a thread, so our event loop keeps running),
so every figure includes that command's few milliseconds. Detection cannot beat Detect Mult x interval minus one
interval (a packet was in flight just before the cut): 200-300 ms is the expected band, the goal is <= 300 ms.

The router drivers (:class:`FrrBfdd`, :class:`BirdBfd`) are shared with tests/speaker/bfd/test_interop.py. They start
the daemons with ``Topology.popen`` (killed by PID on teardown) under a private temporary directory, and FRR under a
pathspace named after the router's namespace, so parallel runs never share a control socket.

Run: ``python -m hack.bench bfd`` (needs root, bird and FRR).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hack.bench.registry import Benchmark, Result
from hack.lab.netns import Topology
from ironlb.api.addresses import IPAddress
from ironlb.config.model import BFDProfile

FRR_DIR = Path("/usr/lib/frr")
FRR_RUN = Path("/var/run/frr")
PROFILE = BFDProfile(name="bench", receive_interval_ms=100, transmit_interval_ms=100, detect_multiplier=3)
TRIALS = 10
GOAL_MS = 300.0


def have_frr() -> bool:
    return (FRR_DIR / "bfdd").exists() and (FRR_DIR / "zebra").exists() and shutil.which("vtysh") is not None


def have_bird() -> bool:
    return shutil.which("bird") is not None and shutil.which("birdc") is not None


class RouterBfd(Protocol):
    """A BFD implementation playing the upstream router."""

    name: str

    def state(self, peer: str) -> str | None: ...

    async def astate(self, peer: str) -> str | None: ...

    def close(self) -> None: ...


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > give_up:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class FrrBfdd:
    """FRR's zebra and bfdd in the router namespace, with one single-hop peer per ``(peer, local)`` pair."""

    name = "frr"

    def __init__(self, topo: Topology, peers: list[tuple[str, str]], *, role: str = "router", ms: int = 100) -> None:
        self.topo = topo
        self.pathspace = topo.ns(role)
        self.run_dir = FRR_RUN / self.pathspace
        self.workdir = Path(tempfile.mkdtemp(prefix="ironlb-bfd-frr-"))
        self.workdir.chmod(0o777)  # the daemons drop to the frr user and write their logs here
        self.run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.run_dir, "frr", "frr")
        # The state changes go to a log with millisecond stamps: the poll-free measure of when bfdd noticed.
        self.log = self.workdir / "bfdd.log"
        lines = [f"log file {self.log} debugging", "log timestamp precision 3", "debug bfd peer", "bfd"]
        for peer, local in peers:
            lines += [f" peer {peer} local-address {local}", f"  receive-interval {ms}", f"  transmit-interval {ms}"]
            lines += ["  detect-multiplier 3", " !"]
        conf = self.workdir / "bfdd.conf"
        conf.write_text("\n".join([*lines, "!", ""]))
        conf.chmod(0o644)
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.zebra = topo.popen(role, self._daemon("zebra", "/dev/null"), **quiet)
        _wait((self.run_dir / "zserv.api").exists, "zebra's socket")
        self.bfdd = topo.popen(role, self._daemon("bfdd", str(conf)), **quiet)
        _wait(lambda: self._peers() is not None, "bfdd to answer vtysh")

    def _daemon(self, program: str, config: str) -> list[str]:
        pid = f"{self.run_dir}/{program}.pid"
        argv = [str(FRR_DIR / program), "-N", self.pathspace, "-P", "0", "-f", config, "-i", pid]
        return argv if program == "bfdd" else [*argv, "--log", f"file:{self.workdir}/{program}.log"]

    def _argv(self) -> list[str]:
        return ["vtysh", "-N", self.pathspace, "-c", "show bfd peers json"]

    def _peers(self) -> list[dict[str, Any]] | None:
        out = subprocess.run(self._argv(), capture_output=True, text=True, timeout=10, check=False)
        return _parse_frr(out.stdout)

    def state(self, peer: str) -> str | None:
        return _frr_state(self._peers(), peer)

    def peer(self, peer: str) -> dict[str, Any] | None:
        """The peer's entry of ``show bfd peers json`` (status, diagnostics, intervals in ms)."""
        return next((entry for entry in self._peers() or [] if entry.get("peer") == peer), None)

    async def astate(self, peer: str) -> str | None:
        proc = await asyncio.create_subprocess_exec(
            *self._argv(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        stdout, _ = await proc.communicate()
        return _frr_state(_parse_frr(stdout.decode()), peer)

    def down_since(self, peer: str) -> float | None:
        """Unix time bfdd logged the session to ``peer`` leaving Up last, from its millisecond log stamps."""
        found = None
        for line in self.log.read_text(errors="replace").splitlines() if self.log.exists() else []:
            if "state-change:" in line and f"peer:{peer} " in line and "up -> down" in line:
                stamp = datetime.datetime.strptime(" ".join(line.split()[:2]), "%Y/%m/%d %H:%M:%S.%f")
                found = stamp.timestamp()
        return found

    def kill(self) -> None:
        self.topo.stop(self.bfdd, sig=signal.SIGKILL)

    def close(self) -> None:
        for proc in (self.bfdd, self.zebra):
            self.topo.stop(proc)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _parse_frr(text: str) -> list[dict[str, Any]] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _frr_state(peers: list[dict[str, Any]] | None, peer: str) -> str | None:
    for entry in peers or []:
        if entry.get("peer") == peer:
            return str(entry.get("status"))
    return None


class BirdBfd:
    """BIRD 2 in the router namespace; ``protocol bfd`` with a ``neighbor`` per ``(peer, local)`` pair."""

    name = "bird"

    def __init__(self, topo: Topology, peers: list[tuple[str, str]], *, role: str = "router", ms: int = 100) -> None:
        self.topo = topo
        self.workdir = Path(tempfile.mkdtemp(prefix="ironlb-bfd-bird-"))
        self.ctl = self.workdir / "bird.ctl"
        neighbors = "".join(f"  neighbor {peer} local {local};\n" for peer, local in peers)
        conf = self.workdir / "bird.conf"
        conf.write_text(
            f"router id {topo.hosts[role].addr4};\n"
            "protocol device { scan time 10; }\n"
            "protocol bfd {\n"
            f'  interface "eth0" {{ min rx interval {ms} ms; min tx interval {ms} ms; multiplier 3; }};\n'
            f"{neighbors}}}\n"
        )
        self.bird = topo.popen(
            role,
            ["bird", "-f", "-c", str(conf), "-s", str(self.ctl), "-P", str(self.workdir / "bird.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: self._table() is not None, "BIRD to answer birdc")

    def _argv(self) -> list[str]:
        return ["birdc", "-s", str(self.ctl), "show", "bfd", "sessions"]

    def _table(self) -> dict[str, BirdRow] | None:
        if not self.ctl.exists():
            return None
        out = subprocess.run(self._argv(), capture_output=True, text=True, timeout=10, check=False)
        return _parse_bird(out.stdout) if out.returncode == 0 else None

    def state(self, peer: str) -> str | None:
        row = (self._table() or {}).get(peer)
        return row.state if row else None

    def row(self, peer: str) -> BirdRow | None:
        return (self._table() or {}).get(peer)

    def down_since(self, peer: str) -> float | None:
        """Unix time of the session's last change, if it is down now (BIRD's "Since" column, milliseconds)."""
        row = (self._table() or {}).get(peer)
        if row is None or row.state == "up":
            return None
        day = datetime.date.today()
        return datetime.datetime.combine(day, datetime.time.fromisoformat(row.since)).timestamp()

    async def astate(self, peer: str) -> str | None:
        proc = await asyncio.create_subprocess_exec(
            *self._argv(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        stdout, _ = await proc.communicate()
        row = _parse_bird(stdout.decode()).get(peer)
        return row.state if row else None

    def kill(self) -> None:
        self.topo.stop(self.bird, sig=signal.SIGKILL)

    def close(self) -> None:
        self.topo.stop(self.bird)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True)
class BirdRow:
    """One line of ``birdc show bfd sessions``: state (lower case), since (``HH:MM:SS.mmm``), seconds."""

    state: str
    since: str
    interval: float
    timeout: float


def _parse_bird(text: str) -> dict[str, BirdRow]:
    rows: dict[str, BirdRow] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[2] in ("Up", "Down", "Init", "AdminDown"):
            rows[fields[0]] = BirdRow(fields[2].lower(), fields[3], float(fields[4]), float(fields[5]))
    return rows


# ===== the benchmark ==============================================================================================
class _Ours:
    """ironlb's BFD manager in node1, recording every on_state call with the loop's time."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, bool, int]] = []
        self.manager: Any = None

    def on_state(self, peer: IPAddress, up: bool, diagnostic: int) -> None:
        self.calls.append((asyncio.get_running_loop().time(), str(peer), up, diagnostic))

    def up(self, peer: str) -> bool:
        states = [up for _, p, up, _ in self.calls if p == peer]
        return bool(states) and states[-1]


async def _until(predicate: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    give_up = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > give_up:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rows(name: str, samples: list[float], note: str) -> list[Result]:
    return [
        Result(f"{name} p50", _percentile(samples, 0.5), "ms", ("<=", GOAL_MS), note),
        Result(f"{name} p99", _percentile(samples, 0.99), "ms", ("<=", GOAL_MS), f"{len(samples)} trials"),
    ]


async def _measure(router_kind: str, trials: int) -> list[Result]:
    from speaker.bfd.manager import BfdManager

    with Topology.standard(nodes=1, router=True, client=False, tag="bfd") as topo:
        peer, local = topo.hosts["router"].addr4 or "", topo.hosts["node1"].addr4 or ""
        router: FrrBfdd | BirdBfd
        router = FrrBfdd(topo, [(local, peer)]) if router_kind == "frr" else BirdBfd(topo, [(local, peer)])
        ours = _Ours()
        loop = asyncio.get_running_loop()
        with topo.entered("node1"):
            manager = BfdManager(rng=random.Random(), collector=None)
            manager.add_session(peer, local, PROFILE, ours.on_state)
        router_ms: list[float] = []
        since_ms: list[float] = []
        ours_ms: list[float] = []
        cut_ms: list[float] = []  # how long the "ip link set down" command itself took (inside every figure)
        poll_ms: list[float] = []
        try:
            for _ in range(trials):
                await _until(lambda: ours.up(peer) and router.state(local) == "up", "the session to come up")
                await asyncio.sleep(0.5)
                # The router detects a silent node.
                wall0, start = time.time(), time.perf_counter()
                await asyncio.to_thread(topo.link_down, "node1")
                cut_ms.append((time.perf_counter() - start) * 1000)
                while True:
                    before = time.perf_counter()
                    state = await router.astate(local)
                    poll_ms.append((time.perf_counter() - before) * 1000)
                    if state not in ("up", None):
                        router_ms.append((time.perf_counter() - start) * 1000)
                        break
                    if time.perf_counter() - start > 10:
                        raise RuntimeError(f"{router.name} never noticed the silent node")
                since = router.down_since(local)
                if since is not None and since > wall0 - 0.05:  # not a change left from an earlier trial
                    since_ms.append((since - wall0) * 1000)
                await asyncio.to_thread(topo.link_up, "node1")
                await _until(lambda: ours.up(peer) and router.state(local) == "up", "the session to come back")
                await asyncio.sleep(0.5)
                # We detect a silent router.
                seen = len(ours.calls)
                start_loop = loop.time()
                await asyncio.to_thread(topo.link_down, "router")
                cut_ms.append((loop.time() - start_loop) * 1000)
                await _until(lambda: not ours.up(peer), "ironlb to notice", 10.0)
                down_at = next(t for t, _, up, _ in ours.calls[seen:] if not up)
                ours_ms.append((down_at - start_loop) * 1000)
                await asyncio.to_thread(topo.link_up, "router")
        finally:
            await manager.close(grace=0.2)
            router.close()
    kind = "FRR bfdd 8.4" if router_kind == "frr" else "BIRD 2.0"
    stamp = "bfdd's log, ms stamps" if router_kind == "frr" else "BIRD's Since column"
    cut = f"the link-down command took {statistics.median(cut_ms):.0f} ms (median), included"
    note = f"{kind}, polled; one poll took {statistics.median(poll_ms):.1f} ms (median); {cut}"
    results = _rows(f"{router_kind}: router detects silent node (polled)", router_ms, note)
    if since_ms:
        results += _rows(f"{router_kind}: router detects silent node (its own stamp)", since_ms, f"{stamp}; {cut}")
    results += _rows(f"{router_kind}: ironlb detects silent router", ours_ms, f"on_state(up=False); {cut}")
    return results


def run() -> list[Result]:
    from loguru import logger

    results: list[Result] = []
    logger.disable("speaker.bfd")  # one line per state change and trial is noise here
    try:
        if have_frr():
            results += asyncio.run(_measure("frr", TRIALS))
        if have_bird():
            results += asyncio.run(_measure("bird", TRIALS))
    finally:
        logger.enable("speaker.bfd")
    return results


BENCHMARKS = [
    Benchmark(
        "bfd",
        run=run,
        description="BFD 100 ms x 3: a router (FRR bfdd, BIRD) detecting a silent node, and ironlb a silent router",
        needs_root=True,
        needs_programs=("ip", "bird", "birdc", "vtysh"),
    )
]

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for row in run():
        print(row)
