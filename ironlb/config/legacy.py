"""The legacy ConfigMap (MetalLB <= 0.12): the YAML under its ``config`` key -> the same drafts as the CRs.

Theory of operation
-------------------
Before 0.13 MetalLB read one YAML document::

    peers:            [{peer-address, peer-asn, my-asn, peer-port, hold-time, keepalive-time, router-id,
                        source-address, password, bfd-profile, ebgp-multihop, node-selectors}]
    address-pools:    [{name, protocol: layer2|bgp, addresses, auto-assign, avoid-buggy-ips,
                        bgp-advertisements: [{aggregation-length, aggregation-length-v6, localpref, communities}]}]
    bgp-communities:  {alias: "AA:NN"}
    bfd-profiles:     [{name, receive-interval, transmit-interval, detect-multiplier, echo-interval,
                        echo-mode, passive-mode, minimum-ttl}]

The protocol lived on the pool; the CRs moved it to advertisements. So a ``layer2`` pool yields an
L2Advertisement for that pool alone, and a ``bgp`` pool one BGPAdvertisement per ``bgp-advertisements`` entry
(or one default advertisement when there is none), each sent to every peer from every node - exactly what 0.12
did. Generated objects are named after their pool (:func:`l2_name`, :func:`bgp_name`) and peers ``peer1``,
``peer2``... in document order, as MetalLB's ``configmaptocrs`` names them; ``ironlbctl convert`` uses the same
names, so converting and parsing the result gives an equal Config.

0.12 rules kept: ``my-asn`` and ``peer-asn`` required and not 0, ``peer-address`` required, timers rounded down to
whole seconds, hold time 90 s when unset (so a keepalive is checked against 90 s), ``bgp-advertisements`` only on
``bgp`` pools, unknown fields rejected (0.12 decoded strictly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ironlb.api.selectors import LabelSelector
from ironlb.config import yamlload
from ironlb.config.bfd import LEGACY_FIELDS as BFD_FIELDS
from ironlb.config.bfd import read_bfd_profile
from ironlb.config.communities import AliasDraft, read_legacy_aliases
from ironlb.config.drafts import BFDDraft, BGPAdDraft, BGPAdFields, L2Draft, PeerDraft, PoolDraft, PoolRefs
from ironlb.config.fields import Fields, compile_selector
from ironlb.config.model import DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, BGPAdvertisement, BGPPeer, L2Advertisement, Pool
from ironlb.config.peers import read_address, read_duration, read_router_id
from ironlb.config.pools import ADDRESS_HINT, read_addresses
from ironlb.config.report import Report, Where, q, show

TOP_FIELDS = ("peers", "address-pools", "bgp-communities", "bfd-profiles")
POOL_FIELDS = ("name", "protocol", "addresses", "auto-assign", "avoid-buggy-ips", "bgp-advertisements")
AD_FIELDS = ("aggregation-length", "aggregation-length-v6", "localpref", "communities")
PEER_FIELDS = (
    "peer-address",
    "peer-asn",
    "my-asn",
    "peer-port",
    "hold-time",
    "keepalive-time",
    "router-id",
    "source-address",
    "password",
    "bfd-profile",
    "ebgp-multihop",
    "node-selectors",
)
SELECTOR_FIELDS = ("match-labels", "match-expressions")
EXPRESSION_FIELDS = ("key", "operator", "values")
PROTOCOLS = ("layer2", "bgp")
DEPRECATION_WARNING = (
    "the legacy MetalLB ConfigMap format is deprecated since MetalLB 0.13; run `ironlbctl convert` to turn it into "
    "IPAddressPool, L2Advertisement, BGPAdvertisement and BGPPeer objects"
)
_U32_MAX = 0xFFFF_FFFF


def l2_name(pool: str) -> str:
    """The L2Advertisement generated for a ``layer2`` pool."""
    return pool


def bgp_name(pool: str, index: int, count: int) -> str:
    """The BGPAdvertisement generated for entry ``index`` (0-based) of a ``bgp`` pool's ``count`` entries."""
    return pool if count <= 1 else f"{pool}-{index + 1}"


