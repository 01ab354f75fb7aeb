"""Prometheus metrics of the L2 data plane, under MetalLB's names where MetalLB has them.

MetalLB exports (reference/metallb.md section 5.1), labelled by ``ip``:

- ``metallb_layer2_requests_received`` - ARP requests / neighbour solicitations received for an owned address;
- ``metallb_layer2_responses_sent`` - answers sent;
- ``metallb_layer2_gratuitous_sent`` - unsolicited announcements sent (each frame counts: request and reply form).

Its Go client prints those names without a ``_total`` suffix, and dashboards query them so; prometheus_client
would append ``_total`` to a counter, so they are exposed as ``untyped`` samples with the exact names (PromQL's
``rate()`` works the same). ironlb adds ``ironlb_layer2_dropped_total{reason}`` (one ``reason`` per
:class:`~speaker.l2.core.responder.DropReason`, every reason present from the start at 0 so alerts can use it),
``ironlb_layer2_address_conflicts_total``, ``ironlb_layer2_probes_sent_total{ip}`` and
``ironlb_layer2_socket_overflows_total`` (frames the kernel dropped because the data plane fell behind).

The collector reads :class:`~speaker.l2.stats.L2Stats` at scrape time, so counting on the hot path stays a
dictionary increment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import REGISTRY, CollectorRegistry, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from speaker.l2.core.responder import DropReason
from speaker.l2.stats import L2Stats

REQUESTS_RECEIVED = "metallb_layer2_requests_received"
RESPONSES_SENT = "metallb_layer2_responses_sent"
GRATUITOUS_SENT = "metallb_layer2_gratuitous_sent"
DROPPED = "ironlb_layer2_dropped"
CONFLICTS = "ironlb_layer2_address_conflicts"
PROBES_SENT = "ironlb_layer2_probes_sent"
SOCKET_OVERFLOWS = "ironlb_layer2_socket_overflows"


class L2Collector(Collector):
    """Turns an announcer's counters into metric families on each scrape."""

    def __init__(self, source: Callable[[], L2Stats]) -> None:
        """Args:
        source: returns the current counters (``Announcer.read_stats``).
        """
        self._source = source

    def collect(self) -> Iterator[Metric]:
        stats = self._source()
        per_address = sorted(stats.per_address().items(), key=lambda item: (item[0].version, int(item[0])))
        metallb = [
            (REQUESTS_RECEIVED, "Number of layer2 requests received for owned IPs", "requests_received"),
            (RESPONSES_SENT, "Number of layer2 responses sent for owned IPs", "responses_sent"),
            (GRATUITOUS_SENT, "Number of gratuitous layer2 packets sent for owned IPs", "gratuitous_sent"),
        ]
        for name, documentation, attribute in metallb:
            family = Metric(name, documentation, "untyped")
            for ip, counters in per_address:
                family.add_sample(name, {"ip": str(ip)}, float(getattr(counters, attribute)))
            yield family
        probes = CounterMetricFamily(PROBES_SENT, "Address probes sent before announcing, by IP", labels=["ip"])
        for ip, counters in per_address:
            if counters.probes_sent:
                probes.add_metric([str(ip)], float(counters.probes_sent))
        yield probes
        dropped = CounterMetricFamily(DROPPED, "Received ARP/NDP frames not answered, by reason", labels=["reason"])
        for reason in DropReason:
            dropped.add_metric([reason.value], float(stats.drops.get(reason, 0)))
        yield dropped
        yield CounterMetricFamily(
            CONFLICTS, "Probes that found an address already used by another host", value=float(stats.conflicts)
        )
        yield CounterMetricFamily(
            SOCKET_OVERFLOWS, "Frames dropped by the kernel because a receive buffer was full",
            value=float(stats.socket_drops),
        )  # fmt: skip


def register(source: Callable[[], L2Stats], registry: CollectorRegistry = REGISTRY) -> L2Collector:
    """Register a collector for ``source`` in ``registry`` and return it (unregister it to stop exporting)."""
    collector = L2Collector(source)
    registry.register(collector)
    return collector


__all__ = [
    "CONFLICTS",
    "DROPPED",
    "GRATUITOUS_SENT",
    "PROBES_SENT",
    "REQUESTS_RECEIVED",
    "RESPONSES_SENT",
    "SOCKET_OVERFLOWS",
    "L2Collector",
    "register",
]
