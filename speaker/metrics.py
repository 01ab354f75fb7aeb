"""The speaker's own metrics (the data planes export theirs: speaker.l2.metrics, speaker.bgp.metrics, ...).

metallb_speaker_announced{service,protocol,node,ip}   gauge, 1 per address this node announces (MetalLB's
                                                      name: the desired state, L2 and BGP)
ironlb_speaker_takeovers_total{cause}                 addresses this node took over, by why (new, failover,
                                                      planned, resumed)
ironlb_speaker_takeover_seconds{cause}                from the membership event that moved an address here
                                                      to its first gratuitous packet (probe included)
ironlb_speaker_failure_detection_seconds              how long the failed speaker had been silent when it was
                                                      declared (from the membership event): add it to the
                                                      takeover time for the whole failover
ironlb_speaker_elections_total                        L2 elections run (cost follows change)
ironlb_speaker_election_screens_total                 cheap "could this node win?" checks
ironlb_speaker_bgp_plans_total                        one-Service BGP plans computed
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from speaker.view import ViewStats

_TAKEOVER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class _ViewCollector(Collector):
    def __init__(self, source: Callable[[], ViewStats]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        stats = self._source()
        yield CounterMetricFamily("ironlb_speaker_elections", "L2 elections run", value=float(stats.elections))
        yield CounterMetricFamily(
            "ironlb_speaker_election_screens",
            "Checks whether a changed node could win an election (each avoids a full election)",
            value=float(stats.screens),
        )
        yield CounterMetricFamily(
            "ironlb_speaker_bgp_plans", "One-Service BGP plans computed", value=float(stats.bgp_plans)
        )


class SpeakerMetrics:
    """One set of speaker metrics in one registry (tests pass a fresh ``CollectorRegistry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        self.announced = Gauge(
            "metallb_speaker_announced",
            "Services being announced from this node. This is desired state, it does not guarantee that the "
            "routing protocols have converged.",
            ["service", "protocol", "node", "ip"],
            registry=self.registry,
        )
        self.takeovers = Counter(
            "ironlb_speaker_takeovers", "Addresses this node took over, by cause", ["cause"], registry=self.registry
        )
        self.takeover_seconds = Histogram(
            "ironlb_speaker_takeover_seconds",
            "Seconds from the membership event that moved an address to this node to its first gratuitous packet",
            ["cause"],
            buckets=_TAKEOVER_BUCKETS,
            registry=self.registry,
        )
        self.detection_seconds = Histogram(
            "ironlb_speaker_failure_detection_seconds",
            "Silence of a failed speaker when it was declared failed, as the declaring node measured it",
            buckets=_TAKEOVER_BUCKETS,
            registry=self.registry,
        )
        self._collector: _ViewCollector | None = None

    def watch_view(self, source: Callable[[], ViewStats]) -> None:
        """Export the view's work counters, read at scrape time."""
        self._collector = _ViewCollector(source)
        self.registry.register(self._collector)

    def set_announced(self, service: str, protocol: str, node: str, ip: str, on: bool) -> None:
        if on:
            self.announced.labels(service, protocol, node, ip).set(1)
        else:
            try:
                self.announced.remove(service, protocol, node, ip)
            except KeyError:
                return

    def close(self) -> None:
        """Unregister everything (tests that build several speakers in one process)."""
        for metric in (self.announced, self.takeovers, self.takeover_seconds, self.detection_seconds):
            try:
                self.registry.unregister(metric)
            except KeyError:
                continue
        if self._collector is not None:
            try:
                self.registry.unregister(self._collector)
            except KeyError:
                return


__all__ = ["SpeakerMetrics"]
