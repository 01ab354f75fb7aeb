"""What the lab puts into a fresh API server before ironlb's daemons start, taken from ``manifests/``.

ironlb's install is ``kubectl apply -k manifests/base``. The lab applies the same objects, rendered the same way
(``kubectl kustomize``, :mod:`hack.manifests.kustomize`), except the workloads: the Namespace, the metallb.io
CRDs, both ServiceAccounts, every Role/ClusterRole and binding, and the headless metrics Services. The
``ironlb-ccm`` Deployment and ``ironlb-speaker`` DaemonSet are not applied - the lab runs those programs itself,
as real processes - but their Pod templates give the lab its command-line flags and the labels of the Pod objects
it creates for the processes (the speakers find each other through those Pods, ``--ml-labels``).

Each daemon authenticates with a token of its own ServiceAccount (TokenRequest, as a kubelet obtains projected
tokens), so it has exactly the rights manifests/ grants it: a missing RBAC rule fails in the lab as it would on a
cluster.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hack.lab.kubeapi import JSON, KubeClient
from hack.lab.standin import ANN_RUN_BY_LAB
from hack.manifests import BASE_DIR, NAMESPACE
from hack.manifests.kustomize import render

#: the kinds of manifests/base the lab applies (everything but the workloads, and a PDB the emulator lacks)
APPLIED_KINDS = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
)
TOKEN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Install:
    """manifests/base, split into what the lab applies and the two workloads it runs itself."""

    objects: list[JSON]
    ccm: JSON
    speaker: JSON

    @staticmethod
    def load(base: Path = BASE_DIR) -> Install:
        if not (base / "kustomization.yaml").exists():
            raise FileNotFoundError(
                f"{base}/kustomization.yaml is missing: the lab installs ironlb from manifests/base"
            )
        rendered = render(base)
        order = {kind: i for i, kind in enumerate(APPLIED_KINDS)}
        objects = sorted((o for o in rendered if o["kind"] in order), key=lambda o: order[o["kind"]])
        ccm = next(o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"] == "ironlb-ccm")
        speaker = next(o for o in rendered if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "ironlb-speaker")
        return Install(objects, ccm, speaker)

    @staticmethod
    def _container(workload: JSON) -> JSON:
        return dict(workload["spec"]["template"]["spec"]["containers"][0])

    def args(self, component: str) -> list[str]:
        """The workload's container args, as its manifest gives them."""
        workload = self.ccm if component == "ccm" else self.speaker
        return [str(a) for a in self._container(workload).get("args") or []]

    def labels(self, component: str) -> dict[str, str]:
        workload = self.ccm if component == "ccm" else self.speaker
        return dict(workload["spec"]["template"]["metadata"].get("labels") or {})

    def service_account(self, component: str) -> str:
        workload = self.ccm if component == "ccm" else self.speaker
        return str(workload["spec"]["template"]["spec"]["serviceAccountName"])


def with_flag(args: Sequence[str], flag: str, value: str) -> list[str]:
    """``args`` with ``--flag=value`` set (an existing ``--flag=...`` or ``--flag ...`` is replaced)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return [*out, f"{flag}={value}"]


def mint_token(kube: KubeClient, namespace: str, service_account: str) -> str:
    """A token for a ServiceAccount, through the TokenRequest API."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS},
    }
    return str(kube.call("POST", path, body=body)["status"]["token"])


def write_kubeconfig(path: Path, server: str, token: str, ca_data: str | None, *, user: str) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ironlb-lab", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "ironlb-lab", "context": {"cluster": "ironlb-lab", "user": user}}],
        "current-context": "ironlb-lab",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def read_kubeconfig(path: Path) -> tuple[str, str, str | None]:
    """(server, token, certificate-authority-data) of a single-context kubeconfig."""
    data = yaml.safe_load(path.read_text())
    cluster = data["clusters"][0]["cluster"]
    return str(cluster["server"]), str(data["users"][0]["user"]["token"]), cluster.get("certificate-authority-data")


def memberlist_secret() -> JSON:
    """The membership key Secret docs/install.md tells users to create (``openssl rand -base64 128``)."""
    key = base64.b64encode(secrets.token_bytes(128)).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "memberlist", "namespace": NAMESPACE},
        "stringData": {"secretkey": key},
    }


def daemon_pod(
    name: str,
    component: str,
    install: Install,
    *,
    node: str | None,
    description: str,
) -> JSON:
    """The Pod object that stands for one daemon process the lab runs (shown by kubectl, read by speakers)."""
    workload = install.ccm if component == "ccm" else install.speaker
    template = workload["spec"]["template"]
    container = install._container(workload)
    spec: JSON = {
        "serviceAccountName": template["spec"]["serviceAccountName"],
        "hostNetwork": True,
        "containers": [{"name": container["name"], "image": container["image"], "args": container.get("args") or []}],
        "tolerations": [{"operator": "Exists"}],
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": dict(template["metadata"].get("labels") or {}),
            "annotations": {ANN_RUN_BY_LAB: description},
        },
        "spec": spec,
    }


def daemon_pod_status(pod: JSON, ips: Sequence[str], *, ready: bool, restarts: int, started: str) -> JSON:
    flag = "True" if ready else "False"
    container = pod["spec"]["containers"][0]
    state = {"running": {"startedAt": started}} if ready else {"waiting": {"reason": "CrashLoopBackOff"}}
    return {
        "phase": "Running",
        "hostIP": ips[0],
        "hostIPs": [{"ip": ip} for ip in ips],
        "podIP": ips[0],
        "podIPs": [{"ip": ip} for ip in ips],
        "startTime": started,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": flag, "lastTransitionTime": started},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": started},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ],
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": f"ironlb-lab://{container['image']}",
                "ready": ready,
                "started": ready,
                "restartCount": restarts,
                "state": state,
            }
        ],
    }


__all__ = [
    "APPLIED_KINDS",
    "Install",
    "daemon_pod",
    "daemon_pod_status",
    "memberlist_secret",
    "mint_token",
    "read_kubeconfig",
    "with_flag",
    "write_kubeconfig",
]
