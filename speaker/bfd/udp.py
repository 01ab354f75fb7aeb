"""The asyncio adapter for single-hop BFD over UDP (RFC 5881): sockets and timers around the sans-IO session table.

One loop shape (style anchor 3), for a datagram and for a timer alike: feed the core, flush what it queued, re-arm
the session's one timer at ``next_deadline()``, hand the events to the owner. The adapter has no protocol logic;
what it knows of RFC 5881 is transport: where packets go and how they are sent.

* **Receive** (section 4): one socket per local address, bound to ``(local, 3784)`` - the BGP session's source
  address - with ``IP_RECVTTL`` / ``IPV6_RECVHOPLIMIT`` so every datagram arrives with the TTL it had on the wire;
  the table applies the GTSM rule (section 5). Sockets are read with ``recvmsg`` from a reader callback, because
  asyncio's datagram transports drop ancillary data.
* **Transmit** (sections 4 and 5): one socket per session, bound to the local address and a source port drawn from
  49152-65535 (the same port for the session's whole life), TTL / hop limit 255, and the DSCP class selector 6
  (network control) that routers' BFD implementations use.

Sockets are opened by :meth:`UdpAdapter.attach`, synchronously, so a caller inside a network namespace
(``Topology.entered``) gets sockets in that namespace.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import random
import socket
import struct
from collections.abc import Callable

from loguru import logger

from ironlb.api.addresses import IPAddress
from speaker.bfd.core import BfdError, Event, SessionTable

#: RFC 5881 section 4: control packets go to UDP port 3784, from a source port in 49152-65535.
CONTROL_PORT = 3784
SOURCE_PORT_FIRST, SOURCE_PORT_LAST = 49152, 65535
#: RFC 5881 section 5: sent with TTL / hop limit 255.
SEND_TTL = 255
#: DSCP CS6 (network control) in the TOS / traffic class byte.
TOS_NETWORK_CONTROL = 0xC0
#: Linux values, for Pythons whose socket module lacks the names.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_INT = struct.Struct("=i")  # the kernel reports the TTL as a native int
_ANCILLARY_SPACE = socket.CMSG_SPACE(_INT.size)
_MAX_DATAGRAM = 512
#: datagrams read per wake-up before yielding to the loop, so a flood cannot starve the timers.
_READ_BUDGET = 64

OnEvents = Callable[[IPAddress | None, list[Event]], None]


def _family(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET if address.version == 4 else socket.AF_INET6


def open_receive_socket(local: IPAddress) -> socket.socket:
    """A non-blocking UDP socket on ``(local, 3784)`` that reports each datagram's TTL / hop limit."""
    sock = socket.socket(_family(local), socket.SOCK_DGRAM)
    try:
        if local.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        sock.bind((str(local), CONTROL_PORT))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def open_transmit_socket(local: IPAddress, rng: random.Random) -> socket.socket:
    """A non-blocking UDP socket bound to ``local`` and a free port in 49152-65535, sending with TTL 255."""
    sock = socket.socket(_family(local), socket.SOCK_DGRAM)
    try:
        if local.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, SEND_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_NETWORK_CONTROL)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, SEND_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_NETWORK_CONTROL)
        count = SOURCE_PORT_LAST - SOURCE_PORT_FIRST + 1
        start = rng.randrange(count)
        for offset in range(count):
            try:
                sock.bind((str(local), SOURCE_PORT_FIRST + (start + offset) % count))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:  # a port in use: try the next one; anything else is fatal
                    raise
        else:
            raise OSError(errno.EADDRINUSE, "no free UDP source port in 49152-65535")
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def ttl_from_ancillary(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The IPv4 TTL or IPv6 hop limit from ``recvmsg`` ancillary data, or None if the kernel sent none."""
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)):
            if len(data) >= _INT.size:
                return int(_INT.unpack_from(data)[0])
            if len(data) == 1:
                return data[0]
    return None


class UdpAdapter:
    """Runs a :class:`~speaker.bfd.core.SessionTable` on UDP sockets and one asyncio timer per session.

    Args:
        table: the sessions; the adapter reads them, the owner adds and removes them.
        on_events: called after every input with the peer it concerned (None for a packet dropped before a
            session was found) and the events, once the output was flushed and the timer re-armed.
        rng: picks source ports.
    """

    def __init__(
        self,
        table: SessionTable,
        *,
        on_events: OnEvents,
        rng: random.Random,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._table = table
        self._on_events = on_events
        self._rng = rng
        self._loop = loop or asyncio.get_running_loop()
        self._receivers: dict[IPAddress, tuple[socket.socket, int]] = {}
        self._senders: dict[IPAddress, socket.socket] = {}
        self._timers: dict[IPAddress, asyncio.TimerHandle] = {}
        self.send_errors = 0

    def now(self) -> float:
        return self._loop.time()

    # -- sessions ---------------------------------------------------------------------------------------------------
    def attach(self, peer: IPAddress, local: IPAddress) -> None:
        """Open the sockets of the table's session for ``peer``, then run it once (its first packet may be due).

        Raises:
            BfdError: a socket cannot be opened (the sentence says which and why); nothing is left open.
        """
        sender = None
        try:
            sender = open_transmit_socket(local, self._rng)
            if local not in self._receivers:
                receiver = open_receive_socket(local)
                self._loop.add_reader(receiver.fileno(), self._on_readable, local)
                self._receivers[local] = (receiver, 0)
        except OSError as exc:
            if sender is not None:
                sender.close()
            raise BfdError(
                f"Cannot open BFD sockets on {local} (UDP port {CONTROL_PORT}) for peer {peer}: {exc.strerror or exc}."
                " Check that the address is configured on this node and that no other BFD daemon listens there."
            ) from exc
        receiver, users = self._receivers[local]
        self._receivers[local] = (receiver, users + 1)
        self._senders[peer] = sender
        self.service(peer, [])

    def detach(self, peer: IPAddress, local: IPAddress) -> None:
        """Close the session's sockets and timer (call before or after removing it from the table)."""
        timer = self._timers.pop(peer, None)
        if timer is not None:
            timer.cancel()
        sender = self._senders.pop(peer, None)
        if sender is not None:
            sender.close()
        if local in self._receivers:
            receiver, users = self._receivers[local]
            if users <= 1:
                self._loop.remove_reader(receiver.fileno())
                receiver.close()
                del self._receivers[local]
            else:
                self._receivers[local] = (receiver, users - 1)

    def service(self, peer: IPAddress, events: list[Event]) -> None:
        """After the owner ran a command on a session (or after any input): flush, re-arm, report."""
        entry = self._table.get(peer)
        if entry is None:
            return
        sender = self._senders.get(peer)
        for datagram in entry.session.datagrams_to_send():
            if sender is None:
                continue
            try:
                sender.sendto(datagram, (str(peer), CONTROL_PORT))
            except OSError as exc:  # unreachable, buffer full, ...: BFD's own timers cover a lost packet
                self.send_errors += 1
                logger.bind(peer=str(peer), error=str(exc)).trace("BFD packet not sent")
        self._arm(peer, entry.session.next_deadline())
        self._on_events(peer, events)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        for receiver, _ in self._receivers.values():
            self._loop.remove_reader(receiver.fileno())
            receiver.close()
        self._receivers.clear()

    # -- the loop ---------------------------------------------------------------------------------------------------
    def _arm(self, peer: IPAddress, deadline: float | None) -> None:
        timer = self._timers.get(peer)
        if timer is not None:
            if deadline is not None and timer.when() == deadline:
                return
            timer.cancel()
            del self._timers[peer]
        if deadline is not None:
            self._timers[peer] = self._loop.call_at(deadline, self._on_timer, peer, deadline)

    def _on_timer(self, peer: IPAddress, deadline: float) -> None:
        self._timers.pop(peer, None)
        entry = self._table.get(peer)
        if entry is None:
            return
        # asyncio may run a timer up to one clock resolution early; the deadline itself counts as reached.
        events = entry.session.handle_timer(max(deadline, self._loop.time()))
        self.service(peer, events)

    def _on_readable(self, local: IPAddress) -> None:
        found = self._receivers.get(local)
        if found is None:
            return
        receiver = found[0]
        for _ in range(_READ_BUDGET):
            try:
                data, ancdata, _flags, address = receiver.recvmsg(_MAX_DATAGRAM, _ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.bind(local=str(local), error=str(exc)).debug("BFD receive failed")
                return
            try:
                source = _parse_source(address[0])
            except ValueError:
                continue
            delivery = self._table.receive(
                data, source=source, local=local, ttl=ttl_from_ancillary(ancdata), now=self._loop.time()
            )
            if delivery.peer is None:
                self._on_events(None, delivery.events)
            else:
                self.service(delivery.peer, delivery.events)


def _parse_source(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone: sessions are keyed by address alone


__all__ = [
    "CONTROL_PORT",
    "SEND_TTL",
    "SOURCE_PORT_FIRST",
    "SOURCE_PORT_LAST",
    "UdpAdapter",
    "open_receive_socket",
    "open_transmit_socket",
    "ttl_from_ancillary",
]
