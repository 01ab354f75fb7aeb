"""The BGP speaker of one node: the object the speaker daemon calls.

Theory of operation
-------------------
::

    speaker (config, node, services)                       BFD (speaker/bfd)
        |  set_peers(peers, node)   set_routes(by peer)       |  peer_down(name, reason)
        v                                                      v
    BgpManager ---- one PeerDriver per BGPPeer name ----> PeerSessions -> Session(s)  [sans-IO core]
        |                  |  connect / write / timers
        |                  v
        |              TCP to the router (MD5, TTL 255, sourceAddress)
        +-- Listener on :179 if asked (v4 + v6): accepted connections go to the driver whose peerAddress matches
        +-- subscribe(listener): (peer name, established?) on every session up/down (for BFD)
        +-- status(): sessions, timers, advertised prefixes (for the gRPC status service)

Sessions come and go with ``set_peers`` without disturbing the others: a new peer starts, a removed one drains
(RFC 8326) and sends Cease / Peer De-configured, a changed one drains, sends Cease / Other Configuration Change
and starts again with the new settings once the old session is gone. Peers are identified by name.

``shutdown(graceful=True)`` is the planned stop of the speaker: peers with graceful restart close without a
NOTIFICATION so that the router keeps our routes while we restart (RFC 4724); the others drain and send Cease /
Administrative Shutdown. Graceful restart must be paired with BFD: the router keeps a *dead* speaker's routes
for the whole restart time as well, and only a BFD down makes it drop them at once.

Every method must be called on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from ironlb.config.model import BGPPeer
from speaker.bgp import transport as tcp
from speaker.bgp.core.attributes import IPNetwork
from speaker.bgp.core.errors import DropReason
from speaker.bgp.core.iana import CeaseSubcode
from speaker.bgp.core.outbound import DEFAULT_RESTART_TIME, SessionConfig
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.driver import DriverContext, PeerDriver, StateListener, wait_stopped
from speaker.bgp.metrics import BgpMetrics, default_metrics

RoutesByPeer = Mapping[str, Mapping[IPNetwork, RouteAttrs]]
_FAMILY_NAMES = {(1, 1): "ipv4-unicast", (2, 1): "ipv6-unicast"}


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """One peer's session, as the status service shows it."""

    peer: str
    address: str
    state: str
    local_address: str | None
    local_asn: int
    peer_asn: int | None
    router_id: str | None
    peer_router_id: str | None
    #: seconds since the session became Established, None when it is not
    uptime: float | None
    hold_time: float
    keepalive_time: float
    families: tuple[str, ...]
    graceful_restart: bool
    advertised: tuple[str, ...]
    pending: int
    updates_sent: int
    updates_received: int
    prefixes_received: int
    last_error: str


