"""End-to-end suite over the emulated cluster in hack/lab (or a real cluster given a description); see e2e/README.md.

One lab serves the whole session (3 nodes, BIRD, the client and outside hosts): starting one takes a few seconds
of a shared two-core machine, and tests leave it as they found it. Each test works in its own namespace and its
own pools (distinct address blocks, :meth:`Target.block4`), and the fixtures below delete both afterwards and
undo faults (API server back, links up, held daemons restarted). Measured figures (outages, failovers) are
collected with the ``measure`` fixture and printed in a section of their own at the end of the run.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.target import DESCRIPTION_ENV, E2E_DIR, Config, LabTarget, Measure, Target, make_target
from hack.lab.cluster import speaker_available
from hack.lab.kubeapi import wait_for
from hack.lab.netns import have_netns_privileges

_MEASUREMENTS: list[str] = []
_TARGET: list[Target] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
            if not os.environ.get(DESCRIPTION_ENV):
                item.add_marker(pytest.mark.netns)
                item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    if not os.environ.get(DESCRIPTION_ENV):
        if not have_netns_privileges():
            pytest.skip("the lab needs root and network namespaces (or set IRONLB_E2E_CLUSTER, see e2e/README.md)")
        if not speaker_available():
            pytest.skip("ironlb-speaker is not available here (speaker/cli.py, speaker/app.py)")
    made = make_target()
    _TARGET.append(made)
    yield made
    _TARGET.clear()
    if isinstance(made, LabTarget):
        made.close()


@pytest.fixture
def measure() -> Measure:
    """``measure("L2 node failure: ...")`` records a figure for the summary at the end of the run."""
    return _MEASUREMENTS.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _MEASUREMENTS:
        terminalreporter.section("ironlb end-to-end measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.failed and _TARGET and isinstance(_TARGET[0], LabTarget):
        lab = _TARGET[0].lab("logs")
        for name in ("ccm-1", "ccm-2", *(f"speaker-{n}" for n in lab.nodes), "control-plane"):
            report.sections.append((f"lab log {name}", lab.logs(name, 30)))
    del call


@pytest.fixture
def config(target: Target) -> Iterator[Config]:
    made = Config(target)
    yield made
    target.heal()
    made.cleanup()


@pytest.fixture
def ns(request: pytest.FixtureRequest, target: Target) -> Iterator[str]:
    """A namespace of the test's own, deleted (and waited for) afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"e2e-{slug}-{uuid.uuid4().hex[:4]}"
    target.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    target.heal()
    target.kube.delete("v1", "Namespace", name)
    wait_for(
        lambda: target.kube.get("v1", "Namespace", name) is None,
        timeout=60,
        what=f"namespace {name} to be deleted (its LoadBalancer Services' finalizers released)",
    )


@pytest.fixture(autouse=True)
def _heal(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "target" in request.fixturenames and _TARGET:
        _TARGET[0].heal()
