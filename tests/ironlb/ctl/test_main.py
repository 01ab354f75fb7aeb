"""``ironlbctl`` itself: subcommands are discovered from modules, and the help reads well."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ironlb.ctl.command import Command
from ironlb.ctl.main import build_parser, discover, main


def test_subcommands_are_discovered_from_their_modules() -> None:
    commands = discover()
    assert [c.name for c in commands] == sorted(c.name for c in commands)
    assert {"validate", "convert"} <= {c.name for c in commands}
    assert all(isinstance(c, Command) and c.summary and c.description for c in commands)


def test_a_new_module_is_a_new_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    """What adding ironlb/ctl/status.py does: its COMMAND appears, nothing else changes."""
    import ironlb.ctl.validate as validate_module

    extra = Command(name="zz-extra", summary="x", description="y", add_arguments=lambda p: None, run=lambda a: 7)
    monkeypatch.setattr(validate_module, "COMMAND", extra)
    assert "zz-extra" in [c.name for c in discover()]
    assert main(["zz-extra"]) == 7


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ironlbctl")
    for word in ("validate", "convert", "metallb.io", "legacy ConfigMap", "COMMAND --help"):
        assert word in out


@pytest.mark.parametrize("command", ["validate", "convert"])
def test_subcommand_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ironlbctl {command}")
    assert "examples:" in out and "FILE" in out and "--namespace" in out


def test_no_subcommand_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: ironlbctl" in capsys.readouterr().err


def test_every_command_has_its_own_parser() -> None:
    parser = build_parser(discover())
    args = parser.parse_args(["validate", "a.yaml", "b.yaml"])
    assert args.files == ["a.yaml", "b.yaml"] and args.namespace == "metallb-system"


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ironlb.ctl.main", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0 and "ironlbctl" in done.stdout
