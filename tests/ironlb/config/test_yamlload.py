"""YAML read the way kubectl reads it (go-yaml), not with PyYAML's YAML 1.1 surprises."""

from __future__ import annotations

import datetime

import pytest
import yaml

from ironlb.config import yamlload


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("64512:1", "64512:1", id="base-60-looking-community-stays-a-string"),
        pytest.param("1:30:00", "1:30:00", id="base-60-time-stays-a-string"),
        pytest.param("2024-01-02", "2024-01-02", id="date-stays-a-string"),
        pytest.param("179", 179, id="integer"),
        pytest.param("0x10", 16, id="hex-integer"),
        pytest.param("1.5", 1.5, id="float"),
        pytest.param("true", True, id="boolean"),
        pytest.param("null", None, id="null"),
        pytest.param("'042'", "042", id="quoted-string"),
    ],
)
def test_scalars(text: str, value: object) -> None:
    assert yamlload.load(f"v: {text}") == {"v": value}


def test_pyyaml_alone_would_have_misread_these() -> None:
    assert yaml.safe_load("v: 64512:1") == {"v": 3870721}
    assert yaml.safe_load("v: 2024-01-02") == {"v": datetime.date(2024, 1, 2)}


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        yamlload.load("a: 1\na: 2\n")


def test_load_all_drops_empty_documents() -> None:
    assert yamlload.load_all("---\na: 1\n---\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]


def test_dump_quotes_what_a_yaml_1_1_reader_could_misread() -> None:
    text = yamlload.dump_all([{"communities": ["64512:1", "yes"], "port": 179}])
    assert "'64512:1'" in text and "'yes'" in text
    assert yaml.safe_load(text) == {"communities": ["64512:1", "yes"], "port": 179}
    assert yamlload.load(text) == {"communities": ["64512:1", "yes"], "port": 179}
