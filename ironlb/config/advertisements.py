"""L2Advertisement and BGPAdvertisement objects -> drafts (pool selection and community aliases come later).

Theory of operation
-------------------
An advertisement says *how* the addresses of some pools are announced: in L2 from which nodes and interfaces,
in BGP with which prefix length, LOCAL_PREF and communities, to which peers, from which nodes. Selection of pools
(``ipAddressPools`` by name, ``ipAddressPoolSelectors`` by pool label, both empty meaning every pool) needs the
pools, and community aliases need the Community objects, so this module records them as references and
``resolve`` completes them.

Rules checked here because they need only the object itself (MetalLB's ``bgpAdvertisementFromCR`` and CRD):

* ``aggregationLength`` 1-32 and ``aggregationLengthV6`` 1-128 (defaults 32 and 128: one prefix per address);
* ``serviceSelectors`` only with the default aggregation lengths - an aggregated prefix covers many Services, so
  selecting Services cannot work ("serviceSelectors and aggregationLength are mutually exclusive");
* repeated pool names, peers, communities and selectors are rejected ("duplicate definition of ...");
* ``preferredNodeSelectors`` weights are 1-100 (Kubernetes' PreferredSchedulingTerm range).

Selector lists are ORs, so they are sorted into a canonical order; interfaces are a union, so they are sorted
and de-duplicated. Two objects that mean the same thing therefore compare equal.
"""

from __future__ import annotations

from ironlb.config.drafts import BGPAdDraft, L2Draft, PoolRefs
from ironlb.config.fields import Fields, compile_selector, interface_name_error
from ironlb.config.model import BGPAdvertisement, L2Advertisement, PreferredNode

L2_FIELDS = (
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "interfaces",
    "serviceSelectors",
    "preferredNodeSelectors",
)
BGP_FIELDS = (
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "peers",
    "serviceSelectors",
)
_U32_MAX = 0xFFFF_FFFF


def read_pool_refs(spec: Fields) -> PoolRefs:
    names = spec.strings("ipAddressPools", label="ipAddressPools")
    selectors = spec.selectors("ipAddressPoolSelectors", label="ipAddressPoolSelectors")
    listed = [spec.get(key) for key in ("ipAddressPools", "ipAddressPoolSelectors")]
    every = not any(isinstance(value, list) and value for value in listed)
    return PoolRefs(names=tuple(names), selectors=selectors, every_pool=every)


def read_l2_cr(name: str, spec: Fields) -> L2Draft:
    refs = read_pool_refs(spec)
    interfaces: set[str] = set()
    for path, interface in spec.strings("interfaces"):
        problem = interface_name_error(interface)
        if problem:
            spec.report.add(spec.where.at(path, problem))
            continue
        interfaces.add(interface)
    preferred: list[PreferredNode] = []
    for path, raw in spec.items("preferredNodeSelectors", item="{weight, preference} objects"):
        entry = Fields(
            raw,
            spec.where,
            spec.report,
            path=path,
            known=("weight", "preference"),
            what="a preferred node selector {weight, preference}",
        )
        weight = entry.integer("weight", 1, 100, required=True)
        if not entry.has("preference"):
            entry.error("preference", "is required; write a label selector such as {matchLabels: {zone: a}}")
            continue
        selector = compile_selector(entry.get("preference"), spec.where, spec.report, path=entry.sub("preference"))
        if weight is not None and selector is not None:
            preferred.append(PreferredNode(weight, selector))
    ad = L2Advertisement(
        name=name,
        pools=frozenset(),
        node_selectors=spec.selectors("nodeSelectors", label="nodeSelectors"),
        interfaces=tuple(sorted(interfaces)),
        service_selectors=spec.selectors("serviceSelectors", label="serviceSelectors"),
        preferred_nodes=tuple(sorted(preferred, key=lambda p: (p.weight, str(p.selector)))),
    )
    return L2Draft(spec.where, refs, ad)


def read_bgp_cr(name: str, spec: Fields) -> BGPAdDraft:
    refs = read_pool_refs(spec)
    length = spec.integer("aggregationLength", 1, 32, hint="32 (the default) announces each address alone")
    length_v6 = spec.integer("aggregationLengthV6", 1, 128, hint="128 (the default) announces each address alone")
    local_pref = spec.integer("localPref", 0, _U32_MAX)
    communities = spec.strings("communities", label="community")
    peers = spec.strings("peers", label="peers")
    service_selectors = spec.selectors("serviceSelectors", label="serviceSelectors")
    if service_selectors:
        for key, value, default in (("aggregationLength", length, 32), ("aggregationLengthV6", length_v6, 128)):
            if value is not None and value != default:
                spec.error(
                    "serviceSelectors",
                    f"is set together with {key} {value}: serviceSelectors and {key} are mutually exclusive, both "
                    f"cannot be set in {name}; an aggregated prefix covers many Services, so either remove "
                    f"serviceSelectors or set {key} to {default}",
                )
    ad = BGPAdvertisement(
        name=name,
        pools=frozenset(),
        aggregation_length=32 if length is None else length,
        aggregation_length_v6=128 if length_v6 is None else length_v6,
        local_pref=local_pref or None,
        node_selectors=spec.selectors("nodeSelectors", label="nodeSelectors"),
        peers=tuple(sorted(p for _, p in peers)),
        service_selectors=service_selectors,
    )
    return BGPAdDraft(spec.where, refs, ad, community_refs=tuple(communities), peer_refs=tuple(peers))


__all__ = ["BGP_FIELDS", "L2_FIELDS", "read_bgp_cr", "read_l2_cr", "read_pool_refs"]
