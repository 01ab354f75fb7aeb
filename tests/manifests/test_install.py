"""The install: every kustomize directory renders, every object is one a Kubernetes 1.30 API server accepts, every
metallb.io object we show users (overlays, docs, the seed walkthrough) passes the CRD schemas, and the committed
generated files (manifests/ironlb.yaml, the chart's templates) are what the sources give.

Built-in kinds are checked with ``kubernetes-validate`` (the published OpenAPI schemas, strict: unknown fields
refused); metallb.io kinds with ``hack.manifests.crdschema`` (the CRDs' own schemas, defaults and CEL rules).
prometheus-operator's kinds have no schema here (its CRDs are not ours to ship): their links to the base
(selectors, ports, metric names) are checked instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from hack.manifests import BASE_DIR, DOCS_DIR, NAMESPACE, OVERLAYS_DIR, RENDERED, REPO
from hack.manifests.__main__ import chart_templates, rendered_manifest, stale_generated_templates
from hack.manifests.crdschema import admitted, cel_failures, is_custom, schema_of
from hack.manifests.kustomize import identity, render
from hack.manifests.markdown import Block, yaml_blocks
from ironlb.api.names import GROUP
from ironlb.config import ConfigSources, parse

Json = dict[str, Any]

SEED = Path("/work/shared/seed.md")
K8S_VERSION = "1.30"
MONITORING_GROUP = "monitoring.coreos.com"
DIRECTORIES = {
    "base": BASE_DIR,
    **{d.name: d for d in sorted(OVERLAYS_DIR.iterdir()) if (d / "kustomization.yaml").exists()},
}


def rendered(name: str) -> list[Json]:
    """Fresh objects (tests may change them); kubectl runs once per directory."""
    return render(DIRECTORIES[name])


def all_rendered() -> list[tuple[str, Json]]:
    seen: set[tuple[str, str, str, str]] = set()
    found: list[tuple[str, Json]] = []
    for name in DIRECTORIES:
        for obj in rendered(name):
            if identity(obj) not in seen:
                seen.add(identity(obj))
                found.append((name, obj))
    return found


def _id(name: str, obj: Json) -> str:
    return f"{name}:{obj['kind']}/{obj['metadata']['name']}"


def doc_blocks() -> list[Block]:
    return [block for path in sorted(DOCS_DIR.glob("*.md")) for block in yaml_blocks(path)]


def seed_blocks() -> list[Block]:
    return yaml_blocks(SEED) if SEED.exists() else []


#: Configuration files of Kubernetes tools that look like objects but are never sent to the API server.
TOOL_CONFIG_GROUPS = ("kubeproxy.config.k8s.io/", "kustomize.config.k8s.io/")


def kubernetes_objects(blocks: list[Block]) -> list[tuple[str, Json]]:
    """Every document of the blocks that is an API object (apiVersion and kind), with where it is."""
    return [
        (block.where, doc)
        for block in blocks
        for doc in block.documents()
        if isinstance(doc, dict)
        and "apiVersion" in doc
        and "kind" in doc
        and not str(doc["apiVersion"]).startswith(TOOL_CONFIG_GROUPS)
    ]


# --- kustomize ------------------------------------------------------------------------------------------------


def test_the_expected_directories_exist() -> None:
    assert set(DIRECTORIES) == {"base", "layer2", "bgp", "prometheus", "prometheus-podmonitor"}


@pytest.mark.parametrize("name", list(DIRECTORIES))
def test_kustomize_renders_each_directory_with_unique_objects_in_metallb_system(name: str) -> None:
    objects = rendered(name)
    keys = [identity(obj) for obj in objects]
    assert len(keys) == len(set(keys)), "an object is rendered twice"
    for obj in objects:
        if obj["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"].get("namespace") == NAMESPACE, _id(name, obj)


@pytest.mark.parametrize("name", [n for n in DIRECTORIES if n != "base"])
def test_every_overlay_is_the_base_plus_its_own_objects(name: str) -> None:
    base = {identity(obj): obj for obj in rendered("base")}
    overlay = {identity(obj): obj for obj in rendered(name)}
    assert base.keys() <= overlay.keys()
    assert all(overlay[key] == obj for key, obj in base.items()), "an overlay changed a base object"
    assert overlay.keys() - base.keys(), "an overlay adds nothing"


def test_base_holds_what_an_install_needs() -> None:
    kinds = sorted(f"{obj['kind']}/{obj['metadata']['name']}" for obj in rendered("base") if not is_crd(obj))
    assert kinds == sorted(
        [
            "Namespace/metallb-system",
            "ServiceAccount/ironlb-ccm",
            "ServiceAccount/ironlb-speaker",
            "ClusterRole/ironlb-ccm",
            "ClusterRole/ironlb-speaker",
            "ClusterRoleBinding/ironlb-ccm",
            "ClusterRoleBinding/ironlb-speaker",
            "Role/ironlb-ccm",
            "Role/ironlb-speaker",
            "RoleBinding/ironlb-ccm",
            "RoleBinding/ironlb-speaker",
            "Deployment/ironlb-ccm",
            "PodDisruptionBudget/ironlb-ccm",
            "Service/ironlb-ccm-metrics",
            "DaemonSet/ironlb-speaker",
            "Service/ironlb-speaker-metrics",
        ]
    )
    crds = {obj["spec"]["names"]["kind"] for obj in rendered("base") if is_crd(obj)}
    assert len(crds) == 9
    assert all(
        obj["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"} for obj in rendered("base") if is_crd(obj)
    )


def is_crd(obj: Json) -> bool:
    return bool(obj["kind"] == "CustomResourceDefinition")


def test_namespace_allows_the_privileged_speaker() -> None:
    namespace = next(obj for obj in rendered("base") if obj["kind"] == "Namespace")
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "privileged"


# --- schemas --------------------------------------------------------------------------------------------------


def is_monitoring(obj: Json) -> bool:
    return str(obj["apiVersion"]).startswith(MONITORING_GROUP + "/")


@pytest.mark.parametrize(
    "obj",
    [pytest.param(obj, id=_id(n, obj)) for n, obj in all_rendered() if not is_custom(obj) and not is_monitoring(obj)],
)
def test_builtin_object_is_valid_for_kubernetes_1_30(obj: Json) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field() -> None:
    daemonset = next(obj for obj in rendered("base") if obj["kind"] == "DaemonSet")
    daemonset["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilites"] = {"add": ["NET_RAW"]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, K8S_VERSION, strict=True)


def custom_objects() -> list[tuple[str, Json]]:
    from_overlays = [(f"overlay {n}", obj) for n, obj in all_rendered() if is_custom(obj)]
    from_docs = [(w, obj) for w, obj in kubernetes_objects(doc_blocks()) if is_custom(obj)]
    from_seed = [(f"seed {w}", obj) for w, obj in kubernetes_objects(seed_blocks()) if is_custom(obj)]
    return from_overlays + from_docs + from_seed


@pytest.fixture(scope="module")
def celpy() -> Any:
    return pytest.importorskip("celpy", reason="cel-python evaluates the CRDs' x-kubernetes-validations rules")


@pytest.mark.parametrize(
    "obj", [pytest.param(obj, id=f"{w}:{obj['kind']}/{obj['metadata']['name']}") for w, obj in custom_objects()]
)
def test_metallb_object_shown_to_users_passes_the_crd_schema(celpy: Any, obj: Json) -> None:
    accepted = admitted(obj)
    assert cel_failures(celpy, schema_of(obj["kind"], obj["apiVersion"].split("/")[1]), accepted) == []
    assert obj["metadata"]["namespace"] == NAMESPACE


def test_users_are_shown_every_configuration_kind() -> None:
    shown = {obj["kind"] for _, obj in custom_objects()}
    assert {"IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "BFDProfile", "Community"} <= shown


def test_the_seed_walkthrough_objects_are_checked() -> None:
    if not SEED.exists():
        pytest.skip("the seed walkthrough is not on this machine")
    names = {(obj["kind"], obj["metadata"]["name"]) for _, obj in kubernetes_objects(seed_blocks()) if is_custom(obj)}
    assert names == {("IPAddressPool", "first-pool"), ("L2Advertisement", "example")}


@pytest.mark.parametrize(
    "where_obj",
    [
        pytest.param((w, obj), id=f"{w}:{obj['kind']}/{obj['metadata']['name']}")
        for w, obj in kubernetes_objects(doc_blocks())
        if not is_custom(obj)
    ],
)
def test_builtin_object_in_the_docs_is_valid_for_kubernetes_1_30(where_obj: tuple[str, Json]) -> None:
    kubernetes_validate.validate(where_obj[1], K8S_VERSION, strict=True)


def test_every_yaml_block_in_the_docs_parses() -> None:
    blocks = doc_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        assert block.documents(), f"{block.where}: empty YAML block"


# --- the configuration the daemons would load ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["layer2", "bgp"])
def test_overlay_configuration_is_valid_for_the_daemons(name: str) -> None:
    objects = [obj for obj in rendered(name) if is_custom(obj)]
    result = parse(ConfigSources(objects=objects))
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None and result.config.pools


@pytest.mark.parametrize("doc", ["configure.md", "coming-from-metallb.md"])
def test_the_configuration_examples_of_a_doc_form_one_valid_configuration(doc: str) -> None:
    """Every metallb.io object of the page together, as a user following it would have them, parses without
    error with the daemons' own parser (Secrets the page creates resolve BGP passwords)."""
    found = kubernetes_objects(yaml_blocks(DOCS_DIR / doc))
    objects = [obj for _, obj in found if is_custom(obj)]
    secrets = {
        (obj["metadata"]["namespace"], obj["metadata"]["name"]): obj for _, obj in found if obj["kind"] == "Secret"
    }
    assert objects
    result = parse(ConfigSources(objects=objects, secrets=secrets))
    assert result.errors == (), [str(e) for e in result.errors]


