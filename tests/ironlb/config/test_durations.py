"""Go duration strings, read exactly as Go's time.ParseDuration reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.config.durations import (
    HOUR,
    MICROSECOND,
    MILLISECOND,
    MINUTE,
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        pytest.param("0", 0, id="bare-zero"),
        pytest.param("-0", 0, id="signed-zero"),
        pytest.param("90s", 90 * SECOND, id="seconds"),
        pytest.param("1m30s", 90 * SECOND, id="minutes-and-seconds"),
        pytest.param("500ms", 500 * MILLISECOND, id="milliseconds"),
        pytest.param("1.5h", 90 * MINUTE, id="fractional-hours"),
        pytest.param(".5s", 500 * MILLISECOND, id="leading-dot"),
        pytest.param("5.s", 5 * SECOND, id="trailing-dot"),
        pytest.param("2h45m", 2 * HOUR + 45 * MINUTE, id="hours-and-minutes"),
        pytest.param("10us", 10 * MICROSECOND, id="microseconds-ascii"),
        pytest.param("10\u00b5s", 10 * MICROSECOND, id="microseconds-micro-sign"),
        pytest.param("10\u03bcs", 10 * MICROSECOND, id="microseconds-greek-mu"),
        pytest.param("7ns", 7, id="nanoseconds"),
        pytest.param("+3s", 3 * SECOND, id="explicit-plus"),
        pytest.param("-1m", -MINUTE, id="negative"),
        pytest.param("1.0000000009s", SECOND, id="digits-beyond-nanoseconds-are-truncated"),
        pytest.param("2562047h47m16.854775807s", (1 << 63) - 1, id="the-largest-go-duration"),
    ],
)
def test_valid(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "not a duration", id="empty"),
        pytest.param("-", "not a duration", id="sign-only"),
        pytest.param("90", "without a unit", id="number-without-unit"),
        pytest.param("1x", "unknown unit", id="unknown-unit"),
        pytest.param("1 s", "unknown unit", id="space-before-unit"),
        pytest.param("s", "not a duration", id="unit-without-number"),
        pytest.param(".s", "not a duration", id="dot-without-digits"),
        pytest.param("1.2.3s", "without a unit", id="two-dots"),
        pytest.param("2562047h47m16.854775808s", "too long", id="one-nanosecond-too-long"),
        pytest.param("99999999999h", "too long", id="far-too-long"),
    ],
)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(DurationError, match=reason):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(90.0, "90s", id="whole-seconds"),
        pytest.param(1.5, "1500ms", id="milliseconds"),
        pytest.param(0.000002, "2us", id="microseconds"),
        pytest.param(-3.0, "-3s", id="negative"),
        pytest.param(1e-9, "1ns", id="nanosecond"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_reads_back(nanos: int) -> None:
    assert parse_duration(format_duration(nanos / SECOND)) == round(nanos / SECOND * SECOND)


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_duration_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except DurationError:
        return
    assert isinstance(value, int) and abs(value) < 1 << 63
