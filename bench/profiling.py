"""Profile a benchmark's hot path: where the time goes, across every thread.

    python bench/profiling.py WORKLOAD [--tool auto|py-spy|cprofile] [--runs N]
    python bench/profiling.py throughput --phases
    python bench/profiling.py latency --callbacks

WORKLOAD is one of ``throughput`` (data-driven ma_cross on the five files, in
process), ``notify`` (empty strategy, 100 symbols, 1 and 16 threads), ``latency``
(ma_cross clock-driven at 2,000x) or ``replay`` (ma_cross clock-driven just above the
maximum replay speed).

``py-spy`` (when installed) samples only the thread holding the GIL (``--gil``): in
this runtime every thread's Python work is serialised by the GIL, so that is the work
that bounds the wall time. Import frames and the idle main thread are left out.
``cprofile`` profiles every thread with its own ``cProfile.Profile`` and merges them
(deterministic, but its per-call overhead inflates call-heavy code). ``--phases``
wraps the session's stages with timers instead and reports wall time per stage;
``--callbacks`` times each of ma_cross's ``on_bars`` and ``ctx.emit`` calls.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import io
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_DATA,
    NS_PER_MINUTE,
    overlap_ns,
    run_session,
    write_session,
)

WORKLOADS = ("throughput", "notify", "latency", "replay")
#: per throughput run, ms spent inside strategy callbacks (the runtime's call_time)
CALLBACK_MS: list[float] = []


def workload(
    name: str, runs: int, bars_root: Path, scratch: Path
) -> Callable[[], None]:
    """A function running ``runs`` repetitions of the named hot path."""
    if name == "throughput":
        config = write_session(scratch / "t.json", bars_root, reporters=())

        def throughput() -> None:
            for index in range(runs):
                _, outcome = run_session(config, scratch / f"t{index}")
                strategies = outcome.metrics["strategies"].values()
                CALLBACK_MS.append(sum(s["total_ms"] for s in strategies))

        return throughput
    if name == "notify":
        from bench_notify import measure

        def notify() -> None:
            for _ in range(runs):
                measure(100, 1, 300)
                measure(100, 16, 300)

        return notify
    first, _ = overlap_ns(bars_root)
    if name == "latency":
        start = first + 1440 * NS_PER_MINUTE
        config = write_session(
            scratch / "l.json",
            bars_root,
            speed=2000.0,
            start_ns=start,
            end_ns=start + 60 * NS_PER_MINUTE,
        )
    elif name == "replay":
        start = first + 360 * NS_PER_MINUTE
        config = write_session(
            scratch / "r.json",
            bars_root,
            speed=160_000.0,
            start_ns=start,
            end_ns=start + 5333 * NS_PER_MINUTE,
        )
    else:
        raise SystemExit(f"unknown workload {name!r}; choose from {WORKLOADS}")

    def clocked() -> None:
        for index in range(runs):
            run_session(config, scratch / f"c{index}")

    return clocked


# --- py-spy ---------------------------------------------------------------------------


def aggregate_raw(path: Path, top: int) -> str:
    """Self and inclusive shares from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any("importlib" in frame for frame in frames):
            continue
        thread = frames[0].split(": ", 1)[1] if ": " in frames[0] else "?"
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in frames[1:]]
        if thread == "MainThread" and not any(
            key in frame
            for frame in frames
            for key in ("workload", "run_session", "measure")
        ):
            continue
        total += count
        per_thread[re.sub(r"-.*", "-*", thread)] += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return "no samples\n"
    out = [f"{total} GIL-holding samples", "", "by thread:"]
    out += [
        f"  {100 * n / total:5.1f}%  {name}" for name, n in per_thread.most_common()
    ]
    out += ["", f"top {top} by self time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out += ["", f"top {top} by inclusive time:"]
    out += [
        f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)
    ]
    return "\n".join(out) + "\n"


