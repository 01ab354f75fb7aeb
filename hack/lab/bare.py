"""A bare lab (``LabOptions.bare()``: ``stand_ins=False, ccm_replicas=0``): ironlb-speaker alone, with what the other
components of a cluster would have done written by the lab and by the test.

Why a bare lab: a test of the speaker decides itself what the ccm, the kubelets and the EndpointSlice controller
say (which Service has which address, which node has ready endpoints, which Node is Ready) and needs to see which
node a client's traffic reached. The stand-ins do those jobs their own way and at their own times (a kubelet
stand-in turns a Node Ready again at its next heartbeat; kube-proxy sends the traffic on to any endpoint), and the
ccm assigns the addresses. In their place:

* **Nodes** are written once by the lab as a kubelet registers them and ironlb-ccm initializes them (Ready, the
  InternalIPs, no taint); :meth:`Bare.set_node_ready` changes the Ready condition. Nothing posts heartbeats.
* **A local backend on every node** replaces kube-proxy and the Pods: a whoami (:mod:`hack.lab.whoami`, its own
  program ``ironlb-lab backend``) answering with the *node's* name on the first address of the node's pod range
  (on ``lo``), behind a static nftables DNAT of every Service address (198.51.100.0/24, 2001:db8:100::/64) port
  80. Whichever node receives a VIP's traffic answers it, so the client sees which node that was;
  :meth:`Bare.block_traffic` drops VIP traffic arriving at a node (a drained node's data path).
* **Services and EndpointSlices** are written by the test (:meth:`Bare.service`): a Service with
  ``status.loadBalancer.ingress`` already set, as the ccm would have, and one EndpointSlice per family whose ready
  endpoints are on the nodes the test names.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hack.lab import kubelet
from hack.lab.kubeapi import JSON, KubeClient
from hack.lab.netns import VIP_V4, VIP_V6, Topology
from hack.lab.procs import Program
from hack.lab.standin import now_iso
from hack.lab.whoami import WhoamiServer

if TYPE_CHECKING:
    from hack.lab.cluster import NodeInfo

TABLE = "ironlb_lab_backend"
PORT = 80
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


# ----------------------------------------------------------------------------------------------- objects (pure)


def _spec(node: NodeInfo) -> kubelet.NodeSpec:
    return kubelet.NodeSpec(node.name, node.ipv4, node.ipv6, node.pod_cidr4, node.pod_cidr6)


def node_object(node: NodeInfo) -> JSON:
    """The Node as a kubelet registers it, once ironlb-ccm has initialized it (no uninitialized taint)."""
    obj = kubelet.node_object(_spec(node))
    del obj["spec"]["taints"]
    obj["spec"]["providerID"] = f"ironlb://{node.name}"
    return obj


def node_status(node: NodeInfo, *, ready: bool, now: str) -> JSON:
    """The kubelet's status with the Ready condition as told, and the addresses ironlb-ccm would have set."""
    status = kubelet.node_status(_spec(node), now, {})
    for cond in status["conditions"]:
        if cond["type"] == "Ready" and not ready:
            cond.update(status="False", reason="KubeletNotReady", message="set NotReady by the test (ironlb-lab)")
    status["addresses"] = [
        {"type": "InternalIP", "address": node.ipv4},
        {"type": "InternalIP", "address": node.ipv6},
        {"type": "Hostname", "address": node.name},
    ]
    return status


def backend_ips(node: NodeInfo) -> tuple[str, str]:
    """The local backend's addresses: the first of the node's IPv4 and IPv6 pod ranges."""
    net4, net6 = ipaddress.ip_network(node.pod_cidr4), ipaddress.ip_network(node.pod_cidr6)
    return str(net4.network_address + 1), str(net6.network_address + 1)


def backend_rules(ip4: str, ip6: str, port: int = PORT) -> str:
    """The nftables table sending every Service address's port 80 to the local backend (``nft -f``, pure);
    chain ``gate`` is where :meth:`Bare.block_traffic` drops."""
    return f"""table inet {TABLE} {{
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;
    ip daddr {VIP_V4} tcp dport 80 dnat ip to {ip4}:{port}
    ip6 daddr {VIP_V6} tcp dport 80 dnat ip6 to [{ip6}]:{port}
  }}
  chain gate {{ type filter hook prerouting priority raw; policy accept; }}
}}
"""


