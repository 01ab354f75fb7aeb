"""The metallb.io CRDs in manifests/crds: valid ``apiextensions.k8s.io/v1`` objects named as ironlb/api/names.py
says, structural, and carrying MetalLB's API field for field (types, defaults, bounds, enums, required fields,
printer columns, CEL rule placement). What the schemas accept and refuse is tested in test_custom_objects.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hack.manifests.crdschema import CRD_DIR, crds, schema_of, served_versions, walk
from ironlb.api.names import CONFIG_KINDS, GROUP, STATUS_KINDS, V1BETA1, V1BETA2

ALL_KINDS: dict[str, tuple[str, str]] = {**CONFIG_KINDS, **STATUS_KINDS}
#: Oldest and newest Kubernetes whose published schema the CRDs must satisfy.
K8S_VERSIONS = ("1.30", "1.37")
ASN_MAX = 2**32 - 1

Json = dict[str, Any]

# --- schema walking ---------------------------------------------------------------------------------------------


def is_selector(node: Mapping[str, Any]) -> bool:
    return set(node.get("properties", {})) == {"matchLabels", "matchExpressions"}


def field_types(node: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted field path -> type description ("integer:int64", "array:selector", ...); selectors are leaves."""

    def describe(sub: Mapping[str, Any]) -> str:
        if is_selector(sub):
            return "selector"
        if sub.get("type") == "array":
            return "array:" + describe(sub["items"])
        return str(sub.get("type")) + (f":{sub['format']}" if "format" in sub else "")

    fields: dict[str, str] = {}
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        fields[path] = describe(sub)
        if is_selector(sub):
            continue
        if sub.get("type") == "array" and not is_selector(sub["items"]):
            fields |= field_types(sub["items"], path + "[]")
        else:
            fields |= field_types(sub, path)
    return fields


# --- the CRD objects --------------------------------------------------------------------------------------------


