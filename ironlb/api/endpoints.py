"""Which nodes have usable endpoints for a Service, from its EndpointSlices.

The speaker only needs two facts per Service (metallb.md section 4.2/4.5): does a usable endpoint exist anywhere
(externalTrafficPolicy Cluster), and on which nodes (Local). An endpoint is usable when its ``ready`` condition
is true or absent (the EndpointSlice API says nil means ready); terminating endpoints are not ready, so a node
whose only pod is terminating stops announcing - cilium#45276 asks for exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ironlb.api import names


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    node_name: str | None
    ready: bool


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """The union of a Service's EndpointSlices."""

    endpoints: tuple[Endpoint, ...] = ()

    @property
    def any_ready(self) -> bool:
        return any(e.ready for e in self.endpoints)

    @property
    def ready_nodes(self) -> frozenset[str]:
        return frozenset(e.node_name for e in self.endpoints if e.ready and e.node_name)

    @classmethod
    def from_slices(cls, slices: Iterable[Mapping[str, Any]]) -> ServiceEndpoints:
        found: list[Endpoint] = []
        for slice_obj in slices:
            for ep in slice_obj.get("endpoints") or ():
                if not isinstance(ep, Mapping):
                    continue
                conditions = ep.get("conditions") or {}
                ready = conditions.get("ready")
                found.append(
                    Endpoint(
                        addresses=tuple(str(a) for a in ep.get("addresses") or ()),
                        node_name=ep.get("nodeName") or None,
                        ready=ready is None or bool(ready),
                    )
                )
        return cls(tuple(found))


def slice_service_key(slice_obj: Mapping[str, Any]) -> str | None:
    """The ``namespace/name`` of the Service an EndpointSlice belongs to, from its standard label."""
    meta = slice_obj.get("metadata") or {}
    service = (meta.get("labels") or {}).get(names.LABEL_SERVICE_NAME)
    if not service:
        return None
    return f"{meta.get('namespace') or 'default'}/{service}"


__all__ = ["Endpoint", "ServiceEndpoints", "slice_service_key"]
