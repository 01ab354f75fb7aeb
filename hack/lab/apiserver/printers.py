"""The columns and cells of ``pkg/printers/internalversion/printers.go`` for the built-in kinds we serve.

Each printer is (column definitions, function from object to cells), always the wide set - the server does not
know whether kubectl was given ``-o wide`` and sends every column; kubectl hides those with ``priority > 0``.
Cells are computed as upstream computes them: a LoadBalancer Service's EXTERNAL-IP is its ingress IPs or
hostnames (``<pending>`` while there are none), PORT(S) is ``port[:nodePort]/protocol``, a Node's STATUS comes
from its Ready condition, AGE is ``duration.HumanDuration`` of the creation timestamp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hack.lab.apiserver import meta

JSON = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
Printer = tuple[list[Column], Callable[[JSON], list[Any]]]


def _name(o: JSON) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _age(o: JSON) -> str:
    return meta.age((o.get("metadata") or {}).get("creationTimestamp"))


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector`` (and plain maps, as Services use)."""
    if not selector:
        return "<none>"
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


# --------------------------------------------------------------------------------------------- services


def _lb_ingress(svc: JSON, wide: bool = True) -> str:
    ingress = (((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []
    text = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress if isinstance(i, dict))
    if not wide and len(text) > 16:
        return text[:13] + "..."
    return text


def _external_ip(svc: JSON) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _lb_ingress(svc)
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _ports(svc: JSON) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _service(o: JSON) -> list[Any]:
    spec = o.get("spec") or {}
    return [
        _name(o),
        spec.get("type", ""),
        spec.get("clusterIP") or "<none>",
        _external_ip(o),
        _ports(o),
        _age(o),
        format_selector(spec.get("selector")),
    ]


# --------------------------------------------------------------------------------------------- pods, nodes


def _pod(o: JSON) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if (o.get("metadata") or {}).get("deletionTimestamp") and reason != "NodeLost":
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [
        _name(o),
        f"{ready}/{len(containers)}",
        reason,
        str(restarts),
        _age(o),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"0/{len(gates)}" if gates else "<none>",
    ]


def _node(o: JSON) -> list[Any]:
    status, spec = o.get("status") or {}, o.get("spec") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = {"True": "Ready", "False": "NotReady"}.get(str(conditions.get("Ready")), "Unknown")
    if spec.get("unschedulable"):
        ready += ",SchedulingDisabled"
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    roles += [v for k, v in labels.items() if k == "kubernetes.io/role" and v]
    addresses: dict[str, str] = {}
    for a in status.get("addresses") or []:
        addresses.setdefault(str(a.get("type")), str(a.get("address")))  # the first of each type, as kubectl
    info = status.get("nodeInfo") or {}
    return [
        _name(o),
        ready,
        ",".join(roles) or "<none>",
        _age(o),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


# --------------------------------------------------------------------------------------------- workloads


def _containers(o: JSON) -> tuple[str, str]:
    pod_spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
    cs = pod_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment(o: JSON) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [
        _name(o),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(o),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def _replicaset(o: JSON) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [
        _name(o),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(o),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def _daemonset(o: JSON) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [
        _name(o),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        format_selector(node_selector),
        _age(o),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


# --------------------------------------------------------------------------------------------- the rest


def _endpoints(o: JSON) -> list[Any]:
    out: list[str] = []
    for subset in o.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for addr in subset.get("addresses") or []:
            out.extend(f"{addr.get('ip')}:{p}" if p else str(addr.get("ip")) for p in ports)
    text = ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")
    return [_name(o), text or "<none>", _age(o)]


def _endpointslice(o: JSON) -> list[Any]:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None) or "<unset>"
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [_name(o), o.get("addressType", ""), ports, text or "<unset>", _age(o)]


def _lease(o: JSON) -> list[Any]:
    return [_name(o), (o.get("spec") or {}).get("holderIdentity") or "<none>", _age(o)]


def _event(o: JSON) -> list[Any]:
    first = meta.age(o.get("firstTimestamp")) if o.get("firstTimestamp") else meta.age(o.get("eventTime"))
    last = meta.age(o.get("lastTimestamp")) if o.get("lastTimestamp") else first
    count = o.get("count") or 0
    series = o.get("series")
    if series:
        last = meta.age(series.get("lastObservedTime"))
        count = series.get("count", 0)
    elif not count:
        count = 1
    involved = o.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = o.get("source") or {}
    src = source.get("component") or o.get("reportingComponent") or ""
    if source.get("host"):
        src += f", {source['host']}"
    return [
        last,
        o.get("type", ""),
        o.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        src,
        str(o.get("message", "")).strip(),
        first,
        int(count),
        _name(o),
    ]


def _binding(o: JSON) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        found = [
            (f"{s.get('namespace', '')}/{s.get('name')}" if kind == "ServiceAccount" else str(s.get("name")))
            for s in subjects
            if s.get("kind") == kind
        ]
        return ", ".join(found)

    return [
        _name(o),
        f"{ref.get('kind')}/{ref.get('name')}",
        _age(o),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


def _created_at(o: JSON) -> list[Any]:
    return [_name(o), (o.get("metadata") or {}).get("creationTimestamp")]


PRINTERS: dict[str, Printer] = {
    "/services": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        _service,
    ),
    "/pods": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod,
    ),
    "/nodes": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node,
    ),
    "/namespaces": (
        [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), (o.get("status") or {}).get("phase", ""), _age(o)],
    ),
    "/endpoints": ([("Name", "string", 0), ("Endpoints", "string", 0), ("Age", "string", 0)], _endpoints),
    "discovery.k8s.io/endpointslices": (
        [
            ("Name", "string", 0),
            ("AddressType", "string", 0),
            ("Ports", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ],
        _endpointslice,
    ),
    "apps/deployments": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        _deployment,
    ),
    "apps/replicasets": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        _replicaset,
    ),
    "apps/daemonsets": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        _daemonset,
    ),
    "coordination.k8s.io/leases": ([("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)], _lease),
    "/events": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        _event,
    ),
    "/secrets": (
        [("Name", "string", 0), ("Type", "string", 0), ("Data", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), o.get("type", ""), len(o.get("data") or {}), _age(o)],
    ),
    "/configmaps": (
        [("Name", "string", 0), ("Data", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)],
    ),
    "/serviceaccounts": (
        [("Name", "string", 0), ("Secrets", "string", 0), ("Age", "string", 0)],
        lambda o: [_name(o), len(o.get("secrets") or []), _age(o)],
    ),
    "rbac.authorization.k8s.io/roles": ([("Name", "string", 0), ("Created At", "date", 0)], _created_at),
    "rbac.authorization.k8s.io/clusterroles": ([("Name", "string", 0), ("Created At", "date", 0)], _created_at),
    "rbac.authorization.k8s.io/rolebindings": (
        [
            ("Name", "string", 0),
            ("Role", "string", 0),
            ("Age", "string", 0),
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
        _binding,
    ),
    "rbac.authorization.k8s.io/clusterrolebindings": (
        [
            ("Name", "string", 0),
            ("Role", "string", 0),
            ("Age", "string", 0),
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
        _binding,
    ),
    "apiextensions.k8s.io/customresourcedefinitions": ([("Name", "string", 0), ("Created At", "date", 0)], _created_at),
}


__all__ = ["Column", "PRINTERS", "Printer", "format_selector"]
