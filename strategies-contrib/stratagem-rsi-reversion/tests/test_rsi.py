"""``rsi_reversion`` against independent RSI implementations (exact and float)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from stratagem.testing import MemorySource, load_bars, make_bars, run_strategy
from stratagem_rsi_reversion import RSIReversion, WilderRSI

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, make_bars' default start
MINUTE = 60 * 10**9
FIVE = 5 * MINUTE


def exact_rsi(closes: Sequence[float], period: int) -> list[Fraction | None]:
    """Wilder's RSI in exact rational arithmetic, one value per close."""
    values: list[Fraction | None] = [None]
    gains: list[Fraction] = []
    losses: list[Fraction] = []
    avg_gain = avg_loss = Fraction(0)
    for previous, close in pairwise(closes):
        change = Fraction(close) - Fraction(previous)
        gain, loss = max(change, Fraction(0)), max(-change, Fraction(0))
        if len(gains) < period:
            gains.append(gain)
            losses.append(loss)
            if len(gains) < period:
                values.append(None)
                continue
            avg_gain, avg_loss = sum(gains) / period, sum(losses) / period
        else:
            avg_gain = (avg_gain * (period - 1) + gain) / period
            avg_loss = (avg_loss * (period - 1) + loss) / period
        total = avg_gain + avg_loss
        values.append(Fraction(50) if total == 0 else 100 * avg_gain / total)
    return values


def float_rsi(closes: Sequence[float], period: int) -> list[float | None]:
    """The README's float64 recipe, step by step."""
    values: list[float | None] = [None] * min(len(closes), period)
    if len(closes) <= period:
        return values
    changes = [b - a for a, b in pairwise(closes)]
    gains = [c if c > 0.0 else 0.0 for c in changes]
    losses = [-c if c < 0.0 else 0.0 for c in changes]
    avg_gain = math.fsum(gains[:period]) / period
    avg_loss = math.fsum(losses[:period]) / period
    for k in range(period - 1, len(changes)):
        if k >= period:
            avg_gain = (avg_gain * (period - 1) + gains[k]) / period
            avg_loss = (avg_loss * (period - 1) + losses[k]) / period
        total = avg_gain + avg_loss
        values.append(50.0 if total == 0.0 else 100.0 * (avg_gain / total))
    return values


def crossings(
    values: Sequence[float | Fraction | None],
    oversold: float,
    overbought: float,
    quality: Sequence[float] | None = None,
    min_quality: float = 0.0,
    first: int = 0,
) -> list[tuple[int, str]]:
    """``(index, side)`` of every signal the rule gives on bars ``first`` onwards."""
    found = []
    for i in range(max(first, 1), len(values)):
        before, now = values[i - 1], values[i]
        if before is None or now is None:
            continue
        if quality is not None and quality[i] < min_quality:
            continue
        if before < oversold <= now:
            found.append((i, "buy"))
        elif before > overbought >= now:
            found.append((i, "sell"))
    return found


def config(symbols: Iterable[str], **fields: Any) -> dict[str, Any]:
    return {"symbols": list(symbols), **fields}


# Period 3, unit steps, so avg_gain + avg_loss stays 1 after the seed:
#   i=3  gains (1,1,0) losses (0,0,1): 2/3 vs 1/3        RSI 200/3   = 66.67
#   i=4  -1: (2/3*2+0)/3 = 4/9, (1/3*2+1)/3 = 5/9          RSI 400/9   = 44.44
#   i=5  -1: 8/27 vs 19/27                                 RSI 800/27  = 29.63
#   i=6  -1: 16/81 vs 65/81                                RSI 1600/81 = 19.75
#   i=7  +1: (32/81+1)/3 = 113/243 vs 130/243              RSI 46.50  -> buy
#   i=8  +1: 469/729        RSI 64.33     i=9  +1: 1667/2187  RSI 76.22
#   i=10 +1: 5521/6561      RSI 84.15     i=11 -1: 11042/19683 RSI 56.10 -> sell
#   i=12 -1: 22084/59049    RSI 37.40
HAND = [10.0, 11, 12, 11, 10, 9, 8, 9, 10, 11, 12, 11, 10]
HAND_RSI = [
    None,
    None,
    None,
    Fraction(200, 3),
    Fraction(400, 9),
    Fraction(800, 27),
    Fraction(1600, 81),
    Fraction(11300, 243),
    Fraction(46900, 729),
    Fraction(166700, 2187),
    Fraction(552100, 6561),
    Fraction(1104200, 19683),
    Fraction(2208400, 59049),
]


