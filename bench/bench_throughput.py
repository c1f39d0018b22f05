"""Benchmark 1: data-driven throughput of ma_cross on five real 1m files.

Contenders over the same five Bittrex files (ADA, DASH, ETC, ETH, LTC ``_BTC``),
each timed end to end including reading the CSV files, by wall time and by CPU time:

- in one process (imports done by a warm-up run): stratagem (``load_session`` +
  ``build_session(...).run()``, with and without paper execution), backtrader
  (``GenericCSVData`` feeds resampled to 5m, ``CrossOver(SMA10, SMA20)``),
  NautilusTrader (``BacktestEngine``, 1m bars aggregated to 5m by nautilus, its own
  ``SimpleMovingAverage`` 10/20) and a plain-numpy floor;
- each as a whole process timed from outside (spawn to exit, CPU and peak RSS from
  ``wait4``): ``stratagem run`` (the console script, default reporters),
  backtrader's and nautilus's scripts, and ``python -c pass`` for the interpreter's
  own start-up, which the "net" ratios take off every side.

Each repeat runs every contender once, one after another, so machine noise hits them
alike; ratios are taken per repeat, then the median.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from _common import (
    FIVE,
    NS_PER_MINUTE,
    Context,
    Result,
    Target,
    Timed,
    bytecode_env,
    count_rows,
    make_quick_data,
    run_session,
    stratagem_command,
    timed,
    timed_process,
    write_session,
)
from backtrader_ma_cross import backtrader_run
from nautilus_ma_cross import nautilus_missing, nautilus_run

BENCH = Path(__file__).resolve().parent
TARGET_VS_BACKTRADER = 25.0
TARGET_VS_NUMPY = 4.0
TARGET_EXECUTION_COST = 1.10
EXECUTION = {"broker": "paper", "initial_cash": 100.0, "fee_rate": 0.001}

METHOD = (
    "ma_cross (5m, fast 10 / slow 20, min_quality 0) on the five Bittrex 1m files, "
    "session deriving 5m and 15m, data-driven. In-process contenders (imports done "
    "by a warm-up run) are timed from before they read the CSV files to after their "
    "last signal: stratagem (load_session + build_session, reporters off, outputs "
    "written; 'with execution' adds paper execution: fixed_qty 1, long_short, fee "
    "0.1%), backtrader (GenericCSVData feeds shifted +1 min to close-stamped, "
    "resampledata to 5m, one CrossOver(SMA10, SMA20) per feed, stdstats off), "
    "NautilusTrader (BacktestEngine; pandas CSV read and BarDataWrangler, bars "
    "shifted +1 min, 5-MINUTE-LAST-INTERNAL@1-MINUTE-EXTERNAL aggregation by "
    "nautilus, its SimpleMovingAverage 10/20, crossings by ma_cross's rule) and a "
    "numpy floor (pyarrow CSV read, 5m and 15m OHLCV by reduceat, cumsum SMAs, "
    "vectorised crossings). End to end: each engine as a whole process timed from "
    "outside (stratagem run with default reporters, backtrader_ma_cross.py, "
    "nautilus_ma_cross.py; bytecode caches warmed); 'net' takes the time of "
    "python -c pass in the same repeat off both sides. Every time is taken by wall "
    "clock and by CPU (all threads, user + system); rate = 1m bars in the files / "
    "wall seconds. Ratios are per repeat (contenders back to back), then median and "
    "min-max; a target is MET only when the wall and the CPU ratio both meet it."
)


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


def cli_run(config: Path, out_dir: Path) -> Timed:
    """``stratagem run`` as a user starts it, timed from outside; its value is the
    number of signals it wrote."""
    done = timed_process(
        [*stratagem_command(), "run", str(config), "--out", str(out_dir)],
        env=bytecode_env(),
    )
    with (out_dir / "signals.csv").open(newline="") as handle:
        signals = sum(1 for _ in csv.reader(handle)) - 1
    return Timed(done.wall, done.cpu, signals, done.peak_rss)


def script_run(script: str, bars_root: Path) -> Timed:
    """Another engine's script as a whole process; value ``(bars, crossings)``."""
    done = timed_process(
        [sys.executable, str(BENCH / script), str(bars_root), *FIVE],
        env=bytecode_env(),
    )
    body = json.loads(done.value.splitlines()[-1])
    return Timed(done.wall, done.cpu, (body["bars"], body["crossings"]), done.peak_rss)


def startup_run() -> Timed:
    """The interpreter alone: ``python -c pass``."""
    return timed_process([sys.executable, "-c", "pass"], env=bytecode_env())


def _check_fed(name: str, fed: int, bars: int) -> None:
    if fed != bars:
        raise RuntimeError(f"{name} took {fed} 1m bars in; the files hold {bars}")


