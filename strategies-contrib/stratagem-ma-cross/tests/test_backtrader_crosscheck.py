"""``ma_cross`` against backtrader's ``CrossOver(SMA(10), SMA(20))`` on real 5m bars."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stratagem.testing import load_bars, run_strategy
from stratagem_ma_cross import MACross

bt: Any = pytest.importorskip(
    "backtrader", reason="backtrader is not installed; the cross-check needs it"
)

EPOCH = datetime(1970, 1, 1)
ONE_MINUTE = timedelta(minutes=1)
FIVE_MINUTES = timedelta(minutes=5)


def read_rows(path: Path) -> list[tuple[datetime, float, float, float, float, float]]:
    """The CSV rows as naive-UTC datetimes (still bar OPEN times) and floats."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["timestamp", "open", "high", "low", "close", "volume"]
        return [
            (datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%SZ"), *map(float, row[1:]))
            for row in reader
        ]


class RowFeed(bt.feeds.DataBase):
    """1m bars from a list of ``(datetime, open, high, low, close, volume)``."""

    params = (("rows", ()),)

    def start(self) -> None:
        super().start()
        self._rows = iter(self.p.rows)

    def _load(self) -> bool:
        row = next(self._rows, None)
        if row is None:
            return False
        dt, o, h, low, c, v = row
        lines = self.lines
        lines.datetime[0] = bt.date2num(dt)
        lines.open[0], lines.high[0], lines.low[0], lines.close[0] = o, h, low, c
        lines.volume[0], lines.openinterest[0] = v, 0.0
        return True


class CrossOverLog(bt.Strategy):
    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=10), bt.ind.SMA(period=20))
        self.found: list[tuple[datetime, str]] = []

    def next(self) -> None:
        if self.cross[0]:
            side = "buy" if self.cross[0] > 0 else "sell"
            self.found.append((self.data.datetime.datetime(0), side))


def backtrader_signals(path: Path) -> list[tuple[datetime, str]]:
    """Every non-zero crossover as ``(our 5m open time, side)``.

    backtrader takes an intraday bar's datetime to be its CLOSE; our files stamp the
    OPEN. So each 1m bar is fed at open + 1 min. The resampler (defaults
    ``bar2edge=True, adjbartime=True, rightedge=True``) then puts 1m closes in
    ``(T, T + 5m]`` -- opens in ``[T, T + 5m)``, our window ``T`` -- and stamps the
    5m bar with the window END ``T + 5m``; we label it with its open ``T``, so 5 min
    are taken off. Fed unshifted, every backtrader window would start one minute
    late and hold different 1m bars.
    """
    rows = [(dt + ONE_MINUTE, *values) for dt, *values in read_rows(path)]
    cerebro = bt.Cerebro(stdstats=False)
    data = RowFeed(rows=rows, timeframe=bt.TimeFrame.Minutes, compression=1)
    cerebro.resampledata(data, timeframe=bt.TimeFrame.Minutes, compression=5)
    cerebro.addstrategy(CrossOverLog)
    (strategy,) = cerebro.run()
    return [(end - FIVE_MINUTES, side) for end, side in strategy.found]


@pytest.mark.slow
def test_ma_cross_matches_backtrader_crossover_on_btc_perp(shared_data: Path) -> None:
    path = shared_data / "bars" / "1m" / "BTC_PERP.csv"
    theirs = backtrader_signals(path)

    outcome = run_strategy(
        MACross,
        {
            "symbols": ["BTC_PERP"],
            "interval": "5m",
            "fast_period": 10,
            "slow_period": 20,
            "min_quality": 0.0,
        },
        {"BTC_PERP": load_bars(path)},
        derived_intervals=[5],
    )
    assert outcome.failures == []
    ours = [
        (EPOCH + timedelta(microseconds=s.bar_ts // 1000), s.side)
        for s in outcome.signals
    ]

    assert len(theirs) > 100
    assert {side for _, side in theirs} == {"buy", "sell"}
    assert all(dt.minute % 5 == 0 and dt.second == 0 for dt, _ in theirs)
    assert ours == theirs
