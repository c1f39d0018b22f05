"""Benchmark 5: memory per stored bar and per strategy instance.

Bytes per 1m bar: 1,000 synthetic symbols x one trading week of 1m bars (7,200 each)
go through the real ``DataProcessor.add_symbol`` into one ``SessionData`` with 5m and
15m derived; the figure is ``SessionData.nbytes`` / 1m bars. The processor's replay
timeline (built by ``start()``) lives outside ``SessionData`` and is reported beside.

Per strategy instance: a child process builds a small session, then creates and
starts N empty strategy threads and runs steps through them; tracemalloc (allocated)
and RSS (resident) growth are divided by N.

Run as ``python bench/bench_memory.py --child {rss,tracemalloc} N STEPS`` it is that
child and prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import Context, Result, Target

TARGET_BYTES = 64.0
#: the replay timeline's attributes (private; absent ones count 0)
TIMELINE = (
    "times",
    "_ev_step",
    "_ev_series",
    "_ev_n",
    "_bounds",
    "_chunk",
    "_interest",
)

METHOD = (
    "Bytes per 1m bar: S synthetic symbols x 7,200 1m bars (one trading week, 5 x "
    "1,440) added one by one with DataProcessor.add_symbol into one SessionData "
    "(derived 5m and 15m), = SessionData.nbytes / (S x 7,200); S = 1,000. Timeline "
    "bytes = the processor's replay timeline after start() (private attributes, "
    "numpy arrays and int lists), held outside SessionData. Per strategy instance: a "
    "child "
    "process with a 5-symbol session creates and starts N empty strategy threads "
    "(subscribed to all 5 symbols at 1m) and runs 500 steps; growth of tracemalloc's "
    "traced memory and of RSS (/proc/self/statm), divided by N. RSS is measured "
    "without tracemalloc, in its own child."
)


def _footprint(value: Any) -> int:
    """Bytes held by a numpy array, or a list or tuple of them or of ints."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, list | tuple):
        return sys.getsizeof(value) + sum(_footprint(item) for item in value)
    if isinstance(value, int):
        return sys.getsizeof(value)
    return 0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        resident = int(handle.read().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE")


def session_bytes(symbols: int, bars_per_symbol: int) -> dict[str, float]:
    """Build the session; its byte counts and build times."""
    from stratagem._data.session_data import SessionData
    from stratagem._session.processor import DataProcessor
    from stratagem.testing import make_bars

    rng = np.random.default_rng(11)
    closes = 100.0 + np.cumsum(rng.normal(0.0, 0.05, bars_per_symbol))
    bars = make_bars(closes, start="2024-01-01T00:00:00Z")
    t0 = int(bars.ts[0])
    data = SessionData()
    processor = DataProcessor(data, (5, 15))
    start = time.perf_counter()
    for index in range(symbols):
        processor.add_symbol(f"S{index:04d}", bars, t0)
    added = time.perf_counter()
    processor.start(t0)
    started = time.perf_counter()
    timeline = sum(
        _footprint(getattr(processor.timeline, name, None)) for name in TIMELINE
    )
    by_interval: dict[str, int] = {}
    for series in data:
        by_interval[series.interval] = (
            by_interval.get(series.interval, 0) + series.nbytes
        )
    one_minute_bars = symbols * bars_per_symbol
    return {
        "nbytes": data.nbytes,
        "bars": one_minute_bars,
        "per_bar": data.nbytes / one_minute_bars,
        "timeline_per_bar": timeline / one_minute_bars,
        "add_s": added - start,
        "start_s": started - added,
        **{f"per_bar_{k}": v / one_minute_bars for k, v in by_interval.items()},
    }


def _child(mode: str, instances: int, steps: int) -> dict[str, Any]:
    """Grow a small session by ``instances`` empty strategy threads; measure."""
    import tracemalloc

    from bench_notify import _strategy_classes, synthetic_bars

    from stratagem._data.session_data import SessionData
    from stratagem._records import Mode
    from stratagem._runtime.manager import StrategyManager
    from stratagem._runtime.thread import StrategyInstance
    from stratagem._session.processor import DataProcessor

    strategy_cls, config_cls = _strategy_classes()
    bars = synthetic_bars(steps)
    t0 = int(bars.ts[0])
    data = SessionData()
    processor = DataProcessor(data, ())
    for index in range(5):
        processor.add_symbol(f"S{index}", bars, t0)
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before_traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    before_rss = _rss_bytes()
    manager = StrategyManager(
        [
            StrategyInstance(id=f"e{k}", strategy_cls=strategy_cls, config=config_cls())
            for k in range(instances)
        ],
        data,
        Mode.DATA_DRIVEN,
    )
    manager.start(t0)
    processor.start(t0)
    gc.collect()
    started_rss = _rss_bytes()
    started_traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    while (step := processor.next_step()) is not None:
        manager.dispatch(step.time_ns, step.items)
    gc.collect()
    ran_rss = _rss_bytes()
    ran_traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    manager.stop(processor.time_ns or t0)
    return {
        "instances": instances,
        "rss_started": (started_rss - before_rss) / instances,
        "rss_ran": (ran_rss - before_rss) / instances,
        "traced_started": (started_traced - before_traced) / instances,
        "traced_ran": (ran_traced - before_traced) / instances,
    }


def strategy_overhead(mode: str, instances: int, steps: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            str(instances),
            str(steps),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> Result:
    result = Result("memory", "Memory per stored bar and per strategy instance", METHOD)
    symbols, bars = (10, 1440) if ctx.quick else (1000, 7200)
    instances = 4 if ctx.quick else 32
    steps = 100 if ctx.quick else 500
    per_bar = result.figure(f"SessionData bytes per 1m bar ({symbols} symbols)", "B")
    parts = {
        interval: result.figure(f"  of which {interval}", "B")
        for interval in ("1m", "5m", "15m")
    }
    timeline = result.figure("processor timeline bytes per 1m bar", "B")
    build = result.figure(f"add_symbol x {symbols}", "s")
    start = result.figure("processor.start() (one timeline build)", "s")
    rss_started = result.figure("RSS per strategy instance, started", "B")
    rss_ran = result.figure(f"RSS per strategy instance, after {steps} steps", "B")
    traced_started = result.figure("tracemalloc per strategy instance, started", "B")
    traced_ran = result.figure(
        f"tracemalloc per strategy instance, after {steps} steps", "B"
    )
    for index in range(ctx.repeat):
        got = session_bytes(symbols, bars)
        per_bar.add(got["per_bar"])
        for interval, figure in parts.items():
            figure.add(got[f"per_bar_{interval}"])
        timeline.add(got["timeline_per_bar"])
        build.add(got["add_s"])
        start.add(got["start_s"])
        gc.collect()
        rss = strategy_overhead("rss", instances, steps)
        rss_started.add(rss["rss_started"])
        rss_ran.add(rss["rss_ran"])
        traced = strategy_overhead("tracemalloc", instances, steps)
        traced_started.add(traced["traced_started"])
        traced_ran.add(traced["traced_ran"])
        ctx.log(
            f"memory repeat {index + 1}: {got['per_bar']:.2f} B/bar, timeline "
            f"{got['timeline_per_bar']:.1f} B/bar, strategy RSS "
            f"{rss['rss_ran'] / 1024:.0f} KiB, "
            f"traced {traced['traced_ran'] / 1024:.0f} KiB"
        )
    result.info["symbols"] = symbols
    result.info["1m bars per symbol"] = bars
    result.info["strategy instances per child"] = instances
    result.targets = [
        Target(
            "<= 64 bytes per stored 1m bar (incl. 5m, 15m)",
            per_bar.median,
            "<=",
            TARGET_BYTES,
            "B",
        )
    ]
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit(__doc__)
