"""ironlb-ccm flags: upstream names, the --controllers grammar, and errors that say what would be valid."""

from __future__ import annotations

import pytest

from ccm.options import OptionsError, build_parser, parse_controllers, parse_options

BASE = ["--cloud-provider=ironlb"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "*",
            {"service-lb-controller", "cloud-node-controller", "cloud-node-lifecycle-controller"},
            id="star-enables-all",
        ),
        pytest.param("service", {"service-lb-controller"}, id="alias"),
        pytest.param(
            "*,-cloud-node", {"service-lb-controller", "cloud-node-lifecycle-controller"}, id="star-minus-one"
        ),
        pytest.param(
            "service,cloud-node-lifecycle", {"service-lb-controller", "cloud-node-lifecycle-controller"}, id="list"
        ),
        pytest.param("*,-service,-cloud-node,-cloud-node-lifecycle", set(), id="everything-disabled"),
        pytest.param(
            "*,route",
            {"service-lb-controller", "cloud-node-controller", "cloud-node-lifecycle-controller"},
            id="route-accepted-but-not-provided",
        ),
    ],
)
def test_controllers_grammar(text: str, expected: set[str]) -> None:
    assert parse_controllers(text)[0] == expected


def test_route_controller_is_noted_not_rejected() -> None:
    assert "not provided" in parse_controllers("*,route")[1][0]


def test_defaults_match_upstream() -> None:
    o = parse_options(BASE)
    assert (
        o.leader_elect,
        o.leader_elect_lease_duration,
        o.leader_elect_renew_deadline,
        o.leader_elect_retry_period,
    ) == (True, 15.0, 10.0, 2.0)
    assert (o.cluster_name, o.concurrent_service_syncs, o.secure_port) == ("kubernetes", 4, 10258)
    assert (o.node_monitor_period, o.node_status_update_frequency) == (5.0, 300.0)
    assert o.load_balancer_class is None and o.config_namespace == "metallb-system"
    assert o.leader_elect_resource_namespace == o.config_namespace


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        pytest.param([], "--cloud-provider is missing", id="no-provider"),
        pytest.param(["--cloud-provider=aws"], "only --cloud-provider=ironlb", id="wrong-provider"),
        pytest.param(
            [*BASE, "--controllers=service,frobnicator"], "'frobnicator' is not a controller", id="unknown-controller"
        ),
        pytest.param([*BASE, "--leader-elect-lease-duration=5s"], "lease-duration > ", id="lease-shorter-than-renew"),
        pytest.param([*BASE, "--node-monitor-period=5 seconds"], "--node-monitor-period", id="bad-duration"),
        pytest.param([*BASE, "--leader-elect-resource-lock=configmaps"], "use leases", id="configmap-lock"),
        pytest.param([*BASE, "--concurrent-service-syncs=0"], "at least 1", id="zero-workers"),
        pytest.param([*BASE, "--secure-port=70000"], "not a port", id="bad-port"),
    ],
)
def test_errors_are_sentences_naming_the_flag(argv: list[str], fragment: str) -> None:
    with pytest.raises(OptionsError, match=fragment):
        parse_options(argv)


def test_verbosity_4_means_debug_and_class_is_kept() -> None:
    o = parse_options([*BASE, "-v=4", "--load-balancer-class=example.com/lb", "--leader-elect=false"])
    assert o.log_level == "debug" and o.load_balancer_class == "example.com/lb" and not o.leader_elect


def test_help_reads_like_a_man_page() -> None:
    text = build_parser().format_help()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "CONTROLLERS", "LEADER ELECTION", "EXIT STATUS", "EXAMPLES"):
        assert section in text
    assert "--load-balancer-class" in text and "--leader-elect-renew-deadline" in text
