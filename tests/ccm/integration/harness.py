"""The harness for ironlb-ccm's integration tests: the API emulator over HTTP, the ccm in a thread or a process.

* :class:`Cluster` is one :class:`~hack.lab.apiserver.ApiServerThread` (a fresh one per test: it starts in
  milliseconds) with the metallb.io CRDs applied by ``kubectl apply -k manifests/crds`` and the
  ``metallb-system`` namespace, plus the helpers tests use as a user would: the official client, kubectl.
* :class:`CcmThread` runs ``CloudControllerManager(options).run()`` on its own event loop in a thread;
  :class:`CcmProcess` runs the ``ironlb-ccm`` console script, for tests where kills, pauses and restarts are the
  point. Every process is stopped by its PID when the test ends.
* :func:`eventually` polls a condition; its timeouts are generous ceilings for a shared machine, not
  measurements (speed is measured in hack/bench/bench_ccm.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as kube_client
from kubernetes import config as kube_config_module

from ccm.app import CloudControllerManager
from ccm.controllers.service import ServiceController
from ccm.options import parse_options
from hack.lab.apiserver import ApiServerThread, writes
from hack.lab.apiserver.cluster import WriteOptions

client: Any = kube_client
kube_config: Any = kube_config_module
REPO = Path(__file__).resolve().parents[3]
CCM_BIN = Path(sys.executable).with_name("ironlb-ccm")
NAMESPACE = "metallb-system"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
ALLOCATED_FROM = "metallb.io/ip-allocated-from-pool"
#: short leader election, so failover tests take seconds (lease / renew deadline / retry period)
FAST_LEASE = (
    "--leader-elect-lease-duration=3s",
    "--leader-elect-renew-deadline=2s",
    "--leader-elect-retry-period=0.5s",
)
T = TypeVar("T")


def eventually(check: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError with the
    last value or exception). ``check`` may raise AssertionError while the condition does not hold yet."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:  # truthy: the condition holds, and this is what it found
                return value
            last = value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or check} did not hold within {timeout:g}s; last: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """An emulated cluster ready for the ccm, seen through the official client and kubectl."""

    def __init__(self, api: ApiServerThread, workdir: Path) -> None:
        self.api = api
        self.workdir = workdir
        self.api_client = kube_config.new_client_from_config(str(api.kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.kubectl("apply", "-k", str(REPO / "manifests" / "crds"))
        self.core.create_namespace({"metadata": {"name": NAMESPACE}})

    @property
    def kubeconfig(self) -> Path:
        return self.api.kubeconfig

    def close(self) -> None:
        self.api_client.close()

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(kubeconfig or self.kubeconfig), "--cache-dir", str(self.workdir)]
        done = subprocess.run([*argv, *args], input=input, capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    # -- raw JSON reads (dicts, as the API returns them) ----------------------------------------------
    def raw(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = call(*args, _preload_content=False, **kwargs)
        data: dict[str, Any] = json.loads(response.data)
        return data

    def service(self, name: str, namespace: str = "default") -> dict[str, Any]:
        return self.raw(self.core.read_namespaced_service, name, namespace)

    def services(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            items: list[dict[str, Any]] = self.raw(self.core.list_service_for_all_namespaces)["items"]
        else:
            items = self.raw(self.core.list_namespaced_service, namespace)["items"]
        return items

    def service_exists(self, name: str, namespace: str = "default") -> bool:
        try:
            self.core.read_namespaced_service(name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def ingress(self, name: str, namespace: str = "default") -> list[str]:
        return ingress_of(self.service(name, namespace))

    def wait_ingress(
        self, name: str, namespace: str = "default", *, count: int = 1, timeout: float = 15.0
    ) -> list[str]:
        def shown() -> list[str]:
            ips = self.ingress(name, namespace)
            return ips if len(ips) >= count else []

        found: list[str] = eventually(
            shown, timeout=timeout, what=f"Service {namespace}/{name} shows {count} address(es)"
        )
        return found

    def events(
        self, name: str | None = None, namespace: str = "default", *, reason: str | None = None, kind: str = ""
    ) -> list[dict[str, Any]]:
        """Events about object ``name`` (all when None), optionally of one reason and involved kind."""
        selector = f"involvedObject.name={name}" if name else None
        items: list[dict[str, Any]] = self.raw(self.core.list_namespaced_event, namespace, field_selector=selector)[
            "items"
        ]
        return [
            e
            for e in items
            if (reason is None or e.get("reason") == reason)
            and (not kind or (e.get("involvedObject") or {}).get("kind") == kind)
        ]

    def event_counts(self, name: str | None = None, namespace: str = "default") -> dict[str, int]:
        """reason -> total count (an aggregated event counts as many times as it happened)."""
        counts: dict[str, int] = {}
        for e in self.events(name, namespace):
            counts[e["reason"]] = counts.get(e["reason"], 0) + int(e.get("count") or 1)
        return counts

    # -- writes ---------------------------------------------------------------------------------------
    def create_service(
        self,
        name: str,
        namespace: str = "default",
        *,
        ports: Sequence[int | tuple[int, str]] = (80,),
        type: str = "LoadBalancer",
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        **spec: Any,
    ) -> dict[str, Any]:
        port_list = []
        for p in ports:
            port, protocol = (p, "TCP") if isinstance(p, int) else p
            port_list.append({"name": f"{protocol.lower()}-{port}", "port": port, "protocol": protocol})
        body = {
            "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
            "spec": {"type": type, "ports": port_list, "selector": {"app": name}, **spec},
        }
        if type == "LoadBalancer":
            body["spec"].setdefault("allocateLoadBalancerNodePorts", False)
        return self.raw(self.core.create_namespaced_service, namespace, body)

    def patch_service(self, name: str, body: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
        return self.raw(self.core.patch_namespaced_service, name, namespace, body)

    def delete_service(self, name: str, namespace: str = "default") -> None:
        self.core.delete_namespaced_service(name, namespace)

    def create_pool(self, name: str, addresses: Sequence[str], **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": name},
            "spec": {"addresses": list(addresses), **spec},
        }
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            "metallb.io", "v1beta1", NAMESPACE, "ipaddresspools", body
        )

    def patch_pool(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            "metallb.io", "v1beta1", NAMESPACE, "ipaddresspools", name, {"spec": spec}
        )

    def delete_pool(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object("metallb.io", "v1beta1", NAMESPACE, "ipaddresspools", name)

    def configuration_state(self, name: str = "controller") -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            "metallb.io", "v1beta1", NAMESPACE, "configurationstates", name
        )

    def patch_while_paused(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch a core object through the emulator's own write path, on its loop. For changes that must
        happen while its HTTP side is paused (no client could make them then), e.g. to force a relist diff."""
        server = self.api.server
        assert server is not None

        def write() -> None:
            rt = server.cluster.resolve("", "v1", plural)
            raw = json.dumps(patch).encode()
            writes.patch_object(
                server.cluster,
                rt,
                namespace=namespace,
                name=name,
                patch_type=writes.MERGE_PATCH,
                raw=raw,
                opts=WriteOptions(),
            )

        self.api.run(write)

    def lease(self, name: str = "ironlb-ccm", namespace: str = NAMESPACE) -> dict[str, Any] | None:
        try:
            return self.raw(self.coordination.read_namespaced_lease, name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def lease_holder(self) -> str:
        lease = self.lease()
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def ingress_of(service: dict[str, Any]) -> list[str]:
    entries = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(e["ip"]) for e in entries if e.get("ip")]


