"""Fixtures shared by every test folder.

``topology`` builds network-namespace topologies with :mod:`hack.lab.netns` and always tears them down; tests that
use it are skipped where namespaces cannot be created (not root).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
import scapy.sendrecv

from hack.lab.netns import Topology, have_netns_privileges, sweep_stale


def _refuse_scapy_io(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("scapy tried to send or sniff in a test: give every Ether() an explicit dst=")


# scapy builds and parses frames in tests; it must never send or sniff. It fills a missing ``Ether(dst=...)`` by
# resolving the next hop - an ARP request or neighbour solicitation on the machine's own interface, from the root
# namespace. Packets leave only from namespaces, through our own sockets; any slip fails loudly here instead.
scapy.sendrecv.SndRcvHandler.__init__ = _refuse_scapy_io  # type: ignore[method-assign]  # sr, srp, sr1, srp1
scapy.sendrecv.__dict__["__gen_send"] = _refuse_scapy_io  # send, sendp
scapy.sendrecv.AsyncSniffer._run = _refuse_scapy_io  # type: ignore[method-assign]  # sniff

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
