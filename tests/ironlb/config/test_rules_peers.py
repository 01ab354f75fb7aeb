"""Every validation rule for BGPPeer (v1beta1 and v1beta2), BFDProfile and the object envelope, one row each.

Same shape as test_rules_pools.py: each row breaks one rule and must yield exactly one error sentence on the
expected field. Also: all errors are collected, and odd inputs are reported rather than raised.
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
    # --- BFDProfile ----------------------------------------------------------------------------------------------
    pytest.param(
        case([bfd(receiveInterval=5)], "spec.receiveInterval", "5 is out of range", "10 to 60000"),
        id="bfd-receive-too-small",
    ),
    pytest.param(
        case([bfd(transmitInterval=60001)], "spec.transmitInterval", "10 to 60000"), id="bfd-transmit-too-big"
    ),
    pytest.param(case([bfd(detectMultiplier=1)], "spec.detectMultiplier", "2 to 255"), id="bfd-multiplier-one"),
    pytest.param(case([bfd(echoInterval=9)], "spec.echoInterval", "10 to 60000"), id="bfd-echo-interval-too-small"),
    pytest.param(case([bfd(minimumTtl=255)], "spec.minimumTtl", "1 to 254"), id="bfd-ttl-255"),
    pytest.param(case([bfd(echoMode="on")], "spec.echoMode", "must be true or false"), id="bfd-echo-not-bool"),
    pytest.param(
        case(
            [pool("v6", "2001:db8::/120"), ad(), bfd("echo", echoMode=True), peer(bfdProfile="echo")],
            "spec.bfdProfile",
            "has bfd echo enabled, which is not possible",
        ),
        id="bfd-echo-towards-ipv6-pool",
    ),
    # --- BGPPeer -------------------------------------------------------------------------------------------------
    pytest.param(case([peer(myASN=None)], "spec.myASN", "missing local ASN"), id="peer-without-my-asn"),
    pytest.param(case([peer(myASN=0)], "spec.myASN", "is 0: missing local ASN"), id="peer-my-asn-zero"),
    pytest.param(case([peer(myASN=2**32)], "spec.myASN", "4294967296 is out of range"), id="peer-my-asn-too-big"),
    pytest.param(
        case([peer(peerASN=None)], "spec.peerASN", "missing peer ASN and dynamicASN"), id="peer-without-peer-asn"
    ),
    pytest.param(case([peer(peerASN=0)], "spec.peerASN", "missing peer ASN and dynamicASN"), id="peer-asn-zero"),
    pytest.param(
        case([peer(dynamicASN="internal")], "spec.peerASN", "both peer ASN and dynamicASN specified"),
        id="peer-asn-and-dynamic",
    ),
    pytest.param(
        case(
            [peer(peerASN=None, dynamicASN="sideways")],
            "spec.dynamicASN",
            "invalid dynamicASN sideways",
            "internal or external",
        ),
        id="peer-dynamic-asn-unknown",
    ),
    pytest.param(case([peer(localASN=0)], "spec.localASN", "from 1 to 4294967295"), id="peer-local-asn-zero"),
    pytest.param(
        case([peer(peerAddress=None)], "spec.peerAddress", "peer has no Address or Interface specified"),
        id="peer-without-endpoint",
    ),
    pytest.param(
        case([peer(interface="eth1")], "spec.peerAddress", "peer has both Address and Interface specified"),
        id="peer-address-and-interface",
    ),
    pytest.param(
        case([peer(peerAddress=None, interface="bad name")], "spec.interface", "not a Linux interface name"),
        id="peer-bad-interface",
    ),
    pytest.param(
        case([peer(peerAddress="192.0.2.300")], "spec.peerAddress", 'invalid BGPPeer address "192.0.2.300"'),
        id="peer-bad-address",
    ),
    pytest.param(
        case([peer(peerAddress="fe80::1%eth0")], "spec.peerAddress", "invalid BGPPeer address"),
        id="peer-address-with-zone",
    ),
    pytest.param(case([peer(sourceAddress="nope")], "spec.sourceAddress", "invalid source IP"), id="peer-bad-source"),
    pytest.param(
        case([peer(sourceAddress="2001:db8::2")], "spec.sourceAddress", "not of the same IP family"),
        id="peer-source-other-family",
    ),
    pytest.param(case([peer(routerID="1.2.3")], "spec.routerID", 'invalid router ID "1.2.3"'), id="peer-bad-router-id"),
    pytest.param(
        case([peer(routerID="2001:db8::1")], "spec.routerID", "is not an IPv4 address"), id="peer-ipv6-router-id"
    ),
    pytest.param(case([peer(peerPort=0)], "spec.peerPort", "from 1 to 16384"), id="peer-port-zero"),
    pytest.param(case([peer(peerPort=16385)], "spec.peerPort", "16385 is out of range"), id="peer-port-too-big"),
    pytest.param(
        case([peer(holdTime="2s")], "spec.holdTime", 'invalid hold time "2s": must be 0 or >=3s'),
        id="hold-time-too-short",
    ),
    pytest.param(case([peer(holdTime="500ms")], "spec.holdTime", "must be 0 or >=3s"), id="hold-time-sub-second"),
    pytest.param(
        case([peer(holdTime="ninety")], "spec.holdTime", '"ninety" is not a duration: invalid hold time "ninety"'),
        id="hold-time-not-a-duration",
    ),
    pytest.param(case([peer(holdTime="90")], "spec.holdTime", "without a unit"), id="hold-time-without-unit"),
    pytest.param(case([peer(holdTime="-90s")], "spec.holdTime", "is negative"), id="hold-time-negative"),
    pytest.param(case([peer(holdTime=90)], "spec.holdTime", "must be a string", "90s"), id="hold-time-a-number"),
    pytest.param(case([peer(holdTime="1h1x")], "spec.holdTime", "unknown unit"), id="hold-time-unknown-unit"),
    pytest.param(
        case(
            [peer(holdTime="30s", keepaliveTime="40s")],
            "spec.keepaliveTime",
            'invalid keepaliveTime "40s", must be lower than holdTime "30s"',
        ),
        id="keepalive-longer-than-hold",
    ),
    pytest.param(
        case([peer(holdTime="0s", keepaliveTime="10s")], "spec.keepaliveTime", "invalid keepaliveTime"),
        id="keepalive-with-hold-zero",
    ),
    pytest.param(
        case([peer(connectTime="0s")], "spec.connectTime", "connect time should be between 1 seconds to 65535"),
        id="connect-time-zero",
    ),
    pytest.param(
        case([peer(connectTime="65536s")], "spec.connectTime", "between 1 seconds to 65535"), id="connect-time-too-long"
    ),
    pytest.param(
        case([peer(connectTime="1500ms")], "spec.connectTime", "connect time should contain a whole number of seconds"),
        id="connect-time-fraction",
    ),
    pytest.param(
        case(
            [peer(peerASN=64500, ebgpMultiHop=True)],
            "spec.ebgpMultiHop",
            "invalid ebgp-multihop parameter set for an ibgp peer",
        ),
        id="multihop-on-ibgp",
    ),
    pytest.param(
        case([peer(peerASN=None, dynamicASN="internal", ebgpMultiHop=True)], "spec.ebgpMultiHop", "ibgp peer"),
        id="multihop-on-dynamic-internal",
    ),
    pytest.param(
        case([peer(localASN=64501, ebgpMultiHop=True)], "spec.ebgpMultiHop", "ibgp peer"),
        id="multihop-on-ibgp-through-local-asn",
    ),
    pytest.param(
        case(
            [peer(password="x", passwordSecret={"name": "s"}), secret("s", data={"password": b64("y")})],
            "spec.password",
            "can not have both password and secret ref set",
        ),
        id="password-and-secret",
    ),
    pytest.param(
        case([peer(passwordSecret={"name": "s"})], "spec.passwordSecret", "secret ref not found", transient=True),
        id="secret-missing",
    ),
    pytest.param(
        case(
            [peer(passwordSecret={"name": "s"}), secret("s", type_="Opaque", data={"password": b64("y")})],
            "spec.passwordSecret",
            'secret type mismatch on "metallb-system"/"s", type "kubernetes.io/basic-auth" is expected',
        ),
        id="secret-wrong-type",
    ),
    pytest.param(
        case(
            [peer(passwordSecret={"name": "s"}), secret("s", data={"username": b64("y")})],
            "spec.passwordSecret",
            "password not specified in the secret",
        ),
        id="secret-without-password",
    ),
    pytest.param(
        case(
            [peer(passwordSecret={"name": "s"}), secret("s", data={"password": "***"})],
            "spec.passwordSecret",
            "not base64",
        ),
        id="secret-password-not-base64",
    ),
    pytest.param(
        case(
            [peer(passwordSecret={"name": "s", "namespace": "default"})],
            "spec.passwordSecret.namespace",
            "must be created in the metallb-system namespace",
        ),
        id="secret-in-another-namespace",
    ),
    pytest.param(
        case(
            [peer(bfdProfile="missing")],
            "spec.bfdProfile",
            "peer router referencing non existing bfd profile missing",
            transient=True,
        ),
        id="bfd-profile-missing",
    ),
    pytest.param(
        case([peer("a"), peer("b")], "", 'is an exact duplicate of BGPPeer "a"', "already exists"),
        id="peer-exact-duplicate",
    ),
    pytest.param(
        case(
            [peer("a", holdTime="30s"), peer("b")], "spec.peerAddress", "peer 192.0.2.1 already exists", "same session"
        ),
        id="peer-same-session-on-every-node",
    ),
    pytest.param(
        case(
            [
                peer("a", nodeSelectors=[{"matchLabels": {"rack": "1"}}]),
                peer("b", holdTime="9s", nodeSelectors=[{"matchExpressions": [{"key": "rack", "operator": "Exists"}]}]),
            ],
            "spec.peerAddress",
            "already exists",
            node_labels={"n1": {"rack": "1"}},
        ),
        id="peer-same-session-on-a-common-node",
    ),
    pytest.param(
        case([peer(nodeSelectors=[{}, {}])], "spec.nodeSelectors[1]", "duplicate definition of nodeSelectors"),
        id="peer-repeated-node-selector",
    ),
    pytest.param(
        case([peer(enableGracefulRestart="true")], "spec.enableGracefulRestart", "must be true or false"),
        id="graceful-restart-not-bool",
    ),
    pytest.param(
        case([peer(version="v1beta1", dynamicASN="internal")], "spec.dynamicASN", "is a metallb.io/v1beta2 field"),
        id="v1beta1-with-v1beta2-field",
    ),
    pytest.param(
        case([peer(version="v1beta1", peerPort=16385)], "spec.peerPort", "from 0 to 16384"), id="v1beta1-port-too-big"
    ),
    # --- the object envelope -------------------------------------------------------------------------------------
    pytest.param(
        case(
            [{**pool("p"), "metadata": {"name": "p", "namespace": "default"}}],
            "metadata.namespace",
            "resource must be created in metallb-system namespace",
        ),
        id="wrong-namespace",
    ),
    pytest.param(
        case([pool("p")], "metadata.namespace", "must be created in ironlb namespace", namespace="ironlb"),
        id="wrong-namespace-for-a-custom-install",
    ),
    pytest.param(
        case([obj("IPAddressPools", "p", {})], "kind", '"IPAddressPools" is not a MetalLB configuration kind'),
        id="unknown-kind",
    ),
    pytest.param(
        case([{**pool("p"), "kind": None}], "kind", "null is not a MetalLB configuration kind"), id="missing-kind"
    ),
    pytest.param(
        case(
            [{**pool("p"), "apiVersion": "metallb.io/v1"}],
            "apiVersion",
            '"metallb.io/v1" does not serve IPAddressPool',
            "metallb.io/v1beta1",
        ),
        id="unknown-version",
    ),
    pytest.param(
        case([{**pool("p"), "apiVersion": "metallb.io/v1beta2"}], "apiVersion", "does not serve IPAddressPool"),
        id="pool-in-v1beta2",
    ),
    pytest.param(
        case(
            [{**peer(), "apiVersion": "example.com/v1beta2"}],
            "apiVersion",
            "write metallb.io/v1beta2 or metallb.io/v1beta1",
        ),
        id="peer-in-another-group",
    ),
    pytest.param(
        case([{**pool("p"), "metadata": {"namespace": NS}}], "metadata.name", "is required"), id="missing-name"
    ),
    pytest.param(case([pool("Not_Valid")], "metadata.name", "is not a valid name", "RFC 1123"), id="invalid-name"),
    pytest.param(case([{**pool("p"), "metadata": "p"}], "metadata", "must be an object"), id="metadata-not-an-object"),
    pytest.param(
        case([{**pool("p"), "specs": {}}], "specs", "is not a field of IPAddressPool"), id="unknown-top-level-field"
    ),
    pytest.param(
        case(
            [{**pool("p"), "metadata": {"name": "p", "namespace": NS, "labels": {"bad key!": "x"}}}],
            "metadata.labels.bad key!",
            "is not a valid label",
        ),
        id="invalid-label",
    ),
    pytest.param(
        case([pool("p", "192.0.2.0/25"), pool("p", "192.0.2.128/25")], "", "duplicate definition of pool"),
        id="two-pools-one-name",
    ),
    pytest.param(
        case(
            [pool("p", "192.0.2.0/25"), ad("a"), ad("a", localPref=5)], "", "duplicate definition of BGPAdvertisement"
        ),
        id="two-bgp-ads-one-name",
    ),
    pytest.param(
        case([bfd("x"), bfd("x", echoMode=True)], "", "duplicate definition of bfd profile"),
        id="two-bfd-profiles-one-name",
    ),
    pytest.param(
        case([peer("x"), peer("x", version="v1beta1", peerAddress="192.0.2.2")], "", "duplicate definition of BGPPeer"),
        id="two-peers-one-name",
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


def test_all_errors_are_collected_not_just_the_first() -> None:
    objects = [
        pool("a", "10.0.0.0/33", "10.0.0.9-10.0.0.1"),
        pool("b", autoAssign="yes"),
        peer(myASN=0, holdTime="1s", routerID="x"),
        ad(aggregationLength=99, communities=["1:99999"]),
    ]
    result = parse(ConfigSources(objects=objects))
    fields = sorted(e.field for e in result.errors)
    assert fields == sorted(
        [
            "spec.addresses[0]",
            "spec.addresses[1]",
            "spec.autoAssign",
            "spec.myASN",
            "spec.holdTime",
            "spec.routerID",
            "spec.aggregationLength",
            "spec.communities[0]",
        ]
    )
    for error in result.errors:
        assert_sentence(error)


def test_a_misplaced_object_still_has_its_spec_checked() -> None:
    misplaced = {**peer(myASN=0), "metadata": {"name": "router", "namespace": "default"}}
    fields = {e.field for e in parse(ConfigSources(objects=[misplaced])).errors}
    assert fields == {"metadata.namespace", "spec.myASN"}


def test_a_non_object_is_reported() -> None:
    result = parse(ConfigSources(objects=[["not", "a", "mapping"]]))  # type: ignore[list-item]
    assert [e.message for e in result.errors] == [
        "A configuration object must be a mapping with apiVersion, kind, metadata and spec, not a list."
    ]
