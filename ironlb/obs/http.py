"""``/healthz``, ``/readyz`` and ``/metrics`` for both daemons, on a tiny asyncio HTTP/1.1 server.

The daemons have no web framework dependency; these three GET endpoints need none. Probes are named callables
returning ``(ok, detail)``; ``/healthz`` runs the liveness probes (e.g. the leader-election watchdog), ``/readyz``
the readiness probes (configuration loaded, informers synced). Each answers 200 ``ok`` or 500 with the failing
probes listed, one per line, as the Kubernetes components do (``?verbose`` lists all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

Probe = Callable[[], tuple[bool, str]]


@dataclass
class HealthServer:
    host: str
    port: int
    liveness: dict[str, Probe] = field(default_factory=dict)
    readiness: dict[str, Probe] = field(default_factory=dict)
    registry: CollectorRegistry = REGISTRY
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        logger.bind(address=f"{self.host}:{self.port}").info("serving /healthz, /readyz and /metrics")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _probe_report(self, probes: dict[str, Probe], verbose: bool) -> tuple[int, str]:
        lines: list[str] = []
        healthy = True
        for name, probe in sorted(probes.items()):
            try:
                ok, detail = probe()
            except Exception as exc:  # a broken probe is a failing probe, not a crashed server
                ok, detail = False, f"probe raised {exc!r}"
            healthy &= ok
            if verbose or not ok:
                lines.append(f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed: ' + detail}")
        if healthy:
            lines.append("ok" if not verbose else "check passed")
            return 200, "\n".join(lines) + "\n"
        lines.append("check failed")
        return 500, "\n".join(lines) + "\n"

    def _respond(self, path: str) -> tuple[int, str, bytes]:
        route, _, query = path.partition("?")
        verbose = "verbose" in query
        if route in ("/healthz", "/livez"):
            status, body = self._probe_report(self.liveness, verbose)
            return status, "text/plain; charset=utf-8", body.encode()
        if route == "/readyz":
            status, body = self._probe_report(self.readiness, verbose)
            return status, "text/plain; charset=utf-8", body.encode()
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return 404, "text/plain; charset=utf-8", b"404 page not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=10)
            while True:  # drain headers; we serve only GET without a body
                line = await asyncio.wait_for(reader.readline(), timeout=10)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain", b"method not allowed\n"
            else:
                status, ctype, body = self._respond(parts[1])
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
            head = (
                f"HTTP/1.1 {status} {reason.get(status, '')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if parts and parts[0] != "HEAD" else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


__all__ = ["HealthServer", "Probe"]
