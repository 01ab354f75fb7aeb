"""YAML as Kubernetes tools read it, not as PyYAML's YAML 1.1 defaults do.

Why this exists: kubectl and MetalLB decode YAML with go-yaml, which does not know YAML 1.1's base-60 numbers or
timestamps. PyYAML does, so an unquoted BGP community such as ``64512:1`` silently becomes the integer 3870721
and ``2024-01-01`` a ``date``. A user's file must mean the same thing to ``ironlbctl`` as to ``kubectl apply``,
so this loader drops those resolvers (such scalars stay strings) and rejects duplicate keys in a mapping, as
``kubectl``'s strict decoding does, instead of keeping the last one silently.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class KubeLoader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """SafeLoader without base-60 numbers and timestamps, and with duplicate keys rejected."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key; the base class reports it
                if duplicate:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
        result: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return result


def _install_resolvers() -> None:
    resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries if not tag.endswith((":int", ":float", ":timestamp"))]
        resolvers[first] = kept
    KubeLoader.yaml_implicit_resolvers = resolvers
    KubeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
    KubeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


_install_resolvers()


def load(text: str) -> Any:
    """One YAML document. Raises :class:`yaml.YAMLError` (or RecursionError on absurd nesting)."""
    return yaml.load(text, Loader=KubeLoader)  # KubeLoader is a SafeLoader


def load_all(text: str) -> list[Any]:
    """Every document of a multi-document stream, empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=KubeLoader) if doc is not None]


def dump_all(documents: list[Any]) -> str:
    """Block-style YAML, keys in the given order, quoting anything a YAML 1.1 reader could misread."""
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, explicit_start=True)


__all__ = ["KubeLoader", "dump_all", "load", "load_all"]
