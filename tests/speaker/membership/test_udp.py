"""The asyncio adapter on real UDP sockets, each opened inside its own network namespace (node1..node3).

All three endpoints run in this test's event loop; only their sockets live in the namespaces (opened with
``topo.entered``), so packets cross the lab bridge for real. Waits poll with generous limits that only guard
against hanging: speed is measured by hack/bench/bench_membership.py, not asserted here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from hack.lab.netns import Topology
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.events import MemberFailed, MemberLeft, MembershipEvent
from speaker.membership.core.protocol import Membership
from speaker.membership.metrics import MembershipMetrics
from speaker.membership.udp import MembershipEndpoint
from tests.speaker.membership.helpers import EPOCH, KEY

PORT = 7946
pytestmark = pytest.mark.netns


def _socket_in(topo: Topology, role: str) -> socket.socket:
    address = topo.hosts[role].addr4
    assert address is not None
    with topo.entered(role):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, PORT))
    sock.setblocking(False)
    return sock


async def _until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, "condition not reached (hang guard, not a speed check)"
        await asyncio.sleep(0.02)


async def _cluster(
    topo: Topology, roles: list[str]
) -> tuple[dict[str, MembershipEndpoint], dict[str, list[MembershipEvent]], CollectorRegistry]:
    endpoints: dict[str, MembershipEndpoint] = {}
    events: dict[str, list[MembershipEvent]] = {role: [] for role in roles}
    registry = CollectorRegistry()
    for index, role in enumerate(roles):
        address = topo.hosts[role].addr4
        assert address is not None
        core = Membership(
            name=role, address=(address, PORT), epoch=EPOCH + index, keys=[KEY], config=MembershipConfig()
        )
        endpoints[role] = await MembershipEndpoint.open(
            core,
            sock=_socket_in(topo, role),
            on_event=events[role].append,
            metrics=MembershipMetrics(registry) if index == 0 else None,
        )
    seeds = [(topo.hosts[r].addr4 or "", PORT) for r in roles]
    for endpoint in endpoints.values():
        endpoint.join(seeds)
    await _until(lambda: all(e.view().alive() == set(roles) for e in endpoints.values()))
    return endpoints, events, registry


async def test_endpoints_join_then_detect_a_silent_node_and_a_leave(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=3, router=False, client=False)
    roles = ["node1", "node2", "node3"]
    endpoints, events, registry = await _cluster(topo, roles)
    assert registry.get_sample_value("ironlb_membership_members", {"state": "alive"}) == 3.0
    assert endpoints["node1"].local_address == ("192.0.2.11", PORT)

    endpoints["node3"].close()  # the socket and timers are gone: node3 falls silent, as if killed
    await _until(
        lambda: all(any(isinstance(e, MemberFailed) and e.name == "node3" for e in events[r]) for r in roles[:2])
    )
    failure = next(e for e in events["node1"] if isinstance(e, MemberFailed) and e.name == "node3")
    assert failure.detected_by in {"node1", "node2"}
    assert endpoints["node1"].view().alive() == {"node1", "node2"}
    assert registry.get_sample_value("ironlb_membership_failures_detected_total") == 1.0

    await endpoints["node2"].leave()
    await _until(lambda: any(isinstance(e, MemberLeft) and e.name == "node2" for e in events["node1"]))
    assert endpoints["node1"].view().alive() == {"node1"}
    assert not any(isinstance(e, MemberFailed) and e.name == "node2" for e in events["node1"])
    await endpoints["node2"].wait_closed()
    endpoints["node1"].close()
    await endpoints["node1"].wait_closed()


async def test_new_metadata_reaches_the_other_endpoints(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=2, router=False, client=False)
    endpoints, _, _ = await _cluster(topo, ["node1", "node2"])
    endpoints["node2"].set_metadata(b'{"eth0":false}')
    await _until(lambda: endpoints["node1"].view().metadata("node2") == b'{"eth0":false}')
    for endpoint in endpoints.values():
        endpoint.close()
