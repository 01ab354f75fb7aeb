"""Reading YAML files for ``ironlbctl``: every document sorted into what the configuration parser needs.

A file may hold anything ``kubectl apply -f`` takes: several documents, ``kind: List`` dumps from ``kubectl get
-o yaml``, and objects that are not configuration. Each document is classified:

* ``metallb.io`` configuration kinds (and unknown ``metallb.io`` kinds, so the parser reports them) -> objects;
* a ``ConfigMap`` with ``data.config`` -> the legacy configuration (its name and namespace are kept);
* a bare legacy document (only ``address-pools``, ``peers``, ``bgp-communities``, ``bfd-profiles``) -> the same;
* ``Namespace`` labels (for ``namespaceSelectors``), ``Secret`` objects (for ``passwordSecret``) and ``Node``
  labels (for node-overlap rules) -> resolution inputs;
* MetalLB's status kinds and anything else -> ignored, and counted so the summary can say so.

Problems with the files themselves (unreadable, not YAML, two legacy ConfigMaps) are returned as sentences
naming the file and the document number.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironlb.api import names
from ironlb.config import yamlload
from ironlb.config.legacy import TOP_FIELDS as LEGACY_FIELDS

GROUP_PREFIX = names.GROUP + "/"


@dataclass(slots=True)
class Inputs:
    objects: list[Mapping[str, Any]] = field(default_factory=list)
    legacy_config: str | None = None
    legacy_name: str = names.DEFAULT_LEGACY_CONFIGMAP
    legacy_namespace: str | None = None
    namespace_labels: dict[str, Mapping[str, str]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    node_labels: dict[str, Mapping[str, str]] = field(default_factory=dict)
    #: kinds seen but not used, with counts (``Deployment: 1``).
    ignored: dict[str, int] = field(default_factory=dict)
    #: sentences about the files themselves.
    problems: list[str] = field(default_factory=list)
    #: objects found (the items of a ``List`` count, the List itself does not).
    objects_read: int = 0


def read_text(path: str) -> str:
    """The text of ``path`` (``-`` is standard input). Raises OSError or UnicodeDecodeError."""
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def read_inputs(paths: list[str], *, namespace: str) -> Inputs:
    inputs = Inputs()
    for path in paths:
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            inputs.problems.append(f"{path}: cannot be read: {exc.strerror if isinstance(exc, OSError) else exc}.")
            continue
        try:
            documents = yamlload.load_all(text)
        except Exception as exc:  # PyYAML raises several types, and RecursionError on absurd nesting
            detail = " ".join(str(exc).split())[:300]
            inputs.problems.append(f"{path}: is not valid YAML: {detail}.")
            continue
        for index, document in enumerate(documents, start=1):
            _classify(document, f"{path}: document {index}", inputs, namespace=namespace)
    return inputs


def _classify(document: Any, where: str, inputs: Inputs, *, namespace: str) -> None:
    if not isinstance(document, Mapping):
        shape = {list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}.get(
            type(document), type(document).__name__
        )
        inputs.problems.append(f"{where} is not a Kubernetes object (a YAML mapping) but {shape}.")
        return
    kind = document.get("kind")
    api_version = document.get("apiVersion")
    if kind is None and api_version is None and document and set(document) <= set(LEGACY_FIELDS):
        inputs.objects_read += 1
        _set_legacy(yamlload.dump_all([dict(document)]), where, inputs, name=None, namespace=None)
        return
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
        for index, item in enumerate(document["items"]):
            _classify(item, f"{where} item {index}", inputs, namespace=namespace)
        return
    inputs.objects_read += 1
    metadata = document.get("metadata")
    meta: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
    name = meta.get("name")
    if isinstance(api_version, str) and api_version.startswith(GROUP_PREFIX):
        if kind in names.STATUS_KINDS:
            _ignore(str(kind), inputs)
        else:
            inputs.objects.append(document)
        return
    labels = meta.get("labels")
    clean_labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
    if (
        kind == "ConfigMap"
        and isinstance(document.get("data"), Mapping)
        and names.LEGACY_CONFIGMAP_KEY in document["data"]
    ):
        config = document["data"][names.LEGACY_CONFIGMAP_KEY]
        if not isinstance(config, str):
            inputs.problems.append(f"{where}: ConfigMap data.config must be a string holding the YAML configuration.")
            return
        cm_ns = meta.get("namespace")
        _set_legacy(config, where, inputs, name=str(name or names.DEFAULT_LEGACY_CONFIGMAP), namespace=cm_ns)
    elif kind == "Namespace" and isinstance(name, str):
        inputs.namespace_labels[name] = clean_labels
    elif kind == "Node" and isinstance(name, str):
        inputs.node_labels[name] = clean_labels
    elif kind == "Secret" and isinstance(name, str):
        secret_ns = meta.get("namespace")
        inputs.secrets[(secret_ns if isinstance(secret_ns, str) else namespace, name)] = document
    else:
        _ignore(str(kind), inputs)


def _set_legacy(text: str, where: str, inputs: Inputs, *, name: str | None, namespace: Any) -> None:
    if inputs.legacy_config is not None:
        inputs.problems.append(
            f"{where}: a second legacy MetalLB configuration; MetalLB reads one ConfigMap, so merge them into one."
        )
        return
    inputs.legacy_config = text
    if name is not None:
        inputs.legacy_name = name
    if isinstance(namespace, str):
        inputs.legacy_namespace = namespace


def _ignore(kind: str, inputs: Inputs) -> None:
    inputs.ignored[kind] = inputs.ignored.get(kind, 0) + 1


__all__ = ["Inputs", "read_inputs", "read_text"]