def peer_name(index: int) -> str:
    return f"peer{index + 1}"


@dataclass(slots=True)
class LegacyDrafts:
    pools: list[PoolDraft] = field(default_factory=list)
    l2: list[L2Draft] = field(default_factory=list)
    bgp: list[BGPAdDraft] = field(default_factory=list)
    peers: list[PeerDraft] = field(default_factory=list)
    bfd: list[BFDDraft] = field(default_factory=list)
    aliases: list[AliasDraft] = field(default_factory=list)


def load_document(text: str, where: Where, report: Report) -> Mapping[str, Any] | None:
    """The YAML text -> its top-level mapping (an empty document is an empty configuration)."""
    try:
        document = yamlload.load(text)
    except Exception as exc:  # PyYAML raises several types, and RecursionError on deep nesting
        detail = " ".join(str(exc).split())[:300]
        report.add(where.at("config", f"could not parse config: {detail}; fix the YAML syntax"))
        return None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        report.add(where.at("config", f"must be a YAML mapping with {', '.join(TOP_FIELDS)}, not {show(document)}"))
        return None
    return document


def read_legacy(text: str, *, configmap: str, report: Report) -> LegacyDrafts:
    """Parse the ConfigMap's ``config`` text into drafts; every problem goes to ``report``."""
    drafts = LegacyDrafts()
    where = Where("ConfigMap", configmap, f"ConfigMap {q(configmap)}")
    document = load_document(text, where, report)
    if document is None:
        return drafts
    top = Fields(document, where, report, path="", known=TOP_FIELDS, what="the legacy MetalLB configuration")
    drafts.aliases = read_legacy_aliases(top.get("bgp-communities"), where, report, path="bgp-communities")
    for path, raw in top.items("bfd-profiles", item="BFD profiles"):
        _read_bfd(path, raw, where, report, drafts)
    for index, (path, raw) in enumerate(top.items("peers", item="peers")):
        _read_peer(index, path, raw, where=where, report=report, drafts=drafts)
    for path, raw in top.items("address-pools", item="address pools"):
        _read_pool(path, raw, where, report, drafts)
    return drafts


def _read_bfd(path: str, raw: Any, where: Where, report: Report, drafts: LegacyDrafts) -> None:
    fields = Fields(raw, where, report, path=path, known=BFD_FIELDS, what="a legacy BFD profile")
    name = fields.string("name", required=True, hint="missing bfd profile name")
    if not name:
        return
    if _repeated(name, fields, [d.profile.name for d in drafts.bfd], "bfd profile"):
        return
    profile_where = Where("ConfigMap", where.name, f"{where.heading} bfd profile {q(name)}")
    fields.where = profile_where
    drafts.bfd.append(BFDDraft(profile_where, read_bfd_profile(name, fields, legacy=True)))


def _repeated(name: str, fields: Fields, earlier: list[str], label: str) -> bool:
    """MetalLB 0.12's "duplicate definition of pool": reported at the second name, which is then skipped."""
    if name not in earlier:
        return False
    fields.error("name", f"{q(name)} is already used by an earlier entry: duplicate definition of {label} {q(name)}")
    return True


