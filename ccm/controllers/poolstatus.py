"""IPAddressPool status and the allocator metrics: how full each pool is.

Allocations change at up to hundreds per second; pool status does not need to. The controller is told "something
changed" (cheap, synchronous: it only sets a flag), then at most every ``interval`` seconds updates the Prometheus
gauges and writes ``status`` of each pool whose counts changed, so a burst of allocations costs one write per pool
and one pass over the pools' counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loguru import logger

from ccm import metrics
from ccm.allocator import Allocator, PoolStats
from ironlb.kube.resources import metallb
from ironlb.kube.rest import ApiError, Kube

POOLS = metallb("IPAddressPool")


def status_body(stats: PoolStats) -> dict[str, int]:
    return {
        "assignedIPv4": stats.assigned_ipv4,
        "assignedIPv6": stats.assigned_ipv6,
        "availableIPv4": stats.available_ipv4,
        "availableIPv6": stats.available_ipv6,
    }


class PoolStatusController:
    def __init__(
        self,
        kube: Kube,
        allocator: Allocator,
        *,
        namespace: str,
        fence: Callable[[], None],
        interval: float = 1.0,
    ) -> None:
        self.kube = kube
        self.allocator = allocator
        self.namespace = namespace
        self.fence = fence
        self.interval = interval
        self._dirty = asyncio.Event()
        self._written: dict[str, dict[str, int]] = {}
        self._known_pools: set[str] = set()

    def changed(self) -> None:
        self._dirty.set()

    def update_metrics(self) -> None:
        stats = self.allocator.all_pool_stats()
        for gone in self._known_pools - set(stats):
            for gauge in metrics.POOL_GAUGES:
                gauge.remove(gone)
        self._known_pools = set(stats)
        for name, s in stats.items():
            metrics.ADDRESSES_TOTAL.labels(name).set(s.addresses_total)
            metrics.ADDRESSES_IN_USE.labels(name).set(s.addresses_in_use)
            metrics.IPV4_TOTAL.labels(name).set(s.capacity_ipv4)
            metrics.IPV4_IN_USE.labels(name).set(s.assigned_ipv4)
            metrics.IPV6_TOTAL.labels(name).set(s.capacity_ipv6)
            metrics.IPV6_IN_USE.labels(name).set(s.assigned_ipv6)

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self.update_metrics()
            await self.write_once()
            await asyncio.sleep(self.interval)

    async def write_once(self) -> None:
        for name, stats in sorted(self.allocator.all_pool_stats().items()):
            body = status_body(stats)
            if self._written.get(name) == body:
                continue
            try:
                self.fence()
                await self.kube.patch(POOLS, name, {"status": body}, namespace=self.namespace, subresource="status")
                self._written[name] = body
            except ApiError as exc:
                if not exc.not_found:
                    logger.bind(pool=name, error=str(exc)).warning("could not write IPAddressPool status")
                    self._dirty.set()


__all__ = ["PoolStatusController", "status_body"]
