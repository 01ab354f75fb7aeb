"""What the parser reads and what it returns.

The daemons gather these inputs from informers, ``ironlbctl validate`` from YAML files; the parser itself never
does I/O, so the same function decides validity everywhere (ccm, speaker, offline validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ironlb.api import names
from ironlb.config.errors import ConfigError
from ironlb.config.model import Config


@dataclass(frozen=True, slots=True)
class ConfigSources:
    #: metallb.io objects of any configuration kind (IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer in
    #: v1beta1 or v1beta2, BFDProfile, Community), as dicts exactly as the API or a YAML file gives them.
    objects: Sequence[Mapping[str, Any]] = ()
    #: the ``config`` key of the legacy MetalLB ConfigMap (YAML text), or None when there is none.
    legacy_config: str | None = None
    #: namespace name -> its labels, to resolve ``serviceAllocation.namespaceSelectors``.
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: (namespace, name) -> Secret object, to resolve BGPPeer ``passwordSecret``.
    secrets: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: the namespace configuration objects must live in (MetalLB's webhooks deny others).
    namespace: str = names.DEFAULT_NAMESPACE
    #: False: leave BGPPeer ``passwordSecret`` unresolved (``BGPPeer.password`` stays None) and report nothing
    #: about the Secret. The ccm parses this way: it needs no BGP password and has no right to read Secrets.
    resolve_secrets: bool = True
    #: (additive) node name -> its labels, when known. Only used to decide whether two nodeSelectors lists share a
    #: node (BGPAdvertisement localPref conflicts, duplicate BGP sessions), as MetalLB does with the cluster's
    #: Nodes; None = Nodes unknown, then two lists share a node when either is empty or they share a selector.
    node_labels: Mapping[str, Mapping[str, str]] | None = None
    #: (additive) the legacy ConfigMap's name, for error messages (Helm installs named it ``metallb-config``).
    legacy_config_name: str = names.DEFAULT_LEGACY_CONFIGMAP


@dataclass(frozen=True, slots=True)
class ParseResult:
    #: None exactly when ``errors`` is not empty.
    config: Config | None
    errors: tuple[ConfigError, ...] = ()
    #: sentences about accepted-but-deprecated input (v1beta1 BGPPeer, disableMP, legacy ConfigMap, ...).
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


__all__ = ["ConfigSources", "ParseResult"]
