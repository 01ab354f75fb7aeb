"""Rendering the kustomize directories, and writing objects back as YAML that people read.

``kubectl kustomize`` is the one renderer: the rendered ``manifests/ironlb.yaml``, the Helm chart's templates and
the tests all start from its output, so none of them can say something the kustomize manifests do not.

kustomize drops YAML comments, and the reason written above each RBAC rule in ``manifests/base/rbac-*.yaml`` is
worth keeping for whoever reads ``ironlb.yaml`` or the chart before granting it. :func:`rule_reasons` reads those
comments from the sources (the comment lines directly above each ``- apiGroups:`` item), and :func:`dump` writes
them back above the same rules.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hack.manifests import BASE_DIR

Json = dict[str, Any]
#: (kind, namespace, name) of a Role or ClusterRole -> the reason lines of each of its rules, in order
Reasons = dict[tuple[str, str, str], list[list[str]]]

ROLE_KINDS = ("Role", "ClusterRole")


class ManifestError(RuntimeError):
    """kubectl is missing or failed, or the sources and the rendered objects disagree."""


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise ManifestError("kubectl is not on PATH: it renders the kustomize directories (kubectl kustomize DIR)")
    return found


@functools.lru_cache(maxsize=16)
def _kustomize(directory: Path) -> str:
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        raise ManifestError(f"kubectl kustomize {directory} failed: {proc.stderr.strip()}")
    return proc.stdout


def render(directory: Path) -> list[Json]:
    """The objects ``kubectl kustomize DIRECTORY`` produces, in its order (fresh objects on every call; kubectl
    runs once per directory and process)."""
    return [doc for doc in yaml.safe_load_all(_kustomize(directory.resolve())) if doc]


def identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion group, kind, namespace, name): what makes two objects the same object."""
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _role_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    _, kind, namespace, name = identity(obj)
    return kind, namespace, name


# --- RBAC rule reasons ----------------------------------------------------------------------------------------

_RULE_START = re.compile(r"^(\s*)- apiGroups:")
_DOC_SEPARATOR = re.compile(r"^---\s*$", re.MULTILINE)


def rule_reasons(sources: Iterable[Path] | None = None) -> Reasons:
    """The comment above each rule of every Role/ClusterRole in ``sources`` (default: manifests/base/rbac-*.yaml).

    Raises :class:`ManifestError` when a rule has no comment, or does not start with ``apiGroups`` (the marker
    this reader relies on), so a rule without a stated reason cannot be added.
    """
    reasons: Reasons = {}
    for path in sources if sources is not None else sorted(BASE_DIR.glob("rbac-*.yaml")):
        for text in _DOC_SEPARATOR.split(path.read_text()):
            obj = yaml.safe_load(text)
            if not isinstance(obj, dict) or obj.get("kind") not in ROLE_KINDS:
                continue
            lines = text.splitlines()
            starts = [i for i, line in enumerate(lines) if _RULE_START.match(line)]
            rules = obj.get("rules") or []
            if len(starts) != len(rules):
                raise ManifestError(
                    f"{path.name}: every rule of {obj['kind']} {obj['metadata']['name']} must "
                    "start with '- apiGroups:' so that its reason can be found"
                )
            found: list[list[str]] = []
            for start, rule in zip(starts, rules, strict=True):
                comment: list[str] = []
                i = start - 1
                while i >= 0 and lines[i].lstrip().startswith("#"):
                    comment.insert(0, lines[i].strip().removeprefix("#").strip())
                    i -= 1
                if not comment:
                    raise ManifestError(
                        f"{path.name}: {obj['kind']} {obj['metadata']['name']}: the rule on "
                        f"{rule.get('resources')} has no comment above it saying why it is needed"
                    )
                found.append(comment)
            reasons[_role_key(obj)] = found
    return reasons


# --- writing YAML ---------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as ``|`` blocks (CRD descriptions, PromQL) instead of escaped lines."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(value: Any) -> str:
    return str(yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096))


def dump_object(
    obj: Mapping[str, Any], reasons: Reasons | None = None, *, like: Mapping[str, Any] | None = None
) -> str:
    """One object as YAML; a Role/ClusterRole gets the reason of each rule as a comment above it (looked up as
    the object ``like`` when given: the Helm derivation dumps a copy whose namespace is a placeholder)."""
    key = _role_key(like if like is not None else obj)
    rule_comments = (reasons or {}).get(key) if obj.get("kind") in ROLE_KINDS else None
    if not rule_comments:
        return dump_yaml(dict(obj))
    rules = obj.get("rules") or []
    if len(rule_comments) != len(rules):
        raise ManifestError(
            f"{obj['kind']} {obj['metadata']['name']}: the sources have {len(rule_comments)} "
            f"rule comments for {len(rules)} rendered rules"
        )
    head = {key: value for key, value in obj.items() if key != "rules"}
    parts = [dump_yaml(head), "rules:\n"]
    for comment, rule in zip(rule_comments, rules, strict=True):
        parts.extend(f"# {line}\n" if line else "#\n" for line in comment)
        parts.append(dump_yaml([rule]))
    return "".join(parts)


def dump(objects: Sequence[Mapping[str, Any]], *, header: str = "", reasons: Reasons | None = None) -> str:
    """Several objects as one multi-document YAML file, each document introduced by ``---``."""
    out = [header] if header else []
    for obj in objects:
        out.append("---\n")
        out.append(dump_object(obj, reasons))
    return "".join(out)


__all__ = [
    "ManifestError",
    "Reasons",
    "dump",
    "dump_object",
    "dump_yaml",
    "identity",
    "kubectl",
    "render",
    "rule_reasons",
]
