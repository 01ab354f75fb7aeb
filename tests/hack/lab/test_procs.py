"""The lab's process table: start, restart like a kubelet, hold down, stop, close (with plain ``sleep`` processes)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from hack.lab.kubeapi import wait_for
from hack.lab.procs import DIE_WITH_PARENT, Program, Supervisor, tail


def _sleeper(tmp_path: Path, name: str, *, restart: bool = True) -> Program:
    return Program(name, ["sleep", "60"], None, tmp_path / f"{name}.log", restart=restart)


def _alive(program: Program) -> bool:
    return program.running


def _restarted(program: Program, first_pid: int) -> bool:
    return program.running and program.pid != first_pid


def test_exited_programs_restart_unless_held(tmp_path: Path) -> None:
    sup = Supervisor()
    try:
        seen: list[str] = []
        program = _sleeper(tmp_path, "a")
        program.on_change = lambda p, what: seen.append(what)
        sup.start(program)
        first = program.pid
        assert first is not None and _alive(program)
        sup.send("a", signal.SIGKILL, hold=False)
        wait_for(lambda: _restarted(program, first), timeout=10, what="a restarted")
        assert program.restarts == 1
        assert seen[:3] == ["started", "exited", "started"]

        status = sup.stop("a", sig=signal.SIGTERM)
        assert status == -signal.SIGTERM
        time.sleep(1.5)  # longer than the restart delay: held programs stay down
        assert not _alive(program)
        sup.revive("a")
        assert _alive(program)
    finally:
        sup.close()
    assert not _alive(program)


def test_close_stops_everything_in_order(tmp_path: Path) -> None:
    sup = Supervisor()
    programs = [sup.start(_sleeper(tmp_path, n, restart=False)) for n in ("x", "y", "z")]
    assert all(p.running for p in programs)
    sup.close(order=["z"])
    assert not any(p.running for p in programs)
    sup.close()  # idempotent
    assert "ironlb-lab starts: sleep 60" in tail(tmp_path / "x.log")


def test_children_die_with_the_lab() -> None:
    assert DIE_WITH_PARENT[:3] == ["setpriv", "--pdeathsig", "KILL"]
    program = Program("p", ["true"], "ns1", Path("/dev/null"))
    assert program.command() == [*DIE_WITH_PARENT, "ip", "netns", "exec", "ns1", "true"]
