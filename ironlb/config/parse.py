"""``parse(sources) -> ParseResult``: MetalLB's CRs and/or legacy ConfigMap -> one validated :class:`Config`.

Theory of operation
-------------------
1. **Envelope.** Each object must be a mapping with ``apiVersion: metallb.io/v1beta1`` (``v1beta2`` too for
   BGPPeer), a configuration ``kind``, ``metadata.name`` (an RFC 1123 subdomain, as the API server requires) and,
   when given, ``metadata.namespace`` equal to the MetalLB namespace ("resource must be created in
   metallb-system namespace", MetalLB's webhook). Unknown kinds, versions and top-level fields are errors.
2. **Canonical order.** Objects are sorted by (kind, name, apiVersion, content) before anything else, so every
   later step - and therefore the Config *and* the list of errors - is the same whatever order the caller
   (an informer, a YAML file) delivered them in.
3. **Phase one** reads each object alone into a draft (``pools``, ``advertisements``, ``peers``, ``bfd``,
   ``communities``); the legacy ConfigMap (``legacy``) adds its drafts. Names must be unique per kind across
   both sources ("duplicate definition of ..."); the first in canonical order is kept so that the rest of the
   configuration is still checked.
4. **Phase two** (``resolve``) applies the cross-object rules and completes the model.
5. The result carries every error; ``config`` is None exactly when there is one.

``parse`` never raises: a bug that would raise is caught at the top and reported as an "internal error" sentence
(the daemons keep their last good configuration), and the fuzz tests assert that this never happens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ironlb.api import names
from ironlb.api.selectors import label_key_error, label_value_error
from ironlb.config import advertisements, bfd, communities, legacy, peers, pools
from ironlb.config.communities import AliasDraft
from ironlb.config.drafts import BFDDraft, BGPAdDraft, L2Draft, PeerDraft, PoolDraft
from ironlb.config.errors import ConfigError
from ironlb.config.fields import Fields
from ironlb.config.model import Config
from ironlb.config.report import Report, Where, q, show
from ironlb.config.resolve import resolve
from ironlb.config.sources import ConfigSources, ParseResult

GROUP_PREFIX = names.GROUP + "/"
TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_NAME = 253
#: how many nodes of one object the canonical sort key may visit (bounds work on alias-bomb YAML).
_CANON_BUDGET = 5000
_CANON_DEPTH = 40
_T = TypeVar("_T")


@dataclass(slots=True)
class _Drafts:
    pools: list[PoolDraft]
    l2: list[L2Draft]
    bgp: list[BGPAdDraft]
    peers: list[PeerDraft]
    bfd: list[BFDDraft]
    aliases: list[AliasDraft]


@dataclass(frozen=True, slots=True)
class _Object:
    kind: str
    version: str
    name: str
    labels: Mapping[str, str]
    spec: Any
    where: Where


class _Reader(Protocol):
    def __call__(self, obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None: ...


def parse(sources: ConfigSources) -> ParseResult:
    """Validate every object and return the Config, or every error (never raises)."""
    report = Report()
    config: Config | None = None
    try:
        config = _parse(sources, report)
    except Exception as exc:  # the last line of defence: a parser bug must not crash a daemon
        report.add(
            ConfigError("", "", "", f"internal error while parsing the configuration ({exc!r}); please report it.")
        )
    if report.errors:
        return ParseResult(None, tuple(report.errors), tuple(report.warnings))
    return ParseResult(config, (), tuple(report.warnings))


def _parse(sources: ConfigSources, report: Report) -> Config:
    drafts = _Drafts([], [], [], [], [], [])
    envelopes = [env for raw in list(sources.objects) if (env := _envelope(raw, sources.namespace, report))]
    envelopes.sort(key=lambda pair: pair[0])
    for _, obj in envelopes:
        _READERS[obj.kind](obj, drafts, sources, report)
    if sources.legacy_config is not None:
        old = legacy.read_legacy(sources.legacy_config, configmap=sources.legacy_config_name, report=report)
        report.warn(legacy.DEPRECATION_WARNING)
        drafts.pools += old.pools
        drafts.l2 += old.l2
        drafts.bgp += old.bgp
        drafts.peers += old.peers
        drafts.bfd += old.bfd
        drafts.aliases += old.aliases
    aliases = communities.collect_aliases(drafts.aliases, report)
    resolved = resolve(
        pools=_unique(drafts.pools, lambda d: d.pool.name, lambda d: d.where, "pool", report),
        l2=_unique(drafts.l2, lambda d: d.ad.name, lambda d: d.where, "L2Advertisement", report),
        bgp=_unique(drafts.bgp, lambda d: d.ad.name, lambda d: d.where, "BGPAdvertisement", report),
        peers=_unique(drafts.peers, lambda d: d.peer.name, lambda d: d.where, "BGPPeer", report),
        bfd=_unique(drafts.bfd, lambda d: d.profile.name, lambda d: d.where, "bfd profile", report),
        aliases=aliases,
        node_labels=sources.node_labels,
        report=report,
    )
    return Config.build(
        pools=resolved.pools,
        l2_advertisements=resolved.l2_advertisements,
        bgp_advertisements=resolved.bgp_advertisements,
        peers=resolved.peers,
        bfd_profiles=resolved.bfd_profiles,
        communities=aliases,
    )


def _unique(
    drafts: list[_T], name_of: Callable[[_T], str], where_of: Callable[[_T], Where], label: str, report: Report
) -> list[_T]:
    kept: dict[str, _T] = {}
    for draft in drafts:
        name = name_of(draft)
        if name in kept:
            first, where = where_of(kept[name]), where_of(draft)
            clash = "is defined twice" if first.heading == where.heading else f"has the same name as {first.heading}"
            report.add(
                where.at("", f"{clash}: duplicate definition of {label} {q(name)}; rename or delete one of them")
            )
            continue
        kept[name] = draft
    return sorted(kept.values(), key=name_of)


# -- the envelope: apiVersion, kind, metadata ------------------------------------------------------------------
def _envelope(raw: Any, namespace: str, report: Report) -> tuple[tuple[str, ...], _Object] | None:
    if not isinstance(raw, Mapping):
        report.add(
            ConfigError(
                "",
                "",
                "",
                f"A configuration object must be a mapping with apiVersion, kind, metadata and spec, not {show(raw)}.",
            )
        )
        return None
    kind = raw.get("kind")
    metadata = raw.get("metadata")
    raw_name = metadata.get("name") if isinstance(metadata, Mapping) else None
    name = raw_name if isinstance(raw_name, str) else ""
    shown_kind = kind if isinstance(kind, str) and kind else "object"
    where = Where.cr(shown_kind, name) if name else Where(shown_kind, "", f"{shown_kind} without metadata.name")
    if not isinstance(kind, str) or kind not in names.CONFIG_KINDS:
        report.add(
            where.at(
                "kind",
                f"{show(kind)} is not a MetalLB configuration kind; write one of {', '.join(sorted(_READERS))}",
            )
        )
        return None
    version = _version(raw.get("apiVersion"), kind, where, report)
    for key in raw:
        if key not in TOP_FIELDS:
            report.add(where.at(str(key), f"is not a field of {kind}; the fields are {', '.join(TOP_FIELDS)}"))
    labels = _metadata(metadata, namespace, where, report)
    if labels is None or not name or version is None:
        return None  # without a kind, version and name there is nothing to check the spec against
    # An object with a bad namespace, name or label is still read, so that its spec errors are reported too.
    obj = _Object(kind, version, name, labels, raw.get("spec"), where)
    return (kind, name, version, _canon(raw, [_CANON_BUDGET])), obj


def _version(api_version: Any, kind: str, where: Where, report: Report) -> str | None:
    served = ("v1beta2", "v1beta1") if kind == "BGPPeer" else ("v1beta1",)
    wanted = " or ".join(GROUP_PREFIX + v for v in served)
    if isinstance(api_version, str) and api_version.startswith(GROUP_PREFIX):
        version = api_version[len(GROUP_PREFIX) :]
        if version in served:
            return version
    report.add(where.at("apiVersion", f"{show(api_version)} does not serve {kind}; write {wanted}"))
    return None


def _metadata(metadata: Any, namespace: str, where: Where, report: Report) -> Mapping[str, str] | None:
    """The object's labels (valid ones), reporting name, namespace and label problems; None without a name."""
    if not isinstance(metadata, Mapping):
        report.add(where.at("metadata", f"must be an object with at least a name, not {show(metadata)}"))
        return None
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        report.add(where.at("metadata.name", "is required; name the object, e.g. first-pool"))
        return None
    if len(name) > _MAX_NAME or not _NAME.match(name):
        report.add(
            where.at(
                "metadata.name",
                f"{q(name)} is not a valid name; write lowercase letters, digits, '-' and '.', starting and ending "
                "with a letter or digit (RFC 1123)",
            )
        )
    object_ns = metadata.get("namespace")
    if object_ns is not None and object_ns != namespace:
        report.add(
            where.at(
                "metadata.namespace",
                f"{show(object_ns)} is not allowed: resource must be created in {namespace} namespace",
            )
        )
    labels = metadata.get("labels")
    clean: dict[str, str] = {}
    if labels is not None and not isinstance(labels, Mapping):
        report.add(where.at("metadata.labels", f"must map label keys to values, not {show(labels)}"))
    for key, value in labels.items() if isinstance(labels, Mapping) else ():
        problem = (
            "keys and values must be strings"
            if not isinstance(key, str) or not isinstance(value, str)
            else label_key_error(key) or label_value_error(value)
        )
        if problem:
            report.add(where.at(f"metadata.labels.{key}", f"is not a valid label: {problem}"))
        else:
            clean[key] = value
    return clean


