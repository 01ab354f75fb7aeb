"""Golden scenarios for the ownership core (style anchor 12d): JSON lines in, JSON lines and a state snapshot out.

Each ``golden/<name>.in.jsonl`` is a script of operations at given times; the core's output - every frame sent (as
hex, with interface, purpose and address), every event and the phases after each step, then the final state - must
equal ``golden/<name>.out.jsonl`` line for line. After an intended change, regenerate with
``IRONLB_UPDATE_GOLDEN=1 pytest tests/speaker/l2/test_golden.py`` and review the diff like code.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

import pytest

from speaker.l2.core.ethernet import parse_mac
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Event, Ownership, Takeover
from speaker.l2.core.probe import AddressConflict
from speaker.l2.core.responder import Interface

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = sorted(p.name.removesuffix(".in.jsonl") for p in GOLDEN.glob("*.in.jsonl"))


def _event(event: Event) -> dict[str, Any]:
    if isinstance(event, AddressAnnounced):
        return {"announced": str(event.ip), "interfaces": list(event.interfaces)}
    if isinstance(event, AddressConflict):
        return {"conflict": str(event.ip), "interface": event.interface, "mac": event.mac, "evidence": event.evidence}
    assert isinstance(event, AddressReleased)
    return {"released": str(event.ip)}


def _step(own: Ownership, at: float, op: str) -> dict[str, Any]:
    return {
        "at": round(at, 6),
        "op": op,
        "sent": [[o.ifname, o.purpose.value, str(o.ip), o.frame.hex()] for o in own.data_to_send()],
        "events": [_event(e) for e in own.events()],
        "phases": {str(ip): phase.value for ip, phase in sorted(own.phases().items(), key=lambda i: str(i[0]))},
    }


def play(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a scenario; returns the output lines."""
    own = Ownership()
    out: list[dict[str, Any]] = []
    for line in lines:
        at = float(line["at"])
        op = line["op"]
        if op == "interfaces":
            own.set_interfaces({n: Interface(n, parse_mac(m)) for n, m in line["interfaces"].items()}, at)
        elif op == "own":
            table = {ipaddress.ip_address(k): None if v is None else frozenset(v) for k, v in line["table"].items()}
            own.set_owned(table, at, takeover=Takeover(line["takeover"]))
        elif op == "release":
            own.release(ipaddress.ip_address(line["ip"]), after=float(line["after"]), now=at)
        elif op == "receive":
            own.receive(line["ifname"], bytes.fromhex(line["frame"]), at)
        elif op == "timers":  # every deadline up to ``at``, one output line each
            while (deadline := own.next_deadline()) is not None and deadline <= at:
                own.handle_timer(deadline)
                out.append(_step(own, deadline, "timer"))
            continue
        else:
            raise ValueError(f"unknown golden op {op!r}")
        out.append(_step(own, at, op))
    out.append(
        {
            "state": {
                "answered": {str(ip): sorted(v) if v is not None else None for ip, v in own.answered().items()},
                "next_deadline": own.next_deadline(),
            }
        }
    )
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden(name: str) -> None:
    source = GOLDEN / f"{name}.in.jsonl"
    expected_path = GOLDEN / f"{name}.out.jsonl"
    got = play([json.loads(line) for line in source.read_text().splitlines() if line.strip()])
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in got)
    if os.environ.get("IRONLB_UPDATE_GOLDEN") == "1":
        expected_path.write_text(text)
    assert expected_path.exists(), f"no {expected_path.name}; run with IRONLB_UPDATE_GOLDEN=1 and review it"
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()]
    for index, (want, have) in enumerate(zip(expected, got, strict=False)):
        assert have == want, f"{name}: line {index + 1} differs"
    assert len(got) == len(expected)


def test_scenarios_exist() -> None:
    assert {"takeover-probe-then-burst", "conflict-then-retry", "planned-release"} <= set(SCENARIOS)
