"""Benchmark 3: clock-driven latency, notification -> on_bars and -> signal.

ma_cross on the five files replayed at 2,000x over a slice of the session. The
runtime's own metrics give, per run, ``wait_*`` (hand-off of a step until the
strategy thread starts on it) and ``signal_latency_*`` (hand-off until ``emit``).
Per-run percentiles rest on few samples (one per 5m step), so the samples of every
repeat are also pooled. A floor is measured beside it: how long this machine takes
to wake a thread parked on a ``threading.Condition``.
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    FIVE,
    NS_PER_MINUTE,
    Context,
    Result,
    Target,
    iso,
    overlap_ns,
    run_session,
    write_session,
)

SPEED = 2000.0
TARGET_US = 250.0

METHOD = (
    "ma_cross on the five files, clock-driven at 2,000x (one 1m step every 30 ms), "
    "over a 4 h slice starting one day into the common range (~7 s wall per run); "
    "load_session + build_session. wait = the runtime's wait_time (step handed out "
    "-> strategy thread starts it), signal = signal_latency (step handed out -> "
    "ctx.emit). Per-run p50/p99/max are the runtime's metrics (median over runs); "
    "'pooled' percentiles take the raw samples of all runs together. Floor: a thread "
    "parked on threading.Condition woken by another thread every 5 ms, notify -> "
    "running. GC: the garbage collector's passes during each run (gc.callbacks)."
)


def _samples(stats: Any) -> np.ndarray | None:
    """Every duration a ``TimingStats`` holds, in microseconds (private layout:
    a ring of the latest 65,536, filled ``_filled`` or ``count`` deep, plus a list
    of durations not folded into it yet); None when the layout is unknown."""
    ring = getattr(stats, "_ring", None)
    if not isinstance(ring, np.ndarray):
        return None
    filled = getattr(stats, "_filled", None)
    if filled is None:
        filled = min(int(stats.count), len(ring))
    pending = np.asarray(list(getattr(stats, "pending", [])), dtype=np.int64)
    return np.concatenate([ring[:filled], pending]).astype(np.float64) / 1000.0


class GcPauses:
    """The garbage collector's passes while installed: thread, generation, us."""

    def __init__(self) -> None:
        self.pauses: list[tuple[str, int, float]] = []
        self._started: dict[int, int] = {}

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._started[ident] = time.perf_counter_ns()
        elif ident in self._started:
            elapsed = (time.perf_counter_ns() - self._started.pop(ident)) / 1000.0
            name = threading.current_thread().name
            self.pauses.append((name, info["generation"], elapsed))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def condition_wake_floor(samples: int) -> np.ndarray:
    """Microseconds from ``notify()`` until the parked thread runs, per sample."""
    cond = threading.Condition()
    box: list[int | None] = []
    woke: list[float] = []

    def worker() -> None:
        while True:
            with cond:
                while not box:
                    cond.wait()
                sent = box.pop()
            if sent is None:
                return
            woke.append((time.perf_counter_ns() - sent) / 1000.0)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    for _ in range(samples):
        time.sleep(0.005)
        with cond:
            box.append(time.perf_counter_ns())
            cond.notify()
    with cond:
        box.append(None)
        cond.notify()
    thread.join()
    return np.asarray(woke)


