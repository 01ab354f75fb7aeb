"""MetalLB-compatible configuration: CRs and/or the legacy ConfigMap -> one validated, immutable :class:`Config`.

``parse(ConfigSources(objects=[...], legacy_config=...)) -> ParseResult`` is the one entry point; it never
raises, collects every error, and is pure (no I/O), so the ccm, the speaker and ``ironlbctl validate`` decide
validity identically. ``legacy_to_objects`` (``ironlbctl convert``) turns a legacy ConfigMap into equivalent CRs.
"""

from __future__ import annotations

from ironlb.config.convert import ConvertResult, legacy_to_objects, render_objects
from ironlb.config.errors import ConfigError
from ironlb.config.model import (
    DEFAULT_HOLD_TIME,
    DEFAULT_PEER_PORT,
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    CommunityKind,
    Config,
    DynamicASN,
    L2Advertisement,
    Pool,
    PreferredNode,
    SecretRef,
    ServiceAllocation,
)
from ironlb.config.parse import parse
from ironlb.config.sources import ConfigSources, ParseResult

__all__ = [
    "parse",
    "Config",
    "ConfigSources",
    "ParseResult",
    "ConfigError",
    "ConvertResult",
    "legacy_to_objects",
    "render_objects",
    "DEFAULT_HOLD_TIME",
    "DEFAULT_PEER_PORT",
    "BFDProfile",
    "BGPAdvertisement",
    "BGPPeer",
    "Community",
    "CommunityKind",
    "DynamicASN",
    "L2Advertisement",
    "Pool",
    "PreferredNode",
    "SecretRef",
    "ServiceAllocation",
]
