"""Prometheus exposition: MetalLB's metric names exactly, ironlb's additions, every drop reason present."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from speaker.l2 import metrics
from speaker.l2.core.responder import DropReason
from speaker.l2.stats import L2Stats
from tests.speaker.l2.helpers import VIP4, VIP6


def test_exposition() -> None:
    stats = L2Stats()
    stats.requests_received[VIP4.packed] += 3
    stats.responses_sent[VIP4.packed] += 2
    stats.gratuitous_sent[VIP6.packed] += 5
    stats.probes_sent[VIP6.packed] += 3
    stats.drops[DropReason.NOT_OWNED] += 7
    stats.conflicts = 1
    stats.socket_drops = 4
    registry = CollectorRegistry()
    collector = metrics.register(lambda: stats, registry)
    text = generate_latest(registry).decode()
    lines = set(text.splitlines())
    assert 'metallb_layer2_requests_received{ip="198.51.100.5"} 3.0' in lines
    assert 'metallb_layer2_requests_received{ip="2001:db8:100::5"} 0.0' in lines
    assert 'metallb_layer2_responses_sent{ip="198.51.100.5"} 2.0' in lines
    assert 'metallb_layer2_gratuitous_sent{ip="2001:db8:100::5"} 5.0' in lines
    assert 'ironlb_layer2_probes_sent_total{ip="2001:db8:100::5"} 3.0' in lines
    assert 'ironlb_layer2_dropped_total{reason="address-not-owned"} 7.0' in lines
    assert "ironlb_layer2_address_conflicts_total 1.0" in lines
    assert "ironlb_layer2_socket_overflows_total 4.0" in lines
    for reason in DropReason:  # every reason is exported from the start, so alerts can rate() it
        assert f'ironlb_layer2_dropped_total{{reason="{reason.value}"}}' in text
    assert "# TYPE metallb_layer2_requests_received untyped" in lines
    registry.unregister(collector)
    assert "metallb_layer2" not in generate_latest(registry).decode()


def test_snapshot_is_json_shaped() -> None:
    stats = L2Stats()
    stats.responses_sent[VIP6.packed] += 1
    stats.drops[DropReason.MALFORMED] += 2
    snapshot = stats.snapshot()
    assert snapshot["addresses"] == {
        "2001:db8:100::5": {"requests_received": 0, "responses_sent": 1, "gratuitous_sent": 0, "probes_sent": 0}
    }
    assert snapshot["dropped"] == {"malformed": 2}
