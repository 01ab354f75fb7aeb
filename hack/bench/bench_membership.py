"""Membership benchmarks: how fast a hard node failure is known to every other speaker, and what it costs.

* ``membership-kill``: 5 runner processes (``python -m speaker.membership.runner``) in namespaces node1..node5 on
  the lab LAN, UDP 7946. Each trial SIGKILLs one runner (by PID) and takes, for every survivor, the time from the
  kill to its ``MemberFailed`` line; both clocks are this machine's CLOCK_MONOTONIC. The trial's figure is the
  *last* survivor's (when everybody knows). The victim is restarted (new epoch) and the cluster must converge
  again before the next trial. Goal: p99 <= 500 ms.
* ``membership-link-down``: the same with the victim's LAN port taken down (``topo.link_down``: no FIN, no ICMP,
  nothing), then up again; the victim rejoins through the reconnect probes. The clock starts just *before* the
  ``ip link`` command, so the figure includes that command's own few milliseconds.
* ``membership-traffic``: datagrams sent per node per second in steady state, in the simulation (the protocol is
  the real one; only the wire is simulated), at N = 3, 10, 50: O(N) in total means flat per node.

:class:`RunnerFleet` is also used by tests/speaker/membership/test_lab.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hack.bench.registry import Benchmark, Result
from hack.lab.netns import Topology

PORT = 7946
KEY_HEX = "6d656d626572736869702d62656e63682d6b65792d30313233"  # "membership-bench-key-0123"
ROOT = Path(__file__).resolve().parents[2]
Record = dict[str, Any]


@dataclass
class Runner:
    """One runner process and the JSON lines it printed so far."""

    role: str
    proc: subprocess.Popen[str]
    records: list[Record] = field(default_factory=list)
    inbox: queue.Queue[Record | None] = field(default_factory=queue.Queue)

    def start_reader(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                with contextlib.suppress(ValueError):
                    self.inbox.put(json.loads(line))
            self.inbox.put(None)

        threading.Thread(target=read, name=f"runner-{self.role}", daemon=True).start()

    def drain(self) -> None:
        while True:
            try:
                record = self.inbox.get_nowait()
            except queue.Empty:
                return
            if record is not None:
                self.records.append(record)

    def alive_view(self) -> set[str]:
        """The live set this runner reported, folded from its events."""
        self.drain()
        view = {self.role}
        for record in self.records:
            if record.get("event") == "MemberJoined":
                view.add(record["name"])
            elif record.get("event") in ("MemberFailed", "MemberLeft"):
                view.discard(record["name"])
        return view

    def find(self, predicate: Callable[[Record], bool], *, since: int = 0) -> Record | None:
        self.drain()
        return next((r for r in self.records[since:] if predicate(r)), None)


class RunnerFleet:
    """Membership runner processes in the namespaces of a :class:`Topology`, started and killed by PID."""

    def __init__(self, topo: Topology, roles: list[str], *, extra: tuple[str, ...] = ()) -> None:
        self.topo = topo
        self.roles = roles
        self.extra = extra
        self.runners: dict[str, Runner] = {}

    def address(self, role: str) -> str:
        address = self.topo.hosts[role].addr4
        assert address is not None
        return address

    def start(self, role: str) -> Runner:
        argv = [sys.executable, "-m", "speaker.membership.runner", "--name", role, "--bind"]
        argv += [f"{self.address(role)}:{PORT}", "--key-hex", KEY_HEX, *self.extra]
        for other in self.roles:
            if other != role:
                argv += ["--seed", f"{self.address(other)}:{PORT}"]
        proc = self.topo.popen(
            role, argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(ROOT), bufsize=1
        )
        runner = Runner(role, proc)
        runner.start_reader()
        self.runners[role] = runner
        return runner

    def start_all(self) -> None:
        for role in self.roles:
            self.start(role)

    def running(self) -> list[Runner]:
        return [r for r in self.runners.values() if r.proc.poll() is None]

    def converged(self) -> bool:
        expected = {r.role for r in self.running()}
        return all(r.alive_view() == expected for r in self.running())

    def wait(self, condition: Callable[[], bool], limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return condition()

    def signal(self, role: str, sig: int) -> float:
        """Send ``sig`` to the runner's PID; returns the monotonic time just before the signal."""
        runner = self.runners[role]
        at = time.monotonic()
        os.kill(runner.proc.pid, sig)
        return at

    def reap(self, role: str) -> int | None:
        proc = self.runners[role].proc
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _failure_reports(survivors: list[Runner], victim: str, marks: dict[str, int]) -> list[Record | None]:
    """Each survivor's first MemberFailed(victim) line since the trial started, or None."""
    return [
        s.find(lambda r: r.get("event") == "MemberFailed" and r.get("name") == victim, since=marks[s.role])
        for s in survivors
    ]


