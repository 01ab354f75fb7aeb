"""ironlb's native BGP speaker: sessions to the upstream routers that advertise this node's load-balancer prefixes.

Layout: ``core/`` is sans-IO (codec: ``iana``, ``errors``, ``attributes``, ``capabilities``, ``messages``; FSM:
``fsm``, ``session``, ``peer``, ``outbound``, ``events``; what to say: ``rib``, ``policy``); next to it the asyncio
adapters ``transport`` (sockets, TCP-MD5, TTL), ``driver`` (one peer's loop) and ``manager`` (all peers), plus
``metrics`` (MetalLB's names) and ``standalone`` (the speaker without Kubernetes, for the lab and benchmarks).

The speaker daemon uses it like this::

    manager = BgpManager()                      # connects only (listen_port=179 also accepts); default registry
    await manager.start()
    peers = peers_for_node(config, node)        # BGPPeers whose nodeSelectors select this node
    manager.set_peers(peers, node.name)
    result = plan(config, node, services, peers)
    manager.set_routes(result.routes)           # peer name -> prefix -> RouteAttrs
    manager.subscribe(on_session_change)        # (peer name, established) - e.g. for BFD
    manager.peer_down(peer_name, "BFD down")    # the BFD hook
    manager.status()                            # for the gRPC status service
    await manager.shutdown(graceful=True)       # planned stop: RFC 8326 drain, or RFC 4724 for GR peers

Graceful restart (``BGPPeer.enableGracefulRestart``) makes the router keep our routes while the speaker restarts,
and also while it is dead, for the whole restart time: enable it only together with BFD.
"""

from speaker.bgp.core.policy import BgpPlan, Reason, ServiceState, peers_for_node, plan
from speaker.bgp.core.rib import RouteAttrs
from speaker.bgp.manager import BgpManager, RoutesByPeer, SessionStatus
from speaker.bgp.metrics import BgpMetrics

__all__ = [
    "BgpManager",
    "BgpMetrics",
    "BgpPlan",
    "Reason",
    "RouteAttrs",
    "RoutesByPeer",
    "ServiceState",
    "SessionStatus",
    "peers_for_node",
    "plan",
]
