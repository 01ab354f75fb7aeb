"""Prometheus metrics of the membership protocol, fed from the core's events and counts by the adapter.

    ironlb_membership_members{state}              gauge: members by state (alive counts the local node)
    ironlb_membership_dropped_total{reason}       counter: ignored datagrams, by DropReason
    ironlb_membership_failures_detected_total     counter: MemberFailed events seen by this node
    ironlb_membership_failures_declared_total     counter: the subset this node declared itself
    ironlb_membership_detection_seconds           histogram: silence before a failure was declared, as measured
                                                  by the node that declared it (carried in the FAILED claim)
    ironlb_membership_suspicions_total{outcome}   counter: suspicions started here, and how they ended
                                                  (started, cleared, refuted)

The metrics take a registry so tests (and several cores in one process) do not collide in the global one.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from speaker.membership.core.codec import MemberState
from speaker.membership.core.errors import DropReason
from speaker.membership.core.events import (
    MemberAlive,
    MemberFailed,
    MembershipEvent,
    MemberSuspected,
    PacketDropped,
)

#: Detection buckets around the 0.5 s goal, with room for memberlist-like figures for comparison.
DETECTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0)


class MembershipMetrics:
    """The membership metrics in one registry. One instance per process (per core, with separate registries)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else REGISTRY
        self.members = Gauge(
            "ironlb_membership_members", "Members known to this speaker, by state.", ["state"], registry=registry
        )
        self.dropped = Counter(
            "ironlb_membership_dropped",
            "Membership datagrams ignored, by reason.",
            ["reason"],
            registry=registry,
        )
        self.failures_detected = Counter(
            "ironlb_membership_failures_detected",
            "Members this speaker saw declared failed (by itself or another speaker).",
            registry=registry,
        )
        self.failures_declared = Counter(
            "ironlb_membership_failures_declared",
            "Members this speaker declared failed itself, after its own confirmation.",
            registry=registry,
        )
        self.detection = Histogram(
            "ironlb_membership_detection_seconds",
            "Silence before a failed member was declared, as measured by the declaring speaker.",
            buckets=DETECTION_BUCKETS,
            registry=registry,
        )
        self.suspicions = Counter(
            "ironlb_membership_suspicions",
            "Suspicions this speaker started, and how they ended.",
            ["outcome"],
            registry=registry,
        )
        for state in MemberState:
            self.members.labels(state=state.name.lower())
        for reason in DropReason:
            self.dropped.labels(reason=reason.value)
        for outcome in ("started", "cleared", "refuted"):
            self.suspicions.labels(outcome=outcome)

    def observe(self, event: MembershipEvent, *, local: str) -> None:
        """Account for one event of the core whose node name is ``local``."""
        match event:
            case PacketDropped(reason):
                self.dropped.labels(reason=reason.value).inc()
            case MemberFailed(_, detected_by, after_seconds):
                self.failures_detected.inc()
                self.detection.observe(after_seconds)
                if detected_by == local:
                    self.failures_declared.inc()
            case MemberSuspected():
                self.suspicions.labels(outcome="started").inc()
            case MemberAlive(_, refuted):
                self.suspicions.labels(outcome="refuted" if refuted else "cleared").inc()
            case _:
                pass

    def set_counts(self, counts: Mapping[MemberState, int]) -> None:
        for state, count in counts.items():
            self.members.labels(state=state.name.lower()).set(count)


__all__ = ["DETECTION_BUCKETS", "MembershipMetrics"]
