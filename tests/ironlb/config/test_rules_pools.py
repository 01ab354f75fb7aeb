"""Every validation rule for IPAddressPool, L2Advertisement, BGPAdvertisement and Community, one row each.

Each row is a small configuration that breaks exactly one rule; the test asserts it yields exactly one error,
on the expected field, whose sentence names the object, contains MetalLB's wording fragments, and ends with a
period. BGPPeer, BFDProfile and envelope rules are in test_rules_peers.py; the legacy ConfigMap's in
test_legacy.py.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from ironlb.config import ConfigError, ConfigSources, parse

NS = "metallb-system"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, *, version: str = "v1beta1") -> dict[str, Any]:
    made: dict[str, Any] = {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
    }
    if spec is not None:
        made["spec"] = spec
    return made


def pool(name: str = "p", *addresses: str, **spec: Any) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses) or ["192.0.2.0/24"], **spec})


def l2(name: str = "l2", **spec: Any) -> dict[str, Any]:
    return obj("L2Advertisement", name, spec)


def ad(name: str = "ad", **spec: Any) -> dict[str, Any]:
    return obj("BGPAdvertisement", name, spec)


def peer(name: str = "router", *, version: str = "v1beta2", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"}
    base.update(spec)
    return obj("BGPPeer", name, {k: v for k, v in base.items() if v is not None}, version=version)


def bfd(name: str = "fast", **spec: Any) -> dict[str, Any]:
    return obj("BFDProfile", name, spec)


def community(name: str, *aliases: tuple[str, str]) -> dict[str, Any]:
    return obj("Community", name, {"communities": [{"name": n, "value": v} for n, v in aliases]})


def secret(name: str, *, type_: str = "kubernetes.io/basic-auth", **body: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "type": type_, **body}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Case:
    objects: list[Any]
    field_path: str
    fragments: tuple[str, ...]
    transient: bool = False
    sources: dict[str, Any] = field(default_factory=dict)


def case(objects: list[Any], field_path: str, *fragments: str, transient: bool = False, **sources: Any) -> Case:
    return Case(objects, field_path, fragments, transient, sources)


ROWS = [
    # --- IPAddressPool -------------------------------------------------------------------------------------------
    pytest.param(
        case(
            [pool("first-pool", "10.0.0.0/33")],
            "spec.addresses[0]",
            'IPAddressPool "first-pool": spec.addresses[0] "10.0.0.0/33" is neither a CIDR nor a range; write a CIDR '
            "such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20.",
        ),
        id="cidr-prefix-longer-than-the-family-allows",
    ),
    pytest.param(case([pool("p", "not-an-address")], "spec.addresses[0]", "invalid start IP"), id="range-of-words"),
    pytest.param(case([pool("p", "fish")], "spec.addresses[0]", "is neither a CIDR nor a range"), id="garbage-entry"),
    pytest.param(
        case([pool("p", "192.0.2.1")], "spec.addresses[0]", "is a single address", "192.0.2.1/32"), id="bare-address"
    ),
    pytest.param(case([pool("p", "2001:db8::1")], "spec.addresses[0]", "2001:db8::1/128"), id="bare-ipv6-address"),
    pytest.param(
        case(
            [pool("p", "192.0.2.20-192.0.2.10")],
            "spec.addresses[0]",
            'start IP "192.0.2.20" is after the end IP "192.0.2.10"',
        ),
        id="range-start-after-end",
    ),
    pytest.param(case([pool("p", "192.0.2.10-x")], "spec.addresses[0]", 'invalid end IP "x"'), id="range-bad-end"),
    pytest.param(
        case([pool("p", "192.0.2.1-2001:db8::1")], "spec.addresses[0]", "not of the same IP family"),
        id="range-mixing-families",
    ),
    pytest.param(
        case([pool("p", "192.0.2.0/24 /8")], "spec.addresses[0]", "neither a CIDR"), id="cidr-with-inner-space"
    ),
    pytest.param(
        case([obj("IPAddressPool", "p", {"addresses": [42]})], "spec.addresses[0]", "must be a string"),
        id="address-not-a-string",
    ),
    pytest.param(
        case([obj("IPAddressPool", "p", {"autoAssign": True})], "spec.addresses", "pool has no prefixes defined"),
        id="addresses-missing",
    ),
    pytest.param(
        case([obj("IPAddressPool", "p", {"addresses": []})], "spec.addresses", "is empty", "no prefixes"),
        id="addresses-empty",
    ),
    pytest.param(
        case([obj("IPAddressPool", "p", {"addresses": "192.0.2.0/24"})], "spec.addresses", "must be a list"),
        id="addresses-not-a-list",
    ),
    pytest.param(case([obj("IPAddressPool", "p")], "spec", "pool has no prefixes defined"), id="pool-without-spec"),
    pytest.param(
        case(
            [pool("a", "10.0.0.0/16"), pool("b", "10.0.1.0/24")],
            "spec.addresses[0]",
            'CIDR "10.0.1.0/24" in pool "b" overlaps with already defined CIDR "10.0.0.0/16" in pool "a"',
        ),
        id="pools-overlap",
    ),
    pytest.param(
        case(
            [pool("a", "10.0.0.0/24", "10.0.0.128-10.0.0.130")],
            "spec.addresses[1]",
            "overlaps with already defined CIDR",
        ),
        id="entries-of-one-pool-overlap",
    ),
    pytest.param(
        case([pool("a", "2001:db8::/64"), pool("b", "2001:db8::1-2001:db8::5")], "spec.addresses[0]", "overlaps"),
        id="ipv6-range-overlaps-cidr",
    ),
    pytest.param(
        case([pool("p", autoAssign="no")], "spec.autoAssign", '"no" must be true or false'), id="auto-assign-not-bool"
    ),
    pytest.param(
        case([pool("p", avoidBuggyIPs=1)], "spec.avoidBuggyIPs", "must be true or false"), id="avoid-buggy-not-bool"
    ),
    pytest.param(
        case(
            [pool("p", adresses=["192.0.2.0/24"])],
            "spec.adresses",
            "is not a field of an IPAddressPool spec",
            "addresses",
        ),
        id="typo-in-field-name",
    ),
    pytest.param(
        case(
            [pool("p", serviceAllocation={"namespaces": ["a", "a"]})],
            "spec.serviceAllocation.namespaces[1]",
            "duplicate definition of namespaces",
        ),
        id="duplicate-namespace",
    ),
    pytest.param(
        case(
            [
                pool(
                    "p",
                    serviceAllocation={
                        "namespaceSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]
                    },
                )
            ],
            "spec.serviceAllocation.namespaceSelectors[1]",
            "duplicate definition of namespaceSelectors",
        ),
        id="duplicate-namespace-selector",
    ),
    pytest.param(
        case(
            [
                pool(
                    "p",
                    serviceAllocation={"serviceSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]},
                )
            ],
            "spec.serviceAllocation.serviceSelectors[1]",
            "duplicate definition of serviceSelectors",
        ),
        id="duplicate-service-selector",
    ),
    pytest.param(
        case([pool("p", serviceAllocation={"priority": "high"})], "spec.serviceAllocation.priority", "whole number"),
        id="priority-not-a-number",
    ),
    pytest.param(
        case([pool("p", serviceAllocation={"prio": 1})], "spec.serviceAllocation.prio", "is not a field"),
        id="allocation-typo",
    ),
    pytest.param(
        case([pool("p", serviceAllocation=[1])], "spec.serviceAllocation", "must be an object"),
        id="allocation-not-an-object",
    ),
    pytest.param(
        case(
            [
                pool(
                    "p",
                    serviceAllocation={
                        "serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}]
                    },
                )
            ],
            "spec.serviceAllocation.serviceSelectors[0]",
            "is not a valid label selector",
            "Near",
        ),
        id="selector-unknown-operator",
    ),
    pytest.param(
        case(
            [
                pool(
                    "p",
                    serviceAllocation={
                        "serviceSelectors": [
                            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", "b"]}]}
                        ]
                    },
                )
            ],
            "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values",
            "duplicate definition of match expression value in label selector",
        ),
        id="selector-repeated-value",
    ),
    pytest.param(
        case(
            [
                pool(
                    "p",
                    serviceAllocation={
                        "serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "Exists"}] * 2}]
                    },
                )
            ],
            "spec.serviceAllocation.serviceSelectors[0].matchExpressions[1]",
            "duplicate definition of match expressions",
        ),
        id="selector-repeated-expression",
    ),
    # --- L2Advertisement -----------------------------------------------------------------------------------------
    pytest.param(
        case(
            [pool("p"), l2(ipAddressPools=["q"])],
            "spec.ipAddressPools[0]",
            '"q" names no IPAddressPool',
            transient=True,
        ),
        id="l2-unknown-pool",
    ),
    pytest.param(
        case(
            [pool("p"), l2(ipAddressPools=["p", "p"])],
            "spec.ipAddressPools[1]",
            "duplicate definition of ipAddressPools",
        ),
        id="l2-repeated-pool",
    ),
    pytest.param(
        case(
            [pool("p"), l2(ipAddressPoolSelectors=[{}, {}])],
            "spec.ipAddressPoolSelectors[1]",
            "duplicate definition of ipAddressPoolSelectors",
        ),
        id="l2-repeated-pool-selector",
    ),
    pytest.param(
        case(
            [pool("p"), l2(nodeSelectors=[{"matchLabels": {"a": "b"}}] * 2)],
            "spec.nodeSelectors[1]",
            "duplicate definition of nodeSelectors",
        ),
        id="l2-repeated-node-selector",
    ),
    pytest.param(
        case([pool("p"), l2(interfaces=["eth0/1"])], "spec.interfaces[0]", "is not a Linux interface name"),
        id="l2-bad-interface",
    ),
    pytest.param(
        case([pool("p"), l2(interfaces=["a" * 16])], "spec.interfaces[0]", "1 to 15 characters"),
        id="l2-interface-too-long",
    ),
    pytest.param(
        case(
            [pool("p"), l2(preferredNodeSelectors=[{"weight": 0, "preference": {}}])],
            "spec.preferredNodeSelectors[0].weight",
            "from 1 to 100",
        ),
        id="l2-preference-weight-zero",
    ),
    pytest.param(
        case(
            [pool("p"), l2(preferredNodeSelectors=[{"weight": 5}])],
            "spec.preferredNodeSelectors[0].preference",
            "is required",
        ),
        id="l2-preference-without-selector",
    ),
    pytest.param(
        case(
            [pool("p"), l2(serviceSelectors=[{"matchLabels": {"app": "x"}}] * 2)],
            "spec.serviceSelectors[1]",
            "duplicate definition of serviceSelectors",
        ),
        id="l2-repeated-service-selector",
    ),
    pytest.param(
        case([pool("p"), l2(interfaces="eth0")], "spec.interfaces", "must be a list of strings"),
        id="l2-interfaces-not-a-list",
    ),
    # --- BGPAdvertisement ----------------------------------------------------------------------------------------
    pytest.param(
        case([pool("p"), ad(aggregationLength=33)], "spec.aggregationLength", "33 is out of range", "from 1 to 32"),
        id="bgp-aggregation-too-long",
    ),
    pytest.param(
        case([pool("p"), ad(aggregationLength=0)], "spec.aggregationLength", "from 1 to 32"), id="bgp-aggregation-zero"
    ),
    pytest.param(
        case([pool("p"), ad(aggregationLengthV6=129)], "spec.aggregationLengthV6", "from 1 to 128"),
        id="bgp-aggregation-v6-too-long",
    ),
    pytest.param(
        case(
            [pool("p", "192.0.2.0/26"), ad(aggregationLength=24)],
            "spec.aggregationLength",
            "invalid aggregation length 24: prefix 26 in this pool is more specific than the aggregation length",
        ),
        id="bgp-aggregation-wider-than-pool",
    ),
    pytest.param(
        case(
            [pool("p", "192.0.2.10-192.0.2.20"), ad(aggregationLength=28)],
            "spec.aggregationLength",
            "prefix 30 in this pool is more specific",
        ),
        id="bgp-aggregation-wider-than-a-range",
    ),
    pytest.param(
        case(
            [pool("p", "2001:db8::/120"), ad(aggregationLengthV6=64)],
            "spec.aggregationLengthV6",
            "prefix 120 in this pool",
        ),
        id="bgp-aggregation-v6-wider-than-pool",
    ),
    pytest.param(
        case(
            [pool("p"), ad(aggregationLength=28, serviceSelectors=[{"matchLabels": {"a": "b"}}])],
            "spec.serviceSelectors",
            "serviceSelectors and aggregationLength are mutually exclusive",
        ),
        id="bgp-service-selectors-with-aggregation",
    ),
    pytest.param(
        case(
            [pool("p"), ad(aggregationLengthV6=120, serviceSelectors=[{"matchLabels": {"a": "b"}}])],
            "spec.serviceSelectors",
            "serviceSelectors and aggregationLengthV6 are mutually exclusive",
        ),
        id="bgp-service-selectors-with-v6-aggregation",
    ),
    pytest.param(
        case(
            [pool("p"), ad("a", localPref=100), ad("b", localPref=200)],
            "spec.localPref",
            "invalid local preference 200: local preference 100 was already set for the same type of BGP update",
        ),
        id="bgp-local-pref-conflict",
    ),
    pytest.param(
        case(
            [pool("p"), ad("a", localPref=100, peers=["x", "y"]), ad("b", localPref=200, peers=["y"])],
            "spec.localPref",
            "invalid local preference",
        ),
        id="bgp-local-pref-conflict-on-a-common-peer",
    ),
    pytest.param(
        case(
            [pool("p"), ad("a", localPref=100), ad("b", localPref=200, nodeSelectors=[{"matchLabels": {"r": "1"}}])],
            "spec.localPref",
            "invalid local preference",
        ),
        id="bgp-local-pref-conflict-every-node-vs-some",
    ),
    pytest.param(
        case(
            [
                pool("p", "192.0.2.0/24", "2001:db8::/64"),
                ad("a", localPref=1),
                ad("b", localPref=2, aggregationLength=24),
            ],
            "spec.localPref",
            "invalid local preference",
        ),
        id="bgp-local-pref-conflict-dual-stack-pool-v6-same",
    ),
    pytest.param(
        case(
            [
                pool("p"),
                ad("a", localPref=100, nodeSelectors=[{"matchExpressions": [{"key": "r", "operator": "Exists"}]}]),
                ad("b", localPref=200, nodeSelectors=[{"matchLabels": {"r": "2"}}]),
            ],
            "spec.localPref",
            "invalid local preference",
            node_labels={"n1": {"r": "1"}, "n2": {"r": "2"}},
        ),
        id="bgp-local-pref-conflict-on-a-common-node-by-labels",
    ),
    pytest.param(
        case([pool("p"), ad(localPref=-1)], "spec.localPref", "from 0 to 4294967295"), id="bgp-local-pref-negative"
    ),
    pytest.param(
        case(
            [pool("p"), ad("a", communities=["65000:1"]), ad("b", communities=["65000:1"])],
            "",
            "is an exact duplicate of",
            "duplicate definition of bgpadvertisements",
        ),
        id="bgp-exact-duplicate",
    ),
    pytest.param(
        case([pool("p"), ad(communities=["65536:1"])], "spec.communities[0]", "invalid community value", '"65536"'),
        id="community-asn-half-too-big",
    ),
    pytest.param(
        case([pool("p"), ad(communities=["1:-1"])], "spec.communities[0]", "invalid community value"),
        id="community-negative",
    ),
    pytest.param(
        case([pool("p"), ad(communities=["big:1:2:3"])], "spec.communities[0]", 'must start with "large:"'),
        id="community-large-bad-marker",
    ),
    pytest.param(
        case([pool("p"), ad(communities=["large:1:2:4294967296"])], "spec.communities[0]", "from 0 to 4294967295"),
        id="community-large-part-too-big",
    ),
    pytest.param(
        case(
            [pool("p"), ad(communities=["no-export"])],
            "spec.communities[0]",
            '"no-export" names no Community alias',
            transient=True,
        ),
        id="community-alias-missing",
    ),
    pytest.param(
        case([pool("p"), ad(communities=["1:2", "1:2"])], "spec.communities[1]", "duplicate definition of community"),
        id="community-repeated",
    ),
    pytest.param(
        case([pool("p"), ad(peers=["r", "r"])], "spec.peers[1]", "duplicate definition of peers"),
        id="bgp-repeated-peer",
    ),
    pytest.param(
        case(
            [pool("p"), ad(ipAddressPools=["nope"])], "spec.ipAddressPools[0]", "names no IPAddressPool", transient=True
        ),
        id="bgp-unknown-pool",
    ),
    pytest.param(
        case([pool("p"), ad(communities=[65000])], "spec.communities[0]", "must be a string"),
        id="community-not-a-string",
    ),
    # --- Community -----------------------------------------------------------------------------------------------
    pytest.param(
        case([community("c", ("x", "70000:1"))], "spec.communities[0].value", "is not a community value"),
        id="alias-bad-value",
    ),
    pytest.param(
        case(
            [community("c", ("x", "1:1"), ("x", "2:2"))],
            "spec.communities[1].name",
            "duplicate definition of community",
        ),
        id="alias-repeated-in-one-object",
    ),
    pytest.param(
        case(
            [community("a", ("x", "1:1")), community("b", ("x", "2:2"))],
            "spec.communities[0].name",
            'Community "a"',
            "duplicate definition of community",
        ),
        id="alias-repeated-across-objects",
    ),
    pytest.param(
        case([obj("Community", "c", {"communities": [{"value": "1:1"}]})], "spec.communities[0].name", "is required"),
        id="alias-without-name",
    ),
    pytest.param(
        case(
            [obj("Community", "c", {"communities": [{"name": "", "value": "1:1"}]})],
            "spec.communities[0].name",
            "is empty",
        ),
        id="alias-empty-name",
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_each_rule_gives_one_error(row: Case) -> None:
    objects = [o for o in row.objects if o.get("kind") != "Secret"]
    secrets = {(NS, o["metadata"]["name"]): o for o in row.objects if o.get("kind") == "Secret"}
    result = parse(ConfigSources(objects=objects, secrets=secrets, **row.sources))
    assert result.config is None
    assert len(result.errors) == 1, "\n".join(e.message for e in result.errors)
    error = result.errors[0]
    assert error.field == row.field_path
    for fragment in row.fragments:
        assert fragment in error.message
    assert error.transient is row.transient
    assert_sentence(error)


def assert_sentence(error: ConfigError) -> None:
    """An error message starts by naming its object and ends like a sentence."""
    assert error.message.endswith(".")
    assert str(error) == error.message
    if error.name:
        assert error.message.startswith(f'{error.kind} "{error.name}"'), error.message
    if error.field:
        assert error.field in error.message
