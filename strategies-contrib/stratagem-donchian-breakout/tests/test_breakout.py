"""``donchian_breakout`` on hand-made two-interval series, against an independent
implementation, and its no-look-ahead guarantee."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from stratagem import Bars, StartupError, StrategyContext
from stratagem.testing import MemorySource, make_bars, run_strategy
from stratagem_donchian_breakout import Channel, DonchianBreakout

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, make_bars' default start
MINUTE = 60 * 10**9

Minute = tuple[int, float, float, float]  # open time, high, low, close
Window = tuple[int, float, float, float, float]  # + quality


class Series:
    """One symbol's 1m input: closes, minus the slots in ``skip``."""

    def __init__(self, closes: Sequence[float], skip: Sequence[int] = ()) -> None:
        self.bars = make_bars(closes, skip=skip)

    def minutes(self) -> list[Minute]:
        bars = self.bars
        return list(
            zip(
                bars.ts.tolist(),
                bars.high.tolist(),
                bars.low.tolist(),
                bars.close.tolist(),
                strict=True,
            )
        )


def windows(minutes: Sequence[Minute], width: int) -> list[Window]:
    """Left-labelled windows of ``width`` minutes: open time, high, low, close and
    quality (percent of minutes present)."""
    grouped: dict[int, list[Minute]] = {}
    for bar in minutes:
        grouped.setdefault(bar[0] - bar[0] % (width * MINUTE), []).append(bar)
    return [
        (
            start,
            max(b[1] for b in group),
            min(b[2] for b in group),
            group[-1][3],
            100.0 * len(group) / width,
        )
        for start, group in sorted(grouped.items())
    ]


def expected_breakouts(
    minutes: Sequence[Minute],
    fast: int,
    slow: int,
    channel_bars: int,
    min_quality: float = 0.0,
    signal_from: int = 0,
) -> list[tuple[int, str]]:
    """``(fast bar open time, side)`` of every breakout, in plain Python."""
    slow_bars = windows(minutes, slow)
    position = None
    found = []
    for start, _, _, close, quality in windows(minutes, fast):
        current_window = start - start % (slow * MINUTE)
        channel = [b for b in slow_bars if b[0] < current_window][-channel_bars:]
        if len(channel) < channel_bars:
            continue
        high = max(b[1] for b in channel)
        low = min(b[2] for b in channel)
        before = position
        position = "above" if close > high else "below" if close < low else "inside"
        if position in (before, "inside") or quality < min_quality:
            continue
        if start >= signal_from:
            found.append((start, "buy" if position == "above" else "sell"))
    return found


def run(
    series: dict[str, Series],
    strategy: type[DonchianBreakout] = DonchianBreakout,
    derived_intervals: Sequence[int] = (5, 15),
    **fields: Any,
) -> list[tuple[str, int, str]]:
    outcome = run_strategy(
        strategy,
        {"symbols": list(series), **fields},
        {symbol: s.bars for symbol, s in series.items()},
        derived_intervals=derived_intervals,
    )
    assert outcome.failures == []
    assert all(s.interval == fields.get("fast_interval", "5m") for s in outcome.signals)
    return [(s.symbol, s.bar_ts, s.side) for s in outcome.signals]


def at(minute: int) -> int:
    return T0 + minute * MINUTE


# Four 15m windows S0..S3, twelve 5m bars F0..F11 (opens = previous close).
#   S0 (min 0-14)  flat 100, 102 at min 7, 99 at min 9       high 102, low 99
#   S1 (min 15-29) flat 100, 103 at min 20, 98 at min 25     high 103, low 98
#   F6..F8 test the S0+S1 channel [98, 103]:
#     F6 closes 102 inside; F7 closes 104 above -> buy; F8 closes 104, same breakout
#   S2 (min 30-44) ranges 100..105 (min 41) -> F9..F11 test S1+S2 = [98, 105]:
#     F9 closes 100 inside (re-arm); F10 closes 106 -> buy; F11 closes 95 -> sell
#   F0..F5 have fewer than two slow bars before their window: untested.
HAND = (
    [100, 100, 100, 100, 100, 100, 100, 102, 100, 99, 100, 100, 100, 100, 100]
    + [100, 100, 100, 100, 100, 103, 100, 100, 100, 100, 98, 100, 100, 100, 100]
    + [100, 101, 101, 102, 102, 103, 104, 104, 104, 104, 104, 105, 104, 104, 104]
    + [103, 102, 101, 100, 100, 101, 103, 105, 106, 106, 104, 100, 97, 96, 95]
)
HAND_SIGNALS = [(at(35), "buy"), (at(50), "buy"), (at(55), "sell")]