def service_object(name: str, vips: Sequence[str], *, local: bool, namespace: str = "default") -> JSON:
    """A LoadBalancer Service for ``vips`` (one port, 80/TCP, named http)."""
    families = ["IPv6" if ":" in vip else "IPv4" for vip in vips]
    spec: JSON = {
        "type": "LoadBalancer",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": PORT}],
        "selector": {"app": name},
        "ipFamilies": families,
        "ipFamilyPolicy": "RequireDualStack" if len(families) > 1 else "SingleStack",
        "externalTrafficPolicy": "Local" if local else "Cluster",
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def endpoint_slice(
    service: str, family: str, endpoints: Sequence[tuple[str, str, bool]], *, namespace: str = "default"
) -> JSON:
    """One EndpointSlice of ``service`` for ``family``; ``endpoints``: (node, address, ready)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-{family.lower()}",
            "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service},
        },
        "addressType": family,
        "endpoints": [
            {"addresses": [address], "conditions": {"ready": ready}, "nodeName": node}
            for node, address, ready in endpoints
        ],
        "ports": [{"name": "http", "port": PORT, "protocol": "TCP"}],
    }


# ----------------------------------------------------------------------------------------------- the lab's side


class Bare:
    """The jobs of the missing components, for one lab (see the module docstring)."""

    def __init__(self, kube: KubeClient, topo: Topology, nodes: Mapping[str, NodeInfo], logs: Path) -> None:
        self.kube = kube
        self.topo = topo
        self.nodes = nodes
        self.logs = logs

    def add_node(self, name: str, backend_argv: Sequence[str]) -> Program:
        """Register the Node (Ready) and set up its local backend; returns the backend's program to start
        (``backend_argv``: how to run ``ironlb-lab``)."""
        node = self.nodes[name]
        self.kube.apply(node_object(node))
        self.set_node_ready(name, True)
        ip4, ip6 = backend_ips(node)
        self.topo.run(node.netns, "ip", "addr", "add", f"{ip4}/32", "dev", "lo")
        self.topo.run(node.netns, "ip", "-6", "addr", "add", f"{ip6}/128", "dev", "lo", "nodad")
        self.topo.run(node.netns, "nft", "-f", "-", input=backend_rules(ip4, ip6))
        argv = [*backend_argv, "backend", "--hostname", name, "--address", ip4, "--address", ip6, "--port", str(PORT)]
        return Program(f"backend-{name}", argv, node.netns, self.logs / f"backend-{name}.log")

    def set_node_ready(self, node: str, ready: bool) -> None:
        body = {"status": node_status(self.nodes[node], ready=ready, now=now_iso())}
        self.kube.patch("v1", "Node", node, body, subresource="status")

    def block_traffic(self, node: str, blocked: bool) -> None:
        """Drop (or stop dropping) Service-address traffic arriving at ``node``: its data path dies (or is back)."""
        netns = self.nodes[node].netns
        self.topo.run(netns, "nft", "flush", "chain", "inet", TABLE, "gate")
        if blocked:
            for match in (f"ip daddr {VIP_V4}", f"ip6 daddr {VIP_V6}"):
                self.topo.run(netns, "nft", "add", "rule", "inet", TABLE, "gate", *match.split(), "drop")

    def service(
        self, name: str, vips: Sequence[str], *, local: bool = False, ready_on: Sequence[str] = ("node1",)
    ) -> None:
        """Write a LoadBalancer Service in ``default`` with ``status.loadBalancer.ingress`` = ``vips`` (as the ccm
        would), and its endpoints (:meth:`endpoints`)."""
        self.kube.create(service_object(name, vips, local=local))
        ingress = {"loadBalancer": {"ingress": [{"ip": vip, "ipMode": "VIP"} for vip in vips]}}
        self.kube.patch("v1", "Service", name, {"status": ingress}, "default", subresource="status")
        self.endpoints(name, ready_on)

    def endpoints(self, name: str, ready_on: Sequence[str]) -> None:
        """Replace the Service's EndpointSlices: one ready endpoint on each node of ``ready_on`` (none: one endpoint
        that is not ready, as for a Pod not ready yet or terminating)."""
        chosen = [(n, True) for n in ready_on] or [(next(iter(self.nodes)), False)]
        for family, index in (("IPv4", 0), ("IPv6", 1)):
            self.kube.delete("discovery.k8s.io/v1", "EndpointSlice", f"{name}-{family.lower()}", "default")
            endpoints = [(node, backend_ips(self.nodes[node])[index], ready) for node, ready in chosen]
            self.kube.create(endpoint_slice(name, family, endpoints))

    def delete_service(self, name: str) -> None:
        """Delete the Service and its EndpointSlices (what is already gone is fine)."""
        self.kube.delete("v1", "Service", name, "default")
        for family in ("ipv4", "ipv6"):
            self.kube.delete("discovery.k8s.io/v1", "EndpointSlice", f"{name}-{family}", "default")


# ----------------------------------------------------------------------------------------------- the backend


def configure_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hostname", required=True, help="the name to answer with (the node's)")
    p.add_argument("--address", action="append", required=True, help="address to listen on (repeatable)")
    p.add_argument("--port", type=int, default=PORT)


def run_backend(args: argparse.Namespace) -> int:
    """Serve whoami answers until SIGTERM or SIGINT."""

    async def main() -> None:
        server = await WhoamiServer(args.hostname, args.address, [args.port]).start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print(f"serving {args.hostname} on {', '.join(args.address)} port {args.port}", flush=True)
        await stop.wait()
        await server.close()

    asyncio.run(main())
    return 0


__all__ = [
    "PORT",
    "TABLE",
    "Bare",
    "backend_ips",
    "backend_rules",
    "configure_backend",
    "endpoint_slice",
    "node_object",
    "node_status",
    "run_backend",
    "service_object",
]
