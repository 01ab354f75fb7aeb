"""The flags both daemons share: Go's boolean and duration spellings, the namespace default from the environment,
and refusals that are sentences naming the flag."""

from __future__ import annotations

import argparse

import pytest

from ironlb.cli.flags import (
    OptionsError,
    add_api_server_flags,
    add_logging_flags,
    add_serving_flags,
    check_log_level,
    check_port,
    default_namespace,
    parse_bool,
    seconds,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("true", True, id="true"),
        pytest.param(" T ", True, id="go-short-form-with-spaces"),
        pytest.param("1", True, id="one"),
        pytest.param("FALSE", False, id="upper-case-false"),
        pytest.param("no", False, id="no"),
    ],
)
def test_booleans_read_as_go_writes_them(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_a_word_that_is_no_boolean_is_refused_as_argparse_expects() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="'maybe' is not a boolean; use true or false"):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("0", 0.0, id="bare-zero"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("1m30s", 90.0, id="minutes-and-seconds"),
    ],
)
def test_durations_are_seconds(text: str, value: float) -> None:
    assert seconds("--x", text) == value


@pytest.mark.parametrize(
    ("text", "hint", "message"),
    [
        pytest.param("often", None, "--x 'often' ", id="not-a-duration-names-the-flag-and-value"),
        pytest.param("-1s", None, "--x '-1s' is negative; give a duration such as 2s, or 0", id="negative"),
        pytest.param("-1s", "a positive duration such as 15s", "give a positive duration such as 15s", id="hint"),
    ],
)
def test_bad_durations_are_sentences(text: str, hint: str | None, message: str) -> None:
    with pytest.raises(OptionsError) as err:
        seconds("--x", text) if hint is None else seconds("--x", text, hint=hint)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("env", "namespace"),
    [
        pytest.param({}, "metallb-system", id="metallb-default"),
        pytest.param({"POD_NAMESPACE": "p"}, "p", id="downward-api"),
        pytest.param({"POD_NAMESPACE": "p", "METALLB_NAMESPACE": "m"}, "m", id="metallb-variable-first"),
        pytest.param({"METALLB_NAMESPACE": ""}, "metallb-system", id="empty-is-unset"),
    ],
)
def test_the_configuration_namespace_comes_from_the_environment(env: dict[str, str], namespace: str) -> None:
    assert default_namespace(env) == namespace


@pytest.mark.parametrize(
    ("value", "zero_disables", "message"),
    [
        pytest.param(70000, True, "--p 70000 is not a port; use 1-65535, or 0 to disable", id="too-big-disableable"),
        pytest.param(-1, False, "--p -1 is not a port; use 1-65535", id="negative"),
    ],
)
def test_ports_out_of_range_are_refused(value: int, zero_disables: bool, message: str) -> None:
    with pytest.raises(OptionsError) as err:
        check_port("--p", value, zero_disables=zero_disables)
    assert str(err.value) == message


@pytest.mark.parametrize("value", [0, 1, 65535])
def test_ports_in_range_pass(value: int) -> None:
    check_port("--p", value)


def test_log_levels_are_metallbs_names_lower_cased() -> None:
    assert check_log_level("WARN") == "warn"
    with pytest.raises(OptionsError, match="--log-level 'loud' is not a level"):
        check_log_level("loud")


def test_the_common_flags_parse_with_their_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_api_server_flags(parser)
    add_serving_flags(parser.add_argument_group("Serving"), port_flag="--port", port=9120)
    add_logging_flags(parser)
    ns = parser.parse_args(["--kubeconfig=/k"])
    assert (ns.kubeconfig, ns.master, ns.bind_address, ns.port) == ("/k", None, "0.0.0.0", 9120)
    assert (ns.log_level, ns.log_format) == ("info", "json")
