"""The benchmark's ma_cross in backtrader: SMA 10/20 crossings on 5m bars resampled
from the 1m files by backtrader itself.

Imported by the throughput benchmark (in-process contender) and run as a script for
the end-to-end timing, so it imports nothing but backtrader:

    python bench/backtrader_ma_cross.py BARS_ROOT SYMBOL [SYMBOL ...]

prints one JSON line ``{"bars": <1m bars fed>, "crossings": <count>}``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path


def backtrader_run(bars_root: Path, symbols: list[str]) -> tuple[int, int]:
    """Run the backtrader equivalent; returns ``(1m bars fed, crossovers)``.

    :param bars_root: folder holding ``1m/<SYMBOL>.csv``.
    :param symbols: the files to feed, one data feed each.
    """
    import backtrader as bt
    from backtrader.utils import date2num, num2date

    one_minute = timedelta(minutes=1)
    fed = [0]

    class CloseStampedCSV(bt.feeds.GenericCSVData):
        """Our files stamp the bar OPEN; backtrader takes a bar's time as its close."""

        def _loadline(self, linetokens: list[str]) -> bool:
            if not super()._loadline(linetokens):
                return False
            line = self.lines.datetime
            line[0] = date2num(num2date(line[0]) + one_minute)
            fed[0] += 1
            return True

    class CrossLog(bt.Strategy):
        def __init__(self) -> None:
            self.crosses = [
                bt.ind.CrossOver(bt.ind.SMA(d, period=10), bt.ind.SMA(d, period=20))
                for d in self.datas
            ]
            self.seen = [0] * len(self.datas)
            self.found: list[tuple[int, datetime, float]] = []

        def prenext(self) -> None:
            # feeds start at different minutes: record before every one is warm
            self.next()

        def next(self) -> None:
            for index, data in enumerate(self.datas):
                length = len(data)
                if length == self.seen[index]:
                    continue
                self.seen[index] = length
                value = self.crosses[index][0]
                if value == value and value != 0.0:
                    self.found.append((index, data.datetime.datetime(0), value))

    cerebro = bt.Cerebro(stdstats=False)
    for symbol in symbols:
        feed = CloseStampedCSV(
            dataname=str(bars_root / "1m" / f"{symbol}.csv"),
            dtformat="%Y-%m-%dT%H:%M:%SZ",
            timeframe=bt.TimeFrame.Minutes,
            compression=1,
            openinterest=-1,
        )
        cerebro.resampledata(feed, timeframe=bt.TimeFrame.Minutes, compression=5)
    cerebro.addstrategy(CrossLog)
    (strategy,) = cerebro.run()
    return fed[0], len(strategy.found)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    fed, found = backtrader_run(Path(sys.argv[1]), sys.argv[2:])
    print(json.dumps({"bars": fed, "crossings": found}))
