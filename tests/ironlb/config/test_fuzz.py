"""Invariants on any input: parse never raises, never hits its internal-error net, and does not depend on order.

* Fuzzing: arbitrary nested values as objects; valid example objects with one field replaced by garbage (which
  reaches deep into every reader); arbitrary text and arbitrary legacy-shaped documents as the legacy ConfigMap.
* Determinism: the same objects in any order give an equal Config and the same errors.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironlb.config import ConfigSources, ParseResult, parse, yamlload
from ironlb.ctl.inputs import read_inputs

NS = "metallb-system"
DATA = Path(__file__).parents[2] / "data" / "config"


#: example files whose objects together form one valid configuration (distinct names, disjoint pools and sessions).
COMBINED = ("bgp-advanced", "l2-advanced", "seed-first-pool", "service-allocation")


def _fixture_inputs() -> tuple[list[Any], dict[tuple[str, str], Any], dict[str, Any]]:
    inputs = read_inputs([str(DATA / f"{name}.yaml") for name in COMBINED], namespace=NS)
    return inputs.objects, inputs.secrets, inputs.namespace_labels


OBJECTS, SECRETS, NAMESPACES = _fixture_inputs()
LEGACY_TEXTS = [
    yamlload.load(p.read_text())["data"]["config"] for p in sorted(DATA.glob("legacy-*.yaml")) if "bare" not in p.name
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["192.0.2.0/24", "10.0.0.1-10.0.0.9", "65000:1", "large:1:2:3", "90s", "In", "metallb-system"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["apiVersion", "kind", "metadata", "spec", "name", "namespace", "addresses", "ipAddressPools", "peers"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def assert_sane(result: ParseResult) -> None:
    assert (result.config is None) == bool(result.errors)
    for error in result.errors:
        assert "internal error" not in error.message, error.message
        assert error.message.endswith(".")


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4))
def test_arbitrary_values_as_objects(objects: list[Any]) -> None:
    assert_sane(parse(ConfigSources(objects=objects)))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "BFDProfile", "Community"]),
    st.sampled_from(["metallb.io/v1beta1", "metallb.io/v1beta2"]),
    values,
)
def test_arbitrary_specs_of_every_kind(kind: str, api_version: str, spec: Any) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": NS}, "spec": spec}
    assert_sane(parse(ConfigSources(objects=[obj])))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_valid_objects_with_one_field_replaced(data: st.DataObject) -> None:
    objects = copy.deepcopy(OBJECTS)
    target = data.draw(st.integers(0, len(objects) - 1))
    path = data.draw(st.sampled_from(_paths(objects[target])[1:]))
    parent = objects[target]
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = data.draw(values)
    assert_sane(parse(ConfigSources(objects=objects, secrets=SECRETS, namespace_labels=NAMESPACES)))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_as_the_legacy_configmap(text: str) -> None:
    assert_sane(parse(ConfigSources(legacy_config=text)))


legacy_documents = st.dictionaries(
    st.sampled_from(["peers", "address-pools", "bgp-communities", "bfd-profiles", "other"]),
    st.one_of(
        values,
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "name",
                        "protocol",
                        "addresses",
                        "bgp-advertisements",
                        "peer-address",
                        "peer-asn",
                        "my-asn",
                        "hold-time",
                        "node-selectors",
                        "communities",
                        "aggregation-length",
                    ]
                ),
                values,
                max_size=6,
            ),
            max_size=3,
        ),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(legacy_documents)
def test_arbitrary_legacy_shaped_documents(document: dict[str, Any]) -> None:
    try:
        text = yamlload.dump_all([document])
    except Exception:  # a value PyYAML cannot write is not an input we can build
        return
    assert_sane(parse(ConfigSources(legacy_config=text)))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(LEGACY_TEXTS), st.data())
def test_legacy_text_cut_anywhere(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(text)))
    assert_sane(parse(ConfigSources(legacy_config=text[:cut])))


def test_deep_nesting_does_not_escape() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    obj = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p"}, "spec": deep}
    assert_sane(parse(ConfigSources(objects=[obj])))
    assert_sane(parse(ConfigSources(legacy_config="[" * 5000)))


# -- determinism ------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.permutations(OBJECTS))
def test_order_of_valid_objects_does_not_matter(objects: list[Any]) -> None:
    reference = parse(ConfigSources(objects=OBJECTS, secrets=SECRETS, namespace_labels=NAMESPACES))
    shuffled = parse(ConfigSources(objects=objects, secrets=SECRETS, namespace_labels=NAMESPACES))
    assert reference.config is not None
    assert shuffled.config == reference.config
    assert shuffled.warnings == reference.warnings


BROKEN = [
    *OBJECTS,
    {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "first-pool"}, "spec": {}},
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "z"},
        "spec": {"addresses": ["192.0.2.0/25"]},
    },
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "lp"},
        "spec": {"localPref": 7},
    },
    {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "sample"}, "spec": {"myASN": 1}},
    ["not an object"],
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(BROKEN))
def test_order_of_invalid_objects_does_not_change_the_errors(objects: list[Any]) -> None:
    reference = parse(ConfigSources(objects=BROKEN, secrets=SECRETS, namespace_labels=NAMESPACES))
    shuffled = parse(ConfigSources(objects=objects, secrets=SECRETS, namespace_labels=NAMESPACES))
    assert reference.errors and shuffled.errors == reference.errors
    assert shuffled.warnings == reference.warnings


@settings(max_examples=60, deadline=None)
@given(st.permutations(OBJECTS), st.randoms(use_true_random=False))
def test_order_inside_maps_does_not_matter(objects: list[Any], rng: Any) -> None:
    """Dict key order (what a YAML file or an API server happens to send) is irrelevant too."""

    def shuffle_keys(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: shuffle_keys(v) for k, v in items}
        if isinstance(value, list):
            return [shuffle_keys(v) for v in value]
        return value

    reference = parse(ConfigSources(objects=OBJECTS, secrets=SECRETS, namespace_labels=NAMESPACES))
    shuffled = parse(ConfigSources(objects=shuffle_keys(objects), secrets=SECRETS, namespace_labels=NAMESPACES))
    assert shuffled.config == reference.config
