"""Legacy ConfigMap -> equivalent metallb.io CRs (``ironlbctl convert``), checked by parsing both.

Theory of operation
-------------------
The conversion is MetalLB's ``configmaptocrs`` mapping, with ironlb's guarantee on top: the objects it emits
parse to a Config *equal* to the one the ConfigMap parses to, and the function checks that before returning
(so a conversion bug is an error, never a silently different cluster).

* each address pool -> an IPAddressPool of the same name, its ``addresses`` entries kept as written;
* a ``layer2`` pool -> an L2Advertisement for it; a ``bgp`` pool -> one BGPAdvertisement per entry (or one
  default), named as ``legacy.l2_name``/``legacy.bgp_name`` name them, community aliases kept as aliases;
* each peer -> a ``metallb.io/v1beta2`` BGPPeer ``peer1``, ``peer2``... rendered from the parsed model, so the
  0.12 timer rules (whole seconds, 90 s hold when only a keepalive is given) come out explicit;
* ``bfd-profiles`` -> BFDProfiles, ``bgp-communities`` -> one Community object named ``communities``.

Names are kept, never rewritten: Services select pools by name (``metallb.io/address-pool``), so a silently
renamed pool would break them. A name the API server would refuse is an error that suggests a valid one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ironlb.api import names
from ironlb.api.selectors import LabelSelector, Operator
from ironlb.config import legacy, yamlload
from ironlb.config.bfd import LEGACY_TO_CR as BFD_LEGACY_TO_CR
from ironlb.config.durations import format_duration
from ironlb.config.errors import ConfigError
from ironlb.config.model import DEFAULT_PEER_PORT, BGPPeer, Config
from ironlb.config.parse import parse
from ironlb.config.report import Report, Where, q
from ironlb.config.sources import ConfigSources

HEADER = "# Converted from the legacy MetalLB ConfigMap by `ironlbctl convert`; review, then `kubectl apply -f`.\n"
API_V1BETA1 = f"{names.GROUP}/{names.V1BETA1}"
API_V1BETA2 = f"{names.GROUP}/{names.V1BETA2}"
COMMUNITY_OBJECT = "communities"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_CR_PORT = 16384


@dataclass(frozen=True, slots=True)
class ConvertResult:
    #: the CRs, in apply order; empty exactly when ``errors`` is not.
    objects: tuple[dict[str, Any], ...] = ()
    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def legacy_to_objects(
    text: str, *, namespace: str = names.DEFAULT_NAMESPACE, configmap: str = names.DEFAULT_LEGACY_CONFIGMAP
) -> ConvertResult:
    """Convert the legacy ``config`` text into metallb.io objects (dicts) equivalent to it."""
    sources = ConfigSources(legacy_config=text, namespace=namespace, legacy_config_name=configmap)
    parsed = parse(sources)
    if parsed.config is None:
        return ConvertResult((), parsed.errors, parsed.warnings)
    report = Report()
    where = Where("ConfigMap", configmap, f"ConfigMap {q(configmap)}")
    document = legacy.load_document(text, where, report)
    assert document is not None  # it parsed above
    objects = _convert(document, parsed.config, namespace, where, report)
    if not report.errors:
        check = parse(ConfigSources(objects=objects, namespace=namespace))
        if check.config != parsed.config:
            details = "; ".join(e.message for e in check.errors[:3])
            report.add(
                where.at(
                    "config",
                    "could not be converted faithfully: the objects would mean a different configuration "
                    f"(internal error, please report it){': ' + details if details else ''}",
                )
            )
    warnings = tuple(w for w in parsed.warnings if w != legacy.DEPRECATION_WARNING + ".")
    if report.errors:
        return ConvertResult((), tuple(report.errors), warnings)
    return ConvertResult(tuple(objects), (), warnings)


def render_objects(objects: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """The objects as one multi-document YAML stream, with a header comment."""
    return HEADER + yamlload.dump_all(list(objects))


def _convert(
    document: Mapping[str, Any], config: Config, namespace: str, where: Where, report: Report
) -> list[dict[str, Any]]:
    pools: list[dict[str, Any]] = []
    l2: list[dict[str, Any]] = []
    bgp: list[dict[str, Any]] = []
    for index, raw in enumerate(document.get("address-pools") or []):
        name = raw["name"]
        _check_name(name, f"address-pools[{index}].name", "pool", where, report)
        spec: dict[str, Any] = {"addresses": [a.strip() for a in raw["addresses"]]}
        if raw.get("auto-assign") is not None:
            spec["autoAssign"] = raw["auto-assign"]
        if raw.get("avoid-buggy-ips"):
            spec["avoidBuggyIPs"] = True
        pools.append(_object(API_V1BETA1, "IPAddressPool", name, namespace, spec))
        if raw["protocol"] == "layer2":
            l2.append(
                _object(API_V1BETA1, "L2Advertisement", legacy.l2_name(name), namespace, {"ipAddressPools": [name]})
            )
            continue
        ads = raw.get("bgp-advertisements") or [{}]
        for ad_index, ad in enumerate(ads):
            ad_spec: dict[str, Any] = {}
            for old, new in (
                ("aggregation-length", "aggregationLength"),
                ("aggregation-length-v6", "aggregationLengthV6"),
            ):
                if ad.get(old) is not None:
                    ad_spec[new] = ad[old]
            if ad.get("localpref"):
                ad_spec["localPref"] = ad["localpref"]
            if ad.get("communities"):
                ad_spec["communities"] = list(ad["communities"])
            ad_spec["ipAddressPools"] = [name]
            ad_name = legacy.bgp_name(name, ad_index, len(ads))
            bgp.append(_object(API_V1BETA1, "BGPAdvertisement", ad_name, namespace, ad_spec))
    peers = [
        _peer(peer, namespace, f"peers[{i}]", where, report)
        for i, peer in enumerate(sorted(config.peers, key=lambda p: int(p.name.removeprefix("peer"))))
    ]
    profiles: list[dict[str, Any]] = []
    for index, raw in enumerate(document.get("bfd-profiles") or []):
        _check_name(raw["name"], f"bfd-profiles[{index}].name", "BFD profile", where, report)
        spec = {BFD_LEGACY_TO_CR[k]: v for k, v in raw.items() if k in BFD_LEGACY_TO_CR and v is not None}
        profiles.append(_object(API_V1BETA1, "BFDProfile", raw["name"], namespace, spec))
    aliases = document.get("bgp-communities") or {}
    community = []
    if aliases:
        entries = [{"name": n, "value": aliases[n]} for n in sorted(aliases)]
        community.append(_object(API_V1BETA1, "Community", COMMUNITY_OBJECT, namespace, {"communities": entries}))
    return [*pools, *l2, *bgp, *peers, *profiles, *community]


def _object(api_version: str, kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _check_name(name: str, field_path: str, what: str, where: Where, report: Report) -> None:
    if len(name) <= 253 and _NAME.match(name):
        return
    suggestion = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.") or "pool"
    report.add(
        where.at(
            field_path,
            f"{q(name)} cannot name a Kubernetes object; rename the {what} (e.g. to {q(suggestion[:253])}) in the "
            "ConfigMap first, and update Services that name it in a metallb.universe.tf/address-pool annotation",
        )
    )


def _peer(peer: BGPPeer, namespace: str, field_path: str, where: Where, report: Report) -> dict[str, Any]:
    spec: dict[str, Any] = {"myASN": peer.my_asn, "peerASN": peer.peer_asn, "peerAddress": str(peer.peer_address)}
    if peer.source_address is not None:
        spec["sourceAddress"] = str(peer.source_address)
    if peer.peer_port != DEFAULT_PEER_PORT:
        if peer.peer_port > _MAX_CR_PORT:
            report.add(
                where.at(
                    f"{field_path}.peer-port",
                    f"{peer.peer_port} is above {_MAX_CR_PORT}, the highest peerPort a BGPPeer accepts; "
                    "use a port from 1 to 16384",
                )
            )
        spec["peerPort"] = peer.peer_port
    if peer.hold_time is not None:
        spec["holdTime"] = format_duration(peer.hold_time)
    if peer.keepalive_time is not None:
        spec["keepaliveTime"] = format_duration(peer.keepalive_time)
    if peer.router_id is not None:
        spec["routerID"] = str(peer.router_id)
    if peer.node_selectors:
        spec["nodeSelectors"] = [selector_to_object(s) for s in peer.node_selectors]
    if peer.password is not None:
        spec["password"] = peer.password
    if peer.bfd_profile is not None:
        spec["bfdProfile"] = peer.bfd_profile
    if peer.ebgp_multihop:
        spec["ebgpMultiHop"] = True
    return _object(API_V1BETA2, "BGPPeer", peer.name, namespace, spec)


def selector_to_object(selector: LabelSelector) -> dict[str, Any]:
    """A compiled selector back in ``metav1.LabelSelector`` form (single-value ``In`` as ``matchLabels``)."""
    labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for req in selector.requirements:
        if req.operator is Operator.IN and len(req.values) == 1 and req.key not in labels:
            labels[req.key] = next(iter(req.values))
            continue
        expr: dict[str, Any] = {"key": req.key, "operator": req.operator.value}
        if req.values:
            expr["values"] = sorted(req.values)
        expressions.append(expr)
    result: dict[str, Any] = {}
    if labels:
        result["matchLabels"] = labels
    if expressions:
        result["matchExpressions"] = expressions
    return result


__all__ = ["ConvertResult", "legacy_to_objects", "render_objects", "selector_to_object"]
