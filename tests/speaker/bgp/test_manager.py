"""The asyncio manager, for real: two BgpManagers peer with each other over 127.0.0.1 (plain localhost TCP).

Both connect and both listen, so every session set-up is a real connection collision. Timers are short (hold
3 s, connect retry 0.2 s); waits poll for a condition with a generous limit, and nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from loguru import logger
from prometheus_client import CollectorRegistry

from ironlb.config.model import BGPPeer
from speaker.bgp.core.rib import RouteAttrs, routes_from
from speaker.bgp.manager import BgpManager, SessionStatus
from speaker.bgp.metrics import BgpMetrics

LOCALHOST = ipaddress.IPv4Address("127.0.0.1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(condition: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Side:
    def __init__(self, name: str, asn: int, router_id: str, port: int) -> None:
        self.name, self.asn, self.router_id, self.port = name, asn, ipaddress.IPv4Address(router_id), port
        self.registry = CollectorRegistry()
        self.manager = BgpManager(
            listen_port=port,
            metrics=BgpMetrics(self.registry),
            connect_retry=0.2,
            connect_retry_max=1.0,
            shutdown_wait=0.3,
        )
        self.changes: list[tuple[str, bool]] = []
        self.manager.subscribe(lambda peer, up: self.changes.append((peer, up)))

    def peer_to(self, other: Side, **extra: object) -> BGPPeer:
        return BGPPeer(
            name=f"to-{other.name}",
            my_asn=self.asn,
            peer_asn=other.asn,
            peer_address=LOCALHOST,
            peer_port=other.port,
            router_id=self.router_id,
            hold_time=3,
            **extra,  # type: ignore[arg-type]
        )

    def status(self) -> SessionStatus:
        (status,) = self.manager.status()
        return status

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def received_from(self, other: Side, code: str) -> float | None:
        """NOTIFICATIONs ``code`` ("6/10") received from ``other``: a counter, unlike ``last_error``, which a
        reconnect that fails right after can overwrite before a poll sees it."""
        labels = {"peer": f"127.0.0.1:{other.port}", "direction": "received", "code": code}
        return self.metric("ironlb_bgp_notifications_total", **labels)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Side, Side]]:
    a = Side("a", 64513, "192.0.2.11", free_port())
    b = Side("b", 64512, "192.0.2.1", free_port())
    await a.manager.start()
    await b.manager.start()
    yield a, b
    for side in (a, b):
        with contextlib.suppress(Exception):
            await side.manager.shutdown(graceful=False, restarting=False)


async def peered(a: Side, b: Side, **extra: object) -> None:
    a.manager.set_peers([a.peer_to(b, **extra)], "node-a")
    b.manager.set_peers([b.peer_to(a, **extra)], "node-b")
    await until(lambda: a.status().state == "Established" and b.status().state == "Established", "Established")


async def test_two_managers_peer_advertise_and_withdraw(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.manager.set_routes(
        {"to-b": routes_from(["198.51.100.1/32", "2001:db8:100::1/128"], RouteAttrs(communities=(1,)))}
    )
    await peered(a, b)
    await until(lambda: b.status().prefixes_received == 2, "both prefixes at b")
    status = a.status()
    assert sorted(status.advertised) == ["198.51.100.1/32", "2001:db8:100::1/128"]
    assert (status.peer_asn, status.hold_time, status.keepalive_time) == (64512, 3, 1)
    assert status.families == ("ipv4-unicast", "ipv6-unicast")
    label = f"127.0.0.1:{b.port}"
    assert a.metric("metallb_bgp_session_up", peer=label) == 1
    assert a.metric("metallb_bgp_announced_prefixes_total", peer=label) == 2
    assert a.metric("metallb_bgp_pending_prefixes_total", peer=label) == 0
    assert (a.metric("metallb_bgp_updates_total", peer=label) or 0) >= 2
    assert b.metric("ironlb_bgp_dropped_total", peer=f"127.0.0.1:{a.port}", reason="received_route_ignored") == 2
    assert ("to-b", True) in a.changes
    a.manager.set_routes({"to-b": {}})
    await until(lambda: a.status().advertised == (), "withdrawal")
    assert a.metric("metallb_bgp_announced_prefixes_total", peer=label) == 0


async def test_bfd_peer_down_drops_the_session_at_once_and_it_comes_back(pair: tuple[Side, Side]) -> None:
    a, b = pair
    await peered(a, b)
    a.manager.peer_down("to-b", "BFD session down")
    await until(lambda: b.received_from(a, "6/10") == 1, "b to see Cease / BFD Down")
    assert ("to-b", False) in a.changes
    await until(lambda: a.status().state == "Established", "the session to come back")


async def test_a_changed_peer_restarts_and_a_removed_one_says_deconfigured(pair: tuple[Side, Side]) -> None:
    a, b = pair
    await peered(a, b)
    a.manager.set_peers([replace(a.peer_to(b), hold_time=6)], "node-a")
    await until(lambda: a.status().state == "Established" and a.status().hold_time == 3, "re-establishment")
    await until(lambda: b.received_from(a, "6/6") == 1, "b to see Cease / Other Configuration Change")
    a.manager.set_peers([], "node-a")
    await until(lambda: b.received_from(a, "6/3") == 1, "b to see Cease / Peer Deconfigured")
    assert a.manager.status() == []


async def test_tcp_md5_with_the_same_password_peers(pair: tuple[Side, Side]) -> None:
    a, b = pair
    await peered(a, b, password="s3cret-key")


async def test_tcp_md5_with_different_passwords_never_peers_and_says_why(pair: tuple[Side, Side]) -> None:
    a, b = pair
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        a.manager.set_peers([a.peer_to(b, password="pw-alpha-1")], "node-a")
        b.manager.set_peers([b.peer_to(a, password="pw-bravo-2")], "node-b")
        await until(lambda: any("MD5" in line for line in lines), "the MD5 warning", limit=20)
    finally:
        logger.remove(sink)
    assert a.status().state != "Established" and b.status().state != "Established"
    assert "pw-alpha-1" not in "".join(lines) and "pw-bravo-2" not in "".join(lines)  # passwords are never logged
    assert "pw-alpha-1" not in repr(a.peer_to(b, password="pw-alpha-1"))
    assert any("MD5 signature did not match" in line for line in lines)  # the kernel counted the drops


async def test_a_planned_shutdown_drains_and_says_so(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.manager.set_routes({"to-b": routes_from(["198.51.100.1/32"])})
    await peered(a, b)
    await a.manager.shutdown(graceful=True, restarting=True)
    said = "NOTIFICATION Cease / Administrative Shutdown: 'speaker shutting down'"
    await until(lambda: said in b.status().last_error, "b to get the shutdown message")
