"""The outage probe: how attempts become counts and outage windows, and the client against a local server."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hack.lab import probe
from hack.lab.probe import CONNECT, OK, REQUEST, Attempt, analyze, first_answer_after, recovery_after


def _run(*outcomes: str, step: float = 0.02) -> list[Attempt]:
    return [Attempt(i * step, i * step + 0.001, o, "pod" if o == OK else "") for i, o in enumerate(outcomes)]


@pytest.mark.parametrize(
    ("outcomes", "ok", "connect", "after_connect", "outages"),
    [
        pytest.param([OK, OK, OK], 3, 0, 0, [], id="nothing-failed"),
        pytest.param([OK, CONNECT, CONNECT, OK], 2, 2, 0, [(0.02, 0.06, 2)], id="one-outage-between-answers"),
        pytest.param(
            [CONNECT, OK, REQUEST, OK], 2, 1, 1, [(0.0, 0.02, 1), (0.04, 0.06, 1)], id="two-outages-counted-apart"
        ),
    ],
)
def test_analyze_counts_and_windows(
    outcomes: list[str], ok: int, connect: int, after_connect: int, outages: list[tuple[float, float, int]]
) -> None:
    summary = analyze(_run(*outcomes))
    assert (summary.ok, summary.failed_connect, summary.failed_request) == (ok, connect, after_connect)
    got = [(round(o.start, 3), round(o.end, 3), o.failed) for o in summary.outages]
    assert got == outages
    assert summary.unrecovered_since is None


def test_an_outage_still_running_at_the_end_is_reported() -> None:
    summary = analyze(_run(OK, CONNECT, CONNECT))
    assert summary.outages == [] and summary.unrecovered_since == pytest.approx(0.02)
    assert "2 failed to connect" in summary.line()


@pytest.mark.parametrize(
    ("outcomes", "span"),
    [
        pytest.param([OK, OK], 0.0, id="nothing-failed"),
        pytest.param([OK, CONNECT, CONNECT, OK], 0.04, id="one-outage"),
        pytest.param([CONNECT, OK, REQUEST, OK, OK], 0.06, id="from-the-first-failure-to-the-answer-after-the-last"),
        pytest.param([OK, CONNECT, OK, CONNECT], 0.041, id="unrecovered-to-the-end-of-the-last-attempt"),
    ],
)
def test_the_span_covers_every_outage_and_what_lies_between(outcomes: list[str], span: float) -> None:
    assert analyze(_run(*outcomes)).span == pytest.approx(span)


def test_recovery_and_first_answer_are_measured_from_a_moment() -> None:
    attempts = _run(OK, OK, CONNECT, CONNECT, CONNECT, OK, OK)
    assert recovery_after(attempts, 0.03) == pytest.approx(0.07)
    assert recovery_after(_run(OK, OK), 0.0) == 0.0
    first = first_answer_after(attempts, 0.03)
    assert first is not None and first.start == pytest.approx(0.1)


async def test_attempt_tells_answers_refusals_and_silence_apart() -> None:
    async def whoami(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHostname: pod\n")
        await writer.drain()
        writer.close()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    good = await asyncio.start_server(whoami, "127.0.0.1", 0)
    silent = await asyncio.start_server(mute, "127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    try:
        good_port = good.sockets[0].getsockname()[1]
        silent_port = silent.sockets[0].getsockname()[1]
        assert await probe.attempt("127.0.0.1", good_port, "/", "h", 1.0) == (OK, "pod")
        assert await probe.attempt("127.0.0.1", closed_port, "/", "h", 1.0) == (CONNECT, "")
        assert await probe.attempt("127.0.0.1", silent_port, "/", "h", 0.2) == (REQUEST, "")
    finally:
        for server in (good, silent):
            server.close()
            await server.wait_closed()


def test_the_script_runs_from_stdin_and_prints_every_attempt() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Path(probe.__file__).open() as source:
        done = subprocess.run(
            [sys.executable, "-", "--url", f"http://127.0.0.1:{port}/", "--duration", "0.2", "--interval", "0.05"],
            stdin=source,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    attempts = probe.parse_output(done.stdout)
    assert 2 <= len(attempts) <= 6
    assert {a.outcome for a in attempts} == {CONNECT}
    assert json.loads(done.stdout)["url"] == f"http://127.0.0.1:{port}/"
