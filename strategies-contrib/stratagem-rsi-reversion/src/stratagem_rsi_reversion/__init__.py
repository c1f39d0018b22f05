"""``rsi_reversion``: buy when Wilder's RSI climbs out of oversold, sell when it falls
back from overbought."""

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

__all__ = ["RSIReversion", "RSIReversionConfig", "WilderRSI", "stratagem_strategies"]


class RSIReversionConfig(StrategyConfig):
    symbols: list[str] = Field(
        min_length=1,
        description="Symbols to trade, each with its own RSI. A symbol a scanner adds "
        "mid-session is followed from the moment it joins.",
    )
    interval: str = Field("5m", description="Bar interval whose closes feed the RSI.")
    period: int = Field(14, ge=2, description="Wilder smoothing period, in bars.")
    oversold: float = Field(
        30.0,
        gt=0.0,
        lt=100.0,
        description="buy when the RSI rises from below this level to at or above it.",
    )
    overbought: float = Field(
        70.0,
        gt=0.0,
        lt=100.0,
        description="sell when the RSI falls from above this level to at or below it.",
    )
    min_quality: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Bars below this quality (percent of source bars present) update "
        "the RSI but emit no signal.",
    )

    @model_validator(mode="after")
    def _oversold_below_overbought(self) -> RSIReversionConfig:
        if self.oversold >= self.overbought:
            raise ValueError(
                f"oversold ({self.oversold:g}) must be less than overbought "
                f"({self.overbought:g})"
            )
        return self


class WilderRSI:
    """Wilder's relative strength index over closes fed one at a time.

    With ``change = close - previous close``, ``gain = max(change, 0)`` and
    ``loss = max(-change, 0)``: the first averages are ``math.fsum`` of the first
    ``period`` gains (losses) divided by ``period``; after that
    ``avg = (avg * (period - 1) + value) / period``. The RSI is
    ``100 * (avg_gain / (avg_gain + avg_loss))``, and 50 when both averages are 0
    (no movement at all). All in float64, in this order, so results are
    reproducible to the bit.

    :param period: smoothing period in bars, at least 2.
    """

    __slots__ = ("period", "avg_gain", "avg_loss", "_previous", "_gains", "_losses")

    def __init__(self, period: int) -> None:
        if period < 2:
            raise ValueError(f"period must be at least 2, got {period}")
        self.period = period
        self.avg_gain: float | None = None
        self.avg_loss: float | None = None
        self._previous: float | None = None
        self._gains: list[float] = []
        self._losses: list[float] = []

    def state(self) -> dict[str, Any]:
        """Everything :meth:`update` carries from one close to the next (JSON)."""
        return {
            "avg_gain": self.avg_gain,
            "avg_loss": self.avg_loss,
            "previous": self._previous,
            "gains": list(self._gains),
            "losses": list(self._losses),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self.avg_gain = _float_or_none(state["avg_gain"])
        self.avg_loss = _float_or_none(state["avg_loss"])
        self._previous = _float_or_none(state["previous"])
        self._gains = [float(v) for v in state["gains"]]
        self._losses = [float(v) for v in state["losses"]]

    def update(self, close: float) -> float | None:
        """Feed the next close; returns the RSI, or None until ``period`` changes
        have been seen (``period + 1`` closes)."""
        previous, self._previous = self._previous, close
        if previous is None:
            return None
        change = close - previous
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self.period
        if self.avg_gain is None or self.avg_loss is None:
            self._gains.append(gain)
            self._losses.append(loss)
            if len(self._gains) < period:
                return None
            avg_gain = math.fsum(self._gains) / period
            avg_loss = math.fsum(self._losses) / period
            self._gains, self._losses = [], []
        else:
            avg_gain = (self.avg_gain * (period - 1) + gain) / period
            avg_loss = (self.avg_loss * (period - 1) + loss) / period
        self.avg_gain, self.avg_loss = avg_gain, avg_loss
        total = avg_gain + avg_loss
        return 50.0 if total == 0.0 else 100.0 * (avg_gain / total)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class _Followed:
    """Per-symbol state: the RSI and its value on the last bar fed to it."""

    __slots__ = ("rsi", "value")

    def __init__(self, period: int) -> None:
        self.rsi = WilderRSI(period)
        self.value: float | None = None


class RSIReversion(FollowingStrategy):
    """RSI mean reversion, per symbol, on one interval.

    ``buy`` on a bar whose RSI is at or above ``oversold`` when the previous bar's was
    below it; ``sell`` on a bar whose RSI is at or below ``overbought`` when the
    previous bar's was above it. Every bar is fed to the RSI once, in order (a gap
    can make one clock step publish two derived bars). Bars below ``min_quality``
    update the RSI but emit nothing; so do the bars already published when the
    strategy starts following a symbol (warm-up history), which
    :class:`~stratagem.FollowingStrategy` feeds first.
    """

    config_class = RSIReversionConfig
    config: RSIReversionConfig

    def __init__(self, config: RSIReversionConfig) -> None:
        super().__init__(config)
        self._followed: dict[str, _Followed] = {}

    def start_following(self, ctx: StrategyContext, symbol: str) -> None:
        self._followed[symbol] = _Followed(self.config.period)

    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        """Per symbol, the RSI's running state and its last value."""
        return {
            symbol: {"rsi": followed.rsi.state(), "value": followed.value}
            for symbol, followed in self._followed.items()
        }

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        for symbol, saved in state.items():
            followed = _Followed(self.config.period)
            followed.rsi.restore(saved["rsi"])
            followed.value = _float_or_none(saved["value"])
            self._followed[symbol] = followed

    def update(
        self, ctx: StrategyContext, symbol: str, interval: str, bars: Bars, index: int
    ) -> Signal | None:
        cfg = self.config
        state = self._followed[symbol]
        before = state.value
        now = state.value = state.rsi.update(float(bars.close[index]))
        if before is None or now is None or bars.quality[index] < cfg.min_quality:
            return None
        if before < cfg.oversold <= now:
            side = "buy"
        elif before > cfg.overbought >= now:
            side = "sell"
        else:
            return None
        return Signal(
            symbol=symbol,
            interval=interval,
            bar_ts=int(bars.ts[index]),
            side=side,
            reason=f"RSI{cfg.period} {before:.4f} -> {now:.4f}",
        )


@hookimpl
def stratagem_strategies() -> list[StrategySpec]:
    return [
        StrategySpec(
            name="rsi_reversion",
            strategy=RSIReversion,
            config=RSIReversionConfig,
            description="Wilder RSI mean reversion: buy out of oversold, sell out of "
            "overbought.",
        )
    ]
