"""The lab's stand-in for the kubelet of one node (with ``--cloud-provider=external``).

A *stand-in* that lives only in hack/lab (there is no container runtime here). One runs in every node namespace,
inside ``ironlb-lab node-agent``. It does what ironlb needs a kubelet to have done:

* **registers the Node** the way a kubelet with ``--cloud-provider=external --node-ip=...`` does: the taint
  ``node.cloudprovider.kubernetes.io/uninitialized:NoSchedule`` and the annotation
  ``alpha.kubernetes.io/provided-node-ip`` (so ironlb-ccm's node controller must initialize it before anything is
  scheduled there), ``spec.podCIDRs`` and the usual labels;
* **posts Ready heartbeats** (``status.conditions``, every :data:`HEARTBEAT` seconds; quickly retried while the
  API server is away), so liveness-by-Node-Ready and the node-lifecycle stand-in see a live node;
* **runs the Pods** bound to this node: every container becomes a :class:`hack.lab.whoami.WhoamiServer` on its
  container ports, bound to the Pod's addresses (one IPv4 from the node's /28 and one IPv6 from its /112, on
  ``lo``), and the Pod's status says Running/Ready with ``podIP(s)``; a deleted Pod is stopped, its addresses
  removed, and the object deleted with grace 0 - as a kubelet finishes a graceful deletion.

Pods carrying the annotation ``lab.ironlb.io/run-by`` stand for processes the lab runs itself (ironlb's own
daemons) and are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import platform
from dataclasses import dataclass, field

from loguru import logger

from hack.lab import standin
from hack.lab.standin import ANN_RUN_BY_LAB, JSON, meta
from hack.lab.whoami import WhoamiServer
from ironlb.api import names
from ironlb.kube.resources import NODES, PODS
from ironlb.kube.rest import ApiError, Kube, Rest

HEARTBEAT = 10.0
KUBELET_VERSION = "v1.30.5"
DEFAULT_PORT = 80


@dataclass(frozen=True)
class NodeSpec:
    name: str
    ipv4: str
    ipv6: str | None
    pod_cidr4: str
    pod_cidr6: str | None

    @property
    def provided_ips(self) -> str:
        return ",".join(ip for ip in (self.ipv4, self.ipv6) if ip)


def node_object(spec: NodeSpec) -> JSON:
    """The Node a kubelet with ``--cloud-provider=external`` registers (pure)."""
    cidrs = [c for c in (spec.pod_cidr4, spec.pod_cidr6) if c]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": {
                "kubernetes.io/hostname": spec.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
            "annotations": {
                names.ANN_PROVIDED_NODE_IP: spec.provided_ips,
                "node.alpha.kubernetes.io/ttl": "0",
                "lab.ironlb.io/stand-in": "registered by ironlb-lab's kubelet stand-in (hack/lab/kubelet.py)",
            },
        },
        "spec": {
            "podCIDR": cidrs[0],
            "podCIDRs": cidrs,
            "taints": [{"key": names.TAINT_UNINITIALIZED, "value": "true", "effect": "NoSchedule"}],
        },
    }


def node_status(spec: NodeSpec, now: str, transitions: dict[str, str]) -> JSON:
    """``status`` as the kubelet posts it; ``transitions`` keeps each condition's lastTransitionTime (pure)."""

    def cond(kind: str, status: str, reason: str, message: str) -> JSON:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": transitions.setdefault(kind, now),
        }

    return {
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status (ironlb-lab stand-in)"),
        ],
        "addresses": [{"type": "Hostname", "address": spec.name}],
        "capacity": {"cpu": "2", "memory": "2Gi", "pods": "14"},
        "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "14"},
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "ironlb-lab network namespace",
            "kernelVersion": platform.release(),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "containerRuntimeVersion": "ironlb-lab://stand-in",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


def container_ports(pod: JSON) -> list[int]:
    ports = sorted(
        {
            int(p["containerPort"])
            for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []
            if p.get("containerPort") and (p.get("protocol") or "TCP") == "TCP"
        }
    )
    return ports or [DEFAULT_PORT]


