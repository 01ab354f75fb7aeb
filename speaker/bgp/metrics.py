"""Prometheus metrics of the BGP speaker, under MetalLB's names so that existing dashboards and alerts keep working.

MetalLB's native speaker exports ``metallb_bgp_session_up``, ``metallb_bgp_updates_total``,
``metallb_bgp_announced_prefixes_total`` and ``metallb_bgp_pending_prefixes_total``, labelled ``peer="addr:port"``
(metallb.md section 5.1); the Helm rule MetalLBBGPSessionDown watches the first. ironlb adds, under its own
prefix, the named drop reasons (style anchor 7) and NOTIFICATIONs by direction and code.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class BgpMetrics:
    """One set of BGP metrics in one registry (tests pass a fresh ``CollectorRegistry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.session_up = Gauge(
            "metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)", ["peer"], registry=registry
        )
        self.updates = Counter(
            "metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", ["peer"], registry=registry
        )
        self.announced = Gauge(
            "metallb_bgp_announced_prefixes_total",
            "Number of prefixes currently being advertised on the BGP session",
            ["peer"],
            registry=registry,
        )
        self.pending = Gauge(
            "metallb_bgp_pending_prefixes_total",
            "Number of prefixes that should be advertised on the BGP session",
            ["peer"],
            registry=registry,
        )
        self.dropped = Counter(
            "ironlb_bgp_dropped_total",
            "Inputs the BGP speaker ignored on purpose, by reason (received routes, RFC 7606 discards, ...)",
            ["peer", "reason"],
            registry=registry,
        )
        self.notifications = Counter(
            "ironlb_bgp_notifications_total",
            "BGP NOTIFICATION messages, by direction (sent/received) and error code/subcode",
            ["peer", "direction", "code"],
            registry=registry,
        )

    def forget(self, peer: str) -> None:
        """Remove a deconfigured peer's series (so a removed session does not look down forever)."""
        for metric in (self.session_up, self.updates, self.announced, self.pending):
            try:
                metric.remove(peer)
            except KeyError:
                continue


_default: BgpMetrics | None = None


def default_metrics() -> BgpMetrics:
    """The process-wide metrics in the default registry, created on first use."""
    global _default
    if _default is None:
        _default = BgpMetrics()
    return _default


__all__ = ["BgpMetrics", "default_metrics"]
