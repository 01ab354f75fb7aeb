"""Benchmark of the Kubernetes API emulator: write throughput and watch fan-out latency.

The emulator runs as its own process (``ironlb-lab apiserver``, plain HTTP on 127.0.0.1), as tests and the lab
run it; the load comes from this process over keep-alive HTTP connections.

* ``writes_per_s``: ConfigMap creates then merge-patches from 16 concurrent clients, after a warm-up;
* ``fanout_p50_ms`` / ``fanout_p99_ms``: 200 watchers on one namespace, then patches at a steady rate, each
  carrying the time it was sent; the latency is from just before the write request leaves to the moment each
  watcher reads the event (so it includes the write's own round trip).

Goals (brief): >= 2,000 writes/s and p99 fan-out <= 50 ms. These machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hack.bench.registry import Benchmark, Result

WRITERS = 16
WRITES = 6000
WATCHERS = 200
FANOUT_EVENTS = 150
FANOUT_RATE_PER_S = 50.0
NAMESPACE = "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """The emulator in a child process; stopped with SIGTERM by its PID."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="bench-apiserver-")
        self.kubeconfig = Path(self.dir.name) / "kubeconfig"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Server:
        argv = [
            sys.executable,
            "-m",
            "hack.lab.cli",
            "apiserver",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--kubeconfig",
            str(self.kubeconfig),
            "--log-level",
            "WARNING",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not self.kubeconfig.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the API emulator did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()

    @property
    def token(self) -> str:
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["users"][0]["user"]["token"])


async def _writes(base: str, headers: dict[str, str]) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=WRITERS)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as session:
        path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"

        async def create(i: int) -> None:
            body = {"metadata": {"name": f"cm-{i}", "labels": {"bench": "w"}}, "data": {"i": str(i)}}
            async with session.post(path, json=body) as resp:
                assert resp.status == 201, await resp.text()

        async def patch(i: int) -> None:
            body = json.dumps({"data": {"i": str(i + 1)}})
            hdr = {"Content-Type": "application/merge-patch+json"}
            async with session.patch(f"{path}/cm-{i % (WRITES // 2)}", data=body, headers=hdr) as resp:
                assert resp.status == 200, await resp.text()

        async def worker(ops: list[int], fn: object) -> None:
            for i in ops:
                await fn(i)  # type: ignore[operator]

        for i in range(200):  # warm-up: connections, code paths
            await create(10_000_000 + i)
        half = WRITES // 2
        start = time.perf_counter()
        await asyncio.gather(*(worker(list(range(w, half, WRITERS)), create) for w in range(WRITERS)))
        await asyncio.gather(*(worker(list(range(w, half, WRITERS)), patch) for w in range(WRITERS)))
        elapsed = time.perf_counter() - start
    return WRITES / elapsed


async def _fanout(base: str, headers: dict[str, str]) -> list[float]:
    import aiohttp

    latencies: list[float] = []
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    async with aiohttp.ClientSession(base, headers=headers) as setup:
        async with setup.post(path, json={"metadata": {"name": "fan"}, "data": {"t": "0"}}) as resp:
            assert resp.status == 201
        async with setup.get(path, params={"limit": "1"}) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
    ready = 0
    all_ready = asyncio.Event()
    marker = b'"sent":"'

    async def watcher(session: aiohttp.ClientSession) -> None:
        nonlocal ready
        params = {"watch": "true", "resourceVersion": rv, "fieldSelector": "metadata.name=fan", "timeoutSeconds": "120"}
        async with session.get(path, params=params, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            ready += 1
            if ready == WATCHERS:
                all_ready.set()
            seen = 0
            async for line in resp.content:
                now = time.time()
                i = line.find(marker)
                if i < 0:
                    continue
                sent = float(line[i + len(marker) : line.index(b'"', i + len(marker))])
                if sent > 0:
                    latencies.append((now - sent) * 1000.0)
                    seen += 1
                    if seen >= FANOUT_EVENTS:
                        return

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:
        tasks = [asyncio.create_task(watcher(session)) for _ in range(WATCHERS)]
        await asyncio.wait_for(all_ready.wait(), timeout=60)
        await asyncio.sleep(0.5)
        interval = 1.0 / FANOUT_RATE_PER_S
        async with aiohttp.ClientSession(base, headers=headers) as writer:
            for _ in range(FANOUT_EVENTS):
                body = json.dumps({"metadata": {"annotations": {"sent": f"{time.time():.6f}"}}})
                hdr = {"Content-Type": "application/merge-patch+json"}
                async with writer.patch(f"{path}/fan", data=body, headers=hdr) as resp:
                    assert resp.status == 200
                await asyncio.sleep(interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        for t in tasks:
            t.cancel()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> list[Result]:
    with _Server() as server:
        base = f"http://127.0.0.1:{server.port}"
        headers = {"Authorization": f"Bearer {server.token}"}

        async def main() -> tuple[float, list[float]]:
            import aiohttp

            async with (
                aiohttp.ClientSession(base, headers=headers) as s,
                s.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}) as resp,
            ):
                assert resp.status == 201
            rate = await _writes(base, headers)
            latencies = await _fanout(base, headers)
            return rate, latencies

        rate, latencies = asyncio.run(main())
    expected = WATCHERS * FANOUT_EVENTS
    note = f"{len(latencies)}/{expected} deliveries measured, {os.cpu_count()} CPUs shared"
    return [
        Result("writes_per_s", rate, "writes/s", goal=(">=", 2000.0), note=f"{WRITERS} clients, create+patch"),
        Result("fanout_p50_ms", statistics.median(latencies), "ms", note=note),
        Result("fanout_p99_ms", _percentile(latencies, 0.99), "ms", goal=("<=", 50.0), note=note),
    ]


BENCHMARKS = [
    Benchmark(
        name="apiserver",
        run=run,
        description="API emulator: ConfigMap writes/s and watch fan-out latency to 200 watchers",
    )
]

__all__ = ["BENCHMARKS"]