def test_hand_made_breakouts() -> None:
    hand = Series(HAND)
    assert expected_breakouts(hand.minutes(), 5, 15, 2) == HAND_SIGNALS
    assert run({"A": hand}, channel_bars=2) == [("A", *s) for s in HAND_SIGNALS]


def test_low_quality_fast_bar_updates_the_position_but_emits_nothing() -> None:
    # minute 36 missing: F7 (the first breakout) has quality 80, same close
    hand = Series(HAND, skip=[36])
    # had F7 not moved the position to "above", F8 (close 104 > 103) would buy
    assert expected_breakouts(hand.minutes(), 5, 15, 2, 90.0) == HAND_SIGNALS[1:]
    assert run({"A": hand}, channel_bars=2, min_quality=90.0) == [
        ("A", *s) for s in HAND_SIGNALS[1:]
    ]


def test_equal_intervals_give_the_classic_channel() -> None:
    # 5m/5m, two bars: F7 is the first close above both bars before it (F5, F6)
    hand = Series(HAND)
    want = expected_breakouts(hand.minutes(), 5, 5, 2)
    assert want[0] == (at(35), "buy")
    got = run({"A": hand}, fast_interval="5m", slow_interval="5m", channel_bars=2)
    assert got == [("A", *s) for s in want]


def random_walk(seed: int, count: int) -> tuple[list[float], list[int]]:
    """Closes and gap slots: single missing minutes, some runs long enough to make
    one clock step publish two 5m bars, and one run that empties a 15m window."""
    rng = random.Random(seed)
    price, closes = 1000.0, []
    for _ in range(count):
        price = max(1.0, price + rng.choice((-3, -2, -1, 0, 1, 2, 3)))
        closes.append(price)
    skip: set[int] = {i for i in range(1, count - 1) if rng.random() < 0.05}
    for start in rng.sample(range(30, count - 40, 5), 6):
        skip.update(range(start + 2, start + 9))
    skip.update(range(300, 330))
    return closes, sorted(skip)


def test_random_walks_with_gaps_match_the_independent_rule() -> None:
    series = {f"S{seed}": Series(*random_walk(seed, 1200)) for seed in (3, 4, 5)}
    got = run(series, channel_bars=4, min_quality=70.0)
    want = sorted(
        (ts, symbol, side)
        for symbol, s in series.items()
        for ts, side in expected_breakouts(s.minutes(), 5, 15, 4, 70.0)
    )
    assert len(want) > 30
    assert sorted((ts, symbol, side) for symbol, ts, side in got) == want


class RecordingBreakout(DonchianBreakout):
    """Records, for every channel it computes: the fast bar, the notification's
    session time, the newest slow bar the view shows, and the channel."""

    log: ClassVar[list[tuple[int, int, int | None, Channel | None]]] = []

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self._now = ctx.time_ns
        super().on_bars(ctx, symbol, interval)

    def channel(self, slow: Bars, fast_ts: int) -> Channel | None:
        found = super().channel(slow, fast_ts)
        newest = int(slow.ts[-1]) if len(slow) else None
        self.log.append((fast_ts, self._now, newest, found))
        return found


def test_channel_never_holds_a_slow_bar_that_had_not_closed() -> None:
    closes, skip = random_walk(11, 900)
    series = Series(closes, skip)
    RecordingBreakout.log = []
    run({"A": series}, RecordingBreakout, channel_bars=3)
    log = RecordingBreakout.log
    fast, slow = 5 * MINUTE, 15 * MINUTE

    # every 5m bar was evaluated once, in order
    assert [entry[0] for entry in log] == [w[0] for w in windows(series.minutes(), 5)]
    same_step = 0
    for fast_ts, now, newest, channel in log:
        assert newest is None or newest + slow <= now  # the view shows closed bars
        if channel is None:
            continue
        window = fast_ts - fast_ts % slow
        assert channel.last_ts + slow <= fast_ts + fast  # ended by the fast bar's end
        assert channel.last_ts + slow <= window  # and before its slow window began
        assert channel.first_ts <= channel.last_ts
        same_step += newest == window
    # the slow bar holding the fast bar was visible (published in the same step as
    # the window's last fast bar) and still kept out of the channel
    assert same_step > 20


