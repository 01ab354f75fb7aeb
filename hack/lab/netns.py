"""Network-namespace topologies for tests, benchmarks and the lab: one helper that everything reuses.

Theory of operation
-------------------
A topology is a set of *hosts* (network namespaces) whose ``eth0`` is a veth enslaved to bridge ``br0`` in a
private ``lan`` namespace - an Ethernet LAN that exists only inside namespaces we created (reference/lab-notes.md).
Nothing touches the root namespace or this machine's interfaces: both veth ends are created directly inside
their target namespaces, so no interface name ever exists in the root namespace.

Names are ``ilb<pid>x<run>-<role>`` (``ilb4242x1-node1``): the pid makes concurrent test processes collide-free
and lets :func:`sweep_stale` remove what a killed run left behind (its pid is gone). Every process started with
:meth:`Topology.popen` is tracked and killed by PID on :meth:`Topology.down`; any process still inside one of our
namespaces afterwards (``ip netns pids``) is killed too, then the namespaces are deleted. ``down`` is idempotent
and runs from ``__exit__``, ``atexit`` and SIGTERM, so an interrupted run cleans up.

Addresses come only from the documentation ranges: LAN 192.0.2.0/24 and 2001:db8::/64, service VIPs
198.51.100.0/24 and 2001:db8:100::/64, pods 203.0.113.0/25 and 2001:db8:200::/64, and an "outside" network
behind the router 203.0.113.128/25 and 2001:db8:300::/64. No host gets a default route: nothing can leave.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "ilb"
LAN_V4 = "192.0.2.0/24"
LAN_V6 = "2001:db8::/64"
VIP_V4 = "198.51.100.0/24"
VIP_V6 = "2001:db8:100::/64"
POD_V4 = "203.0.113.0/25"
POD_V6 = "2001:db8:200::/64"
OUTSIDE_V4 = "203.0.113.128/25"
OUTSIDE_V6 = "2001:db8:300::/64"

_run_counter = itertools.count(1)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def have_netns_privileges() -> bool:
    """True when this process can create network namespaces (root, iproute2 present)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


@dataclass
class Host:
    role: str
    netns: str
    mac: str
    ipv4: str | None = None  # with prefix length, e.g. "192.0.2.11/24"
    ipv6: str | None = None
    #: extra interfaces (:meth:`Topology.add_outside`, :meth:`Topology.add_lan`): name -> (ipv4, ipv6)
    links: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    @property
    def addr4(self) -> str | None:
        return self.ipv4.split("/")[0] if self.ipv4 else None

    @property
    def addr6(self) -> str | None:
        return self.ipv6.split("/")[0] if self.ipv6 else None


@dataclass(frozen=True)
class HostSpec:
    role: str
    ipv4: str | None
    ipv6: str | None
    #: ``ip route add`` argument lists run inside the host after its addresses are set
    routes: tuple[tuple[str, ...], ...] = ()
    forwarding: bool = False


