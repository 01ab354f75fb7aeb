"""The gRPC status service: a real grpc.aio server on a unix socket (and on loopback TCP), read by the client
``ironlbctl status`` uses; and the snapshot builders that turn the speaker's parts into the reply."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from ironlb.ctl.status import fetch
from ironlb.rpc import status_pb2 as pb
from speaker.bgp.core.rib import RouteAttrs
from speaker.l2controller import Announcement
from speaker.membership import MemberInfo, MembershipView
from speaker.routetable import RouteTable
from speaker.status import snapshot
from speaker.status.grpc_server import StatusServer, socket_path
from speaker.view import ViewStats


def sample() -> pb.StatusResponse:
    table = RouteTable()
    table.set_peers(["router"])
    table.set_service(
        "default/web", {"router": {ipaddress.ip_network("198.51.100.5/32"): RouteAttrs(200, (65536 + 1,))}}
    )
    view = MembershipView.of("n1", [MemberInfo("n1", ("192.0.2.11", 7946), b'{"up":["eth0"],"macs":[]}')])
    response = pb.StatusResponse(node="n1", version="0.1.0")
    response.l2.extend(
        snapshot.l2_messages(
            [Announcement(ipaddress.ip_address("198.51.100.10"), ("default/a",), ("eth0",), 1.5, "new", "announced")]
        )
    )
    response.bgp.extend(snapshot.bgp_messages(table))
    response.membership.CopyFrom(
        snapshot.membership_message(enabled=True, source="membership", view=view, states={"n2": "failed"})
    )
    response.counters.extend(snapshot.counters(None, ViewStats(elections=3), {"x": 1.0}))
    return response


def test_snapshot_messages() -> None:
    r = sample()
    assert (r.l2[0].ip, list(r.l2[0].services), r.l2[0].phase, r.l2[0].cause) == (
        "198.51.100.10", ["default/a"], "announced", "new"
    )  # fmt: skip
    route = r.bgp[0].routes[0]
    assert (r.bgp[0].peer, route.prefix, route.local_pref, route.has_local_pref) == (
        "router",
        "198.51.100.5/32",
        200,
        True,
    )
    assert list(route.communities) == ["1:1"] and list(route.services) == ["default/web"]
    members = {m.name: m for m in r.membership.members}
    assert members["n1"].state == "alive" and members["n1"].address == "192.0.2.11:7946"
    assert members["n1"].metadata == '{"up":["eth0"],"macs":[]}'
    assert members["n2"].state == "failed"
    assert {c.name: c.value for c in r.counters}["ironlb_speaker_elections"] == 3


@pytest.mark.parametrize(
    ("address", "path"),
    [
        pytest.param("unix:///run/ironlb/speaker.sock", Path("/run/ironlb/speaker.sock"), id="absolute"),
        pytest.param("unix:relative.sock", Path("relative.sock"), id="relative"),
        pytest.param("127.0.0.1:9121", None, id="tcp"),
    ],
)
def test_socket_path(address: str, path: Path | None) -> None:
    assert socket_path(address) == path


async def test_status_over_a_unix_socket(tmp_path: Path) -> None:
    address = f"unix://{tmp_path}/sub/dir/speaker.sock"
    calls = []

    def snap() -> pb.StatusResponse:
        calls.append(1)
        return sample()

    server = StatusServer(address, snap)
    await server.start()
    try:
        got = await asyncio.to_thread(fetch, address)
        assert got == sample()
        assert calls == [1]
    finally:
        await server.stop()
    assert not (tmp_path / "sub/dir/speaker.sock").exists(), "the socket file is removed on stop"


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "speaker.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, as after a SIGKILL
    server = StatusServer(f"unix://{path}", sample)
    await server.start()
    try:
        assert (await asyncio.to_thread(fetch, f"unix://{path}")).node == "n1"
    finally:
        await server.stop()


async def test_status_over_loopback_tcp() -> None:
    server = StatusServer("127.0.0.1:0", sample)
    await server.start()
    try:
        assert (await asyncio.to_thread(fetch, f"127.0.0.1:{server.port}")).node == "n1"
    finally:
        await server.stop()
