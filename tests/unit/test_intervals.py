"""Interval names and their widths."""

from __future__ import annotations

import pytest

from stratagem import IntervalError, canonical_interval, interval_minutes


@pytest.mark.parametrize(
    ("name", "minutes"), [("1m", 1), ("15m", 15), ("60m", 60), ("1h", 60), ("1d", 1440)]
)
def test_interval_minutes(name: str, minutes: int) -> None:
    assert interval_minutes(name) == minutes


@pytest.mark.parametrize(
    ("name", "canonical"), [("60m", "1h"), ("1440m", "1d"), ("7m", "7m")]
)
def test_one_spelling_per_width(name: str, canonical: str) -> None:
    assert canonical_interval(name) == canonical


@pytest.mark.parametrize("name", ["0m", "5", "m5", "5s", "1.5h", "", " 5m"])
def test_malformed_names_are_rejected(name: str) -> None:
    with pytest.raises(IntervalError, match="<number><m|h|d>"):
        interval_minutes(name)
