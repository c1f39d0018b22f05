"""Batched delivery (``batch_delivery``) with the vectorised ``update_range`` gives
exactly the signals, in the same order, of bar-by-bar delivery with ``update``.

Prices drawn from a handful of levels make equal averages (a difference of exactly
zero) and near-ties common, where a float64 sum could get the sign wrong; gaps make
steps that publish several bars or none of a symbol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratagem import Signal
from stratagem.testing import load_bars, make_bars, run_strategy
from stratagem_ma_cross import MACross, MACrossConfig

SAMPLE = Path(__file__).resolve().parents[3] / "session_configs" / "sample_data"


class BarByBar(MACross):
    """The same strategy delivered bar by bar, through ``update`` alone."""

    batch_delivery = False

    def update_range(self, ctx, symbol, interval, bars, start):  # type: ignore[override]
        out = []
        for index in range(start, len(bars)):
            signal = self.update(ctx, symbol, interval, bars, index)
            if signal is not None:
                out.append(signal)
        return out


def rows(signals: list[Signal]) -> list[tuple[object, ...]]:
    return [
        (s.strategy, s.symbol, s.interval, s.bar_ts, str(s.side), s.reason)
        for s in signals
    ]


def tie_prone_bars(seed: int, count: int, gaps: int) -> object:
    rng = np.random.default_rng(seed)
    levels = np.array([0.0301, 0.0302, 0.0303, 0.0304])
    closes = levels[rng.integers(0, len(levels), count)]
    # runs of one level: the averages meet exactly
    for begin in rng.integers(0, count - 40, 6):
        closes[begin : begin + 30] = closes[begin]
    skip = rng.choice(np.arange(1, count - 1), gaps, replace=False)
    return make_bars(closes.tolist(), start="2024-03-04T00:00:00Z", skip=skip)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("interval", ["1m", "5m"])
def test_batches_give_the_bar_by_bar_signals_on_tie_prone_prices(
    seed: int, interval: str
) -> None:
    bars = {
        "AAA": tie_prone_bars(seed, 3000, 40),
        "BBB": tie_prone_bars(seed + 10, 3000, 300),
    }
    config = MACrossConfig(
        symbols=["AAA", "BBB"], interval=interval, fast_period=3, slow_period=7
    )
    batched = run_strategy([("ma", MACross, config)], bars=bars, derived_intervals=[5])
    stepped = run_strategy([("ma", BarByBar, config)], bars=bars, derived_intervals=[5])
    assert len(stepped.signals) > 50
    assert rows(batched.signals) == rows(stepped.signals)
    # one call per series and batch, not one per bar
    assert (
        batched.metrics["ma"]["notifications"]
        < stepped.metrics["ma"]["notifications"] / 20
    )


def test_batches_give_the_bar_by_bar_signals_on_the_sample_data() -> None:
    symbols = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]
    bars = {s: load_bars(SAMPLE / "1m" / f"{s}.csv") for s in symbols}
    config = MACrossConfig(symbols=symbols, interval="5m", min_quality=80.0)
    batched = run_strategy([("ma", MACross, config)], bars=bars)
    stepped = run_strategy([("ma", BarByBar, config)], bars=bars)
    assert len(stepped.signals) > 100
    assert rows(batched.signals) == rows(stepped.signals)


def test_the_state_after_a_batch_is_the_bar_by_bar_state() -> None:
    bars = {"AAA": tie_prone_bars(7, 2000, 25)}
    config = MACrossConfig(symbols=["AAA"], interval="1m", fast_period=2, slow_period=5)
    batched = run_strategy([("ma", MACross, config)], bars=bars)
    stepped = run_strategy([("ma", BarByBar, config)], bars=bars)
    saved = [
        run.session.manager.threads[0].strategy.on_save(None)
        for run in (batched, stepped)
    ]
    assert saved[0] == saved[1]


def test_batches_count_the_steps_bar_by_bar_delivery_handles() -> None:
    bars = {"AAA": tie_prone_bars(5, 1500, 30), "BBB": tie_prone_bars(6, 1500, 200)}
    config = MACrossConfig(symbols=["AAA", "BBB"], interval="5m")
    batched = run_strategy([("ma", MACross, config)], bars=bars)
    stepped = run_strategy([("ma", BarByBar, config)], bars=bars)
    assert batched.metrics["ma"]["steps"] == stepped.metrics["ma"]["steps"] > 0
