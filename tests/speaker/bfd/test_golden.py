"""Golden scenarios (style anchor 12d): a scripted peer's packets and commands in, every output and a snapshot out.

Each ``golden/<name>.in.jsonl`` line is one input at a virtual time ``at`` - ``start`` (a profile), ``receive`` (a
packet from the peer, ControlPacket fields with the state by name), ``admin_down``, ``admin_up``, ``profile`` or
``run`` (only let time pass) - and before it every timer due up to ``at`` runs exactly at its deadline. The runner
writes every packet the session sends and every event, with its time, then the final snapshot; the result must equal
``golden/<name>.out.jsonl``. A behaviour change shows up as a reviewed diff: regenerate with
``IRONLB_UPDATE_GOLDEN=1 pytest tests/speaker/bfd/test_golden.py`` and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from ironlb.config.model import BFDProfile
from speaker.bfd.core import ControlPacket, PacketDropped, Session, State, StateChanged, diagnostic_name

GOLDEN = Path(__file__).parent / "golden"
LOCAL = 0x0A0A0A0A
SCENARIOS = sorted(p.name.removesuffix(".in.jsonl") for p in GOLDEN.glob("*.in.jsonl"))


def _packet_fields(packet: ControlPacket) -> dict[str, Any]:
    out: dict[str, Any] = {"state": packet.state.name, "diagnostic": diagnostic_name(packet.diagnostic)}
    for key in ("your_discriminator", "detect_mult", "desired_min_tx_us", "required_min_rx_us"):
        out[key] = getattr(packet, key)
    out |= {flag: True for flag in ("poll", "final") if getattr(packet, flag)}
    return out


def replay(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one scenario; returns the output lines (the last one is the snapshot)."""
    out: list[dict[str, Any]] = []
    session: Session | None = None
    now = 0.0

    def record(at: float, events: list[Any]) -> None:
        assert session is not None
        for data in session.datagrams_to_send():
            out.append({"at": round(at, 6), "sent": _packet_fields(ControlPacket.decode(data))})
        for event in events:
            if isinstance(event, StateChanged):
                change = {"from": event.old.name, "to": event.new.name, "diagnostic": diagnostic_name(event.diagnostic)}
                out.append({"at": round(at, 6), "state": change | {"administrative": event.administrative}})
            elif isinstance(event, PacketDropped):
                out.append({"at": round(at, 6), "dropped": event.reason.value})

    for line in lines:
        at = float(line["at"])
        while session is not None and (deadline := session.next_deadline()) is not None and deadline <= at:
            now = max(now, deadline)
            record(now, session.handle_timer(now))
        now = max(now, at)
        match line["op"]:
            case "start":
                profile = BFDProfile(name="golden", **line.get("profile", {}))
                session = Session(profile, local_discriminator=LOCAL, now=now, random=random.Random(1).random)
                record(now, [])
            case "receive" if session is not None:
                fields = dict(line["packet"]) | {"state": State[line["packet"]["state"]]}
                record(now, session.receive(ControlPacket(**fields).encode(), now))
            case "admin_down" if session is not None:
                record(now, session.admin_down(now))
            case "admin_up" if session is not None:
                record(now, session.admin_up(now))
            case "profile" if session is not None:
                record(now, session.set_profile(BFDProfile(name="golden", **line["profile"]), now))
            case "run":
                pass
            case other:
                raise AssertionError(f"unknown golden op {other!r} (or no start)")
    assert session is not None
    snapshot = dataclasses.asdict(session.snapshot())
    snapshot |= {"state": session.state.name, "remote_state": session.remote_state.name}
    snapshot |= {"drops": {reason.value: n for reason, n in session.drops.items()}}
    out.append({"snapshot": snapshot})
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_scenario(name: str) -> None:
    inputs = [json.loads(line) for line in (GOLDEN / f"{name}.in.jsonl").read_text().splitlines() if line.strip()]
    produced = replay(inputs)
    expected_path = GOLDEN / f"{name}.out.jsonl"
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in produced)
    if os.environ.get("IRONLB_UPDATE_GOLDEN") == "1":
        expected_path.write_text(text)
    assert expected_path.exists(), f"no golden output for {name}; run with IRONLB_UPDATE_GOLDEN=1 and review it"
    assert text == expected_path.read_text()


def test_there_are_scenarios() -> None:
    assert {"handshake-and-poll", "detection-expiry", "admin-down-and-up"} <= set(SCENARIOS)
