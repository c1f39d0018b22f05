"""Bars shared by a sweep's tasks: the mapped file gives back the same columns,
read-only and without a copy, and a preloaded source answers as the file source
does for any window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratagem._data.sources import CsvBarSource, DataSourceError
from stratagem._sweep.shared import (
    PreloadedSource,
    as_columns,
    attach_mapped_bars,
    from_columns,
    write_mapped_bars,
)
from stratagem.testing import make_bars

SAMPLE = Path(__file__).resolve().parents[3] / "session_configs" / "sample_data"


def sample_bars() -> dict[tuple[str, str], object]:
    source = CsvBarSource(SAMPLE)
    bars = {
        ("ETH_BTC", "1m"): source.load("ETH_BTC", "1m"),
        ("ZEC_BTC", "5m"): source.load("ZEC_BTC", "5m"),
        ("EMPTY", "1m"): make_bars([]),
    }
    derived = make_bars([1.0, 2.0, 3.0])
    bars[("D", "5m")] = type(derived)(
        **derived.columns(), quality=np.array([100.0, 80.0, 20.0])
    )
    return bars


def test_mapped_bars_are_the_same_columns_read_only_and_not_copied(
    tmp_path: Path,
) -> None:
    bars = sample_bars()
    layout = write_mapped_bars(bars, tmp_path / "bars.bin")
    attached = attach_mapped_bars(layout)
    assert list(attached) == list(bars)
    for key, original in bars.items():
        shared = attached[key]
        assert shared.derived == original.derived
        for name, column in original.columns().items():
            view = shared.columns()[name]
            assert view.dtype == column.dtype
            np.testing.assert_array_equal(view, column)
            assert not view.flags.writeable
            if len(view):
                # a view of the mapping, not a private copy
                assert not view.flags.owndata
                with pytest.raises(ValueError, match="read-only"):
                    view[0] = 0


def test_column_dicts_for_the_object_store_round_trip_without_copies() -> None:
    bars = sample_bars()
    back = from_columns(as_columns(bars))
    for key, original in bars.items():
        for name, column in original.columns().items():
            assert back[key].columns()[name] is column


def test_a_preloaded_source_answers_as_the_file_source_for_any_window() -> None:
    files = CsvBarSource(SAMPLE)
    full = files.load("ETH_BTC", "1m")
    source = PreloadedSource({("ETH_BTC", "1m"): full})
    cuts = [None, int(full.ts[0]), int(full.ts[100]) + 1, int(full.ts[-1]) + 1]
    for start in cuts:
        for end in cuts:
            mine = source.load("ETH_BTC", "1m", start_ns=start, end_ns=end)
            theirs = files.load("ETH_BTC", "1m", start_ns=start, end_ns=end)
            np.testing.assert_array_equal(mine.ts, theirs.ts)
            np.testing.assert_array_equal(mine.close, theirs.close)
    # an interval name in another spelling finds the same series
    assert source.available("ETH_BTC", "1m") and not source.available("ADA_BTC", "1m")


def test_a_series_nobody_preloaded_comes_from_the_fallback_or_is_named() -> None:
    files = CsvBarSource(SAMPLE)
    with_files = PreloadedSource({}, fallback=files)
    assert with_files.available("ADA_BTC", "1m")
    assert len(with_files.load("ADA_BTC", "1m")) == len(files.load("ADA_BTC", "1m"))
    without = PreloadedSource({}, data_root="/data/bars")
    assert not without.available("ADA_BTC", "1m")
    with pytest.raises(DataSourceError, match="ADA_BTC.*/data/bars"):
        without.load("ADA_BTC", "1m")
