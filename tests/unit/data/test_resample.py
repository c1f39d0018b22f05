"""The window rule of derived bars, in bulk and incrementally, on real slices."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.resample import (
    IncrementalResampler,
    resample,
    window_quality,
    window_start,
    window_width,
)
from stratagem._data.sources import CsvBarSource


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 10**9


@pytest.fixture(scope="module")
def dash(shared_data: Path) -> BarArrays:
    """Real DASH_BTC 1m bars: many 1-5 minute holes."""
    return CsvBarSource(shared_data / "bars").load("DASH_BTC", "1m")


def row_of(bars: BarArrays, ts: int) -> int:
    [index] = np.flatnonzero(bars.ts == ts)
    return int(index)


def test_window_start_is_epoch_aligned_and_left_closed() -> None:
    width = 7 * NS_PER_MINUTE
    t = ns("2018-01-20T04:55:00Z")
    minutes = t // NS_PER_MINUTE
    assert window_start(t, width) == (minutes - minutes % 7) * NS_PER_MINUTE
    start = window_start(t, width)
    assert window_start(start, width) == start
    assert window_start(start + width - NS_PER_MINUTE, width) == start
    assert window_start(start + width, width) == start + width
    stamps = np.array([start, start + width - 1, start + width], dtype=np.int64)
    assert window_start(stamps, width).tolist() == [start, start, start + width]


def test_window_width_requires_a_multiple_of_the_source() -> None:
    assert window_width(15, 5) == (15 * NS_PER_MINUTE, 3)
    assert window_width(7) == (7 * NS_PER_MINUTE, 7)
    with pytest.raises(ValueError, match="cannot build 7m bars from 2m bars"):
        window_width(7, 2)
    for bad in (0, -5, True, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            window_width(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiple"):
        resample(BarArrays.empty(), 10, source_minutes=4)
    with pytest.raises(ValueError, match="multiple"):
        IncrementalResampler(10, source_minutes=4)


def test_quality_is_share_of_expected_source_bars() -> None:
    assert window_quality(4, 5) == 80.0
    assert window_quality(np.array([1, 3]), 3).tolist() == [100.0 / 3, 100.0]


def test_partial_window_and_gap_on_real_bars(dash: BarArrays) -> None:
    # DASH_BTC has no bars at 00:20..00:25 on 2018-01-27 (a 6 min hole)
    hole = ns("2018-01-27T00:20:00Z")
    minutes = np.arange(hole, hole + 5 * NS_PER_MINUTE, NS_PER_MINUTE)
    assert not np.isin(minutes, dash.ts).any()
    bars = resample(dash, 5)
    assert hole not in bars.ts.tolist()  # gaps are never filled
    assert hole - 5 * NS_PER_MINUTE in bars.ts.tolist()
    # every window: first/max/min/last/sum of the 1m bars inside it
    for k in (0, 1, len(bars) // 2, len(bars) - 1):
        start = int(bars.ts[k])
        inside = (dash.ts >= start) & (dash.ts < start + 5 * NS_PER_MINUTE)
        rows = np.flatnonzero(inside)
        assert bars.open[k] == dash.open[rows[0]]
        assert bars.close[k] == dash.close[rows[-1]]
        assert bars.high[k] == dash.high[rows].max()
        assert bars.low[k] == dash.low[rows].min()
        assert bars.volume[k] == pytest.approx(dash.volume[rows].sum(), rel=1e-12)
        assert bars.quality[k] == 100.0 * len(rows) / 5


def test_first_window_of_a_file_is_partial(dash: BarArrays) -> None:
    # the file opens at 04:54, so the 04:50 window holds one bar of five
    assert dash.ts[0] == ns("2018-01-20T04:54:00Z")
    bars = resample(dash, 5)
    assert bars.ts[0] == ns("2018-01-20T04:50:00Z")
    assert bars.quality[0] == 20.0
    assert bars.open[0] == dash.open[0] and bars.close[0] == dash.close[0]


def test_seven_minute_windows_are_epoch_aligned(dash: BarArrays) -> None:
    bars = resample(dash, 7)
    assert (bars.ts % (7 * NS_PER_MINUTE) == 0).all()
    assert (np.diff(bars.ts) > 0).all()
    assert int(np.round(bars.quality * 7 / 100).sum()) == len(dash)


def test_daily_windows_start_at_utc_midnight(shared_data: Path) -> None:
    fesx = CsvBarSource(shared_data / "bars").load("FESX", "1m")
    days = resample(fesx, 1440)
    assert (days.ts % (1440 * NS_PER_MINUTE) == 0).all()
    first_day = datetime.fromtimestamp(int(days.ts[0]) // 10**9, UTC)
    assert first_day.isoformat() == "2006-01-02T00:00:00+00:00"
    assert days.quality.max() < 100.0  # a 13-hour session never fills a day


def test_resample_from_five_minute_source(shared_data: Path) -> None:
    five = CsvBarSource(shared_data / "bars").load("ETH_BTC", "5m")
    bars = resample(five, 15, source_minutes=5)
    assert set(np.unique(bars.quality).tolist()) <= {100.0 / 3, 200.0 / 3, 100.0}
    with pytest.raises(ValueError, match="not aligned to 15m"):
        resample(five, 30, source_minutes=15)


def test_resample_refuses_unsorted_or_misaligned_bars(dash: BarArrays) -> None:
    part = dash.slice(0, 10)
    with pytest.raises(ValueError, match="strictly ascending"):
        resample(part.take([0, 2, 1, 3]), 5)
    shifted = BarArrays(**{**part.columns(), "ts": part.ts + 1})
    with pytest.raises(ValueError, match="not aligned to 1m"):
        resample(shifted, 5)


def test_resample_of_nothing_is_empty_and_derived() -> None:
    bars = resample(BarArrays.empty(), 5)
    assert len(bars) == 0 and bars.derived


# --- incremental ----------------------------------------------------------------------


def feed(resampler: IncrementalResampler, bars: BarArrays, i: int) -> BarArrays | None:
    return resampler.add(
        int(bars.ts[i]),
        float(bars.open[i]),
        float(bars.high[i]),
        float(bars.low[i]),
        float(bars.close[i]),
        float(bars.volume[i]),
    )


def test_add_returns_previous_window_when_a_new_one_starts(dash: BarArrays) -> None:
    resampler = IncrementalResampler(5)
    start = ns("2018-01-20T05:00:00Z")
    rows = np.flatnonzero((dash.ts >= start) & (dash.ts < start + 5 * NS_PER_MINUTE))
    assert [feed(resampler, dash, int(i)) for i in rows] == [None] * len(rows)
    assert resampler.open_window == start
    done = feed(resampler, dash, int(rows[-1]) + 1)
    assert done is not None and len(done) == 1 and done.derived
    assert done.ts[0] == start and done.quality[0] == 100.0 * len(rows) / 5
    assert done.high[0] == dash.high[rows].max()
    assert resampler.open_window == start + 5 * NS_PER_MINUTE


def test_close_through_closes_a_window_whose_last_minute_never_came(
    dash: BarArrays,
) -> None:
    width = 5 * NS_PER_MINUTE
    starts = window_start(dash.ts, width)
    last_minute_missing = ~np.isin(starts + width - NS_PER_MINUTE, dash.ts)
    start = int(starts[np.flatnonzero(last_minute_missing)[0]])
    end = start + width
    rows = np.flatnonzero(starts == start)
    resampler = IncrementalResampler(5)
    assert [feed(resampler, dash, int(i)) for i in rows] == [None] * len(rows)
    assert resampler.close_through(end - 1) is None
    done = resampler.close_through(end)
    assert done is not None and done.ts[0] == start
    assert len(rows) < 5 and done.quality[0] == 100.0 * len(rows) / 5
    assert done.close[0] == dash.close[rows[-1]]
    assert resampler.open_window is None
    assert resampler.close_through(end + NS_PER_MINUTE) is None


def test_flush_closes_the_open_window(dash: BarArrays) -> None:
    resampler = IncrementalResampler(15)
    assert resampler.flush() is None
    for i in range(3):
        feed(resampler, dash, i)
    done = resampler.flush()
    assert done is not None and done.quality[0] == 100.0 * 3 / 15
    assert done.open[0] == dash.open[0] and done.close[0] == dash.close[2]
    assert resampler.flush() is None


def test_late_or_repeated_bars_are_refused(dash: BarArrays) -> None:
    resampler = IncrementalResampler(5)
    feed(resampler, dash, 0)  # 04:54, in the 04:50 window
    with pytest.raises(ValueError, match="not after the previous one"):
        feed(resampler, dash, 0)
    resampler = IncrementalResampler(5)
    feed(resampler, dash, 1)  # 04:55
    assert resampler.close_through(ns("2018-01-20T05:00:00Z")) is not None
    # a bar of the window just closed may not amend it
    with pytest.raises(ValueError, match="closed up to 2018-01-20T05:00:00Z"):
        resampler.add(ns("2018-01-20T04:59:00Z"), 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="not aligned"):
        resampler.add(ns("2018-01-20T05:01:00Z") + 1, 1.0, 1.0, 1.0, 1.0, 1.0)
