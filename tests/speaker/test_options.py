"""ironlb-speaker's command line: SPEAKER-CLI's flags, defaults from the environment, errors as sentences."""

from __future__ import annotations

import pytest

from speaker.options import DEFAULT_ML_LABELS, DEFAULT_STATUS_ADDRESS, OptionsError, build_parser, parse_options

ENV = {"METALLB_NODE_NAME": "worker-1"}
#: every flag of SPEAKER-CLI.md, nothing else
CONTRACT = {
    "--node-name", "--config-namespace", "--kubeconfig", "--master", "--load-balancer-class", "--legacy-configmap",
    "--excluded-interfaces-configmap", "--ignore-exclude-lb", "--bind-address", "--port", "--status-address",
    "--membership", "--ml-bind-addr", "--ml-bind-port", "--ml-secret-name", "--ml-labels", "--ml-detection-scale",
    "--l2-probe", "--gratuitous-refresh", "--bgp-graceful-shutdown", "--log-level", "--log-format",
}  # fmt: skip


def test_the_flags_are_exactly_the_contract() -> None:
    flags = {s for action in build_parser({})._actions for s in action.option_strings if s.startswith("--")}
    assert flags - {"--help"} == CONTRACT


def test_defaults() -> None:
    o = parse_options([], env=ENV)
    assert (o.node_name, o.config_namespace, o.port, o.bind_address) == ("worker-1", "metallb-system", 9120, "0.0.0.0")
    assert (o.status_address, o.membership, o.ml_bind_port, o.ml_secret_name) == (
        DEFAULT_STATUS_ADDRESS, True, 7946, "memberlist"
    )  # fmt: skip
    assert (o.ml_labels, o.ml_detection_scale, o.l2_probe) == (DEFAULT_ML_LABELS, 1.0, True)
    assert (o.gratuitous_refresh, o.bgp_graceful_shutdown) == (0.0, 2.0)
    assert (o.legacy_configmap, o.excluded_interfaces_configmap) == ("config", "metallb-excludel2")
    assert (o.load_balancer_class, o.ml_bind_addr, o.ignore_exclude_lb) == (None, None, False)
    assert (o.log_level, o.log_format) == ("info", "json")


@pytest.mark.parametrize(
    ("env", "node", "namespace", "address"),
    [
        pytest.param({"NODE_NAME": "a"}, "a", "metallb-system", None, id="node-name-from-NODE_NAME"),
        pytest.param(
            {"METALLB_NODE_NAME": "m", "NODE_NAME": "a", "METALLB_NAMESPACE": "lb", "POD_NAMESPACE": "p"},
            "m", "lb", None, id="metallb-variables-first",
        ),
        pytest.param({"NODE_NAME": "a", "POD_NAMESPACE": "p"}, "a", "p", None, id="namespace-from-POD_NAMESPACE"),
        pytest.param({"NODE_NAME": "a", "METALLB_ML_BIND_ADDR": "192.0.2.11"}, "a", "metallb-system", "192.0.2.11",
                     id="membership-address-from-the-pod-ip"),
    ],
)  # fmt: skip
def test_environment(env: dict[str, str], node: str, namespace: str, address: str | None) -> None:
    o = parse_options([], env=env)
    assert (o.node_name, o.config_namespace, o.ml_bind_addr) == (node, namespace, address)


def test_every_flag_parses() -> None:
    o = parse_options(
        [
            "--node-name=n", "--config-namespace=x", "--kubeconfig=/k", "--master=https://a:6443",
            "--load-balancer-class=ironlb.io/lb", "--legacy-configmap=metallb-config",
            "--excluded-interfaces-configmap=ex", "--ignore-exclude-lb", "--bind-address=127.0.0.1", "--port=0",
            "--status-address=127.0.0.1:9121", "--membership=false", "--ml-bind-addr=2001:db8::11",
            "--ml-bind-port=7947", "--ml-secret-name=s", "--ml-labels=app=x", "--ml-detection-scale=2",
            "--l2-probe=false", "--gratuitous-refresh=30s", "--bgp-graceful-shutdown=500ms", "--log-level=debug",
            "--log-format=text",
        ],
        env={"POD_NAME": "pod-1"},
    )  # fmt: skip
    assert o.load_balancer_class == "ironlb.io/lb" and o.ignore_exclude_lb and o.port == 0
    assert not o.membership and not o.l2_probe and o.ml_bind_addr == "2001:db8::11"
    assert (o.gratuitous_refresh, o.bgp_graceful_shutdown, o.ml_detection_scale) == (30.0, 0.5, 2.0)
    assert o.pod_name == "pod-1" and o.status_address == "127.0.0.1:9121"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        pytest.param([], "--node-name is missing", id="no-node-name"),
        pytest.param(["--node-name=n", "--port=70000"], "--port 70000 is not a port", id="port-out-of-range"),
        pytest.param(["--node-name=n", "--ml-bind-port=0"], "--ml-bind-port 0 cannot be used", id="no-ml-port"),
        pytest.param(["--node-name=n", "--ml-bind-addr=node1"], "is not an IP address", id="ml-address-not-ip"),
        pytest.param(["--node-name=n", "--ml-detection-scale=0"], "out of range", id="scale-zero"),
        pytest.param(["--node-name=n", "--ml-labels=a in"], "is not a label selector", id="bad-selector"),
        pytest.param(["--node-name=n", "--log-level=loud"], "is not a level", id="bad-level"),
        pytest.param(["--node-name=n", "--gratuitous-refresh=often"], "--gratuitous-refresh 'often'", id="bad-dur"),
        pytest.param(["--node-name=n", "--bgp-graceful-shutdown=-1s"], "is negative", id="negative-duration"),
        pytest.param(["--node-name=n", "--status-address=sock"], "neither unix:///PATH nor HOST:PORT", id="addr"),
    ],
)
def test_errors_are_sentences_naming_the_flag(argv: list[str], words: str) -> None:
    with pytest.raises(OptionsError) as err:
        parse_options(argv, env={})
    assert words in str(err.value)


def test_bad_booleans_are_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--node-name=n", "--membership=maybe"], env={})
    assert "'maybe' is not a boolean; use true or false" in capsys.readouterr().err


def test_help_reads_as_a_manual_page(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--help"], env={})
    out = capsys.readouterr().out
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SIGNALS", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES"):
        assert f"\n{heading}\n" in f"\n{out}", heading
