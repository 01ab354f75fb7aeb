"""Golden scenarios: a script of faults in, every node's events and the final state out, compared with a file.

``golden/<name>.in.jsonl`` is the input (one operation per line, at a simulated time); ``<name>.out.jsonl`` holds
each node's non-drop events, time-stamped, then one ``{"snapshot": ...}`` line with every node's view and
incarnation. The simulation is deterministic, so any change of behaviour shows up as a diff here; when the change
is intended, regenerate with ``IRONLB_UPDATE_GOLDEN=1 pytest tests/speaker/membership/test_golden.py`` and review
the diff like code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from speaker.membership.core.events import MembershipEvent, PacketDropped
from speaker.membership.simulation import Network

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("IRONLB_UPDATE_GOLDEN") == "1"


def _event(at: float, node: str, event: MembershipEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"t": round(at, 4), "node": node, "event": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, float):
            value = round(value, 4)
        elif isinstance(value, tuple):
            value = list(value)
        out[item.name] = value
    return out


def _play(script: list[dict[str, Any]]) -> list[str]:
    net = Network(seed=2024)
    for step in script:
        net.run_until(step["at"])
        match step["op"]:
            case "cluster":
                net.add_cluster(step["count"])
            case "set_metadata":
                net.set_metadata(step["node"], step["metadata"].encode())
            case "crash":
                net.crash(step["node"])
            case "restart":
                net.restart(step["node"])
            case "leave":
                net.leave(step["node"])
            case "stall":
                net.stall(step["node"], step["seconds"])
            case "partition":
                net.partition(*step["groups"])
            case "heal":
                net.heal()
            case "end":
                pass
            case other:
                raise AssertionError(f"unknown operation {other!r} in the golden script")
    lines = [
        json.dumps(_event(at, node.name, event), sort_keys=True)
        for node in sorted(net.nodes.values(), key=lambda n: n.name)
        for at, event in node.events
        if not isinstance(event, PacketDropped)
    ]
    snapshot = {
        node.name: {
            "running": node.running,
            "view": sorted(node.core.view().alive()),
            "incarnation": node.core.incarnation,
            "metadata": {m.name: m.metadata.decode() for m in node.core.view() if m.metadata},
        }
        for node in net.nodes.values()
    }
    lines.append(json.dumps({"snapshot": snapshot}, sort_keys=True))
    return lines


@pytest.mark.parametrize(
    "name", [pytest.param(p.name.removesuffix(".in.jsonl"), id=p.name) for p in sorted(GOLDEN.glob("*.in.jsonl"))]
)
def test_golden_scenario(name: str) -> None:
    script = [json.loads(line) for line in (GOLDEN / f"{name}.in.jsonl").read_text().splitlines() if line.strip()]
    produced = _play(script)
    expected_path = GOLDEN / f"{name}.out.jsonl"
    if UPDATE or not expected_path.exists():
        expected_path.write_text("\n".join(produced) + "\n")
        if not UPDATE:
            pytest.fail(f"{expected_path} did not exist; it was written now: review it and run again")
    expected = expected_path.read_text().splitlines()
    assert produced == expected
    assert produced == _play(script), "the simulation must be deterministic"
