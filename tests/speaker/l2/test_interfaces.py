"""Interface eligibility (MetalLB's rules), the event diff, and the netlink monitor in a namespace."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from hack.lab.netns import Topology
from speaker.l2.interfaces import (
    DEFAULT_EXCLUDE,
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_LOWER_UP,
    IFF_NOARP,
    IFF_UP,
    InterfaceFilter,
    InterfaceMonitor,
    LinkEvent,
    LinkEventKind,
    LinkState,
    diff,
    link_from_netlink,
)

UP = IFF_UP | IFF_BROADCAST | IFF_LOWER_UP
MAC = "02:00:00:00:00:0b"


@pytest.mark.parametrize(
    ("name", "mac", "flags", "master", "reason"),
    [
        pytest.param("eth0", MAC, UP, None, None, id="plain-ethernet-is-eligible"),
        pytest.param("bond0", MAC, UP, None, None, id="a-bond-master-is-eligible"),
        pytest.param(
            "ens3",
            MAC,
            UP,
            7,
            "enslaved to interface index 7 (bond or bridge member; the master is used)",
            id="a-bond-member-is-skipped",
        ),
        pytest.param("veth1a2b", MAC, UP, None, "excluded by pattern ^veth.*", id="veth-excluded-by-default"),
        pytest.param("cali12345", MAC, UP, None, "excluded by pattern ^cali.*", id="calico-excluded-by-default"),
        pytest.param("kube-ipvs0", MAC, UP, None, "excluded by pattern ^kube-ipvs.*", id="kube-ipvs0-excluded"),
        pytest.param("lo", "00:00:00:00:00:00", IFF_UP | IFF_LOOPBACK, None, "excluded by pattern ^lo$", id="lo"),
        pytest.param("lo1", MAC, UP | IFF_LOOPBACK, None, "loopback", id="another-loopback"),
        pytest.param("ifb0", MAC, UP | IFF_NOARP, None, "NOARP", id="noarp-device"),
        pytest.param("wg0", None, IFF_UP, None, "no MAC address", id="no-mac"),
        pytest.param("eth9", "00:00:00:00:00:00", UP, None, "no MAC address", id="all-zero-mac"),
    ],
)
def test_eligibility(name: str, mac: str | None, flags: int, master: int | None, reason: str | None) -> None:
    msg: dict[str, Any] = {"ifname": name, "index": 3, "flags": flags, "address": mac, "master": master}
    link = link_from_netlink(msg, {3: ipaddress.IPv6Address("fe80::1")}, InterfaceFilter())
    assert link is not None
    assert link.ineligible == reason
    assert link.eligible is (reason is None)


def test_link_state_fields_and_up_means_carrier_too() -> None:
    msg: dict[str, Any] = {"ifname": "eth0", "index": 2, "flags": IFF_UP | IFF_BROADCAST, "address": MAC}
    link = link_from_netlink(msg, {}, InterfaceFilter())
    assert link is not None
    assert (link.admin_up, link.carrier, link.up, link.link_local) == (True, False, False, None)
    assert link.describe() == {
        "name": "eth0", "index": 2, "mac": MAC, "up": False, "link_local": None, "ineligible": None,
    }  # fmt: skip
    assert link_from_netlink({"index": 1, "flags": 0}, {}, InterfaceFilter()) is None


def test_custom_exclude_list_replaces_the_default_and_bad_patterns_are_named() -> None:
    custom = InterfaceFilter([r"^eth1$"])
    assert custom.reason("veth0", mac=b"\x02" * 6, flags=UP, master=None) is None
    assert custom.reason("eth1", mac=b"\x02" * 6, flags=UP, master=None) == "excluded by pattern ^eth1$"
    with pytest.raises(ValueError, match=r"pattern '\^\(eth' is not a valid regular expression"):
        InterfaceFilter(["^(eth"])
    assert len(DEFAULT_EXCLUDE) == 14


def _link(
    name: str, *, index: int = 2, up: bool = True, mac: bytes = b"\x02" * 6, ineligible: str | None = None
) -> LinkState:
    return LinkState(name, index, mac, up, up, True, None, ineligible)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param({}, {"eth0": _link("eth0")}, [("added", "eth0")], id="new-interface"),
        pytest.param({"eth0": _link("eth0")}, {}, [("removed", "eth0")], id="interface-gone"),
        pytest.param({"eth0": _link("eth0")}, {"eth0": _link("eth0", up=False)}, [("down", "eth0")], id="down"),
        pytest.param({"eth0": _link("eth0", up=False)}, {"eth0": _link("eth0")}, [("up", "eth0")], id="up"),
        pytest.param(
            {"eth0": _link("eth0")}, {"eth0": _link("eth0", mac=b"\x02\x01" * 3)}, [("changed", "eth0")],
            id="mac-changed",
        ),
        pytest.param(
            {"eth0": _link("eth0")}, {"eth0": _link("eth0", index=9)}, [("removed", "eth0"), ("added", "eth0")],
            id="recreated-with-a-new-index",
        ),
        pytest.param(
            {"eth0": _link("eth0", ineligible="enslaved")}, {"eth0": _link("eth0")}, [("added", "eth0")],
            id="released-from-a-bond",
        ),
        pytest.param(
            {"veth0": _link("veth0", ineligible="excluded")}, {"veth0": _link("veth0", up=False, ineligible="x")}, [],
            id="ineligible-interfaces-are-silent",
        ),
        pytest.param({"eth0": _link("eth0")}, {"eth0": _link("eth0")}, [], id="nothing-changed"),
    ],
)  # fmt: skip
def test_diff(old: dict[str, LinkState], new: dict[str, LinkState], expected: list[tuple[str, str]]) -> None:
    assert [(e.kind.value, e.link.name) for e in diff(old, new)] == expected


async def _until(predicate: Callable[[], bool], *, polls: int = 500) -> None:
    """Wait (bounded) for an asynchronous effect; failing to see it is the assertion, not the time it took."""
    for _ in range(polls):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.mark.netns
async def test_monitor_reports_changes_in_a_namespace(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=1, router=False, client=False)
    events: list[LinkEvent] = []

    def seen(kind: LinkEventKind, name: str) -> bool:
        return any(e.kind is kind and e.link.name == name for e in events)

    with topo.entered("node1"):  # the monitor's sockets belong to node1; nothing here sends packets
        monitor = InterfaceMonitor(on_events=events.extend, rescan_interval=0)
        await monitor.start()
        try:
            assert seen(LinkEventKind.ADDED, "eth0") and monitor.eligible()["eth0"].up
            assert monitor.links["lo"].ineligible == "excluded by pattern ^lo$"
            topo.link_down("node1")  # the far end of the cable: carrier goes, eth0 stays admin-up
            await _until(lambda: seen(LinkEventKind.DOWN, "eth0"))
            assert not monitor.eligible()["eth0"].carrier and monitor.eligible()["eth0"].admin_up
            topo.link_up("node1")
            await _until(lambda: seen(LinkEventKind.UP, "eth0"))
            topo.run("node1", "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "veth1")
            await _until(lambda: seen(LinkEventKind.ADDED, "eth1"))
            assert "veth1" in monitor.links and "veth1" not in monitor.eligible()
            topo.run("node1", "ip", "link", "set", "eth1", "down")  # admin down (it had no carrier anyway)
            topo.run("node1", "ip", "link", "del", "eth1")
            await _until(lambda: seen(LinkEventKind.REMOVED, "eth1"))
            assert not any(e.link.name == "veth1" for e in events)
        finally:
            await monitor.stop()
