"""The semantic checks kube-apiserver makes in code for the built-in kinds we serve (besides Services).

The OpenAPI schemas only say which fields exist and their JSON types; ``pkg/apis/*/validation`` says what
values are acceptable. These are the checks ironlb and its tests can run into, worded as upstream words them:
workload selectors must match their template labels and never change, Pods need named containers with
images, EndpointSlices need a supported ``addressType`` and addresses of that type, a Node's ``providerID``
and ``podCIDRs`` cannot move once set, RBAC bindings cannot change their ``roleRef``, Secret and ConfigMap keys
are restricted, and so on.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from hack.lab.apiserver import errors, meta
from hack.lab.apiserver.errors import FieldError
from hack.lab.apiserver.service_validation import MSG_IP, MSG_PORT, is_ip
from ironlb.api.selectors import LabelSelector, SelectorError

JSON = dict[str, Any]
Validator = Callable[[JSON, JSON | None], list[FieldError]]

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MSG_CONFIG_KEY = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
MAX_DATA_BYTES = 1024 * 1024


def _immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    return [] if new == old else [errors.invalid(path, new, "field is immutable")]


def _pod_spec(spec: Any, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    if not isinstance(spec, dict):
        return [errors.required(path)]
    containers = spec.get("containers") or []
    if not containers:
        out.append(errors.required(f"{path}.containers"))
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            where = f"{path}.{key}[{i}]"
            if not isinstance(c, dict):
                continue
            name = c.get("name") or ""
            if not name:
                out.append(errors.required(f"{where}.name"))
            else:
                out.extend(errors.invalid(f"{where}.name", name, m) for m in meta.dns1123_label_errors(name))
                if name in names:
                    out.append(errors.duplicate(f"{where}.name", name))
                names.add(name)
            if not c.get("image"):
                out.append(errors.required(f"{where}.image"))
            for j, p in enumerate(c.get("ports") or []):
                if isinstance(p, dict):
                    cp = p.get("containerPort")
                    if not isinstance(cp, int) or not 1 <= cp <= 65535:
                        out.append(errors.invalid(f"{where}.ports[{j}].containerPort", cp, MSG_PORT))
                    if p.get("protocol") not in ("TCP", "UDP", "SCTP"):
                        out.append(
                            errors.not_supported(
                                f"{where}.ports[{j}].protocol", p.get("protocol"), ["SCTP", "TCP", "UDP"]
                            )
                        )
    policy = spec.get("restartPolicy")
    if policy not in ("Always", "OnFailure", "Never"):
        out.append(errors.not_supported(f"{path}.restartPolicy", policy, ["Always", "Never", "OnFailure"]))
    if spec.get("dnsPolicy") not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        out.append(
            errors.not_supported(
                f"{path}.dnsPolicy",
                spec.get("dnsPolicy"),
                ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            )
        )
    return out


def pod(obj: JSON, old: JSON | None) -> list[FieldError]:
    out = _pod_spec(obj.get("spec"), "spec")
    if old is not None:
        new_spec, old_spec = dict(obj.get("spec") or {}), dict(old.get("spec") or {})
        # Only images, activeDeadlineSeconds and tolerations (additions) may change in a Pod's spec.
        for spec in (new_spec, old_spec):
            for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                spec.pop(key, None)
            spec["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("containers") or []]
        if new_spec != old_spec:
            out.append(
                errors.forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                    "`spec.tolerations` (only additions to existing tolerations),"
                    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                    "previously negative)",
                )
            )
    return out


def _selector_and_template(obj: JSON, old: JSON | None, kind: str) -> list[FieldError]:
    out: list[FieldError] = []
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        out.append(errors.required("spec.selector"))
    else:
        try:
            compiled = LabelSelector.from_object(selector)
        except SelectorError as exc:
            out.append(errors.invalid("spec.selector", selector, str(exc)))
        else:
            if compiled.is_empty:
                out.append(errors.invalid("spec.selector", selector, "empty selector is invalid for deployment"))
            elif not compiled.matches(labels):
                out.append(
                    errors.invalid(
                        "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                    )
                )
    out.extend(meta.validate_labels(labels, "spec.template.metadata.labels"))
    out.extend(_pod_spec(template.get("spec"), "spec.template.spec"))
    if kind != "DaemonSet":
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            out.append(errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    if old is not None:
        out.extend(_immutable(selector, (old.get("spec") or {}).get("selector"), "spec.selector"))
    return out


def deployment(obj: JSON, old: JSON | None) -> list[FieldError]:
    return _selector_and_template(obj, old, "Deployment")


def daemonset(obj: JSON, old: JSON | None) -> list[FieldError]:
    return _selector_and_template(obj, old, "DaemonSet")


def replicaset(obj: JSON, old: JSON | None) -> list[FieldError]:
    return _selector_and_template(obj, old, "ReplicaSet")


def _data_keys(data: Any, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    for key in data or {}:
        if not _CONFIG_KEY.match(key) or len(key) > 253:
            out.append(errors.invalid(path, key, MSG_CONFIG_KEY))
    return out


def secret(obj: JSON, old: JSON | None) -> list[FieldError]:
    out = _data_keys(obj.get("data"), "data")
    total = sum(len(str(v)) * 3 // 4 for v in (obj.get("data") or {}).values())
    if total > MAX_DATA_BYTES:
        out.append(errors.too_long("data", MAX_DATA_BYTES, unit="bytes"))
    if old is not None:
        out.extend(_immutable(obj.get("type"), old.get("type"), "type"))
        if old.get("immutable") and (obj.get("data") != old.get("data") or not obj.get("immutable")):
            out.append(errors.forbidden("data", "field is immutable when `immutable` is set"))
    return out


def configmap(obj: JSON, old: JSON | None) -> list[FieldError]:
    out = _data_keys(obj.get("data"), "data") + _data_keys(obj.get("binaryData"), "binaryData")
    for key in set(obj.get("data") or {}) & set(obj.get("binaryData") or {}):
        out.append(errors.invalid("data", key, "duplicate of key present in binaryData"))
    total = sum(len(str(k)) + len(str(v)) for k, v in (obj.get("data") or {}).items())
    if total > MAX_DATA_BYTES:
        out.append(errors.too_long("data", MAX_DATA_BYTES, unit="bytes"))
    changed = obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData") if old else False
    if old is not None and old.get("immutable") and changed:
        out.append(errors.forbidden("data", "field is immutable when `immutable` is set"))
    return out


def node(obj: JSON, old: JSON | None) -> list[FieldError]:
    out: list[FieldError] = []
    spec = obj.get("spec") or {}
    for i, taint in enumerate(spec.get("taints") or []):
        if not isinstance(taint, dict):
            continue
        out.extend(
            errors.invalid(f"metadata.taints[{i}].key", taint.get("key"), m)
            for m in meta.qualified_name_errors(str(taint.get("key") or ""))
        )
        if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            out.append(
                errors.not_supported(
                    f"metadata.taints[{i}].effect", taint.get("effect"), ["NoExecute", "NoSchedule", "PreferNoSchedule"]
                )
            )
    for i, addr in enumerate((obj.get("status") or {}).get("addresses") or []):
        if (
            isinstance(addr, dict)
            and addr.get("type") in ("InternalIP", "ExternalIP")
            and not is_ip(addr.get("address"))
        ):
            out.append(errors.invalid(f"status.addresses[{i}].address", addr.get("address"), MSG_IP))
    if old is not None:
        old_spec = old.get("spec") or {}
        if old_spec.get("providerID") and spec.get("providerID") != old_spec["providerID"]:
            out.append(
                errors.forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
            )
        if old_spec.get("podCIDRs") and spec.get("podCIDRs") != old_spec["podCIDRs"]:
            out.append(errors.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    return out


def endpointslice(obj: JSON, old: JSON | None) -> list[FieldError]:
    out: list[FieldError] = []
    kind = obj.get("addressType")
    if not kind:
        out.append(errors.required("addressType"))
    elif kind not in ("IPv4", "IPv6", "FQDN"):
        out.append(errors.not_supported("addressType", kind, ["FQDN", "IPv4", "IPv6"]))
    for i, ep in enumerate(obj.get("endpoints") or []):
        if not isinstance(ep, dict):
            continue
        addresses = ep.get("addresses") or []
        if not addresses or len(addresses) > 100:
            out.append(
                errors.invalid(
                    f"endpoints[{i}].addresses",
                    addresses,
                    "must contain at least 1 address but no more than 100 addresses",
                )
            )
        for j, addr in enumerate(addresses):
            where = f"endpoints[{i}].addresses[{j}]"
            if kind in ("IPv4", "IPv6"):
                try:
                    ok = ipaddress.ip_address(addr).version == (4 if kind == "IPv4" else 6)
                except ValueError:
                    ok = False
                if not ok:
                    out.append(errors.invalid(where, addr, f"must be a valid {kind} address"))
            elif kind == "FQDN":
                out.extend(errors.invalid(where, addr, m) for m in meta.dns1123_subdomain_errors(str(addr)))
    for i, port in enumerate(obj.get("ports") or []):
        if isinstance(port, dict) and port.get("port") is not None and not 1 <= int(port["port"]) <= 65535:
            out.append(errors.invalid(f"ports[{i}].port", port["port"], MSG_PORT))
    if old is not None:
        out.extend(_immutable(kind, old.get("addressType"), "addressType"))
    return out


def endpoints(obj: JSON, old: JSON | None) -> list[FieldError]:
    del old
    out: list[FieldError] = []
    for i, subset in enumerate(obj.get("subsets") or []):
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate((subset or {}).get(key) or []):
                if isinstance(addr, dict) and not is_ip(addr.get("ip")):
                    out.append(errors.invalid(f"subsets[{i}].{key}[{j}].ip", addr.get("ip"), MSG_IP))
    return out


def lease(obj: JSON, old: JSON | None) -> list[FieldError]:
    del old
    out: list[FieldError] = []
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        out.append(errors.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        out.append(errors.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return out


def _rules(obj: JSON) -> list[FieldError]:
    out: list[FieldError] = []
    for i, rule in enumerate(obj.get("rules") or []):
        if not isinstance(rule, dict):
            continue
        if not rule.get("verbs"):
            out.append(errors.required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs") and (rule.get("resources") or rule.get("apiGroups")):
            out.append(
                errors.invalid(
                    f"rules[{i}].nonResourceURLs",
                    rule["nonResourceURLs"],
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        if not rule.get("nonResourceURLs") and not rule.get("resources"):
            out.append(errors.required(f"rules[{i}].resources", "resource rules must supply at least one resource"))
    return out


def role(obj: JSON, old: JSON | None) -> list[FieldError]:
    del old
    return _rules(obj)


def _binding(obj: JSON, old: JSON | None, namespaced: bool) -> list[FieldError]:
    out: list[FieldError] = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        out.append(errors.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"]))
    allowed = ["ClusterRole", "Role"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in allowed:
        out.append(errors.not_supported("roleRef.kind", ref.get("kind", ""), allowed))
    if not ref.get("name"):
        out.append(errors.required("roleRef.name"))
    for i, subject in enumerate(obj.get("subjects") or []):
        if not isinstance(subject, dict):
            continue
        kind = subject.get("kind")
        if kind not in ("ServiceAccount", "User", "Group"):
            out.append(errors.not_supported(f"subjects[{i}].kind", kind, ["Group", "ServiceAccount", "User"]))
        if not subject.get("name"):
            out.append(errors.required(f"subjects[{i}].name"))
        if kind == "ServiceAccount" and not namespaced and not subject.get("namespace"):
            out.append(errors.required(f"subjects[{i}].namespace"))
    if old is not None and obj.get("roleRef") != old.get("roleRef"):
        out.append(errors.invalid("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    return out


def rolebinding(obj: JSON, old: JSON | None) -> list[FieldError]:
    return _binding(obj, old, True)


def clusterrolebinding(obj: JSON, old: JSON | None) -> list[FieldError]:
    return _binding(obj, old, False)


def check_base64_data(obj: JSON) -> str | None:
    """Secret ``data`` values are ``[]byte``: JSON base64, or the Go decoder fails the request with 400."""
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"illegal base64 data at input byte {_bad_byte(value)} (data[{key!r}])"
    return None


def _bad_byte(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    return next((i for i, c in enumerate(value) if c not in alphabet), len(value))


#: storage key -> validator for kind-specific checks
VALIDATORS: dict[str, Validator] = {
    "/pods": pod,
    "apps/deployments": deployment,
    "apps/daemonsets": daemonset,
    "apps/replicasets": replicaset,
    "/secrets": secret,
    "/configmaps": configmap,
    "/nodes": node,
    "discovery.k8s.io/endpointslices": endpointslice,
    "/endpoints": endpoints,
    "coordination.k8s.io/leases": lease,
    "rbac.authorization.k8s.io/roles": role,
    "rbac.authorization.k8s.io/clusterroles": role,
    "rbac.authorization.k8s.io/rolebindings": rolebinding,
    "rbac.authorization.k8s.io/clusterrolebindings": clusterrolebinding,
}

__all__ = ["VALIDATORS", "Validator", "check_base64_data"]
