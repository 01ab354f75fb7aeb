"""``ironlb-lab``: the lab's command line. Subcommands register themselves in :data:`COMMANDS`.

``ironlb-lab apiserver --listen 127.0.0.1:6443 --kubeconfig ./kubeconfig [--tls] [--rbac]`` runs the
Kubernetes API emulator until SIGTERM or SIGINT. Other parts add their subcommands (``up``, ``down``,
``status``, ``exec``) with :func:`register`: a name, a help line, a function that adds arguments to its
parser and a function that runs it and returns the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add a subcommand (the last registration of a name wins)."""
    COMMANDS[command.name] = command
    return command


# ------------------------------------------------------------------------------------------------ apiserver


def _configure_apiserver(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT to serve on (port 0 picks one)")
    p.add_argument("--kubeconfig", required=True, type=Path, help="where to write the admin kubeconfig")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed CA (made with openssl)")
    p.add_argument("--rbac", action="store_true", help="authorize requests with RBAC (admin is system:masters)")
    p.add_argument(
        "--history-window",
        type=int,
        default=10_000,
        metavar="N",
        help="changes kept for watch resumption; older resourceVersions get 410 Gone",
    )
    p.add_argument(
        "--service-cidr",
        action="append",
        default=None,
        metavar="CIDR",
        help="service cluster IP range; give two (IPv4 and IPv6) for dual-stack (default 10.96.0.0/16)",
    )
    p.add_argument("--node-port-range", default="30000-32767", help="node port range, LOW-HIGH")
    p.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between watch bookmarks")
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--listen-netns",
        action="append",
        default=[],
        metavar="NETNS:HOST:PORT",
        help="also listen inside a lab network namespace (repeatable), for daemons running there",
    )


def _parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--listen {text!r}: expected HOST:PORT, such as 127.0.0.1:6443")
    return host.strip("[]"), int(port)


def _parse_netns_listen(text: str) -> tuple[str, str, int]:
    netns, _, rest = text.partition(":")
    if not netns or not rest:
        raise SystemExit(f"--listen-netns {text!r}: expected NETNS:HOST:PORT, such as ilb42x1-api:192.0.2.2:6443")
    host, port = _parse_listen(rest)
    return netns, host, port


def _run_apiserver(args: argparse.Namespace) -> int:
    from hack.lab.apiserver import ApiServer

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = _parse_listen(args.listen)
    low, _, high = args.node_port_range.partition("-")
    server = ApiServer(
        host=host,
        port=port,
        tls=args.tls,
        rbac_enabled=args.rbac,
        history_window=args.history_window,
        service_cidrs=tuple(args.service_cidr or ["10.96.0.0/16"]),
        node_port_range=(int(low), int(high)),
        bookmark_interval=args.bookmark_interval,
        kubeconfig=args.kubeconfig,
        netns_listeners=tuple(_parse_netns_listen(text) for text in args.listen_netns),
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(f"serving {server.url}; kubeconfig {server.kubeconfig}", flush=True)
        await stop.wait()
        await server.stop()

    asyncio.run(main())
    return 0


register(Command("apiserver", "run the Kubernetes API emulator", _configure_apiserver, _run_apiserver))


def main(argv: Sequence[str] | None = None) -> int:
    # Registers up/down/status/exec/kubectl and the lab's internal programs - into ``hack.lab.cli``, which is not
    # this module object when run as ``python -m hack.lab.cli``: merge both tables.
    from hack.lab import cli as registry  # noqa: PLW0406 - the importable module, not __main__
    from hack.lab import commands

    del commands
    table = {**COMMANDS, **registry.COMMANDS}
    parser = argparse.ArgumentParser(prog="ironlb-lab", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in table.values():
        command.configure(sub.add_parser(command.name, help=command.help))
    args = parser.parse_args(list(argv) if argv is not None else None)
    return table[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
