"""A LAN host's view of layer 2: who answers ARP and Neighbor Solicitations for an address, and what its
neighbour table holds. This is where an L2 announcement is seen working or not, as a router or client on the
LAN would see it (reference/lab-notes.md: ``arping`` from iputils, ``ndisc6``).

Functions of a :class:`~hack.lab.netns.Topology` and a host role (the lab's ``client`` by default); MACs are
returned lower-case.
"""

from __future__ import annotations

import re

from hack.lab.netns import Topology

_MAC = r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"


def arping(
    topo: Topology, ip: str, interface: str = "eth0", *, count: int = 1, wait: float = 1.0, role: str = "client"
) -> list[str]:
    """The MAC of every ARP reply to ``count`` requests for ``ip`` on ``interface`` (one entry per reply)."""
    argv = ["arping", "-I", interface, "-c", str(count), "-W", "0.2", "-w", str(wait * count), ip]
    done = topo.run(role, *argv, check=False, timeout=10 + wait * count)
    return [m.lower() for m in re.findall(rf"from ({_MAC})", done.stdout, re.IGNORECASE)]


def arping_one(topo: Topology, ip: str, interface: str = "eth0", *, role: str = "client") -> str | None:
    """The MAC that answers one ARP request for ``ip``, or None."""
    macs = arping(topo, ip, interface, role=role)
    return macs[0] if macs else None


def ndisc(topo: Topology, ip: str, interface: str = "eth0", *, role: str = "client") -> str | None:
    """The link-layer address a Neighbor Solicitation for ``ip`` gets (``ndisc6 -n -r 2``), or None."""
    done = topo.run(role, "ndisc6", "-n", "-r", "2", ip, interface, check=False, timeout=10)
    found = re.search(r"Target link-layer address: ([0-9A-Fa-f:]+)", done.stdout)
    return found.group(1).lower() if found else None


def neighbour(topo: Topology, ip: str, *, role: str = "client") -> str | None:
    """The MAC the host's neighbour table holds for ``ip`` (after traffic to it), or None."""
    family = "-6" if ":" in ip else "-4"
    out = topo.run(role, "ip", family, "neigh", "show", ip, check=False).stdout.split()
    return out[out.index("lladdr") + 1].lower() if "lladdr" in out else None


def flush(topo: Topology, *, role: str = "client") -> None:
    """Empty the host's neighbour table: the next packet to an address resolves it again."""
    topo.run(role, "ip", "neigh", "flush", "all", check=False)


__all__ = ["arping", "arping_one", "flush", "ndisc", "neighbour"]
