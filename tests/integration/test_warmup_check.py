"""The author kit's warm-up check (``stratagem.testing.check_late_start`` and
``check_late_join``, DESIGN section 4): it holds for a strategy that reads its
look-back from the history, and fails, naming the missed signal, for one that
keeps a state the history never seeds."""

from __future__ import annotations

import math

import pytest

from stratagem import Signal, Strategy, StrategyConfig
from stratagem._data.timefmt import format_ts
from stratagem.testing import check_late_join, check_late_start, make_bars

#: closes whose 5m bars cross their 4-bar average many times
CLOSES = [10 + 2 * math.sin(i / 17) + 0.4 * math.sin(i / 3.1) for i in range(1500)]


class Config(StrategyConfig):
    symbols: list[str] = ["A"]


def side_at(closes: list[float], i: int) -> bool:
    return closes[i] > sum(closes[i - 4 : i]) / 4


class FromHistory(Strategy):
    """Signals when a 5m close crosses the average of the 4 bars before it; both
    sides are read from the bars, so the history seeds them."""

    config_class = Config

    def on_start(self, ctx):
        for symbol in self.config.symbols:
            if symbol in ctx.symbols:
                ctx.subscribe(symbol, "5m")

    def on_symbol_added(self, ctx, symbol):
        if symbol in self.config.symbols:
            ctx.subscribe(symbol, "5m")

    def on_bars(self, ctx, symbol, interval):
        closes = list(ctx.bars(symbol, interval).close[-6:])
        if len(closes) == 6 and side_at(closes, 5) != side_at(closes, 4):
            side = "buy" if side_at(closes, 5) else "sell"
            bar_ts = int(ctx.bars(symbol, interval).ts[-1])
            ctx.emit(Signal(symbol, interval, bar_ts, side))


class Forgetful(FromHistory):
    """The same rule with the previous side kept in the object: a late start has
    no previous side at its first bar, and misses a crossing there."""

    def on_start(self, ctx):
        super().on_start(ctx)
        self.last: dict[str, bool] = {}

    def on_bars(self, ctx, symbol, interval):
        closes = list(ctx.bars(symbol, interval).close[-5:])
        if len(closes) < 5:
            return
        now = side_at(closes, 4)
        if self.last.get(symbol, now) != now:
            bar_ts = int(ctx.bars(symbol, interval).ts[-1])
            ctx.emit(Signal(symbol, interval, bar_ts, "buy" if now else "sell"))
        self.last[symbol] = now


class Raises(FromHistory):
    def on_start(self, ctx):
        raise RuntimeError("no start")


def bars() -> dict:
    return {"A": make_bars(CLOSES), "B": make_bars(CLOSES[::-1])}


def a_crossing() -> int:
    """The bar time of a crossing of A well inside the run: a late start there."""
    whole = check_late_start(FromHistory, {"symbols": ["A"]}, bars(), start=0)
    return whole.whole[len(whole.whole) // 2].bar_ts


def test_a_strategy_that_reads_its_history_keeps_the_signals_of_a_late_start() -> None:
    t = a_crossing()
    check = check_late_start(FromHistory, {"symbols": ["A", "B"]}, bars(), start=t)
    assert check.from_ns == t
    assert check.expected[0].bar_ts == t  # the first bar delivered crosses
    assert [(s.symbol, s.bar_ts) for s in check.first] == [("A", t)]
    assert len(check.expected) > 10
    assert check.holds and check.missed == [] and check.extra == []
    check.assert_holds()
    # ISO text is the same start
    again = check_late_start(
        FromHistory, {"symbols": ["A", "B"]}, bars(), start=format_ts(t)
    )
    assert [(s.symbol, s.bar_ts) for s in again.late] == [
        (s.symbol, s.bar_ts) for s in check.late
    ]


def test_a_state_the_history_never_seeds_misses_the_first_crossing() -> None:
    t = a_crossing()
    check = check_late_start(Forgetful, {"symbols": ["A"]}, bars(), start=t)
    assert not check.holds
    assert [(s.symbol, s.bar_ts) for s in check.missed] == [("A", t)]
    assert check.extra == []
    with pytest.raises(AssertionError, match=f"missed 1: A 5m {format_ts(t)}"):
        check.assert_holds()


def test_a_symbol_joining_late_is_checked_on_its_own_signals() -> None:
    t = a_crossing()
    check = check_late_join(
        FromHistory, {"symbols": ["A", "B"]}, bars(), symbol="A", joins=t
    )
    assert check.symbol == "A" and check.from_ns == t
    assert [(s.symbol, s.bar_ts) for s in check.first] == [("A", t)]
    # B ran all along in both runs: all of its signals are expected
    whole_b = [s for s in check.whole if s.symbol == "B"]
    assert [s for s in check.expected if s.symbol == "B"] == whole_b
    check.assert_holds()

    forgetful = check_late_join(
        Forgetful, {"symbols": ["A", "B"]}, bars(), symbol="A", joins=t
    )
    assert [(s.symbol, s.bar_ts) for s in forgetful.missed] == [("A", t)]


def test_a_symbol_that_never_joins_or_a_failing_strategy_is_no_pass() -> None:
    after_the_end = make_bars(CLOSES).ts[-1] + 10**12
    with pytest.raises(AssertionError, match="A never joined"):
        check_late_join(
            FromHistory,
            {"symbols": ["A", "B"]},
            bars(),
            symbol="A",
            joins=int(after_the_end),
        )
    with pytest.raises(AssertionError, match="whole run had failures.*no start"):
        check_late_start(Raises, {"symbols": ["A"]}, bars(), start=a_crossing())
