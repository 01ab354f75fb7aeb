"""``ironlbctl status``: reads a speaker's gRPC status service and prints it for people or for scripts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ironlb.ctl.main import main
from ironlb.ctl.status import to_json, to_text
from ironlb.rpc import status_pb2 as pb
from speaker.status.grpc_server import StatusServer


def response() -> pb.StatusResponse:
    r = pb.StatusResponse(node="node1", version="0.1.0", uptime_seconds=42)
    r.config.CopyFrom(pb.ConfigState(loaded=True, pools=2, peers=1))
    r.l2.add(ip="198.51.100.10", services=["default/web"], interfaces=["eth0"], phase="announced", cause="failover")
    bgp = r.bgp.add(peer="router")
    bgp.routes.add(prefix="198.51.100.140/32", communities=["65000:1"], services=["default/b"])
    r.bgp_sessions.add(peer="router", address="192.0.2.1:179", state="Established", local_asn=64513, peer_asn=64512)
    r.bfd_sessions.add(peer="192.0.2.1", local="192.0.2.11", profile="fast", state="up", detection_time_ms=300)
    r.membership.CopyFrom(pb.Membership(enabled=True, source="membership", local="node1"))
    r.membership.members.add(name="node1", address="192.0.2.11:7946", state="alive", metadata='{"up":["eth0"]}')
    r.membership.members.add(name="node2", state="failed")
    r.counters.add(name="metallb_layer2_responses_sent", labels={"ip": "198.51.100.10"}, value=3)
    return r


def test_text_has_one_section_per_part() -> None:
    text = to_text(response())
    assert text.startswith("Node node1  (ironlb-speaker 0.1.0, up 42s)\nConfiguration: valid; 2 pools, 1 BGP peers")
    for needle in (
        "Layer 2 announcements (1):",
        "198.51.100.10  announced  default/web  eth0        failover",
        "BGP advertisements (1 routes):",
        "router  198.51.100.140/32  -           65000:1",
        "BGP sessions (1):",
        "Established",
        "BFD sessions (1):",
        "Membership (membership, 1 alive):",
        "node2  -                failed",
        "metallb_layer2_responses_sent  ip=198.51.100.10  3",
    ):
        assert needle in text, needle


def test_json_is_protobufs_mapping_with_every_field() -> None:
    data = json.loads(to_json(response()))
    assert data["l2"][0]["ip"] == "198.51.100.10"
    assert data["bgpSessions"][0]["state"] == "Established"
    assert data["l2"][0]["sinceUnix"] == 0, "fields at their default are printed too"


async def test_the_command_reads_a_running_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"unix://{tmp_path}/s.sock"
    server = StatusServer(address, response)
    await server.start()
    try:
        code = await asyncio.to_thread(main, ["status", "--address", address, "-o", "json"])
    finally:
        await server.stop()
    assert code == 0
    assert json.loads(capsys.readouterr().out)["node"] == "node1"


def test_an_unreachable_speaker_is_a_sentence_and_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--address", f"unix://{tmp_path}/absent.sock", "--timeout", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"ironlbctl status: cannot read the speaker's status at unix://{tmp_path}/absent.sock")
    assert "check that the speaker runs" in err
