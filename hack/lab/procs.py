"""The lab's process table: every long-running program the lab starts, tracked by PID, restarted like a kubelet
restarts a container, and stopped on teardown.

Why a table of its own (and not only :meth:`Topology.popen`): the lab starts programs in the root namespace too
(the API emulator, which serves kubectl on loopback), restarts daemons that exit (``ironlb-ccm`` exits with status
1 when it loses its Lease, as upstream cloud-controller-managers do; a SIGKILLed speaker comes back like a
restarted container), and lets tests *hold* a program down (a killed node stays dead until the test revives it).

Every child is started with a parent-death signal (``setpriv --pdeathsig KILL``, util-linux) from one long-lived
spawner thread: if the process that owns the lab dies without running any cleanup (SIGKILL, OOM), the kernel
kills its children at once, and :func:`hack.lab.netns.sweep_stale` removes the namespaces at the next start. (The
death signal follows the *thread* that forked the child, hence a single thread that lives as long as the lab.)
``setpriv`` and ``ip netns exec`` exec the command in place, so the tracked PID is the daemon's own.

One program, one process: a start (:meth:`Supervisor.start`, :meth:`Supervisor.revive`) and the watchdog's restart
each decide and spawn under the table's lock, and the watchdog restarts only the very process it saw exit. Without
that, a test reviving a held program while the watchdog's poll ran in between (the program no longer held, its old
process still the one on record) started it twice: the first process went untracked, survived the test's later
SIGKILL, and kept announcing (an e2e failover that never came; see tests/hack/lab/test_procs_revive.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: how long an exited program with ``restart=True`` waits before it is started again (kubelet: 10 s, doubling;
#: the lab is impatient)
RESTART_DELAY = 1.0


#: the prefix that makes a child die with the lab's process (empty where util-linux's setpriv is missing)
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


@dataclass
class Program:
    """One long-running program: what to run, where, and what to do when it ends."""

    name: str
    argv: Sequence[str]
    #: full namespace name, or None for the root namespace
    netns: str | None
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    #: True while a test holds it down: the watchdog does not restart it
    held: bool = False
    started_at: float = 0.0
    #: called (from the watchdog thread) with (program, "started" | "exited")
    on_change: Callable[[Program, str], None] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def command(self) -> list[str]:
        inner = ["ip", "netns", "exec", self.netns, *self.argv] if self.netns else list(self.argv)
        return [*DIE_WITH_PARENT, *inner]


class Supervisor:
    """Starts, watches, restarts and stops :class:`Program` s. Thread-safe; ``close()`` is idempotent."""

    def __init__(self) -> None:
        self.programs: dict[str, Program] = {}
        self._lock = threading.RLock()
        self._requests: queue.Queue[tuple[Program, concurrent.futures.Future[None]] | None] = queue.Queue()
        self._closed = threading.Event()
        self._spawner = threading.Thread(target=self._spawn_loop, name="lab-spawner", daemon=True)
        self._spawner.start()
        self._watchdog = threading.Thread(target=self._watch_loop, name="lab-watchdog", daemon=True)
        self._watchdog.start()

    # -- starting ----------------------------------------------------------------------------------------------
    def _spawn_loop(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            program, future = item
            try:
                self._spawn(program)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

    def _spawn(self, program: Program) -> None:
        program.log.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes]
        with program.log.open("ab") as log:
            stamp = time.strftime("%H:%M:%S")
            log.write(f"--- {stamp} ironlb-lab starts: {' '.join(program.argv)}\n".encode())
            log.flush()
            env = {**os.environ, **program.env}
            program.popen = subprocess.Popen(
                program.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        program.started_at = time.monotonic()

    def start(self, program: Program) -> Program:
        """Start (or start again) a program; returns once it has a PID."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError(f"the lab is shutting down; not starting {program.name}")
            old = self.programs.get(program.name)
            if old is not None and old.running:
                raise RuntimeError(f"{program.name} is already running (pid {old.pid})")
            self.programs[program.name] = program
            program.held = False
            self._spawn_now(program)
        self._notify(program, "started")
        return program

    def _spawn_now(self, program: Program) -> None:
        """Spawn on the spawner thread and wait for the PID (callers hold the lock: nobody else starts it meanwhile)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._requests.put((program, future))
        future.result(timeout=30)

    def revive(self, name: str) -> Program:
        """Start a held or exited program again with the same command line."""
        with self._lock:
            program = self.programs[name]
            if program.running:
                program.held = False
                return program
            program.restarts += 1
            return self.start(program)

    # -- watching ----------------------------------------------------------------------------------------------
    def _watch_loop(self) -> None:
        exited_at: dict[str, tuple[subprocess.Popen[bytes], float]] = {}  # name -> (the exited process, when seen)
        while not self._closed.wait(0.25):
            with self._lock:
                programs = list(self.programs.values())
            for program in programs:
                popen = program.popen
                if popen is None or popen.poll() is None:
                    exited_at.pop(program.name, None)
                    continue
                seen = exited_at.get(program.name)
                if seen is None or seen[0] is not popen:
                    seen = exited_at[program.name] = (popen, time.monotonic())
                    self._notify(program, "exited")
                if time.monotonic() - seen[1] >= RESTART_DELAY and self._restart(program, popen):
                    exited_at.pop(program.name, None)
                    self._notify(program, "started")

    def _restart(self, program: Program, exited: subprocess.Popen[bytes]) -> bool:
        """Restart ``program`` if it is still the one whose process ``exited`` (not held, not started meanwhile)."""
        with self._lock:
            if (
                not program.restart
                or program.held
                or self._closed.is_set()
                or self.programs.get(program.name) is not program
                or program.popen is not exited
            ):
                return False
            program.restarts += 1
            try:
                self._spawn_now(program)
            except Exception:
                return False
        return True

    def _notify(self, program: Program, what: str) -> None:
        if program.on_change is not None:
            with contextlib.suppress(Exception):
                program.on_change(program, what)

    # -- stopping ----------------------------------------------------------------------------------------------
    def send(self, name: str, sig: int, *, hold: bool = True) -> Program:
        """Send ``sig`` to a program by PID; with ``hold`` it is not restarted until :meth:`revive`."""
        with self._lock:  # atomic with starts: the signal reaches the process on record, and it stays down
            program = self.programs[name]
            program.held = hold
            if program.running and program.popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(program.popen.pid, sig)
        return program

    def stop(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 10.0, hold: bool = True) -> int | None:
        """Signal a program and wait for it (SIGKILL after ``timeout``); returns its exit status."""
        program = self.send(name, sig, hold=hold)
        if program.popen is None:
            return None
        try:
            return program.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                program.popen.kill()
            return program.popen.wait(5)

    def close(self, order: Sequence[str] = ()) -> None:
        """Stop everything: the names in ``order`` first (in that order), then the rest, newest first."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            names = [n for n in order if n in self.programs]
            names += [n for n in reversed(list(self.programs)) if n not in names]
        for name in names:
            self.send(name, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for name in names:
            popen = self.programs[name].popen
            if popen is None:
                continue
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(5)
        self._requests.put(None)
        self._spawner.join(timeout=5)
        self._watchdog.join(timeout=5)

    def pids(self) -> dict[str, int | None]:
        return {name: (p.pid if p.running else None) for name, p in self.programs.items()}

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": p.name,
                "pid": p.pid if p.running else None,
                "netns": p.netns,
                "restarts": p.restarts,
                "held": p.held,
                "log": str(p.log),
            }
            for p in self.programs.values()
        ]


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (main thread only; elsewhere signals do not reach Python)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in pending[:1]:
            signal.raise_signal(signum)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (for failure reports)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


__all__ = ["DIE_WITH_PARENT", "RESTART_DELAY", "Program", "Supervisor", "signals_deferred", "tail"]
