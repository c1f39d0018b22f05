"""validate_bars on real bars with one defect each, under both policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE, NS_PER_SECOND
from stratagem._data.sources import CsvBarSource
from stratagem._data.validation import (
    ISSUE_LIMIT,
    RULES,
    BarValidationError,
    validate_bars,
)

FILE = "bars/1m/ETH_BTC.csv"


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> BarArrays:
    """The first 40 real 1m bars of ETH_BTC, as a private copy."""
    bars = CsvBarSource(shared_data / "bars").load("ETH_BTC", "1m").slice(0, 40)
    return BarArrays(**{name: col.copy() for name, col in bars.columns().items()})


def edited(bars: BarArrays, column: str, row: int, value: float | int) -> BarArrays:
    """A copy of ``bars`` with one value changed (``row`` is a 0-based index)."""
    cols = {name: col.copy() for name, col in bars.columns().items()}
    cols[column][row] = value
    return BarArrays(**cols)


def reordered(bars: BarArrays, order: list[int]) -> BarArrays:
    return bars.take(np.asarray(order))


def check(bars: BarArrays, policy: str = "reject"):
    return validate_bars(bars, file=FILE, interval_ns=NS_PER_MINUTE, policy=policy)


def rejected(bars: BarArrays) -> BarValidationError:
    with pytest.raises(BarValidationError) as info:
        check(bars, "reject")
    return info.value


def test_real_bars_pass_unchanged(eth: BarArrays) -> None:
    kept, report = check(eth, "reject")
    assert kept is eth
    assert report.ok and report.rows_in == report.rows_out == 40
    assert set(report.counts) == set(RULES) and not any(report.counts.values())


# --- non-finite values ----------------------------------------------------------------


def test_nan_rejected_with_file_row_time_and_column(eth: BarArrays) -> None:
    error = rejected(edited(eth, "high", 4, np.nan))
    text = str(error)
    # index 4 is the fifth data row: line 6 of the file
    assert FILE in text and "row 6" in text and "column high" in text
    assert "non_finite" in text
    assert "2018-01-20T04:57:00Z" in text
    [issue] = error.issues
    assert (issue.row, issue.column, issue.rule) == (6, "high", "non_finite")
    assert issue.ts == int(eth.ts[4])
    assert error.report.counts["non_finite"] == 1


def test_nan_dropped_counted_and_reported(eth: BarArrays) -> None:
    kept, report = check(edited(eth, "close", 7, np.nan), "drop")
    assert len(kept) == 39
    assert int(eth.ts[7]) not in set(kept.ts.tolist())
    assert report.counts["non_finite"] == 1 and report.dropped == 1
    assert report.bad_rows.tolist() == [9]
    assert report.issues[0].column == "close"
    assert np.isfinite(kept.close).all()


def test_infinite_volume_is_non_finite(eth: BarArrays) -> None:
    kept, report = check(edited(eth, "volume", 0, np.inf), "drop")
    assert report.counts["non_finite"] == 1 and report.issues[0].column == "volume"
    assert kept.ts[0] == eth.ts[1]


# --- high < low, open/close outside [low, high] ---------------------------------------


def test_high_below_low_rejected(eth: BarArrays) -> None:
    bad = edited(eth, "high", 10, float(eth.low[10]) / 2)
    error = rejected(bad)
    [issue] = error.issues
    assert (issue.row, issue.column, issue.rule) == (12, "high", "high_below_low")
    assert "row 12" in str(error) and "high_below_low" in str(error)
    # an inverted range is reported once, not again as open/close outside it
    assert error.report.counts["outside_range"] == 0


def test_high_below_low_dropped(eth: BarArrays) -> None:
    bad = edited(eth, "high", 10, float(eth.low[10]) / 2)
    kept, report = check(bad, "drop")
    assert len(kept) == 39 and int(eth.ts[10]) not in kept.ts.tolist()
    assert report.counts["high_below_low"] == 1
    assert (kept.high >= kept.low).all()


def test_open_above_high_rejected(eth: BarArrays) -> None:
    error = rejected(edited(eth, "open", 3, float(eth.high[3]) * 1.01))
    [issue] = error.issues
    assert (issue.column, issue.rule) == ("open", "outside_range")


def test_close_below_low_dropped(eth: BarArrays) -> None:
    kept, report = check(edited(eth, "close", 3, float(eth.low[3]) * 0.99), "drop")
    assert report.counts["outside_range"] == 1 and report.issues[0].column == "close"
    assert len(kept) == 39


def test_real_spy_rows_with_open_below_low(shared_data: Path) -> None:
    # the data README documents exactly two such rows in the Yahoo source
    source = CsvBarSource(shared_data / "bars")
    with pytest.raises(BarValidationError) as info:
        source.load("SPY", "1d")
    text = str(info.value)
    assert "row 1808" in text and "2015-03-05T00:00:00Z" in text
    assert "row 1825" in text and "2015-03-30T00:00:00Z" in text
    assert info.value.report.counts["outside_range"] == 2
    kept = CsvBarSource(shared_data / "bars", "drop").load("SPY", "1d")
    assert len(kept) == 2519 - 2
    assert ((kept.open >= kept.low) & (kept.open <= kept.high)).all()


# --- non-positive prices, negative volume ---------------------------------------------


def test_zero_price_rejected(eth: BarArrays) -> None:
    error = rejected(edited(eth, "low", 20, 0.0))
    assert error.report.counts["non_positive_price"] == 1
    assert any(
        i.rule == "non_positive_price" and i.column == "low" for i in error.issues
    )


def test_negative_volume_dropped(eth: BarArrays) -> None:
    kept, report = check(edited(eth, "volume", 5, -1.0), "drop")
    assert report.counts["negative_volume"] == 1 and len(kept) == 39
    assert (kept.volume >= 0).all()


# --- duplicated rows ------------------------------------------------------------------


def test_duplicated_row_rejected(eth: BarArrays) -> None:
    order = list(range(40))
    order.insert(16, 15)  # row 15 twice in a row
    error = rejected(reordered(eth, order))
    [issue] = error.issues
    assert issue.rule == "duplicate_timestamp" and issue.column == "timestamp"
    assert issue.row == 18 and "same time as row 17" in issue.message
    assert error.report.counts["duplicate_timestamp"] == 1
    assert error.report.counts["out_of_order"] == 0


def test_duplicated_time_dropped_keeps_first(eth: BarArrays) -> None:
    doubled = reordered(eth, [*range(16), 15, *range(16, 40)])
    doubled.close[16] = float(eth.close[15]) + 1e-8  # same time, other values
    kept, report = check(doubled, "drop")
    assert len(kept) == 40
    np.testing.assert_array_equal(kept.ts, eth.ts)
    assert kept.close[15] == eth.close[15]
    assert report.counts["duplicate_timestamp"] == 1 and report.dropped == 1


# --- unsorted rows --------------------------------------------------------------------


def test_unsorted_rows_rejected(eth: BarArrays) -> None:
    order = list(range(40))
    order[20], order[21] = 21, 20
    error = rejected(reordered(eth, order))
    [issue] = error.issues
    assert (issue.row, issue.rule) == (23, "out_of_order")
    assert issue.ts == int(eth.ts[20])
    assert "not after row 22" in issue.message


def test_unsorted_rows_dropped(eth: BarArrays) -> None:
    order = list(range(40))
    order[20], order[21] = 21, 20
    kept, report = check(reordered(eth, order), "drop")
    assert report.counts["out_of_order"] == 1 and len(kept) == 39
    assert (np.diff(kept.ts) > 0).all()
    assert int(eth.ts[20]) not in kept.ts.tolist()


# --- misaligned timestamps ------------------------------------------------------------


def test_misaligned_timestamp_rejected(eth: BarArrays) -> None:
    bad = edited(eth, "ts", 30, int(eth.ts[30]) + 30 * NS_PER_SECOND)
    error = rejected(bad)
    [issue] = error.issues
    assert (issue.row, issue.column, issue.rule) == (
        32,
        "timestamp",
        "misaligned_timestamp",
    )
    assert "30 s past" in issue.message


def test_misaligned_timestamp_dropped(eth: BarArrays) -> None:
    bad = edited(eth, "ts", 30, int(eth.ts[30]) + 30 * NS_PER_SECOND)
    kept, report = check(bad, "drop")
    assert report.counts["misaligned_timestamp"] == 1 and len(kept) == 39
    assert (kept.ts % NS_PER_MINUTE == 0).all()


# --- reporting ------------------------------------------------------------------------


def test_message_lists_the_first_issues_and_counts_all(eth: BarArrays) -> None:
    cols = {name: col.copy() for name, col in eth.columns().items()}
    cols["volume"][:] = np.nan
    cols["high"][::2] = cols["low"][::2] / 2
    error = rejected(BarArrays(**cols))
    assert len(error.issues) == ISSUE_LIMIT
    assert [i.row for i in error.issues] == sorted(i.row for i in error.issues)
    assert error.report.counts["non_finite"] == 40
    assert error.report.counts["high_below_low"] == 20
    assert error.report.issue_total == 60
    assert f"and {60 - ISSUE_LIMIT} more issues" in str(error)
    assert "non_finite: 40, high_below_low: 20" in str(error)


def test_report_as_dict_is_json_ready(eth: BarArrays) -> None:
    import json

    _, report = check(edited(eth, "high", 4, np.nan), "drop")
    body = json.loads(json.dumps(report.as_dict()))
    assert body["dropped"] == 1 and body["counts"] == {"non_finite": 1}
    assert body["issues"][0]["ts"] == "2018-01-20T04:57:00Z"
    assert body["bad_rows"] == [6]


def test_row_numbers_follow_offset_or_explicit_rows(eth: BarArrays) -> None:
    bad = edited(eth, "high", 2, np.nan)
    _, report = validate_bars(
        bad, file="x.parquet", interval_ns=NS_PER_MINUTE, policy="drop", row_offset=1
    )
    assert report.issues[0].row == 3
    rows = np.arange(100, 140, dtype=np.int64)
    _, report = validate_bars(
        bad, file="x.csv", interval_ns=NS_PER_MINUTE, policy="drop", rows=rows
    )
    assert report.issues[0].row == 102


def test_unknown_policy_is_refused(eth: BarArrays) -> None:
    with pytest.raises(ValueError, match="'reject' or 'drop'"):
        validate_bars(eth, file=FILE, interval_ns=NS_PER_MINUTE, policy="ignore")
