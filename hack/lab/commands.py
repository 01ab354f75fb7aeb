"""``ironlb-lab up | down | status | exec | kubectl`` for people, and the programs the lab runs internally.

``up`` starts a lab in the background (a detached ``ironlb-lab run`` process that owns it) and prints how to use
it; its state lives in ``.lab/`` at the top of the repository (gitignored): ``state.json``, the admin kubeconfig,
every program's log. ``down`` stops that process, which tears everything down, then sweeps anything a killed run
left behind. ``exec node1 ip route`` runs a command on a lab host; ``kubectl get svc`` runs kubectl with the
lab's admin kubeconfig.

Internal subcommands (run by the lab itself): ``run`` (own a lab in the foreground until SIGTERM/SIGINT),
``lab-apiserver``, ``node-agent``, ``control-plane``, ``backend`` (:mod:`hack.lab.bare`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hack.lab import agents, apiproc, bare
from hack.lab.cli import Command, register

REPO = Path(__file__).resolve().parents[2]
#: ``.lab/`` at the top of the repository (gitignored); ``$IRONLB_LAB_DIR`` elsewhere (tests use their own)
STATE_DIR = Path(os.environ.get("IRONLB_LAB_DIR") or REPO / ".lab")
STATE = STATE_DIR / "state.json"


def _read_state() -> dict[str, Any] | None:
    try:
        data = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lab_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=3, help="how many nodes (1-7; default 3)")
    p.add_argument("--router", choices=("bird", "frr", "none"), default="bird", help="the upstream router (bird)")
    p.add_argument("--peering", choices=("dynamic", "static"), default="dynamic", help="router neighbours")
    p.add_argument("--no-speakers", action="store_true", help="do not start ironlb-speaker")
    p.add_argument(
        "--node-monitor-grace-period", type=float, default=40.0, metavar="S", help="node lifecycle grace (40)"
    )
    p.add_argument("--log-level", default="info", help="ironlb daemons' log level (info)")


# --------------------------------------------------------------------------------------------------- run


def _configure_run(p: argparse.ArgumentParser) -> None:
    _lab_options(p)
    p.add_argument("--state-dir", type=Path, default=STATE_DIR)


def _run(args: argparse.Namespace) -> int:
    from hack.lab.cluster import Lab, LabOptions

    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    workdir = state_dir / "run"
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    options = LabOptions(
        nodes=args.nodes,
        router=args.router,
        peering=args.peering,
        speakers=False if args.no_speakers else None,
        node_monitor_grace=args.node_monitor_grace_period,
        log_level=args.log_level,
        workdir=workdir,
    )
    stop = {"signal": 0}

    def on_signal(signum: int, frame: object) -> None:
        stop["signal"] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    lab = Lab(options)
    state_file = state_dir / "state.json"
    try:
        lab.up()
        state = lab.describe() | {"ready": True}
        state_file.write_text(json.dumps(state, indent=2))
        print("lab ready", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("lab stopping", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        lab.down()
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
    return 0


# --------------------------------------------------------------------------------------------------- up / down


def _configure_up(p: argparse.ArgumentParser) -> None:
    _lab_options(p)


def _usage(state: dict[str, Any]) -> str:
    nodes = ", ".join(state["nodes"])
    return f"""\
The lab is up: {len(state["nodes"])} nodes ({nodes}), router {state["router"]}, client and outside hosts.
ironlb-speaker: {"running on every node" if state["speakers"] else "NOT running (not available yet)"}.

  ironlb-lab kubectl get nodes,pods -A            kubectl with the lab's admin kubeconfig
  ironlb-lab exec client curl http://198.51.100.1/ a command on a lab host: {", ".join(state["hosts"])}
  ironlb-lab exec router ip route                 the router's kernel routes (BGP)
  ironlb-lab status                               what runs, where, and its logs
  ironlb-lab down                                 remove everything

  export KUBECONFIG={state["kubeconfig"]}