def _read_pool(path: str, raw: Any, where: Where, report: Report, drafts: LegacyDrafts) -> None:
    fields = Fields(raw, where, report, path=path, known=POOL_FIELDS, what="a legacy address pool")
    name = fields.string("name", required=True, hint="missing pool name; every address pool needs a name")
    if not name:
        if name == "":
            fields.error("name", "is empty: missing pool name; every address pool needs a name")
        return
    if _repeated(name, fields, [d.pool.name for d in drafts.pools], "pool"):
        return
    fields.where = pool_where = Where("ConfigMap", where.name, f"{where.heading} pool {q(name)}")
    protocol = fields.string("protocol")
    if protocol is None and not fields.has("protocol"):
        fields.error("protocol", "is missing: address pool is missing the protocol field; write layer2 or bgp")
    elif protocol is not None and protocol not in PROTOCOLS:
        fields.error(
            "protocol", f"{q(protocol)} is not a protocol: unknown protocol {q(protocol)}; write layer2 or bgp"
        )
    entries = read_addresses(fields, "addresses", required_hint=ADDRESS_HINT)
    auto_assign = fields.boolean("auto-assign")
    pool = Pool(
        name=name,
        cidrs=tuple(c for e in entries for c in e.cidrs),
        auto_assign=True if auto_assign is None else auto_assign,
        avoid_buggy_ips=bool(fields.boolean("avoid-buggy-ips")),
    )
    drafts.pools.append(PoolDraft(pool_where, pool, entries))
    refs = PoolRefs(names=((fields.sub("name"), name),), every_pool=False)
    ads = fields.items("bgp-advertisements", item="BGP advertisements")
    if protocol == "layer2":
        if ads:
            fields.error(
                "bgp-advertisements",
                "is set on a layer2 pool: cannot have bgp-advertisements configuration element in a layer2 address "
                "pool; remove it or change the protocol to bgp",
            )
        drafts.l2.append(L2Draft(pool_where, refs, L2Advertisement(name=l2_name(name), pools=frozenset())))
    elif protocol == "bgp":
        if not ads:
            ad = BGPAdvertisement(name=bgp_name(name, 0, 1), pools=frozenset())
            drafts.bgp.append(BGPAdDraft(pool_where, refs, ad, fields=_ad_fields(fields.sub("bgp-advertisements"))))
        for index, (ad_path, raw_ad) in enumerate(ads):
            ad_name = bgp_name(name, index, len(ads))
            drafts.bgp.append(_read_ad(ad_name, ad_path, raw_ad, where=pool_where, report=report, refs=refs))


def _ad_fields(path: str) -> BGPAdFields:
    return BGPAdFields(
        local_pref=f"{path}.localpref",
        aggregation_length=f"{path}.aggregation-length",
        aggregation_length_v6=f"{path}.aggregation-length-v6",
    )


def _read_ad(name: str, path: str, raw: Any, *, where: Where, report: Report, refs: PoolRefs) -> BGPAdDraft:
    fields = Fields(raw, where, report, path=path, known=AD_FIELDS, what="a legacy BGP advertisement")
    length = fields.integer("aggregation-length", 1, 32, hint="32 (the default) announces each address alone")
    length_v6 = fields.integer("aggregation-length-v6", 1, 128, hint="128 (the default) announces each address alone")
    local_pref = fields.integer("localpref", 0, _U32_MAX)
    communities = fields.strings("communities", label="community")
    ad = BGPAdvertisement(
        name=name,
        pools=frozenset(),
        aggregation_length=32 if length is None else length,
        aggregation_length_v6=128 if length_v6 is None else length_v6,
        local_pref=local_pref or None,
    )
    return BGPAdDraft(where, refs, ad, community_refs=tuple(communities), fields=_ad_fields(path))


