"""``ironlb-lab lab-apiserver``: the API emulator as the lab runs it, with an off switch for outage tests.

The same :class:`hack.lab.apiserver.ApiServer` as ``ironlb-lab apiserver`` (TLS, RBAC, a listener on loopback for
kubectl and the tests, one inside the lab's ``api`` namespace for the daemons), plus two signals:

* ``SIGUSR1`` - go down: the listeners close and every connection (watches included) is dropped, as when a real
  API server crashes or is restarted (:meth:`ApiServer.pause`);
* ``SIGUSR2`` - come back on the same addresses with the same objects and resourceVersions.

State survives because it is the same process: that is what a real control plane's etcd gives across an API
server outage. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT for kubectl and tests (port 0 picks one)")
    p.add_argument("--listen-netns", action="append", default=[], metavar="NETNS:HOST:PORT")
    p.add_argument("--kubeconfig", required=True, type=Path, help="where to write the admin kubeconfig")
    p.add_argument("--workdir", required=True, type=Path, help="certificates and state files")
    p.add_argument("--service-cidr", action="append", default=None, metavar="CIDR")
    p.add_argument("--log-level", default="WARNING")


def run(args: argparse.Namespace) -> int:
    from hack.lab.apiserver import ApiServer
    from hack.lab.cli import _parse_listen, _parse_netns_listen

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = _parse_listen(args.listen)
    args.workdir.mkdir(parents=True, exist_ok=True)
    server = ApiServer(
        host=host,
        port=port,
        tls=True,
        rbac_enabled=True,
        service_cidrs=tuple(args.service_cidr or ["10.96.0.0/16"]),
        kubeconfig=args.kubeconfig,
        workdir=args.workdir,
        netns_listeners=tuple(_parse_netns_listen(text) for text in args.listen_netns),
    )
    state_file = args.workdir / "state"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        wanted: asyncio.Queue[str] = asyncio.Queue()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, wanted.put_nowait, "down")
        loop.add_signal_handler(signal.SIGUSR2, wanted.put_nowait, "up")
        await server.start()
        state_file.write_text("up\n")
        print(f"serving {server.url}; kubeconfig {server.kubeconfig}", flush=True)

        async def switch() -> None:
            while True:
                what = await wanted.get()
                if what == "down":
                    await server.pause()
                    logging.warning("API server down (SIGUSR1): listeners closed, connections dropped")
                else:
                    await server.resume()
                    logging.warning("API server back (SIGUSR2)")
                state_file.write_text(what + "\n")

        switcher = asyncio.ensure_future(switch())
        await stop.wait()
        switcher.cancel()
        await server.stop()

    asyncio.run(main())
    return 0


__all__ = ["configure", "run"]
