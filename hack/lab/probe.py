"""A client that measures an outage: a new HTTP request every 20 ms, each on a new TCP connection.

Runs on a client host (in the lab: inside the ``client`` or ``outside`` namespace; on a real cluster: on the
machine the e2e description names). It is stdlib-only and runs as a script fed on stdin, so it needs nothing
installed where it runs::

    ip netns exec <client-ns> python3 - --url http://198.51.100.1/ --duration 10 < hack/lab/probe.py

Attempts overlap (a connect that hangs during a failover does not delay the next one). Each attempt ends as
``ok`` (an HTTP 200 with a ``Hostname:`` line, like whoami's), ``connect`` (the TCP connection failed: refused,
unreachable, or no SYN-ACK within ``--timeout``) or ``request`` (connected, but no complete answer). On SIGTERM or
SIGINT, or after ``--duration``, it prints one JSON object: every attempt as ``[start, end, outcome, hostname]``
(``time.monotonic()`` seconds: comparable with the caller's clock on the same machine). :func:`analyze` turns
that into counts and outage windows; the caller imports it from here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

OK, CONNECT, REQUEST = "ok", "connect", "request"


@dataclass(frozen=True)
class Attempt:
    start: float
    end: float
    outcome: str
    host: str = ""


@dataclass(frozen=True)
class Outage:
    start: float  # the first failed attempt's start
    end: float  # the start of the first successful attempt after it
    failed: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Summary:
    attempts: int = 0
    ok: int = 0
    failed_connect: int = 0
    failed_request: int = 0
    outages: list[Outage] = field(default_factory=list)
    hosts: dict[str, int] = field(default_factory=dict)
    #: an outage still running when the probe stopped (start of its first failure), if any
    unrecovered_since: float | None = None
    #: from the first failed attempt's start to the start of the first answered attempt after the last failure (to the
    #: end of the last attempt when none was answered after it): every outage and whatever lies between them
    span: float = 0.0

    @property
    def failed(self) -> int:
        return self.failed_connect + self.failed_request

    @property
    def longest_outage(self) -> float:
        return max((o.seconds for o in self.outages), default=0.0)

    def line(self) -> str:
        return (
            f"{self.attempts} requests: {self.ok} answered, {self.failed_connect} failed to connect, "
            f"{self.failed_request} failed after connecting; longest outage {self.longest_outage * 1000:.0f} ms"
        )


def analyze(attempts: Sequence[Attempt], *, since: float | None = None, until: float | None = None) -> Summary:
    """Counts and outage windows of the attempts started in ``[since, until)`` (pure)."""
    chosen = sorted(
        (a for a in attempts if (since is None or a.start >= since) and (until is None or a.start < until)),
        key=lambda a: a.start,
    )
    out = Summary(attempts=len(chosen))
    run_start: float | None = None
    run_failed = 0
    for a in chosen:
        if a.outcome == OK:
            out.ok += 1
            out.hosts[a.host] = out.hosts.get(a.host, 0) + 1
            if run_start is not None:
                out.outages.append(Outage(run_start, a.start, run_failed))
                run_start, run_failed = None, 0
            continue
        if a.outcome == CONNECT:
            out.failed_connect += 1
        else:
            out.failed_request += 1
        if run_start is None:
            run_start = a.start
        run_failed += 1
    out.unrecovered_since = run_start
    if out.outages or run_start is not None:
        first = out.outages[0].start if out.outages else run_start
        last = chosen[-1].end if run_start is not None else out.outages[-1].end
        assert first is not None
        out.span = last - first
    return out


def first_answer_after(attempts: Sequence[Attempt], moment: float) -> Attempt | None:
    """The first attempt started at or after ``moment`` that was answered."""
    answered = sorted((a for a in attempts if a.start >= moment and a.outcome == OK), key=lambda a: a.start)
    return answered[0] if answered else None


def recovery_after(attempts: Sequence[Attempt], moment: float) -> float:
    """Seconds from ``moment`` until requests were answered again: the end of the longest outage that began after
    it (0 when nothing failed). Attempts in flight at ``moment`` may still have succeeded; this does not count them."""
    outages = analyze(attempts, since=moment).outages
    if not outages:
        return 0.0
    worst = max(outages, key=lambda o: o.seconds)
    return worst.end - moment


def parse_output(text: str) -> list[Attempt]:
    data = json.loads(text)
    return [Attempt(float(a[0]), float(a[1]), str(a[2]), str(a[3])) for a in data["attempts"]]


class ProbeRun:
    """The caller's side: a probe started on some host (``argv`` = a command prefix + ``python3 -``), fed this
    script on stdin; :meth:`stop` returns its attempts."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen

    @classmethod
    def start(cls, argv: list[str]) -> ProbeRun:
        """Run ``argv`` (an interpreter reading a script on stdin: ``... python3 -``) with the probe script."""
        popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert popen.stdin is not None and popen.stderr is not None
        popen.stdin.write(Path(__file__).read_text())  # this very file (never read when run from stdin)
        popen.stdin.close()
        popen.stdin = None
        started = popen.stderr.readline()  # "probing": it has started
        if "probing" not in started:
            _, err = popen.communicate(timeout=10)
            raise RuntimeError(f"the probe did not start: {started}{err}")
        return cls(popen)

    def stop(self, timeout: float = 10.0) -> list[Attempt]:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        out, err = self.popen.communicate(timeout=timeout)
        if self.popen.returncode != 0 or not out.strip():
            raise RuntimeError(f"the probe failed ({self.popen.returncode}): {err.strip()[-2000:]}")
        return parse_output(out)

    def wait(self, timeout: float) -> list[Attempt]:
        self.popen.wait(timeout)
        return self.stop()

    def __enter__(self) -> ProbeRun:
        return self

    def __exit__(self, *exc: object) -> None:
        """Make sure the client is gone, whatever happened (a stopped probe is left as it is)."""
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(Exception):
            self.popen.communicate(timeout=5)


