"""One bare lab for the whole folder (hack/lab/bare.py), with MetalLB configuration.

The lab is ``hack.lab.cluster.Lab`` without the ccm and the stand-ins: the API emulator (TLS, RBAC, manifests/base
installed), three real ``ironlb-speaker`` processes in node namespaces, each node serving Service addresses with a
local backend that answers with the node's name, a client on the LAN and on a second LAN (``eth1``). The tests write
what the ccm and the kubelets would (Services with their addresses, EndpointSlices, Node conditions:
``lab.bare``) and look where a user would (the client's ARP/NDP answers, HTTP through the address, status objects,
Events, ``ironlbctl status``). Building it takes a few seconds, so the tests share it: each creates its own Services
with its own addresses and leaves the speakers running as it found them. The configuration:

=============  =====================================  ==============================================
pool           addresses                              advertised
=============  =====================================  ==============================================
l2             198.51.100.0/26, 2001:db8:100::/121    L2Advertisement ``l2`` (every interface)
l2-eth1        198.51.100.64/26                       L2Advertisement ``eth1-only`` (interfaces: eth1)
bgp            198.51.100.128/25                      BGPAdvertisement ``bgp`` (the BGP test adds a peer)
=============  =====================================  ==============================================
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from hack.lab import neighbours
from hack.lab.cluster import Lab, LabOptions, speaker_available
from hack.lab.netns import have_netns_privileges
from hack.manifests import NAMESPACE

METALLB = "metallb.io/v1beta1"
#: a planned stop waits this long for BGP peers (GRACEFUL_SHUTDOWN) instead of 2 s
SPEAKER_ARGS = ("--bgp-graceful-shutdown=0.5s",)


def _config_objects() -> list[dict[str, Any]]:
    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": METALLB, "kind": kind, "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}

    return [
        obj("IPAddressPool", "l2", {"addresses": ["198.51.100.0/26", "2001:db8:100::/121"]}),
        obj("IPAddressPool", "l2-eth1", {"addresses": ["198.51.100.64/26"]}),
        obj("IPAddressPool", "bgp", {"addresses": ["198.51.100.128/25"]}),
        obj("L2Advertisement", "l2", {"ipAddressPools": ["l2"]}),
        obj("L2Advertisement", "eth1-only", {"ipAddressPools": ["l2-eth1"], "interfaces": ["eth1"]}),
        obj("BGPAdvertisement", "bgp", {"ipAddressPools": ["bgp"]}),
    ]


def unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if not have_netns_privileges():
        return "needs root and iproute2 (network namespaces)"
    missing = [p for p in ("nft", "arping", "ndisc6", "curl", "openssl", "kubectl") if shutil.which(p) is None]
    if missing:
        return "missing programs: " + ", ".join(missing)
    if not speaker_available():
        return "ironlb-speaker is not installed (pip install -e .)"
    return None


@pytest.fixture(scope="session")
def speaker_lab() -> Iterator[Lab]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    options = LabOptions.bare(
        nodes=3, second_lan=True, speaker_args=SPEAKER_ARGS, objects=tuple(_config_objects()), tag="spk"
    )
    with Lab(options) as lab:
        yield lab


@pytest.fixture
def lab(speaker_lab: Lab) -> Iterator[Lab]:
    """The shared lab; after each test every speaker runs again and the client's neighbour cache is empty."""
    yield speaker_lab
    bare = speaker_lab.bare
    assert bare is not None and speaker_lab.supervisor is not None
    for node in speaker_lab.nodes:
        speaker_lab.topo.link_up(node)
        bare.block_traffic(node, False)
        program = speaker_lab.supervisor.programs[f"speaker-{node}"]
        if not program.running:
            if program.popen is not None:
                program.popen.wait(10)
            speaker_lab.start_speaker(node)
    for node in speaker_lab.nodes:
        speaker_lab.wait_speaker_ready(node, timeout=30)
    neighbours.flush(speaker_lab.topo)