def test_bars_after_a_time_never_change_signals_before_it() -> None:
    closes, skip = random_walk(21, 900)
    cut = 15 * 30 + 7  # a minute in the middle of a 15m window
    changed = closes[:cut] + [
        c + (60 if i % 2 else -60) for i, c in enumerate(closes[cut:])
    ]
    before = run({"A": Series(closes, skip)}, channel_bars=3)
    after = run({"A": Series(changed, skip)}, channel_bars=3)

    def ended_by_cut(signals: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
        return [s for s in signals if s[1] + 5 * MINUTE <= at(cut)]

    assert len(ended_by_cut(before)) > 5
    assert ended_by_cut(after) == ended_by_cut(before)
    assert after != before  # the change itself was visible later on


class AddAt:
    """A scanner adding ``symbol`` at the first clock step at or after ``at_ns``."""

    def __init__(self, symbol: str, at_ns: int) -> None:
        self.symbol = symbol
        self.at_ns = at_ns

    def scan(self, session: Any) -> list[str]:
        return [self.symbol] if session.time_ns >= self.at_ns else []


def test_symbol_added_mid_session_gets_no_signal_for_its_history() -> None:
    # B joins at 00:40, just after F7 (its first breakout) closed: F7 is history.
    # F8 is still above the channel; it continues that breakout and emits nothing.
    hand = Series(HAND)
    added = at(40)
    outcome = run_strategy(
        DonchianBreakout,
        {"symbols": ["A", "B"], "channel_bars": 2},
        {"A": hand.bars},
        source=MemorySource({("A", "1m"): hand.bars, ("B", "1m"): hand.bars}),
        scanners=[("add_b", AddAt("B", added))],
    )
    assert outcome.failures == []
    assert [(i.symbol, i.time_ns) for i in outcome.result.insertions] == [("B", added)]
    by_symbol = {
        symbol: [(s.bar_ts, s.side) for s in outcome.signals if s.symbol == symbol]
        for symbol in ("A", "B")
    }
    assert (
        expected_breakouts(hand.minutes(), 5, 15, 2, signal_from=added)
        == (HAND_SIGNALS[1:])
    )
    assert by_symbol == {"A": HAND_SIGNALS, "B": HAND_SIGNALS[1:]}


def test_every_fast_bar_of_a_notification_is_tested() -> None:
    # minutes 37..43 missing: the step at 00:45 publishes F7 and F8 together.
    # F7 (close 104, min 36) is the breakout; F8 (close 104, min 44) continues it.
    hand = Series(HAND, skip=range(37, 44))
    assert expected_breakouts(hand.minutes(), 5, 15, 2) == HAND_SIGNALS
    assert run({"A": hand}, channel_bars=2) == [("A", *s) for s in HAND_SIGNALS]


def test_session_without_the_slow_interval_fails_at_start() -> None:
    with pytest.raises(StartupError) as info:
        run_strategy(
            DonchianBreakout,
            {"symbols": ["A"], "slow_interval": "1h"},
            {"A": Series(HAND).bars},
            derived_intervals=(5, 15),
        )
    assert "subscribed to A 1h, but the session does not derive 1h" in str(info.value)


@pytest.mark.parametrize("fast_interval", ["5m", "15m"])
def test_signals_are_on_fast_bars(fast_interval: str) -> None:
    closes, skip = random_walk(41, 1500)
    got = run(
        {"A": Series(closes, skip)},
        derived_intervals=(5, 15, 60),
        fast_interval=fast_interval,
        slow_interval="1h",
        channel_bars=2,
    )
    width = int(fast_interval[:-1]) * MINUTE
    assert got and all(ts % width == 0 for _, ts, _ in got)
