"""InstancesV2 for bare metal: what ironlb can honestly say about a machine from its Node object alone.

There is no cloud API to ask, so the answers follow two rules (reference/peers-and-cloud-provider.md 1.4-1.5):

* **An instance exists unless we are certain it is gone.** Saying "gone" makes the node-lifecycle controller
  *delete the Node object*, so we only say it when a person has said so: the Node carries the annotation
  ``ironlb.io/machine-removed: "true"``. A NotReady node is just NotReady.
* **Shutdown** is reported when a person or a tool has marked the machine as powered off: the upstream
  non-graceful-shutdown taint ``node.kubernetes.io/out-of-service`` (KEP-2268), or the annotation
  ``ironlb.io/machine-shutdown: "true"``.

Metadata: providerID ``ironlb://<node name>``; addresses from the kubelet's ``alpha.kubernetes.io/provided-node-ip``
annotation (set from ``--node-ip``), each an InternalIP, plus the node's Hostname. A node with neither that
annotation nor an InternalIP in its status cannot be initialized: :func:`instance_metadata` says why, and the
node controller keeps the node tainted and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ironlb.api import names
from ironlb.api.addresses import parse_ip
from ironlb.api.node import NodeAddress, NodeView

ANN_MACHINE_REMOVED = "ironlb.io/machine-removed"
ANN_MACHINE_SHUTDOWN = "ironlb.io/machine-shutdown"


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    provider_id: str
    addresses: tuple[NodeAddress, ...]
    instance_type: str = ""
    zone: str = ""
    region: str = ""


class MetadataError(ValueError):
    """The node cannot be initialized yet; the message says what is missing and how to fix it."""


def provider_id(node_name: str) -> str:
    return f"{names.PROVIDER_ID_PREFIX}{node_name}"


def instance_exists(node: NodeView) -> bool:
    return node.annotations.get(ANN_MACHINE_REMOVED, "").lower() != "true"


def instance_shutdown(node: NodeView) -> bool:
    return node.has_taint(names.TAINT_OUT_OF_SERVICE) or (
        node.annotations.get(ANN_MACHINE_SHUTDOWN, "").lower() == "true"
    )


def instance_metadata(node: NodeView) -> InstanceMetadata:
    """Metadata for the cloud-node controller; raises :class:`MetadataError` when the node lacks an address."""
    provided = node.provided_node_ips
    addresses: list[NodeAddress] = []
    for text in provided:
        if parse_ip(text) is None:
            raise MetadataError(
                f'Node "{node.name}": annotation {names.ANN_PROVIDED_NODE_IP} has "{text}", which is not an IP '
                "address; set the kubelet's --node-ip to the node's addresses"
            )
        addresses.append(NodeAddress("InternalIP", text))
    if not addresses:
        addresses = [a for a in node.addresses if a.type in ("InternalIP", "ExternalIP")]
    if not addresses:
        raise MetadataError(
            f'Node "{node.name}" has no {names.ANN_PROVIDED_NODE_IP} annotation and no InternalIP address; start '
            "its kubelet with --node-ip=<address> (with --cloud-provider=external it then sets the annotation)"
        )
    hostname = next((a.address for a in node.addresses if a.type == "Hostname"), node.name)
    addresses.append(NodeAddress("Hostname", hostname))
    return InstanceMetadata(provider_id=node.provider_id or provider_id(node.name), addresses=tuple(addresses))


__all__ = [
    "ANN_MACHINE_REMOVED",
    "ANN_MACHINE_SHUTDOWN",
    "InstanceMetadata",
    "MetadataError",
    "instance_exists",
    "instance_metadata",
    "instance_shutdown",
    "provider_id",
]
