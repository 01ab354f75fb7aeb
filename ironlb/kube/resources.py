"""The API resources ironlb touches, and how their REST paths are built."""

from __future__ import annotations

from dataclasses import dataclass

from ironlb.api import names


@dataclass(frozen=True, slots=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base

    def key(self, obj: dict[str, object]) -> str:
        """The informer store key: ``namespace/name`` for namespaced kinds, ``name`` otherwise."""
        meta = obj.get("metadata")
        assert isinstance(meta, dict)
        return f"{meta.get('namespace', '')}/{meta['name']}" if self.namespaced else str(meta["name"])


SERVICES = Resource("", "v1", "services", "Service")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")


def metallb(kind: str) -> Resource:
    """The storage-version resource of a metallb.io kind (configuration or status)."""
    plural, version = (names.CONFIG_KINDS | names.STATUS_KINDS)[kind]
    return Resource(names.GROUP, version, plural, kind)


__all__ = [
    "CONFIGMAPS",
    "ENDPOINTSLICES",
    "EVENTS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "SECRETS",
    "SERVICES",
    "Resource",
    "metallb",
]
