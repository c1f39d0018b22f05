"""The benchmark's ma_cross in backtrader: SMA 10/20 crossings on 5m bars resampled
from the 1m files by backtrader itself.

Imported by the throughput benchmark (in-process contender) and the sweep benchmark
(``optstrategy`` over the same strategy), and run as a script for the end-to-end
timing, so it imports nothing but backtrader:

    python bench/backtrader_ma_cross.py BARS_ROOT SYMBOL [SYMBOL ...]

prints one JSON line ``{"bars": <1m bars fed>, "crossings": <count>}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import backtrader as bt
from backtrader.utils import date2num, num2date

_ONE_MINUTE = timedelta(minutes=1)


class CloseStampedCSV(bt.feeds.GenericCSVData):
    """Our files stamp the bar OPEN; backtrader takes a bar's time as its close.
    Counts the 1m bars it feeds in ``fed``."""

    fed = 0

    def _loadline(self, linetokens: list[str]) -> bool:
        if not super()._loadline(linetokens):
            return False
        line = self.lines.datetime
        line[0] = date2num(num2date(line[0]) + _ONE_MINUTE)
        self.fed += 1
        return True


class CrossLog(bt.Strategy):
    """One ``CrossOver(SMA(fast), SMA(slow))`` per feed; counts crossings."""

    params = (("fast", 10), ("slow", 20))

    def __init__(self) -> None:
        self.crosses = [
            bt.ind.CrossOver(
                bt.ind.SMA(d, period=self.p.fast), bt.ind.SMA(d, period=self.p.slow)
            )
            for d in self.datas
        ]
        self.seen = [0] * len(self.datas)
        self.count = 0

    def prenext(self) -> None:
        # feeds start at different minutes: count before every one is warm
        self.next()

    def next(self) -> None:
        for index, data in enumerate(self.datas):
            length = len(data)
            if length == self.seen[index]:
                continue
            self.seen[index] = length
            value = self.crosses[index][0]
            if value == value and value != 0.0:
                self.count += 1


def add_feeds(
    cerebro: bt.Cerebro, bars_root: Path, symbols: Sequence[str]
) -> list[CloseStampedCSV]:
    """One 1m feed per symbol, resampled to 5m by backtrader; the 1m feeds."""
    feeds = []
    for symbol in symbols:
        feed = CloseStampedCSV(
            dataname=str(bars_root / "1m" / f"{symbol}.csv"),
            dtformat="%Y-%m-%dT%H:%M:%SZ",
            timeframe=bt.TimeFrame.Minutes,
            compression=1,
            openinterest=-1,
        )
        cerebro.resampledata(feed, timeframe=bt.TimeFrame.Minutes, compression=5)
        feeds.append(feed)
    return feeds


def backtrader_run(bars_root: Path, symbols: list[str]) -> tuple[int, int]:
    """Run the backtrader equivalent; returns ``(1m bars fed, crossovers)``.

    :param bars_root: folder holding ``1m/<SYMBOL>.csv``.
    :param symbols: the files to feed, one data feed each.
    """
    cerebro = bt.Cerebro(stdstats=False)
    feeds = add_feeds(cerebro, bars_root, symbols)
    cerebro.addstrategy(CrossLog)
    (strategy,) = cerebro.run()
    return sum(feed.fed for feed in feeds), strategy.count


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    fed, found = backtrader_run(Path(sys.argv[1]), sys.argv[2:])
    print(json.dumps({"bars": fed, "crossings": found}))
