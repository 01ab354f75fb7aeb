"""Reviving a held program starts exactly one process, even when the watchdog polls in the middle of the start.

The e2e failure this pins down: the node-failure test held node3's speaker down, ``heal()`` revived it, and the
watchdog's poll ran while the spawn was under way (the program no longer held, its old process still the one on
record), so it started the speaker a second time. The first process went untracked; the next test's SIGKILL hit
the tracked one, the untracked one kept announcing, and no other node took the address over (the test gave up
after 15 s). A slow spawn (a loaded machine) makes the race certain instead of occasional.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from hack.lab.procs import RESTART_DELAY, Program, Supervisor

#: longer than the watchdog's poll (0.25 s), so that a poll always lands inside the start
SLOW_SPAWN = 0.4


class SlowSupervisor(Supervisor):
    """A supervisor on a loaded machine: every spawn takes a while; records every PID it started."""

    def __init__(self) -> None:
        self.spawned: list[int] = []
        super().__init__()

    def _spawn(self, program: Program) -> None:
        time.sleep(SLOW_SPAWN)
        super()._spawn(program)
        assert program.pid is not None
        self.spawned.append(program.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child that exited but was not reaped yet is not alive either
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_revive_during_a_watchdog_poll_starts_one_process(tmp_path: Path) -> None:
    sup = SlowSupervisor()
    try:
        program = sup.start(Program("speaker", ["sleep", "60"], None, tmp_path / "speaker.log"))
        sup.stop("speaker", sig=signal.SIGKILL)  # held, as Lab.kill_node and Lab.stop_speaker do
        time.sleep(RESTART_DELAY + 0.5)  # the watchdog has seen the exit long enough ago to restart it
        sup.revive("speaker")  # as the e2e heal() does
        time.sleep(4 * 0.25 + SLOW_SPAWN)  # several watchdog polls
        alive = [pid for pid in sup.spawned if _alive(pid)]
        assert alive == [program.pid], f"started {sup.spawned}, alive {alive}, tracked {program.pid}"
        assert program.restarts == 1
        sup.stop("speaker", sig=signal.SIGKILL)
        assert not any(_alive(pid) for pid in sup.spawned), "a SIGKILL of the program leaves no process behind"
    finally:
        sup.close()
        for pid in sup.spawned:  # only if the test failed: kill what it started, by PID
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_program_killed_during_a_start_is_not_restarted_twice(tmp_path: Path) -> None:
    """The watchdog restarts only the process it saw exit: a restart it races with does not double it."""
    sup = SlowSupervisor()
    try:
        program = sup.start(Program("ccm", ["sleep", "60"], None, tmp_path / "ccm.log"))
        first = program.pid
        sup.send("ccm", signal.SIGKILL, hold=False)  # comes back after RESTART_DELAY, like a crashed container
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (program.running and program.pid != first):
            time.sleep(0.05)
        time.sleep(4 * 0.25 + SLOW_SPAWN)
        alive = [pid for pid in sup.spawned if _alive(pid)]
        assert alive == [program.pid] and program.pid != first, (sup.spawned, alive)
        assert program.restarts == 1
    finally:
        sup.close()
        for pid in sup.spawned:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
