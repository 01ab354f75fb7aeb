"""ironlb-speaker's wiring: one asyncio loop, the tasks on it, and the way the process starts and stops.

::

    informer threads (list + watch; events handed to the loop)
      Services, EndpointSlices, Nodes ----------------------------+
      metallb.io CRs, Namespaces, ConfigMaps, Secrets             |
        --> ConfigWatcher --Config (last good kept)-------------+ |   ConfigurationState speaker-<node>,
                          --keys, excluded interfaces--+        | |   ConfigurationInvalid Events, stale metric
      Pods (--ml-labels) --seeds--+                    |        v v
                                  v                    v      SpeakerView  (pure: election + BGP plan per Service,
      MembershipLiveness (UDP 7946, HMAC) --member events--->              cost follows change)
        or NodeConditionsLiveness (--membership=false)          | Changes: Services whose decision moved; peers
              ^ metadata: links up, MACs            +-----------+------------+
              |                                     v                        v
              +----------- LinkEvent -------- L2Controller              BgpController
                                              | set_owned / release      | set_peers, set_routes (coalesced)
                                              v                          v
                                          Announcer (AF_PACKET)      BgpManager (TCP) <--peer_down-- BfdManager
                                              | AddressAnnounced,        |
                                              v AddressConflict          v
                                          StatusWriter (work queue): ServiceL2Status, ServiceBGPStatus, Events
    HealthServer /healthz /readyz /metrics          StatusServer (gRPC, unix socket): a snapshot of all of it

Every input is handled on the loop as it arrives (no queue between a membership event and the announcer); only
writes to the API server go through queues, so an unreachable API server delays reports and never what is
announced.

Two invariants order start-up and shutdown; an address must be answered at every moment a client may ask for it.

1. **No node is elected owner before it can answer** (start and restart). Start-up waits for every cache and the
   first parse, opens the data plane (the announcer's sockets), joins the membership as a member that is *not
   ready* (metadata ``"ready": false`` and no interface: :mod:`speaker.liveness`), waits until it has heard the
   others (up to 2 s), starts the L2 controller on that view, and only then publishes ``"ready": true`` with the
   interfaces it answers on. Every speaker's election, this one's included, skips members that are not ready
   (:mod:`speaker.view`), so until that moment nobody hands this node an address, and the current owners keep
   answering; from that moment it can answer what it wins, and it takes its addresses over as planned moves
   (invariant 2). A speaker whose configuration never loaded stays not ready. A restarted process joins as a new
   epoch that is not ready either, so even a restart faster than failure detection moves its addresses to a
   ready node at once instead of leaving them with a process that cannot answer yet. (With ``--membership=false``
   others cannot see readiness; a node counts as ready while its Node is Ready.)
2. **The next owner announces before the leaving one stops answering** (planned moves: SIGTERM, a node joining or
   becoming ready, labels, links). The leaving owner releases each address with a grace period
   (:func:`speaker.handover.release_grace`, longer than the next owner's probe): it stops announcing but keeps
   answering requests until it sees the next owner's gratuitous ARP / unsolicited NA from a known speaker MAC, at
   most for the grace. The next owner probes ignoring speaker MACs (the old owner still answers) and then announces.
   SIGTERM runs :class:`speaker.handover.PlannedStop`: release every address, leave the membership (the next owners
   take over at once), drain BGP, stop answering once every address was taken over (or its grace is over), exit 0.

tests/speaker/test_startup_order.py checks both on the real view, controller and L2 cores of several nodes;
e2e/test_l2.py checks them with real speakers, from a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from loguru import logger

from ironlb.api.endpoints import ServiceEndpoints, slice_service_key
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import EventType, Informer, WatchEvent
from ironlb.kube.resources import ENDPOINTSLICES, NODES, PODS, SERVICES
from ironlb.kube.rest import Kube, Rest, load_api_client
from ironlb.obs.http import HealthServer
from ironlb.rpc import status_pb2 as pb
from speaker import handover
from speaker.bfd.manager import BfdManager
from speaker.bgp.manager import BgpManager
from speaker.bgpcontroller import BgpController
from speaker.configuration import ConfigWatcher
from speaker.l2.announcer import Announcer, AnnouncerEvent
from speaker.l2.core.announce import AnnounceConfig
from speaker.l2.core.ownership import AddressReleased
from speaker.l2.core.probe import ProbeConfig
from speaker.l2.interfaces import DEFAULT_EXCLUDE, InterfaceFilter
from speaker.l2.metrics import register as register_l2_metrics
from speaker.l2controller import Context, L2Controller
from speaker.liveness import Liveness, MembershipLiveness, Metadata, NodeConditionsLiveness, speaker_liveness
from speaker.membership import LIVE_SET_EVENTS, MemberFailed, MembershipEvent
from speaker.membership.metrics import MembershipMetrics
from speaker.metrics import SpeakerMetrics
from speaker.options import Options
from speaker.status import snapshot
from speaker.status.crs import StatusWriter
from speaker.status.grpc_server import StatusServer
from speaker.view import Changes, SpeakerView

EXIT_OK = 0
EXIT_FAILED = 1
VERSION = "0.1.0"
#: how long start-up waits to join the other speakers before deciding anyway
JOIN_TIMEOUT = 2.0
#: the DaemonSet gives 10 s; leave room for the runtime
STOP_DEADLINE = 8.0


class StartupError(RuntimeError):
    """Start-up cannot continue; the message says what is missing and how to fix it."""


class Speaker:
    """One node's speaker. ``await Speaker(options).run()`` returns the exit status."""

    def __init__(self, options: Options, *, rest: Rest | None = None) -> None:
        self.options = o = options
        self.node = o.node_name
        self.rest = rest or Rest(load_api_client(o.kubeconfig, o.master))
        self.kube = Kube(self.rest)
        self.recorder = EventRecorder(self.kube, component="ironlb-speaker", host=self.node)
        self.metrics = SpeakerMetrics()
        self.view = SpeakerView(
            self.node, load_balancer_class=o.load_balancer_class, ignore_exclude_lb=o.ignore_exclude_lb
        )
        self.metrics.watch_view(lambda: self.view.stats)
        self.services = Informer(self.rest, SERVICES)
        self.slices = Informer(self.rest, ENDPOINTSLICES)
        self.nodes = Informer(self.rest, NODES)
        self.pods = Informer(self.rest, PODS, namespace=o.config_namespace, label_selector=o.ml_labels)
        self.services.add_handler(self._on_services)
        self.slices.add_handler(self._on_slices)
        self.nodes.add_handler(self._on_nodes)
        self.pods.add_handler(lambda events: self._update_seeds())
        self._slices_of: dict[str, dict[str, dict[str, Any]]] = {}
        self._service_of_slice: dict[str, str] = {}
        self.reporter = ConfigStateReporter(
            self.kube,
            namespace=o.config_namespace,
            name=f"speaker-{self.node}",
            component_type="speaker",
            node_name=self.node,
        )
        self.config = ConfigWatcher(
            self.rest,
            self.recorder,
            self.reporter,
            namespace=o.config_namespace,
            legacy_configmap=o.legacy_configmap,
            excludel2_configmap=o.excluded_interfaces_configmap,
            secret_name=o.ml_secret_name,
            node_labels=lambda: {name: view.labels for name, view in self.view.node_views.items()},
        )
        self.config.subscribe("config", self._on_config)
        self.config.subscribe("exclude", self._on_exclude)
        self.config.subscribe("keys", self._on_keys)
        self.status = StatusWriter(
            self.rest,
            self.kube,
            self.recorder,
            namespace=o.config_namespace,
            node=self.node,
            service_ref=self._service_ref,
            owner=self._own_pod,
        )
        self.health = HealthServer(o.bind_address, o.port, readiness={"speaker": self._ready})
        self.grpc = StatusServer(o.status_address, self.snapshot) if o.status_address else None
        self.announcer: Announcer | None = None
        self.liveness: Liveness | None = None
        self.l2: L2Controller | None = None
        self.bgp: BgpController | None = None
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._started_at = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ===== inputs -> the view -> the controllers ===============================================================
    def _dispatch(self, changes: Changes, context: Context | None = None) -> None:
        if self.l2 is not None and changes.l2:
            self.l2.on_changes(changes.l2, context or Context())
        if self.bgp is not None and (changes.bgp or changes.peers):
            self.bgp.on_changes(changes)

    def _on_services(self, events: Sequence[WatchEvent]) -> None:
        for event in events:
            service = None if event.type is EventType.DELETED else ServiceView.from_object(event.object)
            self._dispatch(self.view.set_service(event.key, service))

    def _on_slices(self, events: Sequence[WatchEvent]) -> None:
        touched: set[str] = set()
        for event in events:
            old_service = self._service_of_slice.pop(event.key, None)
            if old_service is not None:
                self._slices_of.get(old_service, {}).pop(event.key, None)
                touched.add(old_service)
            service = slice_service_key(event.object)
            if service is not None and event.type is not EventType.DELETED:
                self._service_of_slice[event.key] = service
                self._slices_of.setdefault(service, {})[event.key] = event.object
                touched.add(service)
        for service in sorted(touched):
            slices = self._slices_of.get(service) or {}
            if not slices:
                self._slices_of.pop(service, None)
            endpoints = ServiceEndpoints.from_slices(slices[k] for k in sorted(slices))
            self._dispatch(self.view.set_endpoints(service, endpoints))

    def _on_nodes(self, events: Sequence[WatchEvent]) -> None:
        labels_changed = False
        for event in events:
            node = None if event.type is EventType.DELETED else NodeView.from_object(event.object)
            old = self.view.node_views.get(event.key)
            labels_changed |= (old is None) != (node is None) or (
                old is not None and node is not None and dict(old.labels) != dict(node.labels)
            )
            self._dispatch(self.view.set_node(event.key, node))
        if labels_changed:
            self.config.nodes_changed()
        if isinstance(self.liveness, NodeConditionsLiveness):
            self.liveness.set_nodes(self.view.node_views)

    def _on_config(self) -> None:
        self._dispatch(self.view.set_config(self.config.current))

    def _on_exclude(self) -> None:
        if self.announcer is None:
            return
        patterns = self.config.exclude if self.config.exclude is not None else DEFAULT_EXCLUDE
        self.announcer.monitor.filter = InterfaceFilter(patterns)
        logger.bind(patterns=",".join(patterns)).info("excluded interfaces changed; rescanning")
        asyncio.get_running_loop().create_task(self.announcer.monitor.rescan())

    def _on_keys(self) -> None:
        if isinstance(self.liveness, MembershipLiveness):
            self.liveness.set_keys(self.config.keys)

    def _on_member(self, event: MembershipEvent) -> None:
        if not isinstance(event, LIVE_SET_EVENTS) or self.liveness is None:
            return
        now = asyncio.get_running_loop().time()
        failed: frozenset[str] = frozenset()
        if isinstance(event, MemberFailed):
            failed = frozenset({event.name})
            if event.after_seconds > 0:
                self.metrics.detection_seconds.observe(event.after_seconds)
        members = self.liveness.view()
        info = members.members.get(event.name)
        meta = Metadata.decode(info.metadata) if info is not None else None
        if self.l2 is not None:
            self.l2.learn_macs({event.name: meta}, now)
        live = speaker_liveness(info is not None, info.metadata if info is not None else None)
        self._dispatch(self.view.set_liveness(event.name, live), Context(failed, now))

    def _publish_metadata(self) -> None:
        """Our links, ports or readiness changed: tell the other speakers (and our own view)."""
        if self.l2 is None or self.liveness is None:
            return
        self.liveness.set_metadata(self.l2.metadata().encode())
        # With membership the core reports our own MemberMetadataChanged; Node conditions do the same via diff.

    def _update_seeds(self) -> None:
        if not isinstance(self.liveness, MembershipLiveness):
            return
        seeds = []
        for pod in self.pods.store.values():
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                seeds.append((str(ip), self.options.ml_bind_port))
        self.liveness.set_seeds(seeds)

    # ===== lookups for the status writer =======================================================================
    def _service_ref(self, key: str) -> ObjectRef | None:
        obj = self.services.get(key)
        return ObjectRef.of(obj, kind="Service", api_version="v1") if obj is not None else None

    def _own_pod(self) -> dict[str, Any] | None:
        name = self.options.pod_name
        if name:
            return self.pods.get(f"{self.options.config_namespace}/{name}")
        for pod in self.pods.store.values():
            if (pod.get("spec") or {}).get("nodeName") == self.node:
                return pod
        return None

    def _ready(self) -> tuple[bool, str]:
        if not self.started.is_set():
            return False, "starting: caches, configuration and membership are not ready yet"
        if self.config.current is None:
            return False, "no valid configuration has been loaded"
        return True, ""

    # ===== start-up ============================================================================================
    async def _wait(self, coro: Awaitable[Any]) -> bool:
        """Await ``coro`` unless a stop is requested first; True when it finished."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return False
        task.result()
        return True

    def _membership_address(self) -> str:
        if self.options.ml_bind_addr:
            return self.options.ml_bind_addr
        node = self.view.node_views.get(self.node)
        for address in node.addresses if node else ():
            if address.type == "InternalIP":
                return address.address
        raise StartupError(
            f"no membership address: --ml-bind-addr is not set and Node {self.node!r} has no InternalIP; "
            "set METALLB_ML_BIND_ADDR from status.podIP"
        )

    async def _start_data_planes(self) -> None:
        o = self.options
        exclude = self.config.exclude if self.config.exclude is not None else DEFAULT_EXCLUDE
        probe = ProbeConfig()
        self.announcer = Announcer(
            exclude=exclude, announce=AnnounceConfig(refresh=o.gratuitous_refresh or None), probe=probe
        )
        await self.announcer.start()
        register_l2_metrics(self.announcer.read_stats, self.metrics.registry)
        self.l2 = L2Controller(
            view=self.view,
            announcer=self.announcer,
            status=self.status,
            metrics=self.metrics,
            probe=o.l2_probe,
            grace=handover.release_grace(probe),
            clock=asyncio.get_running_loop().time,
            on_metadata_change=self._publish_metadata,
        )
        metadata = self.l2.metadata().encode()  # not ready: we join as a member that nobody elects (yet)
        if o.membership:
            host = self._membership_address()
            liveness = MembershipLiveness(
                node=self.node,
                address=(str(ipaddress.ip_address(host)), o.ml_bind_port),
                keys=self.config.keys,
                metadata=metadata,
                scale=o.ml_detection_scale,
                on_event=self._on_member,
                metrics=MembershipMetrics(),
            )
            self.liveness = liveness
            await liveness.start()
            self._update_seeds()
            if not await liveness.settled(JOIN_TIMEOUT):
                logger.warning("no other speaker answered within {} s; deciding with what is known", JOIN_TIMEOUT)
        else:
            nodes = NodeConditionsLiveness(node=self.node, metadata=metadata, on_event=self._on_member)
            self.liveness = nodes
            nodes.set_nodes(self.view.node_views)
        for info in self.liveness.view():
            self.view.set_liveness(info.name, speaker_liveness(True, info.metadata))
            self.l2.learn_macs({info.name: Metadata.decode(info.metadata)}, asyncio.get_running_loop().time())
        manager = BgpManager(listen_port=None, shutdown_wait=o.bgp_graceful_shutdown)
        await manager.start()
        self.bgp = BgpController(
            view=self.view, manager=manager, bfd=BfdManager, status=self.status, metrics=self.metrics
        )

    # ===== run =================================================================================================
    async def run(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        exit_code = EXIT_OK
        background: list[asyncio.Task[Any]] = []
        try:
            if self.options.port:
                await self.health.start()
            if self.grpc is not None:
                await self.grpc.start()
            background = [
                loop.create_task(self.recorder.run(), name="events"),
                loop.create_task(self.services.run(), name="informer-services"),
                loop.create_task(self.slices.run(), name="informer-endpointslices"),
                loop.create_task(self.nodes.run(), name="informer-nodes"),
                loop.create_task(self.pods.run(), name="informer-pods"),
                loop.create_task(self.config.run(), name="config"),
                loop.create_task(self.reporter.run(), name="configurationstate"),
                loop.create_task(self.status.run(start=self.started), name="status"),
            ]
            caches = [i.synced.wait() for i in (self.services, self.slices, self.nodes, self.pods)]
            if await self._wait(asyncio.gather(*caches, self.config.first_parse.wait(), self.status.synced.wait())):
                self._dispatch(self.view.set_config(self.config.current))
                await self._start_data_planes()
                if not self._stop.is_set():
                    assert self.l2 is not None and self.bgp is not None
                    self.l2.start()
                    self.bgp.start()
                    self.started.set()
                    gc.freeze()  # what start-up allocated lives as long as the process: keep it out of collections
                    logger.bind(node=self.node).info("speaker started")
                await self._stop.wait()
        except (StartupError, RuntimeError, OSError) as exc:
            logger.bind(error=str(exc)).error("ironlb-speaker cannot start")
            exit_code = EXIT_FAILED
        await self._planned_stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.grpc is not None:
            await self.grpc.stop()
        await self.health.stop()
        self.kube.close()
        logger.bind(exit_code=exit_code).info("ironlb-speaker stopped")
        return exit_code

    async def _planned_stop(self) -> None:
        """SIGTERM: hand every address over (speaker.handover.PlannedStop), drain BGP, stop answering."""
        loop = asyncio.get_running_loop()
        owned = self.l2.release_all() if self.l2 is not None else []
        grace = self.l2.grace if self.l2 is not None and owned else 0.0
        plan = handover.PlannedStop(grace=grace, deadline=STOP_DEADLINE)
        pending: list[handover.Step] = []  # steps fed by callbacks (an address taken over, BGP drained)
        wake = asyncio.Event()

        def feed(steps: list[handover.Step]) -> None:
            pending.extend(steps)
            wake.set()

        def on_released(event: AnnouncerEvent) -> None:
            if isinstance(event, AddressReleased):  # its next owner announced it (or its grace ran out)
                feed(plan.released(event.ip, loop.time()))

        if self.announcer is not None:
            self.announcer.add_listener(on_released)
        tasks: list[asyncio.Task[Any]] = [loop.create_task(self.status.withdraw_all(limit=1.5))]
        for step in plan.start(loop.time(), owned):
            if isinstance(step, handover.LeaveMembership) and self.liveness is not None:
                tasks.append(loop.create_task(self.liveness.leave()))
            elif isinstance(step, handover.DrainBgp):
                tasks.append(loop.create_task(self._drain_bgp(plan, feed)))
        logger.bind(addresses=len(owned), grace=plan.grace).info("stopping: handing the addresses over")
        while True:
            steps = list(pending)
            pending.clear()
            for step in steps:
                if isinstance(step, handover.StopAnswering) and self.announcer is not None:
                    await self.announcer.stop()
            if pending:
                continue
            if plan.done:
                break
            deadline = plan.next_deadline()
            wake.clear()
            if deadline is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), max(0.0, deadline - loop.time()))
            pending.extend(plan.handle_timer(loop.time()))
        if self.liveness is not None:
            self.liveness.close()
        await asyncio.wait(tasks, timeout=1.0)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recorder.flush(), timeout=0.5)

    async def _drain_bgp(self, plan: handover.PlannedStop, feed: Callable[[list[handover.Step]], None]) -> None:
        try:
            if self.bgp is not None:
                await self.bgp.shutdown()
        except Exception:
            logger.exception("BGP shutdown failed")
        finally:
            feed(plan.bgp_drained(asyncio.get_running_loop().time()))

    # ===== the status service ==================================================================================
    def snapshot(self) -> pb.StatusResponse:
        result = self.config.last_result
        current = self.config.current
        config = pb.ConfigState(
            loaded=current is not None,
            stale=current is not None and result is not None and not result.ok,
            error_summary="; ".join(str(e) for e in result.errors) if result is not None else "",
            pools=len(current.pools) if current else 0,
            peers=len(self.view.peers),
        )
        response = pb.StatusResponse(
            node=self.node, version=VERSION, uptime_seconds=time.monotonic() - self._started_at, config=config
        )
        if self.l2 is not None:
            response.l2.extend(snapshot.l2_messages(self.l2.announcements()))
        if self.bgp is not None:
            response.bgp.extend(snapshot.bgp_messages(self.bgp.table))
            with contextlib.suppress(RuntimeError):
                response.bgp_sessions.extend(snapshot.session_messages(self.bgp.manager.status()))
            if self.bgp.bfd is not None:
                response.bfd_sessions.extend(snapshot.bfd_messages(self.bgp.bfd.status()))
        if self.liveness is not None:
            response.membership.CopyFrom(
                snapshot.membership_message(
                    enabled=self.options.membership,
                    source=self.liveness.source,
                    view=self.liveness.view(),
                    states=self.liveness.member_states(),
                )
            )
        stats = self.announcer.read_stats() if self.announcer is not None else None
        response.counters.extend(snapshot.counters(stats, self.view.stats, {}))
        return response


__all__ = ["EXIT_FAILED", "EXIT_OK", "Speaker", "StartupError"]
