"""``stratagem.FollowingStrategy``, the base class ``ma_cross`` is built on: which
symbols it follows, and that every bar reaches ``update`` once, history first."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from stratagem import Bars, FollowingStrategy, Signal, StrategyConfig, StrategyContext
from stratagem.testing import MemorySource, make_bars, run_strategy

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, make_bars' default start
MINUTE = 60 * 10**9
FIVE = 5 * MINUTE

#: (symbol, interval, bar open time, bars visible, index, session time) per call
Call = tuple[str, str, int, int, int, int]


class TallyConfig(StrategyConfig):
    symbols: list[str] = Field(description="Symbols to follow.")
    interval: str = Field("5m", description="Interval fed to update().")
    also: str | None = Field(None, description="An interval only subscribed to.")


class Tally(FollowingStrategy):
    """Records every update() call and signals on every bar."""

    config_class = TallyConfig
    config: TallyConfig

    calls: ClassVar[list[Call]] = []
    notified: ClassVar[set[tuple[str, str]]] = set()
    followed: ClassVar[list[tuple[str, ...]]] = []

    def start_following(self, ctx: StrategyContext, symbol: str) -> None:
        if self.config.also:
            ctx.subscribe(symbol, self.config.also)

    def update(
        self, ctx: StrategyContext, symbol: str, interval: str, bars: Bars, index: int
    ) -> Signal | None:
        bar_ts = int(bars.ts[index])
        self.calls.append((symbol, interval, bar_ts, len(bars), index, ctx.time_ns))
        return Signal(symbol=symbol, interval=interval, bar_ts=bar_ts, side="buy")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self.notified.add((symbol, interval))
        super().on_bars(ctx, symbol, interval)

    def on_stop(self, ctx: StrategyContext) -> None:
        self.followed.append(self.following)


class AddAt:
    """A scanner adding ``symbol`` at the first clock step at or after ``at_ns``."""

    def __init__(self, symbol: str, at_ns: int) -> None:
        self.symbol = symbol
        self.at_ns = at_ns

    def scan(self, session: Any) -> list[str]:
        return [self.symbol] if session.time_ns >= self.at_ns else []


def run(**fields: Any) -> Any:
    """A from 00:30 (config start), B joining at 01:00, D in the session but not
    configured, C configured but never there. A and D miss minutes 37..43, so one
    step (00:45) publishes A's 5m bars 00:35 and 00:40 together."""
    Tally.calls, Tally.notified, Tally.followed = [], set(), []
    closes = [100.0 + (i % 7) for i in range(120)]
    a = d = make_bars(closes, skip=range(37, 44))
    b = make_bars(closes)
    outcome = run_strategy(
        Tally,
        {"symbols": ["C", "B", "A"], **fields},
        {"A": a, "D": d},
        source=MemorySource({("A", "1m"): a, ("B", "1m"): b, ("D", "1m"): d}),
        start_ns=T0 + 30 * MINUTE,
        scanners=[("join", AddAt("B", T0 + 60 * MINUTE))],
    )
    assert outcome.failures == []
    assert [(i.symbol, i.time_ns) for i in outcome.result.insertions] == [
        ("B", T0 + 60 * MINUTE)
    ]
    return outcome


def test_every_bar_reaches_update_once_history_first_and_only_new_bars_signal() -> None:
    outcome = run()
    windows = [T0 + k * FIVE for k in range(24)]  # every 5m window holds a minute
    for symbol, since in (("A", T0 + 30 * MINUTE), ("B", T0 + 60 * MINUTE)):
        calls = [c for c in Tally.calls if c[0] == symbol]
        assert [c[2] for c in calls] == windows
        assert all(interval == "5m" for _, interval, *_ in calls)
        # the history (bars closed by the time the symbol was taken up) is fed then,
        # from the view as of then; every other bar after it closed
        history = [c for c in calls if c[2] + FIVE <= since]
        assert len(history) == (since - T0) // FIVE
        assert {(size, now) for _, _, _, size, _, now in history} == {
            (len(history), since)
        }
        for _, _, bar_ts, size, index, now in calls:
            assert bar_ts == windows[index] and index < size
            assert bar_ts + FIVE <= now
        signals = [s.bar_ts for s in outcome.signals if s.symbol == symbol]
        assert signals == [ts for ts in windows if ts >= since]
    # A's bars 00:35 and 00:40 came in one notification, each had its own call
    assert ("A", "5m", T0 + 35 * MINUTE, 9, 7, T0 + 45 * MINUTE) in Tally.calls
    assert ("A", "5m", T0 + 40 * MINUTE, 9, 8, T0 + 45 * MINUTE) in Tally.calls
    assert {c[0] for c in Tally.calls} == {"A", "B"}
    assert Tally.followed == [("A", "B")]


def test_series_subscribed_in_start_following_are_not_fed_to_update() -> None:
    outcome = run(also="15m")
    assert ("A", "15m") in Tally.notified and ("B", "15m") in Tally.notified
    assert {c[1] for c in Tally.calls} == {"5m"}
    assert {s.interval for s in outcome.signals} == {"5m"}