def _read_peer(index: int, path: str, raw: Any, *, where: Where, report: Report, drafts: LegacyDrafts) -> None:
    fields = Fields(raw, where, report, path=path, known=PEER_FIELDS, what="a legacy peer")
    if isinstance(raw, Mapping) and isinstance(raw.get("peer-address"), str):
        fields.where = Where("ConfigMap", where.name, f"{where.heading} peer {q(raw['peer-address'])}")
    asns: dict[str, int] = {}
    for key, missing in (("my-asn", "missing local ASN"), ("peer-asn", "missing peer ASN")):
        value = fields.integer(key, 0, _U32_MAX)
        if not value and (value == 0 or not fields.has(key)):
            fields.error(key, f"is missing or 0: {missing}; write an AS number from 1 to 4294967295")
        elif value:
            asns[key] = value
    address = read_address(fields, "peer-address", "invalid peer IP")
    if not fields.get("peer-address"):
        fields.error("peer-address", 'is missing: invalid peer IP ""; write the router\'s address, e.g. 192.0.2.1')
    hold, keepalive = _legacy_timers(fields)
    multihop = bool(fields.boolean("ebgp-multihop"))
    if multihop and asns.get("my-asn") is not None and asns.get("my-asn") == asns.get("peer-asn"):
        fields.error(
            "ebgp-multihop", "is true on an iBGP session: invalid ebgp-multihop parameter set for an ibgp peer"
        )
    selectors: list[LabelSelector] = []
    for sel_path, raw_sel in fields.items("node-selectors", item="node selectors"):
        selector = _legacy_selector(sel_path, raw_sel, fields.where, report)
        if selector is not None and selector not in selectors:
            selectors.append(selector)
    peer = BGPPeer(
        name=peer_name(index),
        my_asn=asns.get("my-asn", 0),
        peer_asn=asns.get("peer-asn"),
        peer_address=address,
        source_address=read_address(fields, "source-address", "invalid source IP"),
        peer_port=fields.integer("peer-port", 0, 65535, hint="179 is BGP's port") or DEFAULT_PEER_PORT,
        hold_time=hold,
        keepalive_time=keepalive,
        router_id=read_router_id(fields, "router-id"),
        node_selectors=tuple(sorted(selectors, key=str)),
        password=fields.string("password") or None,
        bfd_profile=fields.string("bfd-profile") or None,
        ebgp_multihop=multihop,
    )
    drafts.peers.append(
        PeerDraft(fields.where, peer, bfd_field=fields.sub("bfd-profile"), address_field=fields.sub("peer-address"))
    )


def _legacy_timers(fields: Fields) -> tuple[float | None, float | None]:
    """0.12's timers: whole seconds (rounded down), hold >= 3 s or 0, keepalive <= hold (90 s when unset)."""
    hold = read_duration(fields, "hold-time", "invalid hold time")
    keepalive = read_duration(fields, "keepalive-time", "invalid keepalive time")
    hold = None if hold is None else float(int(hold))
    keepalive = None if keepalive is None else float(int(keepalive))
    if hold is not None and hold != 0 and hold < 3:
        text = q(fields.get("hold-time"))
        fields.error("hold-time", f"{text} is too short: invalid hold time {text}: must be 0 or >=3s")
        return None, keepalive
    if keepalive is not None:
        limit = DEFAULT_HOLD_TIME if hold is None else hold
        if keepalive > limit:
            fields.error(
                "keepalive-time",
                f"{q(fields.get('keepalive-time'))} is longer than the hold time ({limit:g}s): invalid keepaliveTime "
                f"{q(fields.get('keepalive-time'))}",
            )
        elif hold is None:
            hold = DEFAULT_HOLD_TIME  # 0.12 filled in 90 s, so the keepalive pairs with 90 s, not 3 x keepalive
    return hold, keepalive


def _legacy_selector(path: str, raw: Any, where: Where, report: Report) -> LabelSelector | None:
    """``{match-labels, match-expressions: [{key, operator, values}]}`` -> a compiled selector."""
    fields = Fields(raw, where, report, path=path, known=SELECTOR_FIELDS, what="a legacy node selector")
    converted: dict[str, Any] = {}
    if fields.has("match-labels"):
        converted["matchLabels"] = fields.get("match-labels")
    expressions = []
    for expr_path, raw_expr in fields.items("match-expressions", item="match expressions"):
        expr = Fields(raw_expr, where, report, path=expr_path, known=EXPRESSION_FIELDS, what="a match expression")
        expressions.append(dict(expr.raw))
    if expressions:
        converted["matchExpressions"] = expressions
    return compile_selector(converted, where, report, path=path)


__all__ = [
    "DEPRECATION_WARNING",
    "LegacyDrafts",
    "bgp_name",
    "l2_name",
    "load_document",
    "peer_name",
    "read_legacy",
]