def run(ctx: Context) -> Result:
    result = Result(
        "latency", "Latency, clock-driven at 2,000x (ma_cross, 5 files)", METHOD
    )
    first, last = overlap_ns(ctx.bars_root)
    if ctx.quick:
        start, minutes = first + 120 * NS_PER_MINUTE, 60
    else:
        start, minutes = first + 1440 * NS_PER_MINUTE, 240
    end = min(start + minutes * NS_PER_MINUTE, last)
    scratch = ctx.tmpdir("latency-")
    config = write_session(
        scratch / "latency.json", ctx.bars_root, speed=SPEED, start_ns=start, end_ns=end
    )
    names = [
        ("wait", "wait_time", "wait"),
        ("signal", "signal_latency", "signal_latency"),
    ]
    per_run = {
        (label, q): result.figure(f"{label} {q} (per run)", "us")
        for label, _, _ in names
        for q in ("p50", "p99", "max")
    }
    overruns = result.figure("overruns", "steps")
    pooled: dict[str, list[np.ndarray]] = {label: [] for label, _, _ in names}
    floor: list[np.ndarray] = []
    gc_max = result.figure(
        "longest GC pause in session/strategy threads (setup incl.)", "us"
    )
    gc_full = result.figure("full (gen 2) collections in those threads", "passes")
    for index in range(ctx.repeat):
        with GcPauses() as collected:
            run, outcome = run_session(config, scratch / f"out-{index}")
        running = [
            (generation, pause)
            for name, generation, pause in collected.pauses
            if name == "session" or name.startswith("strategy-")
        ]
        gc_max.add(max((pause for _, pause in running), default=0.0))
        gc_full.add(sum(1 for generation, _ in running if generation == 2))
        snap = outcome.metrics["strategies"]["ma_cross"]
        metrics = run.manager.threads[0].metrics
        for label, attr, prefix in names:
            for q in ("p50", "p99", "max"):
                per_run[(label, q)].add(snap[f"{prefix}_{q}_ms"] * 1000.0)
            raw = _samples(getattr(metrics, attr))
            if raw is not None:
                pooled[label].append(raw)
        overruns.add(snap["overruns"])
        floor.append(condition_wake_floor(40 if ctx.quick else 200))
        ctx.log(
            f"latency repeat {index + 1}: wait p99 {snap['wait_p99_ms'] * 1000:.0f}us, "
            f"signal p99 {snap['signal_latency_p99_ms'] * 1000:.0f}us, "
            f"overruns {snap['overruns']}"
        )
    pooled_values: dict[str, dict[str, float]] = {}
    for label, arrays in [*pooled.items(), ("Condition wake floor", floor)]:
        values = np.concatenate(arrays) if arrays else np.empty(0)
        if len(values) == 0:
            continue
        p50, p99 = np.percentile(values, [50, 99])
        pooled_values[label] = {"p50": p50, "p99": p99, "max": float(values.max())}
        for q, value in pooled_values[label].items():
            result.figure(f"{label} {q} (pooled)", "us").add(value)
        result.info[f"{label} samples pooled"] = int(len(values))
    result.info["slice"] = {"start_ns": start, "end_ns": end, "speed": SPEED}
    live_over_socket(ctx, result, start, end)
    targets = []
    for label in ("wait", "signal"):
        if label in pooled_values:
            value, how = pooled_values[label]["p99"], "pooled over runs"
        else:
            value, how = per_run[(label, "p99")].median, "median of per-run p99"
        targets.append(
            Target(f"{label} p99 <= 250 us ({how})", value, "<=", TARGET_US, "us")
        )
    result.targets = targets
    return result


LIVE_METHOD = (
    "Live over the socket: `stratagem feed serve` in its own process replays the "
    "same slice of the five files at 2,000x as a Binance kline stream on 127.0.0.1; "
    "the session (data source websocket, history from the files) runs in this "
    "process. wait = step built from a received kline handed out -> ma_cross's "
    "thread starts it; it excludes the socket and JSON decoding, which the feed "
    "metrics count apart."
)


def live_over_socket(
    ctx: Context, result: Result, start: int, end: int
) -> dict[str, float] | None:
    """The same latencies in live mode, bars arriving over a WebSocket from a feed
    server process; None when the feed plugin is not installed."""
    import importlib.util

    if importlib.util.find_spec("stratagem_feed_websocket") is None:
        result.info["live"] = "skipped: stratagem-feed-websocket is not installed"
        return None
    result.method += " " + LIVE_METHOD
    scratch = ctx.tmpdir("latency-live-")
    samples: list[np.ndarray] = []
    per_run = result.figure("live over the socket: wait p99 (per run)", "us")
    signal = result.figure("live over the socket: signal p99 (per run)", "us")
    for index in range(ctx.repeat):
        feed, url = _feed_process(ctx.bars_root, start)
        try:
            config = write_session(
                scratch / f"live-{index}.json",
                ctx.bars_root,
                start_ns=start,
                end_ns=end,
            )
            document = json.loads(config.read_text())
            document["session_data_config"]["data"] = {
                "source": "websocket",
                "url": url,
                "history": str(ctx.bars_root),
            }
            config.write_text(json.dumps(document))
            run, outcome = run_session(config, scratch / f"live-out-{index}")
        finally:
            feed.kill()
            feed.communicate(timeout=10)
        snap = outcome.metrics["strategies"]["ma_cross"]
        per_run.add(snap["wait_p99_ms"] * 1000.0)
        signal.add(snap["signal_latency_p99_ms"] * 1000.0)
        raw = _samples(run.manager.threads[0].metrics.wait_time)
        if raw is not None:
            samples.append(raw)
        ctx.log(
            f"latency live repeat {index + 1}: wait p99 "
            f"{snap['wait_p99_ms'] * 1000:.0f}us, bars "
            f"{outcome.metrics['system']['bars_in']}"
        )
    if not samples:
        return None
    values = np.concatenate(samples)
    p50, p99 = np.percentile(values, [50, 99])
    figures = {"p50": p50, "p99": p99, "max": float(values.max())}
    for q, value in figures.items():
        result.figure(f"live over the socket: wait {q} (pooled)", "us").add(value)
    return figures


def _feed_process(bars_root: Path, start: int) -> tuple[subprocess.Popen[str], str]:
    """``stratagem feed serve`` over the five files from ``start``; its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "feed",
            "serve",
            "--data",
            str(bars_root),
            "--symbols",
            ",".join(FIVE),
            "--speed",
            str(SPEED),
            "--port",
            "0",
            "--start",
            iso(start),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"ws://\S+:\d+", line)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"feed serve printed {line!r}; stderr: {err}")
    return process, match.group(0)
