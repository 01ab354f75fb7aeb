"""The Announcer in-process, inside a node's namespace: the API the speaker calls, end to end with a real client."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable

import pytest

from hack.lab.netns import Topology
from speaker.l2.announcer import Announcer, AnnouncerEvent
from speaker.l2.core.announce import AnnounceConfig
from speaker.l2.core.ownership import AddressAnnounced, Phase, Takeover
from speaker.l2.interfaces import LinkEvent, LinkEventKind

VIP4 = ipaddress.IPv4Address("198.51.100.7")
VIP6 = ipaddress.IPv6Address("2001:db8:100::7")


async def run_in(topo: Topology, role: str, *argv: str) -> str:
    """Run a command in a namespace without blocking the event loop the announcer answers from."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", topo.ns(role), *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    return out.decode()


@pytest.mark.netns
@pytest.mark.lab
async def test_announcer_api_in_a_namespace(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=1, router=False, client=True)
    node_mac = topo.hosts["node1"].mac
    events: list[AnnouncerEvent] = []
    # The whole body runs with this thread in node1: every socket the announcer opens, whenever, is there.
    with topo.entered("node1"):
        announcer = Announcer(announce=AnnounceConfig(rounds=2, interval=0.2), rescan_interval=0)
        unsubscribe = announcer.add_listener(events.append)
        # The speaker may set the table before start(): nothing is lost, it is announced once interfaces are up.
        announcer.set_owned({VIP4: None, VIP6: frozenset({"eth0"})}, takeover=Takeover.IMMEDIATE)
        await announcer.start()
        try:
            assert announcer.macs() == [node_mac]
            assert announcer.interfaces()["eth0"].up
            assert any(isinstance(e, LinkEvent) and e.kind is LinkEventKind.ADDED for e in events)
            assert announcer.phases() == {VIP4: Phase.ANNOUNCED, VIP6: Phase.ANNOUNCED}
            out = await run_in(topo, "client", "arping", "-I", "eth0", "-c", "2", "-W", "0.05", "-w", "3", str(VIP4))
            assert re.findall(r"bytes from ([0-9a-f:]{17})", out) == [node_mac] * 2
            out = await run_in(topo, "client", "ndisc6", "-n", "-r", "2", str(VIP6), "eth0")
            assert f"Target link-layer address: {node_mac.upper()}" in out
            await asyncio.sleep(0.5)  # let the second announcement round go out
            stats = announcer.read_stats()
            per_address = stats.per_address()
            assert per_address[VIP4].responses_sent == per_address[VIP4].requests_received >= 2
            assert per_address[VIP4].gratuitous_sent == 4  # 2 rounds x (request form + reply form)
            assert per_address[VIP6].gratuitous_sent == 2 and per_address[VIP6].responses_sent >= 1
            assert stats.socket_packets >= 3 and stats.socket_drops == 0
            # Give the address up with a grace period: answered during it, then not.
            announcer.release(VIP4, after=0.3)
            announcer.set_owned({VIP6: frozenset({"eth0"})})
            assert announcer.phases()[VIP4] is Phase.RELEASING
            for _ in range(100):
                if VIP4 not in announcer.phases():
                    break
                await asyncio.sleep(0.01)
            assert VIP4 not in announcer.phases()
            out = await run_in(topo, "client", "arping", "-I", "eth0", "-c", "1", "-w", "1", str(VIP4))
            assert "bytes from" not in out
            assert announcer.read_stats().dropped()  # that last request was counted as not owned
        finally:
            await announcer.stop()
            unsubscribe()
    assert [e.ip for e in events if isinstance(e, AddressAnnounced)] == [VIP4, VIP6]
