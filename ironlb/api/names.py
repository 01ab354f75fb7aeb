"""Every well-known Kubernetes name ironlb reads or writes, in one place.

MetalLB compatibility lives in these strings: a MetalLB user's annotations, labels and CRs must keep working
unchanged, so they are spelled exactly as MetalLB spells them (reference/metallb.md sections 1-4).
"""

from __future__ import annotations

# --- the metallb.io API group (CRDs in manifests/crds) -------------------------------------------
GROUP = "metallb.io"
V1BETA1 = "v1beta1"
V1BETA2 = "v1beta2"

#: kind -> (plural, storage version)
CONFIG_KINDS: dict[str, tuple[str, str]] = {
    "IPAddressPool": ("ipaddresspools", V1BETA1),
    "L2Advertisement": ("l2advertisements", V1BETA1),
    "BGPAdvertisement": ("bgpadvertisements", V1BETA1),
    "BGPPeer": ("bgppeers", V1BETA2),
    "BFDProfile": ("bfdprofiles", V1BETA1),
    "Community": ("communities", V1BETA1),
}
STATUS_KINDS: dict[str, tuple[str, str]] = {
    "ServiceL2Status": ("servicel2statuses", V1BETA1),
    "ServiceBGPStatus": ("servicebgpstatuses", V1BETA1),
    "ConfigurationState": ("configurationstates", V1BETA1),
}

DEFAULT_NAMESPACE = "metallb-system"
#: The legacy (MetalLB <= 0.12) ConfigMap: Helm installs named it ``metallb-config``, manifests ``config``.
DEFAULT_LEGACY_CONFIGMAP = "config"
LEGACY_CONFIGMAP_KEY = "config"

# --- Service annotations --------------------------------------------------------------------------
ANNOTATION_PREFIX = "metallb.io/"
LEGACY_ANNOTATION_PREFIX = "metallb.universe.tf/"
ANN_ADDRESS_POOL = "address-pool"
ANN_LOADBALANCER_IPS = "loadBalancerIPs"
ANN_ALLOW_SHARED_IP = "allow-shared-ip"
ANN_ALLOCATED_FROM_POOL = "ip-allocated-from-pool"

# --- cloud-provider contract (k8s.io/cloud-provider) -----------------------------------------------
LB_CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
TAINT_UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
TAINT_SHUTDOWN = "node.cloudprovider.kubernetes.io/shutdown"
ANN_PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"
LABEL_EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
TAINT_TO_BE_DELETED = "ToBeDeletedByClusterAutoscaler"
#: Upstream taint a user sets on a Node whose machine is gone for good (KEP-2268, non-graceful shutdown).
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
PROVIDER_NAME = "ironlb"
PROVIDER_ID_PREFIX = "ironlb://"

# --- status CR labels (MetalLB's) -------------------------------------------------------------------
LABEL_STATUS_NODE = "metallb.io/node"
LABEL_STATUS_SERVICE_NAME = "metallb.io/service-name"
LABEL_STATUS_SERVICE_NAMESPACE = "metallb.io/service-namespace"
LABEL_COMPONENT_TYPE = "metallb.io/component-type"
LABEL_NODE_NAME = "metallb.io/node-name"

# --- EndpointSlices --------------------------------------------------------------------------------
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
