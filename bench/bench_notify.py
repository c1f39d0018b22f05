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
from _common import Context, Result, Target

TARGET_NS = 2000.0

METHOD = (
    "An empty strategy (on_start subscribes to every symbol at 1m, on_bars does "
    "nothing) in T threads over S synthetic symbols x 300 gap-free 1m bars, "
    "data-driven, no derived bars, through the real coordinator "
    "(stratagem.testing.run_strategy with MemorySource). ns per notification = wall "
    "time inside StrategyManager's hand-off methods (dispatch / dispatch_batch: "
    "routing, hand-off, the threads' loops, the barrier; timed by class-level "
    "wrappers) / notifications delivered (S x T per step); 'whole session loop' "
    "divides the coordinator's wall_s instead (processor stepping, thread start and "
    "stop included). Baseline: the same empty on_bars called in a plain Python loop. "
    "Unbatched: 1 symbol, 1 thread, built directly (SessionData + DataProcessor + "
    "StrategyManager) and driven with one manager.dispatch per step, so each step is "
    "one notification, one blocking hand-off and one barrier; beside it the same 1 x "
    "1 session through the coordinator, which batches steps per barrier."
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


class DispatchTimer:
    """Wall time inside ``StrategyManager``'s hand-off methods, while installed.

    Wraps whichever of ``dispatch`` and ``dispatch_batch`` the runtime has, at class
    level (the session builds its own manager); nested calls count once.
    """

    METHODS = ("dispatch", "dispatch_batch")

    def __init__(self) -> None:
        self.spent_ns = 0
        self.calls = 0
        self._depth = 0
        self._saved: list[tuple[str, Any]] = []

    def __enter__(self) -> DispatchTimer:
        from stratagem._runtime.manager import StrategyManager

        for name in self.METHODS:
            original = StrategyManager.__dict__.get(name)
            if original is None:
                continue
            self._saved.append((name, original))
            setattr(StrategyManager, name, self._wrap(original))
        return self

    def __exit__(self, *exc: object) -> None:
        from stratagem._runtime.manager import StrategyManager

        for name, original in self._saved:
            setattr(StrategyManager, name, original)

    def _wrap(self, original: Any) -> Any:
        perf_ns = time.perf_counter_ns

        def timed(manager: Any, *args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            start = perf_ns()
            try:
                return original(manager, *args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.spent_ns += perf_ns() - start
                    self.calls += 1

        return timed


def measure(symbols: int, threads: int, steps: int) -> dict[str, float]:
    """One session through the real coordinator (``run_strategy``, data-driven).

    :returns: ns per notification inside the hand-off methods, and the whole
        session loop (``result.wall_s``) per notification.
    """
    from stratagem.testing import run_strategy

    strategy_cls, config_cls = _strategy_classes()
    bars = synthetic_bars(steps)
    entries = [(f"empty{k}", strategy_cls, config_cls()) for k in range(threads)]
    with DispatchTimer() as timer:
        outcome = run_strategy(
            entries,
            bars={f"S{index:04d}": bars for index in range(symbols)},
            derived_intervals=(),
        )
    if outcome.failures:
        raise RuntimeError(f"empty strategy failed: {outcome.failures}")
    handled = sum(m["notifications"] for m in outcome.metrics.values())
    expected = symbols * threads * steps
    if handled != expected:
        raise RuntimeError(
            f"{symbols} symbols x {threads} threads x {steps} steps: handled "
            f"{handled} notifications, expected {expected}"
        )
    return {
        "ns_per_notification": timer.spent_ns / handled,
        "loop_ns_per_notification": outcome.result.wall_s * 1e9 / handled,
        "handoffs": timer.calls,
    }


def unbatched_step_ns(steps: int) -> float:
    """ns per step when every step is its own blocking hand-off (1 symbol, 1 thread).

    Built directly and driven one ``manager.dispatch`` per step: in data-driven mode
    that is one hand-off and one barrier per step.
    """
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
    processor.add_symbol("S0000", bars, t0)
    instance = StrategyInstance(
        id="empty", strategy_cls=strategy_cls, config=config_cls()
    )
    manager = StrategyManager([instance], data, Mode.DATA_DRIVEN)
    manager.start(t0)
    processor.start(t0)
    perf_ns = time.perf_counter_ns
    spent = count = 0
    try:
        while (step := processor.next_step()) is not None:
            start = perf_ns()
            manager.dispatch(step.time_ns, step.items)
            spent += perf_ns() - start
            count += 1
    finally:
        manager.stop(processor.time_ns or t0)
    handled = manager.threads[0].metrics.notifications
    if handled != steps or count != steps:
        raise RuntimeError(f"unbatched: {count} steps, {handled} handled of {steps}")
    return spent / count


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
    loops = {
        (s, t): result.figure(
            f"{s} symbols x {_threads(t)}, whole session loop", "ns/notification"
        )
        for s, t in configs
    }
    batched = result.figure("1 symbol x 1 thread, runtime's own batching", "ns/step")
    unbatched = result.figure("unbatched: 1 symbol x 1 thread", "ns/step")
    baseline = result.figure("direct on_bars call (baseline)", "ns/call")
    ratios = {
        (s, t): result.ratio(f"{s} symbols x {_threads(t)} / direct call")
        for s, t in configs
    }
    handoffs: dict[str, int] = {}
    measure(10, 2, 20)
    unbatched_step_ns(20)
    for index in range(ctx.repeat):
        base = direct_call_ns(200_000 if not ctx.quick else 20_000)
        baseline.add(base)
        for s, t in configs:
            got = measure(s, t, steps)
            figures[(s, t)].add(got["ns_per_notification"])
            loops[(s, t)].add(got["loop_ns_per_notification"])
            ratios[(s, t)].add(got["ns_per_notification"] / base)
            handoffs[f"{s}x{t}"] = int(got["handoffs"])
        batched.add(measure(1, 1, unbatched_steps)["ns_per_notification"])
        unbatched.add(unbatched_step_ns(unbatched_steps))
        ctx.log(
            f"notify repeat {index + 1}: "
            + ", ".join(
                f"{s}x{t} {f.samples[-1]:.0f}ns" for (s, t), f in figures.items()
            )
            + f", unbatched {unbatched.samples[-1]:.0f}ns/step, direct {base:.0f}ns"
        )
    result.info["hand-off calls per run (dispatch/dispatch_batch)"] = handoffs
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