def test_one_file_per_kind_and_the_kustomization_lists_exactly_them() -> None:
    expected = {f"metallb.io_{plural}.yaml" for plural, _ in ALL_KINDS.values()}
    on_disk = {p.name for p in CRD_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    kustomization = yaml.safe_load((CRD_DIR / "kustomization.yaml").read_text())
    assert on_disk == expected
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(expected)


@pytest.mark.parametrize("k8s", K8S_VERSIONS)
@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_crd_is_a_valid_apiextensions_v1_object(kind: str, k8s: str) -> None:
    kubernetes_validate.validate(crds()[kind], k8s, strict=True)


def test_the_official_schema_check_catches_a_misspelt_crd_field() -> None:
    broken = copy.deepcopy(crds()["BFDProfile"])
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["defualt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_names_match_ironlb_api_names(kind: str) -> None:
    crd, (plural, storage) = crds()[kind], ALL_KINDS[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"], names["listKind"]) == (
        kind,
        plural,
        kind.lower(),
        f"{kind}List",
    )
    versions = crd["spec"]["versions"]
    assert [v["name"] for v in versions if v["storage"]] == [storage]
    assert all(v["served"] for v in versions)
    assert all(v.get("subresources") == {"status": {}} for v in versions)


def test_bgppeer_serves_both_versions_without_a_conversion_webhook() -> None:
    spec = crds()["BGPPeer"]["spec"]
    assert [(v["name"], v["storage"], v.get("deprecated", False)) for v in spec["versions"]] == [
        (V1BETA1, False, True),
        (V1BETA2, True, False),
    ]
    assert spec["conversion"] == {"strategy": "None"}
    assert all(len(crd["spec"]["versions"]) == 1 for kind, crd in crds().items() if kind != "BGPPeer")


def _shape(node: Mapping[str, Any]) -> Json:
    """The parts of a schema node that decide its JSON shape (what must agree for strategy None)."""
    return {
        "type": node.get("type"),
        "fields": {name: _shape(sub) for name, sub in node.get("properties", {}).items()},
        "items": _shape(node["items"]) if "items" in node else None,
        "map": node.get("x-kubernetes-map-type"),
        "list": node.get("x-kubernetes-list-type"),
    }


def test_bgppeer_v1beta1_fields_have_the_same_shape_in_v1beta2() -> None:
    old, new = schema_of("BGPPeer", V1BETA1)["properties"]["spec"], schema_of("BGPPeer", V1BETA2)["properties"]["spec"]
    for name, sub in old["properties"].items():
        assert _shape(sub) == _shape(new["properties"][name]), name


def test_bgppeer_header_names_every_field_a_v1beta1_reader_loses() -> None:
    old = set(schema_of("BGPPeer", V1BETA1)["properties"]["spec"]["properties"])
    only_new = set(schema_of("BGPPeer", V1BETA2)["properties"]["spec"]["properties"]) - old
    header = (CRD_DIR / "metallb.io_bgppeers.yaml").read_text().split("\napiVersion:")[0]
    assert "strategy: None" in header
    assert only_new == {
        "localASN", "dynamicASN", "interface", "connectTime", "passwordSecret", "enableGracefulRestart", "vrf",
        "disableMP", "dualStackAddressFamily",
    }  # fmt: skip
    assert [name for name in sorted(only_new) if name not in header] == []


def _fits(node: Mapping[str, Any], value: Any) -> bool:
    """A scalar default or enum value has the node's type and lies within its bounds."""
    python_type = {"boolean": bool, "integer": int, "string": str}.get(node.get("type", ""))
    if python_type is None:
        return "type" not in node  # an untyped node is reported once, as such
    if not isinstance(value, python_type) or (python_type is int and isinstance(value, bool)):
        return False
    return node.get("minimum", value) <= value <= node.get("maximum", value) if python_type is int else True


def structural_problems(root: Mapping[str, Any]) -> list[str]:
    """What keeps ``root`` from being a structural, documented schema the API server accepts (empty when fine)."""
    problems: list[str] = []
    if root.get("properties", {}).get("metadata") != {"type": "object"}:
        problems.append("metadata: a CRD may not describe metadata beyond type: object")
    for path, node in walk(root):
        where = path or "<root>"
        if not {"type", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"} & set(node):
            problems.append(f"{where}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: both properties and additionalProperties")
        if not set(node.get("required", [])) <= set(node.get("properties", {})):
            problems.append(f"{where}: requires an undeclared field")
        if node.get("type") == "array" and not isinstance(node.get("items"), Mapping):
            problems.append(f"{where}: an array needs one items schema")
        if node.get("x-kubernetes-list-type") == "map" and not set(node["x-kubernetes-list-map-keys"]) <= set(
            node["items"].get("required", [])
        ):
            problems.append(f"{where}: map keys must be required")
        problems += [f"{where}: {value!r} does not fit" for value in node.get("enum", []) if not _fits(node, value)]
        if "default" in node and not _fits(node, node["default"]):
            problems.append(f"{where}: default {node['default']!r} does not fit")
        if path and path != "metadata" and not path.endswith(("[]", "{}")) and not node.get("description"):
            problems.append(f"{where}: no description")
    return problems


@pytest.mark.parametrize(("kind", "version"), served_versions())
def test_schemas_are_structural_and_documented(kind: str, version: str) -> None:
    assert structural_problems(schema_of(kind, version)) == []


def _broken(path: str, key: str, value: Any) -> Json:
    schema = copy.deepcopy(schema_of("BFDProfile", V1BETA1))
    node = schema
    for name in path.split("."):
        node = node["properties"][name]
    if value is None:
        del node[key]
    else:
        node[key] = value
    return schema


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        pytest.param(_broken("spec.echoMode", "type", None), "spec.echoMode: no type", id="untyped-field"),
        pytest.param(_broken("spec", "additionalProperties", {"type": "string"}),
                     "spec: both properties and additionalProperties", id="properties-and-additional"),
        pytest.param(_broken("spec", "required", ["echo"]), "spec: requires an undeclared field", id="bad-required"),
        pytest.param(_broken("spec.minimumTtl", "default", 255), "spec.minimumTtl: default 255 does not fit",
                     id="default-out-of-range"),
        pytest.param(_broken("spec.echoMode", "default", "no"), "spec.echoMode: default 'no' does not fit",
                     id="default-of-the-wrong-type"),
        pytest.param(_broken("spec.passiveMode", "description", None), "spec.passiveMode: no description",
                     id="undocumented-field"),
        pytest.param(_broken("metadata", "properties", {"name": {"type": "string", "description": "x"}}),
                     "metadata: a CRD may not describe metadata beyond type: object", id="constrained-metadata"),
    ],
)  # fmt: skip
def test_structural_check_finds_each_problem(schema: Json, problem: str) -> None:
    assert structural_problems(schema) == [problem]


def test_every_label_selector_has_the_apimachinery_shape() -> None:
    selectors = [
        (f"{kind}/{version} {path}", node)
        for kind, version in served_versions()
        for path, node in walk(schema_of(kind, version))
        if is_selector(node)
    ]
    assert len(selectors) == 11  # 2 pool, 4 L2, 3 BGP advertisement, 2 peer
    for where, node in selectors:
        assert node["type"] == "object", where
        assert node["properties"]["matchLabels"]["additionalProperties"] == {"type": "string"}, where
        requirement = node["properties"]["matchExpressions"]["items"]
        assert requirement["required"] == ["key", "operator"], where
        assert set(requirement["properties"]) == {"key", "operator", "values"}, where
        assert requirement["properties"]["operator"]["enum"] == ["In", "NotIn", "Exists", "DoesNotExist"], where
        assert requirement["properties"]["values"]["items"] == {"type": "string"}, where


# --- MetalLB's API, field for field -----------------------------------------------------------------------------

_META = {"apiVersion": "string", "kind": "string", "metadata": "object"}
_PEER_V1BETA1 = {
    "spec": "object", "spec.myASN": "integer:int64", "spec.peerASN": "integer:int64", "spec.peerAddress": "string",
    "spec.sourceAddress": "string", "spec.peerPort": "integer:int32", "spec.holdTime": "string",
    "spec.keepaliveTime": "string", "spec.routerID": "string", "spec.nodeSelectors": "array:selector",
    "spec.password": "string", "spec.bfdProfile": "string", "spec.ebgpMultiHop": "boolean", "status": "object",
}  # fmt: skip
_STATUS_OWNER = {"status.node": "string", "status.serviceName": "string", "status.serviceNamespace": "string"}
#: (kind, version) -> every field MetalLB's Go types declare, with its OpenAPI type (read from api/v1beta1 and
#: api/v1beta2 of metallb/metallb at 7938d3f8).
METALLB_FIELDS: dict[tuple[str, str], dict[str, str]] = {
    ("IPAddressPool", V1BETA1): {
        "spec": "object", "spec.addresses": "array:string", "spec.autoAssign": "boolean",
        "spec.avoidBuggyIPs": "boolean", "spec.serviceAllocation": "object",
        "spec.serviceAllocation.priority": "integer:int64", "spec.serviceAllocation.namespaces": "array:string",
        "spec.serviceAllocation.namespaceSelectors": "array:selector",
        "spec.serviceAllocation.serviceSelectors": "array:selector", "status": "object",
        "status.assignedIPv4": "integer:int64", "status.assignedIPv6": "integer:int64",
        "status.availableIPv4": "integer:int64", "status.availableIPv6": "integer:int64",
    },
    ("L2Advertisement", V1BETA1): {
        "spec": "object", "spec.ipAddressPools": "array:string", "spec.ipAddressPoolSelectors": "array:selector",
        "spec.nodeSelectors": "array:selector", "spec.interfaces": "array:string",
        "spec.serviceSelectors": "array:selector", "spec.preferredNodeSelectors": "array:object",
        "spec.preferredNodeSelectors[].weight": "integer:int32",
        "spec.preferredNodeSelectors[].preference": "selector", "status": "object",
    },
    ("BGPAdvertisement", V1BETA1): {
        "spec": "object", "spec.aggregationLength": "integer:int32", "spec.aggregationLengthV6": "integer:int32",
        "spec.localPref": "integer:int64", "spec.communities": "array:string", "spec.ipAddressPools": "array:string",
        "spec.ipAddressPoolSelectors": "array:selector", "spec.nodeSelectors": "array:selector",
        "spec.peers": "array:string", "spec.serviceSelectors": "array:selector", "status": "object",
    },
    ("BGPPeer", V1BETA1): _PEER_V1BETA1,
    ("BGPPeer", V1BETA2): _PEER_V1BETA1 | {
        "spec.dynamicASN": "string", "spec.localASN": "integer:int64", "spec.interface": "string",
        "spec.connectTime": "string", "spec.passwordSecret": "object", "spec.passwordSecret.name": "string",
        "spec.passwordSecret.namespace": "string", "spec.enableGracefulRestart": "boolean", "spec.vrf": "string",
        "spec.disableMP": "boolean", "spec.dualStackAddressFamily": "boolean",
    },
    ("BFDProfile", V1BETA1): {
        "spec": "object", "spec.receiveInterval": "integer:int32", "spec.transmitInterval": "integer:int32",
        "spec.detectMultiplier": "integer:int32", "spec.echoInterval": "integer:int32", "spec.echoMode": "boolean",
        "spec.passiveMode": "boolean", "spec.minimumTtl": "integer:int32", "status": "object",
    },
    ("Community", V1BETA1): {
        "spec": "object", "spec.communities": "array:object", "spec.communities[].name": "string",
        "spec.communities[].value": "string", "status": "object",
    },
    ("ServiceL2Status", V1BETA1): _STATUS_OWNER | {
        "spec": "object", "status": "object", "status.interfaces": "array:object",
        "status.interfaces[].name": "string",
    },
    ("ServiceBGPStatus", V1BETA1): _STATUS_OWNER | {
        "spec": "object", "status": "object", "status.peers": "array:string",
    },
    ("ConfigurationState", V1BETA1): {
        "status": "object", "status.result": "string", "status.errorSummary": "string",
        "status.conditions": "array:object", "status.conditions[].type": "string",
        "status.conditions[].status": "string", "status.conditions[].observedGeneration": "integer:int64",
        "status.conditions[].lastTransitionTime": "string:date-time", "status.conditions[].reason": "string",
        "status.conditions[].message": "string",
    },
}  # fmt: skip


def test_every_served_version_is_described_by_the_metallb_field_table() -> None:
    assert sorted(METALLB_FIELDS) == sorted(served_versions())


@pytest.mark.parametrize(("kind", "version"), sorted(METALLB_FIELDS))
def test_schema_has_every_metallb_field_and_no_other(kind: str, version: str) -> None:
    assert field_types(schema_of(kind, version)) == _META | METALLB_FIELDS[kind, version]


@pytest.mark.parametrize(
    "field",
    ["bfdProfile", "keepaliveTime", "connectTime", "enableGracefulRestart", "ebgpMultiHop", "dynamicASN",
     "localASN", "interface", "vrf", "disableMP", "dualStackAddressFamily"],
)  # fmt: skip
def test_frr_only_peer_fields_are_accepted(field: str) -> None:
    assert field in schema_of("BGPPeer", V1BETA2)["properties"]["spec"]["properties"]


def _collect(kind: str, version: str, keyword: str) -> dict[str, Any]:
    return {path: node[keyword] for path, node in walk(schema_of(kind, version)) if keyword in node}


#: Every declared default. MetalLB declares all but the BFD ones (FRR's values, which MetalLB applies in code)
#: and the v1beta1 peerPort (which MetalLB's webhook produced by converting to v1beta2).
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("IPAddressPool", V1BETA1): {"spec.autoAssign": True, "spec.avoidBuggyIPs": False},
    ("BGPAdvertisement", V1BETA1): {"spec.aggregationLength": 32, "spec.aggregationLengthV6": 128},
    ("BGPPeer", V1BETA1): {"spec.peerPort": 179},
    ("BGPPeer", V1BETA2): {"spec.peerPort": 179, "spec.disableMP": False, "spec.dualStackAddressFamily": False},
    ("BFDProfile", V1BETA1): {
        "spec.receiveInterval": 300, "spec.transmitInterval": 300, "spec.detectMultiplier": 3,
        "spec.echoInterval": 50, "spec.echoMode": False, "spec.passiveMode": False, "spec.minimumTtl": 254,
    },
}  # fmt: skip