def _canon(value: Any, budget: list[int], depth: int = 0) -> str:
    """A deterministic text for any nested value (dict order ignored); bounded in nodes and in depth."""
    budget[0] -= 1
    if budget[0] < 0 or depth > _CANON_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items = sorted((_canon(k, budget, depth + 1), _canon(v, budget, depth + 1)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canon(v, budget, depth + 1) for v in value) + "]"
    return f"{type(value).__name__}:{value!r}"


# -- one reader per kind -----------------------------------------------------------------------------------------
def _spec(obj: _Object, report: Report, known: tuple[str, ...], what: str) -> Fields:
    return Fields(obj.spec, obj.where, report, path="spec", known=known, what=what)


def _read_pool(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    if obj.spec is None:
        report.add(obj.where.at("spec", f"is required: pool has no prefixes defined; {pools.ADDRESS_HINT}"))
        return
    spec = _spec(obj, report, pools.SPEC_FIELDS, "an IPAddressPool spec")
    drafts.pools.append(pools.read_pool_cr(obj.name, spec, obj.labels, sources.namespace_labels))


def _read_l2(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    spec = _spec(obj, report, advertisements.L2_FIELDS, "an L2Advertisement spec")
    drafts.l2.append(advertisements.read_l2_cr(obj.name, spec))


def _read_bgp(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    spec = _spec(obj, report, advertisements.BGP_FIELDS, "a BGPAdvertisement spec")
    drafts.bgp.append(advertisements.read_bgp_cr(obj.name, spec))


def _read_peer(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    v1beta1 = obj.version == names.V1BETA1
    known: tuple[str, ...] = peers.V1BETA2_FIELDS
    if v1beta1:
        report.warn(f"{obj.where.heading}: metallb.io/v1beta1 BGPPeer is deprecated, please use v1beta2")
        newer = set(peers.V1BETA2_FIELDS) - set(peers.V1BETA1_FIELDS)
        present = sorted(k for k in obj.spec if k in newer) if isinstance(obj.spec, Mapping) else []
        for key in present:
            report.add(
                obj.where.at(f"spec.{key}", "is a metallb.io/v1beta2 field; write apiVersion: metallb.io/v1beta2")
            )
        known = (*peers.V1BETA1_FIELDS, *present)
    spec = _spec(obj, report, known, f"a metallb.io/{obj.version} BGPPeer spec")
    drafts.peers.append(
        peers.read_peer(
            obj.name,
            spec,
            v1beta1=v1beta1,
            secrets=sources.secrets,
            namespace=sources.namespace,
            resolve_secrets=sources.resolve_secrets,
        )
    )


def _read_bfd(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    spec = _spec(obj, report, bfd.CR_FIELDS, "a BFDProfile spec")
    drafts.bfd.append(BFDDraft(obj.where, bfd.read_bfd_profile(obj.name, spec)))


def _read_community(obj: _Object, drafts: _Drafts, sources: ConfigSources, report: Report) -> None:
    spec = _spec(obj, report, ("communities",), "a Community spec")
    drafts.aliases += communities.read_community_cr(spec)


_READERS: dict[str, _Reader] = {
    "IPAddressPool": _read_pool,
    "L2Advertisement": _read_l2,
    "BGPAdvertisement": _read_bgp,
    "BGPPeer": _read_peer,
    "BFDProfile": _read_bfd,
    "Community": _read_community,
}


__all__ = ["parse"]
