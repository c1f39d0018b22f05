"""Benchmark 1: data-driven throughput of ma_cross on five real 1m files.

Four contenders over the same five Bittrex files (ADA, DASH, ETC, ETH, LTC ``_BTC``),
each timed end to end including reading the CSV files:

- stratagem in-process: ``load_session`` + ``build_session(...).run()``;
- stratagem CLI: ``python -m stratagem.cli run`` in a subprocess (interpreter start-up,
  imports and the default reporters included);
- backtrader: ``GenericCSVData`` feeds resampled to 5m, ``CrossOver(SMA10, SMA20)``;
- a plain-numpy floor: pyarrow CSV read, ``reduceat`` resampling, cumsum SMAs,
  vectorised crossings.

Each repeat runs the four one after another, so machine noise hits them alike.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    FIVE,
    NS_PER_MINUTE,
    Context,
    Result,
    Target,
    count_rows,
    make_quick_data,
    run_session,
    write_session,
)

TARGET_VS_BACKTRADER = 25.0
TARGET_VS_NUMPY = 4.0
TARGET_EXECUTION_COST = 1.10
EXECUTION = {"broker": "paper", "initial_cash": 100.0, "fee_rate": 0.001}

METHOD = (
    "ma_cross (5m, fast 10 / slow 20, min_quality 0) on the five Bittrex 1m files, "
    "session deriving 5m and 15m, data-driven. Each contender is timed from before "
    "it reads the CSV files to after its last signal: stratagem in-process "
    "(load_session + build_session, reporters off, outputs written), the CLI in a "
    "subprocess (python -m stratagem.cli run, default reporters, bytecode caches "
    "allowed and warmed), backtrader "
    "(GenericCSVData feeds shifted +1 min to close-stamped, resampledata to 5m, one "
    "CrossOver(SMA10, SMA20) per feed, stdstats off) and a numpy floor (pyarrow CSV "
    "read, 5m and 15m OHLCV by reduceat, cumsum SMAs, vectorised crossings with "
    "ma_cross's last-non-zero rule). Rate = 1m bars in the files / wall seconds. "
    "'with execution' is the in-process run with paper execution on (fixed_qty 1, "
    "long_short, fee 0.1%: fills, trades, equity and portfolio written). "
    "Ratios are per repeat (contenders run back to back), then median and min-max."
)


# --- backtrader -----------------------------------------------------------------------


def backtrader_run(bars_root: Path) -> tuple[int, int]:
    """Run the backtrader equivalent; returns ``(1m bars fed, crossovers)``."""
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
    for symbol in FIVE:
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


# --- numpy floor --------------------------------------------------------------------


def _resample(ts: np.ndarray, cols: dict[str, np.ndarray], minutes: int) -> dict:
    width = minutes * NS_PER_MINUTE
    window = ts - ts % width
    starts = np.flatnonzero(np.concatenate(([True], window[1:] != window[:-1])))
    ends = np.append(starts[1:], len(ts)) - 1
    return {
        "ts": window[starts],
        "open": cols["open"][starts],
        "high": np.maximum.reduceat(cols["high"], starts),
        "low": np.minimum.reduceat(cols["low"], starts),
        "close": cols["close"][ends],
        "volume": np.add.reduceat(cols["volume"], starts),
        "quality": np.diff(np.append(starts, len(ts))) * (100.0 / minutes),
    }


def crossings(close: np.ndarray, fast: int = 10, slow: int = 20) -> int:
    """Crossings of SMA(fast) and SMA(slow) by ma_cross's rule (last non-zero d)."""
    if len(close) < slow:
        return 0
    sums = np.concatenate(([0.0], np.cumsum(close)))
    d = (sums[slow:] - sums[slow - fast : -fast]) / fast - (
        sums[slow:] - sums[:-slow]
    ) / slow
    sign = np.sign(d)
    # the sign of the last non-zero d before each bar (the first d seeds it)
    last = np.maximum.accumulate(np.where(sign != 0, np.arange(len(sign)), -1))
    before = np.where(last[:-1] >= 0, sign[np.maximum(last[:-1], 0)], 0.0)
    now = sign[1:]
    return int(np.count_nonzero((now != 0) & (before != 0) & (now != before)))


