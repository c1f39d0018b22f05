"""Threads a live session can run on for weeks, and one failure policy for every
plugin kind (DESIGN sections 3 and 5)."""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import pytest

from stratagem import Strategy, StrategyConfig
from stratagem.testing import MemorySource, make_bars, run_strategy

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * PAGE


class Subscriber(Strategy):
    """Listens to A 1m and does nothing else."""

    def on_start(self, ctx) -> None:
        ctx.subscribe("A", "1m")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_stays_flat_over_a_million_step_clock_driven_replay() -> None:
    """Clock-driven steps are handed out without waiting; nothing may pile up per
    step (the old acknowledgement queue grew by about 1.7 entries a step)."""
    steps = 1_000_000
    samples: dict[str, int] = {}

    class Sampler(Subscriber):
        def on_bars(self, ctx, symbol, interval) -> None:
            if len(ctx.bars(symbol, interval)) >= 100_000 and "early" not in samples:
                samples["early"] = rss_bytes()

        def on_stop(self, ctx) -> None:
            samples["late"] = rss_bytes()

    bars = make_bars(np.full(steps, 1.0))
    outcome = run_strategy(
        Sampler, bars={"A": bars}, derived_intervals=(), speed_multiplier=1e12
    )
    assert outcome.result.steps == steps
    assert outcome.session is not None
    assert outcome.session.manager._done.qsize() == 0
    # bound: 16 MiB over 900,000 steps, about 18 bytes a step; the leak it guards
    # against cost over 100 bytes a step
    assert samples["late"] - samples["early"] < 16 * 2**20, samples


class Raising(Subscriber):
    def on_bars(self, ctx, symbol, interval) -> None:
        raise ValueError(f"bad bar {len(ctx.bars(symbol, interval))}")


@pytest.mark.parametrize("on_error", ["continue", "quarantine", "stop"])
@pytest.mark.parametrize("speed", [0.0, 1e9])
def test_no_thread_outlives_a_run(on_error: str, speed: float) -> None:
    before = set(threading.enumerate())
    run_strategy(
        [("quiet", Subscriber, StrategyConfig()), ("loud", Raising, StrategyConfig())],
        bars={"A": make_bars(np.arange(1.0, 50.0))},
        derived_intervals=(),
        speed_multiplier=speed,
        instance_options={"on_error": on_error},
    )
    assert set(threading.enumerate()) == before


def test_continue_logs_the_first_traceback_once_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bars = make_bars(np.arange(1.0, 101.0))
    with caplog.at_level(logging.DEBUG):
        outcome = run_strategy(
            [("loud", Raising, StrategyConfig())],
            bars={"A": bars},
            derived_intervals=(),
            instance_options={"on_error": "continue"},
        )
    logged = [r for r in caplog.records if "loud" in r.getMessage()]
    assert len(logged) == 1
    assert "Traceback" in logged[0].getMessage()
    assert "bad bar 1" in logged[0].getMessage()
    assert outcome.metrics["loud"]["errors"] == 100
    assert outcome.metrics["loud"]["state"] == "stopped"
    (failure,) = outcome.failures
    assert failure.count == 100 and failure.action == "continue"
    assert outcome.result.status == "ok"  # nothing was quarantined


class RaisingScanner:
    def __init__(self) -> None:
        self.calls = 0

    def scan(self, session) -> list[str]:
        self.calls += 1
        raise RuntimeError("scanner feed down")


def test_a_raising_scanner_follows_the_common_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bars = make_bars(np.arange(1.0, 31.0))
    scanner = RaisingScanner()
    with caplog.at_level(logging.ERROR):
        outcome = run_strategy(
            [("quiet", Subscriber, StrategyConfig())],
            bars={"A": bars},
            derived_intervals=(),
            scanners=[("flaky", scanner)],
            source=MemorySource({("A", "1m"): bars}),
        )
    # quarantined (the default) after its first failure: polled once, logged once
    assert scanner.calls == 1
    assert sum("scanner flaky" in r.getMessage() for r in caplog.records) == 1
    (failure,) = outcome.failures
    assert (failure.plugin.kind, failure.plugin.id) == ("scanner", "flaky")
    assert failure.action == "quarantine" and "feed down" in failure.error
    assert outcome.result.status == "degraded"
    # the strategy was not affected
    assert outcome.metrics["quiet"]["notifications"] == 30


