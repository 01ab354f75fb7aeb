"""Label selectors: both forms compile to the same matcher, with apimachinery's semantics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.api.selectors import LabelSelector, Operator, SelectorError, label_key_error, matches_any

LABELS = {"app": "web", "tier": "front", "example.com/zone": "a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", True, id="empty-selects-everything"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app!=web", False, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-matches-absent-key"),
        pytest.param("app in (web,api)", True, id="in"),
        pytest.param("app notin (web)", False, id="notin"),
        pytest.param("missing notin (x)", True, id="notin-matches-absent-key"),
        pytest.param("tier", True, id="exists"),
        pytest.param("!tier", False, id="does-not-exist"),
        pytest.param("example.com/zone=a,app=web", True, id="prefixed-key-and-conjunction"),
        pytest.param("app=web,tier=back", False, id="conjunction-fails-on-one"),
    ],
)
def test_string_form(text: str, expected: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("app in web", id="in-without-parentheses"),
        pytest.param("app in ()", id="empty-set"),
        pytest.param("app = web x", id="trailing-garbage"),
        pytest.param("-bad=x", id="key-starting-with-dash"),
        pytest.param("app=web,", id="dangling-comma"),
        pytest.param("app < 3", id="unknown-operator"),
    ],
)
def test_string_form_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse(text)


def test_object_form_equals_string_form() -> None:
    obj = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    }
    assert LabelSelector.from_object(obj) == LabelSelector.parse("!gone,tier in (back,front),app=web")


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        pytest.param({"matchLabels": {"app": 3}}, "string", id="non-string-value"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Foo"}]}, "not one of", id="bad-operator"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]}, "at least one", id="in-no-values"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "no values",
            id="exists-with-values",
        ),
        pytest.param({"selector": {}}, "not a field", id="unknown-field"),
        pytest.param("app=web", "object", id="string-instead-of-object"),
    ],
)
def test_object_form_errors(obj: object, fragment: str) -> None:
    with pytest.raises(SelectorError, match=fragment):
        LabelSelector.from_object(obj)


def test_matches_any_empty_list_selects_all_unless_told_otherwise() -> None:
    assert matches_any([], LABELS)
    assert not matches_any([], LABELS, empty=False)
    assert matches_any([LabelSelector.parse("app=api"), LabelSelector.parse("tier=front")], LABELS)
    assert not matches_any([LabelSelector.parse("app=api")], LABELS)


def test_label_key_rules() -> None:
    assert label_key_error("a" * 63) is None
    assert label_key_error("a" * 64) is not None
    assert label_key_error("Example.com/x") is not None
    assert label_key_error("/x") is not None


_label = st.from_regex(r"\A[a-z][a-z0-9]{0,5}\Z")


@given(st.dictionaries(_label, _label, max_size=5), st.dictionaries(_label, _label, max_size=5))
def test_from_labels_matches_exactly_supersets(wanted: dict[str, str], labels: dict[str, str]) -> None:
    selector = LabelSelector.from_labels(wanted)
    assert selector.matches(labels) == all(labels.get(k) == v for k, v in wanted.items())
    assert LabelSelector.parse(str(selector)) == selector


@given(st.text(max_size=40))
def test_string_parser_raises_only_selector_error(text: str) -> None:
    try:
        selector = LabelSelector.parse(text)
    except SelectorError:
        return
    assert all(r.operator in Operator for r in selector.requirements)
