"""Builders for the objects the end-to-end tests create (plain dicts, as a user's YAML would say)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ironlb.api import names

JSON = dict[str, Any]
NS = names.DEFAULT_NAMESPACE
WHOAMI_IMAGE = "containous/whoami"


def whoami(
    name: str,
    namespace: str,
    *,
    replicas: int = 2,
    port: int = 80,
    node_selector: Mapping[str, str] | None = None,
) -> JSON:
    """A whoami Deployment like the seed's (pods labelled ``app: <name>``)."""
    spec: JSON = {
        "containers": [
            {
                "name": "whoami",
                "image": WHOAMI_IMAGE,
                "args": [f"--port={port}"],
                "ports": [{"containerPort": port, "name": "web"}],
            }
        ]
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def lb_service(
    name: str,
    namespace: str,
    *,
    app: str | None = None,
    port: int = 80,
    target_port: int | str = "web",
    local: bool = False,
    annotations: Mapping[str, str] | None = None,
    families: Sequence[str] | None = None,
) -> JSON:
    spec: JSON = {
        "type": "LoadBalancer",
        "selector": {"app": app or name},
        "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}],
    }
    if local:
        spec["externalTrafficPolicy"] = "Local"
    if families:
        spec["ipFamilyPolicy"] = "RequireDualStack" if len(families) > 1 else "SingleStack"
        spec["ipFamilies"] = list(families)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def pool(name: str, *addresses: str, auto_assign: bool = True, **spec: Any) -> JSON:
    body: JSON = {"addresses": list(addresses), **spec}
    if not auto_assign:
        body["autoAssign"] = False
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def l2_advertisement(name: str, *pools: str) -> JSON:
    """An L2Advertisement for ``pools`` (none: for every pool)."""
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ipAddressPools": list(pools)} if pools else {},
    }


def bgp_peer(name: str, address: str, peer_asn: int, my_asn: int) -> JSON:
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"peerAddress": address, "peerASN": peer_asn, "myASN": my_asn},
    }


def bgp_advertisement(name: str, *pools: str) -> JSON:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ipAddressPools": list(pools)},
    }


__all__ = ["NS", "bgp_advertisement", "bgp_peer", "l2_advertisement", "lb_service", "pool", "whoami"]
