"""InstancesV2 answers: an instance exists unless a person said it is gone; shutdown only when marked."""

from __future__ import annotations

from typing import Any

import pytest

from ccm.provider import instances
from ironlb.api.node import NodeAddress, NodeView


def node(**kw: Any) -> NodeView:
    obj: dict[str, Any] = {
        "metadata": {"name": "n1", "annotations": kw.get("annotations", {})},
        "spec": {"taints": kw.get("taints", [])},
        "status": {"addresses": kw.get("addresses", []), "conditions": kw.get("conditions", [])},
    }
    return NodeView.from_object(obj)


@pytest.mark.parametrize(
    ("annotations", "exists"),
    [
        pytest.param({}, True, id="unmarked-exists"),
        pytest.param({"ironlb.io/machine-removed": "true"}, False, id="marked-removed"),
        pytest.param({"ironlb.io/machine-removed": "no"}, True, id="other-value-is-not-certainty"),
    ],
)
def test_instance_exists_unless_marked(annotations: dict[str, str], exists: bool) -> None:
    assert instances.instance_exists(node(annotations=annotations)) is exists


@pytest.mark.parametrize(
    ("kw", "shutdown"),
    [
        pytest.param({}, False, id="running"),
        pytest.param(
            {"taints": [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]},
            True,
            id="out-of-service-taint",
        ),
        pytest.param({"annotations": {"ironlb.io/machine-shutdown": "True"}}, True, id="annotation"),
    ],
)
def test_instance_shutdown(kw: dict[str, Any], shutdown: bool) -> None:
    assert instances.instance_shutdown(node(**kw)) is shutdown


def test_metadata_from_provided_node_ip_keeps_kubelet_hostname() -> None:
    meta = instances.instance_metadata(
        node(
            annotations={"alpha.kubernetes.io/provided-node-ip": "192.0.2.11,2001:db8::11"},
            addresses=[{"type": "Hostname", "address": "host-1"}],
        )
    )
    assert meta.provider_id == "ironlb://n1"
    assert meta.addresses == (
        NodeAddress("InternalIP", "192.0.2.11"),
        NodeAddress("InternalIP", "2001:db8::11"),
        NodeAddress("Hostname", "host-1"),
    )


def test_metadata_falls_back_to_status_addresses() -> None:
    meta = instances.instance_metadata(node(addresses=[{"type": "InternalIP", "address": "192.0.2.12"}]))
    assert meta.addresses == (NodeAddress("InternalIP", "192.0.2.12"), NodeAddress("Hostname", "n1"))


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        pytest.param({}, "--node-ip", id="no-address-at-all"),
        pytest.param(
            {"annotations": {"alpha.kubernetes.io/provided-node-ip": "not-an-ip"}}, "not an IP", id="garbage-annotation"
        ),
    ],
)
def test_metadata_errors_say_how_to_fix(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(instances.MetadataError, match=fragment) as info:
        instances.instance_metadata(node(**kw))
    assert 'Node "n1"' in str(info.value)
