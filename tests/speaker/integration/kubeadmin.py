"""The speaker lab's view of the API: an admin client and small helpers (tests/speaker/integration/harness.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ironlb.kube.rest import ApiError, Rest, load_api_client

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, limit: float = 20.0, every: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(every)


class Admin:
    """Synchronous JSON calls as cluster-admin (the test plays ccm, kubelets and the user)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.rest = Rest(load_api_client(str(kubeconfig)))

    @staticmethod
    def path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        if namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{plural}"
        return base + (f"/{name}" if name else "")

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        plural = _plural(obj["kind"])
        return self.rest.call("POST", self.path(obj["apiVersion"], plural, meta.get("namespace")), body=obj)

    def get(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.rest.call("GET", self.path(api_version, plural, namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self, api_version: str, plural: str, namespace: str | None = None, *, labels: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": labels} if labels else None
        items = self.rest.call("GET", self.path(api_version, plural, namespace), query=query).get("items") or []
        return list(items)

    def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        status: bool = False,
    ) -> dict[str, Any]:
        path = self.path(api_version, plural, namespace, name) + ("/status" if status else "")
        return self.rest.call("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> None:
        with contextlib.suppress(ApiError):
            self.rest.call("DELETE", self.path(api_version, plural, namespace, name))


def _plural(kind: str) -> str:
    special = {"Endpoints": "endpoints", "EndpointSlice": "endpointslices", "ServiceL2Status": "servicel2statuses"}
    if kind in special:
        return special[kind]
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


def manifest_objects(*paths: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        out += [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
    return out


__all__ = ["Admin", "manifest_objects", "wait_for"]