# ----------------------------------------------------------------------------------------------- the client


async def attempt(host: str, port: int, path: str, header_host: str, limit: float) -> tuple[str, str]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (OSError, TimeoutError):
        return CONNECT, ""
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {header_host}\r\nUser-Agent: ironlb-probe\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        data = await asyncio.wait_for(reader.read(65536 * 4), limit)
        while data and not data.endswith(b"\n"):
            more = await asyncio.wait_for(reader.read(65536), limit)
            if not more:
                break
            data += more
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return REQUEST, ""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    text = data.decode("utf-8", "replace")
    if not text.startswith("HTTP/1.1 200"):
        return REQUEST, ""
    hostname = next((line[10:].strip() for line in text.splitlines() if line.startswith("Hostname: ")), "")
    return (OK, hostname) if hostname else (REQUEST, "")


async def run(url: str, interval: float, limit: float, duration: float) -> list[list[Any]]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    path = parts.path or "/"
    header_host = parts.netloc
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    results: list[list[Any]] = []

    async def one() -> None:
        start = time.monotonic()
        outcome, who = await attempt(host, port, path, header_host, limit)
        results.append([start, time.monotonic(), outcome, who])

    tasks: set[asyncio.Task[None]] = set()
    deadline = time.monotonic() + duration
    next_at = time.monotonic()
    print("probing", flush=True, file=sys.stderr)
    while not stop.is_set() and time.monotonic() < deadline:
        task = asyncio.ensure_future(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    # Let what is in flight finish (bounded by its own timeout), so the last attempts are counted too.
    if tasks:
        await asyncio.wait(tasks, timeout=limit * 2 + 0.5)
    return sorted(results)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="HTTP requests every --interval, each on a new connection")
    p.add_argument("--url", required=True)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=1.0, help="connect timeout, and read timeout (seconds)")
    p.add_argument("--duration", type=float, default=3600.0, help="stop after this many seconds")
    args = p.parse_args(argv)
    results = asyncio.run(run(args.url, args.interval, args.timeout, args.duration))
    json.dump({"url": args.url, "attempts": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
