"""BFD metrics, under the names MetalLB's FRR mode exports (reference/metallb.md section 5.1), plus our drop counter.

MetalLB in FRR mode runs a sidecar that asks ``vtysh`` for ``show bfd peers`` and exports, per peer:
``metallb_bfd_session_up`` (gauge, 1 when up), ``metallb_bfd_control_packet_input`` / ``_output`` and
``metallb_bfd_session_up_events`` / ``_down_events`` (counters). Their Go exporter publishes the counters under
those exact names, without the ``_total`` suffix that the Python client appends to every counter, so dashboards and
alerts written for MetalLB query the bare names. We publish them as *untyped* samples under the exact names: the
queries (``rate(metallb_bfd_control_packet_input[5m])``, ``metallb_bfd_session_up == 0``) keep working unchanged.
MetalLB also labels them ``vrf``; ironlb runs BFD in the default VRF only and labels them ``peer`` alone.

``ironlb_bfd_dropped_total{reason}`` counts every discarded control packet by its
:class:`~speaker.bfd.core.DropReason`, and ``ironlb_bfd_send_errors_total`` the packets the kernel refused to send.

Values are read from the managers at scrape time (a collector, not counters bumped on the hot path), so a
session's figures and its status in the gRPC service come from the same snapshot. :data:`COLLECTOR` is registered
in the default registry and every :class:`~speaker.bfd.manager.BfdManager` adds itself to it; tests build their
own :class:`BfdCollector` and registry.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from speaker.bfd.core import DropReason, State

if TYPE_CHECKING:
    from speaker.bfd.manager import PeerStatus


class StatusSource(Protocol):
    """What the collector reads: :class:`~speaker.bfd.manager.BfdManager` provides it."""

    def status(self) -> Sequence[PeerStatus]: ...

    def dropped(self) -> Mapping[DropReason, int]: ...

    def send_errors(self) -> int: ...


#: (metric name, help, attribute of the session snapshot) for the per-peer counters MetalLB's FRR mode exports.
_PEER_COUNTERS = (
    ("metallb_bfd_control_packet_input", "Number of received BFD control packets", "packets_in"),
    ("metallb_bfd_control_packet_output", "Number of sent BFD control packets", "packets_out"),
    ("metallb_bfd_session_up_events", "Number of BFD session up events", "up_events"),
    ("metallb_bfd_session_down_events", "Number of BFD session down events", "down_events"),
)


class BfdCollector(Collector):
    """A Prometheus collector over every live BFD manager (weakly held: a dropped manager just disappears)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[StatusSource] = weakref.WeakSet()

    def add(self, source: StatusSource) -> None:
        self._sources.add(source)

    def discard(self, source: StatusSource) -> None:
        self._sources.discard(source)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("metallb_bfd_session_up", "BFD session state (1 is up, 0 is down)", labels=["peer"])
        counters = {
            name: UnknownMetricFamily(name, help_text, labels=["peer"]) for name, help_text, _ in _PEER_COUNTERS
        }
        dropped = CounterMetricFamily(
            "ironlb_bfd_dropped", "BFD control packets discarded, by the rule that discarded them", labels=["reason"]
        )
        send_errors = CounterMetricFamily("ironlb_bfd_send_errors", "BFD control packets the kernel refused to send")
        drop_totals: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        error_total = 0
        for source in list(self._sources):
            for peer in source.status():
                if peer.removing:
                    continue
                label = [str(peer.peer)]
                up.add_metric(label, 1.0 if peer.session.state is State.UP else 0.0)
                for name, _, attribute in _PEER_COUNTERS:
                    counters[name].add_metric(label, float(getattr(peer.session, attribute)))
            for reason, count in source.dropped().items():
                drop_totals[reason] += count
            error_total += source.send_errors()
        for reason, count in drop_totals.items():
            dropped.add_metric([reason.value], float(count))
        send_errors.add_metric([], float(error_total))
        yield up
        yield from counters.values()
        yield dropped
        yield send_errors


def register(registry: CollectorRegistry) -> BfdCollector:
    """A new collector, registered in ``registry`` (for tests and for daemons with their own registry)."""
    collector = BfdCollector()
    registry.register(collector)
    return collector


#: The daemon's collector, in the default registry that ``/metrics`` serves.
COLLECTOR = register(REGISTRY)

__all__ = ["COLLECTOR", "BfdCollector", "StatusSource", "register"]
