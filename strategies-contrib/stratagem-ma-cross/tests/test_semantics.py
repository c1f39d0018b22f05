"""``ma_cross`` signals on hand-made bars, against an independent implementation."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

from stratagem.testing import MemorySource, make_bars, run_strategy
from stratagem_ma_cross import MACross

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, make_bars' default start
MINUTE = 60 * 10**9


def expected_crossings(
    closes: Sequence[float],
    fast: int,
    slow: int,
    quality: Sequence[float] | None = None,
    min_quality: float = 0.0,
) -> list[tuple[int, str]]:
    """Plain-Python crossover rule: ``(bar index, side)`` for every signal."""
    found: list[tuple[int, str]] = []
    last_nonzero: float | None = None
    for i in range(slow - 1, len(closes)):
        window = list(closes[i - slow + 1 : i + 1])
        d = math.fsum(window[-fast:]) / fast - math.fsum(window) / slow
        before = last_nonzero
        if before is None or d != 0.0:
            last_nonzero = d
        if before is None or (quality is not None and quality[i] < min_quality):
            continue
        if d > 0.0 and before < 0.0:
            found.append((i, "buy"))
        elif d < 0.0 and before > 0.0:
            found.append((i, "sell"))
    return found


def run_1m(
    series: dict[str, list[float]], fast: int, slow: int
) -> list[tuple[str, int, str]]:
    outcome = run_strategy(
        MACross,
        {
            "symbols": list(series),
            "interval": "1m",
            "fast_period": fast,
            "slow_period": slow,
        },
        {symbol: make_bars(closes) for symbol, closes in series.items()},
    )
    assert outcome.failures == []
    return [(s.symbol, s.bar_ts, s.side) for s in outcome.signals]


# SMA2 vs SMA4 by hand (d = fast - slow):
#   i=3 [14,13,12,11] 11.5-12.5 = -1 (seed)   i=4 [13,12,11,10] 10.5-11.5 = -1
#   i=5 [12,11,10,12] 11-11.25 = -0.25        i=6 [11,10,12,14] 13-11.75 = 1.25  buy
#   i=7 [10,12,14,16] 15-13 = 2               i=8 [12,14,16,15] 15.5-14.25 = 1.25
#   i=9 [14,16,15,13] 14-14.5 = -0.5  sell    i=10..12 stay negative
UP_THEN_DOWN = [14, 13, 12, 11, 10, 12, 14, 16, 15, 13, 11, 9, 8]


def test_cross_up_then_down_emits_buy_then_sell() -> None:
    assert expected_crossings(UP_THEN_DOWN, 2, 4) == [(6, "buy"), (9, "sell")]
    assert run_1m({"A": UP_THEN_DOWN}, 2, 4) == [
        ("A", T0 + 6 * MINUTE, "buy"),
        ("A", T0 + 9 * MINUTE, "sell"),
    ]


def test_zero_difference_keeps_the_last_side() -> None:
    # i=3 [8,6,4,2] d=-2 (seed); i=4 [6,4,2,3] d=-1.25; i=5 [4,2,3,3] d=0;
    # i=6 [2,3,3,1] d=-0.25 (no signal: it came back from 0 to the same side);
    # i=7 [3,3,1,5] d=0; i=8 [3,1,5,7] d=2 -> buy (last non-zero was negative)
    closes = [8, 6, 4, 2, 3, 3, 1, 5, 7]
    assert expected_crossings(closes, 2, 4) == [(8, "buy")]
    assert run_1m({"A": closes}, 2, 4) == [("A", T0 + 8 * MINUTE, "buy")]


def test_first_defined_difference_only_seeds() -> None:
    # d at i=3 is already positive ([1,2,3,4]: 3.5-2.5); a seed is never a crossing
    closes = [1, 2, 3, 4, 5, 6]
    assert expected_crossings(closes, 2, 4) == []
    assert run_1m({"A": closes}, 2, 4) == []


def random_walk(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    price, closes = 100, []
    for _ in range(count):
        price = max(1, price + rng.choice((-2, -1, 0, 0, 1, 2)))
        closes.append(float(price))
    return closes


def test_random_walks_match_the_independent_rule_per_symbol() -> None:
    # integer prices make exact ties (d == 0) frequent
    series = {"A": random_walk(1, 1500), "B": random_walk(2, 1500)}
    got = run_1m(series, 3, 8)
    want = sorted(
        (T0 + i * MINUTE, symbol, side)
        for symbol, closes in series.items()
        for i, side in expected_crossings(closes, 3, 8)
    )
    assert len(want) > 100
    assert sorted((ts, symbol, side) for symbol, ts, side in got) == want


def run_5m(
    closes_5m: Sequence[float], min_quality: float, skip: Iterable[int] = ()
) -> list[tuple[int, str]]:
    """Run on 1m bars whose every minute of 5m window ``k`` closes at
    ``closes_5m[k]``, leaving out the minutes in ``skip``."""
    closes_1m = [c for c in closes_5m for _ in range(5)]
    outcome = run_strategy(
        MACross,
        {
            "symbols": ["A"],
            "interval": "5m",
            "fast_period": 2,
            "slow_period": 4,
            "min_quality": min_quality,
        },
        {"A": make_bars(closes_1m, skip=skip)},
    )
    assert outcome.failures == []
    return [(s.bar_ts, s.side) for s in outcome.signals]


FIVE = 5 * MINUTE


def test_full_quality_bars_signal_at_min_quality_100() -> None:
    assert run_5m(UP_THEN_DOWN, 100.0) == [
        (T0 + 6 * FIVE, "buy"),
        (T0 + 9 * FIVE, "sell"),
    ]


def test_low_quality_bar_emits_nothing_but_updates_the_state() -> None:
    # minute 32 missing: the 5m bar of window 6 (the buy bar) has quality 80
    quality = [100.0] * len(UP_THEN_DOWN)
    quality[6] = 80.0
    assert expected_crossings(UP_THEN_DOWN, 2, 4, quality, 90.0) == [(9, "sell")]
    # Had bar 6 not updated the last non-zero difference (still -0.25 from bar 5),
    # bar 7 (d = 2) would emit a late buy. Its close also feeds bar 9's averages.
    assert run_5m(UP_THEN_DOWN, 90.0, skip=[32]) == [(T0 + 9 * FIVE, "sell")]
    # the same gap is harmless when the threshold lets 80 % bars through
    assert run_5m(UP_THEN_DOWN, 80.0, skip=[32]) == [
        (T0 + 6 * FIVE, "buy"),
        (T0 + 9 * FIVE, "sell"),
    ]


def test_every_bar_of_a_notification_is_evaluated() -> None:
    assert run_5m(UP_THEN_DOWN, 0.0, skip=range(32, 39)) == [
        (T0 + 6 * FIVE, "buy"),
        (T0 + 9 * FIVE, "sell"),
    ]


class AddAt:
    """A scanner adding ``symbol`` at the first clock step at or after ``at_ns``."""

    def __init__(self, symbol: str, at_ns: int) -> None:
        self.symbol = symbol
        self.at_ns = at_ns

    def scan(self, session: Any) -> list[str]:
        return [self.symbol] if session.time_ns >= self.at_ns else []


def test_a_symbol_joining_mid_session_is_seeded_by_its_history() -> None:
    rng = random.Random(17)
    a = [100.0 + i * 0.01 for i in range(120)]
    b = [50.0]
    for _ in range(119):
        b.append(round(b[-1] + rng.choice([-1, 1]) * rng.random(), 2))
    joins = 60  # B joins when A's 60th minute has closed
    outcome = run_strategy(
        MACross,
        {"symbols": ["A", "B"], "interval": "1m", "fast_period": 3, "slow_period": 8},
        {"A": make_bars(a)},
        source=MemorySource({("A", "1m"): make_bars(a), ("B", "1m"): make_bars(b)}),
        derived_intervals=(),
        scanners=[("join", AddAt("B", T0 + joins * MINUTE))],
    )
    assert outcome.failures == []
    assert [i.time_ns for i in outcome.result.insertions] == [T0 + joins * MINUTE]
    got = [(s.bar_ts, s.side) for s in outcome.signals if s.symbol == "B"]
    # bars 0..59 are history: they seed the crossing state and never signal, so B
    # signals exactly as if it had been followed from its first bar. Bar 60, the
    # first one delivered, crosses: a state seeded by it alone would miss that.
    crossings = expected_crossings(b, 3, 8)
    assert (joins, "sell") in crossings
    expected = [(T0 + i * MINUTE, side) for i, side in crossings if i >= joins]
    assert got == expected
