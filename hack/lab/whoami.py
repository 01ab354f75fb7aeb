"""The lab's stand-in for the ``containous/whoami`` container: a tiny HTTP server that says who answered.

This is a *stand-in* that lives only in hack/lab: the lab's kubelet stand-in (:mod:`hack.lab.kubelet`) runs one of
these for each container port of each Pod scheduled on its node, bound to the Pod's addresses on the node
namespace's ``lo``. It answers the way containous/whoami does, so the lab replays the seed scenario's output::

    Hostname: whoami-bc9597656-qh6jf
    IP: 127.0.0.1
    IP: ::1
    IP: 203.0.113.17
    IP: 2001:db8:200::1:2
    RemoteAddr: 192.0.2.100:44078
    GET / HTTP/1.1
    Host: 198.51.100.1
    User-Agent: curl/7.88.1
    Accept: */*

``RemoteAddr`` is what the pod sees: the client's own address when the node it came through hosts the pod (no
masquerade), or the forwarding node's address when kube-proxy masqueraded it to a pod on another node. ``/health``
answers ``OK``. Bad requests get 400; the server never raises on input.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_HEAD = 16 * 1024
READ_TIMEOUT = 5.0


def format_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def whoami_body(
    hostname: str, ips: Sequence[str], remote: str, request_line: str, headers: Sequence[tuple[str, str]]
) -> str:
    """The text containous/whoami answers ``GET /`` with."""
    lines = [f"Hostname: {hostname}", *(f"IP: {ip}" for ip in ips), f"RemoteAddr: {remote}", request_line]
    lines += [f"{name}: {value}" for name, value in headers]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    @property
    def line(self) -> str:
        return f"{self.method} {self.target} {self.version}"


def parse_head(data: bytes) -> Request | None:
    """Parse a request head (up to and excluding the blank line); None when it is not HTTP/1.x."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            return None
        headers.append((name, value.strip()))
    return Request(parts[0], parts[1], parts[2], tuple(headers))


def _response(status: str, body: str, *, head_only: bool = False) -> bytes:
    payload = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + (b"" if head_only else payload)


@dataclass
class WhoamiServer:
    """One Pod's container: listens on every ``(address, port)`` until :meth:`close`."""

    hostname: str
    ips: Sequence[str]
    ports: Sequence[int]
    served: int = 0
    _servers: list[asyncio.Server] = field(default_factory=list)

    @property
    def shown_ips(self) -> list[str]:
        return ["127.0.0.1", "::1", *self.ips]

    async def start(self) -> WhoamiServer:
        try:
            for ip in self.ips:
                for port in self.ports:
                    server = await asyncio.start_server(self._handle, host=ip, port=port, reuse_address=True)
                    self._servers.append(server)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = writer.get_extra_info("peername") or ("?", 0)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                return
            if len(head) > MAX_HEAD:
                writer.write(_response("431 Request Header Fields Too Large", "request head too large\n"))
                return
            request = parse_head(head[:-4])
            if request is None:
                writer.write(_response("400 Bad Request", "not an HTTP/1.x request\n"))
                return
            self.served += 1
            head_only = request.method == "HEAD"
            if request.target.split("?")[0] == "/health":
                writer.write(_response("200 OK", "OK\n", head_only=head_only))
                return
            remote = format_addr(str(peer[0]), int(peer[1]))
            body = whoami_body(self.hostname, self.shown_ips, remote, request.line, request.headers)
            writer.write(_response("200 OK", body, head_only=head_only))
        finally:
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


__all__ = ["Request", "WhoamiServer", "format_addr", "parse_head", "whoami_body"]
