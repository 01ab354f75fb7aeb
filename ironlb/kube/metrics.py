"""Kubernetes-client metrics, with MetalLB's names (metallb.md section 5.1), shared by both daemons."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UPDATES = Counter("metallb_k8s_client_updates", "Number of Kubernetes object writes that succeeded")
UPDATE_ERRORS = Counter("metallb_k8s_client_update_errors", "Number of Kubernetes object writes that failed")
CONFIG_LOADED = Gauge("metallb_k8s_client_config_loaded_bool", "1 if a valid configuration has been loaded")
CONFIG_STALE = Gauge(
    "metallb_k8s_client_config_stale_bool",
    "1 if the running configuration is stale: the latest one is invalid and the last good one is kept",
)
WATCH_RESTARTS = Counter(
    "ironlb_k8s_client_watch_restarts", "Watches restarted, by resource and cause", ["resource", "cause"]
)

__all__ = ["CONFIG_LOADED", "CONFIG_STALE", "UPDATES", "UPDATE_ERRORS", "WATCH_RESTARTS"]
