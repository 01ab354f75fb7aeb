"""Solicited-node group membership: joined on the real device, shared groups counted, left with the last user."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from hack.lab.netns import Topology
from speaker.l2.multicast import SolicitedNodeGroups, group_mac

VIP = ipaddress.IPv6Address("2001:db8:100::5")
SAME_GROUP = ipaddress.IPv6Address("2001:db8:200::5")  # same low 24 bits: same solicited-node group
OTHER = ipaddress.IPv6Address("2001:db8:100::6")


def test_group_mac() -> None:
    assert group_mac(VIP) == group_mac(SAME_GROUP) == bytes.fromhex("3333ff000005")
    assert group_mac(OTHER) == bytes.fromhex("3333ff000006")


@pytest.mark.netns
def test_refcounted_membership_on_the_device(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=1, router=False, client=False)

    def device_groups() -> set[str]:
        out = topo.run("node1", "ip", "maddr", "show", "dev", "eth0").stdout
        return {word for line in out.splitlines() for word in line.split() if word.startswith("33:33:ff")}

    with topo.entered("node1"):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.bind(("eth0", 0))
        ifindex = socket.if_nametoindex("eth0")
    try:
        before = device_groups()  # the kernel's own groups for eth0's addresses
        groups = SolicitedNodeGroups(sock, ifindex)
        groups.join(VIP)
        groups.join(SAME_GROUP)
        groups.join(VIP)  # once per address
        assert groups.groups == {bytes.fromhex("3333ff000005"): 2}
        assert device_groups() - before == {"33:33:ff:00:00:05"}
        groups.sync([SAME_GROUP, OTHER])
        assert groups.groups == {bytes.fromhex("3333ff000005"): 1, bytes.fromhex("3333ff000006"): 1}
        assert device_groups() - before == {"33:33:ff:00:00:05", "33:33:ff:00:00:06"}
        groups.sync([])
        assert groups.groups == {}
        assert device_groups() == before
    finally:
        sock.close()