class Topology:
    """A LAN of hosts in namespaces. Use as a context manager, or call :meth:`up` and :meth:`down`."""

    def __init__(self, specs: Sequence[HostSpec], *, tag: str = "") -> None:
        self.run_id = f"{PREFIX}{os.getpid()}x{next(_run_counter)}{tag}"
        self.lan = f"{self.run_id}-lan"
        self.specs = list(specs)
        self.hosts: dict[str, Host] = {}
        self._procs: list[subprocess.Popen[Any]] = []
        self._namespaces: list[str] = []
        self._up = False

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def standard(
        cls,
        *,
        nodes: int = 2,
        router: bool = True,
        client: bool = True,
        outside: bool = False,
        tag: str = "",
        api: bool = False,
    ) -> Topology:
        """router .1, node1..N .11.., client .100 on the LAN; optionally an ``outside`` host behind the router.

        ``api=True`` adds an ``api`` host at .2 (the lab's control-plane host, where the API emulator listens for
        daemons in other namespaces).
        """
        specs: list[HostSpec] = []
        if router:
            specs.append(HostSpec("router", "192.0.2.1/24", "2001:db8::1/64", forwarding=True))
        if api:
            specs.append(HostSpec("api", "192.0.2.2/24", "2001:db8::2/64"))
        for i in range(1, nodes + 1):
            specs.append(HostSpec(f"node{i}", f"192.0.2.{10 + i}/24", f"2001:db8::{10 + i}/64", forwarding=True))
        if client:
            specs.append(
                HostSpec(
                    "client",
                    "192.0.2.100/24",
                    "2001:db8::100/64",
                    routes=(("198.51.100.0/24", "dev", "eth0"), ("2001:db8:100::/64", "dev", "eth0")),
                )
            )
        topo = cls(specs, tag=tag)
        topo._outside = outside and router
        return topo

    _outside = False

    def up(self) -> Topology:
        if self._up:
            return self
        _register_cleanup(self)
        self._up = True
        try:
            self._add_netns(self.lan)
            self.run(
                self.lan,
                "ip",
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            )
            self.run(self.lan, "ip", "link", "set", "br0", "up")
            for index, spec in enumerate(self.specs, start=1):
                self._add_host(index, spec)
            if self._outside:
                self.add_outside()
        except BaseException:
            self.down()
            raise
        return self

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        self.run(name, "ip", "link", "set", "lo", "up")

    def _add_host(self, index: int, spec: HostSpec) -> None:
        netns = f"{self.run_id}-{spec.role}"
        mac = f"02:00:00:00:{index // 256:02x}:{index % 256:02x}"
        self._add_netns(netns)
        for key in ("all", "default"):
            self.sysctl(netns, f"net.ipv6.conf.{key}.accept_dad", "0")
            self.sysctl(netns, f"net.ipv6.conf.{key}.dad_transmits", "0")
        peer = f"v-{spec.role}"[:15]
        _ip(
            "link",
            "add",
            "eth0",
            "netns",
            netns,
            "address",
            mac,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            self.lan,
        )
        self.run(self.lan, "ip", "link", "set", peer, "master", "br0", "up")
        self.sysctl(netns, "net.ipv6.conf.eth0.accept_dad", "0")
        if spec.ipv4:
            self.run(netns, "ip", "addr", "add", spec.ipv4, "dev", "eth0")
        if spec.ipv6:
            self.run(netns, "ip", "-6", "addr", "add", spec.ipv6, "dev", "eth0", "nodad")
        self.run(netns, "ip", "link", "set", "eth0", "up")
        if spec.forwarding:
            self.sysctl(netns, "net.ipv4.ip_forward", "1")
            self.sysctl(netns, "net.ipv6.conf.all.forwarding", "1")
        for route in spec.routes:
            self.run(netns, "ip", "route", "add", *route)
        self.hosts[spec.role] = Host(spec.role, netns, mac, spec.ipv4, spec.ipv6)

    def add_outside(self) -> Host:
        """An ``outside`` host behind the router (for BGP: it reaches VIPs only through the router's routes)."""
        router = self.hosts["router"]
        outside_ns = f"{self.run_id}-outside"
        self._add_netns(outside_ns)
        for key in ("all", "default"):
            self.sysctl(outside_ns, f"net.ipv6.conf.{key}.accept_dad", "0")
        _ip(
            "link",
            "add",
            "eth0",
            "netns",
            outside_ns,
            "address",
            "02:00:00:00:ff:01",
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            router.netns,
        )
        self.run(router.netns, "ip", "addr", "add", "203.0.113.129/25", "dev", "eth1")
        self.run(router.netns, "ip", "-6", "addr", "add", "2001:db8:300::1/64", "dev", "eth1", "nodad")
        self.run(router.netns, "ip", "link", "set", "eth1", "up")
        self.run(outside_ns, "ip", "addr", "add", "203.0.113.130/25", "dev", "eth0")
        self.run(outside_ns, "ip", "-6", "addr", "add", "2001:db8:300::2/64", "dev", "eth0", "nodad")
        self.run(outside_ns, "ip", "link", "set", "eth0", "up")
        for net in (VIP_V4, LAN_V4):
            self.run(outside_ns, "ip", "route", "add", net, "via", "203.0.113.129")
        for net in (VIP_V6, LAN_V6):
            self.run(outside_ns, "ip", "-6", "route", "add", net, "via", "2001:db8:300::1")
        host = Host("outside", outside_ns, "02:00:00:00:ff:01", "203.0.113.130/25", "2001:db8:300::2/64")
        router.links["eth1"] = ("203.0.113.129/25", "2001:db8:300::1/64")
        self.hosts["outside"] = host
        return host

    def add_lan(self, roles: Sequence[str], *, bridge: str = "br1", ifname: str = "eth1") -> dict[str, str]:
        """A second Ethernet segment: bridge ``bridge`` in the lan namespace, and an ``ifname`` of each host of
        ``roles`` on it, up and without addresses (a node with two interfaces, for per-interface announcements).
        Returns role -> the MAC of its new interface (``02:00:00:01:..``, apart from the eth0 MACs)."""
        self.run(self.lan, "ip", "link", "add", bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
        self.run(self.lan, "ip", "link", "set", bridge, "up")
        macs: dict[str, str] = {}
        for index, role in enumerate(roles, start=1):
            host = self.hosts[role]
            mac = f"02:00:00:01:{index // 256:02x}:{index % 256:02x}"
            peer = f"{ifname}-{role}"[:15]
            _ip("link", "add", ifname, "netns", host.netns, "address", mac, "type", "veth", "peer", "name", peer,
                "netns", self.lan)  # fmt: skip
            self.run(self.lan, "ip", "link", "set", peer, "master", bridge, "up")
            self.run(host.netns, "ip", "link", "set", ifname, "up")
            host.links[ifname] = (None, None)
            macs[role] = mac
        return macs

    # -- use -----------------------------------------------------------------------------------------
    def ns(self, role: str) -> str:
        """The namespace name of a host (or of ``lan``)."""
        if role == "lan":
            return self.lan
        return self.hosts[role].netns

    def run(
        self,
        netns_or_role: str,
        *argv: str,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a namespace (given by role or by full name) and wait for it."""
        netns = self._resolve(netns_or_role)
        return subprocess.run(
            ["ip", "netns", "exec", netns, *argv],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    def popen(self, netns_or_role: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a long-running process inside a namespace; it is killed by PID on :meth:`down`."""
        netns = self._resolve(netns_or_role)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[Any] = subprocess.Popen(["ip", "netns", "exec", netns, *argv], **kwargs)
        self._procs.append(proc)
        return proc

    def sysctl(self, netns_or_role: str, key: str, value: str) -> None:
        self.run(netns_or_role, "sysctl", "-qw", f"{key}={value}")

    @contextlib.contextmanager
    def entered(self, netns_or_role: str) -> Iterator[None]:
        """Run the body with this *thread* inside the namespace: sockets created here stay bound to it."""
        from pyroute2 import netns as pr_netns  # local: only callers that open in-process sockets need it

        pr_netns.pushns(self._resolve(netns_or_role))
        try:
            yield
        finally:
            pr_netns.popns()

    def link_down(self, role: str, ifname: str = "eth0") -> None:
        """Cut a host off the LAN silently (no FIN, no link event on the far side): a hard failure."""
        peer = f"v-{role}"[:15]
        self.run(self.lan, "ip", "link", "set", peer, "down")
        del ifname

    def link_up(self, role: str) -> None:
        self.run(self.lan, "ip", "link", "set", f"v-{role}"[:15], "up")

    def _resolve(self, netns_or_role: str) -> str:
        if netns_or_role == "lan":
            return self.lan
        host = self.hosts.get(netns_or_role)
        return host.netns if host else netns_or_role

    # -- teardown ------------------------------------------------------------------------------------
    def stop(self, proc: subprocess.Popen[Any], *, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """Stop one tracked process by PID: ``sig`` first, SIGKILL if it outlives ``timeout``."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)

    def down(self) -> None:
        for proc in reversed(self._procs):
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=3.0)
        self._procs.clear()
        for name in reversed(self._namespaces):
            _kill_netns_pids(name)
            _ip("netns", "del", name, check=False)
        self._namespaces.clear()
        self.hosts.clear()
        self._up = False
        _unregister_cleanup(self)

    def __enter__(self) -> Topology:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def netns_pids(name: str) -> list[int]:
    """Every process inside the namespace ``name`` (this one excepted), tracked by anyone or not."""
    out = _ip("netns", "pids", name, check=False).stdout.split()
    return [int(p) for p in out if p.isdigit() and int(p) != os.getpid()]


def _kill_netns_pids(name: str) -> None:
    """Kill, by PID, every process still inside one of *our* namespaces."""
    for _ in range(3):
        pids = netns_pids(name)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def list_ours() -> list[str]:
    """Every namespace on the machine whose name marks it as created by ironlb's lab helpers."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX) and line.split()]


def sweep_stale() -> list[str]:
    """Remove namespaces left behind by lab runs whose process is gone (killed test runs). Returns their names."""
    removed = []
    for name in list_ours():
        pid_text = name[len(PREFIX) :].split("x", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            _kill_netns_pids(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


# -- cleanup on interpreter exit and SIGTERM ----------------------------------------------------------
_live: list[Topology] = []
_handlers_installed = False


def _cleanup_all() -> None:
    for topo in list(_live):
        with contextlib.suppress(Exception):
            topo.down()


def _on_sigterm(signum: int, frame: object) -> None:
    _cleanup_all()
    raise SystemExit(128 + signum)


def _register_cleanup(topo: Topology) -> None:
    global _handlers_installed
    _live.append(topo)
    if not _handlers_installed:
        atexit.register(_cleanup_all)
        with contextlib.suppress(ValueError):  # not the main thread: atexit still covers us
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        _handlers_installed = True


def _unregister_cleanup(topo: Topology) -> None:
    with contextlib.suppress(ValueError):
        _live.remove(topo)


__all__ = [
    "LAN_V4",
    "LAN_V6",
    "OUTSIDE_V4",
    "OUTSIDE_V6",
    "POD_V4",
    "POD_V6",
    "VIP_V4",
    "VIP_V6",
    "Host",
    "HostSpec",
    "Topology",
    "have_netns_privileges",
    "list_ours",
    "netns_pids",
    "sweep_stale",
]
