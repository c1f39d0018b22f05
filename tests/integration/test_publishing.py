"""Publishing many replay steps at once (the processor's numpy path, taken when a
strategy listens to a sparse series) leaves every series, the bar count and the
signals exactly as publishing them event by event does."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratagem import Signal, Strategy, StrategyConfig, StrategyContext
from stratagem._session import processor
from stratagem.testing import load_bars, run_strategy

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]


class Hourly(Strategy):
    """Listens to 1h bars only: replay steps are taken many at a time."""

    def on_start(self, ctx: StrategyContext) -> None:
        for symbol in SYMBOLS:
            ctx.subscribe(symbol, "1h")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        bars = ctx.bars(symbol, interval)
        # what a strategy reads of the base series at this step, too
        base = ctx.bars(symbol, "1m")
        side = "buy" if bars.close[-1] >= base.close[-1] else "sell"
        ctx.emit(
            Signal(symbol, interval, int(bars.ts[-1]), side, reason=f"{len(base)}")
        )


def run() -> tuple[list[tuple[object, ...]], dict[str, int], int]:
    bars = {s: load_bars(SAMPLE / "1m" / f"{s}.csv") for s in SYMBOLS}
    outcome = run_strategy(
        [("hourly", Hourly, StrategyConfig())], bars=bars, derived_intervals=[5, 60]
    )
    lengths = {f"{s.symbol} {s.interval}": s.n for s in outcome.data}
    signals = [(s.symbol, s.bar_ts, str(s.side), s.reason) for s in outcome.signals]
    return signals, lengths, outcome.session.processor.bars_in


def test_many_steps_at_once_equal_event_by_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_once = run()
    monkeypatch.setattr(processor, "_MANY_EVENTS", 1 << 40)
    one_by_one = run()
    assert len(at_once[0]) > 100
    assert at_once == one_by_one