Addresses you can give pools: 198.51.100.0/24 and 2001:db8:100::/64 (the client has on-link routes to both).
The nodes peer with the router as AS 64513 -> 192.0.2.1 AS 64512 (BGPPeer peerAddress 192.0.2.1).
Logs: {Path(state["workdir"]) / "logs"}"""


def _up(args: argparse.Namespace) -> int:
    from hack.lab.netns import sweep_stale

    state = _read_state()
    if state and _alive(int(state["pid"])):
        print(f"a lab is already up (pid {state['pid']}); `ironlb-lab down` first", file=sys.stderr)
        return 1
    for name in sweep_stale():
        print(f"removed a stale namespace from a killed run: {name}")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        STATE.unlink()
    argv = [sys.executable, "-m", "hack.lab.cli", "run", "--state-dir", str(STATE_DIR)]
    argv += ["--nodes", str(args.nodes), "--router", args.router, "--peering", args.peering]
    argv += ["--node-monitor-grace-period", str(args.node_monitor_grace_period), "--log-level", args.log_level]
    if args.no_speakers:
        argv.append("--no-speakers")
    log = STATE_DIR / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
        )
    print(f"starting the lab (pid {proc.pid}; log {log}) ...", flush=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = _read_state()
        if state and state.get("ready"):
            print(_usage(state))
            return 0
        if proc.poll() is not None:
            print(f"the lab failed to start:\n{log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print("the lab did not come up within 180 s; stopping it", file=sys.stderr)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return 1


def _configure_down(p: argparse.ArgumentParser) -> None:
    del p


def _down(args: argparse.Namespace) -> int:
    from hack.lab.netns import sweep_stale

    del args
    state = _read_state()
    if state and _alive(int(state["pid"])):
        pid = int(state["pid"])
        print(f"stopping the lab (pid {pid}) ...", flush=True)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            print("it did not stop within 60 s: killing it", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
    elif state is None:
        print("no lab is up")
    with contextlib.suppress(FileNotFoundError):
        STATE.unlink()
    for name in sweep_stale():
        print(f"removed {name}")
    return 0


# --------------------------------------------------------------------------------------------- status, exec, kubectl


def _configure_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the state as JSON")


def _running_state() -> dict[str, Any]:
    state = _read_state()
    if not state or not _alive(int(state["pid"])):
        raise SystemExit("no lab is up: start one with `ironlb-lab up`")
    return state


def _status(args: argparse.Namespace) -> int:
    state = _running_state()
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    print(f"lab pid {state['pid']}, run {state['run_id']}, API {state['api']}, router {state['router']}")
    for program in state["programs"]:
        alive = program["pid"] is not None and _alive(int(program["pid"]))
        where = program["netns"] or "root namespace"
        print(f"  {program['name']:<22} {'running' if alive else 'STOPPED':<8} pid {program['pid']}  in {where}")
    subprocess.run(
        ["kubectl", "--kubeconfig", state["kubeconfig"], "get", "nodes,pods", "-A", "-o", "wide"], check=False
    )
    return 0


def _configure_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", help="node1.., client, router, outside, api, lan")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command and its arguments")


def _exec(args: argparse.Namespace) -> int:
    state = _running_state()
    hosts = state["hosts"]
    if args.host not in hosts:
        raise SystemExit(f"{args.host!r} is not a lab host; use one of {', '.join(hosts)}")
    cmd = args.cmd or ["bash"]
    return subprocess.call(["ip", "netns", "exec", hosts[args.host], *cmd])


def _configure_kubectl(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER, help="kubectl's arguments")


def _kubectl(args: argparse.Namespace) -> int:
    state = _running_state()
    return subprocess.call(["kubectl", "--kubeconfig", state["kubeconfig"], *args.args])


for _command in (
    Command("up", "start a lab in the background and print how to use it", _configure_up, _up),
    Command("down", "stop the lab and remove everything it started", _configure_down, _down),
    Command("status", "what the lab runs, and its nodes and pods", _configure_status, _status),
    Command("exec", "run a command on a lab host: exec node1 ip addr", _configure_exec, _exec),
    Command("kubectl", "kubectl with the lab's admin kubeconfig", _configure_kubectl, _kubectl),
    Command("run", "(internal) own a lab in the foreground until SIGTERM/SIGINT", _configure_run, _run),
    Command(
        "lab-apiserver", "(internal) the API emulator with SIGUSR1/SIGUSR2 down/up", apiproc.configure, apiproc.run
    ),
    Command(
        "node-agent",
        "(internal) a node's kubelet + kube-proxy stand-ins",
        agents.configure_node_agent,
        agents.run_node_agent,
    ),
    Command(
        "control-plane", "(internal) controller stand-ins", agents.configure_control_plane, agents.run_control_plane
    ),
    Command("backend", "(internal) a bare lab node's local backend", bare.configure_backend, bare.run_backend),
):
    register(_command)

__all__ = ["STATE", "STATE_DIR"]
