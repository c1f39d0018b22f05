"""``ma_cross``: buy when the fast SMA crosses above the slow one, sell when it
crosses below."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator

from stratagem import (
    Signal,
    Strategy,
    StrategyConfig,
    StrategyContext,
    StrategySpec,
    hookimpl,
)

__all__ = ["MACross", "MACrossConfig", "stratagem_strategies"]


class MACrossConfig(StrategyConfig):
    symbols: list[str] = Field(min_length=1, description="Symbols to trade.")
    interval: str = Field("5m", description="Bar interval the averages run on.")
    fast_period: int = Field(10, ge=1, description="Bars in the fast moving average.")
    slow_period: int = Field(20, ge=2, description="Bars in the slow moving average.")
    min_quality: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Bars below this quality (percent of source bars present) update "
        "the averages but emit no signal.",
    )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MACrossConfig:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period ({self.fast_period}) must be less than slow_period "
                f"({self.slow_period})"
            )
        return self


class MACross(Strategy):
    """Simple moving-average crossover, per symbol, on one interval.

    On each new bar: ``fast`` and ``slow`` are the means of the last ``fast_period``
    and ``slow_period`` closes (``math.fsum(window) / period``, correctly rounded, so
    independent of summation order). ``d = fast - slow`` is defined once
    ``slow_period`` bars exist; the first defined ``d`` seeds the last non-zero
    difference. ``buy`` when ``d > 0`` and the last non-zero difference before this
    bar was ``< 0``; ``sell`` in the mirror case (backtrader's ``CrossOver``). Bars
    whose ``quality`` is below ``min_quality`` update the state but emit nothing.
    """

    config_class = MACrossConfig
    config: MACrossConfig

    def __init__(self, config: MACrossConfig) -> None:
        super().__init__(config)
        self._last_nonzero: dict[str, float] = {}

    def on_start(self, ctx: StrategyContext) -> None:
        present = set(ctx.symbols)
        for symbol in self.config.symbols:
            if symbol in present:
                ctx.subscribe(symbol, self.config.interval)

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        # a configured symbol that a scanner brings in; its warm-up history is
        # already visible, and the first new bar seeds the crossing state
        if symbol in self.config.symbols:
            ctx.subscribe(symbol, self.config.interval)

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        bars = ctx.bars(symbol, interval)
        closes = bars.close
        n = len(bars)
        # one step can publish several bars of a series (a gap up to a window's end):
        # each is evaluated, oldest first, as if it had come alone
        for end in range(max(n - ctx.new_bars, self.config.slow_period - 1), n):
            side, fast, slow = self._evaluate(
                symbol, closes[end - self.config.slow_period + 1 : end + 1]
            )
            if side is None or bars.quality[end] < self.config.min_quality:
                continue
            cfg = self.config
            ctx.emit(
                Signal(
                    symbol=symbol,
                    interval=interval,
                    bar_ts=int(bars.ts[end]),
                    side=side,
                    reason=f"SMA{cfg.fast_period} {fast:.10g} vs SMA{cfg.slow_period} "
                    f"{slow:.10g}",
                )
            )

    def _evaluate(
        self, symbol: str, window: np.ndarray
    ) -> tuple[str | None, float, float]:
        """Update the crossing state with the bar ending ``window``; its side."""
        cfg = self.config
        closes = window.tolist()
        slow = math.fsum(closes) / cfg.slow_period
        fast = math.fsum(closes[-cfg.fast_period :]) / cfg.fast_period
        d = fast - slow
        before = self._last_nonzero.get(symbol)
        if before is None or d != 0.0:
            self._last_nonzero[symbol] = d
        if before is None:
            return None, fast, slow
        if d > 0.0 and before < 0.0:
            return "buy", fast, slow
        if d < 0.0 and before > 0.0:
            return "sell", fast, slow
        return None, fast, slow


@hookimpl
def stratagem_strategies() -> list[StrategySpec]:
    return [
        StrategySpec(
            name="ma_cross",
            strategy=MACross,
            config=MACrossConfig,
            description="Fast/slow SMA crossover (backtrader CrossOver semantics).",
        )
    ]
