"""The Helm chart, as far as it can be tested without helm: the values schema accepts the chart's defaults and
MetalLB users' values files and refuses bad values; the templates are derived deterministically; rendered with
the defaults they give exactly the kustomize manifests, and each value lands where it should.

Rendering uses ``hack.manifests.gotemplate`` (tested in test_gotemplate.py), not helm: the chart README says so.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped, unused-ignore]

from ccm.options import parse_options
from hack.manifests import BASE_DIR, CHART_DIR, NAMESPACE, OVERLAYS_DIR, helm
from hack.manifests import gotemplate as gt
from hack.manifests.crdschema import is_custom
from hack.manifests.kustomize import ManifestError, identity, render, rule_reasons
from hack.manifests.markdown import yaml_blocks

Json = dict[str, Any]
SEED = Path("/work/shared/seed.md")  # the MetalLB walkthrough our users come from


@functools.cache
def _schema() -> Json:
    schema: Json = json.loads((CHART_DIR / "values.schema.json").read_text())
    return schema


def schema_errors(values: Json) -> list[str]:
    validator = Draft7Validator(_schema())
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values))


def defaults() -> Json:
    return helm.chart_values()


def chart(overrides: Json | None = None, namespace: str = NAMESPACE) -> list[Json]:
    values = helm.merge_values(defaults(), overrides or {})
    assert schema_errors(values) == [], "the test uses values the schema refuses"
    return helm.render_chart(values, namespace=namespace)


def find(objects: list[Json], kind: str, name: str | None = None) -> Json:
    return next(o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


def args(objects: list[Json], kind: str) -> list[str]:
    found: list[str] = find(objects, kind)["spec"]["template"]["spec"]["containers"][0]["args"]
    return found


# --- values.schema.json ---------------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft7_schema() -> None:
    Draft7Validator.check_schema(_schema())


def test_the_schema_accepts_the_charts_defaults() -> None:
    assert schema_errors(defaults()) == []


def seed_values() -> Json:
    """The Helm values of the seed walkthrough (speaker/controller tolerations with operator Exists)."""
    if SEED.exists():
        for block in yaml_blocks(SEED):
            for doc in block.documents():
                if isinstance(doc, dict) and "speaker" in doc and "controller" in doc:
                    return doc
        raise AssertionError("the seed walkthrough has no Helm values block")
    return {
        "speaker": {"tolerations": [{"operator": "Exists"}]},
        "controller": {"tolerations": [{"operator": "Exists"}]},
    }


def test_the_schema_accepts_the_seeds_metallb_values() -> None:
    values = seed_values()
    assert values == {"speaker": {"tolerations": [{"operator": "Exists"}]},
                      "controller": {"tolerations": [{"operator": "Exists"}]}}  # fmt: skip
    assert schema_errors(helm.merge_values(defaults(), values)) == []


def test_the_seeds_values_tolerate_every_taint_in_both_workloads() -> None:
    objects = chart(seed_values())
    for kind in ("Deployment", "DaemonSet"):
        assert find(objects, kind)["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]
    for obj in objects:
        if not is_custom(obj) and obj["kind"] != "CustomResourceDefinition":
            kubernetes_validate.validate(obj, "1.30", strict=True)


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        pytest.param({"controller": {"tolerations": [{"operator": "Exist"}]}}, "controller.tolerations.0.operator",
                     id="misspelt-toleration-operator"),
        pytest.param({"speaker": {"tolerations": [{"operator": "Exists", "value": "x"}]}}, "speaker.tolerations.0",
                     id="exists-toleration-with-a-value"),
        pytest.param({"speaker": {"tolerations": [{"operator": "Equal", "value": "x"}]}},
                     "speaker.tolerations.0.operator", id="a-toleration-without-a-key-must-be-exists"),
        pytest.param({"speaker": {"tolerations": [{"operator": "Exists", "effect": "NoRun"}]}},
                     "speaker.tolerations.0.effect", id="unknown-taint-effect"),
        pytest.param({"speaker": {"tolerations": {"operator": "Exists"}}}, "speaker.tolerations",
                     id="tolerations-must-be-a-list"),
        pytest.param({"speaker": {"memberlist": {"mlBindPort": 70000}}}, "speaker.memberlist.mlBindPort",
                     id="port-out-of-range"),
        pytest.param({"speaker": {"memberlist": {"mlBindPort": "7946"}}}, "speaker.memberlist.mlBindPort",
                     id="port-as-a-string"),
        pytest.param({"controller": {"logLevel": "verbose"}}, "controller.logLevel", id="unknown-log-level"),
        pytest.param({"speaker": {"frr": {"enabled": False}}}, "speaker", id="metallbs-frr-values-are-refused"),
        pytest.param({"controller": {"webhookMode": "enabled"}}, "controller", id="metallbs-webhook-is-refused"),
        pytest.param({"speaker": {"tolerateMaster": True}}, "speaker", id="unknown-speaker-value"),
        pytest.param({"image": {"pullPolicy": "always"}}, "image.pullPolicy", id="pull-policy-is-case-sensitive"),
        pytest.param({"image": {"tag": ""}}, "image.tag", id="empty-image-tag"),
        pytest.param({"controller": {"replicas": 0}}, "controller.replicas", id="no-ccm-replica"),
        pytest.param({"loadBalancerClass": "not a class"}, "loadBalancerClass", id="class-with-spaces"),
        pytest.param({"speaker": {"extraArgs": ["-v"]}}, "speaker.extraArgs.0", id="extra-arg-not-a-long-flag"),
        pytest.param({"speaker": {"resources": {"limits": {"memory": "lots"}}}}, "speaker.resources.limits.memory",
                     id="malformed-quantity"),
        pytest.param({"rbac": {"create": "yes"}}, "rbac.create", id="boolean-as-a-string"),
        pytest.param({"prometheus": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
                     "prometheus", id="service-and-pod-monitors-would-scrape-twice"),
    ],
)  # fmt: skip
def test_the_schema_refuses_bad_values(overrides: Json, where: str) -> None:
    errors = schema_errors(helm.merge_values(defaults(), overrides))
    assert errors, "accepted"
    assert all(error.split(":")[0] == where for error in errors), errors


# --- the derivation -------------------------------------------------------------------------------------------


def test_the_derivation_is_deterministic() -> None:
    objects = [*render(BASE_DIR), *helm.monitoring_objects()]
    first = helm.derive(objects, rule_reasons())
    second = helm.derive([*render(BASE_DIR), *helm.monitoring_objects()], rule_reasons())
    assert first == second
    committed = {p.name: p.read_text() for p in (CHART_DIR / "templates").glob("*.yaml")}
    assert first == committed


def test_defaults_give_exactly_the_kustomize_manifests() -> None:
    base = render(BASE_DIR)
    expected = [o for o in base if o["kind"] != "Namespace"]
    assert helm.differences(expected, chart()) == []
    assert len(chart()) == len(base) - 1


@pytest.mark.parametrize("overlay", list(helm.OVERLAY_VALUES))
def test_prometheus_switches_give_exactly_the_monitoring_overlays(overlay: str) -> None:
    expected = [o for o in render(OVERLAYS_DIR / overlay) if o["kind"] != "Namespace"]
    assert helm.differences(expected, chart(helm.OVERLAY_VALUES[overlay])) == []


def test_verify_reports_a_template_that_drifted() -> None:
    """The self-check the generator runs can fail: a template changed by hand is caught."""
    base = render(BASE_DIR)
    templates = helm.derive([*base, *helm.monitoring_objects()], rule_reasons())
    templates["speaker.yaml"] = templates["speaker.yaml"].replace("terminationGracePeriodSeconds: 10",
                                                                  "terminationGracePeriodSeconds: 0")  # fmt: skip
    problems = helm.verify(templates, base)
    assert problems
    assert all("DaemonSet ironlb-speaker differs: spec.template.spec.terminationGracePeriodSeconds" in p
               for p in problems)  # fmt: skip


def test_every_object_must_have_a_place_in_the_chart() -> None:
    stray = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NAMESPACE}}
    with pytest.raises(ManifestError, match=r"not in hack/manifests/helm\.py SPEC"):
        helm.derive([stray], {})


# --- values land where they should ----------------------------------------------------------------------------


def test_load_balancer_class_reaches_both_daemons(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = chart({"loadBalancerClass": "example.com/bare-metal"})
    assert "--load-balancer-class=example.com/bare-metal" in args(objects, "DaemonSet")
    monkeypatch.setenv("METALLB_NAMESPACE", NAMESPACE)
    assert parse_options(args(objects, "Deployment")).load_balancer_class == "example.com/bare-metal"


def test_speaker_values() -> None:
    extra = ["--gratuitous-refresh=30s"]
    memberlist = {"enabled": False, "mlBindPort": 8946}
    objects = chart(
        {"speaker": {"ignoreExcludeLB": True, "logLevel": "debug", "extraArgs": extra, "memberlist": memberlist}}
    )
    speaker = args(objects, "DaemonSet")
    assert speaker[-2:] == ["--ignore-exclude-lb", "--gratuitous-refresh=30s"]
    assert {"--log-level=debug", "--membership=false", "--ml-bind-port=8946"} <= set(speaker)
    ports = find(objects, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert sorted(p["containerPort"] for p in ports) == [8946, 8946, 9120]
    assert "--log-level=info" in args(objects, "Deployment")


def test_controller_values(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = chart({"controller": {"replicas": 3, "logLevel": "warn", "extraArgs": ["--concurrent-service-syncs=2"],
                                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""}, "affinity": None,
                                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                                    "priorityClassName": "ironlb-high"}})  # fmt: skip
    deployment = find(objects, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert "affinity" not in spec
    assert spec["priorityClassName"] == "ironlb-high"
    # maps merge over the defaults (as in Helm): the memory limit stays unless set to null
    assert spec["containers"][0]["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                  "limits": {"memory": "512Mi"}}  # fmt: skip
    monkeypatch.setenv("METALLB_NAMESPACE", NAMESPACE)
    options = parse_options(args(objects, "Deployment"))
    assert (options.log_level, options.concurrent_service_syncs) == ("warn", 2)
    kubernetes_validate.validate(deployment, "1.30", strict=True)


def test_image_and_legacy_configmap() -> None:
    objects = chart({"image": {"repository": "registry.example/ironlb", "tag": "dev-1", "pullPolicy": "Always"},
                     "legacyConfigMap": "metallb-config"})  # fmt: skip
    for kind in ("Deployment", "DaemonSet"):
        container = find(objects, kind)["spec"]["template"]["spec"]["containers"][0]
        assert (container["image"], container["imagePullPolicy"]) == ("registry.example/ironlb:dev-1", "Always")
        assert "--legacy-configmap=metallb-config" in container["args"]


def test_switches_leave_out_crds_and_rbac() -> None:
    kinds = {o["kind"] for o in chart({"crds": {"enabled": False}, "rbac": {"create": False}})}
    assert kinds == {"ServiceAccount", "Deployment", "PodDisruptionBudget", "Service", "DaemonSet"}


def test_release_namespace_is_used_everywhere() -> None:
    objects = chart(namespace="lb-system")
    for obj in objects:
        _, kind, namespace, _ = identity(obj)
        if kind not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert namespace == "lb-system", kind
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "lb-system"
    assert not any(NAMESPACE in json.dumps(o) for o in objects if o["kind"] != "CustomResourceDefinition")


def test_monitoring_labels_and_interval() -> None:
    labels = {"release": "kps"}
    pods = {"enabled": True, "additionalLabels": labels, "interval": "15s"}
    objects = chart(
        {"prometheus": {"podMonitor": pods, "prometheusRule": {"enabled": True, "additionalLabels": labels}}}
    )
    monitors = [o for o in objects if o["kind"] == "PodMonitor"]
    assert len(monitors) == 2
    for obj in [*monitors, find(objects, "PrometheusRule")]:
        assert obj["metadata"]["labels"]["release"] == "kps"
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "ironlb"
    assert all(m["spec"]["podMetricsEndpoints"][0]["interval"] == "15s" for m in monitors)
    assert not [o for o in objects if o["kind"] == "ServiceMonitor"]


def test_prometheus_templates_in_alert_texts_survive_helm() -> None:
    rule = find(chart(helm.OVERLAY_VALUES["prometheus"]), "PrometheusRule")
    descriptions = [r["annotations"]["description"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels.pool }}" in d for d in descriptions)


# --- the rest of the chart ------------------------------------------------------------------------------------


def test_notes_render_and_tell_how_to_create_the_membership_secret() -> None:
    text = gt.render((CHART_DIR / "templates" / "NOTES.txt").read_text(),
                     {"Release": {"Namespace": "metallb-system"}, "Values": defaults()})  # fmt: skip
    assert "kubectl create secret generic -n metallb-system memberlist --from-literal=secretkey=" in text


def test_readme_says_the_chart_was_not_rendered_by_helm_here() -> None:
    assert "Not rendered with a real `helm` here" in (CHART_DIR / "README.md").read_text()


def test_every_value_is_used_by_a_template() -> None:
    """A value in values.yaml that no template reads would be a setting that does nothing."""
    text = "".join(p.read_text() for p in (CHART_DIR / "templates").glob("*"))

    def leaves(node: Any, prefix: str) -> list[str]:
        if isinstance(node, dict) and node and not prefix.endswith(("resources", "affinity", "additionalLabels")):
            return [leaf for key, value in node.items() for leaf in leaves(value, f"{prefix}.{key}")]
        return [prefix]

    unused = [path for path in leaves(defaults(), ".Values") if path not in text]
    assert unused == []
