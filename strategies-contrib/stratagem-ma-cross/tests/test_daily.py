"""``ma_cross`` on daily bars: a session whose base stream is ``1d`` signals exactly
where the rule computed directly on SPY's daily closes crosses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stratagem.testing import load_bars, run_strategy
from stratagem_ma_cross import MACross

SPY = Path(__file__).resolve().parents[3] / "session_configs" / "sample_data" / "1d"


def crossings(closes: list[float], fast: int, slow: int) -> list[tuple[int, str]]:
    """backtrader's CrossOver on SMA(fast) - SMA(slow), written out plainly."""
    out, last = [], None
    for end in range(slow - 1, len(closes)):
        window = closes[end - slow + 1 : end + 1]
        d = math.fsum(window[-fast:]) / fast - math.fsum(window) / slow
        if last is not None and d * last < 0:
            out.append((end, "buy" if d > 0 else "sell"))
        if last is None or d != 0.0:
            last = d
    return out


@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (50, 200)])
def test_ma_cross_on_daily_spy_matches_the_closes(fast: int, slow: int) -> None:
    # two rows of the file are errors in the source (open below low): dropped
    bars = load_bars(SPY / "SPY.csv", validation="drop")
    assert len(bars) == 2517
    outcome = run_strategy(
        MACross,
        {
            "symbols": ["SPY"],
            "interval": "1d",
            "fast_period": fast,
            "slow_period": slow,
        },
        {"SPY": bars},
        base_interval="1d",
        derived_intervals=(),
    )
    expected = [
        (int(bars.ts[i]), side)
        for i, side in crossings(bars.close.tolist(), fast, slow)
    ]
    got = [(s.bar_ts, str(s.side)) for s in outcome.signals]
    assert got == expected
    assert len(got) > 5
