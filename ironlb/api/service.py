"""A typed, read-only view of the Service fields ironlb reads.

Both daemons build a :class:`ServiceView` from the raw JSON they get from the API; nothing downstream touches
the raw dict. Annotations are looked up under the ``metallb.io/`` prefix first and the legacy
``metallb.universe.tf/`` prefix second, and the view records which legacy keys were used so that the ccm can emit
its ``deprecatedAnnotation`` Warning event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ironlb.api import names
from ironlb.api.addresses import IPFamily

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ServicePort:
    protocol: str  # TCP | UDP | SCTP
    port: int
    name: str = ""
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    type: str = "ClusterIP"
    load_balancer_class: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    selector: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    ports: tuple[ServicePort, ...] = ()
    ip_family_policy: str | None = None
    ip_families: tuple[IPFamily, ...] = ()
    cluster_ips: tuple[str, ...] = ()
    external_traffic_policy: str = "Cluster"
    load_balancer_ip: str | None = None
    ingress_ips: tuple[str, ...] = ()
    finalizers: tuple[str, ...] = ()
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_load_balancer(self) -> bool:
        return self.type == "LoadBalancer"

    @property
    def is_local(self) -> bool:
        return self.external_traffic_policy == "Local"

    def annotation(self, short_name: str) -> str | None:
        """The value of ``metallb.io/<short_name>``, else of the legacy ``metallb.universe.tf/<short_name>``."""
        value = self.annotations.get(names.ANNOTATION_PREFIX + short_name)
        if value is None:
            value = self.annotations.get(names.LEGACY_ANNOTATION_PREFIX + short_name)
        return value

    @property
    def deprecated_annotations(self) -> tuple[str, ...]:
        """Legacy-prefixed annotation keys present on the Service, sorted."""
        return tuple(sorted(k for k in self.annotations if k.startswith(names.LEGACY_ANNOTATION_PREFIX)))

    @property
    def requested_pool(self) -> str | None:
        return self.annotation(names.ANN_ADDRESS_POOL)

    @property
    def sharing_key(self) -> str | None:
        return self.annotation(names.ANN_ALLOW_SHARED_IP)

    @property
    def requested_ips_annotation(self) -> str | None:
        return self.annotation(names.ANN_LOADBALANCER_IPS)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ServiceView:
        """Build from a Service as the API returns it (a dict). Missing fields take their API defaults."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        ports = tuple(
            ServicePort(
                protocol=str(p.get("protocol") or "TCP"),
                port=int(p.get("port") or 0),
                name=str(p.get("name") or ""),
                node_port=int(p["nodePort"]) if p.get("nodePort") else None,
            )
            for p in spec.get("ports") or ()
            if isinstance(p, Mapping)
        )
        families: list[IPFamily] = []
        for fam in spec.get("ipFamilies") or ():
            try:
                families.append(IPFamily(fam))
            except ValueError:
                continue
        cluster_ips = tuple(str(ip) for ip in (spec.get("clusterIPs") or ()) if ip and ip != "None")
        if not cluster_ips and spec.get("clusterIP") and spec.get("clusterIP") != "None":
            cluster_ips = (str(spec["clusterIP"]),)
        ingress = tuple(
            str(entry["ip"])
            for entry in ((status.get("loadBalancer") or {}).get("ingress") or ())
            if isinstance(entry, Mapping) and entry.get("ip")
        )
        return cls(
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            resource_version=str(meta.get("resourceVersion") or ""),
            type=str(spec.get("type") or "ClusterIP"),
            load_balancer_class=spec.get("loadBalancerClass") or None,
            labels=MappingProxyType(dict(meta.get("labels") or {})),
            annotations=MappingProxyType(dict(meta.get("annotations") or {})),
            selector=MappingProxyType(dict(spec.get("selector") or {})),
            ports=ports,
            ip_family_policy=spec.get("ipFamilyPolicy") or None,
            ip_families=tuple(families),
            cluster_ips=cluster_ips,
            external_traffic_policy=str(spec.get("externalTrafficPolicy") or "Cluster"),
            load_balancer_ip=spec.get("loadBalancerIP") or None,
            ingress_ips=ingress,
            finalizers=tuple(meta.get("finalizers") or ()),
            deleting=bool(meta.get("deletionTimestamp")),
        )


__all__ = ["ServicePort", "ServiceView"]
