"""A typed, read-only view of the Node fields ironlb reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ironlb.api import names

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class NodeAddress:
    type: str  # InternalIP | ExternalIP | Hostname | InternalDNS | ExternalDNS
    address: str


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    provider_id: str = ""
    taints: tuple[Taint, ...] = ()
    addresses: tuple[NodeAddress, ...] = ()
    #: condition type -> status ("True" | "False" | "Unknown")
    conditions: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    deleting: bool = False

    def has_taint(self, key: str) -> bool:
        return any(t.key == key for t in self.taints)

    @property
    def ready(self) -> bool:
        return self.conditions.get("Ready") == "True"

    @property
    def network_unavailable(self) -> bool:
        return self.conditions.get("NetworkUnavailable") == "True"

    @property
    def excluded_from_load_balancers(self) -> bool:
        """MetalLB semantics: the label's presence excludes the node, whatever its value."""
        return names.LABEL_EXCLUDE_FROM_LB in self.labels

    @property
    def provided_node_ips(self) -> tuple[str, ...]:
        raw = self.annotations.get(names.ANN_PROVIDED_NODE_IP, "")
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NodeView:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        return cls(
            name=str(meta.get("name") or ""),
            labels=MappingProxyType(dict(meta.get("labels") or {})),
            annotations=MappingProxyType(dict(meta.get("annotations") or {})),
            provider_id=str(spec.get("providerID") or ""),
            taints=tuple(
                Taint(
                    key=str(t.get("key", "")),
                    effect=str(t.get("effect", "")),
                    value=str(t.get("value") or ""),
                )
                for t in spec.get("taints") or ()
                if isinstance(t, Mapping)
            ),
            addresses=tuple(
                NodeAddress(type=str(a.get("type", "")), address=str(a.get("address", "")))
                for a in status.get("addresses") or ()
                if isinstance(a, Mapping)
            ),
            conditions=MappingProxyType(
                {
                    str(c.get("type")): str(c.get("status"))
                    for c in status.get("conditions") or ()
                    if isinstance(c, Mapping)
                }
            ),
            deleting=bool(meta.get("deletionTimestamp")),
        )


__all__ = ["NodeAddress", "NodeView", "Taint"]
