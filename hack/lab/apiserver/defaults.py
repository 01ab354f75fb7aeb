"""Defaulting of the built-in kinds, as the ``SetDefaults_*`` functions and default admission plugins do.

Defaults matter to clients beyond cosmetics: ``kubectl apply`` computes three-way patches against what the
server returns, controllers compare desired and observed objects, and informers see the defaulted form. So a
Pod comes back with ``restartPolicy: Always``, ``terminationGracePeriodSeconds: 30``, the ``default``
ServiceAccount and the two 300 s NoExecute tolerations; a Deployment with its rolling-update strategy; a
Namespace with the ``kubernetes`` finalizer and its ``kubernetes.io/metadata.name`` label. Services live in
:mod:`.services` because their defaults depend on allocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _containers(spec: JSON) -> None:
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image") or "")
            tag = image.rsplit("/", 1)[-1]
            if "imagePullPolicy" not in c:
                latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
                c["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for p in c.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                pr = c.get(probe)
                if isinstance(pr, dict):
                    pr.setdefault("timeoutSeconds", 1)
                    pr.setdefault("periodSeconds", 10)
                    pr.setdefault("successThreshold", 1)
                    pr.setdefault("failureThreshold", 3)


def pod_spec(spec: JSON) -> None:
    """``SetDefaults_PodSpec`` and the container defaults (used by Pods and by workload templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    _containers(spec)
    for v in spec.get("volumes") or []:
        if isinstance(v, dict) and not any(k for k in v if k != "name"):
            v["emptyDir"] = {}


def pod(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    # Admission: ServiceAccount and DefaultTolerationSeconds, and priority defaults.
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(isinstance(t, dict) and t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


def _template(obj: JSON) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    if isinstance(template, dict):
        template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        pod_spec(template.setdefault("spec", {}))


def deployment(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxSurge", "25%")
        ru.setdefault("maxUnavailable", "25%")
    _template(obj)


def daemonset(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    _template(obj)


def replicaset(obj: JSON) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)


def namespace(obj: JSON) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def secret(obj: JSON) -> None:
    obj.setdefault("type", "Opaque")


def endpoints(obj: JSON) -> None:
    for subset in obj.get("subsets") or []:
        for p in (subset or {}).get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def endpointslice(obj: JSON) -> None:
    for p in obj.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            p.setdefault("name", "")


def crd(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("listKind", names["kind"] + "List")
        names.setdefault("singular", str(names["kind"]).lower())
    spec.setdefault("conversion", {"strategy": "None"})


#: kind storage key -> defaulting function for bodies of that kind
DEFAULTERS: dict[str, Callable[[JSON], None]] = {
    "/pods": pod,
    "apps/deployments": deployment,
    "apps/daemonsets": daemonset,
    "apps/replicasets": replicaset,
    "/namespaces": namespace,
    "/secrets": secret,
    "/endpoints": endpoints,
    "discovery.k8s.io/endpointslices": endpointslice,
    "apiextensions.k8s.io/customresourcedefinitions": crd,
}

__all__ = ["DEFAULTERS", "pod_spec"]
