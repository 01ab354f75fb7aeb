"""Legacy ConfigMap -> CRs: the CRs must parse to a Config equal to the ConfigMap's, for examples and generated ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ironlb.api.selectors import LabelSelector, Operator, Requirement
from ironlb.config import ConfigSources, legacy_to_objects, parse, render_objects, yamlload
from ironlb.config.convert import selector_to_object

DATA = Path(__file__).parents[2] / "data" / "config"
LEGACY_FILES = sorted(DATA.glob("legacy-*.yaml"))


def legacy_text(path: Path) -> str:
    document = yamlload.load(path.read_text())
    return str(document["data"]["config"]) if document.get("kind") == "ConfigMap" else yamlload.dump_all([document])


def assert_round_trip(text: str, namespace: str = "metallb-system") -> list[dict[str, Any]]:
    original = parse(ConfigSources(legacy_config=text, namespace=namespace))
    assert original.config is not None, original.errors
    converted = legacy_to_objects(text, namespace=namespace)
    assert converted.ok, converted.errors
    objects = list(converted.objects)
    assert parse(ConfigSources(objects=objects, namespace=namespace)).config == original.config
    rendered = yamlload.load_all(render_objects(objects))
    assert rendered == objects
    assert parse(ConfigSources(objects=rendered, namespace=namespace)).config == original.config
    return objects


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in LEGACY_FILES])
def test_example_configmaps_round_trip(path: Path) -> None:
    assert_round_trip(legacy_text(path))


def test_the_conversion_of_the_advanced_example() -> None:
    objects = assert_round_trip(legacy_text(DATA / "legacy-advanced-bgp.yaml"))
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds == [
        ("IPAddressPool", "default"),
        ("IPAddressPool", "expensive"),
        ("IPAddressPool", "cheap"),
        ("L2Advertisement", "cheap"),
        ("BGPAdvertisement", "default-1"),
        ("BGPAdvertisement", "default-2"),
        ("BGPAdvertisement", "expensive"),
        ("BGPPeer", "peer1"),
        ("BGPPeer", "peer2"),
        ("BFDProfile", "slow"),
        ("Community", "communities"),
    ]
    peer2 = objects[8]
    assert peer2["apiVersion"] == "metallb.io/v1beta2"
    assert peer2["spec"] == {
        "myASN": 64500,
        "peerASN": 64502,
        "peerAddress": "192.0.2.2",
        "holdTime": "90s",
        "keepaliveTime": "10s",
        "ebgpMultiHop": True,
    }
    assert objects[4]["spec"]["communities"] == ["no-advertise", "64500:1"]
    assert objects[10]["spec"] == {"communities": [{"name": "no-advertise", "value": "65535:65282"}]}
    assert all(o["metadata"]["namespace"] == "metallb-system" for o in objects)


def test_namespace_is_applied() -> None:
    objects = assert_round_trip("address-pools: [{name: p, protocol: layer2, addresses: [192.0.2.0/28]}]\n", "lb")
    assert {o["metadata"]["namespace"] for o in objects} == {"lb"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            "address-pools: [{name: My_Pool, protocol: layer2, addresses: [192.0.2.0/28]}]\n",
            'cannot name a Kubernetes object; rename the pool (e.g. to "my-pool")',
            id="pool-name-kubernetes-refuses",
        ),
        pytest.param(
            "bfd-profiles: [{name: Fast}]\n",
            "rename the BFD profile",
            id="bfd-profile-name-kubernetes-refuses",
        ),
        pytest.param(
            "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, peer-port: 20000}]\n",
            "the highest peerPort a BGPPeer accepts",
            id="peer-port-a-bgppeer-cannot-hold",
        ),
        pytest.param("address-pools: [{name: p}]\n", "missing the protocol field", id="invalid-configmap"),
    ],
)
def test_what_cannot_be_converted(text: str, fragment: str) -> None:
    result = legacy_to_objects(text)
    assert not result.ok and result.objects == ()
    assert any(fragment in e.message for e in result.errors), result.errors


# -- generated legacy configurations ------------------------------------------------------------------------------
names = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)


@st.composite
def legacy_documents(draw: st.DrawFn) -> dict[str, Any]:
    pool_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    aliases = draw(st.dictionaries(names, st.sampled_from(["65535:65281", "64500:7", "large:1:2:3"]), max_size=2))
    pools = []
    for index, name in enumerate(pool_names):
        base = 16 * index
        addresses = draw(
            st.sampled_from(
                [[f"192.0.2.{base}/28"], [f"192.0.2.{base + 1}-192.0.2.{base + 9}"], [f"2001:db8:{index}::/124"]]
            )
        )
        pool: dict[str, Any] = {
            "name": name,
            "protocol": draw(st.sampled_from(["layer2", "bgp"])),
            "addresses": addresses,
        }
        if draw(st.booleans()):
            pool["auto-assign"] = draw(st.booleans())
        if draw(st.booleans()):
            pool["avoid-buggy-ips"] = True
        if pool["protocol"] == "bgp":
            ads = []
            for _ in range(draw(st.integers(0, 2))):
                ad: dict[str, Any] = {}
                if draw(st.booleans()):
                    ad["aggregation-length"] = draw(st.integers(28, 32))
                if draw(st.booleans()):
                    ad["aggregation-length-v6"] = draw(st.integers(124, 128))
                if draw(st.booleans()):
                    ad["localpref"] = draw(st.integers(0, 300))
                ad["communities"] = draw(
                    st.lists(st.sampled_from(["1:1", "65000:2", *aliases]), unique=True, max_size=2)
                )
                ads.append(ad)
            pool["bgp-advertisements"] = ads
        pools.append(pool)
    peers = []
    for index in range(draw(st.integers(0, 3))):
        peer: dict[str, Any] = {
            "peer-address": f"198.51.100.{index + 1}",
            "peer-asn": draw(st.integers(1, 2**32 - 1)),
            "my-asn": draw(st.integers(1, 2**32 - 1)),
        }
        optional = {
            "peer-port": st.integers(1, 16384),
            "hold-time": st.sampled_from(["0s", "3s", "90s", "2m", "1m30.5s"]),
            "keepalive-time": st.sampled_from(["0s", "1s", "30s"]),
            "router-id": st.just("192.0.2.200"),
            "source-address": st.just(f"198.51.100.{index + 100}"),
            "password": st.text(alphabet="abcXYZ019-_", min_size=1, max_size=8),
            "node-selectors": st.just(
                [{"match-labels": {"rack": "a"}, "match-expressions": [{"key": "z", "operator": "Exists"}]}]
            ),
        }
        for key, strategy in optional.items():
            if draw(st.booleans()):
                peer[key] = draw(strategy)
        peers.append(peer)
    document: dict[str, Any] = {"address-pools": pools}
    if peers:
        document["peers"] = peers
    if aliases:
        document["bgp-communities"] = aliases
    return document


@settings(max_examples=150, deadline=None)
@given(legacy_documents())
def test_generated_configmaps_round_trip(document: dict[str, Any]) -> None:
    text = yamlload.dump_all([document])
    assume(parse(ConfigSources(legacy_config=text)).ok)
    assert_round_trip(text)


requirements = st.builds(
    lambda key, op, values: Requirement(
        key, op, frozenset(values) if op in (Operator.IN, Operator.NOT_IN) else frozenset()
    ),
    st.sampled_from(["a", "b", "example.com/zone"]),
    st.sampled_from(list(Operator)),
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True),
)


@given(st.lists(requirements, max_size=4))
def test_selectors_render_back_to_the_same_selector(reqs: list[Requirement]) -> None:
    selector = LabelSelector(tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator.value, sorted(r.values)))))
    assert LabelSelector.from_object(selector_to_object(selector)) == selector
