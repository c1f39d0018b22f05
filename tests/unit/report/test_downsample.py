"""Thinning long series for the report: every bucket's extremes are drawn."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from stratagem._data.sources import CsvBarSource
from stratagem._report.downsample import MAX_POINTS, min_max_thin


def real_closes(shared_data: Path) -> np.ndarray:
    """45,031 real 1m closes of BTC_PERP (the longest file of the shared data)."""
    bars, _ = CsvBarSource(shared_data / "bars").read(
        shared_data / "bars" / "1m" / "BTC_PERP.csv"
    )
    return bars.close


@pytest.mark.parametrize("max_points", [1_000, 7_777, 40_000])
def test_every_bucket_keeps_its_lowest_and_highest_point_on_real_closes(
    shared_data: Path, max_points: int
) -> None:
    values = real_closes(shared_data)
    thinned = min_max_thin(values, max_points)
    index = thinned.index
    assert thinned.thinned and thinned.total == len(values)
    assert len(index) <= max_points
    assert index[0] == 0 and index[-1] == len(values) - 1
    assert np.all(np.diff(index) > 0)
    # enough buckets are made to stay within the bound, never fewer than needed
    assert thinned.bucket >= math.ceil(len(values) / (max_points / 2))
    for start in range(0, len(values), thinned.bucket):
        bucket = values[start : start + thinned.bucket]
        drawn = values[index[(index >= start) & (index < start + thinned.bucket)]]
        assert drawn.min() == bucket.min() and drawn.max() == bucket.max()


def test_a_series_within_the_bound_is_drawn_whole(shared_data: Path) -> None:
    values = real_closes(shared_data)
    thinned = min_max_thin(values)
    assert len(values) <= MAX_POINTS
    assert not thinned.thinned and thinned.describe() == ""
    assert np.array_equal(thinned.index, np.arange(len(values)))


def test_a_single_spike_in_a_long_series_survives() -> None:
    # no real series is longer than MAX_POINTS: a random walk of 250,000 points
    values = np.cumsum(np.random.default_rng(7).normal(size=250_000)) + 1_000.0
    values[123_457] = 5_000.0
    values[200_001] = -5_000.0
    thinned = min_max_thin(values)
    assert len(thinned.index) <= MAX_POINTS
    assert {123_457, 200_001} <= set(thinned.index.tolist())
    assert "250,000 points drawn as" in thinned.describe()


def test_too_small_a_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        min_max_thin(np.arange(10.0), 3)