def pod_status(pod: JSON, node: NodeSpec, ips: list[str], started: str, *, ready: bool) -> JSON:
    """The status of a running Pod (pure)."""
    flag = "True" if ready else "False"
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": started},
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "Ready", "status": flag, "lastTransitionTime": started},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": started},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
    ]
    uid = meta(pod).get("uid", "")
    containers = [
        {
            "name": c.get("name"),
            "image": c.get("image"),
            "imageID": f"ironlb-lab://{c.get('image')}",
            "containerID": f"ironlb-lab://{uid}/{c.get('name')}",
            "ready": ready,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}},
        }
        for c in (pod.get("spec") or {}).get("containers") or []
    ]
    host_ips = [{"ip": ip} for ip in (node.ipv4, node.ipv6) if ip]
    return {
        "phase": "Running",
        "hostIP": node.ipv4,
        "hostIPs": host_ips,
        "podIP": ips[0],
        "podIPs": [{"ip": ip} for ip in ips],
        "startTime": started,
        "conditions": conditions,
        "containerStatuses": containers,
        "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
    }


class AddressPool:
    """Pod addresses of one node: the hosts of its /28 (and /112), lowest free first; sticky per Pod uid."""

    def __init__(self, cidr4: str, cidr6: str | None) -> None:
        net4 = ipaddress.ip_network(cidr4)
        self._free4 = [str(ip) for ip in net4.hosts()]
        self._free6: list[str] = []
        if cidr6:
            net6 = ipaddress.ip_network(cidr6)
            self._free6 = [str(net6.network_address + i) for i in range(1, 1 + len(self._free4))]
        self.taken: dict[str, list[str]] = {}

    def take(self, uid: str, wanted: list[str] | None = None) -> list[str]:
        if uid in self.taken:
            return self.taken[uid]
        ips: list[str] = []
        for free in (self._free4, self._free6):
            if not free:
                continue
            pick = next((ip for ip in wanted or [] if ip in free), free[0])
            free.remove(pick)
            ips.append(pick)
        if not ips or ":" in ips[0]:
            raise RuntimeError("this node has no free pod address left (14 pods per node in the lab)")
        self.taken[uid] = ips
        return ips

    def give_back(self, uid: str) -> None:
        for ip in self.taken.pop(uid, []):
            (self._free6 if ":" in ip else self._free4).append(ip)
            self._free4.sort(key=ipaddress.ip_address)
            self._free6.sort(key=ipaddress.ip_address)


@dataclass
class RunningPod:
    uid: str
    name: str
    namespace: str
    ips: list[str]
    server: WhoamiServer
    started: str
    status_posted: bool = False
    extra: dict[str, str] = field(default_factory=dict)


