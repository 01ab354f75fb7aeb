"""Fixtures shared by every test folder.

``topology`` builds network-namespace topologies with :mod:`hack.lab.netns` and always tears them down; tests that
use it are skipped where namespaces cannot be created (not root).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hack.lab.netns import Topology, have_netns_privileges, sweep_stale

requires_netns = pytest.mark.skipif(not have_netns_privileges(), reason="needs root and iproute2 for namespaces")


def pytest_sessionstart(session: pytest.Session) -> None:
    if have_netns_privileges():
        sweep_stale()


@pytest.fixture
def topology() -> Iterator[Callable[..., Topology]]:
    """A factory: ``topology(nodes=2, outside=True)`` returns a live :class:`Topology`, removed after the test."""
    if not have_netns_privileges():
        pytest.skip("needs root and iproute2 for network namespaces")
    made: list[Topology] = []

    def make(**kwargs: Any) -> Topology:
        topo = Topology.standard(**kwargs).up()
        made.append(topo)
        return topo

    yield make
    for topo in made:
        topo.down()
