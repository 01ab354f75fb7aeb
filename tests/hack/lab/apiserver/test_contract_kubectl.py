"""Contract: the installed kubectl (1.30 via the dispatcher) against the cluster, over HTTPS.

The seed manifests (/work/shared/seed.md): the whoami Deployment and LoadBalancer Service apply, apply again,
show EXTERNAL-IP once status is patched; the metallb.io CRDs from manifests/crds register, after which the
IPAddressPool and L2Advertisement apply. Plus get -o yaml/json, -w, describe, create, patch (all three
types), label, annotate, delete, server-side apply, explain.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_client

client: Any = kube_client

WHOAMI = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: whoami
  labels:
    app: containous
    name: whoami
spec:
  replicas: 2
  selector:
    matchLabels:
      app: containous
      task: whoami
  template:
    metadata:
      labels:
        app: containous
        task: whoami
    spec:
      containers:
        - name: containouswhoami
          image: containous/whoami
          resources:
          ports:
            - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: whoami
spec:
  ports:
    - name: http
      port: 80
  selector:
    app: containous
    task: whoami
  type: LoadBalancer
"""

POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
spec:
  addresses:
  - 10.244.244.100-10.244.244.200
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
spec:
  ipAddressPools:
  - first-pool
"""


def _columns(out: str) -> list[dict[str, str]]:
    """Parse kubectl's table output into dicts by header (columns are separated by 2+ spaces)."""
    import re

    lines = [ln for ln in out.splitlines() if ln.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    return [dict(zip(header, re.split(r"\s{2,}", ln.strip()), strict=False)) for ln in lines[1:]]


def test_seed_deployment_and_service_apply_twice(target: Any, ns: str) -> None:
    first = target.kubectl("apply", "-n", ns, "-f", "-", input=WHOAMI, check=True)
    assert "deployment.apps/whoami created" in first.stdout and "service/whoami created" in first.stdout
    second = target.kubectl("apply", "-n", ns, "-f", "-", input=WHOAMI, check=True)
    assert "service/whoami unchanged" in second.stdout
    shown = target.kubectl("get", "-n", ns, "service", "whoami", "-o", "json", check=True)
    svc = json.loads(shown.stdout)
    assert "kubectl.kubernetes.io/last-applied-configuration" in svc["metadata"]["annotations"]
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767


def test_get_svc_shows_external_ip_after_status_patch(target: Any, core: Any, ns: str) -> None:
    target.kubectl("apply", "-n", ns, "-f", "-", input=WHOAMI, check=True)
    rows = _columns(target.kubectl("get", "-n", ns, "svc", "whoami", check=True).stdout)
    assert rows[0]["TYPE"] == "LoadBalancer" and rows[0]["EXTERNAL-IP"] == "<pending>"
    core.patch_namespaced_service_status(
        "whoami", ns, {"status": {"loadBalancer": {"ingress": [{"ip": "10.244.244.100"}]}}}
    )
    rows = _columns(target.kubectl("get", "-n", ns, "svc", "whoami", check=True).stdout)
    row = rows[0]
    assert row["NAME"] == "whoami" and row["EXTERNAL-IP"] == "10.244.244.100"
    assert row["CLUSTER-IP"] == core.read_namespaced_service("whoami", ns).spec.cluster_ip
    assert row["PORT(S)"].startswith("80:") and row["PORT(S)"].endswith("/TCP")
    deploy = _columns(target.kubectl("get", "-n", ns, "deploy", check=True).stdout)
    assert deploy[0]["NAME"] == "whoami" and deploy[0]["READY"] == "0/2"


def test_metallb_crds_register_and_the_seed_pool_applies(target: Any, metallb_crds: Any, ns: str) -> None:
    crds = target.kubectl("get", "crd", "-o", "name", check=True).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io" in crds
    out = target.kubectl("apply", "-n", ns, "-f", "-", input=POOL, check=True)
    assert "ipaddresspool.metallb.io/first-pool created" in out.stdout
    assert "l2advertisement.metallb.io/example created" in out.stdout
    again = target.kubectl("apply", "-n", ns, "-f", "-", input=POOL, check=True)
    assert "ipaddresspool.metallb.io/first-pool unchanged" in again.stdout
    rows = _columns(target.kubectl("get", "-n", ns, "ipaddresspools", check=True).stdout)
    assert rows[0]["NAME"] == "first-pool"
    assert (
        "10.244.244.100-10.244.244.200"
        in target.kubectl("get", "-n", ns, "ipaddresspool", "first-pool", "-o", "yaml", check=True).stdout
    )


def test_cr_apply_before_its_crd_fails_as_on_a_real_server(target: Any, ns: str) -> None:
    manifest = POOL.replace("metallb.io/v1beta1", "nothing.example.com/v1")
    out = target.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    assert out.returncode != 0
    assert 'no matches for kind "IPAddressPool" in version "nothing.example.com/v1"' in out.stderr


def test_get_output_formats_and_describe(target: Any, ns: str) -> None:
    target.kubectl("create", "-n", ns, "configmap", "cfg", "--from-literal=k=v", check=True)
    as_yaml = yaml.safe_load(target.kubectl("get", "-n", ns, "cm", "cfg", "-o", "yaml", check=True).stdout)
    assert as_yaml["kind"] == "ConfigMap" and as_yaml["data"] == {"k": "v"}
    as_list = json.loads(target.kubectl("get", "-n", ns, "cm", "-o", "json", check=True).stdout)
    assert as_list["kind"] == "List" and "cfg" in [i["metadata"]["name"] for i in as_list["items"]]
    target.kubectl("apply", "-n", ns, "-f", "-", input=WHOAMI, check=True)
    described = target.kubectl("describe", "-n", ns, "svc", "whoami", check=True).stdout
    assert "Type:                     LoadBalancer" in described
    assert "Selector:                 app=containous,task=whoami" in described
    wide = _columns(target.kubectl("get", "-n", ns, "svc", "whoami", "-o", "wide", check=True).stdout)
    assert wide[0]["SELECTOR"] == "app=containous,task=whoami"


@pytest.mark.parametrize(
    ("kind", "patch", "expected"),
    [
        pytest.param("strategic", '{"data":{"b":"2"}}', {"a": "1", "b": "2"}, id="strategic"),
        pytest.param("merge", '{"data":{"a":null}}', None, id="merge-null-deletes"),
        pytest.param("json", '[{"op":"add","path":"/data/c","value":"3"}]', {"a": "1", "c": "3"}, id="json"),
    ],
)
def test_kubectl_patch_types(target: Any, ns: str, kind: str, patch: str, expected: dict[str, str] | None) -> None:
    target.kubectl("create", "-n", ns, "configmap", "p", "--from-literal=a=1", check=True)
    target.kubectl("patch", "-n", ns, "configmap", "p", "--type", kind, "-p", patch, check=True)
    data = json.loads(target.kubectl("get", "-n", ns, "cm", "p", "-o", "json", check=True).stdout).get("data")
    assert data == expected


def test_label_annotate_and_delete(target: Any, core: Any, ns: str) -> None:
    target.kubectl("create", "-n", ns, "configmap", "l", check=True)
    target.kubectl("label", "-n", ns, "configmap", "l", "team=net", check=True)
    target.kubectl("annotate", "-n", ns, "configmap", "l", "note=hello", check=True)
    got = core.read_namespaced_config_map("l", ns)
    assert got.metadata.labels == {"team": "net"} and got.metadata.annotations == {"note": "hello"}
    target.kubectl("label", "-n", ns, "configmap", "l", "team-", check=True)
    assert not core.read_namespaced_config_map("l", ns).metadata.labels
    out = target.kubectl("delete", "-n", ns, "configmap", "l", check=True)
    assert 'configmap "l" deleted' in out.stdout


def test_server_side_apply_creates_and_updates(target: Any, core: Any, ns: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    out = target.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=cm, check=True)
    assert "configmap/ssa serverside-applied" in out.stdout
    target.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=cm.replace("'1'", "'2'"), check=True)
    assert core.read_namespaced_config_map("ssa", ns).data == {"a": "2"}


