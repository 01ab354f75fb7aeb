"""A stand-alone membership node that prints its events as JSON lines: for lab tests, benchmarks and debugging.

    python -m speaker.membership.runner --name node1 --bind 192.0.2.11:7946 \\
        --seed 192.0.2.12:7946 --seed 192.0.2.13:7946 --key-hex 00112233445566778899aabbccddeeff

Each line on stdout is one JSON object: ``{"t": <monotonic seconds>, "event": "<EventName>", ...fields}``.
``t`` is ``time.monotonic()``, which every process on one machine shares (network namespaces do not change it),
so a benchmark can subtract the moment it killed a peer from the moment a survivor reported it. The first line is
``{"event": "ready", ...}`` once the socket is bound; on SIGTERM or SIGINT the node leaves the cluster (LEAVE to
every member, repeated) and prints ``{"event": "left"}`` before exiting with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import time
from typing import Any

from speaker.membership.core.codec import Address
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.events import MembershipEvent, PacketDropped
from speaker.membership.core.protocol import Membership
from speaker.membership.udp import MembershipEndpoint


def _address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _event_record(event: MembershipEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"t": time.monotonic(), "event": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, tuple):
            value = list(value)
        record[item.name] = value
    return record


async def run(args: argparse.Namespace) -> int:
    config = MembershipConfig()
    if args.scale != 1.0:
        config = config.scaled(args.scale)
    core = Membership(
        name=args.name,
        address=_address(args.advertise or args.bind),
        epoch=time.time_ns() // 1_000_000,
        keys=[bytes.fromhex(k) for k in args.key_hex],
        metadata=args.metadata.encode(),
        config=config,
    )

    def on_event(event: MembershipEvent) -> None:
        if isinstance(event, PacketDropped) and not args.print_drops:
            return
        _emit(_event_record(event))

    endpoint = await MembershipEndpoint.open(core, bind=_address(args.bind), on_event=on_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _emit({"t": time.monotonic(), "event": "ready", "name": args.name, "epoch": core.epoch})
    endpoint.join([_address(s) for s in args.seed])
    await stop.wait()
    await endpoint.leave()
    _emit({"t": time.monotonic(), "event": "left", "name": args.name})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speaker.membership.runner", description=__doc__)
    parser.add_argument("--name", required=True, help="this node's name")
    parser.add_argument("--bind", required=True, help="local HOST:PORT to bind")
    parser.add_argument("--advertise", default="", help="HOST:PORT others should use (default: --bind)")
    parser.add_argument("--seed", action="append", default=[], help="HOST:PORT of another node (repeatable)")
    parser.add_argument("--key-hex", action="append", required=True, help="HMAC key in hex; first one signs")
    parser.add_argument("--metadata", default="", help="initial metadata (text)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every detection timer by this")
    parser.add_argument("--print-drops", action="store_true", help="also print PacketDropped events")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
