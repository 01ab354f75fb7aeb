"""The Helm chart's templates, derived from the kustomize manifests so that the two cannot drift.

Theory of operation
-------------------
The objects ``kubectl kustomize`` renders (``manifests/base``, plus the monitoring objects of
``manifests/overlays/prometheus`` and ``prometheus-podmonitor``) are written out as templates, with a Helm value
substituted at each *known place* listed in :data:`SPEC` (a hole):

* :class:`Text` - a scalar becomes template text (``replicas: {{ .Values.controller.replicas }}``);
* :class:`Block` - a key whose value comes from ``toYaml`` of a value, left out when the value is empty
  (``tolerations``, ``nodeSelector``, ``affinity``, ``resources``);
* :class:`Merge` - extra entries merged into an existing mapping (additional labels for the Prometheus objects);
* :class:`Extend` - a list's extra items from a value (``extraArgs``);
* :class:`Item` - a list item present only when a value is set (``--ignore-exclude-lb``,
  ``--load-balancer-class=...``);
* a template's condition (``crds.enabled``, ``rbac.create``, ``prometheus.*.enabled``) wraps each of its objects;
* every ``metallb-system`` namespace becomes ``{{ .Release.Namespace }}``.

Each hole is a placeholder in a copy of the object; the copy is dumped as YAML (with the RBAC reasons), literal
``{{`` is escaped (PrometheusRule descriptions use Prometheus' own templates), and the placeholders are replaced
by template text. Every object must be listed in :data:`SPEC`, so a new object in the base is a derivation error
until someone decides where it goes and which values touch it.

The derivation then proves itself (:func:`verify`): the templates rendered with the chart's ``values.yaml`` (by
``hack.manifests.gotemplate``) must give exactly the kustomize objects - all of the base but its Namespace (Helm
installs into a namespace that exists; docs say how to label it), and, with the Prometheus values switched on,
exactly the monitoring overlays. So ``values.yaml``'s defaults are the kustomize manifests' settings, by test.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hack.manifests import BASE_DIR, CHART_DIR, NAMESPACE, OVERLAYS_DIR
from hack.manifests import gotemplate as gt
from hack.manifests.kustomize import Json, ManifestError, Reasons, dump_object, identity, render

# --- holes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    """The element of a list of mappings whose ``name`` is this (a container, a port)."""

    name: str


@dataclass(frozen=True, slots=True)
class Prefixed:
    """The element of a list of strings that starts with this (a command-line flag)."""

    prefix: str


Segment = str | int | Named | Prefixed
Where = tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Text:
    path: Where
    template: str


@dataclass(frozen=True, slots=True)
class Block:
    parent: Where
    key: str
    expr: str


@dataclass(frozen=True, slots=True)
class Merge:
    path: Where
    expr: str


@dataclass(frozen=True, slots=True)
class Extend:
    path: Where
    expr: str


@dataclass(frozen=True, slots=True)
class Item:
    path: Where
    expr: str
    text: str
    mode: str = "if"  # "if": present when expr is true; "with": present when set, "." is the value


Hole = Text | Block | Merge | Extend | Item


@dataclass(frozen=True, slots=True)
class Template:
    file: str
    when: str | None = None
    holes: tuple[Hole, ...] = ()


POD: Where = ("spec", "template", "spec")
CCM: Where = (*POD, "containers", Named("ccm"))
SPEAKER: Where = (*POD, "containers", Named("speaker"))
IMAGE = '"{{ .Values.image.repository }}:{{ .Values.image.tag }}"'


def _workload(values: str, container: Where) -> tuple[Hole, ...]:
    """The holes a ccm Deployment and a speaker DaemonSet share (``values`` is .Values.controller/.speaker)."""
    return (
        Text((*POD, "priorityClassName"), f"{{{{ {values}.priorityClassName | quote }}}}"),
        Block(POD, "nodeSelector", f"{values}.nodeSelector"),
        Block(POD, "affinity", f"{values}.affinity"),
        Block(POD, "tolerations", f"{values}.tolerations"),
        Text((*container, "image"), IMAGE),
        Text((*container, "imagePullPolicy"), "{{ .Values.image.pullPolicy }}"),
        Block(container, "resources", f"{values}.resources"),
        Text((*container, "args", Prefixed("--log-level=")), f"--log-level={{{{ {values}.logLevel }}}}"),
        Text((*container, "args", Prefixed("--legacy-configmap=")), "--legacy-configmap={{ .Values.legacyConfigMap }}"),
        Item((*container, "args"), ".Values.loadBalancerClass", "--load-balancer-class={{ . }}", mode="with"),
    )


def _monitor(kind: str, endpoints: str) -> tuple[Hole, ...]:
    return (
        Merge(("metadata", "labels"), f".Values.prometheus.{kind}.additionalLabels"),
        Text(("spec", endpoints, 0, "interval"), f"{{{{ .Values.prometheus.{kind}.interval }}}}"),
    )


RBAC = Template("rbac.yaml", when=".Values.rbac.create")
ML_PORT = "{{ .Values.speaker.memberlist.mlBindPort }}"

#: (kind, name) -> where the object goes and which values touch it; name "*" matches every object of the kind.
SPEC: dict[tuple[str, str], Template] = {
    ("CustomResourceDefinition", "*"): Template("crds.yaml", when=".Values.crds.enabled"),
    ("ServiceAccount", "*"): Template("serviceaccounts.yaml"),
    ("ClusterRole", "*"): RBAC,
    ("ClusterRoleBinding", "*"): RBAC,
    ("Role", "*"): RBAC,
    ("RoleBinding", "*"): RBAC,
    ("Deployment", "ironlb-ccm"): Template(
        "ccm.yaml",
        holes=(
            Text(("spec", "replicas"), "{{ .Values.controller.replicas }}"),
            *_workload(".Values.controller", CCM),
            Extend((*CCM, "args"), ".Values.controller.extraArgs"),
        ),
    ),
    ("PodDisruptionBudget", "ironlb-ccm"): Template("ccm.yaml"),
    ("Service", "ironlb-ccm-metrics"): Template("ccm.yaml"),
    ("DaemonSet", "ironlb-speaker"): Template(
        "speaker.yaml",
        holes=(
            *_workload(".Values.speaker", SPEAKER),
            Text(
                (*SPEAKER, "args", Prefixed("--membership=")), "--membership={{ .Values.speaker.memberlist.enabled }}"
            ),
            Text((*SPEAKER, "args", Prefixed("--ml-bind-port=")), f"--ml-bind-port={ML_PORT}"),
            Text((*SPEAKER, "ports", Named("memberlist-tcp"), "containerPort"), ML_PORT),
            Text((*SPEAKER, "ports", Named("memberlist-udp"), "containerPort"), ML_PORT),
            Item((*SPEAKER, "args"), ".Values.speaker.ignoreExcludeLB", "--ignore-exclude-lb"),
            Extend((*SPEAKER, "args"), ".Values.speaker.extraArgs"),
        ),
    ),
    ("Service", "ironlb-speaker-metrics"): Template("speaker.yaml"),
    ("ServiceMonitor", "*"): Template(
        "servicemonitors.yaml",
        when=".Values.prometheus.serviceMonitor.enabled",
        holes=_monitor("serviceMonitor", "endpoints"),
    ),
    ("PodMonitor", "*"): Template(
        "podmonitors.yaml",
        when=".Values.prometheus.podMonitor.enabled",
        holes=_monitor("podMonitor", "podMetricsEndpoints"),
    ),
    ("PrometheusRule", "*"): Template(
        "prometheusrule.yaml",
        when=".Values.prometheus.prometheusRule.enabled",
        holes=(Merge(("metadata", "labels"), ".Values.prometheus.prometheusRule.additionalLabels"),),
    ),
}

#: Objects of the base the chart does not carry: Helm installs into an existing namespace (--create-namespace).
EXCLUDED = {("Namespace", NAMESPACE)}

HEADER = """\
# Generated by `python -m hack.manifests helm` from the kustomize manifests (manifests/base, and the monitoring
# objects of manifests/overlays/prometheus*): do not edit. Change those sources, then regenerate.
"""


def kind_and_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    _, kind, _, name = identity(obj)
    return kind, name


def template_for(obj: Mapping[str, Any]) -> Template:
    _, kind, _, name = identity(obj)
    spec = SPEC.get((kind, name)) or SPEC.get((kind, "*"))
    if spec is None:
        raise ManifestError(
            f"{kind} {name} is in the kustomize manifests but not in hack/manifests/helm.py SPEC: say which "
            "template file it belongs to and which values touch it"
        )
    return spec


# --- turning one object into template text ---------------------------------------------------------------------


def _step(node: Any, segment: Segment, where: str) -> Any:
    if isinstance(segment, Named | Prefixed):
        if not isinstance(node, list):
            raise ManifestError(f"{where}: {segment} needs a list")
        for index, item in enumerate(node):
            if isinstance(segment, Named) and isinstance(item, dict) and item.get("name") == segment.name:
                return index
            if isinstance(segment, Prefixed) and isinstance(item, str) and item.startswith(segment.prefix):
                return index
        raise ManifestError(f"{where}: no list element matches {segment}")
    return segment


def _locate(obj: Any, path: Where, where: str) -> tuple[Any, str | int]:
    """(container, key) of the last segment of ``path``."""
    node = obj
    for segment in path[:-1]:
        key = _step(node, segment, where)
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            raise ManifestError(f"{where}: nothing at {path}") from None
    last = _step(node, path[-1], where)
    return node, last


def _node(obj: Any, path: Where, where: str) -> Any:
    if not path:
        return obj
    container, key = _locate(obj, path, where)
    return container[key]


def _set_key(mapping: dict[str, Any], key: str, sentinel: str) -> None:
    """Put ``sentinel: None`` where ``key`` is (keeping the order), or at the end."""
    items = [(sentinel if k == key else k, None if k == key else v) for k, v in mapping.items()]
    if key not in mapping:
        items.append((sentinel, None))
    mapping.clear()
    mapping.update(items)


def _namespace_holes(obj: Mapping[str, Any]) -> list[Hole]:
    holes: list[Hole] = []
    if (obj.get("metadata") or {}).get("namespace") == NAMESPACE:
        holes.append(Text(("metadata", "namespace"), "{{ .Release.Namespace }}"))
    for index, subject in enumerate(obj.get("subjects") or []):
        if subject.get("namespace") == NAMESPACE:
            holes.append(Text(("subjects", index, "namespace"), "{{ .Release.Namespace }}"))
    return holes


def object_template(obj: Mapping[str, Any], spec: Template, reasons: Reasons) -> str:
    """One object as template text (without the file's condition)."""
    _, kind, _, name = identity(obj)
    where = f"{kind} {name}"
    work = copy.deepcopy(dict(obj))
    replacements: list[tuple[str, str]] = []  # (regex on the dumped text, replacement)
    for n, hole in enumerate([*_namespace_holes(obj), *spec.holes]):
        sentinel = f"__hole_{n}__"
        if isinstance(hole, Text):
            container, key = _locate(work, hole.path, where)
            if isinstance(container[key], dict | list):
                raise ManifestError(f"{where}: Text hole at {hole.path} is not a scalar")
            container[key] = sentinel
            replacements.append((re.escape(sentinel), hole.template))
            continue
        if isinstance(hole, Block):
            parent = _node(work, hole.parent, where)
            _set_key(parent, hole.key, sentinel)
            replacements.append((rf"^( *){sentinel}: null$", _block(hole)))
        elif isinstance(hole, Merge):
            mapping = _node(work, hole.path, where)
            mapping[sentinel] = None
            replacements.append((rf"^( *){sentinel}: null$", _merge(hole.expr)))
        elif isinstance(hole, Extend):
            _node(work, hole.path, where).append(sentinel)
            replacements.append((rf"^( *)- {sentinel}$", _merge(hole.expr)))
        else:
            items = _node(work, hole.path, where)
            items.append(sentinel)
            replacements.append((rf"^( *)- {sentinel}$", _item(hole)))
    text = gt.escape(dump_object(work, reasons, like=obj))
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, functools.partial(_fill, replacement), text, flags=re.MULTILINE)
        if count != 1:
            raise ManifestError(f"{where}: placeholder {pattern!r} found {count} times in the dumped YAML")
    if "__hole_" in text:
        raise ManifestError(f"{where}: a placeholder was not replaced")
    return text


