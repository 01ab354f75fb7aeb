"""TCP for BGP: outgoing connections, the listening sockets, TCP-MD5, TTL, and the addresses of an interface.

Theory of operation
-------------------
Everything here is socket plumbing that the sans-IO core cannot do; nothing here knows a BGP message.

* :func:`open_connection` creates the socket, sets TCP-MD5 (RFC 2385) and the TTL *before* ``connect`` (the SYN
  must already be signed), binds it to ``sourceAddress`` if one is configured, connects, and wraps it in an
  asyncio transport with :class:`StreamProtocol`.
* :class:`Listener` accepts the peers' connections on port 179 (v4 and v6 sockets), with the MD5 key of every
  peer installed on the listening socket, which the kernel checks before the connection even exists.
* TTL: we always send with TTL 255, which reaches single-hop and ``ebgpMultiHop`` peers alike; with ``gtsm`` the
  kernel also drops what arrives with a TTL below 254 (RFC 5082, "GTSM"), which only works when the router sends
  255 too, so it is off by default.
* :func:`interface_facts` looks up (through netlink, in a thread) the other addresses of the interface that
  carries the connection: they become the IPv4/IPv6 next hops and the router-id fallback.

TCP-MD5 failures are silent by design: a router with another password (or none) drops our SYN and we see a
connect timeout; its SYN to us is dropped by our kernel. :func:`md5_drop_counters` reads the kernel's TcpExt
counters (``TCPMD5Failure``, ``TCPMD5NotFound``, ``TCPMD5Unexpected``) so that the manager can say so in a log line.
The password is never logged and never kept in anything that has a ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: linux/tcp.h
TCP_MD5SIG = 14
TCP_MD5SIG_MAXKEYLEN = 80
#: linux/in.h, linux/in6.h
IP_MINTTL = 21
IPV6_MINHOPCOUNT = 73
TTL = 255
GTSM_MIN_TTL = 254


def md5sig(peer: IPAddress, password: str | None) -> bytes:
    """``struct tcp_md5sig`` for ``setsockopt(IPPROTO_TCP, TCP_MD5SIG)``; no password deletes the key.

    Layout: a 128-octet ``sockaddr_storage`` holding the peer's address, flags (1), prefix length (1), key length
    (2), ifindex (4), then the 80-octet key.
    """
    key = (password or "").encode()
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"a TCP-MD5 password is at most {TCP_MD5SIG_MAXKEYLEN} octets long")
    if isinstance(peer, ipaddress.IPv4Address):
        address = struct.pack("=HH4s", socket.AF_INET, 0, peer.packed)
    else:
        address = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, peer.packed, 0)
    return address.ljust(128, b"\0") + struct.pack("=BBHI", 0, 0, len(key), 0) + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")


def set_md5(sock: socket.socket, peer: IPAddress, password: str | None) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, password))


def set_ttl(sock: socket.socket, *, gtsm: bool = False) -> None:
    if sock.family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
        if gtsm:
            sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, GTSM_MIN_TTL)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
        if gtsm:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, GTSM_MIN_TTL)


class StreamProtocol(asyncio.Protocol):
    """Hands a connection's bytes and its end to callbacks, buffering both until :meth:`bind` names them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_lost: Callable[[str], None] | None = None
        self._early: list[bytes] = []
        self._lost: str | None = None

    def bind(self, on_data: Callable[[bytes], None], on_lost: Callable[[str], None]) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        early, self._early = self._early, []
        for data in early:
            on_data(data)
        if self._lost is not None:
            on_lost(self._lost)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._on_data is None:
            self._early.append(data)
        else:
            self._on_data(data)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "the peer closed the connection"
        if self._on_lost is None:
            self._lost = reason
        else:
            self._on_lost(reason)