def test_independent_rsis_agree_with_the_hand_computation() -> None:
    assert exact_rsi(HAND, 3) == HAND_RSI
    floats = float_rsi(HAND, 3)
    assert [v is None for v in floats] == [v is None for v in HAND_RSI]
    assert all(
        math.isclose(f, float(e), rel_tol=1e-12)
        for f, e in zip(floats, HAND_RSI, strict=True)
        if f is not None and e is not None
    )


def test_wilder_rsi_follows_the_hand_computation() -> None:
    rsi = WilderRSI(3)
    got = [rsi.update(c) for c in HAND]
    assert got == float_rsi(HAND, 3)
    assert got[7] == pytest.approx(float(Fraction(11300, 243)), rel=1e-12)


@pytest.mark.parametrize(
    ("closes", "rsi"),
    [
        ([5.0, 5.0, 5.0, 5.0], 50.0),
        ([5.0, 6.0, 7.0, 8.0], 100.0),
        ([8.0, 7.0, 6.0, 5.0], 0.0),
    ],
)
def test_wilder_rsi_limits(closes: list[float], rsi: float) -> None:
    indicator = WilderRSI(3)
    assert [indicator.update(c) for c in closes] == [None, None, None, rsi]


def test_wilder_rsi_rejects_a_period_below_two() -> None:
    with pytest.raises(ValueError, match="period must be at least 2, got 1"):
        WilderRSI(1)


def run_1m(series: dict[str, list[float]], **fields: Any) -> list[tuple[str, int, str]]:
    outcome = run_strategy(
        RSIReversion,
        config(series, interval="1m", **fields),
        {symbol: make_bars(closes) for symbol, closes in series.items()},
    )
    assert outcome.failures == []
    return [(s.symbol, s.bar_ts, s.side) for s in outcome.signals]


def test_hand_series_buys_out_of_oversold_and_sells_out_of_overbought() -> None:
    assert crossings(HAND_RSI, 30, 70) == [(7, "buy"), (11, "sell")]
    assert run_1m({"A": HAND}, period=3) == [
        ("A", T0 + 7 * MINUTE, "buy"),
        ("A", T0 + 11 * MINUTE, "sell"),
    ]


def test_reaching_a_level_exactly_counts_as_crossing_it() -> None:
    # period 2: [10, 9, 8] seeds RSI 0; +1 gives averages 0.5/0.5 -> exactly 50;
    # +1 again gives 0.75/0.25 -> 75 (from 50, not from below 50: no second buy)
    down_up = [10.0, 9, 8, 9, 10]
    assert exact_rsi(down_up, 2) == [None, None, 0, 50, 75]
    assert run_1m({"A": down_up}, period=2, oversold=50, overbought=60) == [
        ("A", T0 + 3 * MINUTE, "buy")
    ]
    up_down = [10.0, 11, 12, 11, 10]
    assert exact_rsi(up_down, 2) == [None, None, 100, 50, 25]
    assert run_1m({"A": up_down}, period=2, oversold=40, overbought=50) == [
        ("A", T0 + 3 * MINUTE, "sell")
    ]


def test_low_quality_bar_emits_nothing_but_updates_the_rsi() -> None:
    closes_1m = [c for c in HAND for _ in range(5)]
    # minute 37 missing: the 5m bar of window 7 (the buy) has quality 80
    quality = [100.0] * len(HAND)
    quality[7] = 80.0
    assert crossings(HAND_RSI, 30, 70, quality, 90.0) == [(11, "sell")]
    # had window 7 been left out of the RSI, window 8 would see 19.75 -> above 30
    without_7 = HAND[:7] + HAND[8:]
    assert crossings(exact_rsi(without_7, 3), 30, 70)[0] == (7, "buy")

    outcome = run_strategy(
        RSIReversion,
        config(["A"], interval="5m", period=3, min_quality=90.0),
        {"A": make_bars(closes_1m, skip=[37])},
    )
    assert outcome.failures == []
    assert [(s.bar_ts, s.side) for s in outcome.signals] == [(T0 + 11 * FIVE, "sell")]


def test_every_bar_of_a_notification_is_fed_and_can_signal() -> None:
    # minutes 37..43 missing: one clock step (at 00:44) publishes windows 7 and 8
    closes_1m = [c for c in HAND for _ in range(5)]
    outcome = run_strategy(
        RSIReversion,
        config(["A"], interval="5m", period=3),
        {"A": make_bars(closes_1m, skip=range(37, 44))},
    )
    assert outcome.failures == []
    assert [(s.bar_ts, s.side) for s in outcome.signals] == [
        (T0 + 7 * FIVE, "buy"),
        (T0 + 11 * FIVE, "sell"),
    ]