@pytest.mark.parametrize(("kind", "version"), served_versions())
def test_defaults_are_declared_where_metallb_has_them(kind: str, version: str) -> None:
    assert _collect(kind, version, "default") == DEFAULTS.get((kind, version), {})


_ASN = (0, ASN_MAX)
_BFD_MS = (10, 60000)
_COUNT = (0, None)
RANGES: dict[tuple[str, str], dict[str, tuple[int | None, int | None]]] = {
    ("IPAddressPool", V1BETA1): {
        "spec.addresses": (1, None), "status.assignedIPv4": _COUNT, "status.assignedIPv6": _COUNT,
        "status.availableIPv4": _COUNT, "status.availableIPv6": _COUNT,
    },
    ("L2Advertisement", V1BETA1): {"spec.preferredNodeSelectors[].weight": (1, 100)},
    ("BGPAdvertisement", V1BETA1): {
        "spec.aggregationLength": (1, 32), "spec.aggregationLengthV6": (1, 128), "spec.localPref": (0, ASN_MAX),
    },
    ("BGPPeer", V1BETA1): {"spec.myASN": _ASN, "spec.peerASN": _ASN, "spec.peerPort": (1, 16384)},
    ("BGPPeer", V1BETA2): {
        "spec.myASN": _ASN, "spec.peerASN": _ASN, "spec.localASN": (1, ASN_MAX), "spec.peerPort": (1, 16384),
    },
    ("BFDProfile", V1BETA1): {
        "spec.receiveInterval": _BFD_MS, "spec.transmitInterval": _BFD_MS, "spec.echoInterval": _BFD_MS,
        "spec.detectMultiplier": (2, 255), "spec.minimumTtl": (1, 254),
    },
    ("ConfigurationState", V1BETA1): {"status.conditions[].observedGeneration": _COUNT},
}  # fmt: skip