def numpy_run(bars_root: Path) -> tuple[int, int]:
    """The floor: same bars in, same crossings out; returns ``(1m bars, crossings)``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"timestamp": pa.timestamp("ns", tz="UTC")}
    types.update(
        {name: pa.float64() for name in ("open", "high", "low", "close", "volume")}
    )
    options = pacsv.ConvertOptions(column_types=types)
    bars = signals = 0
    for symbol in FIVE:
        table = pacsv.read_csv(
            bars_root / "1m" / f"{symbol}.csv", convert_options=options
        )
        ts = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        cols = {
            name: table.column(name).combine_chunks().to_numpy()
            for name in ("open", "high", "low", "close", "volume")
        }
        bars += len(ts)
        five = _resample(ts, cols, 5)
        _resample(ts, cols, 15)
        signals += crossings(five["close"])
    return bars, signals


# --- stratagem ----------------------------------------------------------------------


def stratagem_run(config: Path, out_dir: Path) -> tuple[int, int]:
    """In-process run; returns ``(1m bars in, signals)``."""
    _, outcome = run_session(config, out_dir)
    return int(outcome.metrics["system"]["bars_in"]), len(outcome.signals)


def cli_run(config: Path, out_dir: Path) -> int:
    """CLI run in a subprocess; returns the number of signals it wrote."""
    # a user's installation has bytecode caches; this sandbox may forbid writing them
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(config),
            "--out",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stratagem run exited {done.returncode}:\n{done.stderr}")
    with (out_dir / "signals.csv").open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def _check_fed(name: str, fed: int, bars: int) -> None:
    if fed != bars:
        raise RuntimeError(f"{name} took {fed} 1m bars in; the files hold {bars}")


def run(ctx: Context) -> Result:
    result = Result("throughput", "Throughput, data-driven (ma_cross, 5 files)", METHOD)
    scratch = ctx.tmpdir("throughput-")
    engine_cfg = write_session(scratch / "engine.json", ctx.bars_root, reporters=())
    exec_cfg = write_session(
        scratch / "exec.json", ctx.bars_root, reporters=(), execution=EXECUTION
    )
    cli_cfg = write_session(scratch / "cli.json", ctx.bars_root, reporters=None)
    bars = count_rows(ctx.bars_root)
    result.info["bars_1m"] = bars

    # warm every contender's imports and code paths on a small copy of the files
    warm_root = make_quick_data(ctx.bars_root, scratch / "warm", rows=300)
    warm_cfg = write_session(scratch / "warm.json", warm_root, reporters=())
    stratagem_run(warm_cfg, scratch / "warm-out")
    cli_run(
        write_session(scratch / "warm-cli.json", warm_root, reporters=None),
        scratch / "warm-cli",
    )
    backtrader_run(warm_root)
    numpy_run(warm_root)

    rates = {
        "stratagem": result.figure("stratagem in-process", "1m bars/s"),
        "execution": result.figure("stratagem in-process with execution", "1m bars/s"),
        "cli": result.figure("stratagem CLI (subprocess)", "1m bars/s"),
        "backtrader": result.figure("backtrader", "1m bars/s"),
        "numpy": result.figure("numpy floor", "1m bars/s"),
    }
    seconds = {
        "stratagem": result.figure("stratagem in-process wall", "s"),
        "execution": result.figure("stratagem with execution wall", "s"),
        "cli": result.figure("stratagem CLI wall", "s"),
        "backtrader": result.figure("backtrader wall", "s"),
        "numpy": result.figure("numpy floor wall", "s"),
    }
    vs_bt = result.ratio("stratagem / backtrader (in-process)")
    cli_vs_bt = result.ratio("stratagem CLI / backtrader")
    np_vs_us = result.ratio("numpy / stratagem (in-process)")
    exec_cost = result.ratio("with execution / signals only (in-process wall)")
    counts: dict[str, set[int]] = {name: set() for name in rates}
    for index in range(ctx.repeat):
        out = ctx.tmpdir(f"throughput-{index}-")
        walls: dict[str, float] = {}
        walls["stratagem"], (fed, signals) = _timed(
            stratagem_run, engine_cfg, out / "a"
        )
        _check_fed("stratagem", fed, bars)
        counts["stratagem"].add(signals)
        walls["execution"], (fed, signals) = _timed(stratagem_run, exec_cfg, out / "x")
        _check_fed("stratagem with execution", fed, bars)
        counts["execution"].add(signals)
        walls["cli"], signals = _timed(cli_run, cli_cfg, out / "cli")
        counts["cli"].add(signals)
        walls["backtrader"], (fed, signals) = _timed(backtrader_run, ctx.bars_root)
        _check_fed("backtrader", fed, bars)
        counts["backtrader"].add(signals)
        walls["numpy"], (fed, signals) = _timed(numpy_run, ctx.bars_root)
        _check_fed("numpy", fed, bars)
        counts["numpy"].add(signals)
        for name, wall in walls.items():
            seconds[name].add(wall)
            rates[name].add(bars / wall)
        vs_bt.add(walls["backtrader"] / walls["stratagem"])
        cli_vs_bt.add(walls["backtrader"] / walls["cli"])
        np_vs_us.add(walls["stratagem"] / walls["numpy"])
        exec_cost.add(walls["execution"] / walls["stratagem"])
        ctx.log(
            f"throughput repeat {index + 1}: "
            + ", ".join(f"{k} {v:.3f}s" for k, v in walls.items())
        )
    result.info["signals"] = {name: sorted(found) for name, found in counts.items()}
    print(
        "throughput signal counts: "
        + ", ".join(f"{name} {sorted(found)}" for name, found in counts.items()),
        file=sys.stderr,
    )
    result.targets = [
        Target(
            "stratagem >= 25x backtrader (in-process, 1m bars/s)",
            vs_bt.median,
            ">=",
            TARGET_VS_BACKTRADER,
            "x",
        ),
        Target(
            "stratagem within 4x of the numpy floor",
            np_vs_us.median,
            "<=",
            TARGET_VS_NUMPY,
            "x",
            "numpy rate / stratagem rate",
        ),
        Target(
            "execution adds at most 10% to the data-driven run",
            exec_cost.median,
            "<=",
            TARGET_EXECUTION_COST,
            "x",
            "wall with paper execution / wall signals only",
        ),
    ]
    return result
