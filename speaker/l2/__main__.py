"""``python -m speaker.l2``: the L2 announcer as a stand-alone process, driven by JSON lines (lab, tests, benchmarks).

Run it inside a node's network namespace (``ip netns exec NS python -m speaker.l2``; never on a machine's own LAN).
It answers ARP/NDP for what it is told to own and reports what happens, one JSON object per line:

stdin (commands)::

    {"op": "own", "table": {"198.51.100.5": null, "2001:db8:100::5": ["eth0"]}, "takeover": "immediate"}
    {"op": "release", "ip": "198.51.100.5", "after": 0.5}
    {"op": "reannounce", "ip": "198.51.100.5"}
    {"op": "speaker_macs", "macs": ["02:00:00:00:00:03"]}
    {"op": "stats"} | {"op": "interfaces"} | {"op": "phases"} | {"op": "stop"}

stdout (events)::

    {"event": "ready", "macs": [...], "interfaces": [...]}
    {"event": "announced", "ip": ..., "interfaces": [...]}
    {"event": "conflict", "ip": ..., "interface": ..., "mac": ..., "evidence": ...}
    {"event": "released", "ip": ..., "handed_to": "02:00:00:00:00:0c" or ""}   (the next owner's MAC: grace ended early)
    {"event": "link", "kind": "down", "interface": {...}}
    {"event": "ports", "answering": ["eth0"]}
    {"event": "stats", ...} | {"event": "interfaces", ...} | {"event": "phases", ...}
    {"event": "error", "message": ...}

Takeover values are :class:`~speaker.l2.core.ownership.Takeover` values ("probe", "probe-ignoring-speakers",
"immediate"), one for all new addresses or an object by address. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from collections.abc import Mapping
from typing import Any

from loguru import logger

from ironlb.api.addresses import IPAddress, parse_ip
from speaker.l2.announcer import Announcer, AnnouncerEvent, PortsChanged
from speaker.l2.core.announce import AnnounceConfig
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Takeover
from speaker.l2.core.probe import AddressConflict, ProbeConfig
from speaker.l2.interfaces import DEFAULT_EXCLUDE, LinkEvent


class CommandError(ValueError):
    """A command line the runner cannot act on; reported as an ``error`` event."""


def emit(obj: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def event_json(event: AnnouncerEvent) -> dict[str, Any]:
    if isinstance(event, AddressAnnounced):
        return {"event": "announced", "ip": str(event.ip), "interfaces": list(event.interfaces)}
    if isinstance(event, AddressConflict):
        return {
            "event": "conflict",
            "ip": str(event.ip),
            "interface": event.interface,
            "mac": event.mac,
            "evidence": event.evidence.value,
        }
    if isinstance(event, AddressReleased):
        return {"event": "released", "ip": str(event.ip), "handed_to": event.handed_to}
    if isinstance(event, PortsChanged):
        return {"event": "ports", "answering": list(event.answering)}
    assert isinstance(event, LinkEvent)
    return {"event": "link", "kind": event.kind.value, "interface": event.link.describe()}


def _address(text: object) -> IPAddress:
    ip = parse_ip(str(text))
    if ip is None:
        raise CommandError(f"{text!r} is not an IP address")
    return ip


def _takeover(value: object) -> Takeover | dict[IPAddress, Takeover]:
    try:
        if isinstance(value, dict):
            return {_address(k): Takeover(v) for k, v in value.items()}
        return Takeover(str(value))
    except ValueError as exc:
        raise CommandError(f"takeover {value!r}: use one of {[t.value for t in Takeover]}") from exc


def handle(announcer: Announcer, command: dict[str, Any], stop: asyncio.Event) -> None:
    """Act on one command."""
    op = command.get("op")
    if op == "own":
        table_in = command.get("table")
        if not isinstance(table_in, dict):
            raise CommandError('"own" needs "table": {address: null or [interface, ...]}')
        table = {_address(k): (None if v is None else frozenset(map(str, v))) for k, v in table_in.items()}
        announcer.set_owned(table, takeover=_takeover(command.get("takeover", "probe")))
    elif op == "release":
        announcer.release(_address(command.get("ip")), after=float(command.get("after", 0.0)))
    elif op == "reannounce":
        announcer.reannounce(_address(command.get("ip")))
    elif op == "speaker_macs":
        announcer.set_speaker_macs([str(m) for m in command.get("macs", [])])
    elif op == "stats":
        emit({"event": "stats", **announcer.read_stats().snapshot()})
    elif op == "interfaces":
        emit({"event": "interfaces", "interfaces": [link.describe() for link in announcer.interfaces().values()]})
    elif op == "phases":
        emit({"event": "phases", "phases": {str(ip): phase.value for ip, phase in announcer.phases().items()}})
    elif op == "stop":
        stop.set()
    else:
        raise CommandError(f"unknown op {op!r}")


async def run(args: argparse.Namespace) -> int:
    announcer = Announcer(
        exclude=args.exclude if args.exclude is not None else DEFAULT_EXCLUDE,
        announce=AnnounceConfig(rounds=args.announce_rounds, interval=args.announce_interval, refresh=args.refresh),
        probe=ProbeConfig(count=args.probe_count, interval=args.probe_interval),
    )
    announcer.add_listener(lambda event: emit(event_json(event)))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await announcer.start()
    # Everything allocated so far lives as long as the process: keep the collector from rescanning it (shorter
    # full collections, so fewer latency outliers on the answering path).
    gc.freeze()
    emit(
        {
            "event": "ready",
            "macs": announcer.macs(),
            "interfaces": [link.describe() for link in announcer.interfaces().values()],
        }
    )
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while line := await reader.readline():
            try:
                command = json.loads(line)
                if not isinstance(command, dict):
                    raise CommandError("a command is a JSON object")
                handle(announcer, command, stop)
            except (ValueError, TypeError) as exc:
                emit({"event": "error", "message": str(exc)})
        stop.set()  # stdin closed: the controlling process is gone

    task = loop.create_task(commands())
    await stop.wait()
    task.cancel()
    await announcer.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speaker.l2", description=__doc__.split("\n\n")[0])
    parser.add_argument("--exclude", action="append", help="interface exclude regex (repeat; default MetalLB's list)")
    parser.add_argument("--announce-rounds", type=int, default=5)
    parser.add_argument("--announce-interval", type=float, default=1.1)
    parser.add_argument("--refresh", type=float, default=None, help="periodic re-announcement interval (seconds)")
    parser.add_argument("--probe-count", type=int, default=3)
    parser.add_argument("--probe-interval", type=float, default=0.05)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
