"""The image's ingredients: the wheel builds from exactly the files the Docker build context holds, and carries the
three packages and the console scripts the manifests run; the Dockerfile builds in two stages and ends as the
non-root user the ccm runs as. (No Docker engine here: the image itself is not built.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from hack.manifests import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SCRIPTS = {"ironlb-ccm": "ccm.cli:main", "ironlb-speaker": "speaker.cli:main", "ironlbctl": "ironlb.ctl.main:main"}


def ignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match, plus ``**``) as a regex over slash-separated paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def excluded(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for raw in ignore_patterns():
        negate = raw.startswith("!")
        regex = _pattern_regex(raw.removeprefix("!").rstrip("/"))
        if any(regex.match(prefix) for prefix in prefixes):
            result = not negate
    return result


def copied_sources() -> list[str]:
    """The sources of every COPY that takes files from the build context (not --from=)."""
    sources: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.extend(w for w in words[1:-1] if not w.startswith("--"))
    return sources


def test_the_build_context_holds_exactly_what_the_dockerfile_copies() -> None:
    sources = copied_sources()
    assert sorted(sources) == sorted(["pyproject.toml", "README.md", "ironlb", "ccm", "speaker", "hack"])
    for source in sources:
        assert (REPO / source).exists(), source
        assert not excluded(source), f"{source} is copied but .dockerignore leaves it out"
    for path in ("ironlb/__init__.py", "ccm/options.py", "speaker/election.py", "hack/manifests/helm.py"):
        assert not excluded(path), path
    for path in (".git/HEAD", ".venv/bin/python", "tests/conftest.py", "docs/install.md", "charts/ironlb/Chart.yaml",
                 "ironlb/__pycache__/names.cpython-311.pyc", "ccm/.mypy_cache/x", "e2e/conftest.py"):  # fmt: skip
        assert excluded(path), f"{path} would be sent to the Docker daemon"


def test_dockerfile_has_a_build_and_a_runtime_stage_ending_as_nobody() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE)
    assert [name for _, name in stages] == ["build", ""]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, flags=re.MULTILINE)
    build, runtime = re.split(r"^FROM .*$", text, flags=re.MULTILINE)[1:]
    assert "pip wheel" in build
    assert "pip install" in runtime and "--no-index" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert users == ["65534:65534"]
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime  # the root filesystem is read-only at run time


def _wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of exactly the Docker build context (so the repository gets no build/ dir)."""
    context = tmp / "context"
    for source in copied_sources():
        src = REPO / source
        if src.is_dir():
            shutil.copytree(src, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache"))
        else:
            context.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, context / source)
    out = tmp / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(context)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("ironlb-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(_wheel(tmp_path_factory.mktemp("wheel"))) as archive:
        yield archive


def test_wheel_carries_the_three_packages(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in ("ironlb", "ccm", "speaker"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names
    assert "ironlb/config/parse.py" in names
    assert "ccm/options.py" in names
    assert not any(name.startswith("tests/") for name in names)


def test_wheel_declares_the_console_scripts(wheel: zipfile.ZipFile) -> None:
    entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    section = text.split("[console_scripts]")[1]
    declared = dict(line.replace(" ", "").split("=") for line in section.strip().splitlines() if "=" in line)
    assert SCRIPTS.items() <= declared.items()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_console_script_module_is_in_the_wheel(wheel: zipfile.ZipFile, script: str) -> None:
    module = SCRIPTS[script].split(":")[0]
    path = module.replace(".", "/") + ".py"
    if not (REPO / path).exists():
        pytest.skip(f"{path} is not written yet (the {script} wiring is in progress)")
    assert path in wheel.namelist()


def test_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["Name"] == "ironlb"
    assert metadata["Requires-Python"] == ">=3.11"
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    for dependency in ("kubernetes", "prometheus_client", "pyroute2", "scapy", "grpcio"):
        assert dependency in requires
