"""Fixtures for ironlb-ccm's integration tests (the harness itself is in :mod:`tests.ccm.integration.harness`)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hack.lab.apiserver import ApiServerThread
from tests.ccm.integration.harness import CcmProcess, CcmThread, Cluster


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(**ApiServerThread kwargs)``: a fresh emulated cluster, stopped after the test."""
    made: list[tuple[Cluster, ApiServerThread, tempfile.TemporaryDirectory[str]]] = []

    def make(**kwargs: Any) -> Cluster:
        kwargs.setdefault("bookmark_interval", 1.0)
        workdir = tempfile.TemporaryDirectory(prefix="ccm-it-")
        api = ApiServerThread(**kwargs).start()
        cluster = Cluster(api, Path(workdir.name))
        made.append((cluster, api, workdir))
        return cluster

    yield make
    for cluster, api, workdir in made:
        cluster.close()
        api.stop()
        workdir.cleanup()


@pytest.fixture
def cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    return make_cluster()


@pytest.fixture
def run_ccm() -> Iterator[Callable[..., CcmThread]]:
    """``run_ccm(argv)``: an in-process ccm, stopped after the test."""
    started: list[CcmThread] = []

    def run(argv: list[str]) -> CcmThread:
        ccm = CcmThread(argv).start()
        started.append(ccm)
        return ccm

    yield run
    for ccm in started:
        ccm.stop()


@pytest.fixture
def spawn_ccm(tmp_path: Path) -> Iterator[Callable[..., CcmProcess]]:
    """``spawn_ccm(argv, name=...)``: an ``ironlb-ccm`` process (identity ``name``), stopped by PID afterwards."""
    spawned: list[CcmProcess] = []

    def spawn(argv: list[str], *, name: str | None = None) -> CcmProcess:
        name = name or f"ccm-{uuid.uuid4().hex[:6]}"
        proc = CcmProcess(argv, tmp_path / f"{name}.log", pod_name=name).start()
        spawned.append(proc)
        return proc

    yield spawn
    for proc in spawned:
        proc.stop()
