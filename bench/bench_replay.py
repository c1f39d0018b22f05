"""Benchmark 4: the fastest clock-driven replay without overruns, and clock drift.

A trial replays ma_cross on the five files at one ``speed_multiplier`` over a slice
sized to take about two wall seconds; it passes when the strategy had zero overruns.
The search doubles the speed from 10,000x until a trial fails (halving instead when
10,000x already fails), then bisects geometrically until the bracket is within 15 %.
Drift (the coordinator's lag behind its schedule) is then measured at 60x, 600x and
at the maximum found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from _common import (
    NS_PER_MINUTE,
    Context,
    Result,
    Target,
    overlap_ns,
    run_session,
    write_session,
)

TARGET_SPEED = 20_000.0
START_SPEED = 10_000.0
MAX_SPEED = 10_240_000.0
MIN_SPEED = 100.0

METHOD = (
    "ma_cross on the five files, clock-driven (load_session + build_session). A "
    "trial at speed S replays a slice starting 6 h into the common range, sized to "
    "about 2 s of wall time (S x 2 s of session time, at least 4 h, at most the "
    "common range); it passes with zero overruns. Search: double from 10,000x until a "
    "trial fails, then bisect geometrically until hi/lo <= 1.15; the maximum is the "
    "highest passing speed. One search per repeat. Drift = the coordinator's lag "
    "metrics (lag_p99_ms: wall-clock lag of a step behind its schedule; "
    "lag_max_session_s: the worst lag in session seconds) at 60x over 5 min of "
    "session, 600x over 30 min, and at the median maximum over a standard trial slice."
)


@dataclass
class Trial:
    speed: float
    minutes: int
    overruns: int
    dropped: int
    queue_max: int
    lag_p99_ms: float
    lag_max_session_s: float
    wall_s: float

    @property
    def passed(self) -> bool:
        return self.overruns == 0


class Replay:
    """Runs trials over slices of the five files."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        first, last = overlap_ns(ctx.bars_root)
        self.start = first + (60 if ctx.quick else 360) * NS_PER_MINUTE
        self.available = (last - self.start) // NS_PER_MINUTE
        self.wall_target = 0.25 if ctx.quick else 2.0
        self.min_minutes = min(30 if ctx.quick else 240, self.available)
        self.scratch = ctx.tmpdir("replay-")
        self.trials: list[Trial] = []

    def minutes_for(self, speed: float) -> int:
        wanted = round(speed * self.wall_target / 60.0)
        return int(max(self.min_minutes, min(wanted, self.available)))

    def trial(self, speed: float, minutes: int | None = None) -> Trial:
        minutes = self.minutes_for(speed) if minutes is None else minutes
        index = len(self.trials)
        config = write_session(
            self.scratch / f"trial-{index}.json",
            self.ctx.bars_root,
            speed=speed,
            start_ns=self.start,
            end_ns=self.start + minutes * NS_PER_MINUTE,
        )
        _, outcome = run_session(config, self.scratch / f"trial-{index}")
        system: dict[str, Any] = outcome.metrics["system"]
        snap = outcome.metrics["strategies"]["ma_cross"]
        done = Trial(
            speed=speed,
            minutes=minutes,
            overruns=int(snap["overruns"]),
            dropped=int(snap["dropped"]),
            queue_max=int(snap["queue_max"]),
            lag_p99_ms=float(system["lag_p99_ms"]),
            lag_max_session_s=float(system["lag_max_session_s"]),
            wall_s=float(system["wall_s"]),
        )
        self.trials.append(done)
        self.ctx.log(
            f"replay trial {speed:,.0f}x over {minutes} min: overruns {done.overruns}, "
            f"queue max {done.queue_max}, lag p99 {done.lag_p99_ms:.2f} ms, "
            f"wall {done.wall_s:.2f}s"
        )
        return done

    def search(self) -> float:
        """Highest passing speed (0 when not even the floor passes)."""
        low = high = None
        speed = START_SPEED
        while low is None or high is None:
            if self.trial(speed).passed:
                low = speed
                if high is None:
                    if speed >= MAX_SPEED:
                        return speed
                    speed *= 2
            else:
                high = speed
                if low is None:
                    if speed <= MIN_SPEED:
                        return 0.0
                    speed /= 2
        ratio = 1.5 if self.ctx.quick else 1.15
        while high / low > ratio:
            middle = math.sqrt(low * high)
            if self.trial(middle).passed:
                low = middle
            else:
                high = middle
        return low


def run(ctx: Context) -> Result:
    result = Result(
        "replay", "Max replay speed and clock drift (ma_cross, 5 files)", METHOD
    )
    replay = Replay(ctx)
    best = result.figure("max speed with zero overruns", "x")
    trials = result.figure("trials per search", "trials")
    for index in range(ctx.repeat):
        before = len(replay.trials)
        found = replay.search()
        best.add(found)
        trials.add(len(replay.trials) - before)
        ctx.log(f"replay search {index + 1}: max {found:,.0f}x")
    maximum = best.median
    drift_runs = [
        ("60x", 60.0, 1 if ctx.quick else 5),
        ("600x", 600.0, 5 if ctx.quick else 30),
        ("max", maximum, None),
    ]
    for label, speed, minutes in drift_runs:
        if speed <= 0:
            continue
        p99 = result.figure(f"lag p99 at {label}", "ms")
        worst = result.figure(f"lag max at {label} (session time)", "s")
        overruns = result.figure(f"overruns at {label}", "steps")
        for _ in range(ctx.repeat):
            done = replay.trial(speed, minutes)
            p99.add(done.lag_p99_ms)
            worst.add(done.lag_max_session_s)
            overruns.add(done.overruns)
    result.info["max speed used for drift"] = round(maximum, 1)
    result.info["trials run"] = len(replay.trials)
    result.details["trials"] = [
        {
            "speed": round(t.speed, 1),
            "minutes": t.minutes,
            "overruns": t.overruns,
            "queue_max": t.queue_max,
            "lag_p99_ms": round(t.lag_p99_ms, 3),
        }
        for t in replay.trials
    ]
    result.targets = [
        Target(">= 20,000x with zero overruns", maximum, ">=", TARGET_SPEED, "x")
    ]
    return result