def assert_no_address_twice(cluster: Cluster) -> dict[str, list[str]]:
    """Every address shown by at most one Service (none of these tests share); returns key -> addresses."""
    holders: dict[str, str] = {}
    shown: dict[str, list[str]] = {}
    for svc in cluster.services():
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        for ip in ingress_of(svc):
            assert ip not in holders, f"{ip} is shown by both {holders[ip]} and {key}"
            holders[ip] = key
            shown.setdefault(key, []).append(ip)
    return shown


def ccm_argv(cluster: Cluster, *extra: str, leader_elect: bool = False, kubeconfig: Path | None = None) -> list[str]:
    argv = [
        "--cloud-provider=ironlb",
        f"--kubeconfig={kubeconfig or cluster.kubeconfig}",
        "--secure-port=0",
        f"--leader-elect={'true' if leader_elect else 'false'}",
    ]
    if leader_elect:
        argv += FAST_LEASE
    return [*argv, *extra]


class CcmThread:
    """``CloudControllerManager(options).run()`` on a private event loop in a daemon thread."""

    def __init__(self, argv: list[str]) -> None:
        self.options = parse_options(argv)
        self.loop = asyncio.new_event_loop()
        self.manager: CloudControllerManager | None = None
        self.exit_code: int | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="ccm", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.manager = CloudControllerManager(self.options)
        self._ready.set()
        try:
            self.exit_code = self.loop.run_until_complete(self.manager.run())
        finally:
            self.loop.close()

    def start(self) -> CcmThread:
        self._thread.start()
        self._ready.wait(30)
        return self

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn()`` on the ccm's loop (to read its state without races) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    @property
    def services(self) -> ServiceController:
        """The running service controller (read it through :meth:`call`)."""
        assert self.manager is not None and self.manager.service_controller is not None
        return self.manager.service_controller

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 20.0) -> int | None:
        if self._thread.is_alive() and self.manager is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.manager.stop)
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the ccm did not stop"
        return self.exit_code


