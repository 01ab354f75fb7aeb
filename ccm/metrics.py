"""ccm metrics: MetalLB's allocator names (metallb.md section 5.1) plus reconcile latency."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

ADDRESSES_TOTAL = Gauge("metallb_allocator_addresses_total", "Usable addresses in a pool", ["pool"])
ADDRESSES_IN_USE = Gauge("metallb_allocator_addresses_in_use_total", "Addresses in use in a pool", ["pool"])
IPV4_TOTAL = Gauge("metallb_allocator_ipv4_addresses_total", "Usable IPv4 addresses in a pool", ["pool"])
IPV4_IN_USE = Gauge("metallb_allocator_ipv4_addresses_in_use_total", "IPv4 addresses in use in a pool", ["pool"])
IPV6_TOTAL = Gauge("metallb_allocator_ipv6_addresses_total", "Usable IPv6 addresses in a pool", ["pool"])
IPV6_IN_USE = Gauge("metallb_allocator_ipv6_addresses_in_use_total", "IPv6 addresses in use in a pool", ["pool"])
RECONCILE_SECONDS = Histogram(
    "ironlb_ccm_reconcile_duration_seconds",
    "Time to reconcile one object, by controller",
    ["controller"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

POOL_GAUGES = (ADDRESSES_TOTAL, ADDRESSES_IN_USE, IPV4_TOTAL, IPV4_IN_USE, IPV6_TOTAL, IPV6_IN_USE)

__all__ = [
    "ADDRESSES_IN_USE",
    "ADDRESSES_TOTAL",
    "IPV4_IN_USE",
    "IPV4_TOTAL",
    "IPV6_IN_USE",
    "IPV6_TOTAL",
    "POOL_GAUGES",
    "RECONCILE_SECONDS",
]
