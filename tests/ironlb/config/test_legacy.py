"""The legacy ConfigMap (MetalLB <= 0.12): what it becomes, and every rule it must satisfy."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest

from ironlb.api.selectors import LabelSelector
from ironlb.config import Community, CommunityKind, Config, ConfigSources, parse
from ironlb.config.legacy import bgp_name, l2_name, peer_name


def legacy(text: str, **sources: object) -> Config:
    result = parse(ConfigSources(legacy_config=textwrap.dedent(text), **sources))  # type: ignore[arg-type]
    assert result.errors == (), "\n".join(e.message for e in result.errors)
    assert result.config is not None
    return result.config


def test_layer2_pool_gets_an_l2_advertisement_named_after_it() -> None:
    config = legacy(
        """
        address-pools:
        - name: default
          protocol: layer2
          addresses: [192.0.2.240-192.0.2.250]
          auto-assign: false
          avoid-buggy-ips: true
        """
    )
    pool = config.pools["default"]
    assert not pool.auto_assign and pool.avoid_buggy_ips and pool.labels == {}
    assert [(a.name, a.pools) for a in config.l2_advertisements] == [(l2_name("default"), frozenset({"default"}))]
    assert config.bgp_advertisements == ()


def test_bgp_pool_without_advertisements_gets_the_default_one() -> None:
    config = legacy(
        """
        peers:
        - {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64500}
        address-pools:
        - {name: default, protocol: bgp, addresses: [198.51.100.0/24]}
        """
    )
    (ad,) = config.bgp_advertisements
    assert (ad.name, ad.pools, ad.aggregation_length, ad.local_pref, ad.peers, ad.node_selectors) == (
        bgp_name("default", 0, 1),
        frozenset({"default"}),
        32,
        None,
        (),
        (),
    )
    (peer,) = config.peers
    assert peer.name == peer_name(0) == "peer1"
    assert (peer.my_asn, peer.peer_asn, peer.peer_address, peer.peer_port) == (
        64500,
        64501,
        ipaddress.ip_address("192.0.2.1"),
        179,
    )
    assert peer.timers() == (90.0, 30.0)
    assert config.l2_advertisements == ()


def test_advanced_bgp_advertisements_and_aliases() -> None:
    config = legacy(
        """
        bgp-communities:
          no-advertise: 65535:65282
        address-pools:
        - name: default
          protocol: bgp
          addresses: [198.51.100.0/24]
          bgp-advertisements:
          - aggregation-length: 32
            localpref: 100
            communities: [no-advertise, 64500:1, large:1:2:3]
          - aggregation-length: 24
            aggregation-length-v6: 64
        """
    )
    first, second = config.bgp_advertisements
    assert (first.name, second.name) == ("default-1", "default-2")
    assert first.local_pref == 100
    assert first.communities == (
        Community(CommunityKind.LARGE, (1, 2, 3)),
        Community(CommunityKind.STANDARD, (64500, 1)),
        Community(CommunityKind.STANDARD, (65535, 65282)),
    )
    assert (second.aggregation_length, second.aggregation_length_v6, second.local_pref) == (24, 64, None)
    assert config.communities == {"no-advertise": Community(CommunityKind.STANDARD, (65535, 65282))}


def test_peer_fields() -> None:
    config = legacy(
        """
        bfd-profiles:
        - {name: slow, receive-interval: 1000, detect-multiplier: 5, echo-mode: false, passive-mode: true}
        peers:
        - peer-address: 192.0.2.1
          peer-asn: 64501
          my-asn: 64500
          peer-port: 1179
          source-address: 192.0.2.11
          hold-time: 120s
          keepalive-time: 30s
          router-id: 192.0.2.11
          password: secret
          bfd-profile: slow
          ebgp-multihop: true
          node-selectors:
          - match-labels: {rack: frontend}
            match-expressions:
            - {key: network-speed, operator: NotIn, values: [slow]}
        """
    )
    (peer,) = config.peers
    assert (peer.peer_port, peer.hold_time, peer.keepalive_time) == (1179, 120.0, 30.0)
    assert str(peer.source_address) == "192.0.2.11" and str(peer.router_id) == "192.0.2.11"
    assert (peer.password, peer.bfd_profile, peer.ebgp_multihop) == ("secret", "slow", True)
    assert peer.node_selectors == (LabelSelector.parse("rack=frontend,network-speed notin (slow)"),)
    assert config.bfd_profiles["slow"].receive_interval_ms == 1000
    assert config.bfd_profiles["slow"].passive_mode and config.bfd_profiles["slow"].transmit_interval_ms == 300


@pytest.mark.parametrize(
    ("timers", "expected"),
    [
        pytest.param("hold-time: 90.9s", (90.0, 30.0), id="hold-rounded-down-to-whole-seconds"),
        pytest.param("keepalive-time: 20s", (90.0, 20.0), id="keepalive-alone-pairs-with-90s-as-in-0.12"),
        pytest.param("hold-time: 0s", (0.0, 0.0), id="hold-zero"),
        pytest.param("hold-time: 3s\n  keepalive-time: 1500ms", (3.0, 1.0), id="keepalive-rounded-down"),
    ],
)
def test_legacy_timers(timers: str, expected: tuple[float, float]) -> None:
    config = legacy(f"peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  {timers}\n")
    assert config.peers[0].timers() == expected


BASE_PEER = "peer-address: 192.0.2.1\n  peer-asn: 64501\n  my-asn: 64500"

ROWS = [
    pytest.param("address-pools: [\n", "config", "could not parse config", id="yaml-syntax-error"),
    pytest.param("- just\n- a list\n", "config", "must be a YAML mapping", id="not-a-mapping"),
    pytest.param(
        "adress-pools: []\n", "adress-pools", "is not a field of the legacy MetalLB configuration", id="typo-at-the-top"
    ),
    pytest.param("address-pools: {}\n", "address-pools", "must be a list of address pools", id="pools-not-a-list"),
    pytest.param(
        "address-pools:\n- protocol: layer2\n  addresses: [192.0.2.0/24]\n",
        "address-pools[0].name",
        "missing pool name",
        id="pool-without-name",
    ),
    pytest.param(
        "address-pools:\n- name: ''\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n",
        "address-pools[0].name",
        "is empty: missing pool name",
        id="pool-empty-name",
    ),
    pytest.param(
        "address-pools:\n- name: p\n  addresses: [192.0.2.0/24]\n",
        "address-pools[0].protocol",
        "address pool is missing the protocol field",
        id="pool-without-protocol",
    ),
    pytest.param(
        "address-pools:\n- name: p\n  protocol: l2\n  addresses: [192.0.2.0/24]\n",
        "address-pools[0].protocol",
        'unknown protocol "l2"',
        id="unknown-protocol",
    ),
    pytest.param(
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n  bgp-advertisements: "
        "[{localpref: 1}]\n",
        "address-pools[0].bgp-advertisements",
        "cannot have bgp-advertisements configuration element in a layer2 address pool",
        id="bgp-advertisements-on-layer2",
    ),
    pytest.param(
        "address-pools:\n- name: p\n  protocol: layer2\n",
        "address-pools[0].addresses",
        "pool has no prefixes defined",
        id="pool-without-addresses",
    ),
    pytest.param(
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/33]\n",
        "address-pools[0].addresses[0]",
        "is neither a CIDR nor a range",
        id="bad-cidr",
    ),
    pytest.param(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n- {name: b, protocol: "
        "layer2, addresses: [192.0.2.0/25]}\n",
        "address-pools[1].addresses[0]",
        "overlaps with already defined CIDR",
        id="overlapping-pools",
    ),
    pytest.param(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/25]}\n- {name: a, protocol: "
        "layer2, addresses: [192.0.2.128/25]}\n",
        "address-pools[1].name",
        "duplicate definition of pool",
        id="two-pools-one-name",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: layer2, addresses: [192.0.2.0/24], color: red}\n",
        "address-pools[0].color",
        "is not a field of a legacy address pool",
        id="unknown-pool-field",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: layer2, addresses: [192.0.2.0/24], auto-assign: maybe}\n",
        "address-pools[0].auto-assign",
        "must be true or false",
        id="auto-assign-not-bool",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/26], bgp-advertisements: "
        "[{aggregation-length: 24}]}\n",
        "address-pools[0].bgp-advertisements[0].aggregation-length",
        "prefix 26 in this pool is more specific than the aggregation length",
        id="aggregation-wider-than-pool",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{aggregation-length: 40}]}\n",
        "address-pools[0].bgp-advertisements[0].aggregation-length",
        "from 1 to 32",
        id="aggregation-too-long",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{localpref: 1}, {localpref: 2}]}\n",
        "address-pools[0].bgp-advertisements[1].localpref",
        "invalid local preference 2",
        id="local-pref-conflict",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{localpref: 1}, {localpref: 1}]}\n",
        "",
        "is an exact duplicate of BGPAdvertisement",
        id="identical-advertisements",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{communities: [nope]}]}\n",
        "address-pools[0].bgp-advertisements[0].communities[0]",
        "names no Community alias",
        id="unknown-community-alias",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{communities: ['1:2', '1:2']}]}\n",
        "address-pools[0].bgp-advertisements[0].communities[1]",
        "duplicate definition of community",
        id="repeated-community",
    ),
    pytest.param(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: "
        "[{communities: ['1:99999']}]}\n",
        "address-pools[0].bgp-advertisements[0].communities[0]",
        "invalid community value",
        id="bad-community-value",
    ),
    pytest.param(
        "bgp-communities:\n  x: '70000:1'\n", "bgp-communities.x", "is not a community value", id="bad-alias-value"
    ),
    pytest.param("bgp-communities: [a]\n", "bgp-communities", "must map alias names", id="aliases-not-a-mapping"),
    pytest.param("bgp-communities:\n  x: 5\n", "bgp-communities.x", "must be a string", id="alias-value-not-a-string"),
    pytest.param(
        "bgp-communities:\n  1: '1:1'\n",
        "bgp-communities",
        "alias names must be non-empty strings",
        id="alias-name-not-a-string",
    ),
    pytest.param(
        "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 64501\n",
        "peers[0].my-asn",
        "missing local ASN",
        id="peer-without-my-asn",
    ),
    pytest.param(
        "peers:\n- peer-address: 192.0.2.1\n  my-asn: 64501\n  peer-asn: 0\n",
        "peers[0].peer-asn",
        "missing peer ASN",
        id="peer-asn-zero",
    ),
    pytest.param(
        "peers:\n- peer-asn: 1\n  my-asn: 2\n", "peers[0].peer-address", "invalid peer IP", id="peer-without-address"
    ),
    pytest.param(
        "peers:\n- peer-address: 10.0.0.300\n  peer-asn: 1\n  my-asn: 2\n",
        "peers[0].peer-address",
        'invalid peer IP "10.0.0.300"',
        id="peer-bad-address",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  hold-time: 2s\n",
        "peers[0].hold-time",
        'invalid hold time "2s": must be 0 or >=3s',
        id="hold-time-too-short",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  hold-time: soon\n",
        "peers[0].hold-time",
        "not a duration",
        id="hold-time-not-a-duration",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  hold-time: 30s\n  keepalive-time: 31s\n",
        "peers[0].keepalive-time",
        "invalid keepaliveTime",
        id="keepalive-longer-than-hold",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  keepalive-time: 91s\n",
        "peers[0].keepalive-time",
        "longer than the hold time (90s)",
        id="keepalive-longer-than-default-hold",
    ),
    pytest.param(
        "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 64500\n  my-asn: 64500\n  ebgp-multihop: true\n",
        "peers[0].ebgp-multihop",
        "invalid ebgp-multihop parameter set for an ibgp peer",
        id="multihop-on-ibgp",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  router-id: '::1'\n", "peers[0].router-id", "invalid router ID", id="bad-router-id"
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  source-address: here\n",
        "peers[0].source-address",
        "invalid source IP",
        id="bad-source-address",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  peer-port: 70000\n", "peers[0].peer-port", "from 0 to 65535", id="bad-port"
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  bfd-profile: gone\n",
        "peers[0].bfd-profile",
        "referencing non existing bfd profile gone",
        id="unknown-bfd-profile",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  hold-time: 9s\n- {BASE_PEER}\n",
        "peers[1].peer-address",
        "peer 192.0.2.1 already exists",
        id="same-session-twice",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n- {BASE_PEER}\n", "", "is an exact duplicate of BGPPeer", id="identical-peers"
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  node-selectors:\n  - match-labels: {{a: b}}\n    match-expressions:\n    - "
        f"{{key: a, operator: Sometimes, values: [x]}}\n",
        "peers[0].node-selectors[0]",
        "is not a valid label selector",
        id="bad-node-selector",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  node-selectors:\n  - match-label: {{a: b}}\n",
        "peers[0].node-selectors[0].match-label",
        "is not a field of a legacy node selector",
        id="node-selector-typo",
    ),
    pytest.param(
        f"peers:\n- {BASE_PEER}\n  passwd: x\n",
        "peers[0].passwd",
        "is not a field of a legacy peer",
        id="unknown-peer-field",
    ),
    pytest.param(
        "bfd-profiles:\n- receive-interval: 100\n",
        "bfd-profiles[0].name",
        "missing bfd profile name",
        id="bfd-without-name",
    ),
    pytest.param(
        "bfd-profiles:\n- {name: b, detect-multiplier: 300}\n",
        "bfd-profiles[0].detect-multiplier",
        "from 2 to 255",
        id="bfd-multiplier-too-big",
    ),
    pytest.param(
        "bfd-profiles:\n- {name: b}\n- {name: b}\n",
        "bfd-profiles[1].name",
        "duplicate definition of bfd profile",
        id="two-bfd-profiles-one-name",
    ),
]


@pytest.mark.parametrize(("text", "field_path", "fragment"), ROWS)
def test_each_legacy_rule_gives_one_error(text: str, field_path: str, fragment: str) -> None:
    result = parse(ConfigSources(legacy_config=text, legacy_config_name="metallb-config"))
    assert result.config is None
    assert len(result.errors) == 1, "\n".join(e.message for e in result.errors)
    error = result.errors[0]
    assert (error.kind, error.name, error.field) == ("ConfigMap", "metallb-config", field_path)
    assert fragment in error.message
    assert error.message.startswith('ConfigMap "metallb-config"') and error.message.endswith(".")


def test_legacy_messages_name_the_pool_and_the_full_path() -> None:
    result = parse(ConfigSources(legacy_config="address-pools:\n- {name: web, protocol: layer2, addresses: [x/1]}\n"))
    assert [e.message for e in result.errors] == [
        'ConfigMap "config" pool "web": address-pools[0].addresses[0] "x/1" is neither a CIDR nor a range; write a '
        "CIDR such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20."
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-text"),
        pytest.param("# only a comment\n", id="only-a-comment"),
        pytest.param("address-pools: []\npeers: []\n", id="empty-lists"),
    ],
)
def test_empty_legacy_configuration_is_valid_and_empty(text: str) -> None:
    assert legacy(text) == Config()


def test_unquoted_communities_are_strings_as_in_go_yaml() -> None:
    """PyYAML would read 64512:1 as the base-60 integer 3870721; Kubernetes tools read a string."""
    config = legacy(
        """
        address-pools:
        - name: p
          protocol: bgp
          addresses: [192.0.2.0/24]
          bgp-advertisements:
          - communities: [64512:1]
        """
    )
    assert config.bgp_advertisements[0].communities == (Community(CommunityKind.STANDARD, (64512, 1)),)
