"""The lab's stand-ins for the Deployment and ReplicaSet controllers and for the scheduler.

*Stand-ins* that live only in hack/lab (inside ``ironlb-lab control-plane``), so that the seed scenario's
``kubectl apply -f whoami.yaml`` produces what it does on a cluster: a ReplicaSet ``whoami-<hash>`` and Pods
``whoami-<hash>-<5 chars>`` that the kubelet stand-ins run, with the statuses ``kubectl get all`` prints.

Simplifications, on purpose: a new template scales the old ReplicaSets to zero at once (no surge), and Pods are
created already bound to a node (the emulator has no ``pods/binding``; the scheduling decision is the same). The
scheduler (:func:`pick_node`) honours what matters for ironlb's tests: Ready nodes only, NoSchedule/NoExecute
taints (so nothing lands on a node until ironlb-ccm removed ``node.cloudprovider.kubernetes.io/uninitialized``),
``nodeSelector``, required node affinity, ``spec.unschedulable``; it spreads a workload's Pods over nodes. A Pod
that fits nowhere is not created until a node fits (a real cluster shows it Pending).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loguru import logger

from hack.lab import standin
from hack.lab.standin import JSON, meta
from ironlb.kube.resources import NODES, PODS, Resource
from ironlb.kube.rest import ApiError, Kube, Rest

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
HASH_LABEL = "pod-template-hash"
#: Kubernetes' SafeEncodeString alphabet (no vowels, no look-alikes)
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable short hash of a Pod template, in Kubernetes' alphabet (FNV-1a 32 bits)."""
    value = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True, separators=(",", ":")).encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    out = ""
    while value:
        value, digit = divmod(value, len(ALPHABET))
        out += ALPHABET[digit]
    return out or ALPHABET[0]


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(ALPHABET) for _ in range(n))


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator"), list(expr.get("values") or [])
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def node_fits(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether the scheduler may place a Pod with ``pod_spec`` on ``node`` (pure)."""
    spec = node.get("spec") or {}
    labels = meta(node).get("labels") or {}
    if spec.get("unschedulable") or not standin.is_true(node, "Ready"):
        return False
    tolerations = pod_spec.get("tolerations") or []
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, tolerations):
            return False
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if required:
        return any(all(_expression_matches(e, labels) for e in t.get("matchExpressions") or []) for t in required)
    return True


def pick_node(pod_spec: Mapping[str, Any], owner_uid: str, nodes: Iterable[JSON], pods: Iterable[JSON]) -> str | None:
    """The node for a new Pod: fitting nodes, fewest Pods of the same owner, then fewest Pods, then by name."""
    same: dict[str, int] = {}
    total: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or meta(pod).get("deletionTimestamp"):
            continue
        total[node] = total.get(node, 0) + 1
        if any(ref.get("uid") == owner_uid for ref in meta(pod).get("ownerReferences") or []):
            same[node] = same.get(node, 0) + 1
    names = [str(meta(n)["name"]) for n in nodes if node_fits(pod_spec, n)]
    if not names:
        return None
    return min(names, key=lambda n: (same.get(n, 0), total.get(n, 0), n))


def _owner_ref(obj: Mapping[str, Any], api_version: str, kind: str) -> JSON:
    m = meta(obj)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller") for ref in meta(obj).get("ownerReferences") or [])


class Workloads:
    """Deployments -> ReplicaSets -> scheduled Pods, and their status counters."""

    def __init__(self, rest: Rest, kube: Kube) -> None:
        self.kube = kube
        self.deployments = standin.informer(rest, DEPLOYMENTS)
        self.replicasets = standin.informer(rest, REPLICASETS)
        self.pods = standin.informer(rest, PODS)
        self.nodes = standin.informer(rest, NODES)
        informers = [self.deployments, self.replicasets, self.pods, self.nodes]
        self.loop = standin.Reconciler("workloads", informers, self.reconcile, debounce=0.01)

    def tasks(self) -> list[asyncio.Future[None] | asyncio.Task[None]]:
        runs = [i.run() for i in (self.deployments, self.replicasets, self.pods, self.nodes)]
        return [asyncio.ensure_future(c) for c in [*runs, self.loop.run()]]

    async def reconcile(self) -> None:
        for deployment in list(self.deployments.store.values()):
            if not meta(deployment).get("deletionTimestamp"):
                await self._deployment(deployment)
        for rs in list(self.replicasets.store.values()):
            if not meta(rs).get("deletionTimestamp"):
                await self._replicaset(rs)

    async def _deployment(self, deployment: JSON) -> None:
        m = meta(deployment)
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        pod_hash = template_hash(template)
        owned = [rs for rs in self.replicasets.store.values() if _owned_by(rs, m["uid"])]
        current = next((rs for rs in owned if (meta(rs).get("labels") or {}).get(HASH_LABEL) == pod_hash), None)
        replicas = int(spec.get("replicas", 1))
        if current is None:
            labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: pod_hash}
            selector = dict(spec.get("selector") or {})
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
            rs_template = json.loads(json.dumps(template))
            rs_template.setdefault("metadata", {})["labels"] = labels
            body: JSON = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{m['name']}-{pod_hash}",
                    "namespace": m["namespace"],
                    "labels": labels,
                    "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas)},
                    "ownerReferences": [_owner_ref(deployment, "apps/v1", "Deployment")],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
            }
            current = await self.kube.create(REPLICASETS, body, m["namespace"])
            logger.bind(deployment=f"{m['namespace']}/{m['name']}").info(
                "created ReplicaSet {}", body["metadata"]["name"]
            )
        elif int((current.get("spec") or {}).get("replicas", 0)) != replicas:
            await self.kube.patch(
                REPLICASETS, meta(current)["name"], {"spec": {"replicas": replicas}}, namespace=m["namespace"]
            )
        for rs in owned:
            if meta(rs)["uid"] != meta(current)["uid"] and int((rs.get("spec") or {}).get("replicas", 0)) != 0:
                await self.kube.patch(
                    REPLICASETS, meta(rs)["name"], {"spec": {"replicas": 0}}, namespace=m["namespace"]
                )
        status = self._rs_counts(meta(current)["uid"])
        all_counts = [self._rs_counts(meta(rs)["uid"]) for rs in owned] or [status]
        total = sum(c["replicas"] for c in all_counts)
        ready = sum(c["readyReplicas"] for c in all_counts)
        available = ready >= replicas
        want = {
            "observedGeneration": m.get("generation", 1),
            "replicas": total,
            "updatedReplicas": status["replicas"],
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, replicas - ready),
        }
        have = deployment.get("status") or {}
        cond = standin.condition(deployment, "Available")
        if all(have.get(k, 0) == v for k, v in want.items()) and cond and (cond["status"] == "True") == available:
            return
        now = standin.now_iso()
        want["conditions"] = [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{m["name"]}-{pod_hash}" is progressing.',
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
        ]
        await self.kube.patch(DEPLOYMENTS, m["name"], {"status": want}, namespace=m["namespace"], subresource="status")

    def _rs_pods(self, uid: str) -> list[JSON]:
        return [p for p in self.pods.store.values() if _owned_by(p, uid) and not meta(p).get("deletionTimestamp")]

    def _rs_counts(self, uid: str) -> dict[str, int]:
        pods = self._rs_pods(uid)
        ready = sum(1 for p in pods if standin.is_true(p, "Ready"))
        return {"replicas": len(pods), "readyReplicas": ready}

    async def _replicaset(self, rs: JSON) -> None:
        m = meta(rs)
        spec = rs.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        pods = self._rs_pods(m["uid"])
        template = spec.get("template") or {}
        for _ in range(replicas - len(pods)):
            node = pick_node(template.get("spec") or {}, m["uid"], self.nodes.store.values(), self.pods.store.values())
            if node is None:
                break
            await self._create_pod(rs, template, node)
            pods = self._rs_pods(m["uid"])
        if len(pods) > replicas:
            extra = sorted(pods, key=lambda p: (standin.is_true(p, "Ready"), meta(p).get("creationTimestamp", "")))
            for pod in extra[: len(pods) - replicas]:
                try:
                    await self.kube.delete(PODS, meta(pod)["name"], meta(pod)["namespace"])
                except ApiError as exc:
                    if not exc.not_found:
                        raise
        counts = self._rs_counts(m["uid"])
        want = {
            "replicas": counts["replicas"],
            "fullyLabeledReplicas": counts["replicas"],
            "readyReplicas": counts["readyReplicas"],
            "availableReplicas": counts["readyReplicas"],
            "observedGeneration": m.get("generation", 1),
        }
        have = rs.get("status") or {}
        if any(have.get(k, 0) != v for k, v in want.items()):
            await self.kube.patch(
                REPLICASETS, m["name"], {"status": want}, namespace=m["namespace"], subresource="status"
            )

    async def _create_pod(self, rs: JSON, template: JSON, node: str) -> None:
        m = meta(rs)
        tmeta = template.get("metadata") or {}
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{m['name']}-{random_suffix()}",
                "namespace": m["namespace"],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [_owner_ref(rs, "apps/v1", "ReplicaSet")],
            },
            "spec": {**json.loads(json.dumps(template.get("spec") or {})), "nodeName": node},
        }
        created = await self.kube.create(PODS, body, m["namespace"])
        self.pods.store[PODS.key(created)] = created  # seen at once: the next loop must not create it again
        logger.bind(pod=f"{m['namespace']}/{body['metadata']['name']}", node=node).info("created and scheduled Pod")


__all__ = ["DEPLOYMENTS", "REPLICASETS", "Workloads", "node_fits", "pick_node", "template_hash"]
