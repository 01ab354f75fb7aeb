"""The CEL subset for ``x-kubernetes-validations``: the rule shapes our CRDs use, semantics, and fuzzing."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hack.lab.apiserver import cel

AGGREGATION = (
    "!has(self.serviceSelectors) || size(self.serviceSelectors) == 0 || "
    "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
    "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))"
)


@pytest.mark.parametrize(
    ("rule", "env", "expected"),
    [
        pytest.param(AGGREGATION, {"self": {}}, True, id="metallb-aggregation-without-selectors"),
        pytest.param(
            AGGREGATION,
            {"self": {"serviceSelectors": [{}], "aggregationLength": 24}},
            False,
            id="metallb-aggregation-selectors-with-short-length",
        ),
        pytest.param(
            AGGREGATION,
            {"self": {"serviceSelectors": [{}], "aggregationLength": 32}},
            True,
            id="metallb-aggregation-selectors-with-default-length",
        ),
        pytest.param(
            "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",
            {"self": "10s"},
            True,
            id="connect-time-in-range",
        ),
        pytest.param("duration(self).getSeconds() >= 1", {"self": "500ms"}, False, id="connect-time-too-short"),
        pytest.param(
            "duration(self).getMilliseconds() % 1000 == 0", {"self": "1.5s"}, False, id="whole-seconds-refuses-fraction"
        ),
        pytest.param("duration(self).getMilliseconds() % 1000 == 0", {"self": "2m"}, True, id="whole-minutes"),
        pytest.param("self == oldSelf", {"self": "a", "oldSelf": "a"}, True, id="transition-unchanged"),
        pytest.param("self == oldSelf", {"self": {"a": [1]}, "oldSelf": {"a": [2]}}, False, id="deep-equality"),
        pytest.param("self.all(x, x > 0)", {"self": [1, 2]}, True, id="all-macro"),
        pytest.param("self.exists(x, x == 'b')", {"self": ["a", "b"]}, True, id="exists-macro"),
        pytest.param("self.exists_one(x, x > 1)", {"self": [1, 2, 3]}, False, id="exists-one-macro"),
        pytest.param("self.map(x, x * 2) == [2, 4]", {"self": [1, 2]}, True, id="map-macro"),
        pytest.param("self.filter(x, x > 1).size() == 1", {"self": [1, 2]}, True, id="filter-and-size-method"),
        pytest.param("'a' in self", {"self": ["a"]}, True, id="in-list"),
        pytest.param(
            "self.startsWith('ab') && self.endsWith('z') && self.contains('c')",
            {"self": "abcz"},
            True,
            id="string-methods",
        ),
        pytest.param("self.matches('^[0-9]+$')", {"self": "123"}, True, id="matches"),
        pytest.param("self.x > 1 ? self.x < 10 : false", {"self": {"x": 5}}, True, id="conditional"),
        pytest.param("7 / 2 == 3 && -7 / 2 == -3 && 7 % 3 == 1", {}, True, id="integer-division-truncates"),
        pytest.param("self.missing == 1 || true", {"self": {}}, True, id="or-absorbs-an-error"),
        pytest.param("{'a': 1}['a'] == 1", {}, True, id="map-literal-and-index"),
    ],
)
def test_rules(rule: str, env: dict[str, Any], expected: bool) -> None:
    assert cel.evaluate(cel.compile_rule(rule), env) is expected


@pytest.mark.parametrize(
    ("rule", "env"),
    [
        pytest.param("self.missing == 1", {"self": {}}, id="absent-field"),
        pytest.param("duration(self).getSeconds() > 0", {"self": "ten seconds"}, id="bad-duration"),
        pytest.param("self < 'a'", {"self": 1}, id="mixed-type-comparison"),
        pytest.param("1 / 0 == 1", {}, id="division-by-zero"),
    ],
)
def test_runtime_errors(rule: str, env: dict[str, Any]) -> None:
    with pytest.raises(cel.CelError):
        cel.evaluate(cel.compile_rule(rule), env)


@pytest.mark.parametrize("rule", ["self.x ==", "a ?? b", "self.@", "(1"])
def test_unsupported_or_broken_rules_are_reported_at_compile_time(rule: str) -> None:
    with pytest.raises(cel.CelUnsupported):
        cel.compile_rule(rule)


def test_transition_rules_are_detected() -> None:
    assert cel.uses_old_self(cel.compile_rule("self == oldSelf"))
    assert not cel.uses_old_self(cel.compile_rule("self > 1"))


@settings(max_examples=500)
@given(st.text(alphabet="selfoldS.()=!<>&|?:'\"\\0123456789+-*/%[]{}, abcxyzu_", max_size=40))
def test_compile_and_evaluate_raise_only_their_own_errors(text: str) -> None:
    try:
        node = cel.compile_rule(text)
    except cel.CelUnsupported:
        return
    with contextlib.suppress(cel.CelError):
        cel.evaluate(node, {"self": {"a": 1}, "oldSelf": {"a": 2}})