# --- Prometheus objects ---------------------------------------------------------------------------------------


def _selects(selector: Json, labels: Json) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.mark.parametrize("name", ["prometheus", "prometheus-podmonitor"])
def test_monitors_select_a_metrics_port_of_each_daemon(name: str) -> None:
    objects = rendered(name)
    monitors = [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert len(monitors) == 2
    for monitor in monitors:
        assert monitor["apiVersion"] == f"{MONITORING_GROUP}/v1"
        selector = monitor["spec"]["selector"]
        if monitor["kind"] == "ServiceMonitor":
            targets = [o for o in objects if o["kind"] == "Service" and _selects(selector, o["metadata"]["labels"])]
            ports = [p["name"] for t in targets for p in t["spec"]["ports"]]
            endpoints = monitor["spec"]["endpoints"]
        else:
            targets = [
                o
                for o in objects
                if o["kind"] in ("Deployment", "DaemonSet")
                and _selects(selector, o["spec"]["template"]["metadata"]["labels"])
            ]
            pod_specs = [t["spec"]["template"]["spec"] for t in targets]
            ports = [p["name"] for spec in pod_specs for c in spec["containers"] for p in c["ports"]]
            endpoints = monitor["spec"]["podMetricsEndpoints"]
        assert len(targets) == 1, monitor["metadata"]["name"]
        assert [(e["port"], e["path"], e["scheme"]) for e in endpoints] == [("metrics", "/metrics", "http")]
        assert "metrics" in ports


METALLB_ALERTS = [
    "MetalLBStaleConfig",
    "MetalLBConfigNotLoaded",
    "MetalLBAddressPoolExhausted",
    "MetalLBAddressPoolUsage75Percent",
    "MetalLBAddressPoolUsage85Percent",
    "MetalLBAddressPoolUsage95Percent",
    "MetalLBBGPSessionDown",
]


def prometheus_rules() -> list[Json]:
    rule = next(o for o in rendered("prometheus") if o["kind"] == "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_prometheus_rule_has_metallbs_alerts_each_waiting_a_minute() -> None:
    rules = prometheus_rules()
    assert [r["alert"] for r in rules] == METALLB_ALERTS
    assert all(r["for"] == "1m" and r["labels"]["severity"] in ("info", "warning", "critical") for r in rules)
    thresholds = [int(m.group(1)) for r in rules if (m := re.search(r"> (\d+)$", r["expr"].strip()))]
    assert thresholds == [75, 85, 95]


def _metric_names_in_code() -> set[str]:
    names: set[str] = set()
    for package in ("ccm", "speaker", "ironlb"):
        for path in (REPO / package).rglob("*.py"):
            names.update(re.findall(r'"((?:metallb|ironlb)_[a-z0-9_]+)"', path.read_text()))
    return names


def test_alerts_use_only_metrics_the_daemons_export() -> None:
    exported = _metric_names_in_code()
    used = {name for r in prometheus_rules() for name in re.findall(r"\b(?:metallb|ironlb)_[a-z0-9_]+", r["expr"])}
    assert used, "no metric found in the alert expressions"
    assert used <= exported, f"not exported by any daemon: {sorted(used - exported)}"


# --- generated files are current ------------------------------------------------------------------------------


def test_rendered_manifest_is_up_to_date() -> None:
    """manifests/ironlb.yaml is what `python -m hack.manifests render` gives; run it after changing the base."""
    assert RENDERED.read_text() == rendered_manifest()


def test_rendered_manifest_is_the_base() -> None:
    import yaml

    assert [d for d in yaml.safe_load_all(RENDERED.read_text()) if d] == rendered("base")


def test_rendered_manifest_keeps_the_reason_above_every_rbac_rule() -> None:
    lines = RENDERED.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("- apiGroups:")]
    assert len(starts) == sum(len(o["rules"]) for o in rendered("base") if o["kind"] in ("Role", "ClusterRole"))
    assert all(lines[i - 1].startswith("# ") for i in starts)


def test_chart_templates_are_up_to_date() -> None:
    """charts/ironlb/templates is what `python -m hack.manifests helm` gives; run it after changing the base."""
    for path, text in chart_templates().items():
        assert path.exists(), f"{path.relative_to(REPO)} is missing"
        assert path.read_text() == text, f"{path.relative_to(REPO)} is out of date"
    assert stale_generated_templates() == []


def test_group_constant_matches_the_crds() -> None:
    assert all(obj["spec"]["group"] == GROUP for obj in rendered("base") if is_crd(obj))
