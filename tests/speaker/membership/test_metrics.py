"""Prometheus metrics of membership, fed from events, each read back from its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from speaker.membership.core.codec import MemberState
from speaker.membership.core.errors import DropReason
from speaker.membership.core.events import MemberAlive, MemberFailed, MemberJoined, MemberSuspected, PacketDropped
from speaker.membership.metrics import MembershipMetrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels or None)


def test_events_and_counts_become_samples() -> None:
    registry = CollectorRegistry()
    metrics = MembershipMetrics(registry)
    assert _value(registry, "ironlb_membership_dropped_total", reason="replayed") == 0.0  # pre-declared labels
    for event in (
        PacketDropped(DropReason.REPLAYED, ("192.0.2.1", 1), ""),
        PacketDropped(DropReason.REPLAYED, ("192.0.2.1", 1), ""),
        PacketDropped(DropReason.UNAUTHENTICATED, ("192.0.2.1", 1), ""),
        MemberSuspected("n2", "n1", 0.25),
        MemberAlive("n2", refuted=False),
        MemberFailed("n3", "n1", 0.38),
        MemberFailed("n4", "n2", 0.41),
        MemberJoined("n5", None, b""),
    ):
        metrics.observe(event, local="n1")
    metrics.set_counts({MemberState.ALIVE: 3, MemberState.SUSPECT: 0, MemberState.FAILED: 2, MemberState.LEFT: 1})
    assert _value(registry, "ironlb_membership_dropped_total", reason="replayed") == 2.0
    assert _value(registry, "ironlb_membership_dropped_total", reason="unauthenticated") == 1.0
    assert _value(registry, "ironlb_membership_failures_detected_total") == 2.0
    assert _value(registry, "ironlb_membership_failures_declared_total") == 1.0
    assert _value(registry, "ironlb_membership_detection_seconds_count") == 2.0
    assert _value(registry, "ironlb_membership_detection_seconds_bucket", le="0.4") == 1.0
    assert _value(registry, "ironlb_membership_detection_seconds_bucket", le="0.5") == 2.0
    assert _value(registry, "ironlb_membership_suspicions_total", outcome="started") == 1.0
    assert _value(registry, "ironlb_membership_suspicions_total", outcome="cleared") == 1.0
    assert _value(registry, "ironlb_membership_members", state="alive") == 3.0
    assert _value(registry, "ironlb_membership_members", state="failed") == 2.0