def wave(count: int, phase: float) -> list[float]:
    return [
        100.0 + round(6 * math.sin(i / 4 + phase) + 2 * math.sin(i / 1.3))
        for i in range(count)
    ]


class AddAt:
    """A scanner adding ``symbol`` at the first clock step at or after ``at_ns``."""

    def __init__(self, symbol: str, at_ns: int) -> None:
        self.symbol = symbol
        self.at_ns = at_ns

    def scan(self, session: Any) -> list[str]:
        return [self.symbol] if session.time_ns >= self.at_ns else []


def test_symbol_added_mid_session_is_warmed_up_without_signalling() -> None:
    a, b = wave(240, 0.0), wave(240, 1.7)
    added_at = T0 + 60 * MINUTE
    bars = {"A": make_bars(a), "B": make_bars(b)}
    outcome = run_strategy(
        RSIReversion,
        config(["A", "B"], interval="1m", period=5, oversold=35, overbought=65),
        {"A": bars["A"]},
        source=MemorySource({(s, "1m"): arrays for s, arrays in bars.items()}),
        scanners=[("add_b", AddAt("B", added_at))],
    )
    assert outcome.failures == []
    assert [i.symbol for i in outcome.result.insertions] == ["B"]
    assert outcome.result.insertions[0].time_ns == added_at

    got_a = [(s.bar_ts, s.side) for s in outcome.signals if s.symbol == "A"]
    got_b = [(s.bar_ts, s.side) for s in outcome.signals if s.symbol == "B"]
    want_a = crossings(float_rsi(a, 5), 35, 65)
    # bars 0..59 of B closed by 01:00 are its history: they feed the RSI, never signal
    all_b = crossings(float_rsi(b, 5), 35, 65)
    want_b = crossings(float_rsi(b, 5), 35, 65, first=60)
    assert any(i < 60 for i, _ in all_b) and want_b
    assert got_a == [(T0 + i * MINUTE, side) for i, side in want_a]
    assert got_b == [(T0 + i * MINUTE, side) for i, side in want_b]


def resample_5m(
    ts: Sequence[int], close: Sequence[float]
) -> tuple[list[int], list[float], list[float]]:
    """Left-labelled 5m windows: open times, last closes, percent of minutes present."""
    windows: dict[int, list[float]] = {}
    for t, c in zip(ts, close, strict=True):
        windows.setdefault(t - t % FIVE, []).append(c)
    starts = sorted(windows)
    return (
        starts,
        [windows[s][-1] for s in starts],
        [100.0 * len(windows[s]) / 5 for s in starts],
    )


@pytest.mark.parametrize(
    ("interval", "period", "min_quality"),
    [("1m", 14, 0.0), ("5m", 6, 100.0)],
)
def test_sample_data_signals_match_the_independent_rsi(
    sample_data: Path, interval: str, period: int, min_quality: float
) -> None:
    files = sorted((sample_data / "1m").glob("*.csv"))
    symbols = [f.stem for f in files]
    assert len(symbols) >= 5
    bars = {f.stem: load_bars(f) for f in files}
    outcome = run_strategy(
        RSIReversion,
        config(symbols, interval=interval, period=period, min_quality=min_quality),
        bars,
    )
    assert outcome.failures == []

    expected: dict[str, list[tuple[int, str]]] = {}
    suppressed = 0
    for symbol, arrays in bars.items():
        if interval == "1m":
            starts, closes = arrays.ts.tolist(), arrays.close.tolist()
            quality = [100.0] * len(starts)
        else:
            starts, closes, quality = resample_5m(
                arrays.ts.tolist(), arrays.close.tolist()
            )
        values = float_rsi(closes, period)
        kept = crossings(values, 30, 70, quality, min_quality)
        suppressed += len(crossings(values, 30, 70)) - len(kept)
        expected[symbol] = [(starts[i], side) for i, side in kept]
    got = {
        symbol: [(s.bar_ts, s.side) for s in outcome.signals if s.symbol == symbol]
        for symbol in symbols
    }
    assert got == expected
    assert sum(map(len, expected.values())) > 100
    assert sum(1 for signals in expected.values() if signals) == len(symbols)
    # the 5m run must exercise min_quality: gappy pairs lose some signals to it
    assert (suppressed > 0) == (min_quality > 0)
