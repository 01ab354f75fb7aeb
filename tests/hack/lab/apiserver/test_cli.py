"""``ironlb-lab apiserver``: starts, writes a kubeconfig kubectl can use (HTTPS, RBAC), stops on SIGTERM."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hack.lab import cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_apiserver_command_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    port = _free_port()
    exe = shutil.which("ironlb-lab", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "hack.lab.cli"]
    proc = subprocess.Popen(
        [
            *argv,
            "apiserver",
            "--listen",
            f"127.0.0.1:{port}",
            "--kubeconfig",
            str(kubeconfig),
            "--tls",
            "--rbac",
            "--history-window",
            "100",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no kubeconfig written"
            time.sleep(0.05)
        version = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                "version",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        server = json.loads(version.stdout)["serverVersion"]
        assert (server["major"], server["minor"]) == ("1", "30")
        namespaces = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                "get",
                "ns",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "namespace/kube-system" in namespaces.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert code == 0


def test_subcommands_are_registered_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--x")

    def run(args: argparse.Namespace) -> int:
        calls.append(args.x)
        return 0

    cli.register(cli.Command("probe", "a test command", configure, run))
    try:
        assert cli.main(["probe", "--x", "1"]) == 0
        assert calls == ["1"]
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        assert "apiserver" in capsys.readouterr().out
    finally:
        cli.COMMANDS.pop("probe", None)
