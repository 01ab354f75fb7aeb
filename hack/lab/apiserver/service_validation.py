"""Service validation: ``ValidateService``, ``ValidateServiceUpdate`` and ``ValidateLoadBalancerStatus``.

Worded as ``pkg/apis/core/validation`` words them in 1.30, with that release's default feature gates:
``LoadBalancerIPMode`` (an ingress ``ip`` needs an ``ipMode``; defaulting gives ``VIP``) and
``AllowServiceLBStatusOnNonLB`` off (only LoadBalancer Services may carry ingress points). The spec checks run
on a defaulted Service, before any cluster IP or node port is allocated; the update checks keep
``clusterIP``/``clusterIPs`` and, while the type stays LoadBalancer, ``loadBalancerClass`` from moving.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hack.lab.apiserver import errors, meta
from hack.lab.apiserver.errors import FieldError

JSON = dict[str, Any]

TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
POLICIES = ["PreferDualStack", "RequireDualStack", "SingleStack"]
FAMILIES = ["IPv4", "IPv6"]
IP_MODES = ["Proxy", "VIP"]
MSG_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
MSG_PORT = "must be between 1 and 65535, inclusive"


def family_of(ip: str) -> str | None:
    try:
        return "IPv4" if ipaddress.ip_address(ip).version == 4 else "IPv6"
    except ValueError:
        return None


def is_ip(text: Any) -> bool:
    return isinstance(text, str) and family_of(text) is not None and "%" not in text


def needs_cluster_ip(spec: JSON) -> bool:
    return bool(spec.get("type", "ClusterIP") != "ExternalName")


def needs_node_port(spec: JSON) -> bool:
    kind = spec.get("type")
    allocate = spec.get("allocateLoadBalancerNodePorts", True) is not False
    return kind == "NodePort" or (kind == "LoadBalancer" and allocate)


def needs_health_check(spec: JSON) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def externally_accessible(spec: JSON) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def validate_spec(svc: JSON) -> list[FieldError]:
    """``ValidateService`` (spec part), for a defaulted Service."""
    spec = svc.get("spec") or {}
    out: list[FieldError] = []
    kind = spec.get("type")
    headless = spec.get("clusterIP") == "None"
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if not ports and not headless and kind != "ExternalName":
        out.append(errors.required("spec.ports"))
    if kind in ("LoadBalancer", "NodePort") and headless:
        out.append(errors.invalid("spec.clusterIP", "None", f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        if spec.get("clusterIP"):
            out.append(errors.forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        if spec.get("externalName"):
            out.extend(
                errors.invalid("spec.externalName", spec["externalName"], m)
                for m in meta.dns1123_subdomain_errors(spec["externalName"].rstrip("."))
            )
        else:
            out.append(errors.required("spec.externalName"))
    if kind not in TYPES:
        out.append(errors.not_supported("spec.type", kind, TYPES) if kind else errors.required("spec.type"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            out.append(errors.required(f"{where}.name"))
        elif name:
            out.extend(errors.invalid(f"{where}.name", name, m) for m in meta.dns1123_label_errors(name))
            if name in names:
                out.append(errors.duplicate(f"{where}.name", name))
            names.add(name)
        number = port.get("port", 0)
        if not isinstance(number, int) or not 1 <= number <= 65535:
            out.append(errors.invalid(f"{where}.port", number, MSG_PORT))
        protocol = port.get("protocol")
        if protocol not in PROTOCOLS:
            out.append(errors.not_supported(f"{where}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            out.append(errors.invalid(f"{where}.targetPort", target, MSG_PORT))
        elif isinstance(target, str) and not target.isdigit():
            problem = _port_name_error(target)
            if problem:
                out.append(errors.invalid(f"{where}.targetPort", target, problem))
        node_port = port.get("nodePort")
        if node_port and kind == "ClusterIP":
            out.append(errors.forbidden(f"{where}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        if node_port:
            if (protocol, node_port) in node_ports:
                out.append(errors.duplicate(f"{where}.nodePort", node_port))
            node_ports.add((protocol, node_port))
        if (protocol, number) in seen:
            out.append(errors.duplicate(where, {"port": number, "protocol": protocol}))
        seen.add((protocol, number))
    out.extend(meta.validate_labels(spec.get("selector"), "spec.selector"))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        out.append(errors.not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    elif affinity == "None" and spec.get("sessionAffinityConfig"):
        out.append(errors.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        if not is_ip(ip):
            out.append(errors.invalid(f"spec.externalIPs[{i}]", ip, MSG_IP))
    out.extend(_validate_cluster_ips(spec))
    out.extend(_validate_lb_fields(spec))
    out.extend(_validate_traffic_policies(spec))
    return out


def _port_name_error(name: str) -> str | None:
    # validation.IsValidPortName: an IANA_SVC_NAME, 1-15 characters, letters required, no "--".
    if len(name) > 15:
        return "must be no more than 15 characters"
    if not all(c.islower() or c.isdigit() or c == "-" for c in name) or not any(c.isalpha() for c in name):
        return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
    if name.startswith("-") or name.endswith("-") or "--" in name:
        return "must not begin or end with a hyphen, or contain consecutive hyphens"
    return None


def _validate_cluster_ips(spec: JSON) -> list[FieldError]:
    out: list[FieldError] = []
    if not needs_cluster_ip(spec):
        return out
    ips = spec.get("clusterIPs") or []
    if ips and spec.get("clusterIP") and ips[0] != spec["clusterIP"]:
        out.append(errors.invalid("spec.clusterIPs[0]", ips[0], "must match `clusterIP` if specified"))
    for i, ip in enumerate(ips):
        if ip != "None" and not is_ip(ip):
            out.append(errors.invalid(f"spec.clusterIPs[{i}]", ip, "must be empty, 'None', or a valid IP address"))
    if "None" in ips and len(ips) > 1:
        out.append(errors.invalid("spec.clusterIPs", ips, "'None' must be the first and only value"))
    families = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam not in FAMILIES:
            out.append(errors.not_supported(f"spec.ipFamilies[{i}]", fam, FAMILIES))
        elif fam in seen:
            out.append(errors.duplicate(f"spec.ipFamilies[{i}]", fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    if policy not in POLICIES:
        out.append(errors.not_supported("spec.ipFamilyPolicy", policy, POLICIES))
    elif policy == "SingleStack" and (len(families) > 1 or len(ips) > 1):
        out.append(
            errors.invalid(
                "spec.ipFamilyPolicy",
                policy,
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            )
        )
    if spec.get("clusterIP") != "None":
        for i, ip in enumerate(ips):
            if i < len(families) and is_ip(ip) and family_of(ip) != families[i]:
                expected = "IPv4" if families[i] == "IPv4" else "IPv6"
                out.append(
                    errors.invalid(
                        f"spec.clusterIPs[{i}]", ip, f"expected an {expected} value as indicated by `ipFamilies[{i}]`"
                    )
                )
    return out


def _validate_lb_fields(spec: JSON) -> list[FieldError]:
    out: list[FieldError] = []
    is_lb = spec.get("type") == "LoadBalancer"
    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        if not is_lb:
            out.append(
                errors.forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")
            )
        for i, cidr in enumerate(ranges):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
                if "/" not in str(cidr):
                    raise ValueError
            except ValueError:
                out.append(
                    errors.invalid(
                        f"spec.LoadBalancerSourceRanges[{i}]",
                        cidr,
                        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                    )
                )
    if "allocateLoadBalancerNodePorts" in spec and not is_lb:
        out.append(
            errors.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
        )
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if not is_lb:
            out.append(errors.forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
        else:
            out.extend(
                errors.invalid("spec.loadBalancerClass", lb_class, m) for m in meta.qualified_name_errors(str(lb_class))
            )
    lb_ip = spec.get("loadBalancerIP")
    if lb_ip and is_lb and not is_ip(lb_ip):
        out.append(errors.invalid("spec.loadBalancerIP", lb_ip, MSG_IP))
    return out


def _validate_traffic_policies(spec: JSON) -> list[FieldError]:
    out: list[FieldError] = []
    etp = spec.get("externalTrafficPolicy")
    if not externally_accessible(spec):
        if etp:
            out.append(
                errors.invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services")
            )
    elif not etp:
        out.append(errors.required("spec.externalTrafficPolicy"))
    elif etp not in ("Cluster", "Local"):
        out.append(errors.not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    hc = spec.get("healthCheckNodePort")
    if not needs_health_check(spec) and hc:
        out.append(
            errors.invalid(
                "spec.healthCheckNodePort",
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            )
        )
    itp = spec.get("internalTrafficPolicy")
    if needs_cluster_ip(spec) and itp not in ("Cluster", "Local"):
        out.append(errors.not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    return out


def validate_update(new: JSON, old: JSON) -> list[FieldError]:
    """``ValidateServiceUpdate``: cluster IPs and the load-balancer class do not move."""
    out: list[FieldError] = []
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" not in (ns.get("type"), os_.get("type")):
        new_h, old_h = ns.get("clusterIP") == "None", os_.get("clusterIP") == "None"
        new_ips, old_ips = ns.get("clusterIPs") or [], os_.get("clusterIPs") or []
        if not (new_h and old_h) and old_ips:
            for i, ip in enumerate(old_ips[: len(new_ips)]):
                if ip != new_ips[i] and (i == 0 or len(new_ips) == len(old_ips)):
                    out.append(errors.invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set"))
            if not new_ips:
                out.append(errors.invalid("spec.clusterIPs[0]", new_ips, "primary clusterIP can not be unset"))
    both_lb = ns.get("type") == "LoadBalancer" and os_.get("type") == "LoadBalancer"
    if both_lb and ns.get("loadBalancerClass") != os_.get("loadBalancerClass"):
        out.append(errors.invalid("spec.loadBalancerClass", ns.get("loadBalancerClass"), "may not change once set"))
    return out


def validate_status(svc: JSON) -> list[FieldError]:
    """``ValidateLoadBalancerStatus`` with the 1.30 default gates."""
    out: list[FieldError] = []
    spec = svc.get("spec") or {}
    lb = (svc.get("status") or {}).get("loadBalancer") or {}
    ingress = lb.get("ingress") or []
    base = "status.loadBalancer.ingress"
    if spec.get("type") != "LoadBalancer" and ingress:
        return [errors.forbidden(base, "may only be used when `spec.type` is 'LoadBalancer'")]
    for i, point in enumerate(ingress):
        where = f"{base}[{i}]"
        if not isinstance(point, dict):
            continue
        ip = point.get("ip") or ""
        if ip and not is_ip(ip):
            out.append(errors.invalid(f"{where}.ip", ip, MSG_IP))
        mode = point.get("ipMode")
        if mode is None and ip:
            out.append(errors.required(f"{where}.ipMode", "must be specified when `ip` is set"))
        elif mode is not None and not ip:
            out.append(errors.forbidden(f"{where}.ipMode", "may not be specified when `ip` is not set"))
        elif mode is not None and mode not in IP_MODES:
            out.append(errors.not_supported(f"{where}.ipMode", mode, IP_MODES))
        host = point.get("hostname") or ""
        if host:
            out.extend(errors.invalid(f"{where}.hostname", host, m) for m in meta.dns1123_subdomain_errors(host))
            if is_ip(host):
                out.append(errors.invalid(f"{where}.hostname", host, "must be a DNS name, not an IP address"))
        for j, port in enumerate(point.get("ports") or []):
            if isinstance(port, dict):
                if not isinstance(port.get("port"), int) or not 1 <= port["port"] <= 65535:
                    out.append(errors.invalid(f"{where}.ports[{j}].port", port.get("port"), MSG_PORT))
                if port.get("protocol") not in PROTOCOLS:
                    out.append(errors.not_supported(f"{where}.ports[{j}].protocol", port.get("protocol"), PROTOCOLS))
    return out


__all__ = [
    "FAMILIES",
    "MSG_IP",
    "MSG_PORT",
    "PROTOCOLS",
    "externally_accessible",
    "family_of",
    "is_ip",
    "needs_cluster_ip",
    "needs_health_check",
    "needs_node_port",
    "validate_spec",
    "validate_status",
    "validate_update",
]