async def _ip(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *argv, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0 and b"File exists" not in err and b"Cannot assign" not in err:
        raise RuntimeError(f"ip {' '.join(argv)}: {err.decode().strip()}")


class Kubelet:
    """Registers the node, keeps it Ready, and runs its Pods."""

    def __init__(self, rest: Rest, kube: Kube, node: NodeSpec) -> None:
        self.kube = kube
        self.node = node
        self.pods = standin.informer(rest, PODS, field_selector=f"spec.nodeName={node.name}")
        self.addresses = AddressPool(node.pod_cidr4, node.pod_cidr6)
        self.running: dict[str, RunningPod] = {}
        self._transitions: dict[str, str] = {}
        self.loop = standin.Reconciler("kubelet", [self.pods], self.reconcile, debounce=0.005)
        self.log = logger.bind(node=node.name)

    # -- the Node --------------------------------------------------------------------------------------------
    async def register(self) -> None:
        """Create the Node (retrying until the API answers); an existing Node is kept as it is."""
        while True:
            try:
                try:
                    await self.kube.create(NODES, node_object(self.node))
                    self.log.bind(provided_node_ip=self.node.provided_ips).info(
                        "registered Node, tainted uninitialized"
                    )
                except ApiError as exc:
                    if not exc.already_exists:
                        raise
                await self.heartbeat()
                return
            except ApiError as exc:
                self.log.bind(error=str(exc)).warning("cannot register the Node yet; retrying")
                await asyncio.sleep(1.0)

    async def heartbeat(self) -> None:
        body = {"status": node_status(self.node, standin.now_iso(), self._transitions)}
        await self.kube.patch(NODES, self.node.name, body, subresource="status")

    async def heartbeats(self) -> None:
        while True:
            try:
                await self.heartbeat()
                await asyncio.sleep(HEARTBEAT)
            except ApiError as exc:
                self.log.bind(error=str(exc)).warning("heartbeat failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    # -- Pods ------------------------------------------------------------------------------------------------
    async def reconcile(self) -> None:
        seen: set[str] = set()
        for pod in list(self.pods.store.values()):
            m = meta(pod)
            if ANN_RUN_BY_LAB in (m.get("annotations") or {}):
                continue
            uid = str(m.get("uid"))
            seen.add(uid)
            if m.get("deletionTimestamp"):
                await self._stop(uid)
                with contextlib.suppress(ApiError):
                    await self._delete_now(m)
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            running = self.running.get(uid) or await self._start(pod)
            if running is None:
                continue
            status = pod.get("status") or {}
            ready = standin.is_true(pod, "Ready")
            if not ready or status.get("podIP") != running.ips[0]:
                await self.kube.patch(
                    PODS,
                    running.name,
                    {"status": pod_status(pod, self.node, running.ips, running.started, ready=True)},
                    namespace=running.namespace,
                    subresource="status",
                )
        for uid in list(self.running):
            if uid not in seen:
                await self._stop(uid)

    async def _start(self, pod: JSON) -> RunningPod | None:
        m = meta(pod)
        uid = str(m["uid"])
        previous = [p.get("ip") for p in (pod.get("status") or {}).get("podIPs") or [] if p.get("ip")]
        try:
            ips = self.addresses.take(uid, previous)
        except RuntimeError as exc:
            self.log.bind(pod=m.get("name")).error(str(exc))
            return None
        for ip in ips:
            if ":" in ip:
                await _ip("-6", "addr", "add", f"{ip}/128", "dev", "lo", "nodad")
            else:
                await _ip("addr", "add", f"{ip}/32", "dev", "lo")
        server = WhoamiServer(str(m["name"]), ips, container_ports(pod))
        try:
            await server.start()
        except OSError as exc:
            self.log.bind(pod=m.get("name"), error=str(exc)).error("cannot start the pod's server")
            await self._release(uid, ips)
            return None
        running = RunningPod(uid, str(m["name"]), str(m["namespace"]), ips, server, standin.now_iso())
        self.running[uid] = running
        self.log.bind(pod=f"{running.namespace}/{running.name}", ips=",".join(ips)).info("pod started")
        return running

    async def _stop(self, uid: str) -> None:
        running = self.running.pop(uid, None)
        if running is None:
            return
        await running.server.close()
        await self._release(uid, running.ips)
        self.log.bind(pod=f"{running.namespace}/{running.name}").info("pod stopped")

    async def _release(self, uid: str, ips: list[str]) -> None:
        for ip in ips:
            with contextlib.suppress(RuntimeError):
                await _ip("addr", "del", f"{ip}/{128 if ':' in ip else 32}", "dev", "lo")
        self.addresses.give_back(uid)

    async def _delete_now(self, m: JSON) -> None:
        """Finish a graceful deletion: the containers are gone, so delete the object with grace 0."""
        path = PODS.path(m.get("namespace"), m.get("name"))
        await asyncio.to_thread(self.kube.rest.call, "DELETE", path, query={"gracePeriodSeconds": 0})

    # -- lifecycle -------------------------------------------------------------------------------------------
    def tasks(self) -> list[asyncio.Future[None] | asyncio.Task[None]]:
        return [
            asyncio.ensure_future(self.heartbeats()),
            asyncio.ensure_future(self.pods.run()),
            asyncio.ensure_future(self.loop.run()),
        ]

    async def cleanup(self) -> None:
        for uid in list(self.running):
            await self._stop(uid)


__all__ = [
    "HEARTBEAT",
    "AddressPool",
    "Kubelet",
    "NodeSpec",
    "container_ports",
    "node_object",
    "node_status",
    "pod_status",
]