def _detection_trials(*, trials: int, nodes: int, link_down: bool) -> tuple[list[float], list[float], int]:
    """Run the trials; returns (per-trial time until every survivor knew, all per-survivor times, false failures)."""
    roles = [f"node{i}" for i in range(1, nodes + 1)]
    last: list[float] = []
    every: list[float] = []
    false_failures = 0
    with Topology.standard(nodes=nodes, router=False, client=False, tag="mb") as topo:
        fleet = RunnerFleet(topo, roles)
        fleet.start_all()
        if not fleet.wait(fleet.converged, 20.0):
            raise RuntimeError("membership runners did not converge; is the lab usable here?")
        for trial in range(trials):
            victim = roles[1 + trial % (nodes - 1)]
            for r in roles:
                fleet.runners[r].drain()
            marks = {r: len(fleet.runners[r].records) for r in roles}
            if link_down:
                started = time.monotonic()
                topo.link_down(victim)
            else:
                started = fleet.signal(victim, signal.SIGKILL)
            survivors = [fleet.runners[r] for r in roles if r != victim]
            fleet.wait(lambda: None not in _failure_reports(survivors, victim, marks), 5.0)  # noqa: B023
            reports = _failure_reports(survivors, victim, marks)
            times = [(r["t"] - started) if r else float("inf") for r in reports]
            every.extend(times)
            last.append(max(times))
            if link_down:
                topo.link_up(victim)
            else:
                fleet.reap(victim)
                fleet.start(victim)
            if not fleet.wait(fleet.converged, 15.0):
                raise RuntimeError(f"trial {trial}: the cluster did not converge again after {victim} came back")
            time.sleep(0.3)  # let the rejoin settle (refutations, first probes) before the next kill
            for survivor in survivors:  # over the whole trial, the victim's return included
                survivor.drain()
                false_failures += sum(
                    1
                    for r in survivor.records[marks[survivor.role] :]
                    if r.get("event") in ("MemberFailed", "MemberLeft") and r.get("name") != victim
                )
        for runner in fleet.running():
            fleet.signal(runner.role, signal.SIGTERM)
        for role in roles:
            fleet.reap(role)
    return last, every, false_failures


def _detection_results(name: str, last: list[float], every: list[float], false_failures: int) -> list[Result]:
    ms = [v * 1000 for v in last]
    note = f"{len(last)} trials; per trial: time until the last survivor reported MemberFailed"
    return [
        Result(f"{name} p50", statistics.median(ms), "ms", ("<=", 500.0), note),
        Result(f"{name} p99", _percentile(ms, 0.99), "ms", ("<=", 500.0)),
        Result(f"{name} max", max(ms), "ms"),
        Result(f"{name} p50 per survivor", statistics.median(v * 1000 for v in every), "ms"),
        Result(f"{name} collateral losses", float(false_failures), "events", ("<=", 0.0), "others failed/left"),
    ]


def bench_kill() -> list[Result]:
    trials = int(os.environ.get("IRONLB_BENCH_MEMBERSHIP_TRIALS", "24"))
    return _detection_results("SIGKILL detected", *_detection_trials(trials=trials, nodes=5, link_down=False))


def bench_link_down() -> list[Result]:
    trials = int(os.environ.get("IRONLB_BENCH_MEMBERSHIP_TRIALS", "24"))
    return _detection_results("link down detected", *_detection_trials(trials=trials, nodes=4, link_down=True))


def bench_traffic() -> list[Result]:
    from speaker.membership.simulation import Network

    results = []
    for count in (3, 10, 50):
        net = Network(seed=count)
        net.add_cluster(count)
        net.run_until_converged(3.0)
        net.run_for(1.0)
        before = sum(net.datagrams_sent().values())
        net.run_for(5.0)
        per_node = (sum(net.datagrams_sent().values()) - before) / 5.0 / count
        results.append(Result(f"datagrams sent per node, N={count}", per_node, "1/s", note="simulated steady state"))
    return results


BENCHMARKS = [
    Benchmark("membership-kill", bench_kill, "SIGKILL of a speaker -> every other speaker knows", needs_root=True),
    Benchmark(
        "membership-link-down", bench_link_down, "a node's link cut -> every other speaker knows", needs_root=True
    ),
    Benchmark("membership-traffic", bench_traffic, "datagrams per node per second at N=3/10/50 (simulated)"),
]

__all__ = ["BENCHMARKS", "KEY_HEX", "PORT", "Runner", "RunnerFleet"]