def with_py_spy(args: argparse.Namespace) -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        command = [
            spy, "record", "--gil", "--threads", "--nonblocking",
            "--rate", str(args.rate), "--format", "raw", "--output", str(raw), "--",
            sys.executable, __file__, args.workload, "--child",
            "--runs", str(args.runs), "--data", str(args.data),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
        return aggregate_raw(raw, args.top)


# --- cProfile -------------------------------------------------------------------------


def with_cprofile(run: Callable[[], None], top: int) -> str:
    """Profile ``run`` in every thread it starts, merge, and list the top entries."""
    from stratagem._runtime.thread import StrategyThread

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def profiled(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, *a: Any, **k: Any) -> Any:
            profile = cProfile.Profile()
            with lock:
                profiles.append(profile)
            profile.enable()
            try:
                return original(self, *a, **k)
            finally:
                profile.disable()

        return wrapper

    saved = (threading.Thread.run, StrategyThread.run)
    threading.Thread.run = profiled(threading.Thread.run)
    StrategyThread.run = profiled(StrategyThread.run)
    main = cProfile.Profile()
    profiles.append(main)
    try:
        main.enable()
        run()
        main.disable()
    finally:
        threading.Thread.run, StrategyThread.run = saved
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- phases ---------------------------------------------------------------------------


def phases(run: Callable[[], None], runs: int) -> str:
    """Wall time in each stage of a session, per run, summed over every thread."""
    import stratagem._config.loading as config_loading
    from stratagem._data.sources import FileBarSource
    from stratagem._runtime.manager import StrategyManager
    from stratagem._session.build import Session
    from stratagem._session.outputs import RunFolderWriter
    from stratagem._session.processor import DataProcessor

    spent: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    targets: list[tuple[Any, str, str]] = [
        (config_loading, "load_session", "load_session (config + plugins)"),
        (Session, "__init__", "Session.__init__ (build_session)"),
        (FileBarSource, "load", "FileBarSource.load (CSV read + validation)"),
        (DataProcessor, "add_symbol", "DataProcessor.add_symbol (resample, timeline)"),
        (DataProcessor, "start", "DataProcessor.start (timeline)"),
        (StrategyManager, "start", "StrategyManager.start (threads, on_start)"),
        (DataProcessor, "next_step", "DataProcessor.next_step (publish)"),
        (StrategyManager, "dispatch", "StrategyManager.dispatch (hand-off + barrier)"),
        (StrategyManager, "dispatch_batch", "StrategyManager.dispatch_batch (batched)"),
        (DataProcessor, "flush", "DataProcessor.flush"),
        (StrategyManager, "drain", "StrategyManager.drain"),
        (StrategyManager, "stop", "StrategyManager.stop (on_stop, join)"),
        (
            RunFolderWriter,
            "session_ended",
            "RunFolderWriter (signals, metrics, manifest)",
        ),
    ]
    saved = []
    for owner, attribute, label in targets:
        original = getattr(owner, attribute, None)
        if original is None:
            continue
        saved.append((owner, attribute, original))

        def timed(
            *a: Any, _original: Any = original, _label: str = label, **k: Any
        ) -> Any:
            start = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                spent[_label] += time.perf_counter() - start
                calls[_label] += 1

        setattr(owner, attribute, timed)
    CALLBACK_MS.clear()
    try:
        start = time.perf_counter()
        run()
        wall = time.perf_counter() - start
    finally:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)
    out = [f"{wall / runs * 1000:.1f} ms per run (wall), {runs} runs", ""]
    out.append(f"{'stage':52} {'ms/run':>9} {'share':>7} {'calls/run':>10}")
    for _, _, label in targets:
        if label in spent:
            share = spent[label] / wall
            out.append(
                f"{label:52} {spent[label] / runs * 1000:9.1f} {100 * share:6.1f}% "
                f"{calls[label] / runs:10.0f}"
            )
    if CALLBACK_MS:
        inside = sum(CALLBACK_MS) / len(CALLBACK_MS)
        out.append(
            f"{'  inside strategy callbacks (runtime call_time)':52} {inside:9.1f} "
            f"{100 * inside / (wall / runs * 1000):6.1f}%"
        )
    return "\n".join(out) + "\n"


def callbacks(run: Callable[[], None]) -> str:
    """Per-call wall time of ``ma_cross``'s ``on_bars`` and of ``ctx.emit``.

    Calls are split by whether they emitted a signal and whether the strategy
    thread had been idle (more than 1 ms since its previous call): the same code runs
    several times slower right after the thread wakes.
    """
    import numpy as np

    from stratagem._strategy import StrategyContext
    from stratagem_ma_cross import MACross

    durations: dict[str, list[float]] = collections.defaultdict(list)
    state = threading.local()
    perf_ns = time.perf_counter_ns
    original_on_bars = MACross.on_bars
    original_emit = StrategyContext.emit

    def on_bars(self: Any, ctx: Any, symbol: str, interval: str) -> None:
        start = perf_ns()
        idle = start - getattr(state, "last_end", 0) > 1_000_000
        state.emitted = False
        try:
            original_on_bars(self, ctx, symbol, interval)
        finally:
            end = perf_ns()
            state.last_end = end
            kind = "emitting" if state.emitted else "quiet"
            after = "after idle" if idle else "in a run of calls"
            durations[f"on_bars, {kind}, {after}"].append((end - start) / 1000)

    def emit(self: Any, signal: Any) -> Any:
        start = perf_ns()
        try:
            return original_emit(self, signal)
        finally:
            state.emitted = True
            durations["ctx.emit"].append((perf_ns() - start) / 1000)

    MACross.on_bars = on_bars
    StrategyContext.emit = emit
    try:
        run()
    finally:
        MACross.on_bars = original_on_bars
        StrategyContext.emit = original_emit
    out = [f"{'call':42} {'calls':>7} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8}"]
    for name in sorted(durations):
        values = np.asarray(durations[name])
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        out.append(f"{name:42} {len(values):7d} {p50:8.1f} {p90:8.1f} {p99:8.1f}")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument(
        "--tool", choices=("auto", "py-spy", "cprofile"), default="auto"
    )
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples/s")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--phases", action="store_true", help="stage timers instead")
    parser.add_argument(
        "--callbacks", action="store_true", help="ma_cross per-call timings instead"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bars_root = args.data.resolve() / "bars"
    with tempfile.TemporaryDirectory() as tmp:
        run = workload(args.workload, args.runs, bars_root, Path(tmp))
        # warm imports and caches outside the measurement
        workload(args.workload, 1, bars_root, Path(tmp) / "warm")()
        if args.child:
            run()
            return 0
        if args.phases:
            print(phases(run, args.runs))
            return 0
        if args.callbacks:
            print(callbacks(run))
            return 0
        tool = args.tool
        if tool == "auto":
            has_spy = (
                shutil.which("py-spy")
                or Path(sys.executable).with_name("py-spy").exists()
            )
            tool = "py-spy" if has_spy else "cprofile"
        print(f"# {args.workload}: {tool}, {args.runs} runs")
        if tool == "py-spy":
            print(with_py_spy(args))
        else:
            print(with_cprofile(run, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
