"""The strategy runtime with real threads over the embedded sample data."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stratagem import Signal, Strategy, StrategyConfig, StrategyContext
from stratagem._runtime.manager import StartupError
from stratagem.testing import load_bars, make_bars, run_strategy

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]


@pytest.fixture(scope="module")
def sample() -> dict:
    return {s: load_bars(SAMPLE / "1m" / f"{s}.csv") for s in SYMBOLS}


Entry = tuple[str, type[Strategy], StrategyConfig]


@pytest.fixture
def sma_cross(local_strategies) -> Callable[..., Entry]:
    """``(id, SmaCross, config)``: the tests' own SMA crossover, 5m 10/20, on every
    symbol; the well-behaved neighbour whose signals a failing strategy must not
    change."""

    def entry(sid: str = "ma") -> Entry:
        cfg = local_strategies.SmaCrossConfig(
            symbols=SYMBOLS, interval="5m", fast_period=10, slow_period=20
        )
        return (sid, local_strategies.SmaCross, cfg)

    return entry


class ListConfig(StrategyConfig):
    symbols: list[str] = ["ETH_BTC"]
    interval: str = "5m"
    fail_at: int = 3
    hang: bool = False


class Recorder(Strategy):
    """Records which thread each lifecycle call runs in, and what it saw."""

    config_class = ListConfig
    calls: list[tuple[str, str, int]]

    def __init__(self, config: ListConfig) -> None:
        super().__init__(config)
        self.calls = []
        Recorder.last = self

    def on_start(self, ctx: StrategyContext) -> None:
        self.calls.append(("start", threading.current_thread().name, 0))
        for symbol in self.config.symbols:
            ctx.subscribe(symbol, self.config.interval)

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        bars = ctx.bars(symbol, interval)
        # the newest visible bar closed at or before the notification's session time
        assert int(bars.ts[-1]) + 5 * 60 * 10**9 <= ctx.time_ns
        self.calls.append(("bars", threading.current_thread().name, len(bars)))

    def on_stop(self, ctx: StrategyContext) -> None:
        self.calls.append(("stop", threading.current_thread().name, 0))


def test_hook_stratagem_on_start(sample) -> None:
    run_strategy([("rec", Recorder, ListConfig())], bars=sample)
    kind, thread_name, _ = Recorder.last.calls[0]
    assert kind == "start"
    assert thread_name == "strategy-rec"


def test_hook_stratagem_on_bars(sample) -> None:
    outcome = run_strategy([("rec", Recorder, ListConfig())], bars=sample)
    bars_calls = [c for c in Recorder.last.calls if c[0] == "bars"]
    published = outcome.data.series("ETH_BTC", "5m").n
    # one call per published 5m bar, each seeing exactly one more bar, in its thread
    assert [n for _, _, n in bars_calls] == list(range(1, published + 1))
    assert {name for _, name, _ in bars_calls} == {"strategy-rec"}
    assert outcome.metrics["rec"]["notifications"] == published


def test_hook_stratagem_on_stop(sample) -> None:
    outcome = run_strategy([("rec", Recorder, ListConfig())], bars=sample)
    assert Recorder.last.calls[-1][:2] == ("stop", "strategy-rec")
    assert outcome.metrics["rec"]["state"] == "stopped"


def test_data_driven_signals_are_identical_across_runs_and_thread_counts(
    sample, sma_cross
) -> None:
    single = run_strategy([sma_cross("m0")], bars=sample).by_strategy("m0")
    assert len(single) > 50
    again = run_strategy([sma_cross("m0")], bars=sample).by_strategy("m0")
    eight = run_strategy([sma_cross(f"m{i}") for i in range(8)], bars=sample)
    assert again == _without_wall_time(single, again)
    for i in range(8):
        mine = eight.by_strategy(f"m{i}")
        assert _key(mine) == _key(single)


def _key(signals: list[Signal]) -> list[tuple]:
    return [(s.symbol, s.interval, s.bar_ts, s.side, s.reason) for s in signals]


def _without_wall_time(expected: list[Signal], actual: list[Signal]) -> list[Signal]:
    # emission wall time differs run to run; everything else must not
    assert _key(expected) == _key(actual)
    return actual


class Boom(Recorder):
    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        super().on_bars(ctx, symbol, interval)
        if len(self.calls) - 1 == self.config.fail_at:
            raise RuntimeError("third bar is poison")


def test_a_raising_strategy_is_quarantined_and_others_are_unchanged(
    sample, sma_cross
) -> None:
    alone = run_strategy([sma_cross()], bars=sample)
    mixed = run_strategy([sma_cross(), ("boom", Boom, ListConfig())], bars=sample)
    assert _key(mixed.by_strategy("ma")) == _key(alone.by_strategy("ma"))
    boom = mixed.metrics["boom"]
    assert boom["state"] == "quarantined"
    assert boom["errors"] == 1
    assert boom["notifications"] == 3  # nothing delivered after the failure
    (failure,) = mixed.failures
    assert failure.plugin.id == "boom" and "third bar is poison" in failure.error
    assert failure.symbol == "ETH_BTC" and failure.bar_ts is not None
    assert mixed.result.status == "degraded"  # finished without boom


def test_on_error_continue_keeps_delivering_and_counts_every_error(sample) -> None:
    class Always(Recorder):
        def on_bars(self, ctx, symbol, interval):
            super().on_bars(ctx, symbol, interval)
            raise ValueError("always")

    outcome = run_strategy(
        [("always", Always, ListConfig())],
        bars=sample,
        instance_options={"on_error": "continue", "max_errors": 5},
    )
    snap = outcome.metrics["always"]
    assert snap["errors"] == snap["notifications"] > 100
    assert snap["state"] == "stopped"


def test_on_error_stop_ends_the_session_as_failed(sample, sma_cross) -> None:
    outcome = run_strategy(
        [sma_cross(), ("boom", Boom, ListConfig())],
        bars=sample,
        instance_options={"on_error": "stop"},
    )
    assert outcome.result.status == "failed"
    assert (
        "boom" in outcome.result.reason
        and "third bar is poison" in outcome.result.reason
    )
    assert outcome.result.steps < 2880


class Hang(Recorder):
    release = threading.Event()
    returned = threading.Event()

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        super().on_bars(ctx, symbol, interval)
        if len(self.calls) == 3:
            Hang.release.wait(60)
            Hang.returned.set()


def test_a_hung_strategy_is_quarantined_by_the_watchdog(
    sample, sma_cross, caplog
) -> None:
    alone = run_strategy([sma_cross()], bars=sample)
    try:
        outcome = run_strategy(
            [sma_cross(), ("hang", Hang, ListConfig())],
            bars=sample,
            instance_options={"callback_timeout_s": 0.5},
            join_timeout_s=0.5,
        )
        # the session is over while the hung callback still waits: the barrier
        # stopped waiting for it (the callback is only released below)
        still_hung = not Hang.returned.is_set()
    finally:
        Hang.release.set()
    assert still_hung, "the session waited for the hung strategy to return"
    assert outcome.metrics["hang"]["state"] == "hung"
    assert outcome.result.stuck_threads == ["hang"]  # reported, not waited for
    assert _key(outcome.by_strategy("ma")) == _key(alone.by_strategy("ma"))
    # the watchdog dumped the hung thread's stack, down to the line it waits on
    (dump,) = [r for r in caplog.records if "hung" in r.getMessage()]
    assert "Hang.release.wait(60)" in dump.getMessage()


class BadSignal(Recorder):
    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        super().on_bars(ctx, symbol, interval)
        bars = ctx.bars(symbol, interval)
        # a bar one interval in the future: the strategy cannot have seen it
        ctx.emit(Signal(symbol, interval, int(bars.ts[-1]) + 300 * 10**9, "buy"))


def test_a_malformed_signal_is_an_error_of_that_strategy_only(
    sample, sma_cross
) -> None:
    alone = run_strategy([sma_cross()], bars=sample)
    outcome = run_strategy([sma_cross(), ("bad", BadSignal, ListConfig())], bars=sample)
    assert outcome.metrics["bad"]["errors"] == 1
    assert outcome.metrics["bad"]["signals"] == 0
    assert "cannot have seen" in outcome.failures[0].error
    assert _key(outcome.by_strategy("ma")) == _key(alone.by_strategy("ma"))


def test_subscribing_to_an_interval_the_session_does_not_derive_fails_at_start(
    sample,
) -> None:
    with pytest.raises(StartupError, match=r"rec.*7m.*derived_intervals"):
        run_strategy([("rec", Recorder, ListConfig(interval="7m"))], bars=sample)


class Slow(Strategy):
    config_class = ListConfig

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "1m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        time.sleep(0.004)


class Fast(Slow):
    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        return None


@pytest.mark.parametrize("policy", ["drop_oldest", "coalesce", "block"])
def test_a_slow_strategy_in_clock_mode_overruns_within_its_bound(policy) -> None:
    # 400 one-minute bars at 60,000x: one bar per millisecond, the slow strategy
    # needs about four, so its backlog outgrows the bound; the fast one has room to
    # spare even on a loaded machine
    bars = {"ETH_BTC": make_bars([1.0 + i * 1e-4 for i in range(400)])}
    outcome = run_strategy(
        [("slow", Slow, ListConfig()), ("fast", Fast, ListConfig())],
        bars=bars,
        speed_multiplier=60_000,
        derived_intervals=(),
        instance_options={"backpressure": policy, "inbox_size": 64},
    )
    slow, fast = outcome.metrics["slow"], outcome.metrics["fast"]
    assert slow["overruns"] > 50
    assert slow["queue_max"] <= 64
    if policy == "block":
        assert slow["dropped"] == 0 and slow["notifications"] == 400
    else:
        assert slow["dropped"] > 0
        assert slow["notifications"] + slow["dropped"] == 400
    assert fast["notifications"] == 400 and fast["dropped"] == 0
    # the fast strategy's inbox does not back up behind the slow one's
    assert fast["queue_max"] < slow["queue_max"]


class LateSubscriber(Strategy):
    """Listens to ETH_BTC 15m; at its fourth bar it also subscribes to LTC_BTC 1m."""

    config_class = ListConfig
    last: LateSubscriber

    def __init__(self, config: ListConfig) -> None:
        super().__init__(config)
        self.subscribed_at: int | None = None
        self.ltc_steps: list[tuple[int, int]] = []
        LateSubscriber.last = self

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "15m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        if symbol == "LTC_BTC":
            self.ltc_steps.append((ctx.time_ns, ctx.new_bars))
        elif len(ctx.bars(symbol, interval)) == 4:
            ctx.subscribe("LTC_BTC", "1m")
            self.subscribed_at = ctx.time_ns


def test_a_subscription_made_in_on_bars_takes_effect_from_the_next_step(sample):
    run_strategy([("late", LateSubscriber, ListConfig())], bars=sample)
    late = LateSubscriber.last
    assert late.subscribed_at is not None
    ltc = sample["LTC_BTC"]
    # every LTC bar that closed after the subscribing step, each at its own step
    ends = [
        int(t) + 60 * 10**9 for t in ltc.ts if int(t) + 60 * 10**9 > late.subscribed_at
    ]
    assert [t for t, _ in late.ltc_steps] == ends
    assert {new for _, new in late.ltc_steps} == {1}


def test_a_stopping_failure_keeps_no_signal_from_later_steps(sample, sma_cross) -> None:
    alone = run_strategy([sma_cross()], bars=sample).by_strategy("ma")
    outcome = run_strategy(
        [sma_cross(), ("boom", Boom, ListConfig(fail_at=60))],
        bars=sample,
        instance_options={"on_error": "stop"},
    )
    (failure,) = outcome.failures
    stop_at = failure.bar_ts + 5 * 60 * 10**9  # the step that published that bar
    five = 5 * 60 * 10**9
    expected = [s for s in alone if s.bar_ts + five <= stop_at]
    assert 0 < len(expected) < len(alone)
    assert _key(outcome.by_strategy("ma")) == _key(expected)