async def open_connection(
    peer: IPAddress,
    port: int,
    *,
    source: IPAddress | None,
    password: str | None,
    gtsm: bool,
    protocol: StreamProtocol,
) -> asyncio.Transport:
    """Connect to ``peer``:``port`` with MD5 and TTL set first; raises OSError on failure."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET if peer.version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if password:
            set_md5(sock, peer, password)
        set_ttl(sock, gtsm=gtsm)
        if source is not None:
            sock.bind((str(source), 0))
        await loop.sock_connect(sock, (str(peer), port))
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    except BaseException:
        sock.close()
        raise
    assert isinstance(transport, asyncio.Transport)
    return transport


def endpoints(transport: asyncio.Transport) -> tuple[IPAddress, IPAddress]:
    """(local address, remote address) of a connected transport (IPv4-mapped IPv6 addresses unmapped)."""
    local = ipaddress.ip_address(transport.get_extra_info("sockname")[0].split("%")[0])
    remote = ipaddress.ip_address(transport.get_extra_info("peername")[0].split("%")[0])
    return _unmap(local), _unmap(remote)


def _unmap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Listener:
    """Listening sockets (IPv4 and IPv6) on one port; ``on_accept`` gets each new connection's transport."""

    def __init__(self, port: int, on_accept: Callable[[asyncio.Transport, StreamProtocol], None]) -> None:
        self.port = port
        self._on_accept = on_accept
        self._servers: list[asyncio.Server] = []
        self._sockets: dict[int, socket.socket] = {}
        self._keys: dict[IPAddress, str] = {}
        self.errors: list[str] = []

    async def start(self, *, gtsm: bool = False) -> None:
        loop = asyncio.get_running_loop()
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                set_ttl(sock, gtsm=gtsm)
                sock.bind((host, self.port))
                sock.listen(64)
                sock.setblocking(False)
                server = await loop.create_server(self._factory, sock=sock)
            except OSError as exc:
                sock.close()
                self.errors.append(f"cannot listen on [{host}]:{self.port}: {exc}")
                continue
            self._servers.append(server)
            self._sockets[family] = sock

    def _factory(self) -> asyncio.Protocol:
        return _AcceptingProtocol(self._on_accept)

    def set_keys(self, keys: dict[IPAddress, str]) -> None:
        """Install the MD5 key of every peer on the listening sockets (removed peers lose theirs)."""
        for address in set(self._keys) - set(keys):
            self._install(address, None)
        for address, password in keys.items():
            if self._keys.get(address) != password:
                self._install(address, password)
        self._keys = dict(keys)

    def _install(self, address: IPAddress, password: str | None) -> None:
        sock = self._sockets.get(socket.AF_INET if address.version == 4 else socket.AF_INET6)
        if sock is not None:
            set_md5(sock, address, password)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._sockets.clear()


class _AcceptingProtocol(StreamProtocol):
    """An accepted connection: reported to ``on_accept``, which binds it to a session or closes it."""

    def __init__(self, on_accept: Callable[[asyncio.Transport, StreamProtocol], None]) -> None:
        super().__init__()
        self._on_accept = on_accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self._on_accept(self.transport, self)


@dataclass(frozen=True, slots=True)
class InterfaceFacts:
    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None
    ipv6_link_local: ipaddress.IPv6Address | None = None
    on_link: bool = False


def interface_facts(local: IPAddress, remote: IPAddress) -> InterfaceFacts:
    """The addresses of the interface holding ``local`` and whether ``remote`` is on one of its subnets.

    Blocking (netlink): call it through ``asyncio.to_thread``.
    """
    from pyroute2 import IPRoute  # netlink only here; the import costs ~50 ms, paid once

    with IPRoute() as ipr:
        rows = [
            (int(a["index"]), int(a["prefixlen"]), ipaddress.ip_address(str(a.get("IFA_ADDRESS")).split("%")[0]))
            for a in ipr.get_addr()
            if a.get("IFA_ADDRESS")
        ]
    index = next((i for i, _, addr in rows if addr == local), None)
    if index is None:
        return InterfaceFacts()
    mine = [(plen, addr) for i, plen, addr in rows if i == index]
    ipv4 = next((a for _, a in mine if isinstance(a, ipaddress.IPv4Address)), None)
    globals6 = [a for _, a in mine if isinstance(a, ipaddress.IPv6Address) and not a.is_link_local]
    link_local = next((a for _, a in mine if isinstance(a, ipaddress.IPv6Address) and a.is_link_local), None)
    on_link = any(
        addr.version == remote.version and remote in ipaddress.ip_network(f"{addr}/{plen}", strict=False)
        for plen, addr in mine
    ) or (isinstance(remote, ipaddress.IPv6Address) and remote.is_link_local)
    return InterfaceFacts(ipv4, globals6[0] if globals6 else None, link_local, on_link)


_MD5_COUNTERS = ("TCPMD5NotFound", "TCPMD5Unexpected", "TCPMD5Failure")


def md5_drop_counters(path: Path = Path("/proc/net/netstat")) -> dict[str, int]:
    """The kernel's counts of TCP segments dropped for a missing, unexpected or wrong MD5 signature."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            table = dict(zip(header.split()[1:], values.split()[1:], strict=False))
            return {name: int(table[name]) for name in _MD5_COUNTERS if name in table}
    return {}


def md5_verdict(peer_name: str, seen: dict[str, int]) -> tuple[str, dict[str, int]]:
    """Why a peer with TCP-MD5 does not answer, for a log line; also returns the counters to compare next time."""
    now = md5_drop_counters()
    grown = {k: v - seen.get(k, 0) for k, v in now.items() if v > seen.get(k, 0)}
    if grown:
        return (
            f"the kernel dropped TCP segments whose MD5 signature did not match ({grown}): the router's password"
            f" for this node differs from BGPPeer {peer_name}'s password or passwordSecret",
            now,
        )
    return (
        f"TCP-MD5 is configured for BGPPeer {peer_name}: a router with a different password, or none, drops our"
        " SYN silently - check the password on both sides",
        now,
    )


__all__ = [
    "InterfaceFacts",
    "Listener",
    "StreamProtocol",
    "endpoints",
    "interface_facts",
    "md5_drop_counters",
    "md5_verdict",
    "md5sig",
    "open_connection",
    "set_md5",
    "set_ttl",
]
