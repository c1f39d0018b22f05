"""``ma_cross``: buy when the fast SMA crosses above the slow one, sell when it
crosses below."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
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


#: bars from which update_range evaluates with numpy rather than bar by bar
_VECTOR_MIN = 16
_SIDE = {True: "buy", False: "sell"}


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
    # data-driven batches arrive whole and are evaluated vectorised (update_range)
    batch_delivery = True

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

    def _averages(self, bars: Bars, index: int) -> tuple[float, float]:
        """``(fast, slow)`` on bar ``index``, each correctly rounded (fsum)."""
        cfg = self.config
        closes = bars.close[index - cfg.slow_period + 1 : index + 1].tolist()
        slow = math.fsum(closes) / cfg.slow_period
        fast = math.fsum(closes[-cfg.fast_period :]) / cfg.fast_period
        return fast, slow

    def _signal(
        self, symbol: str, interval: str, bars: Bars, index: int, side: str
    ) -> Signal:
        cfg = self.config
        fast, slow = self._averages(bars, index)
        return Signal(
            symbol=symbol,
            interval=interval,
            bar_ts=int(bars.ts[index]),
            side=side,
            reason=f"SMA{cfg.fast_period} {fast:.10g} vs SMA{cfg.slow_period} "
            f"{slow:.10g}",
        )

    def update_range(
        self,
        ctx: StrategyContext,
        symbol: str,
        interval: str,
        bars: Bars,
        start: int,
    ) -> list[Signal]:
        """:meth:`update` over many bars at once, with numpy: the averages of every
        window in float64, and the correctly rounded ones (fsum) wherever the sign
        of their difference is not certain from the float64 error bound, for the
        state kept and for the bars that signal. Same signals and state as bar by
        bar."""
        cfg = self.config
        first = max(start, cfg.slow_period - 1)
        n = len(bars)
        if n - first < _VECTOR_MIN:
            return super().update_range(ctx, symbol, interval, bars, start)
        sp, fp = cfg.slow_period, cfg.fast_period
        windows = sliding_window_view(bars.close[first - sp + 1 : n], sp)
        slow = windows.sum(axis=1) / sp
        fast = windows[:, sp - fp :].sum(axis=1) / fp
        d = fast - slow
        # |float64 sum - exact sum| <= k * eps * sum(|x|): fast and slow each within
        # eps * max|x| * k of the exact averages, and a little more for the division
        bound = 4.0 * np.finfo(np.float64).eps * (sp + fp) * np.abs(windows).max(axis=1)
        for j in np.flatnonzero(np.abs(d) <= bound):
            exact_fast, exact_slow = self._averages(bars, first + int(j))
            d[j] = exact_fast - exact_slow
        sign = np.sign(d)
        before = self._last_nonzero.get(symbol)
        seed = 0.0 if before is None else float(np.sign(before))
        positions = np.arange(len(d))
        last_nonzero = np.maximum.accumulate(np.where(sign != 0, positions, -1))
        previous = np.empty_like(last_nonzero)
        previous[0], previous[1:] = -1, last_nonzero[:-1]
        prior = np.where(previous >= 0, sign[np.maximum(previous, 0)], seed)
        crossing = ((sign > 0) & (prior < 0)) | ((sign < 0) & (prior > 0))
        crossing &= bars.quality[first:n] >= cfg.min_quality
        if before is None:
            crossing[0] = False  # the first difference only seeds the state
        # the state: the last non-zero difference, exactly as update() keeps it
        if last_nonzero[-1] >= 0:
            fast_end, slow_end = self._averages(bars, first + int(last_nonzero[-1]))
            self._last_nonzero[symbol] = fast_end - slow_end
        elif before is None:
            self._last_nonzero[symbol] = 0.0
        return [
            self._signal(symbol, interval, bars, first + int(j), _SIDE[sign[j] > 0])
            for j in np.flatnonzero(crossing)
        ]

    def update(
        self, ctx: StrategyContext, symbol: str, interval: str, bars: Bars, index: int
    ) -> Signal | None:
        cfg = self.config
        if index < cfg.slow_period - 1:
            return None
        fast, slow = self._averages(bars, index)
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
        return self._signal(symbol, interval, bars, index, side)


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