class CcmProcess:
    """One ``ironlb-ccm`` process; its output goes to ``log``."""

    def __init__(self, argv: list[str], log: Path, *, pod_name: str) -> None:
        self.argv = argv
        self.log = log
        self.pod_name = pod_name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CcmProcess:
        env = {**os.environ, "POD_NAME": self.pod_name}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(CCM_BIN), *self.argv], stdout=out, stderr=subprocess.STDOUT, env=env)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def poll(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def scrape(port: int) -> dict[str, float]:
    """The ccm's /metrics as {"name{labels}": value}."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


class ServiceRecorder:
    """Watches Services (all namespaces) from now on, in a thread, and keeps every status it saw in order, to
    check what no snapshot can: that no address was ever shown by two Services at once, and that none moved."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.history: list[tuple[str, str, list[str]]] = []  # (event type, namespace/name, ingress)
        self.initial = {
            f"{s['metadata']['namespace']}/{s['metadata']['name']}": ingress_of(s) for s in cluster.services()
        }
        self._rv = cluster.raw(cluster.core.list_service_for_all_namespaces)["metadata"]["resourceVersion"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from kubernetes import watch as kube_watch

        w: Any = kube_watch.Watch()  # type: ignore[no-untyped-call]
        for event in w.stream(
            self.cluster.core.list_service_for_all_namespaces, resource_version=self._rv, timeout_seconds=3600
        ):
            obj = event["raw_object"]
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            self.history.append((event["type"], key, ingress_of(obj)))
            if self._stop.is_set():
                break
        w.stop()

    def stop(self) -> None:
        """Stop after the next event (it makes one: a throwaway ClusterIP Service)."""
        self._stop.set()
        name = f"recorder-stop-{uuid.uuid4().hex[:6]}"
        self.cluster.create_service(name, type="ClusterIP")
        self._thread.join(30)
        self.cluster.delete_service(name)

    def replay(self) -> list[str]:
        """Problems found replaying the history: an address shown by two Services at once, or a Service whose
        addresses changed from one non-empty list to another."""
        problems: list[str] = []
        shown = dict(self.initial)
        for event_type, key, ingress in self.history:
            before = shown.get(key) or []
            if before and ingress and ingress != before:
                problems.append(f"{key} moved from {before} to {ingress}")
            shown[key] = [] if event_type == "DELETED" else ingress
            holders: dict[str, str] = {}
            for other, ips in shown.items():
                for ip in ips:
                    if ip in holders:
                        problems.append(f"{ip} shown by {holders[ip]} and {other} at once")
                    holders[ip] = other
        return problems
