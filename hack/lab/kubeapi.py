"""A small synchronous Kubernetes client for the lab, the demo and the end-to-end suite.

Objects are plain JSON dicts, written to the path their own ``apiVersion``/``kind`` name, so the same helpers
create a Deployment, an IPAddressPool or a BGPPeer (v1beta2) alike, against the emulator or a real cluster. It
sits on :class:`ironlb.kube.rest.Rest` (the official client's kubeconfig, TLS and token handling; raw JSON).
``wait_for`` polls: end-to-end tests wait for outcomes, with generous bounds, and say what they waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ironlb.kube.rest import ApiError, Rest, load_api_client

JSON = dict[str, Any]
T = TypeVar("T")

#: kinds whose plural is not ``kind.lower() + "s"``
_PLURALS = {
    "Endpoints": "endpoints",
    "Community": "communities",
    "ServiceL2Status": "servicel2statuses",
    "ServiceBGPStatus": "servicebgpstatuses",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "PodDisruptionBudget": "poddisruptionbudgets",
}
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)


#: ``list`` as a type inside :class:`KubeClient`, whose method of that name hides the builtin there
_List = list


class WaitTimeout(AssertionError):
    """``wait_for`` gave up; the message says what was awaited and what was last seen."""


def plural(kind: str) -> str:
    return _PLURALS.get(kind, kind.lower() + "s")


def path_of(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a kind (collection, or one object with ``name``)."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    if kind not in CLUSTER_SCOPED and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural(kind)}"
    return base + (f"/{name}" if name else "")


def load_yaml(text: str) -> list[JSON]:
    """Every non-empty document of a multi-document YAML text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy (API errors count as "not yet"); return that value."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = check()
        except ApiError as exc:
            value, last_error = None, str(exc)
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = describe() if describe else last_error
            raise WaitTimeout(f"waited {timeout:g} s for {what}" + (f"; last seen: {seen}" if seen else ""))
        time.sleep(interval)


class KubeClient:
    """Synchronous JSON access to one cluster (admin or any kubeconfig)."""

    def __init__(self, kubeconfig: Path | str, *, timeout: float = 15.0) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.rest = Rest(load_api_client(str(kubeconfig)))
        self.timeout = timeout

    def call(self, method: str, path: str, **kwargs: Any) -> JSON:
        kwargs.setdefault("timeout", self.timeout)
        return self.rest.call(method, path, **kwargs)

    # -- reads -----------------------------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> JSON | None:
        try:
            return self.call("GET", path_of(api_version, kind, namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> _List[JSON]:
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        data = self.call("GET", path_of(api_version, kind, namespace), query=query or None)
        return list(data.get("items") or [])

    def service(self, name: str, namespace: str = "default") -> JSON | None:
        return self.get("v1", "Service", name, namespace)

    def ingress_ips(self, name: str, namespace: str = "default") -> _List[str]:
        """The addresses in a Service's ``status.loadBalancer.ingress``."""
        svc = self.service(name, namespace) or {}
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return [str(i["ip"]) for i in ingress if i.get("ip")]

    # -- writes ----------------------------------------------------------------------------------------------
    def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> JSON:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        if ns is None and obj["kind"] not in CLUSTER_SCOPED:
            ns = "default"
        return self.call("POST", path_of(obj["apiVersion"], obj["kind"], ns), body=dict(obj))

    def apply(self, obj: Mapping[str, Any], namespace: str | None = None) -> JSON:
        """Create, or replace what is there (keeping its resourceVersion; retried on conflict)."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        if ns is None and obj["kind"] not in CLUSTER_SCOPED:
            ns = "default"
        for _ in range(10):
            try:
                return self.create(obj, ns)
            except ApiError as exc:
                if not exc.already_exists:
                    raise
            current = self.get(obj["apiVersion"], obj["kind"], meta["name"], ns)
            if current is None:
                continue
            body = dict(obj)
            body["metadata"] = {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}
            if ns and obj["kind"] not in CLUSTER_SCOPED:
                body["metadata"]["namespace"] = ns
            if "status" in current and "status" not in body:
                body["status"] = current["status"]
            try:
                return self.call("PUT", path_of(obj["apiVersion"], obj["kind"], ns, meta["name"]), body=body)
            except ApiError as exc:
                if not exc.conflict:
                    raise
        raise RuntimeError(f"could not apply {obj['kind']} {meta.get('name')}: kept conflicting")

    def apply_all(self, objects: Iterable[Mapping[str, Any]], namespace: str | None = None) -> _List[JSON]:
        return [self.apply(obj, namespace) for obj in objects]

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        body: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "application/merge-patch+json",
        subresource: str | None = None,
    ) -> JSON:
        path = path_of(api_version, kind, namespace, name) + (f"/{subresource}" if subresource else "")
        return self.call("PATCH", path, body=body, content_type=patch_type)

    def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, *, grace: int | None = None
    ) -> bool:
        """Delete; False when it was already gone."""
        query = {"gracePeriodSeconds": grace} if grace is not None else None
        try:
            self.call("DELETE", path_of(api_version, kind, namespace, name), query=query)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def delete_obj(self, obj: Mapping[str, Any], namespace: str | None = None) -> bool:
        meta = obj.get("metadata") or {}
        return self.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace") or namespace)

    # -- waits -----------------------------------------------------------------------------------------------
    def wait_ingress(
        self, name: str, namespace: str = "default", *, count: int = 1, timeout: float = 30.0
    ) -> _List[str]:
        """Wait until the Service has ``count`` ingress addresses; returns them."""

        def check() -> _List[str] | None:
            ips = self.ingress_ips(name, namespace)
            return ips if len(ips) >= count else None

        return wait_for(
            check,
            timeout=timeout,
            what=f"Service {namespace}/{name} to get {count} EXTERNAL-IP(s)",
            describe=lambda: str(self.ingress_ips(name, namespace)),
        )

    def wait_gone(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, *, timeout: float = 60.0
    ) -> None:
        wait_for(
            lambda: self.get(api_version, kind, name, namespace) is None,
            timeout=timeout,
            what=f"{kind} {name} to be deleted",
        )


__all__ = [
    "CLUSTER_SCOPED",
    "JSON",
    "KubeClient",
    "WaitTimeout",
    "load_yaml",
    "path_of",
    "plural",
    "wait_for",
]
