"""Running the emulator: :class:`ApiServer` on an asyncio loop, :class:`ApiServerThread` in a background thread.

Both serve one :class:`~.cluster.Cluster` over HTTP (or HTTPS with a self-signed CA made by the ``openssl``
CLI), write an admin kubeconfig, mint ServiceAccount tokens, and expose the knobs tests need: the history
window, forced compaction (watches from before it get 410 and informers relist), and :meth:`~ApiServer.pause`
/ :meth:`~ApiServer.resume` - the listening socket and every connection go away, as when a real API server is
down, and come back on the same address with the same state.

Start-up creates what a fresh cluster has: the ``default``, ``kube-system``, ``kube-public`` and
``kube-node-lease`` namespaces (each with its ``default`` ServiceAccount), the ``kubernetes`` Service on the
first address of the service range, and the bootstrap RBAC policy (``cluster-admin`` for ``system:masters``,
discovery for everyone authenticated).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import logging
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from hack.lab.apiserver import auth, rbac, writes
from hack.lab.apiserver.cluster import SYSTEM_NAMESPACES, Cluster, WriteOptions
from hack.lab.apiserver.handlers import Handler, ServerState

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_certificates(directory: Path, host: str, *extra_hosts: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``host`` and ``extra_hosts`` (plus localhost), with the ``openssl`` CLI."""
    if shutil.which("openssl") is None:
        raise RuntimeError("--tls needs the openssl command")
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ips = "".join(f"IP:{h}," for h in dict.fromkeys((host, *extra_hosts, "127.0.0.1")))
    alt = f"{ips}DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    ext.write_text(f"subjectAltName={alt}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*argv: str) -> None:
        subprocess.run(["openssl", *argv], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "365", "-subj", "/CN=ironlb-lab-ca")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(crt),
        "-days",
        "365",
        "-extfile",
        str(ext),
    )
    return ca_crt, crt, key