@pytest.mark.parametrize(("kind", "version"), served_versions())
def test_numeric_and_size_bounds(kind: str, version: str) -> None:
    schema = dict(walk(schema_of(kind, version)))
    bounds = {
        path: (node.get("minimum", node.get("minItems")), node.get("maximum"))
        for path, node in schema.items()
        if {"minimum", "maximum", "minItems"} & set(node) and "matchExpressions" not in path
    }
    assert bounds == RANGES.get((kind, version), {})


def test_enums() -> None:
    enums = {
        f"{kind}/{version} {path}": values
        for kind, version in served_versions()
        for path, values in _collect(kind, version, "enum").items()
        if not path.endswith(".operator")  # the selector operator, checked with the selector shape
    }
    assert enums == {
        "BGPPeer/v1beta2 spec.dynamicASN": ["internal", "external"],
        "ConfigurationState/v1beta1 status.result": ["Valid", "Invalid", "Unknown"],
        "ConfigurationState/v1beta1 status.conditions[].status": ["True", "False", "Unknown"],
    }


def test_required_fields() -> None:
    required = {
        f"{kind}/{version} {path or '<root>'}": names
        for kind, version in served_versions()
        for path, names in _collect(kind, version, "required").items()
        if "matchExpressions" not in path
    }
    assert required == {
        "IPAddressPool/v1beta1 <root>": ["spec"],
        "IPAddressPool/v1beta1 spec": ["addresses"],
        "IPAddressPool/v1beta1 status": ["assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"],
        "L2Advertisement/v1beta1 spec.preferredNodeSelectors[]": ["weight", "preference"],
        "BGPPeer/v1beta1 spec": ["myASN", "peerASN", "peerAddress"],
        "BGPPeer/v1beta2 spec": ["myASN"],
        "ConfigurationState/v1beta1 status.conditions[]": ["type", "status", "lastTransitionTime", "reason", "message"],
    }


