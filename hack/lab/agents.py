"""The stand-in programs the lab runs: ``ironlb-lab node-agent`` and ``ironlb-lab control-plane``.

* ``node-agent`` runs in a node's namespace and is that node's kubelet and kube-proxy stand-ins
  (:mod:`hack.lab.kubelet`, :mod:`hack.lab.kubeproxy`) - one process per node, as cheap as the lab can be on a
  shared two-core machine. It reaches the API server through the lab LAN (``https://192.0.2.2:6443``), so a node
  whose link is cut stops heartbeating, as a dead node would.
* ``control-plane`` runs in the ``api`` namespace and holds the controller stand-ins: Deployments/ReplicaSets and
  scheduling (:mod:`hack.lab.workloads`), EndpointSlices and node lifecycle (:mod:`hack.lab.endpointslices`).

Both are stand-ins that exist only in hack/lab, and they use the lab's admin credentials (the real components
would have their own node and controller identities; ironlb's daemons, which this lab tests, get exactly the
rights manifests/ gives them).
"""

from __future__ import annotations

import argparse
import asyncio

from hack.lab import standin
from hack.lab.endpointslices import EndpointSlices, NodeLifecycle
from hack.lab.kubelet import Kubelet, NodeSpec
from hack.lab.kubeproxy import KubeProxy
from hack.lab.workloads import Workloads


def configure_node_agent(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", required=True, help="the node's name")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-ip", required=True, help="IPv4 address (the provided-node-ip)")
    p.add_argument("--node-ip6", default=None, help="IPv6 address (dual-stack provided-node-ip)")
    p.add_argument("--pod-cidr", required=True, help="this node's IPv4 pod range, e.g. 203.0.113.16/28")
    p.add_argument("--pod-cidr6", default=None, help="this node's IPv6 pod range, e.g. 2001:db8:200::1:0/112")
    p.add_argument("--no-kube-proxy", action="store_true", help="run only the kubelet stand-in")


def run_node_agent(args: argparse.Namespace) -> int:
    standin.setup_logging(f"node-agent[{args.node}]")
    spec = NodeSpec(args.node, args.node_ip, args.node_ip6, args.pod_cidr, args.pod_cidr6)

    async def main() -> int:
        rest, kube = standin.connect(args.kubeconfig)
        kubelet = Kubelet(rest, kube, spec)
        await kubelet.register()
        proxy = None if args.no_kube_proxy else KubeProxy(rest, kube, spec.name)
        tasks = kubelet.tasks() + (proxy.tasks() if proxy else [])

        async def cleanup() -> None:
            await kubelet.cleanup()
            if proxy is not None:
                await proxy.cleanup()
            kube.close()

        return await standin.run_until_signalled(tasks, cleanup)

    return asyncio.run(main())


def configure_control_plane(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", required=True)
    p.add_argument(
        "--node-monitor-grace-period",
        type=float,
        default=40.0,
        metavar="SECONDS",
        help="silence after which a node is marked Unknown and its Pods not ready (40, as upstream)",
    )


def run_control_plane(args: argparse.Namespace) -> int:
    standin.setup_logging("control-plane")

    async def main() -> int:
        rest, kube = standin.connect(args.kubeconfig)
        workloads = Workloads(rest, kube)
        slices = EndpointSlices(rest, kube)
        lifecycle = NodeLifecycle(rest, kube, grace=args.node_monitor_grace_period)

        async def cleanup() -> None:
            kube.close()

        return await standin.run_until_signalled(workloads.tasks() + slices.tasks() + lifecycle.tasks(), cleanup)

    return asyncio.run(main())


__all__ = ["configure_control_plane", "configure_node_agent", "run_control_plane", "run_node_agent"]
