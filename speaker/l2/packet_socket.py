"""An asyncio packet socket on one interface: raw Ethernet frames in (filtered), frames out.

Why ``AF_PACKET``: the addresses we answer for are configured on no interface, so the kernel neither answers ARP nor
delivers neighbour solicitations for them to an ICMPv6 socket (a unicast NUD probe to the address would be
forwarded or dropped). A packet socket sees the frames as they arrive and sends ours unchanged.

Shape: ``socket(AF_PACKET, SOCK_RAW, 0)`` - protocol 0 receives nothing yet - then the BPF filter is attached, and
only then is the socket bound to (interface, EtherType), so no unfiltered frame is ever queued. The socket is
non-blocking and registered with ``loop.add_reader``; when readable, frames are read in a loop until ``EAGAIN`` (up
to a budget, so a flood cannot starve the rest of the loop) and handed one by one to ``on_frame``. A large receive
buffer absorbs bursts; overflows are counted by the kernel and read back with ``PACKET_STATISTICS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from loguru import logger

from speaker.l2 import bpf

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_RCVBUFFORCE = 33

#: Largest frame read; ARP and neighbour discovery are far smaller (a longer frame is read truncated and dropped).
RECV_SIZE = 2048


class PacketSocket:
    """One filtered packet socket bound to one interface and EtherType."""

    def __init__(
        self,
        ifname: str,
        protocol: int,
        *,
        program: bytes | None,
        on_frame: Callable[[bytes], None],
        rcvbuf: int = 4 << 20,
        ignore_outgoing: bool = False,
        budget: int = 1024,
    ) -> None:
        """Prepare (nothing is opened until :meth:`open`).

        Args:
            ifname: interface to bind to.
            protocol: EtherType to receive (ETH_P_ALL for everything).
            program: classic BPF program from :mod:`speaker.l2.bpf`, or None for no filter.
            on_frame: called with each received frame; exceptions are logged and the frame dropped.
            rcvbuf: receive buffer in bytes (forced past ``rmem_max`` when we may).
            ignore_outgoing: do not receive the frames this host sends (ETH_P_ALL sockets see them otherwise).
            budget: frames read per wake-up at most.
        """
        self.ifname = ifname
        self.protocol = protocol
        self.ifindex = 0
        self._program = program
        #: called with each received frame; may be replaced before :meth:`open`
        self.on_frame = on_frame
        self._rcvbuf = rcvbuf
        self._ignore_outgoing = ignore_outgoing
        self._budget = budget
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.send_errors = 0
        self.handler_errors = 0
        self._packets = 0
        self._drops = 0

    @property
    def sock(self) -> socket.socket:
        if self._sock is None:
            raise RuntimeError(f"packet socket on {self.ifname} is not open")
        return self._sock

    def open(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Create, filter, bind and register the socket.

        Raises:
            OSError: the interface does not exist (any more) or we lack CAP_NET_RAW.
        """
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setblocking(False)
            if self._program is not None:
                bpf.attach(sock, self._program)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self._rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            if self._ignore_outgoing:
                with contextlib.suppress(OSError):  # kernels before 4.20 lack it; our own MACs are ignored anyway
                    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.bind((self.ifname, self.protocol))
            self.ifindex = socket.if_nametoindex(self.ifname)
            self._loop = loop or asyncio.get_running_loop()
            self._loop.add_reader(sock.fileno(), self._on_readable)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def send(self, frame: bytes) -> bool:
        """Send one whole frame on the interface; False (and counted) if the kernel refused it."""
        sock = self._sock
        if sock is None:
            self.send_errors += 1
            return False
        try:
            sock.send(frame)
        except OSError:
            self.send_errors += 1
            return False
        return True

    def statistics(self) -> tuple[int, int]:
        """(frames that passed the filter, frames dropped because the receive buffer was full), since opening."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                packets, drops = struct.unpack("II", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
                # The kernel resets its counters on each read, and counts drops among the packets.
                self._packets += packets
                self._drops += drops
        return self._packets, self._drops

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recv = sock.recv
        on_frame = self.on_frame
        for _ in range(self._budget):
            try:
                frame = recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # ENETDOWN and friends while the link changes: the monitor reopens us
                logger.debug("packet socket on {} read failed: {}", self.ifname, exc)
                return
            try:
                on_frame(frame)
            except Exception:  # a bug must not take the data plane down; count it and say where
                self.handler_errors += 1
                if self.handler_errors <= 10:
                    logger.exception("frame handler on {} failed; frame dropped", self.ifname)


__all__ = ["ETH_P_ALL", "ETH_P_ARP", "ETH_P_IPV6", "PacketSocket"]
