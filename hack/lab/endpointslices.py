"""The lab's stand-ins for the EndpointSlice controller and the node lifecycle controller.

*Stand-ins* that live only in hack/lab (inside ``ironlb-lab control-plane``).

**EndpointSlices.** For every Service with a selector: the Pods it selects that have an address, as one
EndpointSlice per address family (``<service>-ipv4``, ``<service>-ipv6``), labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``, owned by the Service. Each endpoint
carries ``nodeName`` and the conditions ``ready`` (Pod Ready and not terminating), ``serving`` (Pod Ready) and
``terminating`` (Pod being deleted) - what ironlb-speaker reads to decide which nodes may announce a Service with
``externalTrafficPolicy: Local``, and what the kube-proxy stand-in load-balances over.

**Node lifecycle.** A node whose heartbeat this controller has not seen change for ``grace`` seconds
(``--node-monitor-grace-period``, 40 s upstream) gets its conditions set to ``Unknown`` ("Kubelet stopped posting
node status"), and its Pods' Ready condition set to False, so they leave the EndpointSlices - as in a real
cluster, where a dead node's Pods keep receiving traffic until then. The grace period counts only time during
which the API server answered this controller: coming back after an API outage restarts it (a kube-controller-
manager that restarts does the same), so an API outage alone never marks nodes dead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from loguru import logger

from hack.lab import standin
from hack.lab.standin import JSON, meta
from ironlb.kube.resources import ENDPOINTSLICES, NODES, PODS, SERVICES
from ironlb.kube.rest import ApiError, Kube, Rest

MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
MANAGER = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"


def _target_port(port: Mapping[str, Any], pods: Iterable[JSON]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
    return None


def desired_slices(service: JSON, pods: Iterable[JSON]) -> list[JSON]:
    """The EndpointSlices a Service should have (pure); empty for Services without a selector."""
    m = meta(service)
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector or spec.get("type") == "ExternalName":
        return []
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    chosen = [
        p
        for p in pods
        if meta(p).get("namespace") == m.get("namespace")
        and standin.labels_match(selector, meta(p).get("labels") or {})
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    chosen.sort(key=lambda p: str(meta(p).get("name")))
    ports = [
        {"name": p.get("name") or "", "port": _target_port(p, chosen), "protocol": p.get("protocol") or "TCP"}
        for p in spec.get("ports") or []
    ]
    out = []
    # A Service without endpoints gets no slice here (the real controller keeps an empty placeholder slice): the
    # emulator refuses ``endpoints: []`` as a missing required field, which kube-apiserver accepts.
    for family in spec.get("ipFamilies") or ["IPv4"]:
        endpoints = []
        for pod in chosen:
            ips = [str(x.get("ip")) for x in (pod.get("status") or {}).get("podIPs") or [] if x.get("ip")]
            ips = [ip for ip in ips if (":" in ip) == (family == "IPv6")]
            if not ips:
                continue
            terminating = bool(meta(pod).get("deletionTimestamp"))
            serving = standin.is_true(pod, "Ready") or publish_not_ready
            endpoints.append(
                {
                    "addresses": ips[:1],
                    "conditions": {
                        "ready": serving and not terminating,
                        "serving": serving,
                        "terminating": terminating,
                    },
                    "nodeName": (pod.get("spec") or {}).get("nodeName"),
                    "targetRef": {
                        "kind": "Pod",
                        "name": meta(pod)["name"],
                        "namespace": meta(pod)["namespace"],
                        "uid": meta(pod)["uid"],
                    },
                }
            )
        if not endpoints:
            continue
        out.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{m['name']}-{family.lower()}",
                    "namespace": m["namespace"],
                    "labels": {SERVICE_NAME: m["name"], MANAGED_BY: MANAGER},
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": m["name"],
                            "uid": m["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "addressType": family,
                "endpoints": endpoints,
                "ports": ports,
            }
        )
    return out


def _content(eps: Mapping[str, Any]) -> tuple[Any, ...]:
    return (eps.get("addressType"), eps.get("endpoints") or [], eps.get("ports") or [], meta(eps).get("labels"))


class EndpointSlices:
    def __init__(self, rest: Rest, kube: Kube) -> None:
        self.kube = kube
        self.services = standin.informer(rest, SERVICES)
        self.pods = standin.informer(rest, PODS)
        self.slices = standin.informer(rest, ENDPOINTSLICES, label_selector=f"{MANAGED_BY}={MANAGER}")
        informers = [self.services, self.pods, self.slices]
        self.loop = standin.Reconciler("endpointslices", informers, self.reconcile, debounce=0.002)

    def tasks(self) -> list[asyncio.Future[None] | asyncio.Task[None]]:
        runs = [i.run() for i in (self.services, self.pods, self.slices)]
        return [asyncio.ensure_future(c) for c in [*runs, self.loop.run()]]

    async def reconcile(self) -> None:
        wanted: dict[str, JSON] = {}
        pods = list(self.pods.store.values())
        for svc in self.services.store.values():
            if meta(svc).get("deletionTimestamp"):
                continue
            for eps in desired_slices(svc, pods):
                wanted[f"{meta(eps)['namespace']}/{meta(eps)['name']}"] = eps
        for key, eps in wanted.items():
            have = self.slices.store.get(key)
            if have is None:
                try:
                    await self.kube.create(ENDPOINTSLICES, eps, meta(eps)["namespace"])
                except ApiError as exc:
                    if not exc.already_exists:
                        raise
            elif _content(have) != _content(eps):
                body = {**eps, "metadata": {**eps["metadata"], "resourceVersion": meta(have)["resourceVersion"]}}
                await self.kube.replace(ENDPOINTSLICES, body)
        for key, have in list(self.slices.store.items()):
            if key not in wanted:
                await self.kube.delete(ENDPOINTSLICES, meta(have)["name"], meta(have)["namespace"])


class NodeLifecycle:
    """Marks nodes whose kubelet went silent ``Unknown``, and their Pods not ready."""

    def __init__(self, rest: Rest, kube: Kube, *, grace: float = 40.0, period: float = 1.0) -> None:
        self.kube = kube
        self.grace = grace
        self.period = period
        self.nodes = standin.informer(rest, NODES)
        self.pods = standin.informer(rest, PODS)
        #: node name -> (last heartbeat text seen, monotonic time it was first seen)
        self.observed: dict[str, tuple[str, float]] = {}

    def tasks(self) -> list[asyncio.Future[None] | asyncio.Task[None]]:
        return [asyncio.ensure_future(c) for c in (self.nodes.run(), self.pods.run(), self.run())]

    async def run(self) -> None:
        await asyncio.gather(self.nodes.synced.wait(), self.pods.synced.wait())
        reachable = True
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.kube.list(NODES)  # is the API server answering us right now?
            except ApiError:
                reachable = False
                continue
            if not reachable:  # back after an outage: what we saw before is stale, restart every grace period
                self.observed.clear()
                reachable = True
            await self.check(time.monotonic())

    async def check(self, now: float) -> None:
        for node in list(self.nodes.store.values()):
            name = str(meta(node)["name"])
            ready = standin.condition(node, "Ready")
            if ready is None:
                continue
            beat = str(ready.get("lastHeartbeatTime"))
            seen = self.observed.get(name)
            if seen is None or seen[0] != beat:
                self.observed[name] = (beat, now)
                continue
            if ready.get("status") == "Unknown" or now - seen[1] < self.grace:
                continue
            await self._mark_unknown(node)

    async def _mark_unknown(self, node: JSON) -> None:
        name = str(meta(node)["name"])
        now = standin.now_iso()
        conditions = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            conditions.append(
                {
                    **cond,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": now,
                }
            )
        await self.kube.patch(NODES, name, {"status": {"conditions": conditions}}, subresource="status")
        logger.bind(node=name).warning("node stopped posting status for {:g} s: conditions Unknown", self.grace)
        for pod in list(self.pods.store.values()):
            if (pod.get("spec") or {}).get("nodeName") != name or not standin.is_true(pod, "Ready"):
                continue
            conds = []
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") in ("Ready", "ContainersReady"):
                    conds.append({**cond, "status": "False", "lastTransitionTime": now})
                else:
                    conds.append(cond)
            m = meta(pod)
            try:
                await self.kube.patch(
                    PODS, m["name"], {"status": {"conditions": conds}}, namespace=m["namespace"], subresource="status"
                )
            except ApiError as exc:
                if not exc.not_found:
                    raise


__all__ = ["MANAGED_BY", "MANAGER", "EndpointSlices", "NodeLifecycle", "desired_slices"]
