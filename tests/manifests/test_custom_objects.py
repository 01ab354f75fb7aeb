"""What the metallb.io CRD schemas accept and refuse: MetalLB's documented objects (tests/data/crs) are admitted,
malformed ones are refused at the right field, defaults land where the API server would put them, and the CEL rules
behave as MetalLB's.

The API server's three schema steps (defaulting, structural validation, CEL rules) are reproduced by
``hack.manifests.crdschema`` (shared with the install tests, which check every metallb.io object in the docs and
overlays). :func:`test_schemas_use_only_keywords_the_helpers_understand` keeps that translation honest: a keyword
the helpers do not model fails the suite instead of being silently ignored.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.manifests.crdschema import (
    KNOWN_KEYWORDS,
    admitted,
    cel_failures,
    refusals,
    schema_of,
    served_versions,
    walk,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "tests" / "data" / "crs"

Json = dict[str, Any]

# --- loading ----------------------------------------------------------------------------------------------------


@functools.cache
def _examples() -> tuple[tuple[str, Json], ...]:
    found: list[tuple[str, Json]] = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return tuple(found)


def example(kind: str, name: str) -> Json:
    """A deep copy of the example object ``kind/name``, free to mutate."""
    for _, doc in _examples():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return copy.deepcopy(doc)
    raise KeyError(f"no example {kind}/{name}")


@pytest.mark.parametrize(("kind", "version"), served_versions())
def test_schemas_use_only_keywords_the_helpers_understand(kind: str, version: str) -> None:
    for path, node in walk(schema_of(kind, version)):
        assert set(node) <= KNOWN_KEYWORDS, f"{kind}/{version} {path}: {set(node) - KNOWN_KEYWORDS}"


# --- custom objects: MetalLB's documented shapes are accepted, malformed ones refused ---------------------------


@pytest.mark.parametrize(
    "obj", [pytest.param(doc, id=f"{f}:{doc['kind']}/{doc['metadata']['name']}") for f, doc in _examples()]
)
def test_example_object_is_accepted(obj: Json) -> None:
    admitted(obj)


def test_examples_cover_every_served_version() -> None:
    covered = {(doc["kind"], doc["apiVersion"].split("/")[1]) for _, doc in _examples()}
    assert covered == set(served_versions())


def test_seed_pool_and_advertisement_read_as_written_with_metallb_defaults() -> None:
    pool = admitted(example("IPAddressPool", "first-pool"))
    assert pool["spec"] == {"addresses": ["10.244.244.100-10.244.244.200"], "autoAssign": True, "avoidBuggyIPs": False}
    assert admitted(example("L2Advertisement", "example"))["spec"] == {"ipAddressPools": ["first-pool"]}


BFD_DEFAULTS = {
    "spec.receiveInterval": 300, "spec.transmitInterval": 300, "spec.detectMultiplier": 3, "spec.echoInterval": 50,
    "spec.echoMode": False, "spec.passiveMode": False, "spec.minimumTtl": 254,
}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        pytest.param("BFDProfile", "defaults", BFD_DEFAULTS, id="empty-bfd-profile-gets-frr-values"),
        pytest.param("BGPPeer", "v6-router", {"spec.peerPort": 179, "spec.dualStackAddressFamily": False},
                     id="peer-port-defaults-to-179"),
        pytest.param("BGPPeer", "unnumbered", {"spec.peerPort": 1790}, id="explicit-peer-port-is-kept"),
        pytest.param("BGPAdvertisement", "aggregated", {"spec.aggregationLength": 24, "spec.aggregationLengthV6": 64},
                     id="explicit-aggregation-is-kept"),
        pytest.param("BGPAdvertisement", "selected-services",
                     {"spec.aggregationLength": 32, "spec.aggregationLengthV6": 128}, id="aggregation-defaults"),
        pytest.param("IPAddressPool", "on-request", {"spec.autoAssign": False, "spec.avoidBuggyIPs": True},
                     id="explicit-pool-flags-are-kept"),
    ],
)  # fmt: skip
def test_defaults_fill_only_what_is_missing(kind: str, name: str, expected: dict[str, Any]) -> None:
    obj = admitted(example(kind, name))
    for path, value in expected.items():
        section, field = path.split(".")
        assert obj[section][field] == value, path


def test_defaults_are_not_invented_below_an_absent_spec() -> None:
    assert "spec" not in admitted(example("BGPAdvertisement", "everything"))


_DELETE = object()


def changed(obj: Json, path: str, value: Any) -> Json:
    """``obj`` with the field at dotted ``path`` (``a.b[0].c``) set to ``value``, or removed for ``_DELETE``."""
    out = copy.deepcopy(obj)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target: Any = out
    for part in parts[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return out


@pytest.mark.parametrize(
    ("kind", "name", "path", "value", "refusal"),
    [
        pytest.param("IPAddressPool", "first-pool", "spec.addresses", "10.244.244.100/32", ("spec.addresses", "type"),
                     id="pool-addresses-must-be-a-list"),
        pytest.param("IPAddressPool", "first-pool", "spec.addresses", [], ("spec.addresses", "minItems"),
                     id="pool-needs-an-address"),
        pytest.param("IPAddressPool", "first-pool", "spec.addresses", _DELETE, ("spec", "required"),
                     id="pool-addresses-are-required"),
        pytest.param("IPAddressPool", "first-pool", "spec.autoAssign", "yes", ("spec.autoAssign", "type"),
                     id="auto-assign-is-a-boolean"),
        pytest.param("IPAddressPool", "team-a", "spec.serviceAllocation.priority", "high",
                     ("spec.serviceAllocation.priority", "type"), id="priority-is-an-integer"),
        pytest.param("IPAddressPool", "counted", "status.assignedIPv4", -1, ("status.assignedIPv4", "minimum"),
                     id="status-counts-are-not-negative"),
        pytest.param("IPAddressPool", "first-pool", "spec.autoassign", True, ("spec", "additionalProperties"),
                     id="misspelt-field-is-refused"),
        pytest.param("L2Advertisement", "edge-only", "spec.nodeSelectors[1].matchExpressions[0].operator", "Has",
                     ("spec.nodeSelectors[1].matchExpressions[0].operator", "enum"), id="unknown-selector-operator"),
        pytest.param("L2Advertisement", "edge-only", "spec.nodeSelectors[0].matchLabels.rack", 1,
                     ("spec.nodeSelectors[0].matchLabels.rack", "type"), id="label-values-are-strings"),
        pytest.param("L2Advertisement", "edge-only", "spec.interfaces", "eth0", ("spec.interfaces", "type"),
                     id="interfaces-must-be-a-list"),
        pytest.param("L2Advertisement", "premium", "spec.preferredNodeSelectors[0].weight", 0,
                     ("spec.preferredNodeSelectors[0].weight", "minimum"), id="preference-weight-at-least-1"),
        pytest.param("L2Advertisement", "premium", "spec.preferredNodeSelectors[1].weight", 101,
                     ("spec.preferredNodeSelectors[1].weight", "maximum"), id="preference-weight-at-most-100"),
        pytest.param("L2Advertisement", "premium", "spec.preferredNodeSelectors[0].preference", _DELETE,
                     ("spec.preferredNodeSelectors[0]", "required"), id="preference-needs-a-selector"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.aggregationLength", 33,
                     ("spec.aggregationLength", "maximum"), id="ipv4-aggregation-at-most-32"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.aggregationLength", 0,
                     ("spec.aggregationLength", "minimum"), id="ipv4-aggregation-at-least-1"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.aggregationLengthV6", 129,
                     ("spec.aggregationLengthV6", "maximum"), id="ipv6-aggregation-at-most-128"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.localPref", 2**32, ("spec.localPref", "maximum"),
                     id="local-pref-is-32-bit"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.localPref", "100", ("spec.localPref", "type"),
                     id="local-pref-is-an-integer"),
        pytest.param("BGPAdvertisement", "aggregated", "spec.communities", "65535:65282",
                     ("spec.communities", "type"), id="communities-must-be-a-list"),
        pytest.param("BGPPeer", "tor-a", "spec.myASN", 2**32, ("spec.myASN", "maximum"), id="asn-is-32-bit"),
        pytest.param("BGPPeer", "tor-a", "spec.peerASN", -1, ("spec.peerASN", "minimum"), id="asn-not-negative"),
        pytest.param("BGPPeer", "tor-a", "spec.myASN", _DELETE, ("spec", "required"), id="my-asn-is-required"),
        pytest.param("BGPPeer", "tor-a", "spec.peerPort", 0, ("spec.peerPort", "minimum"), id="peer-port-at-least-1"),
        pytest.param("BGPPeer", "tor-a", "spec.peerPort", 16385, ("spec.peerPort", "maximum"),
                     id="peer-port-at-most-16384"),
        pytest.param("BGPPeer", "tor-a", "spec.ebgpMultiHop", "true", ("spec.ebgpMultiHop", "type"),
                     id="multihop-is-a-boolean"),
        pytest.param("BGPPeer", "unnumbered", "spec.dynamicASN", "both", ("spec.dynamicASN", "enum"),
                     id="unknown-dynamic-asn-mode"),
        pytest.param("BGPPeer", "unnumbered", "spec.localASN", 0, ("spec.localASN", "minimum"),
                     id="local-asn-at-least-1"),
        pytest.param("BGPPeer", "unnumbered", "spec.passwordSecret.key", "password",
                     ("spec.passwordSecret", "additionalProperties"), id="secret-ref-has-only-name-and-namespace"),
        pytest.param("BGPPeer", "legacy", "spec.peerAddress", _DELETE, ("spec", "required"),
                     id="v1beta1-peer-needs-an-address"),
        pytest.param("BGPPeer", "legacy", "spec.peerPort", 0, ("spec.peerPort", "minimum"),
                     id="v1beta1-peer-port-0-is-refused-without-a-webhook"),
        pytest.param("BGPPeer", "legacy", "spec.dynamicASN", "external", ("spec", "additionalProperties"),
                     id="v1beta1-has-no-v1beta2-fields"),
        pytest.param("BFDProfile", "fast", "spec.receiveInterval", 9, ("spec.receiveInterval", "minimum"),
                     id="bfd-interval-at-least-10ms"),
        pytest.param("BFDProfile", "fast", "spec.echoInterval", 60001, ("spec.echoInterval", "maximum"),
                     id="bfd-interval-at-most-60s"),
        pytest.param("BFDProfile", "fast", "spec.detectMultiplier", 1, ("spec.detectMultiplier", "minimum"),
                     id="bfd-multiplier-at-least-2"),
        pytest.param("BFDProfile", "fast", "spec.detectMultiplier", 256, ("spec.detectMultiplier", "maximum"),
                     id="bfd-multiplier-at-most-255"),
        pytest.param("BFDProfile", "fast", "spec.minimumTtl", 255, ("spec.minimumTtl", "maximum"),
                     id="bfd-ttl-at-most-254"),
        pytest.param("BFDProfile", "fast", "spec.passiveMode", 1, ("spec.passiveMode", "type"),
                     id="bfd-passive-is-a-boolean"),
        pytest.param("Community", "aliases", "spec.communities[0].value", 65282, ("spec.communities[0].value", "type"),
                     id="community-value-is-a-string"),
        pytest.param("ServiceL2Status", "l2-x7k2p", "status.interfaces[0]", "eth0", ("status.interfaces[0]", "type"),
                     id="interfaces-are-objects"),
        pytest.param("ServiceBGPStatus", "bgp-4m9qd", "status.peers", "tor-a", ("status.peers", "type"),
                     id="peers-must-be-a-list"),
        pytest.param("ConfigurationState", "speaker-node1", "status.result", "Broken", ("status.result", "enum"),
                     id="unknown-result"),
        pytest.param("ConfigurationState", "speaker-node1", "status.conditions[0].status", "Maybe",
                     ("status.conditions[0].status", "enum"), id="unknown-condition-status"),
        pytest.param("ConfigurationState", "speaker-node1", "status.conditions[1].reason", "Config Error",
                     ("status.conditions[1].reason", "pattern"), id="condition-reason-is-one-camel-case-word"),
        pytest.param("ConfigurationState", "speaker-node1", "status.conditions[0].lastTransitionTime", _DELETE,
                     ("status.conditions[0]", "required"), id="condition-needs-a-transition-time"),
        pytest.param("ConfigurationState", "speaker-node1", "status.conditions[1].type", "configReconcilerValid",
                     ("status.conditions", "x-kubernetes-list-map-keys"), id="one-condition-per-type"),
        pytest.param("ConfigurationState", "speaker-node1", "status.conditions[1].lastTransitionTime", "yesterday",
                     ("status.conditions[1].lastTransitionTime", "format"), id="transition-time-is-rfc3339"),
        pytest.param("ConfigurationState", "speaker-node1", "spec", {}, ("", "additionalProperties"),
                     id="configuration-state-has-no-spec"),
    ],
)  # fmt: skip
def test_malformed_object_is_refused(kind: str, name: str, path: str, value: Any, refusal: tuple[str, str]) -> None:
    good = example(kind, name)
    assert refusals(good) == []
    assert refusals(changed(good, path, value)) == [refusal]


# --- CEL rules (x-kubernetes-validations) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def celpy() -> Any:
    return pytest.importorskip("celpy", reason="cel-python evaluates the CRDs' x-kubernetes-validations rules")


def test_every_cel_rule_compiles(celpy: Any) -> None:
    rules = [
        rule["rule"]
        for kind, version in served_versions()
        for _, node in walk(schema_of(kind, version))
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) == 10
    for rule in rules:
        celpy.Environment().compile(rule)


@pytest.mark.parametrize(
    "obj", [pytest.param(doc, id=f"{f}:{doc['kind']}/{doc['metadata']['name']}") for f, doc in _examples()]
)
def test_example_object_passes_the_cel_rules(celpy: Any, obj: Json) -> None:
    version = obj["apiVersion"].split("/")[1]
    assert cel_failures(celpy, schema_of(obj["kind"], version), admitted(obj)) == []


@pytest.mark.parametrize(
    ("spec", "accepted"),
    [
        pytest.param({}, True, id="selectors-with-default-aggregation"),
        pytest.param(
            {"aggregationLength": 32, "aggregationLengthV6": 128}, True, id="selectors-with-explicit-host-routes"
        ),
        pytest.param({"aggregationLength": 24}, False, id="selectors-with-ipv4-aggregation"),
        pytest.param({"aggregationLengthV6": 64}, False, id="selectors-with-ipv6-aggregation"),
        pytest.param(
            {"aggregationLength": 24, "serviceSelectors": []}, True, id="empty-selector-list-with-aggregation"
        ),
        pytest.param({"aggregationLength": 24, "serviceSelectors": None}, True, id="no-selectors-with-aggregation"),
    ],
)
def test_service_selectors_require_host_routes(celpy: Any, spec: Json, accepted: bool) -> None:
    obj = example("BGPAdvertisement", "selected-services")
    obj["spec"].update(spec)
    obj["spec"] = {key: value for key, value in obj["spec"].items() if value is not None}
    failures = cel_failures(celpy, schema_of("BGPAdvertisement", "v1beta1"), admitted(obj))
    assert len(failures) == (0 if accepted else 1), failures
    assert all(failure.startswith("spec: serviceSelectors can only be used") for failure in failures)


@pytest.mark.parametrize(
    ("connect_time", "failures"),
    [
        pytest.param("10s", 0, id="ten-seconds"),
        pytest.param("1m30s", 0, id="go-duration-with-minutes"),
        pytest.param("1s", 0, id="lowest"),
        pytest.param("18h12m15s", 0, id="highest-65535s"),
        pytest.param("0s", 1, id="zero"),
        pytest.param("65536s", 1, id="above-65535s"),
        pytest.param("1500ms", 1, id="fraction-of-a-second"),
        pytest.param("500ms", 2, id="below-one-second-and-fractional"),
        pytest.param("ten seconds", 2, id="not-a-duration"),
    ],
)
def test_connect_time_is_whole_seconds_in_range(celpy: Any, connect_time: str, failures: int) -> None:
    obj = example("BGPPeer", "tor-a")
    obj["spec"]["connectTime"] = connect_time
    found = cel_failures(celpy, schema_of("BGPPeer", "v1beta2"), admitted(obj))
    assert len(found) == failures, found
    assert all(failure.startswith("spec.connectTime: connectTime must be") for failure in found)


@pytest.mark.parametrize(
    ("ref", "path", "change", "accepted"),
    [
        pytest.param("BGPPeer/unnumbered", "spec.enableGracefulRestart", (True, False), False,
                     id="graceful-restart-cannot-be-turned-off"),
        pytest.param("BGPPeer/tor-a", "spec.enableGracefulRestart", (False, True), False,
                     id="graceful-restart-cannot-be-turned-on"),
        pytest.param("BGPPeer/tor-a", "spec.enableGracefulRestart", (None, True), True,
                     id="graceful-restart-may-be-set-where-it-was-unset-as-in-metallb"),
        pytest.param("BGPPeer/unnumbered", "spec.enableGracefulRestart", (True, True), True,
                     id="graceful-restart-unchanged"),
        pytest.param("BGPPeer/tor-a", "spec.holdTime", ("90s", "30s"), True, id="other-peer-fields-may-change"),
        pytest.param("ServiceL2Status/l2-x7k2p", "status.node", ("node1", "node2"), False, id="l2-node-is-fixed"),
        pytest.param("ServiceL2Status/l2-x7k2p", "status.serviceName", ("web", "api"), False,
                     id="l2-service-name-is-fixed"),
        pytest.param("ServiceL2Status/l2-x7k2p", "status.interfaces", ([{"name": "eth0"}], [{"name": "eth1"}]), True,
                     id="l2-interfaces-may-change"),
        pytest.param("ServiceBGPStatus/bgp-4m9qd", "status.serviceNamespace", ("default", "prod"), False,
                     id="bgp-service-namespace-is-fixed"),
        pytest.param("ServiceBGPStatus/bgp-4m9qd", "status.node", ("node2", "node3"), False, id="bgp-node-is-fixed"),
        pytest.param("ServiceBGPStatus/bgp-4m9qd", "status.peers", (["tor-a"], ["tor-a", "v6-router"]), True,
                     id="bgp-peers-may-change"),
    ],
)  # fmt: skip
def test_update_rules(celpy: Any, ref: str, path: str, change: tuple[Any, Any], accepted: bool) -> None:
    """``ref`` is kind/name of an example; ``change`` is (old value, new value) with None for an absent field."""
    kind, name = ref.split("/")
    before, after = example(kind, name), example(kind, name)
    section, field = path.split(".")
    for obj, value in zip((before, after), change, strict=True):
        obj[section].pop(field, None)
        if value is not None:
            obj[section][field] = value
    found = cel_failures(celpy, schema_of(kind, after["apiVersion"].split("/")[1]), admitted(after), admitted(before))
    assert [failure.split(":")[0] for failure in found] == ([] if accepted else [path])
