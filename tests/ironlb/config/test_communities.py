"""BGP community syntax: RFC 1997 standard (AA:NN) and RFC 8092 large (large:A:B:C) communities."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.config.communities import CommunityError, parse_community
from ironlb.config.model import Community, CommunityKind


@pytest.mark.parametrize(
    ("text", "kind", "parts"),
    [
        pytest.param("65000:100", CommunityKind.STANDARD, (65000, 100), id="standard"),
        pytest.param("0:0", CommunityKind.STANDARD, (0, 0), id="standard-zero"),
        pytest.param("65535:65535", CommunityKind.STANDARD, (65535, 65535), id="standard-maximum"),
        pytest.param("007:010", CommunityKind.STANDARD, (7, 10), id="leading-zeros-as-go-reads-them"),
        pytest.param("large:4294967295:0:1", CommunityKind.LARGE, (4294967295, 0, 1), id="large"),
    ],
)
def test_valid(text: str, kind: CommunityKind, parts: tuple[int, ...]) -> None:
    community = parse_community(text)
    assert community == Community(kind, parts)
    assert str(community) == (text if kind is CommunityKind.LARGE else ":".join(str(p) for p in parts))


def test_standard_value_is_the_32_bit_wire_value() -> None:
    assert parse_community("65535:65281").value == 0xFFFFFF01


@pytest.mark.parametrize(
    ("text", "maybe_alias"),
    [
        pytest.param("65536:1", False, id="first-half-too-big"),
        pytest.param("1:65536", False, id="second-half-too-big"),
        pytest.param("+1:1", False, id="sign-is-not-a-digit"),
        pytest.param(" 1:1", False, id="space-is-not-a-digit"),
        pytest.param("a:b", False, id="words-in-the-standard-shape"),
        pytest.param("large:1:2:4294967296", False, id="large-part-too-big"),
        pytest.param("huge:1:2:3", False, id="wrong-large-marker"),
        pytest.param("no-export", True, id="an-alias-name"),
        pytest.param("1:2:3", True, id="three-parts"),
        pytest.param("", True, id="empty"),
    ],
)
def test_invalid(text: str, maybe_alias: bool) -> None:
    with pytest.raises(CommunityError) as caught:
        parse_community(text)
    assert caught.value.maybe_alias is maybe_alias


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_standard_round_trip(high: int, low: int) -> None:
    assert parse_community(str(parse_community(f"{high}:{low}"))) == Community(CommunityKind.STANDARD, (high, low))


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_community_error(text: str) -> None:
    with contextlib.suppress(CommunityError):
        parse_community(text)