def test_get_watch_prints_changes(target: Any, core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "first"}})
    argv = [
        "kubectl",
        "--kubeconfig",
        str(target.kubeconfig),
        "--cache-dir",
        target.cache_dir,
        "get",
        "-n",
        ns,
        "configmaps",
        "-w",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert header.split()[:3] == ["NAME", "DATA", "AGE"]
        seen = {proc.stdout.readline().split()[0]}
        time.sleep(0.5)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "second"}, "data": {"x": "y"}})
        deadline = time.monotonic() + 20
        while "second" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.strip():
                seen.add(line.split()[0])
        assert "second" in seen
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_explain_reads_the_openapi_v3_document(target: Any) -> None:
    out = target.kubectl("explain", "service.spec.loadBalancerClass", check=True).stdout
    assert "loadBalancerClass" in out and "KIND:" in out


def test_strict_validation_refuses_unknown_fields(target: Any, ns: str) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\nbogus: true\n"
    out = target.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    assert out.returncode != 0
    assert 'strict decoding error: unknown field "bogus"' in out.stderr


def test_kubectl_scale_uses_the_scale_subresource(target: Any, apps: Any, ns: str) -> None:
    target.kubectl("apply", "-n", ns, "-f", "-", input=WHOAMI, check=True)
    out = target.kubectl("scale", "-n", ns, "deployment/whoami", "--replicas=5", check=True)
    assert "deployment.apps/whoami scaled" in out.stdout
    assert apps.read_namespaced_deployment("whoami", ns).spec.replicas == 5
    scale = apps.read_namespaced_deployment_scale("whoami", ns)
    assert scale.spec.replicas == 5 and scale.status.selector == "app=containous,task=whoami"
