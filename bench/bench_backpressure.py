"""Benchmark 6: a strategy 3x slower than the bar rate, under each backpressure policy.

Clock-driven replay of one synthetic symbol at 6,000x (one 1m step every 10 ms) to a
strategy whose ``on_bars`` sleeps 30 ms, with an inbox of 8 steps, under ``block``,
``drop_oldest`` and ``coalesce``.
"""

from __future__ import annotations

import time
from typing import Any

from _common import Context, Result

POLICIES = ("block", "drop_oldest", "coalesce")
STEP_S = 0.010
SLOWDOWN = 3.0
INBOX = 8

METHOD = (
    "One synthetic symbol, 1m only, clock-driven at 6,000x (a step every 10 ms) via "
    "stratagem.testing.run_strategy; the strategy subscribes to it and sleeps 30 ms "
    "in on_bars (3x the bar interval); inbox_size 8; one run per policy per repeat. "
    "overruns = steps that arrived while the strategy was busy or had a backlog; "
    "dropped = notifications discarded (drop_oldest) or folded away (coalesce); "
    "blocked = hand-offs that found the inbox full (block); clock lag = the "
    "coordinator's lag behind schedule (block makes the clock wait)."
)


def _slow_strategy() -> tuple[type, type]:
    from stratagem import Strategy, StrategyConfig

    class SlowConfig(StrategyConfig):
        symbol: str = "SYM"
        sleep_s: float = STEP_S * SLOWDOWN

    class SlowStrategy(Strategy):
        """Takes ``sleep_s`` per notification."""

        config_class = SlowConfig

        def on_start(self, ctx: Any) -> None:
            ctx.subscribe(self.config.symbol, "1m")

        def on_bars(self, ctx: Any, symbol: str, interval: str) -> None:
            time.sleep(self.config.sleep_s)

    return SlowStrategy, SlowConfig


def measure(policy: str, steps: int) -> dict[str, float]:
    from bench_notify import synthetic_bars

    from stratagem.testing import run_strategy

    strategy_cls, config_cls = _slow_strategy()
    outcome = run_strategy(
        [("slow", strategy_cls, config_cls())],
        bars={"SYM": synthetic_bars(steps)},
        derived_intervals=(),
        speed_multiplier=60.0 / STEP_S,
        instance_options={"backpressure": policy, "inbox_size": INBOX},
        join_timeout_s=30.0,
    )
    if outcome.failures:
        raise RuntimeError(f"backpressure {policy}: {outcome.failures}")
    snap = outcome.metrics["slow"]
    drift = outcome.coordinator.drift() if outcome.coordinator else {}
    return {
        "overruns": snap["overruns"],
        "dropped": snap["dropped"],
        "blocked": snap.get("blocked", 0),
        "queue_max": snap["queue_max"],
        "handled": snap["notifications"],
        "lag_max_ms": drift.get("lag_max_ms", float("nan")),
        "lag_max_session_s": drift.get("lag_max_session_s", float("nan")),
        "wall_s": outcome.result.wall_s,
    }


def run(ctx: Context) -> Result:
    result = Result(
        "backpressure", "Backpressure: a strategy 3x slower than the bars", METHOD
    )
    steps = 20 if ctx.quick else 100
    rows = [
        ("overruns", "steps"),
        ("dropped", "notifications"),
        ("blocked", "hand-offs"),
        ("queue_max", "steps"),
        ("handled", "notifications"),
        ("lag_max_ms", "ms"),
        ("lag_max_session_s", "s"),
        ("wall_s", "s"),
    ]
    figures = {
        (policy, key): result.figure(f"{policy}: {key}", unit)
        for policy in POLICIES
        for key, unit in rows
    }
    for index in range(ctx.repeat):
        for policy in POLICIES:
            got = measure(policy, steps)
            for key, _ in rows:
                figures[(policy, key)].add(got[key])
            ctx.log(
                f"backpressure repeat {index + 1} {policy}: "
                f"overruns {got['overruns']}, "
                f"dropped {got['dropped']}, queue max {got['queue_max']}, "
                f"lag max {got['lag_max_ms']:.0f} ms"
            )
    result.info["steps per run"] = steps
    result.info["nominal wall per run s"] = steps * STEP_S
    return result
