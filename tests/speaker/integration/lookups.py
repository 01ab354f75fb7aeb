"""What the speaker tests look up in the bare lab: the status objects and Events the speakers wrote, and which
node answers for an address on the client's LAN."""

from __future__ import annotations

from typing import Any

from hack.lab import neighbours
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.manifests import NAMESPACE


def status_objects(lab: Lab, kind: str, service: str) -> list[dict[str, Any]]:
    """The ServiceL2Status / ServiceBGPStatus objects (``kind``) of a Service in ``default``."""
    assert lab.kube is not None
    return lab.kube.list("metallb.io/v1beta1", kind, NAMESPACE, label_selector=f"metallb.io/service-name={service}")


def status_nodes(lab: Lab, kind: str, service: str) -> list[str]:
    """The nodes named by a Service's status objects that have their status written, sorted."""
    return sorted(
        str(o["status"]["node"]) for o in status_objects(lab, kind, service) if (o.get("status") or {}).get("node")
    )


def events(lab: Lab, service: str, reason: str) -> list[dict[str, Any]]:
    """The Events of ``reason`` about a Service in ``default``."""
    assert lab.kube is not None
    items = lab.kube.list("v1", "Event", "default")
    return [e for e in items if e["involvedObject"]["name"] == service and e["reason"] == reason]


def http(lab: Lab, vip: str) -> str | None:
    """One HTTP GET through the address from the client: the name of the node that answered, or None."""
    return lab.hostname("client", f"http://[{vip}]/" if ":" in vip else f"http://{vip}/")


def arp_owner(lab: Lab, vip: str, interface: str = "eth0") -> str:
    """Wait for an ARP answer for ``vip`` on the client's ``interface``; the node that gave it."""
    mac = wait_for(
        lambda: neighbours.arping_one(lab.topo, vip, interface),
        timeout=20,
        what=f"an ARP answer for {vip} on {interface}",
    )
    node = lab.node_of_mac(mac)
    assert node is not None, f"{vip} answered by {mac}, which is no node's"
    return node


def other_than(node: str | None, owner: str) -> str | None:
    return node if node != owner else None


__all__ = ["arp_owner", "events", "http", "other_than", "status_nodes", "status_objects"]
