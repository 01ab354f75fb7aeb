"""One speaker lab for the whole folder (tests/speaker/integration/harness.py), with MetalLB configuration.

Building it (namespaces, the API emulator with TLS, CRDs and RBAC, three speakers) takes a few seconds, so the
tests share it: each creates its own Services with its own addresses and leaves the speakers running as it found
them. The configuration:

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
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.speaker.integration.harness import NAMESPACE, SpeakerLab, available, wait_for

METALLB = "metallb.io/v1beta1"


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


@pytest.fixture(scope="session")
def speaker_lab() -> Iterator[SpeakerLab]:
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="ilb-speaker-lab-"))
    try:
        with SpeakerLab(workdir, second_lan=True) as lab:
            admin = lab.admin
            assert admin is not None
            for obj in _config_objects():
                admin.create(obj)
            for node in lab.node_names:
                lab.start_speaker(node)
            for node in lab.node_names:
                lab.wait_ready(node)
            yield lab
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def lab(speaker_lab: SpeakerLab) -> Iterator[SpeakerLab]:
    """The shared lab; after each test every speaker runs again and the client's neighbour cache is empty."""
    yield speaker_lab
    for node in speaker_lab.node_names:
        proc = speaker_lab.speakers.get(node)
        speaker_lab.topo.link_up(node)
        speaker_lab.block_traffic(node, False)
        if proc is None or proc.poll() is not None:
            if proc is not None:
                proc.wait(10)
            speaker_lab.start_speaker(node)
    for node in speaker_lab.node_names:
        wait_for(lambda n=node: speaker_lab.ready(n), f"{node}'s speaker to be ready again", 30)  # type: ignore[misc]
    speaker_lab.flush_neighbours()