def _socket_in_netns(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket bound inside network namespace ``netns`` (it stays there after we switch back)."""
    from pyroute2 import netns as pr_netns

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    pr_netns.pushns(netns)
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
    finally:
        pr_netns.popns()
    return sock


def write_kubeconfig(
    path: Path, server: str, token: str, *, ca: Path | None = None, namespace: str = "default", user: str = "admin"
) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ironlb-lab", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "ironlb-lab", "context": {"cluster": "ironlb-lab", "user": user, "namespace": namespace}}
        ],
        "current-context": "ironlb-lab",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


class ApiServer:
    """The emulated kube-apiserver on the running asyncio loop (``async with ApiServer() as api``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        rbac_enabled: bool = False,
        history_window: int = 10_000,
        service_cidrs: tuple[str, ...] = ("10.96.0.0/16",),
        node_port_range: tuple[int, int] = (30000, 32767),
        bookmark_interval: float = 60.0,
        min_request_timeout: int = 1800,
        kubeconfig: Path | str | None = None,
        workdir: Path | str | None = None,
        netns_listeners: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        self.host = host
        #: (network namespace, host, port): extra listening sockets created inside lab namespaces, so daemons in
        #: those namespaces reach the same API server that tests and kubectl reach on ``host:port``.
        self.netns_listeners = tuple(netns_listeners)
        self.port = port
        self.tls = tls
        self.cluster = Cluster(
            service_cidrs=service_cidrs, node_port_range=node_port_range, history_window=history_window
        )
        self.authn = auth.Authenticator(self.cluster.store)
        self.authz = rbac.Authorizer(self.cluster.store, enabled=rbac_enabled)
        self.state = ServerState(
            self.cluster,
            self.authn,
            self.authz,
            bookmark_interval=bookmark_interval,
            min_request_timeout=min_request_timeout,
        )
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ironlb-apiserver-"))
        self.kubeconfig = Path(kubeconfig) if kubeconfig else self.workdir / "kubeconfig"
        self._runner: web.AppRunner | None = None
        self._ssl: ssl.SSLContext | None = None
        self.ca_path: Path | None = None
        self._bootstrapped = False

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def admin_token(self) -> str:
        return self.authn.admin_token

    @property
    def paused(self) -> bool:
        return self._runner is None

    def _bootstrap(self) -> None:
        c = self.cluster
        opts = WriteOptions(field_validation="Ignore")
        ns_type = c.resolve("", "v1", "namespaces")
        for name in SYSTEM_NAMESPACES:
            writes.create(c, ns_type, "", {"metadata": {"name": name}}, opts)
        svc = {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "clusterIP": c.network.kubernetes_ip(),
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        }
        writes.create(c, c.resolve("", "v1", "services"), "default", svc, opts)
        for plural, body in rbac.bootstrap_policy():
            writes.create(c, c.resolve("rbac.authorization.k8s.io", "v1", plural), "", body, opts)
        c.run_pending()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", Handler(self.state).handle)
        return app

    async def start(self) -> ApiServer:
        """Bind, write the kubeconfig and serve (idempotent across :meth:`pause`/:meth:`resume`)."""
        loop = asyncio.get_running_loop()
        self.cluster.loop = loop
        if not self._bootstrapped:
            self._bootstrap()
            self._bootstrapped = True
            if self.tls:
                extra = tuple(h for _, h, _ in self.netns_listeners)
                self.ca_path, crt, key = make_certificates(self.workdir, self.host, *extra)
                self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._ssl.load_cert_chain(str(crt), str(key))
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self._ssl, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = site._server  # the bound socket tells which port the OS chose
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        for netns, host, port in self.netns_listeners:
            sock = _socket_in_netns(netns, host, port)
            await web.SockSite(runner, sock, ssl_context=self._ssl).start()
        self.state.server_address = f"{self.host}:{self.port}"
        self._runner = runner
        write_kubeconfig(self.kubeconfig, self.url, self.admin_token, ca=self.ca_path)
        log.info("kube-apiserver emulator serving on %s (kubeconfig %s)", self.url, self.kubeconfig)
        return self

    async def pause(self) -> None:
        """Go away as a crashed or restarting API server would: no listener, every connection dropped."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.cluster.store.terminate_watchers()
        server = runner.server
        transports = [h.transport for h in (server.connections if server else []) if h.transport is not None]
        await runner.cleanup()
        for transport in transports:  # abort: TLS connections go at once, with no close_notify, as in a crash
            transport.abort()
        await asyncio.sleep(0)

    async def resume(self) -> None:
        """Come back on the same address with the same objects and revisions."""
        if self._runner is None:
            await self.start()

    async def stop(self) -> None:
        await self.pause()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> ApiServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------ knobs

    def mint_token(self, namespace: str, service_account: str) -> str:
        """A bearer token for ``system:serviceaccount:<namespace>:<service_account>``."""
        return self.authn.mint_service_account(namespace, service_account)

    def kubeconfig_for(self, token: str, path: Path | str, *, namespace: str = "default") -> Path:
        """A kubeconfig that authenticates with ``token`` (e.g. one from :meth:`mint_token`)."""
        return write_kubeconfig(Path(path), self.url, token, ca=self.ca_path, namespace=namespace, user="token")

    def compact(self) -> int:
        """Drop the whole history now; returns the compaction revision."""
        return self.cluster.store.compact()

    def set_history_window(self, changes: int) -> None:
        self.cluster.store.set_window(changes)

    @property
    def resource_version(self) -> int:
        return self.cluster.store.rv


class ApiServerThread:
    """An :class:`ApiServer` on its own loop in a daemon thread, for synchronous tests and tools.

    ``with ApiServerThread(rbac_enabled=True) as api: ...`` - the knobs are the server's, made thread-safe.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ironlb-apiserver", daemon=True)
        self.server: ApiServer | None = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _sync(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            return fn(*args)

        return self._call(run())

    def start(self) -> ApiServerThread:
        self._thread.start()

        async def make() -> ApiServer:
            return await ApiServer(**self._kwargs).start()

        self.server = self._call(make(), timeout=60.0)
        return self

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self._call(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> ApiServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _server(self) -> ApiServer:
        assert self.server is not None, "call start() first"
        return self.server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def kubeconfig(self) -> Path:
        return self._server.kubeconfig

    @property
    def admin_token(self) -> str:
        return self._server.admin_token

    @property
    def ca_path(self) -> Path | None:
        return self._server.ca_path

    def mint_token(self, namespace: str, service_account: str) -> str:
        return str(self._sync(self._server.mint_token, namespace, service_account))

    def kubeconfig_for(self, token: str, path: Path | str, *, namespace: str = "default") -> Path:
        return self._server.kubeconfig_for(token, path, namespace=namespace)

    def compact(self) -> int:
        return int(self._sync(self._server.compact))

    def set_history_window(self, changes: int) -> None:
        self._sync(self._server.set_history_window, changes)

    def pause(self) -> None:
        self._call(self._server.pause())

    def resume(self) -> None:
        self._call(self._server.resume())

    @property
    def resource_version(self) -> int:
        return int(self._sync(lambda: self._server.resource_version))

    def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop (to inspect or change the cluster from a test)."""
        return self._sync(fn, *args)


__all__ = ["ApiServer", "ApiServerThread", "make_certificates", "write_kubeconfig"]
