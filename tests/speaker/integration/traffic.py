"""Traffic in the speaker lab: HTTP servers standing in for pods, and the client's probe of a VIP.

The probe opens a new TCP connection every 20 ms (attempts overlap: a connect that hangs during a failover does not
delay the next one), in a process of its own inside the client's namespace; each attempt ends ``ok``, ``connect``
(no connection within the timeout) or ``request`` (connected, no complete answer). :func:`summarize` counts them
and measures the outage window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hack.lab.netns import Topology

REPO = Path(__file__).resolve().parents[3]


class PodHandler(http.server.BaseHTTPRequestHandler):
    node = ""

    def do_GET(self) -> None:
        body = f"{self.node}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@dataclass(frozen=True)
class Attempt:
    start: float
    end: float
    outcome: str  # ok | connect | request
    body: str = ""


async def probe_loop(
    address: str, port: int, *, interval: float, limit: float, stop: asyncio.Event, emit: Callable[[Attempt], None]
) -> None:
    """Start an attempt every ``interval`` until ``stop`` (``limit``: connect timeout, seconds); report each with
    ``emit`` as it ends."""
    tasks: set[asyncio.Task[None]] = set()
    next_at = time.monotonic()
    while not stop.is_set():
        task = asyncio.create_task(_attempt(address, port, limit, emit))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    if tasks:
        await asyncio.wait(tasks, timeout=limit * 5)


async def _attempt(address: str, port: int, limit: float, emit: Callable[[Attempt], None]) -> None:
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), limit)
    except (OSError, TimeoutError):
        emit(Attempt(start, time.monotonic(), "connect"))
        return
    try:
        host = f"[{address}]" if ":" in address else address
        writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), limit * 4)
        text = data.decode("latin-1")
        ok = text.startswith("HTTP/1.") and " 200 " in text.split("\r\n", 1)[0]
        body = text.split("\r\n\r\n", 1)[-1].strip() if ok else ""
        emit(Attempt(start, time.monotonic(), "ok" if ok else "request", body))
    except (OSError, TimeoutError):
        emit(Attempt(start, time.monotonic(), "request"))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class Probe:
    """The probe as its own process inside the client namespace (so that this process's threads - the API
    emulator, the HTTP servers - cannot starve it), streaming its attempts back as JSON lines."""

    topo: Topology
    address: str
    port: int = 80
    interval: float = 0.02
    timeout: float = 0.25
    attempts: list[Attempt] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def start(self) -> Probe:
        argv = [sys.executable, "-m", "tests.speaker.integration.traffic", self.address, "--port", str(self.port),
                "--interval", str(self.interval), "--timeout", str(self.timeout)]  # fmt: skip
        proc = self.topo.popen("client", argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "probing":
            raise RuntimeError("the probe did not start")
        self._proc = proc
        self._reader = threading.Thread(target=self._read, name="probe-reader", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            start, end, outcome, body = json.loads(line)
            self.attempts.append(Attempt(start, end, outcome, body))

    def stop(self) -> list[Attempt]:
        if self._proc is not None:
            self.topo.stop(self._proc, sig=signal.SIGTERM, timeout=10)
        if self._reader is not None:
            self._reader.join(10)
        return sorted(self.attempts, key=lambda a: a.start)


@dataclass(frozen=True)
class ProbeSummary:
    ok: int
    failed_connect: int
    failed_request: int
    #: from the first failed attempt's start to the start of the first successful attempt after the last failure
    outage: float
    bodies: tuple[str, ...]


def summarize(attempts: list[Attempt], since: float = 0.0) -> ProbeSummary:
    """Counts and the outage window among attempts started at or after ``since``."""
    window = [a for a in attempts if a.start >= since]
    failed = [a for a in window if a.outcome != "ok"]
    outage = 0.0
    if failed:
        after = [a for a in window if a.outcome == "ok" and a.start > failed[-1].start]
        end = after[0].start if after else window[-1].end
        outage = end - failed[0].start
    bodies = tuple(dict.fromkeys(a.body for a in window if a.outcome == "ok"))
    return ProbeSummary(
        ok=sum(1 for a in window if a.outcome == "ok"),
        failed_connect=sum(1 for a in failed if a.outcome == "connect"),
        failed_request=sum(1 for a in failed if a.outcome == "request"),
        outage=outage,
        bodies=bodies,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.speaker.integration.traffic ADDRESS``: probe until SIGTERM, one JSON line per attempt."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("address")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=0.25)
    args = parser.parse_args(argv)

    def emit(a: Attempt) -> None:
        sys.stdout.write(json.dumps([a.start, a.end, a.outcome, a.body]) + "\n")
        sys.stdout.flush()

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        sys.stdout.write("probing\n")
        sys.stdout.flush()
        await probe_loop(args.address, args.port, interval=args.interval, limit=args.timeout, stop=stop, emit=emit)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["Attempt", "PodHandler", "Probe", "ProbeSummary", "Server6", "main", "probe_loop", "summarize"]
