"""ironlb-ccm's wiring: which tasks run, on which replica, and how the process ends.

::

    every replica                               the leader only (after winning the Lease)
    -------------                               -----------------------------------------
    HealthServer  /healthz /readyz /metrics     ConfigController  CRs+Namespaces+ConfigMap -> Config
    EventRecorder (background writes)               | subscribe
    Informer(Services)  --- warm cache --->      ServiceController  (restore, then reconcile; workqueue)
    Informer(Nodes)                                 | on_allocations_changed
    LeaderElector (Lease)                        PoolStatusController (IPAddressPool status, gauges)
                                                 NodeController, LifecycleController (cloud-node*)

Standby replicas keep the Service and Node caches warm, so a new leader only lists the configuration before it
restores and serves. Every write passes the Lease fence. Losing the Lease ends the process with status 1 (as
upstream cloud-controller-managers do); SIGTERM/SIGINT end it with 0 after releasing the Lease, so a standby takes
over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import Coroutine
from typing import Any

from loguru import logger

from ccm.allocator import Allocator
from ccm.controllers.config import ConfigController
from ccm.controllers.lifecycle import LifecycleController
from ccm.controllers.node import NodeController
from ccm.controllers.poolstatus import PoolStatusController
from ccm.controllers.service import ServiceController
from ccm.options import Options
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.events import EventRecorder
from ironlb.kube.informer import Informer
from ironlb.kube.leaderelection import LeaderElector, NotLeaderError
from ironlb.kube.resources import NODES, SERVICES
from ironlb.kube.rest import Kube, Rest, load_api_client
from ironlb.obs.http import HealthServer

EXIT_OK = 0
EXIT_LEADERSHIP_LOST = 1


class CloudControllerManager:
    def __init__(self, options: Options, *, rest: Rest | None = None, freeze_heap: bool = False) -> None:
        """Wire the tasks; nothing talks to the API server before :meth:`run`.

        Args:
            options: the parsed flags.
            rest: the API client (default: from ``--kubeconfig`` / in-cluster / ``--master``).
            freeze_heap: the manager owns its process and may tune the garbage collector (see
                :meth:`_freeze_heap`). The ``ironlb-ccm`` command sets it, as it sets up logging; an embedding
                (the in-process integration tests) leaves process-wide settings alone.
        """
        self.options = options
        self.freeze_heap = freeze_heap
        self.rest = rest or Rest(load_api_client(options.kubeconfig, options.master))
        self.kube = Kube(self.rest)
        self.elector: LeaderElector | None = None
        if options.leader_elect:
            self.elector = LeaderElector(
                self.kube,
                namespace=options.leader_elect_resource_namespace,
                name=options.leader_elect_resource_name,
                identity=options.identity,
                lease_duration=options.leader_elect_lease_duration,
                renew_deadline=options.leader_elect_renew_deadline,
                retry_period=options.leader_elect_retry_period,
            )
        self.fence = self.elector.check if self.elector else (lambda: None)
        self.recorder = EventRecorder(self.kube, component="ironlb-ccm", host=socket.gethostname(), fence=self.fence)
        self.services = Informer(self.rest, SERVICES)
        self.nodes = Informer(self.rest, NODES)
        self.allocator = Allocator()
        self.exit_code = EXIT_OK
        self._stop = asyncio.Event()
        self._leading = False
        self.service_controller: ServiceController | None = None
        self.config_controller: ConfigController | None = None
        self.health = HealthServer(
            options.bind_address,
            options.secure_port,
            liveness={"leader-election": self._leader_healthy},
            readiness={"informers": self._synced},
        )

    # -- probes -----------------------------------------------------------------------------------------
    def _leader_healthy(self) -> tuple[bool, str]:
        if self.elector is None or not self._leading or self.elector.is_leader():
            return True, ""
        return False, "this replica leads but its Lease is not fresh"

    def _synced(self) -> tuple[bool, str]:
        if self.services.synced.is_set():
            return True, ""
        return False, "the Service cache has not synced yet"

    # -- the leader's work ------------------------------------------------------------------------------
    def _build_controllers(self) -> list[Coroutine[Any, Any, None]]:
        o = self.options
        self.allocator = Allocator()
        reporter = ConfigStateReporter(
            self.kube, namespace=o.config_namespace, name="controller", component_type="controller", fence=self.fence
        )
        config = ConfigController(
            self.rest,
            self.kube,
            self.recorder,
            namespace=o.config_namespace,
            legacy_configmap=o.legacy_configmap,
            reporter=reporter,
        )
        self.config_controller = config
        work: list[Coroutine[Any, Any, None]] = [config.run(), reporter.run()]
        if "service-lb-controller" in o.controllers:
            services = ServiceController(
                self.kube,
                self.services,
                self.recorder,
                self.allocator,
                fence=self.fence,
                load_balancer_class=o.load_balancer_class,
                concurrency=o.concurrent_service_syncs,
                cluster_name=o.cluster_name,
            )
            pools = PoolStatusController(self.kube, self.allocator, namespace=o.config_namespace, fence=self.fence)
            services.on_allocations_changed = pools.changed
            config.subscribe(services.on_config)
            self.service_controller = services

            async def serve() -> None:
                await config.loaded.wait()  # barrier: a valid configuration ...
                await services.run()  # ... and every Service listed (run waits for the cache) before allocating

            work += [serve(), pools.run()]
        if "cloud-node-controller" in o.controllers:
            node = NodeController(
                self.kube,
                self.nodes,
                self.recorder,
                fence=self.fence,
                concurrency=o.concurrent_node_syncs,
                status_update_frequency=o.node_status_update_frequency,
            )
            work.append(node.run())
        if "cloud-node-lifecycle-controller" in o.controllers:
            lifecycle = LifecycleController(
                self.kube, self.nodes, self.recorder, fence=self.fence, monitor_period=o.node_monitor_period
            )
            work.append(lifecycle.run())
        return work

    async def _lead(self) -> None:
        self._leading = True
        logger.bind(controllers=",".join(sorted(self.options.controllers))).info("starting controllers")
        tasks = [asyncio.create_task(c) for c in self._build_controllers()]
        try:
            await asyncio.gather(*tasks)
        except NotLeaderError:
            # A write found the Lease stale (this process was paused or cut off): stop at once, write nothing
            # more; the elector notices that the work ended and reports leadership lost (exit status 1).
            logger.warning("a write found this replica's Lease stale: stopping the controllers")
        except Exception:
            logger.exception("a controller stopped on an error")
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _freeze_heap(self) -> None:
        """Move the long-lived heap out of the cyclic collector's way, twice: when the caches have synced, and
        when the leader's first pass over every Service has drained (a bulk allocation replaces every cached
        Service). A full collection scans every tracked object: with 10,000 Services cached it paused the loop
        for 100-250 ms each time (measured), which showed as the create-to-status tail. Frozen objects are still
        freed by reference counting when the cache drops them; only a cycle formed among objects alive at those
        two moments (or old cyclic garbage not collected by then) would outlive its use, and the cached JSON
        holds none: full collections of a running ccm found 0-44 such objects (measured)."""
        await self.services.synced.wait()
        await self.nodes.synced.wait()
        _freeze("caches synced")
        while True:
            await asyncio.sleep(1.0)
            controller = self.service_controller
            if controller is not None and controller.started.is_set() and len(controller.queue) == 0:
                _freeze("first pass over the Services done")
                return

    def stop(self) -> None:
        """Stop as on SIGTERM: controllers stop, queued Events are written, the Lease is released. Call it on the
        manager's event loop (``loop.call_soon_threadsafe(ccm.stop)`` from another thread)."""
        self._stop.set()

    def _lost_leadership(self) -> None:
        if not self._stop.is_set():
            logger.error("leadership lost: exiting so that a fresh process campaigns again")
            self.exit_code = EXIT_LEADERSHIP_LOST
            self._stop.set()

    async def run(self) -> int:
        for note in self.options.notes:
            logger.warning(note)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        if self.options.secure_port:
            await self.health.start()
        background = [
            asyncio.create_task(self.recorder.run(), name="events"),
            asyncio.create_task(self.services.run(), name="informer-services"),
            asyncio.create_task(self.nodes.run(), name="informer-nodes"),
        ]
        if self.freeze_heap:
            background.append(asyncio.create_task(self._freeze_heap(), name="freeze-heap"))
        if self.elector is not None:
            main = asyncio.create_task(self.elector.run(self._lead, self._lost_leadership), name="leader-election")
        else:
            main = asyncio.create_task(self._lead(), name="controllers")
        stopper = asyncio.create_task(self._stop.wait())
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if main.done() and not main.cancelled() and main.exception() is not None:
            logger.opt(exception=main.exception()).error("controllers stopped on an error")
            self.exit_code = EXIT_LEADERSHIP_LOST
        main.cancel()
        stopper.cancel()
        await asyncio.gather(main, stopper, return_exceptions=True)
        # Events first (still under the Lease's fence), then the Lease, so a standby starts after our last word.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recorder.flush(), timeout=2)
        if self.elector is not None and self.exit_code == EXIT_OK:
            await self.elector.release()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self.health.stop()
        self.kube.close()
        logger.bind(exit_code=self.exit_code).info("ironlb-ccm stopped")
        return self.exit_code


def _freeze(why: str) -> None:
    # Young generations only: they hold nearly all the cyclic garbage (short-lived futures and callbacks) and
    # cost little, whereas a full collection here would itself be the 100-250 ms pause this avoids later.
    gc.collect(1)
    gc.freeze()
    logger.bind(frozen=gc.get_freeze_count()).debug(f"heap frozen: {why}")


__all__ = ["EXIT_LEADERSHIP_LOST", "EXIT_OK", "CloudControllerManager"]
