"""Golden scenarios (style anchor 12d): a session replays input events from JSON lines; its outputs must match.

``tests/data/bgp/golden/<name>.in.jsonl`` holds one input per line, at a fake time ``at``::

    {"at": 0, "op": "start"}                      {"at": 0, "op": "connection_made"}
    {"at": 0, "op": "receive", "message": {"type": "open", "asn": 64512, "hold": 9}}
    {"at": 1, "op": "receive", "hex": "ffff..."}   {"at": 2, "op": "set_routes", "routes": {"198.51.100.1/32": {}}}
    {"at": 9, "op": "advance"}                    {"at": 9, "op": "stop", "graceful": true, "message": "bye"}

``advance`` fires every timer due up to ``at``. ``<name>.out.jsonl`` holds, per step, the events and the
messages sent (decoded, with their hex), then a final snapshot of the session. Regenerate after a deliberate
change with ``IRONLB_UPDATE_GOLDEN=1 pytest tests/speaker/bgp/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import os
from pathlib import Path
from typing import Any

import pytest

from speaker.bgp.core.capabilities import Multiprotocol, RouteRefresh
from speaker.bgp.core.events import Event
from speaker.bgp.core.messages import (
    Keepalive,
    Message,
    Notification,
    Open,
    Update,
    decode_message,
    message_length,
)
from speaker.bgp.core.messages import RouteRefresh as RouteRefreshMsg
from speaker.bgp.core.outbound import ConnectionInfo
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.core.session import Session
from tests.speaker.bgp.harness import config

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "bgp" / "golden"
UPDATE = os.environ.get("IRONLB_UPDATE_GOLDEN") == "1"


def jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "type": type(value).__name__,
            **{f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (frozenset, set)) else items
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def build_message(spec: dict[str, Any]) -> bytes:
    kind = spec["type"]
    if kind == "open":
        caps = (Multiprotocol(1, 1), Multiprotocol(2, 1), RouteRefresh())
        router_id = ipaddress.IPv4Address(spec.get("router_id", "192.0.2.1"))
        return Open.build(
            asn=spec["asn"], hold_time=spec.get("hold", 9), router_id=router_id, capabilities=caps
        ).encode()
    if kind == "keepalive":
        return Keepalive().encode()
    if kind == "notification":
        return Notification(spec["code"], spec["subcode"]).encode()
    if kind == "route_refresh":
        return RouteRefreshMsg(spec["afi"], spec["safi"]).encode()
    raise ValueError(f"unknown message type {kind!r}")


def sent_messages(data: bytes) -> list[dict[str, Any]]:
    out = []
    while data:
        length = message_length(data)
        assert length is not None
        message: Message = decode_message(data[:length])
        summary = jsonable(message)
        if isinstance(message, Update):
            summary.pop("errors", None)
        out.append({"hex": data[:length].hex(), "message": summary})
        data = data[length:]
    return out


def apply(session: Session, step: dict[str, Any]) -> list[Event]:
    now = float(step["at"])
    op = step["op"]
    if op == "start":
        return session.start(now)
    if op == "connection_made":
        info = ConnectionInfo(
            local=ipaddress.ip_address(step.get("local", "192.0.2.11")),
            remote=ipaddress.ip_address(step.get("remote", "192.0.2.1")),
            initiated_locally=step.get("initiated_locally", True),
            ipv6=ipaddress.IPv6Address(step.get("ipv6", "2001:db8::11")),
            ipv6_link_local=ipaddress.IPv6Address(step.get("ipv6_link_local", "fe80::11")),
        )
        return session.connection_made(now, info)
    if op == "receive":
        data = bytes.fromhex(step["hex"]) if "hex" in step else build_message(step["message"])
        received = session.receive_data(data, now)
        while session.paused:  # no collision to detect in a single-session replay
            received += session.resume(now)
        return received
    if op == "set_routes":
        routes = {
            ipaddress.ip_network(prefix): RouteAttrs(
                attrs.get("local_pref"), tuple(attrs.get("communities", ())), tuple(map(tuple, attrs.get("large", ())))
            )
            for prefix, attrs in step["routes"].items()
        }
        return session.set_routes(routes, now)
    if op == "advance":
        events: list[Event] = []
        while (deadline := session.next_deadline()) is not None and deadline <= now:
            events += session.handle_timer(deadline)
        return events
    if op == "stop":
        return session.stop(
            now,
            graceful=step.get("graceful", False),
            message=step.get("message", ""),
            restarting=step.get("restarting", False),
        )
    if op == "connection_lost":
        return session.connection_lost(now, step.get("reason", "closed"))
    raise ValueError(f"unknown op {op!r}")


def replay(name: str) -> list[dict[str, Any]]:
    lines = (GOLDEN / f"{name}.in.jsonl").read_text().splitlines()
    header, steps = json.loads(lines[0]), [json.loads(line) for line in lines[1:] if line.strip()]
    session = Session(config(**header.get("config", {})))
    out = []
    for step in steps:
        events = apply(session, step)
        out.append(
            {
                "step": step,
                "events": [jsonable(e) for e in events],
                "sent": sent_messages(session.data_to_send()),
                "next_deadline": session.next_deadline(),
            }
        )
    out.append(
        {
            "snapshot": {
                "state": session.state.name,
                "negotiated": jsonable(session.negotiated),
                "advertised": sorted(str(p) for p in session.rib.sent),
                "pending": session.rib.pending(),
                "stats": jsonable(session.stats),
                "last_error": session.last_error,
            }
        }
    )
    return out


SCENARIOS = sorted(p.name.removesuffix(".in.jsonl") for p in GOLDEN.glob("*.in.jsonl"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_scenario(name: str) -> None:
    actual = replay(name)
    expected_path = GOLDEN / f"{name}.out.jsonl"
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in actual)
    if UPDATE or not expected_path.exists():
        expected_path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote {expected_path.name}; review it and commit it, then rerun")
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()]
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert json.loads(json.dumps(got, sort_keys=True)) == want, f"line {index + 1} of {expected_path.name}"


def test_there_are_golden_scenarios() -> None:
    assert len(SCENARIOS) >= 4
