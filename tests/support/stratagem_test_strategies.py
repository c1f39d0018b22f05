"""``stratagem-test-strategies``: the strategy distribution of the core's own tests.

``tests/conftest.py`` builds it and pip-installs it into a temporary folder
(fixtures ``local_dist_site`` and ``local_strategies``): distribution
``stratagem-test-strategies`` 0.1.0, import package ``stratagem_test_strategies``,
entry point ``sma_cross`` in group ``stratagem``. The core's tests meet a strategy
the way users do, through a real distribution and its entry point, without
depending on the contrib strategies (those test themselves in their own
distributions). Public API only.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from stratagem import (
    Signal,
    Strategy,
    StrategyConfig,
    StrategyContext,
    StrategySpec,
    hookimpl,
)

__all__ = ["SmaCross", "SmaCrossConfig", "stratagem_strategies"]


class SmaCrossConfig(StrategyConfig):
    symbols: list[str] = Field(min_length=1, description="Symbols to trade.")
    interval: str = Field("5m", description="Bar interval the averages run on.")
    fast_period: int = Field(10, ge=1, description="Bars in the fast average.")
    slow_period: int = Field(20, ge=2, description="Bars in the slow average.")
    min_quality: float = Field(
        0.0, ge=0.0, le=100.0, description="Bars below this quality emit nothing."
    )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossConfig:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period ({self.fast_period}) must be less than slow_period "
                f"({self.slow_period})"
            )
        return self


class SmaCross(Strategy):
    """``buy`` when the fast SMA of the closes crosses above the slow one, ``sell``
    when it crosses below; per symbol, on one interval, every new bar evaluated in
    turn (a step may publish several). A difference of zero is no crossing: the side
    compares with the last non-zero difference."""

    config_class = SmaCrossConfig
    config: SmaCrossConfig

    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self._last: dict[str, float] = {}

    def on_start(self, ctx: StrategyContext) -> None:
        for symbol in self.config.symbols:
            if symbol in ctx.symbols:
                ctx.subscribe(symbol, self.config.interval)

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        if symbol in self.config.symbols:
            ctx.subscribe(symbol, self.config.interval)

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        cfg = self.config
        bars = ctx.bars(symbol, interval)
        for end in range(max(len(bars) - ctx.new_bars, cfg.slow_period - 1), len(bars)):
            window = bars.close[end - cfg.slow_period + 1 : end + 1].tolist()
            fast = math.fsum(window[-cfg.fast_period :]) / cfg.fast_period
            slow = math.fsum(window) / cfg.slow_period
            difference = fast - slow
            before = self._last.get(symbol)
            if before is None or difference != 0.0:
                self._last[symbol] = difference
            if before is None or bars.quality[end] < cfg.min_quality:
                continue
            side = "buy" if difference > 0.0 > before else None
            if difference < 0.0 < before:
                side = "sell"
            if side is not None:
                ctx.emit(
                    Signal(
                        symbol=symbol,
                        interval=interval,
                        bar_ts=int(bars.ts[end]),
                        side=side,
                        reason=f"SMA{cfg.fast_period} {fast:.10g} vs "
                        f"SMA{cfg.slow_period} {slow:.10g}",
                    )
                )


@hookimpl
def stratagem_strategies() -> list[StrategySpec]:
    return [
        StrategySpec(
            name="sma_cross",
            strategy=SmaCross,
            config=SmaCrossConfig,
            description="Fast/slow SMA crossover (the core tests' own strategy).",
        )
    ]
