"""Asyncio adapter: one UDP socket and one timer driving a sans-IO :class:`Membership` core.

The loop shape is the only logic here (style anchor 3, after aioquic's ``asyncio/protocol.py``): on a datagram
or a command, feed the core; hand its events to the listeners and the metrics; send what it queued; re-arm the
one timer at ``next_deadline()``, whose callback calls ``handle_timer(max(deadline, loop.time()))`` so a slightly
early wake still counts. No protocol constants, no message types: those live in the core.

Usage by the speaker::

    core = Membership(name=node, address=(pod_ip, 7946), epoch=time.time_ns() // 1_000_000, keys=[secret])
    endpoint = await MembershipEndpoint.open(core, bind=(pod_ip, 7946), on_event=handle_event)
    endpoint.join(seeds)                  # speaker pod IPs from the API
    endpoint.view()                       # MembershipView: live members + metadata, any time
    endpoint.set_metadata(b'{"eth0":1}')  # e.g. which L2 interfaces are up
    await endpoint.leave()                # on SIGTERM: LEAVE to everyone, repeated; then the socket closes
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from loguru import logger

from speaker.membership.core.codec import Address
from speaker.membership.core.events import MembershipEvent, PacketDropped
from speaker.membership.core.protocol import Membership, RunState
from speaker.membership.core.view import MembershipView
from speaker.membership.metrics import MembershipMetrics

Listener = Callable[[MembershipEvent], None]


class MembershipEndpoint(asyncio.DatagramProtocol):
    """Runs one membership core on a UDP socket. Create with :meth:`open`."""

    def __init__(
        self,
        core: Membership,
        *,
        on_event: Listener | None = None,
        metrics: MembershipMetrics | None = None,
    ) -> None:
        self.core = core
        self.metrics = metrics
        self._listeners: list[Listener] = [on_event] if on_event else []
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._left = asyncio.Event()
        self._closed = asyncio.Event()
        self.send_errors = 0

    @classmethod
    async def open(
        cls,
        core: Membership,
        *,
        bind: Address | None = None,
        sock: socket.socket | None = None,
        on_event: Listener | None = None,
        metrics: MembershipMetrics | None = None,
    ) -> MembershipEndpoint:
        """Bind ``bind`` (or adopt an already bound UDP ``sock``) and start the core's timers.

        Args:
            core: the protocol object; the endpoint owns it from now on.
            bind: local (host, port) to bind, usually the pod IP and 7946.
            sock: a bound UDP socket to use instead (e.g. opened inside a network namespace).
            on_event: called in the event loop for every event, in order; exceptions are logged and ignored.
            metrics: prometheus metrics to update, if any.
        """
        loop = asyncio.get_running_loop()
        endpoint = cls(core, on_event=on_event, metrics=metrics)
        if sock is not None:
            await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
        elif bind is not None:
            await loop.create_datagram_endpoint(lambda: endpoint, local_addr=bind)
        else:
            raise ValueError("MembershipEndpoint.open needs bind=(host, port) or sock=; pass the pod IP and port.")
        return endpoint

    # -- listeners and state ------------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every future event; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def view(self) -> MembershipView:
        """The live members and their metadata, the local node included."""
        return self.core.view()

    @property
    def local_address(self) -> Address | None:
        if self._transport is None:
            return None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return (host, port)

    # -- commands: feed the core, then flush and re-arm ----------------------------------------------------------
    def join(self, seeds: Iterable[Address]) -> None:
        self.core.join(seeds)
        self._rearm()

    def set_seeds(self, seeds: Iterable[Address]) -> None:
        self.core.set_seeds(seeds)
        self._rearm()

    def set_metadata(self, metadata: bytes) -> None:
        self.core.set_metadata(metadata)
        self._rearm()

    def set_keys(self, keys: Sequence[bytes]) -> None:
        self.core.set_keys(keys)

    async def leave(self, grace: float = 1.0) -> None:
        """Tell every member we are leaving (repeated, per the core's config), then close the socket."""
        self.core.leave()
        self._rearm()
        try:
            await asyncio.wait_for(self._left.wait(), grace)
        except TimeoutError:
            logger.warning("membership leave did not finish in {}s; closing anyway", grace)
        self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- asyncio.DatagramProtocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # the selector transport is not a subclass
        self._rearm()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._process(self.core.receive_datagram(data, (addr[0], addr[1]), self._loop.time()))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable, no route while a link is down) for earlier sends: the peer's silence
        # is what the protocol reasons about, so these are only counted.
        self.send_errors += 1
        logger.debug("membership socket error: {}", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        self._closed.set()

    # -- the loop shape -----------------------------------------------------------------------------------------
    def _on_timer(self) -> None:
        self._timer = None
        at = self._timer_at if self._timer_at is not None else self._loop.time()
        self._process(self.core.handle_timer(max(at, self._loop.time())))

    def _process(self, events: list[MembershipEvent]) -> None:
        for event in events:
            self._dispatch(event)
        if events and self.metrics is not None:
            self.metrics.set_counts(self.core.counts())
        self._flush()
        self._rearm()

    def _dispatch(self, event: MembershipEvent) -> None:
        if self.metrics is not None:
            self.metrics.observe(event, local=self.core.name)
        if isinstance(event, PacketDropped):
            logger.debug("membership datagram dropped", reason=event.reason.value, peer=str(event.address))
        else:
            logger.info("membership {}", type(event).__name__, member=getattr(event, "name", ""))
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("membership event listener failed on {}", event)

    def _flush(self) -> None:
        datagrams = self.core.datagrams_to_send()
        if self._transport is None:
            return
        for data, destination in datagrams:
            self._transport.sendto(data, destination)

    def _rearm(self) -> None:
        if self.core.state == RunState.LEFT:
            self._flush()
            self._left.set()
        deadline = self.core.next_deadline()
        if deadline == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._transport is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)


__all__ = ["Listener", "MembershipEndpoint"]