class BgpManager:
    """All BGP sessions of this node.

    Args:
        listen_port: also accept the peers' connections on this port (179). None, the default, only connects,
            like MetalLB's native speaker: on a hostNetwork node port 179 may belong to Calico's BIRD or to
            FRR-k8s, and whoever binds first wins. Accepting lets a restarted router reconnect at once instead of
            waiting for our back-off.
        metrics: where the Prometheus metrics go (default: the process registry).
        restart_time: the graceful-restart time we advertise, in seconds (RFC 4724).
        shutdown_wait: RFC 8326 graceful shutdown: seconds between re-announcing with GRACEFUL_SHUTDOWN and
            withdrawing.
        connect_retry: first connect retry interval (doubles up to ``connect_retry_max``), unless a BGPPeer sets
            ``connectTime``.
        gtsm: drop segments arriving with TTL < 254 (RFC 5082); the routers must send TTL 255.
    """

    def __init__(
        self,
        *,
        listen_port: int | None = None,
        metrics: BgpMetrics | None = None,
        restart_time: int = DEFAULT_RESTART_TIME,
        shutdown_wait: float = 1.0,
        connect_retry: float = 1.0,
        connect_retry_max: float = 30.0,
        gtsm: bool = False,
    ) -> None:
        self._ctx = DriverContext(metrics or default_metrics(), gtsm=gtsm)
        self._listen_port = listen_port
        self._listener: tcp.Listener | None = None
        self._restart_time = restart_time
        self._shutdown_wait = shutdown_wait
        self._connect_retry = (connect_retry, connect_retry_max)
        self._shutdown_timeout = shutdown_wait + 5.0
        self._drivers: dict[str, PeerDriver] = {}
        self._leaving: set[PeerDriver] = set()
        self._routes: dict[str, Mapping[IPNetwork, RouteAttrs]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Open the listening sockets (a port already in use is logged; we then only connect)."""
        if self._listen_port is None or self._listener is not None:
            return
        self._listener = tcp.Listener(self._listen_port, self._on_accept)
        await self._listener.start(gtsm=self._ctx.gtsm)
        for error in self._listener.errors:
            logger.warning("BGP: {}; sessions will still connect to their peers", error)
        self._install_keys()

    # -- configuration ---------------------------------------------------------------------------------
    def set_peers(self, peers: Sequence[BGPPeer], node_name: str) -> None:
        """Run exactly these sessions (the BGPPeers whose nodeSelectors select this node)."""
        if self._closed:
            return
        wanted = {p.name: p for p in peers}
        for name in [n for n in self._drivers if n not in wanted]:
            driver = self._drivers.pop(name)
            driver.stop(
                graceful=True, message="peer removed from the configuration", subcode=CeaseSubcode.PEER_DECONFIGURED
            )
            self._retire(driver, forget_metrics=True)
        for name, peer in wanted.items():
            config = SessionConfig.from_peer(
                peer,
                node_name=node_name,
                restart_time=self._restart_time,
                shutdown_wait=self._shutdown_wait,
                connect_retry=self._connect_retry[0],
                connect_retry_max=self._connect_retry[1],
            )
            old = self._drivers.get(name)
            if old is not None and old.peer == peer and old.sessions.config == config:
                continue
            if peer.peer_address is None:
                logger.bind(peer=name).error(
                    "BGPPeer {} sets interface {!r} (BGP unnumbered), which ironlb's speaker does not support yet;"
                    " set peerAddress instead",
                    name,
                    peer.interface,
                )
                continue
            if peer.vrf:
                logger.bind(peer=name).warning(
                    "BGPPeer {} sets vrf {!r}, which ironlb's speaker does not support; the session runs in the"
                    " node's default VRF - remove vrf or route the peer through the default VRF",
                    name,
                    peer.vrf,
                )
            driver = PeerDriver(peer, config, self._ctx)
            self._drivers[name] = driver
            driver.set_routes(self._routes.get(name, {}))
            if old is None:
                driver.start()
                continue
            old.stop(graceful=True, message="configuration changed", subcode=CeaseSubcode.OTHER_CONFIGURATION_CHANGE)
            self._retire(old, forget_metrics=old.label != driver.label)
            self._spawn(self._start_after(old, driver))
        self._install_keys()

    def set_routes(self, routes_by_peer: RoutesByPeer) -> None:
        """What every peer should hold (peer name -> prefix -> attributes); peers not named get nothing."""
        self._routes = dict(routes_by_peer)
        for name, driver in self._drivers.items():
            driver.set_routes(self._routes.get(name, {}))

    def peer_down(self, peer_name: str, reason: str) -> None:
        """The BFD hook: the path to this peer is dead; take its session down now (it restarts by itself)."""
        driver = self._drivers.get(peer_name)
        if driver is not None:
            driver.peer_down(reason)

    def subscribe(self, listener: StateListener) -> None:
        """Call ``listener(peer name, established)`` whenever a session comes up or goes down."""
        self._ctx.listeners.append(listener)

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> list[SessionStatus]:
        now = asyncio.get_running_loop().time()
        out = []
        for name, driver in sorted(self._drivers.items()):
            session = driver.sessions.established or driver.sessions.main
            neg, conn, cfg = session.negotiated, session.connection, session.config
            out.append(
                SessionStatus(
                    peer=name,
                    address=driver.label,
                    state=session.state.value,
                    local_address=str(conn.local) if conn else None,
                    local_asn=cfg.local_asn,
                    peer_asn=neg.peer_asn if neg else cfg.peer_asn,
                    router_id=str(session.router_id) if session.router_id else None,
                    peer_router_id=str(neg.peer_router_id) if neg else None,
                    uptime=now - session.established_at if session.established_at is not None else None,
                    hold_time=neg.hold_time if neg else cfg.hold_time,
                    keepalive_time=neg.keepalive_time if neg else cfg.keepalive_time,
                    families=tuple(_FAMILY_NAMES.get(f, f"{f[0]}/{f[1]}") for f in sorted(neg.families)) if neg else (),
                    graceful_restart=bool(neg and neg.graceful_restart),
                    advertised=tuple(str(p) for p in session.rib.sent),
                    pending=session.rib.pending(),
                    updates_sent=session.stats.updates_sent,
                    updates_received=session.stats.updates_received,
                    prefixes_received=session.stats.prefixes_received,
                    last_error=session.last_error,
                )
            )
        return out

    # -- shutdown --------------------------------------------------------------------------------------
    async def shutdown(self, graceful: bool = True, *, restarting: bool = True) -> None:
        """Stop every session and close the sockets.

        Args:
            graceful: drain (RFC 8326) or keep routes across a restart (RFC 4724) rather than cut at once.
            restarting: the speaker comes back soon: peers with graceful restart keep our routes meanwhile.
        """
        if self._closed:
            return
        self._closed = True
        drivers = list(self._drivers.values())
        for driver in drivers:
            driver.stop(
                graceful=graceful,
                restarting=restarting,
                message="speaker shutting down",
                subcode=CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
            )
        await wait_stopped(drivers + list(self._leaving), self._shutdown_timeout)
        for driver in drivers + list(self._leaving):
            driver.close()
        self._drivers.clear()
        self._leaving.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._listener is not None:
            await self._listener.close()

    # -- internals ---------------------------------------------------------------------------------------
    def _on_accept(self, transport: asyncio.Transport, protocol: tcp.StreamProtocol) -> None:
        _, remote = tcp.endpoints(transport)
        for driver in self._drivers.values():
            if driver.peer.peer_address == remote:
                driver.accept(transport, protocol)
                return
        self._ctx.metrics.dropped.labels("unknown", DropReason.CONNECTION_REFUSED.value).inc()
        logger.info(
            "refused a BGP connection from {}: no BGPPeer has that peerAddress reason={}",
            remote,
            DropReason.CONNECTION_REFUSED.value,
        )
        transport.close()

    def _install_keys(self) -> None:
        if self._listener is None:
            return
        keys: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
        for driver in self._drivers.values():
            if driver.peer.peer_address is not None and driver.peer.password:
                keys[driver.peer.peer_address] = driver.peer.password
        try:
            self._listener.set_keys(keys)
        except (OSError, ValueError) as exc:
            logger.error("BGP: cannot install TCP-MD5 keys on the listening socket: {}", exc)

    def _retire(self, driver: PeerDriver, *, forget_metrics: bool) -> None:
        self._leaving.add(driver)

        async def reap() -> None:
            await wait_stopped([driver], self._shutdown_timeout)
            driver.close()
            self._leaving.discard(driver)
            if forget_metrics and all(d.label != driver.label for d in self._drivers.values()):
                self._ctx.metrics.forget(driver.label)

        self._spawn(reap())

    async def _start_after(self, old: PeerDriver, new: PeerDriver) -> None:
        await wait_stopped([old], self._shutdown_timeout)
        if self._drivers.get(new.peer.name) is new and not self._closed:
            new.start()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __aenter__(self) -> BgpManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.shutdown(graceful=False, restarting=False)


__all__ = ["BgpManager", "RoutesByPeer", "SessionStatus"]
