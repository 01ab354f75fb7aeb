"""The BGP controller: the view's per-Service plans -> the BGP sessions' routes, BFD beside each session.

::

    SpeakerView (peers_for_node; one-Service plans)
        | on_changes(changes)
        v
    RouteTable (merged per peer, per Service)  --coalesced, once per loop turn-->  BgpManager.set_routes
    peers changed                                                              --> BgpManager.set_peers
                                                                                --> BfdManager.add/remove_session
    BfdManager on_state(down) --------------------------------------------------> BgpManager.peer_down (at once)
    each Service advertised  --> ServiceBGPStatus (peers), nodeAssigned "bgp", metallb_speaker_announced

A BFD session needs the BGP session's source address: ``sourceAddress`` when the BGPPeer sets it, otherwise the
local address of the first Established session (the kernel's choice), after which it stays up while BGP
reconnects - that is when BFD is useful. ``BGPPeer.bfdProfile`` naming a profile that does not exist is a
configuration error the parser reports; here such a peer simply gets no BFD.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

from loguru import logger

from ironlb.api.addresses import IPAddress
from ironlb.config.model import BGPPeer
from speaker.bfd.core import BfdError, diagnostic_name
from speaker.bfd.manager import BfdManager
from speaker.bgp.core.policy import Reason
from speaker.bgp.manager import BgpManager
from speaker.metrics import SpeakerMetrics
from speaker.routetable import RouteTable
from speaker.status.crs import BGP, StatusWriter
from speaker.view import Changes, SpeakerView


class BgpController:
    """Feeds the BGP and BFD managers from the view. See the module docstring."""

    def __init__(
        self,
        *,
        view: SpeakerView,
        manager: BgpManager,
        bfd: Callable[[], BfdManager],
        status: StatusWriter,
        metrics: SpeakerMetrics,
    ) -> None:
        self.view = view
        self.node = view.node
        self.manager = manager
        self._make_bfd = bfd
        self.bfd: BfdManager | None = None
        self.status = status
        self.metrics = metrics
        self.table = RouteTable()
        self._advertised: dict[str, tuple[str, ...]] = {}  # service -> ingress addresses in the metric
        self._locals: dict[str, IPAddress] = {}  # peer name -> BGP session's local address
        self._bfd_peers: dict[str, tuple[IPAddress, IPAddress]] = {}  # peer name -> (peer, local)
        self._flush_scheduled = False
        self._started = False
        self._stopping = False

    def start(self) -> None:
        self._started = True
        self.manager.subscribe(self._on_session)
        self.on_changes(Changes(bgp=set(self.view.bgp) | set(self._advertised), peers=True))

    def on_changes(self, changes: Changes) -> None:
        if not self._started or self._stopping:
            return
        if changes.peers:
            self.manager.set_peers(self.view.peers, self.node)
            self.table.set_peers(p.name for p in self.view.peers)
            self._sync_bfd()
            self._schedule_flush()
        for key in sorted(changes.bgp):
            if self._update_service(key):
                self._schedule_flush()

    def _update_service(self, key: str) -> bool:
        result = self.view.bgp.get(key)
        announced = result is not None and result.reasons.get(key) is Reason.ANNOUNCED
        changed = self.table.set_service(key, result.routes if announced and result is not None else None)
        service = self.view.services.get(key)
        addresses = tuple(service.ingress_ips) if announced and service is not None else ()
        for ip in set(self._advertised.get(key, ())) - set(addresses):
            self.metrics.set_announced(key, "bgp", self.node, ip, False)
        for ip in set(addresses) - set(self._advertised.get(key, ())):
            self.metrics.set_announced(key, "bgp", self.node, ip, True)
        if addresses:
            self._advertised[key] = addresses
            peers = sorted(result.peers.get(key, ())) if result is not None else []
            self.status.announce(BGP, key, {"peers": peers})
        elif self._advertised.pop(key, None) is not None:
            self.status.withdraw(BGP, key)
        return changed

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._stopping:
            self.manager.set_routes(self.table.routes())

    # -- BFD -----------------------------------------------------------------------------------------------------
    def _bfd_wanted(self) -> dict[str, tuple[BGPPeer, IPAddress]]:
        config = self.view.config
        wanted: dict[str, tuple[BGPPeer, IPAddress]] = {}
        if config is None:
            return wanted
        for peer in self.view.peers:
            if not peer.bfd_profile or peer.bfd_profile not in config.bfd_profiles or peer.peer_address is None:
                continue
            local = peer.source_address or self._locals.get(peer.name)
            if local is not None and local.version == peer.peer_address.version:
                wanted[peer.name] = (peer, local)
        return wanted

    def _sync_bfd(self) -> None:
        config = self.view.config
        wanted = self._bfd_wanted()
        if (wanted or self._bfd_peers) and self.bfd is None:
            self.bfd = self._make_bfd()
        if self.bfd is None or config is None:
            return
        for name in [n for n in self._bfd_peers if n not in wanted]:
            peer_address, _ = self._bfd_peers.pop(name)
            self.bfd.remove_session(peer_address)
        for name, (peer, local) in wanted.items():
            assert peer.peer_address is not None and peer.bfd_profile is not None
            profile = config.bfd_profiles[peer.bfd_profile]
            try:
                self.bfd.add_session(peer.peer_address, local, profile, self._bfd_hook(name))
            except BfdError as exc:
                logger.bind(peer=name, error=str(exc)).error("cannot start BFD for this BGP peer")
                continue
            self._bfd_peers[name] = (peer.peer_address, local)

    def _bfd_hook(self, name: str) -> Callable[[IPAddress, bool, int], None]:
        def on_state(peer: IPAddress, up: bool, diagnostic: int) -> None:
            if not up:
                reason = f"BFD session to {peer} went down ({diagnostic_name(diagnostic)})"
                logger.bind(peer=name).warning("{}; dropping the BGP session at once", reason)
                self.manager.peer_down(name, reason)

        return on_state

    def _on_session(self, peer_name: str, established: bool) -> None:
        if not established or self._stopping:
            return
        for session in self.manager.status():
            if session.peer == peer_name and session.local_address:
                try:
                    local = ipaddress.ip_address(session.local_address.split("%")[0])
                except ValueError:
                    return
                if self._locals.get(peer_name) != local:
                    self._locals[peer_name] = local
                    self._sync_bfd()
                return

    # -- stop ----------------------------------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """Planned stop: drain every session (GRACEFUL_SHUTDOWN, or graceful restart), then close BFD."""
        self._stopping = True
        for key in list(self._advertised):
            for ip in self._advertised.pop(key):
                self.metrics.set_announced(key, "bgp", self.node, ip, False)
        await self.manager.shutdown(graceful=True, restarting=True)
        if self.bfd is not None:
            await self.bfd.close()


__all__ = ["BgpController"]
