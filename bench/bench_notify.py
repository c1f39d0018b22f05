"""Benchmark 2: cost of delivering a notification to strategy threads (data-driven).

An empty strategy (subscribes to every symbol at 1m, ``on_bars`` does nothing) runs
in 1, 4 and 16 threads over synthetic symbols, driven step by step through the real
``DataProcessor`` and ``StrategyManager``. The figure is the wall time spent in
``StrategyManager.dispatch`` (hand-off, the threads' loops, the barrier) divided by
the notifications delivered, against calling the same empty ``on_bars`` directly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import Context, Result, Target, deferred_timeline

TARGET_NS = 2000.0

METHOD = (
    "An empty strategy (on_start subscribes to every symbol at 1m, on_bars does "
    "nothing) in T threads over S synthetic symbols, data-driven, no derived bars, "
    "built directly: SessionData + DataProcessor (add_symbol) + StrategyManager, then "
    "processor.next_step() / manager.dispatch() per step. ns per notification = wall "
    "time inside dispatch (hand-off + the threads' loops + barrier) / notifications "
    "delivered (S x T per step). Baseline: the same empty on_bars called in a plain "
    "Python loop. Unbatched: 1 symbol, 1 thread, so each step is one notification and "
    "one blocking hand-off."
)


def _strategy_classes() -> tuple[type, type]:
    from stratagem import Strategy, StrategyConfig

    class EmptyConfig(StrategyConfig):
        interval: str = "1m"

    class EmptyStrategy(Strategy):
        """Subscribes to everything, does nothing."""

        config_class = EmptyConfig

        def on_start(self, ctx: Any) -> None:
            for symbol in ctx.symbols:
                ctx.subscribe(symbol, self.config.interval)

        def on_bars(self, ctx: Any, symbol: str, interval: str) -> None:
            pass

    return EmptyStrategy, EmptyConfig


def synthetic_bars(count: int, seed: int = 7) -> Any:
    """A random-walk 1m series of ``count`` gap-free bars."""
    from stratagem.testing import make_bars

    rng = np.random.default_rng(seed)
    closes = 100.0 + np.cumsum(rng.normal(0.0, 0.05, count))
    return make_bars(closes, start="2024-01-01T00:00:00Z")


def measure(symbols: int, threads: int, steps: int) -> dict[str, float]:
    """One run: ``{"ns_per_notification", "notifications", "steps", "wall_s"}``."""
    from stratagem.data.session_data import SessionData
    from stratagem.runtime.manager import DATA_DRIVEN, StrategyManager
    from stratagem.runtime.thread import StrategyInstance
    from stratagem.session.processor import DataProcessor

    strategy_cls, config_cls = _strategy_classes()
    bars = synthetic_bars(steps)
    t0 = int(bars.ts[0])
    data = SessionData()
    processor = DataProcessor(data, ())
    with deferred_timeline(processor):
        for index in range(symbols):
            processor.add_symbol(f"S{index:04d}", bars, t0)
    instances = [
        StrategyInstance(id=f"empty{k}", strategy_cls=strategy_cls, config=config_cls())
        for k in range(threads)
    ]
    manager = StrategyManager(instances, data, DATA_DRIVEN)
    manager.start(t0)
    processor.start(t0)
    dispatch = manager.dispatch
    next_step = processor.next_step
    perf_ns = time.perf_counter_ns
    delivered = spent = count = 0
    try:
        while True:
            step = next_step()
            if step is None:
                break
            start = perf_ns()
            delivered += dispatch(step[0], step[1])
            spent += perf_ns() - start
            count += 1
    finally:
        manager.stop(processor.time_ns or t0)
    handled = sum(thread.metrics.notifications for thread in manager.threads)
    expected = symbols * threads * steps
    if delivered != expected or handled != expected:
        raise RuntimeError(
            f"{symbols} symbols x {threads} threads x {steps} steps: delivered "
            f"{delivered}, handled {handled}, expected {expected}"
        )
    return {
        "ns_per_notification": spent / delivered,
        "ns_per_step": spent / count,
        "notifications": delivered,
        "steps": count,
    }


def direct_call_ns(calls: int, symbols: int = 100) -> float:
    """ns per call of the empty ``on_bars`` in a plain loop (no runtime)."""
    strategy_cls, config_cls = _strategy_classes()
    strategy = strategy_cls(config_cls())
    on_bars = strategy.on_bars
    keys = [(f"S{index:04d}", "1m") for index in range(symbols)]
    rounds = max(1, calls // symbols)
    start = time.perf_counter_ns()
    for _ in range(rounds):
        for symbol, interval in keys:
            on_bars(None, symbol, interval)
    return (time.perf_counter_ns() - start) / (rounds * symbols)


def _threads(count: int) -> str:
    return f"{count} thread" + ("s" if count != 1 else "")


def run(ctx: Context) -> Result:
    result = Result("notify", "Notification overhead (empty strategy)", METHOD)
    sizes = (10, 100) if ctx.quick else (100, 1000)
    thread_counts = (1, 4, 16)
    steps = 30 if ctx.quick else 300
    unbatched_steps = 300 if ctx.quick else 3000
    configs = [(s, t) for s in sizes for t in thread_counts]
    figures = {
        (s, t): result.figure(f"{s} symbols x {_threads(t)}", "ns/notification")
        for s, t in configs
    }
    unbatched = result.figure("unbatched: 1 symbol x 1 thread", "ns/step")
    baseline = result.figure("direct on_bars call (baseline)", "ns/call")
    ratios = {
        (s, t): result.ratio(f"{s} symbols x {_threads(t)} / direct call")
        for s, t in configs
    }
    measure(10, 2, 20)
    for index in range(ctx.repeat):
        base = direct_call_ns(200_000 if not ctx.quick else 20_000)
        baseline.add(base)
        for s, t in configs:
            got = measure(s, t, steps)
            figures[(s, t)].add(got["ns_per_notification"])
            ratios[(s, t)].add(got["ns_per_notification"] / base)
        unbatched.add(measure(1, 1, unbatched_steps)["ns_per_step"])
        ctx.log(
            f"notify repeat {index + 1}: "
            + ", ".join(
                f"{s}x{t} {f.samples[-1]:.0f}ns" for (s, t), f in figures.items()
            )
            + f", unbatched {unbatched.samples[-1]:.0f}ns/step, direct {base:.0f}ns"
        )
    result.info["steps_per_run"] = steps
    result.info["unbatched_steps_per_run"] = unbatched_steps
    eligible = {key: fig for key, fig in figures.items() if key[0] >= 100}
    worst_key = max(eligible, key=lambda key: eligible[key].median)
    result.targets = [
        Target(
            "<= 2 us per delivered notification at 100+ symbols (worst configuration)",
            eligible[worst_key].median,
            "<=",
            TARGET_NS,
            "ns",
            f"{worst_key[0]} symbols x {_threads(worst_key[1])}",
        )
    ]
    return result
