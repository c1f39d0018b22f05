"""Benchmark 7: 1,000 symbols x 2 days of real 1m bars, data-driven.

The symbols are the real Bittrex 1m files renamed: symbol ``S0000``..``S0999`` is
file ``k % 10`` of the ten ``*_BTC`` files, cut to the two days
2018-01-25T00:00Z..2018-01-27T00:00Z (where all ten overlap), every row unchanged.
That makes 2,655,600 1m bars; ma_cross (5m, 10/20) follows every symbol, the session
derives 5m and 15m.

Each repeat runs, one after the other: the session in a child process that reports
its memory piece by piece, and ``stratagem run`` as a whole process timed from
outside (wall, CPU, peak RSS). Rates are 1m bars / seconds by wall and by CPU.

Run as ``python bench/bench_scale.py --child CONFIG OUT`` it is that child and
prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    Context,
    Result,
    Target,
    bytecode_env,
    ma_cross_entry,
    stratagem_command,
    timed_process,
)

SYMBOLS = 1000
WINDOW = ("2018-01-25T00:00:00Z", "2018-01-27T00:00:00Z")
QUICK_SYMBOLS = 10
TARGET_RATE = 500_000.0
TARGET_BYTES = 64.0

METHOD = (
    "S symbols made from the real Bittrex 1m files by renaming only: symbol k is "
    "*_BTC file k % 10 (ADA, DASH, ETC, ETH, LTC, NXT, POWR, XLM, XMR, ZEC), its "
    "rows with open times in 2018-01-25T00:00Z..2018-01-27T00:00Z unchanged; S = "
    "1,000 (2,655,600 1m bars). Session: those symbols, derived 5m and 15m, ma_cross "
    "(5m, 10/20, min_quality 0) on every symbol, data-driven, no reporters. Session "
    "rate: 1m bars / (wall or CPU) seconds of Session.run (reading the files, "
    "resampling, the timeline, the replay and the outputs), in a child process "
    "that also accounts for its peak RSS: the interpreter, imports and config "
    "before the run, the stored bars (SessionData.nbytes, 1m + 5m + 15m), the "
    "replay timeline, and the rest (peak RSS minus those: strategy state, signals, "
    "metrics, transient load buffers, allocator slack). Whole process: stratagem "
    "run (console script) timed from outside, peak RSS from wait4."
)


def make_symbols(source_1m: Path, folder: Path, count: int, quick: bool) -> int:
    """Write ``count`` renamed copies of the real ``*_BTC`` 1m files under
    ``folder/1m``; returns the number of 1m bars written."""
    sources = sorted(source_1m.glob("*_BTC.csv"))
    if not sources:
        raise RuntimeError(f"no *_BTC.csv files in {source_1m}")
    texts = []
    for path in sources:
        header, *rows = path.read_text().splitlines(keepends=True)
        if not quick:  # quick data is a short prefix of each file: keep all of it
            rows = [row for row in rows if WINDOW[0] <= row[:20] < WINDOW[1]]
        texts.append((header + "".join(rows), len(rows)))
    target = folder / "1m"
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(count):
        text, rows = texts[index % len(texts)]
        (target / f"{symbol_name(index)}.csv").write_text(text)
        total += rows
    return total


def symbol_name(index: int) -> str:
    return f"S{index:04d}"


def write_config(path: Path, bars_root: Path, count: int) -> Path:
    symbols = [symbol_name(index) for index in range(count)]
    session = {
        "symbols": symbols,
        "streams": ["1m"],
        "streaming": {"data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}},
        "data": {"source": "csv", "path": str(bars_root)},
        "speed_multiplier": 0.0,
        "reporters": [],
        "strategies": [ma_cross_entry(symbols)],
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


# --- the child ----------------------------------------------------------------------


def _rss() -> int:
    import os

    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _nbytes(value: Any) -> int:
    """Bytes held by a numpy array, or a list of ints (the timeline's step times)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, list):
        return sys.getsizeof(value) + sum(sys.getsizeof(item) for item in value)
    return 0


def child(config: Path, out_dir: Path) -> dict[str, Any]:
    """Run the session once; its time, and its memory piece by piece."""
    import resource

    from stratagem._config.loading import load_session
    from stratagem._session.build import SessionSpec, build_session
    from stratagem._session.outputs import RunFolderWriter

    marks = _mark_stages()
    session = build_session(SessionSpec.from_config(load_session(config)))
    session.subscribe(RunFolderWriter(out_dir))
    before = _rss()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = session.run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if outcome.status != "ok":
        raise RuntimeError(f"session ended {outcome.status}: {outcome.result.reason}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    marks["replayed, outputs written (RSS to the peak)"] = (wall0 + wall, peak)
    by_interval: dict[str, int] = {}
    for series in session.data:
        by_interval[series.interval] = (
            by_interval.get(series.interval, 0) + series.nbytes
        )
    timeline = session.processor.timeline
    timeline_bytes = sum(
        _nbytes(getattr(timeline, name, None))
        for name in ("times", "_ev_step", "_ev_series", "_ev_n", "_bounds")
    )
    return {
        "bars": int(outcome.metrics["system"]["bars_in"]),
        "signals": len(outcome.signals),
        "wall": wall,
        "cpu": cpu,
        "before_run": before,
        "stored": session.data.nbytes,
        "stored_by_interval": by_interval,
        "timeline": timeline_bytes,
        "peak": peak,
        "stages": marks,
    }


def _mark_stages() -> dict[str, tuple[float, int]]:
    """Record (seconds since the run began, RSS) as the run leaves each stage:
    files read and validated, bars resampled and stored, timeline built."""
    from stratagem._session.coordinator import SessionCoordinator
    from stratagem._session.processor import DataProcessor

    marks: dict[str, tuple[float, int]] = {}
    read_all, start = SessionCoordinator.read_all, DataProcessor.start

    def timed_read_all(self: Any) -> Any:
        marks["run begins"] = (time.perf_counter(), _rss())
        loaded = read_all(self)
        marks["files read"] = (time.perf_counter(), _rss())
        return loaded

    def timed_start(self: Any, now_ns: int) -> None:
        marks["bars resampled and stored"] = (time.perf_counter(), _rss())
        start(self, now_ns)
        marks["timeline built"] = (time.perf_counter(), _rss())

    SessionCoordinator.read_all = timed_read_all  # type: ignore[method-assign]
    DataProcessor.start = timed_start  # type: ignore[method-assign]
    return marks


# --- the benchmark ------------------------------------------------------------------


def run(ctx: Context) -> Result:
    result = Result("scale", "1,000 symbols x 2 days of 1m bars, data-driven", METHOD)
    count = QUICK_SYMBOLS if ctx.quick else SYMBOLS
    scratch = ctx.tmpdir("scale-")
    bars_root = scratch / "bars"
    bars = make_symbols(ctx.bars_root / "1m", bars_root, count, ctx.quick)
    config = write_config(scratch / "scale.json", bars_root, count)
    result.info["symbols"] = count
    result.info["1m bars"] = bars
    result.info["data"] = (
        "real Bittrex *_BTC 1m files renamed S0000.. (file k % 10), rows "
        + ("as in the quick copy" if ctx.quick else f"{WINDOW[0]}..{WINDOW[1]}")
        + ", unchanged"
    )
    figures = {
        "rate_wall": result.figure("session rate, by wall", "1m bars/s"),
        "rate_cpu": result.figure("session rate, by CPU", "1m bars/s"),
        "wall": result.figure("session wall (Session.run)", "s"),
        "cpu": result.figure("session CPU (Session.run)", "s"),
        "peak": result.figure("child peak RSS", "MB"),
        "before": result.figure("  interpreter + imports + config", "MB"),
        "stored": result.figure("  stored bars (SessionData)", "MB"),
        "timeline": result.figure("  replay timeline", "MB"),
        "rest": result.figure("  everything else", "MB"),
        "stored_per_bar": result.figure("stored bytes per 1m bar (1m + 5m + 15m)", "B"),
        "rest_per_bar": result.figure("everything else per 1m bar", "B"),
        "peak_per_bar": result.figure("child peak RSS per 1m bar", "B"),
        "cli_wall": result.figure("stratagem run, whole process wall", "s"),
        "cli_cpu": result.figure("stratagem run, whole process CPU", "s"),
        "cli_rate": result.figure("stratagem run, whole process rate", "1m bars/s"),
        "cli_peak": result.figure("stratagem run, whole process peak RSS", "MB"),
    }
    per_interval: dict[str, Any] = {}
    signals: set[int] = set()
    mb = 2**20
    for index in range(ctx.repeat):
        got = json.loads(
            timed_process(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    str(config),
                    str(scratch / f"child-{index}"),
                ],
                env=bytecode_env(),
            ).value.splitlines()[-1]
        )
        if got["bars"] != bars:
            raise RuntimeError(
                f"the session took {got['bars']} bars; files hold {bars}"
            )
        signals.add(got["signals"])
        rest = got["peak"] - got["before_run"] - got["stored"] - got["timeline"]
        figures["rate_wall"].add(bars / got["wall"])
        figures["rate_cpu"].add(bars / got["cpu"])
        figures["wall"].add(got["wall"])
        figures["cpu"].add(got["cpu"])
        figures["peak"].add(got["peak"] / mb)
        figures["before"].add(got["before_run"] / mb)
        figures["stored"].add(got["stored"] / mb)
        figures["timeline"].add(got["timeline"] / mb)
        figures["rest"].add(rest / mb)
        figures["stored_per_bar"].add(got["stored"] / bars)
        figures["rest_per_bar"].add(rest / bars)
        figures["peak_per_bar"].add(got["peak"] / bars)
        for interval, size in got["stored_by_interval"].items():
            per_interval.setdefault(interval, []).append(size / bars)
        stages = got["stages"]
        previous = stages.pop("run begins")
        for name, (at, rss) in stages.items():
            result.figure(f"stage: {name}, seconds", "s").add(at - previous[0])
            result.figure(f"stage: {name}, RSS growth", "MB").add(
                (rss - previous[1]) / mb
            )
            previous = (at, rss)
        whole = timed_process(
            [
                *stratagem_command(),
                "run",
                str(config),
                "--out",
                str(scratch / f"cli-{index}"),
            ],
            env=bytecode_env(),
        )
        figures["cli_wall"].add(whole.wall)
        figures["cli_cpu"].add(whole.cpu)
        figures["cli_rate"].add(bars / whole.wall)
        figures["cli_peak"].add(whole.peak_rss / mb)
        ctx.log(
            f"scale repeat {index + 1}: session {got['wall']:.2f}s wall "
            f"{got['cpu']:.2f}s CPU, peak {got['peak'] / mb:.0f} MB "
            f"(stored {got['stored'] / bars:.1f} B/bar); stratagem run "
            f"{whole.wall:.2f}s, peak {whole.peak_rss / mb:.0f} MB"
        )
    for interval, values in per_interval.items():
        result.figure(f"  stored bytes per 1m bar, {interval}", "B").samples = values
    result.info["signals"] = sorted(signals)
    result.targets = [
        Target(
            ">= 500k 1m bars/s (session, 1,000 symbols)",
            figures["rate_wall"].median,
            ">=",
            TARGET_RATE,
            "1m bars/s",
            cpu_value=figures["rate_cpu"].median,
        ),
        Target(
            "<= 64 bytes per stored 1m bar (incl. 5m, 15m), 1,000 real symbols",
            figures["stored_per_bar"].median,
            "<=",
            TARGET_BYTES,
            "B",
        ),
    ]
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        sys.exit(__doc__)
