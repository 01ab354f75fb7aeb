"""Target selection for the API contract suite: the emulator, or a real cluster.

By default the suite runs against one :class:`~hack.lab.apiserver.ApiServerThread` for the whole session (HTTPS,
RBAC on, like a kubeadm or kind cluster; kubectl sends credentials only over TLS). When
``IRONLB_CONTRACT_KUBECONFIG`` names a kubeconfig, the same tests run against that cluster instead, and those
needing the emulator's knobs (forced compaction, pause, special service CIDRs) are skipped there.

Every test gets its own namespace (``ns``), deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from hack.lab.apiserver import ApiServerThread

client: Any = kube_client
config: Any = kube_config

KUBECONFIG_ENV = "IRONLB_CONTRACT_KUBECONFIG"
REPO = Path(__file__).resolve().parents[4]


@dataclass
class Target:
    """Where the contract tests send requests, and how."""

    kubeconfig: Path
    emulator: ApiServerThread | None
    #: kubectl's discovery/OpenAPI cache, private to the session (not ~/.kube/cache)
    cache_dir: str = ""

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    def require_emulator(self, why: str) -> ApiServerThread:
        if self.emulator is None:
            pytest.skip(f"needs the emulator: {why}")
        return self.emulator

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        return config.new_client_from_config(str(kubeconfig or self.kubeconfig))

    def kubectl(
        self, *args: str, input: str | None = None, kubeconfig: Path | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(kubeconfig or self.kubeconfig), "--cache-dir", self.cache_dir, *args]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    @property
    def server(self) -> str:
        data = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in data["contexts"] if c["name"] == data["current-context"])["context"]
        return str(next(c for c in data["clusters"] if c["name"] == context["cluster"])["cluster"]["server"])


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    """The cluster under test: the emulator (default) or ``$IRONLB_CONTRACT_KUBECONFIG``."""
    external = os.environ.get(KUBECONFIG_ENV)
    with tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
        if external:
            yield Target(Path(external), None, cache)
            return
        with ApiServerThread(tls=True, rbac_enabled=True, bookmark_interval=0.5) as api:
            yield Target(api.kubeconfig, api, cache)


@pytest.fixture(scope="session")
def api(target: Target) -> Iterator[Any]:
    with target.api_client() as c:
        yield c


@pytest.fixture
def core(api: Any) -> Any:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: Any) -> Any:
    return client.AppsV1Api(api)


@pytest.fixture
def custom(api: Any) -> Any:
    return client.CustomObjectsApi(api)


@pytest.fixture
def ns(core: Any) -> Iterator[str]:
    """A fresh namespace for one test."""
    name = f"contract-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"ironlb.dev/contract": "true"}}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def status_of(exc: Any) -> dict[str, Any]:
    """The Status body of an API error."""
    import json

    body: dict[str, Any] = json.loads(exc.body)
    return body


ExpectError = Callable[..., dict[str, Any]]


def _expect_error(code: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(client.ApiException) as info:
        fn(*args, **kwargs)
    assert info.value.status == code, info.value.body
    return status_of(info.value)


@pytest.fixture
def expect_error() -> ExpectError:
    """``expect_error(code, fn, *args)``: call ``fn``, require an ApiException with ``code``, return its Status."""
    return _expect_error


CRD_GROUP = "contract.ironlb.dev"
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{CRD_GROUP}"},
    "spec": {
        "group": CRD_GROUP,
        "names": {
            "kind": "Widget",
            "plural": "widgets",
            "singular": "widget",
            "listKind": "WidgetList",
            "shortNames": ["wdg"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.maxSize) || self.size <= self.maxSize",
                                        "message": "size must not exceed maxSize",
                                    },
                                ],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 100},
                                    "maxSize": {"type": "integer"},
                                    "color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"},
                                    "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10},
                                    "address": {"type": "string", "format": "ipv4"},
                                    "timeout": {
                                        "type": "string",
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "duration(self).getSeconds() >= 1",
                                                "message": "timeout must be at least 1s",
                                            }
                                        ],
                                    },
                                    "immutable": {
                                        "type": "string",
                                        "x-kubernetes-validations": [
                                            {"rule": "self == oldSelf", "message": "immutable cannot change"}
                                        ],
                                    },
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set",
                                    },
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}, "observed": {"type": "integer"}},
                            },
                        },
                    }
                },
            },
            {
                "name": "v1beta1",
                "served": True,
                "storage": False,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            },
        ],
    },
}


@pytest.fixture(scope="session")
def widget_crd(target: Target, api: Any) -> Iterator[dict[str, Any]]:
    """A CRD of our own (two served versions, status, printer columns, CEL rules), removed at the end."""
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    if not target.is_emulator:
        _wait_established(ext, WIDGET_CRD["metadata"]["name"])
    yield WIDGET_CRD
    ext.delete_custom_resource_definition(WIDGET_CRD["metadata"]["name"])


def _wait_established(ext: Any, name: str) -> None:
    import time

    for _ in range(100):
        crd = ext.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in (crd.status.conditions or [])}
        if conditions.get("Established") == "True":
            time.sleep(1)  # discovery catches up a moment later on a real server
            return
        time.sleep(0.1)
    raise AssertionError(f"CRD {name} never became Established")


def metallb_crd_files() -> list[Path]:
    return sorted((REPO / "manifests" / "crds").glob("metallb.io_*.yaml"))


@pytest.fixture(scope="session")
def metallb_crds(target: Target) -> Iterator[list[Path]]:
    """The project's metallb.io CRDs applied with kubectl (the files another part maintains)."""
    files = metallb_crd_files()
    if not files:
        pytest.skip("manifests/crds/metallb.io_*.yaml not written yet")
    args = [arg for f in files for arg in ("-f", str(f))]
    target.kubectl("apply", *args, check=True)
    if not target.is_emulator:
        import time

        time.sleep(2)
    yield files
    if target.is_emulator:
        target.kubectl("delete", "--wait=false", *args)


@dataclass
class Raw:
    """Plain HTTP to the API with the admin credentials, for requests no client library would make."""

    pool: Any
    host: str
    headers: dict[str, str]

    def __call__(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        import json

        data = body.encode() if isinstance(body, str) else body
        merged = {**self.headers, **(headers or {})}
        resp = self.pool.request(method, self.host + path, body=data, headers=merged, timeout=30.0, retries=False)
        text = resp.data.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return resp.status, parsed, dict(resp.headers)


@pytest.fixture(scope="session")
def raw(api: Any) -> Raw:
    import urllib3

    cfg = api.configuration
    kwargs: dict[str, Any] = {}
    if cfg.ssl_ca_cert:
        kwargs["ca_certs"] = cfg.ssl_ca_cert
    if cfg.cert_file:
        kwargs["cert_file"], kwargs["key_file"] = cfg.cert_file, cfg.key_file
    if not cfg.verify_ssl:
        kwargs["cert_reqs"] = "CERT_NONE"
    headers = {}
    token = (cfg.api_key or {}).get("BearerToken") or (cfg.api_key or {}).get("authorization")
    if token:
        headers["Authorization"] = token if token.startswith("Bearer ") else f"Bearer {token}"
    return Raw(urllib3.PoolManager(**kwargs), cfg.host, headers)