def _fill(replacement: str, match: re.Match[str]) -> str:
    indent = match.group(1) if match.groups() else ""
    return replacement.replace("<I>", indent).replace("<N>", str(len(indent))).replace("<N+2>", str(len(indent) + 2))


def _block(hole: Block) -> str:
    lines = [
        f"<I>{{{{- with {hole.expr} }}}}",
        f"<I>{hole.key}:",
        "<I>  {{- toYaml . | nindent <N+2> }}",
        "<I>{{- end }}",
    ]
    return "\n".join(lines)


def _merge(expr: str) -> str:
    """Entries of a mapping (or items of a list) from a value, at the indentation of their siblings."""
    return f"<I>{{{{- with {expr} }}}}\n<I>{{{{- toYaml . | nindent <N> }}}}\n<I>{{{{- end }}}}"


def _item(hole: Item) -> str:
    return f"<I>{{{{- {hole.mode} {hole.expr} }}}}\n<I>- {hole.text}\n<I>{{{{- end }}}}"


# --- the chart -------------------------------------------------------------------------------------------------


def monitoring_objects() -> list[Json]:
    """The objects the Prometheus overlays add to the base (ServiceMonitors, PodMonitors, PrometheusRule)."""
    base = {identity(obj) for obj in render(BASE_DIR)}
    found: dict[tuple[str, str, str, str], Json] = {}
    for overlay in ("prometheus", "prometheus-podmonitor"):
        for obj in render(OVERLAYS_DIR / overlay):
            key = identity(obj)
            if key in base:
                continue
            if key in found and found[key] != obj:
                raise ManifestError(f"{key[1]} {key[3]} differs between the two Prometheus overlays")
            found[key] = obj
    return list(found.values())


