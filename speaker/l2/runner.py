"""Drive a ``python -m speaker.l2`` process from another process: the lab's, the tests' and the benchmarks' handle.

The process runs inside a node's network namespace (start it with ``Topology.popen``); this side writes JSON
commands to its stdin and collects the JSON events it prints, on a reader thread, so that callers can wait for an
event with a timeout without blocking on a pipe. Nothing here sends packets.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

Event = dict[str, Any]


def command_line(*options: str) -> list[str]:
    """The argv that starts an announcer process with this interpreter."""
    return [sys.executable, "-m", "speaker.l2", *options]


class L2Process:
    """A running announcer process and the events it has reported."""

    def __init__(self, start: Callable[[Sequence[str]], subprocess.Popen[Any]], *options: str) -> None:
        """Start the process with ``start(argv)`` (e.g. ``lambda argv: topo.popen("node1", argv, ...)``).

        ``start`` must pass ``stdin=PIPE, stdout=PIPE, text=True``; see :func:`popen_kwargs`.
        """
        self.proc = start(command_line(*options))
        if self.proc.stdin is None or self.proc.stdout is None:
            raise ValueError("start the announcer process with stdin=PIPE and stdout=PIPE (see popen_kwargs)")
        self._stdin: IO[str] = self.proc.stdin
        self._events: queue.Queue[Event | None] = queue.Queue()
        self.history: list[Event] = []
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        self.ready = self.wait_for("ready", timeout=20.0)

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with contextlib.suppress(ValueError):
                self._events.put(json.loads(line))
        self._events.put(None)

    def send(self, **command: Any) -> None:
        self._stdin.write(json.dumps(command) + "\n")
        self._stdin.flush()

    def wait_for(self, event: str, *, timeout: float = 10.0, **fields: Any) -> Event:
        """The next event named ``event`` whose fields include ``fields`` (earlier reported ones count too).

        Raises:
            TimeoutError: none came within ``timeout`` seconds, or the process ended.
        """

        def matches(e: Event) -> bool:
            return e.get("event") == event and all(e.get(k) == v for k, v in fields.items())

        for index, seen in enumerate(self.history):
            if matches(seen):
                del self.history[index]
                return seen
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got = self._events.get(timeout=left)
            except queue.Empty:
                break
            if got is None:
                raise TimeoutError(f"announcer process ended (exit {self.proc.poll()}) before a {event!r} event")
            if matches(got):
                return got
            self.history.append(got)
        raise TimeoutError(f"no {event!r} event with {fields} within {timeout} s; saw {self.history[-5:]}")

    def request(self, op: str, *, timeout: float = 10.0) -> Event:
        """Send a query (``stats``, ``interfaces``, ``phases``) and return its answer."""
        self.send(op=op)
        return self.wait_for(op, timeout=timeout)

    def own(self, table: dict[str, list[str] | None], *, takeover: str | dict[str, str] = "immediate") -> None:
        self.send(op="own", table=table, takeover=takeover)

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the process to stop; kill it (by PID) if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.send(op="stop")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def popen_kwargs(stderr: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """What ``Topology.popen`` needs for :class:`L2Process`."""
    return {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": stderr, "text": True, "bufsize": 1}


__all__ = ["L2Process", "command_line", "popen_kwargs"]