class RaisesOnJoin(Subscriber):
    def on_symbol_added(self, ctx, symbol) -> None:
        raise RuntimeError(f"cannot follow {symbol}")


class JoinAt:
    def __init__(self, at_ns: int) -> None:
        self.at_ns = at_ns

    def scan(self, session) -> list[str]:
        return ["B"] if session.time_ns >= self.at_ns else []


def test_a_strategy_raising_in_on_symbol_added_is_quarantined_alone() -> None:
    a = make_bars(np.arange(1.0, 41.0))
    b = make_bars(np.arange(1.0, 41.0))
    outcome = run_strategy(
        [
            ("quiet", Subscriber, StrategyConfig()),
            ("joins", RaisesOnJoin, StrategyConfig()),
        ],
        bars={"A": a},
        derived_intervals=(),
        source=MemorySource({("A", "1m"): a, ("B", "1m"): b}),
        scanners=[("join", JoinAt(int(a.ts[10])))],
    )
    (failure,) = outcome.failures
    assert (failure.plugin.id, failure.hook, failure.action) == (
        "joins",
        "on_symbol_added",
        "quarantine",
    )
    assert "cannot follow B" in failure.error
    assert outcome.metrics["joins"]["state"] == "quarantined"
    # the other strategy kept every bar of A
    assert outcome.metrics["quiet"]["notifications"] == 40
    assert outcome.result.status == "degraded"


class ListSource:
    """A live source in memory: streams given bars, no history."""

    def __init__(self, bars: dict) -> None:
        self.bars = bars

    def available(self, symbol: str, interval: str) -> bool:
        return False

    def load(self, symbol, interval, *, start_ns=None, end_ns=None):
        raise KeyError(symbol)

    def stream(self, symbols, start_ns, stop):
        from stratagem import LiveBar

        rows = sorted(
            (int(arrays.ts[i]), symbol, i)
            for symbol, arrays in self.bars.items()
            for i in range(len(arrays))
        )
        for ts, symbol, i in rows:
            if stop.is_set():
                return
            arrays = self.bars[symbol]
            yield LiveBar(
                symbol,
                ts,
                float(arrays.open[i]),
                float(arrays.high[i]),
                float(arrays.low[i]),
                float(arrays.close[i]),
                float(arrays.volume[i]),
            )


class Slow(Subscriber):
    def on_bars(self, ctx, symbol, interval) -> None:
        time.sleep(0.002)


def test_a_slow_strategy_in_live_mode_holds_its_bound_and_spares_the_others() -> None:
    from stratagem._runtime.thread import StrategyInstance
    from stratagem._session.build import SessionSpec, build_session

    bars = make_bars(np.arange(1.0, 2001.0))
    spec = SessionSpec(
        symbols=["A"],
        strategies=[
            StrategyInstance(
                "fast", Subscriber, StrategyConfig(), backpressure="block"
            ),
            StrategyInstance(
                "slow", Slow, StrategyConfig(), inbox_size=8, backpressure="drop_oldest"
            ),
        ],
        source=ListSource({"A": bars}),
        start_ns=int(bars.ts[0]),
    )
    outcome = build_session(spec).run()
    assert outcome.error is None and outcome.result.mode == "live"
    slow, fast = (
        outcome.metrics["strategies"]["slow"],
        outcome.metrics["strategies"]["fast"],
    )
    # the bound held and the policy dropped what did not fit
    assert slow["queue_max"] <= 8 and slow["dropped"] > 0 and slow["overruns"] > 0
    assert slow["notifications"] + slow["dropped"] == 2000
    # the fast strategy saw every bar
    assert fast["dropped"] == 0 and fast["notifications"] == 2000
