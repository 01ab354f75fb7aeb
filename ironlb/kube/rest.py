"""Raw-JSON REST over the official Kubernetes client.

Why not the generated ``CoreV1Api`` methods: they deserialize every object into model classes (slow at 10,000
Services) and only cover built-in kinds. We keep what the official client is good at (kubeconfig, in-cluster
config, bearer tokens and their refresh, client certificates, TLS, the urllib3 pool) and speak JSON to any path,
built-in or custom resource alike. Requests go straight to the client's urllib3 pool, with the headers its
``Configuration.auth_settings()`` gives (which refreshes expiring tokens; asked at most once a second, since it
costs half as much as the request itself): the client's own request layer would add about half again as much CPU
per request, which at 10,000 Services is seconds.

:class:`Rest` is synchronous and thread-safe (urllib3's pool is): informers call it from their watch threads.
:class:`Kube` is the asyncio face the daemons use: every call runs in a bounded executor so a slow API server
never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from ironlb.kube import metrics
from ironlb.kube.resources import Resource

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
_T = TypeVar("_T")
USER_AGENT = "ironlb/0.1 (python)"
AUTH_REFRESH_SECONDS = 1.0


class ApiError(Exception):
    """An API call failed. ``status`` is the HTTP code (0 when the server could not be reached)."""

    def __init__(self, status: int, reason: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409 and self.reason == "Conflict"

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def unreachable(self) -> bool:
        return self.status == 0 or self.status >= 500


def load_api_client(kubeconfig: str | None = None, master: str | None = None) -> k8s_client.ApiClient:
    """Client configuration the way a Kubernetes component resolves it: --kubeconfig, then in-cluster, then
    ~/.kube/config; --master overrides the server address in all cases."""
    configuration = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            if master is None:
                k8s_config.load_kube_config(client_configuration=configuration)
    if master:
        configuration.host = master
    # One connection per executor worker and per informer watch, with room to spare: the default (5 x CPUs)
    # makes urllib3 discard connections under load.
    configuration.connection_pool_maxsize = 64
    return k8s_client.ApiClient(configuration)


def _error_from_response(status: int, reason: str, data: bytes) -> ApiError:
    try:
        body = json.loads(data) if data else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return ApiError(status, str(body.get("reason") or reason), str(body.get("message") or reason), body)
    return ApiError(status, reason, data.decode("utf-8", "replace")[:500] if data else reason)


class Rest:
    """Synchronous JSON calls against any API path."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self.api_client = api_client
        self._auth: tuple[float, dict[str, str]] | None = None

    def _auth_headers(self) -> dict[str, str]:
        """The credentials' headers. ``auth_settings()`` refreshes an expiring token (in-cluster token file, exec
        plugins) but costs more than the rest of a request: it is asked at most every AUTH_REFRESH_SECONDS."""
        now = time.monotonic()
        cached = self._auth  # one read: other threads may replace it meanwhile, never mutate it
        if cached is not None and now - cached[0] < AUTH_REFRESH_SECONDS:
            return cached[1]
        headers = {
            str(auth["key"]): str(auth["value"])
            for auth in self.api_client.configuration.auth_settings().values()
            if auth.get("in") == "header" and auth.get("value")
        }
        self._auth = (now, headers)
        return headers

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str,
        timeout: float | tuple[float, float] | None,
        stream: bool = False,
    ) -> Any:
        configuration = self.api_client.configuration
        query_list = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items()]
        url = configuration.host + path + ("?" + urlencode(query_list) if query_list else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._auth_headers()}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        if isinstance(timeout, tuple):
            limit = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        else:
            limit = urllib3.Timeout(total=timeout)
        try:
            return self.api_client.rest_client.pool_manager.request(
                method, url, body=data, headers=headers, timeout=limit, preload_content=not stream
            )
        except Exception as exc:  # urllib3 connection and TLS errors: the API server is unreachable
            raise ApiError(0, "Unreachable", f"cannot reach the API server: {exc}") from exc

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = 30.0,
    ) -> dict[str, Any]:
        response = self._send(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        data = response.data
        if not 200 <= response.status < 300:
            raise _error_from_response(response.status, str(response.reason), data)
        if not data:
            return {}
        result = json.loads(data)
        return result if isinstance(result, dict) else {"items": result}

    def stream(
        self, path: str, *, query: Mapping[str, Any], timeout: float | tuple[float, float] | None
    ) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
        """Open a watch. Returns (events, close); ``close`` may be called from another thread to stop it."""
        raw = self._send(
            "GET", path, query=query, body=None, content_type="application/json", timeout=timeout, stream=True
        )
        if not 200 <= raw.status < 300:
            try:
                raise _error_from_response(raw.status, str(raw.reason), raw.read())
            finally:
                raw.release_conn()

        def events() -> Iterator[dict[str, Any]]:
            buffer = b""
            try:
                for chunk in raw.stream(amt=65536, decode_content=False):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            yield json.loads(line)
                if buffer.strip():
                    yield json.loads(buffer)
            except Exception as exc:
                raise ApiError(0, "Unreachable", f"watch stream broke: {exc}") from exc
            finally:
                raw.release_conn()

        def close() -> None:
            try:
                raw.shutdown()
            except Exception:
                try:
                    raw.close()
                except Exception:
                    return

        return events(), close


@dataclass(frozen=True)
class ListResult:
    items: list[dict[str, Any]]
    resource_version: str


class Kube:
    """The asyncio face of :class:`Rest`: typed by :class:`Resource`, counted in MetalLB's client metrics."""

    def __init__(self, rest: Rest, *, max_workers: int = 8) -> None:
        self.rest = rest
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kube-api")

    async def _run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        future = loop.run_in_executor(self._executor, functools.partial(ctx.run, fn, *args, **kwargs))
        # Shielded: a cancelled caller must not orphan a request half way (kopf's invocation.invoke does the same).
        return await asyncio.shield(future)

    async def _write(self, fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = await self._run(fn, *args, **kwargs)
        except ApiError:
            metrics.UPDATE_ERRORS.inc()
            raise
        metrics.UPDATES.inc()
        return result

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return await self._run(self.rest.call, "GET", resource.path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list(
        self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None
    ) -> ListResult:
        query = {"labelSelector": label_selector} if label_selector else None
        data = await self._run(self.rest.call, "GET", resource.path(namespace), query=query)
        return ListResult(list(data.get("items") or []), str((data.get("metadata") or {}).get("resourceVersion", "")))

    async def create(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return await self._write(self.rest.call, "POST", resource.path(namespace), body=obj)

    async def replace(
        self, resource: Resource, obj: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        path = resource.path(meta.get("namespace"), meta["name"], subresource)
        return await self._write(self.rest.call, "PUT", path, body=obj)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        path = resource.path(namespace, name, subresource)
        return await self._write(self.rest.call, "PATCH", path, body=patch, content_type=PATCH_TYPES[patch_type])

    async def delete(self, resource: Resource, name: str, namespace: str | None = None) -> bool:
        """Delete; returns False when it was already gone."""
        try:
            await self._write(self.rest.call, "DELETE", resource.path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["PATCH_TYPES", "ApiError", "Kube", "ListResult", "Rest", "load_api_client"]