_OWNER_COLUMNS = [("Service Name", ".status.serviceName"), ("Service Namespace", ".status.serviceNamespace")]
_PEER_COLUMNS = [("Address", ".spec.peerAddress"), ("ASN", ".spec.peerASN"), ("BFD Profile", ".spec.bfdProfile"),
                 ("Multi Hops", ".spec.ebgpMultiHop")]  # fmt: skip
PRINTER_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "IPAddressPool": [("Auto Assign", ".spec.autoAssign"), ("Avoid Buggy IPs", ".spec.avoidBuggyIPs"),
                      ("Addresses", ".spec.addresses")],
    "L2Advertisement": [("IPAddressPools", ".spec.ipAddressPools"),
                        ("IPAddressPool Selectors", ".spec.ipAddressPoolSelectors"),
                        ("Interfaces", ".spec.interfaces"), ("Node Selectors", ".spec.nodeSelectors")],
    "BGPAdvertisement": [("IPAddressPools", ".spec.ipAddressPools"),
                         ("IPAddressPool Selectors", ".spec.ipAddressPoolSelectors"), ("Peers", ".spec.peers"),
                         ("Node Selectors", ".spec.nodeSelectors")],
    "BGPPeer": _PEER_COLUMNS,
    "BFDProfile": [("Passive Mode", ".spec.passiveMode"), ("Transmit Interval", ".spec.transmitInterval"),
                   ("Receive Interval", ".spec.receiveInterval"), ("Multiplier", ".spec.detectMultiplier")],
    "Community": [],
    "ServiceL2Status": [("Allocated Node", ".status.node"), *_OWNER_COLUMNS],
    "ServiceBGPStatus": [("Node", ".status.node"), *_OWNER_COLUMNS],
    "ConfigurationState": [("Result", ".status.result"), ("ErrorSummary", ".status.errorSummary"),
                           ("Age", ".metadata.creationTimestamp")],
}  # fmt: skip