def derive(objects: Sequence[Mapping[str, Any]], reasons: Reasons) -> dict[str, str]:
    """Template file name -> text, for ``objects`` in their order (the base's, then the monitoring ones)."""
    files: dict[str, list[str]] = {}
    for obj in objects:
        if kind_and_name(obj) in EXCLUDED:
            continue
        spec = template_for(obj)
        body = object_template(obj, spec, reasons)
        doc = f"---\n{body}"
        if spec.when:
            doc = f"{{{{- if {spec.when} }}}}\n{doc}{{{{- end }}}}\n"
        files.setdefault(spec.file, []).append(doc)
    return {file: HEADER + "".join(docs) for file, docs in sorted(files.items())}


def merge_values(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over the chart's: maps merge recursively, anything else replaces, and
    ``null`` removes the key."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def chart_values(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    loaded = yaml.safe_load((chart_dir / "values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def render_chart(
    values: Mapping[str, Any],
    templates: Mapping[str, str] | None = None,
    *,
    namespace: str = NAMESPACE,
    chart_dir: Path = CHART_DIR,
) -> list[Json]:
    """The objects the chart's templates give for ``values`` (already merged over the defaults), the way
    ``helm template --namespace NAMESPACE`` would: every ``templates/*.yaml``, skipping ``_*`` files."""
    if templates is None:
        templates = {
            p.name: p.read_text()
            for p in sorted((chart_dir / "templates").glob("*.yaml"))
            if not p.name.startswith("_")
        }
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    context = {
        "Values": _nulls_for_removed(chart_values(chart_dir), values),
        "Release": {"Namespace": namespace, "Name": "ironlb", "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }
    objects: list[Json] = []
    for name, text in sorted(templates.items()):
        try:
            rendered = gt.render(text, context)
        except gt.TemplateError as exc:
            raise ManifestError(f"templates/{name}: {exc}") from None
        objects.extend(doc for doc in yaml.safe_load_all(rendered) if doc)
    return objects


def _nulls_for_removed(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with None wherever the user removed a default with ``null``: Go templates read a missing map
    key as nil, which the strict renderer only allows for keys the chart declares (a typo stays an error)."""
    out = dict(values)
    for key, default in defaults.items():
        if key not in out:
            out[key] = None
        elif isinstance(default, Mapping) and isinstance(out[key], Mapping):
            out[key] = _nulls_for_removed(default, out[key])
    return out


#: The Prometheus switches that make the chart give each monitoring overlay.
OVERLAY_VALUES: dict[str, dict[str, Any]] = {
    "prometheus": {"prometheus": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}},
    "prometheus-podmonitor": {"prometheus": {"podMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}},
}


def differences(expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences saying how two object lists differ, compared object by object (order does not matter)."""
    want = {identity(obj): obj for obj in expected}
    got = {identity(obj): obj for obj in actual}
    out = [f"missing from the chart: {k[1]} {k[3]}" for k in sorted(want.keys() - got.keys())]
    out += [f"only in the chart: {k[1]} {k[3]}" for k in sorted(got.keys() - want.keys())]
    for key in sorted(want.keys() & got.keys()):
        if want[key] != got[key]:
            out.append(f"{key[1]} {key[3]} differs: {_first_difference(want[key], got[key])}")
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{index}]")
    return f"{path or '<root>'}: kustomize {a!r}, chart {b!r}"


def verify(templates: Mapping[str, str], base: Sequence[Mapping[str, Any]], chart_dir: Path = CHART_DIR) -> list[str]:
    """Problems found rendering ``templates`` with the chart's default values (and with each monitoring overlay's
    switches) against the kustomize output; empty when the chart gives exactly the kustomize objects."""
    defaults = chart_values(chart_dir)
    expected = [obj for obj in base if kind_and_name(obj) not in EXCLUDED]
    problems = [f"defaults: {p}" for p in differences(expected, render_chart(defaults, templates, chart_dir=chart_dir))]
    for overlay, switches in OVERLAY_VALUES.items():
        want = [obj for obj in render(OVERLAYS_DIR / overlay) if kind_and_name(obj) not in EXCLUDED]
        got = render_chart(merge_values(defaults, switches), templates, chart_dir=chart_dir)
        problems += [f"{overlay}: {p}" for p in differences(want, got)]
    return problems


__all__ = [
    "EXCLUDED",
    "OVERLAY_VALUES",
    "SPEC",
    "Block",
    "Extend",
    "Item",
    "Merge",
    "Named",
    "Prefixed",
    "Template",
    "Text",
    "chart_values",
    "derive",
    "differences",
    "kind_and_name",
    "merge_values",
    "monitoring_objects",
    "object_template",
    "render_chart",
    "verify",
]
