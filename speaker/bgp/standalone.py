"""Run the BGP speaker alone, driven by JSON lines: ``python -m speaker.bgp.standalone --node NAME``.

The lab, the interop tests and the benchmark run one of these per node namespace (``ip netns exec nodeN ...``):
the real :class:`~speaker.bgp.manager.BgpManager` with its sockets, without Kubernetes. Commands arrive on stdin,
one JSON object per line; events leave on stdout, one JSON object per line, each with ``t`` = ``time.time()``.

Commands::

    {"op": "peers", "peers": [{"name": "r", "my_asn": 64513, "peer_asn": 64512, "peer_address": "192.0.2.1",
                               "hold_time": 9, "password": "...", "enable_graceful_restart": true, ...}]}
    {"op": "routes", "routes": {"r": [{"prefix": "198.51.100.1/32", "local_pref": 200,
                                       "communities": ["65000:1"], "large_communities": ["1:2:3"]}]}}
    {"op": "peer_down", "peer": "r", "reason": "bfd"}
    {"op": "status"}
    {"op": "shutdown", "graceful": true, "restarting": true}

Events: ``{"event": "ready"}``, ``{"event": "session", "peer": "r", "established": true}``,
``{"event": "routes_set", "count": N}``, ``{"event": "status", "sessions": [...]}``, ``{"event": "bye"}``.
Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import sys
import time
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry

from ironlb.config.model import BGPPeer, DynamicASN
from speaker.bgp.core.attributes import IPNetwork
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.manager import BgpManager
from speaker.bgp.metrics import BgpMetrics

_PEER_FIELDS = {f.name for f in dataclasses.fields(BGPPeer)}
_ADDRESS_FIELDS = ("peer_address", "source_address")


def peer_from_json(obj: dict[str, Any]) -> BGPPeer:
    """A BGPPeer from a JSON object with the dataclass's field names (addresses as strings)."""
    unknown = set(obj) - _PEER_FIELDS
    if unknown:
        raise ValueError(f"unknown BGPPeer fields: {sorted(unknown)}")
    values = dict(obj)
    for key in _ADDRESS_FIELDS:
        if values.get(key) is not None:
            values[key] = ipaddress.ip_address(values[key])
    if values.get("router_id") is not None:
        values["router_id"] = ipaddress.IPv4Address(values["router_id"])
    if values.get("dynamic_asn") is not None:
        values["dynamic_asn"] = DynamicASN(values["dynamic_asn"])
    return BGPPeer(**values)


def community_value(text: str) -> int:
    high, low = (int(part) for part in text.split(":"))
    return (high << 16) | low


def routes_from_json(items: list[dict[str, Any]]) -> dict[IPNetwork, RouteAttrs]:
    out: dict[IPNetwork, RouteAttrs] = {}
    for item in items:
        large = tuple(sorted(tuple(int(x) for x in c.split(":")) for c in item.get("large_communities", ())))
        out[ipaddress.ip_network(item["prefix"])] = RouteAttrs(
            local_pref=item.get("local_pref"),
            communities=tuple(sorted(community_value(c) for c in item.get("communities", ()))),
            large_communities=large,  # type: ignore[arg-type]
        )
    return out


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, "t": time.time(), **fields}, default=str) + "\n")
    sys.stdout.flush()


async def serve(node: str, listen_port: int | None, shutdown_wait: float, connect_retry: float) -> None:
    manager = BgpManager(
        listen_port=listen_port,
        metrics=BgpMetrics(registry=CollectorRegistry()),
        shutdown_wait=shutdown_wait,
        connect_retry=connect_retry,
    )
    await manager.start()
    manager.subscribe(lambda peer, up: emit("session", peer=peer, established=up))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)  # a routes command for 10,000+ prefixes is one line
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit("ready", node=node)
    while line := await reader.readline():
        try:
            command = json.loads(line)
            op = command["op"]
            if op == "peers":
                manager.set_peers([peer_from_json(p) for p in command["peers"]], node)
            elif op == "routes":
                routes = {name: routes_from_json(items) for name, items in command["routes"].items()}
                manager.set_routes(routes)
                emit("routes_set", count=sum(len(r) for r in routes.values()))
            elif op == "peer_down":
                manager.peer_down(command["peer"], command.get("reason", "peer_down command"))
            elif op == "status":
                emit("status", sessions=[dataclasses.asdict(s) for s in manager.status()])
            elif op == "shutdown":
                await manager.shutdown(command.get("graceful", True), restarting=command.get("restarting", True))
                break
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # a bad command is reported, the speaker keeps running
            emit("error", detail=f"{type(exc).__name__}: {exc}")
    else:
        await manager.shutdown(graceful=False, restarting=False)
    emit("bye")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speaker.bgp.standalone", description=__doc__.split("\n")[0])
    parser.add_argument("--node", required=True, help="this node's name (router-id fallback)")
    parser.add_argument("--listen-port", type=int, default=179, help="accept connections here; 0 = connect only")
    parser.add_argument("--shutdown-wait", type=float, default=1.0, help="RFC 8326 drain time, seconds")
    parser.add_argument("--connect-retry", type=float, default=1.0, help="first connect retry interval, seconds")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level, format="{time:HH:mm:ss.SSS} {level} {extra} {message}")
    asyncio.run(serve(args.node, args.listen_port or None, args.shutdown_wait, args.connect_retry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
