"""Derived bars against references: the exchange's own 5m bars, an independent
plain-Python 15m aggregation, and each other (bulk vs incremental) on every 1m file."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.resample import IncrementalResampler, resample
from stratagem._data.sources import CsvBarSource, write_bars_csv

BITTREX = (
    "ADA_BTC",
    "DASH_BTC",
    "ETC_BTC",
    "ETH_BTC",
    "LTC_BTC",
    "NXT_BTC",
    "POWR_BTC",
    "XLM_BTC",
    "XMR_BTC",
    "ZEC_BTC",
)


@pytest.fixture(scope="module")
def source(shared_data: Path) -> CsvBarSource:
    return CsvBarSource(shared_data / "bars", validation="drop")


@pytest.fixture(scope="module")
def one_minute(source: CsvBarSource) -> dict[str, BarArrays]:
    """Every 1m file of the shared data."""
    bars = {symbol: source.load(symbol, "1m") for symbol in source.symbols("1m")}
    assert len(bars) >= 14
    return bars


# --- (a) the exchange's own 5m bars ---------------------------------------------------


@pytest.mark.parametrize("symbol", BITTREX)
def test_5m_from_1m_reproduces_the_exchange_5m_file(
    symbol: str, source: CsvBarSource, one_minute: dict[str, BarArrays]
) -> None:
    minute = one_minute[symbol]
    exchange = source.load(symbol, "5m")
    ours = resample(minute, 5)
    width = 5 * NS_PER_MINUTE
    lo, hi = int(minute.ts[0]), int(minute.ts[-1]) + NS_PER_MINUTE

    def inside(bars: BarArrays) -> BarArrays:
        # windows fully inside the 1m file's range; the first and last may be partial
        return bars.take((bars.ts >= lo) & (bars.ts + width <= hi))

    ours, exchange = inside(ours), inside(exchange)
    assert len(exchange) > 1400  # ZEC_BTC 1m covers 5 days, the others 10
    np.testing.assert_array_equal(ours.ts, exchange.ts)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(
            getattr(ours, name), getattr(exchange, name), name
        )
    np.testing.assert_allclose(ours.volume, exchange.volume, rtol=1e-9, atol=0)


# --- (b) an independent 15m reference -------------------------------------------------


def reference_15m(path: Path) -> dict[int, list[float]]:
    """15m bars by a plain loop over the CSV text.

    :returns: ``{window start ns: [open, high, low, close, volume, bars]}``.
    """
    windows: dict[int, list[float]] = {}
    with path.open(newline="") as stream:
        for row in csv.DictReader(stream):
            moment = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            minute = int(moment.timestamp()) // 60
            start = (minute - minute % 15) * 60 * 10**9
            o, h, lo, c, v = (
                float(row[k]) for k in ("open", "high", "low", "close", "volume")
            )
            bar = windows.get(start)
            if bar is None:
                windows[start] = [o, h, lo, c, v, 1]
            else:
                bar[1] = max(bar[1], h)
                bar[2] = min(bar[2], lo)
                bar[3] = c
                bar[4] += v
                bar[5] += 1
    return windows


@pytest.mark.parametrize("symbol", ["DASH_BTC", "POWR_BTC", "6EH4", "FESX"])
def test_15m_equals_a_plain_python_reference(
    symbol: str, shared_data: Path, one_minute: dict[str, BarArrays]
) -> None:
    expected = reference_15m(shared_data / "bars" / "1m" / f"{symbol}.csv")
    ours = resample(one_minute[symbol], 15)
    assert ours.ts.tolist() == sorted(expected)
    table = np.array([expected[t] for t in ours.ts.tolist()])
    for k, name in enumerate(("open", "high", "low", "close", "volume")):
        np.testing.assert_array_equal(getattr(ours, name), table[:, k], name)
    np.testing.assert_array_equal(ours.quality, 100.0 * table[:, 5] / 15)
    assert (ours.quality < 100.0).any() and (ours.quality == 100.0).any()


# --- (c) bulk and incremental agree on every 1m file ----------------------------------


def incremental(bars: BarArrays, minutes: int) -> BarArrays:
    """Drive an IncrementalResampler like a session: time moves to each bar's close."""
    resampler = IncrementalResampler(minutes)
    out: list[BarArrays] = []
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
    for ts, o, h, lo, c, v in zip(*(col.tolist() for col in columns), strict=True):
        done = resampler.add(ts, o, h, lo, c, v)
        if done is not None:
            out.append(done)
        done = resampler.close_through(ts + NS_PER_MINUTE)
        if done is not None:
            out.append(done)
    done = resampler.flush()
    if done is not None:
        out.append(done)
    return BarArrays.concat(out)


@pytest.mark.parametrize("minutes", [5, 15, 7])
def test_bulk_and_incremental_agree_bitwise_on_every_1m_file(
    minutes: int, one_minute: dict[str, BarArrays]
) -> None:
    for symbol, bars in one_minute.items():
        bulk = resample(bars, minutes)
        live = incremental(bars, minutes)
        assert len(bulk) == len(live), symbol
        for name, column in bulk.columns().items():
            other = live.columns()[name]
            assert column.dtype == other.dtype
            assert column.tobytes() == other.tobytes(), f"{symbol} {minutes}m {name}"


# --- (d) CSV round trip ---------------------------------------------------------------


def test_csv_round_trip_is_exact(
    tmp_path: Path, source: CsvBarSource, one_minute: dict[str, BarArrays]
) -> None:
    cases: dict[tuple[str, str], BarArrays] = {
        (symbol, "1m"): bars for symbol, bars in one_minute.items()
    }
    for interval in ("5m", "1h", "1d"):
        for symbol in source.symbols(interval):
            cases[(symbol, interval)] = source.load(symbol, interval)
    cases[("DASH_BTC", "15m")] = resample(one_minute["DASH_BTC"], 15)
    cases[("ETH_BTC", "7m")] = resample(one_minute["ETH_BTC"], 7)
    for (symbol, interval), bars in cases.items():
        write_bars_csv(tmp_path / interval / f"{symbol}.csv", bars)
    back = CsvBarSource(tmp_path)
    for (symbol, interval), bars in cases.items():
        again = back.load(symbol, interval)
        assert again.derived == bars.derived, (symbol, interval)
        for name, column in bars.columns().items():
            other = again.columns()[name]
            assert column.tobytes() == other.tobytes(), (symbol, interval, name)
    assert len(back.files_used) == len(cases) >= 29  # every shared file and two derived
