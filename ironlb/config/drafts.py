"""Per-object parse results that still need the other objects to become model types.

Theory of operation
-------------------
Parsing runs in two phases. Phase one reads each object alone (a CR, or one entry of the legacy ConfigMap) and
produces a *draft*: the model object with everything that object alone determines, plus the references it makes
to other objects, each with the field it came from so that phase two can name it in an error. Phase two
(``resolve``) sees every draft at once and applies the cross-object rules: pool overlaps, pool selection, alias
and profile lookups, localPref conflicts, duplicates.

CRs and the legacy ConfigMap both produce drafts, which is what lets the two be merged and checked together.
"""

from __future__ import annotations

from dataclasses import dataclass

from ironlb.api.addresses import IPNetwork
from ironlb.api.selectors import LabelSelector
from ironlb.config.model import BFDProfile, BGPAdvertisement, BGPPeer, L2Advertisement, Pool
from ironlb.config.report import Where


@dataclass(frozen=True, slots=True)
class AddressEntry:
    """One ``addresses`` entry as written, and the CIDRs it stands for (a range may need several)."""

    field: str
    text: str
    cidrs: tuple[IPNetwork, ...]


@dataclass(frozen=True, slots=True)
class PoolDraft:
    where: Where
    pool: Pool
    entries: tuple[AddressEntry, ...]


@dataclass(frozen=True, slots=True)
class PoolRefs:
    """``ipAddressPools`` (with the field of each name) and ``ipAddressPoolSelectors``.

    ``every_pool`` is MetalLB's rule: when both lists are empty the advertisement applies to all pools.
    """

    names: tuple[tuple[str, str], ...] = ()
    selectors: tuple[LabelSelector, ...] = ()
    every_pool: bool = True


@dataclass(frozen=True, slots=True)
class L2Draft:
    where: Where
    refs: PoolRefs
    #: complete except ``pools``, which phase two fills in.
    ad: L2Advertisement


@dataclass(frozen=True, slots=True)
class BGPAdFields:
    """How this draft's fields are spelled in messages (CR camelCase or legacy kebab-case paths)."""

    local_pref: str = "spec.localPref"
    aggregation_length: str = "spec.aggregationLength"
    aggregation_length_v6: str = "spec.aggregationLengthV6"


@dataclass(frozen=True, slots=True)
class BGPAdDraft:
    where: Where
    refs: PoolRefs
    #: complete except ``pools`` and ``communities``, which phase two fills in.
    ad: BGPAdvertisement
    community_refs: tuple[tuple[str, str], ...] = ()
    peer_refs: tuple[tuple[str, str], ...] = ()
    fields: BGPAdFields = BGPAdFields()


@dataclass(frozen=True, slots=True)
class PeerDraft:
    where: Where
    peer: BGPPeer
    bfd_field: str = "spec.bfdProfile"
    address_field: str = "spec.peerAddress"


@dataclass(frozen=True, slots=True)
class BFDDraft:
    where: Where
    profile: BFDProfile


__all__ = ["AddressEntry", "BFDDraft", "BGPAdDraft", "BGPAdFields", "L2Draft", "PeerDraft", "PoolDraft", "PoolRefs"]
