"""Services: defaulting, cluster IP and node port allocation, and the Service-specific validation.

This follows ``pkg/registry/core/service`` (``strategy.go`` ``dropTypeDependentFields`` and
``patchAllocatedValues``, ``storage/alloc.go`` ``initIPFamilyFields`` and the allocators) and
``pkg/apis/core/validation`` (``ValidateService``, ``ValidateServiceUpdate``, ``ValidateLoadBalancerStatus``)
of a 1.30 server with its default feature gates (``LoadBalancerIPMode`` on: an ingress ``ip`` gets
``ipMode: VIP``; ``AllowServiceLBStatusOnNonLB`` off: only LoadBalancer Services may carry ingress).

Allocation state is derived from the stored Services (:meth:`ServiceNetwork.observe` runs on every commit), so
it can never drift from what clients see: a cluster IP or node port is taken exactly while a stored Service
holds it. The service CIDRs are cluster-internal (10.96.0.0/16, fd00:10:96::/108 by default) and never appear
on any wire.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from collections.abc import Sequence
from typing import Any

from hack.lab.apiserver import errors, service_validation
from hack.lab.apiserver.errors import FieldError
from hack.lab.apiserver.service_validation import (
    FAMILIES,
    externally_accessible,
    family_of,
    is_ip,
    needs_cluster_ip,
    needs_health_check,
    needs_node_port,
)
from hack.lab.apiserver.store import Change, Key

JSON = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def apply_defaults(svc: JSON) -> None:
    """``SetDefaults_Service`` (plus the LoadBalancerIPMode defaulting of ingress points)."""
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        client = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        client.setdefault("timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, "") and isinstance(port.get("port"), int):
                port["targetPort"] = port["port"]
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if isinstance(ingress, dict) and ingress.get("ip") and not ingress.get("ipMode"):
                ingress["ipMode"] = "VIP"
    svc.setdefault("status", {}).setdefault("loadBalancer", {})


class ServiceNetwork:
    """The service CIDRs and node port range, and who holds which address and port."""

    def __init__(self, cidrs: Sequence[str], node_ports: tuple[int, int] = (30000, 32767), *, seed: int | None = None):
        self.cidrs: list[Network] = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        if not self.cidrs or len(self.cidrs) > 2 or len({n.version for n in self.cidrs}) != len(self.cidrs):
            raise ValueError("give one service CIDR, or two of different IP families (dual-stack)")
        self.families = ["IPv4" if n.version == 4 else "IPv6" for n in self.cidrs]
        self.node_ports = node_ports
        self.ip_owner: dict[str, Key] = {}
        self.port_owner: dict[int, Key] = {}
        self._holdings: dict[Key, tuple[list[str], list[int]]] = {}
        self._random = random.Random(seed)

    @property
    def dual_stack(self) -> bool:
        return len(self.cidrs) == 2

    def cidr_for(self, family: str) -> Network | None:
        return next((n for n, f in zip(self.cidrs, self.families, strict=True) if f == family), None)

    def kubernetes_ip(self) -> str:
        """The first address of the primary range: the ``kubernetes`` Service's."""
        return str(self.cidrs[0].network_address + 1)

    # -------------------------------------------------------------------------------- bookkeeping

    def observe(self, change: Change) -> None:
        """Keep holdings in step with stored Services (a store commit hook)."""
        key = change.key
        self._release(key)
        if change.type != "DELETED":
            spec = change.obj.get("spec") or {}
            ips = [ip for ip in spec.get("clusterIPs") or [] if is_ip(ip)]
            ports = [
                p["nodePort"] for p in spec.get("ports") or [] if isinstance(p.get("nodePort"), int) and p["nodePort"]
            ]
            if isinstance(spec.get("healthCheckNodePort"), int) and spec["healthCheckNodePort"]:
                ports.append(spec["healthCheckNodePort"])
            self._holdings[key] = (ips, ports)
            for ip in ips:
                self.ip_owner[_norm(ip)] = key
            for port in ports:
                self.port_owner[port] = key

    def _release(self, key: Key) -> None:
        ips, ports = self._holdings.pop(key, ([], []))
        for ip in ips:
            if self.ip_owner.get(_norm(ip)) == key:
                del self.ip_owner[_norm(ip)]
        for port in ports:
            if self.port_owner.get(port) == key:
                del self.port_owner[port]

    # -------------------------------------------------------------------------------- allocation

    def _check_ip(self, ip: str, key: Key) -> str | None:
        family = family_of(ip)
        cidr = self.cidr_for(family or "")
        if cidr is None or ipaddress.ip_address(ip) not in cidr:
            ranges = ", ".join(str(c) for c in self.cidrs)
            return (
                f"failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is {ranges}"
            )
        owner = self.ip_owner.get(_norm(ip))
        if owner is not None and owner != key:
            return f"failed to allocate IP {ip}: provided IP is already allocated"
        return None

    def _random_ip(self, family: str, taken: set[str]) -> str:
        cidr = self.cidr_for(family)
        assert cidr is not None
        size = cidr.num_addresses
        first = 1
        last = size - 2 if cidr.version == 4 else size - 1
        # Dynamic allocations prefer the upper band; the lower one is kept for static requests (KEP-3070).
        band = min(max(16, size // 16), 256)
        lo = first + band if last - (first + band) > 16 else first
        for _ in range(64):
            ip = str(cidr.network_address + self._random.randint(lo, last))
            if _norm(ip) not in self.ip_owner and ip not in taken:
                return ip
        for offset in range(first, last + 1):
            ip = str(cidr.network_address + offset)
            if _norm(ip) not in self.ip_owner and ip not in taken:
                return ip
        raise errors.internal(f"failed to allocate a serviceIP: range {cidr} is full")

    def _random_port(self, taken: set[int]) -> int:
        lo, hi = self.node_ports
        for _ in range(64):
            port = self._random.randint(lo, hi)
            if port not in self.port_owner and port not in taken:
                return port
        for port in range(lo, hi + 1):
            if port not in self.port_owner and port not in taken:
                return port
        raise errors.internal("failed to allocate a nodePort: range is full")

    def _check_port(self, port: int, key: Key, taken_by_self: set[int]) -> str | None:
        lo, hi = self.node_ports
        if not lo <= port <= hi:
            return f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
        owner = self.port_owner.get(port)
        if (owner is not None and owner != key) or port in taken_by_self:
            return "provided port is already allocated"
        return None

    def init_ip_families(self, spec: JSON, old: JSON | None) -> list[FieldError]:
        """``initIPFamilyFields``: default ``ipFamilyPolicy`` and ``ipFamilies`` from the request and cluster."""
        if not needs_cluster_ip(spec):
            for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if name == "clusterIP" and spec.get(name):
                    continue  # validation reports it
                spec.pop(name, None)
            return []
        out: list[FieldError] = []
        if old is not None and needs_cluster_ip(old):
            same_ips = spec.get("clusterIPs") == old.get("clusterIPs")
            if not spec.get("ipFamilies") and same_ips and old.get("ipFamilies"):
                spec["ipFamilies"] = list(old["ipFamilies"])
            if "ipFamilyPolicy" not in spec and old.get("ipFamilyPolicy"):
                spec["ipFamilyPolicy"] = old["ipFamilyPolicy"]
        cluster_ip = spec.get("clusterIP") or ""
        ips = list(spec.get("clusterIPs") or [])
        if cluster_ip and not ips:
            ips = [cluster_ip]
            spec["clusterIPs"] = ips
        if ips and not cluster_ip:
            spec["clusterIP"] = ips[0]
        headless = spec.get("clusterIP") == "None"
        families: list[str] = list(spec.get("ipFamilies") or [])
        if not headless:
            for i, ip in enumerate(ips):
                fam = family_of(ip) if isinstance(ip, str) else None
                if fam is None:
                    continue
                if i >= len(families):
                    families.append(fam)
        policy = spec.get("ipFamilyPolicy")
        if policy is None:
            if len(families) == 2 or len(ips) == 2 or (headless and not spec.get("selector") and self.dual_stack):
                policy = "RequireDualStack"
            else:
                policy = "SingleStack"
            spec["ipFamilyPolicy"] = policy
        if policy == "RequireDualStack" and not self.dual_stack:
            out.append(
                errors.invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services")
            )
        if not families:
            families = [self.families[0]]
        if policy in ("PreferDualStack", "RequireDualStack") and self.dual_stack and len(families) == 1:
            families.append(next(f for f in self.families if f != families[0]))
        for i, fam in enumerate(families):
            if fam in FAMILIES and fam not in self.families:
                if policy == "PreferDualStack" and i > 0:
                    families = families[:i]
                    break
                out.append(errors.invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
        spec["ipFamilies"] = families
        return out

    def allocate(self, spec: JSON, key: Key, old: JSON | None) -> list[FieldError]:
        """Assign cluster IPs and node ports the request did not choose; check those it did."""
        out: list[FieldError] = []
        if needs_cluster_ip(spec) and spec.get("clusterIP") != "None":
            ips = list(spec.get("clusterIPs") or [])
            families = spec.get("ipFamilies") or []
            chosen = {ip for ip in ips if isinstance(ip, str)}
            for i, fam in enumerate(families):
                if i < len(ips) and ips[i]:
                    if not is_ip(ips[i]):
                        continue  # validation reports it
                    old_ips = (old or {}).get("clusterIPs") or []
                    if ips[i] in old_ips:
                        continue
                    problem = self._check_ip(ips[i], key)
                    if problem:
                        out.append(errors.invalid("spec.clusterIPs", ips, problem))
                elif fam in self.families:
                    ip = self._random_ip(fam, chosen)
                    chosen.add(ip)
                    if i < len(ips):
                        ips[i] = ip
                    else:
                        ips.append(ip)
            if ips:
                spec["clusterIPs"] = ips
                spec["clusterIP"] = ips[0]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        used: set[int] = set()
        old_ports = {p.get("nodePort") for p in ((old or {}).get("ports") or []) if isinstance(p, dict)}
        by_number: dict[int, int] = {}  # a TCP and a UDP port of one Service may share a node port
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            node_port = port.get("nodePort")
            if isinstance(node_port, int) and node_port:
                if node_port not in old_ports:
                    same = by_number.get(port.get("port", -1)) == node_port
                    problem = self._check_port(node_port, key, set() if same else used)
                    if problem:
                        out.append(errors.invalid(f"spec.ports[{i}].nodePort", node_port, problem))
                used.add(node_port)
                by_number.setdefault(port.get("port", -1), node_port)
            elif needs_node_port(spec):
                reuse = by_number.get(port.get("port", -1))
                port["nodePort"] = reuse if reuse else self._random_port(used)
                used.add(port["nodePort"])
                by_number.setdefault(port.get("port", -1), port["nodePort"])
        if needs_health_check(spec):
            hc = spec.get("healthCheckNodePort")
            if isinstance(hc, int) and hc:
                if hc != (old or {}).get("healthCheckNodePort"):
                    problem = self._check_port(hc, key, used)
                    if problem:
                        out.append(errors.invalid("spec.healthCheckNodePort", hc, problem))
            else:
                spec["healthCheckNodePort"] = self._random_port(used)
        return out


def _norm(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def patch_allocated_values(new: JSON, old: JSON) -> None:
    """``patchAllocatedValues``: an update that omits allocated values keeps them."""
    if needs_cluster_ip(old) and needs_cluster_ip(new):
        if not new.get("clusterIP") and old.get("clusterIP"):
            new["clusterIP"] = old["clusterIP"]
        if not new.get("clusterIPs") and old.get("clusterIPs"):
            new["clusterIPs"] = list(old["clusterIPs"])
    if needs_node_port(old) and needs_node_port(new):
        new_ports = [p for p in new.get("ports") or [] if isinstance(p, dict)]
        used = {p.get("nodePort") for p in old.get("ports") or [] if isinstance(p, dict)} & {
            p.get("nodePort") for p in new_ports
        }
        by_name = {p.get("name", ""): p.get("nodePort") for p in old.get("ports") or [] if isinstance(p, dict)}
        for port in new_ports:
            if not port.get("nodePort"):
                previous = by_name.get(port.get("name", ""))
                if previous and previous not in used:
                    port["nodePort"] = previous
    keep_hc = needs_health_check(old) and needs_health_check(new) and not new.get("healthCheckNodePort")
    if keep_hc and old.get("healthCheckNodePort"):
        new["healthCheckNodePort"] = old["healthCheckNodePort"]


def drop_type_dependent_fields(new: JSON, old: JSON) -> None:
    """``dropTypeDependentFields``: moving to a type that does not need a value clears it, if untouched."""
    if needs_cluster_ip(old) and not needs_cluster_ip(new):
        if new.get("clusterIPs") == old.get("clusterIPs") and new.get("clusterIP") == old.get("clusterIP"):
            new.pop("clusterIP", None)
            new.pop("clusterIPs", None)
        if new.get("ipFamilies") == old.get("ipFamilies"):
            new.pop("ipFamilies", None)
        if new.get("ipFamilyPolicy") == old.get("ipFamilyPolicy"):
            new.pop("ipFamilyPolicy", None)
    if needs_node_port(old) and not needs_node_port(new):
        old_ports = [p.get("nodePort") for p in old.get("ports") or [] if isinstance(p, dict)]
        new_ports = [p.get("nodePort") for p in new.get("ports") or [] if isinstance(p, dict)]
        if old_ports == new_ports:
            for port in new.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
    drop_hc = needs_health_check(old) and not needs_health_check(new)
    if drop_hc and new.get("healthCheckNodePort") == old.get("healthCheckNodePort"):
        new.pop("healthCheckNodePort", None)
    if new.get("type") != "LoadBalancer":
        if "allocateLoadBalancerNodePorts" in new and new.get("allocateLoadBalancerNodePorts") == old.get(
            "allocateLoadBalancerNodePorts"
        ):
            new.pop("allocateLoadBalancerNodePorts", None)
        if old.get("type") == "LoadBalancer" and new.get("loadBalancerClass") == old.get("loadBalancerClass"):
            new.pop("loadBalancerClass", None)
    if not externally_accessible(new) and new.get("externalTrafficPolicy") == old.get("externalTrafficPolicy"):
        new.pop("externalTrafficPolicy", None)


def prepare(svc: JSON, old: JSON | None, network: ServiceNetwork) -> list[FieldError]:
    """Defaults, carried-over allocations and IP-family defaulting; returns what validation found.

    Allocation itself (:meth:`ServiceNetwork.allocate`) runs only once the whole object is valid.
    """
    spec = svc.setdefault("spec", {})
    old_spec = copy.deepcopy((old or {}).get("spec") or {}) if old else None
    if old_spec is not None:
        patch_allocated_values(spec, old_spec)
        drop_type_dependent_fields(spec, old_spec)
    apply_defaults(svc)
    problems = network.init_ip_families(spec, old_spec)
    problems += service_validation.validate_spec(svc)
    if old is not None:
        problems += service_validation.validate_update(svc, old)
    return problems


def allocate(svc: JSON, old: JSON | None, network: ServiceNetwork) -> list[FieldError]:
    m = svc["metadata"]
    old_spec = (old or {}).get("spec") if old else None
    return network.allocate(svc["spec"], (m.get("namespace") or "", m.get("name") or ""), old_spec)


__all__ = [
    "ServiceNetwork",
    "allocate",
    "apply_defaults",
    "drop_type_dependent_fields",
    "patch_allocated_values",
    "prepare",
]
