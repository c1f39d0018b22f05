"""``ma_cross``: buy when the fast SMA crosses above the slow one, sell when it
crosses below."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from stratagem import (
    Bars,
    FollowingStrategy,
    Signal,
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


class MACross(FollowingStrategy):
    """Simple moving-average crossover, per symbol, on one interval.

    On each bar: ``fast`` and ``slow`` are the means of the last ``fast_period`` and
    ``slow_period`` closes (``math.fsum(window) / period``, correctly rounded, so
    independent of summation order). ``d = fast - slow`` is defined once
    ``slow_period`` bars exist; the first defined ``d`` seeds the last non-zero
    difference. ``buy`` when ``d > 0`` and the last non-zero difference before this
    bar was ``< 0``; ``sell`` in the mirror case (backtrader's ``CrossOver``). Bars
    whose ``quality`` is below ``min_quality`` update the state but emit nothing; so
    do the warm-up bars visible when a symbol is taken up (before the session's
    ``start``, or published when a scanner adds it), which
    :class:`~stratagem.FollowingStrategy` passes through the same rule first.
    """

    config_class = MACrossConfig
    config: MACrossConfig

    def __init__(self, config: MACrossConfig) -> None:
        super().__init__(config)
        self._last_nonzero: dict[str, float] = {}

    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        """Per symbol, the last non-zero difference of the averages (the averages
        themselves are read from the bars)."""
        return {"last_nonzero": dict(self._last_nonzero)}

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        self._last_nonzero = {
            str(symbol): float(d) for symbol, d in state["last_nonzero"].items()
        }

    def update(
        self, ctx: StrategyContext, symbol: str, interval: str, bars: Bars, index: int
    ) -> Signal | None:
        cfg = self.config
        if index < cfg.slow_period - 1:
            return None
        closes = bars.close[index - cfg.slow_period + 1 : index + 1].tolist()
        slow = math.fsum(closes) / cfg.slow_period
        fast = math.fsum(closes[-cfg.fast_period :]) / cfg.fast_period
        d = fast - slow
        before = self._last_nonzero.get(symbol)
        if before is None or d != 0.0:
            self._last_nonzero[symbol] = d
        if before is None or bars.quality[index] < cfg.min_quality:
            return None
        if d > 0.0 and before < 0.0:
            side = "buy"
        elif d < 0.0 and before > 0.0:
            side = "sell"
        else:
            return None
        return Signal(
            symbol=symbol,
            interval=interval,
            bar_ts=int(bars.ts[index]),
            side=side,
            reason=f"SMA{cfg.fast_period} {fast:.10g} vs SMA{cfg.slow_period} "
            f"{slow:.10g}",
        )


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