@pytest.mark.parametrize(("kind", "version"), served_versions())
def test_printer_columns_are_metallbs_and_point_at_declared_fields(kind: str, version: str) -> None:
    columns = next(v for v in crds()[kind]["spec"]["versions"] if v["name"] == version).get(
        "additionalPrinterColumns", []
    )
    assert [(c["name"], c["jsonPath"]) for c in columns] == PRINTER_COLUMNS[kind]
    fields = field_types(schema_of(kind, version))
    for column in columns:
        if column["jsonPath"].startswith(".metadata."):
            assert column["type"] == "date"
        else:
            assert column["jsonPath"][1:] in fields, column
    assert [c["name"] for c in columns if c.get("priority")] == [
        c for c in ("Node Selectors",) if kind in {"L2Advertisement", "BGPAdvertisement"}
    ]


def test_cel_rules_sit_where_metallb_puts_them() -> None:
    rules = {
        f"{kind}/{version} {path}": len(node)
        for kind, version in served_versions()
        for path, node in _collect(kind, version, "x-kubernetes-validations").items()
    }
    owner = {f"{kind}/v1beta1 status.{field}": 1 for kind in ("ServiceL2Status", "ServiceBGPStatus")
             for field in ("node", "serviceName", "serviceNamespace")}  # fmt: skip
    assert rules == owner | {
        "BGPAdvertisement/v1beta1 spec": 1,
        "BGPPeer/v1beta2 spec.connectTime": 2,
        "BGPPeer/v1beta2 spec.enableGracefulRestart": 1,
    }