class _Pairs:
    """Ratio figures kept by wall and by CPU time, side by side."""

    def __init__(self, result: Result) -> None:
        self.result = result

    def add(
        self, name: str, slow: Timed, fast: Timed, net: Timed | None = None
    ) -> None:
        """Add ``slow / fast`` (each minus ``net`` when given) by wall and by CPU."""
        base_wall = net.wall if net else 0.0
        base_cpu = net.cpu if net else 0.0
        self.result.ratio(f"{name} (wall)").add(
            (slow.wall - base_wall) / (fast.wall - base_wall)
        )
        self.result.ratio(f"{name} (CPU)").add(
            (slow.cpu - base_cpu) / (fast.cpu - base_cpu)
        )

    def target(
        self, label: str, name: str, op: str, threshold: float, detail: str = ""
    ) -> Target:
        wall = self.result.get(f"{name} (wall)").median
        cpu = self.result.get(f"{name} (CPU)").median
        return Target(label, wall, op, threshold, "x", detail, cpu_value=cpu)


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
    missing = nautilus_missing()
    result.info["nautilus_trader"] = missing or "ran"

    # warm every contender's imports, code paths and bytecode caches on a small copy
    warm_root = make_quick_data(ctx.bars_root, scratch / "warm", rows=300)
    warm_cfg = write_session(scratch / "warm.json", warm_root, reporters=())
    stratagem_run(warm_cfg, scratch / "warm-out")
    backtrader_run(warm_root, list(FIVE))
    if missing is None:
        nautilus_run(warm_root, list(FIVE))
    numpy_run(warm_root)
    if not ctx.quick:  # whole processes: bytecode caches (a quick run times nothing)
        cli_run(
            write_session(scratch / "warm-cli.json", warm_root, reporters=None),
            scratch / "warm-cli",
        )
        script_run("backtrader_ma_cross.py", warm_root)
        if missing is None:
            script_run("nautilus_ma_cross.py", warm_root)
        startup_run()

    in_process = {
        "stratagem": "stratagem in-process",
        "execution": "stratagem in-process with execution",
        "backtrader": "backtrader",
        "nautilus": "NautilusTrader",
        "numpy": "numpy floor",
    }
    whole = {
        "startup": "python -c pass (interpreter start-up)",
        "cli": "stratagem run (whole process)",
        "backtrader_script": "backtrader script (whole process)",
        "nautilus_script": "NautilusTrader script (whole process)",
    }
    if missing is not None:
        del in_process["nautilus"], whole["nautilus_script"]
    counts: dict[str, set[int]] = {name: set() for name in (*in_process, *whole)}
    pairs = _Pairs(result)
    for index in range(ctx.repeat):
        out = ctx.tmpdir(f"throughput-{index}-")
        runs: dict[str, Timed] = {}
        runs["stratagem"] = timed(stratagem_run, engine_cfg, out / "a")
        runs["execution"] = timed(stratagem_run, exec_cfg, out / "x")
        runs["backtrader"] = timed(backtrader_run, ctx.bars_root, list(FIVE))
        if missing is None:
            runs["nautilus"] = timed(nautilus_run, ctx.bars_root, list(FIVE))
        runs["numpy"] = timed(numpy_run, ctx.bars_root)
        runs["startup"] = startup_run()
        runs["cli"] = cli_run(cli_cfg, out / "cli")
        runs["backtrader_script"] = script_run("backtrader_ma_cross.py", ctx.bars_root)
        if missing is None:
            runs["nautilus_script"] = script_run("nautilus_ma_cross.py", ctx.bars_root)
        for name, run_ in runs.items():
            if name in ("startup", "cli"):
                if name == "cli":
                    counts[name].add(run_.value)
                continue
            fed, found = run_.value
            _check_fed(name, fed, bars)
            counts[name].add(found)
        for name, label in {**in_process, **whole}.items():
            run_ = runs[name]
            result.figure(f"{label} wall", "s").add(run_.wall)
            result.figure(f"{label} CPU", "s").add(run_.cpu)
            if name != "startup":
                result.figure(f"{label} rate", "1m bars/s").add(bars / run_.wall)
            if run_.peak_rss:
                result.figure(f"{label} peak RSS", "MB").add(run_.peak_rss / 2**20)
        pairs.add(
            "stratagem / backtrader (in-process)", runs["backtrader"], runs["stratagem"]
        )
        pairs.add(
            "stratagem run / backtrader script, whole process",
            runs["backtrader_script"],
            runs["cli"],
        )
        pairs.add(
            "stratagem run / backtrader script, net of start-up",
            runs["backtrader_script"],
            runs["cli"],
            net=runs["startup"],
        )
        if missing is None:
            pairs.add(
                "stratagem / NautilusTrader (in-process)",
                runs["nautilus"],
                runs["stratagem"],
            )
            pairs.add(
                "NautilusTrader / backtrader (in-process)",
                runs["backtrader"],
                runs["nautilus"],
            )
            pairs.add(
                "stratagem run / NautilusTrader script, net of start-up",
                runs["nautilus_script"],
                runs["cli"],
                net=runs["startup"],
            )
        pairs.add("numpy / stratagem (in-process)", runs["stratagem"], runs["numpy"])
        pairs.add(
            "with execution / signals only (in-process)",
            runs["execution"],
            runs["stratagem"],
        )
        ctx.log(
            f"throughput repeat {index + 1}: "
            + ", ".join(f"{k} {v.wall:.3f}s/{v.cpu:.3f}cpu" for k, v in runs.items())
        )
    result.info["signals"] = {name: sorted(found) for name, found in counts.items()}
    print(
        "throughput signal counts: "
        + ", ".join(f"{name} {sorted(found)}" for name, found in counts.items()),
        file=sys.stderr,
    )
    result.targets = [
        pairs.target(
            "stratagem >= 25x backtrader (in-process, 1m bars/s)",
            "stratagem / backtrader (in-process)",
            ">=",
            TARGET_VS_BACKTRADER,
        ),
        pairs.target(
            "stratagem run >= 25x backtrader, whole processes net of start-up",
            "stratagem run / backtrader script, net of start-up",
            ">=",
            TARGET_VS_BACKTRADER,
            "(backtrader process - python -c pass) / (stratagem run - python -c pass)",
        ),
        pairs.target(
            "stratagem within 4x of the numpy floor",
            "numpy / stratagem (in-process)",
            "<=",
            TARGET_VS_NUMPY,
            "numpy rate / stratagem rate",
        ),
        pairs.target(
            "execution adds at most 10% to the data-driven run",
            "with execution / signals only (in-process)",
            "<=",
            TARGET_EXECUTION_COST,
            "time with paper execution / time signals only",
        ),
    ]
    return result
