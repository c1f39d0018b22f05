"""``donchian_breakout``: a Donchian channel on a slow interval, breakouts tested on
the bars of a fast one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stratagem import (
    NS_PER_MINUTE,
    Bars,
    FollowingStrategy,
    Signal,
    StrategyConfig,
    StrategyContext,
    StrategySpec,
    hookimpl,
    interval_minutes,
)

__all__ = [
    "Channel",
    "DonchianBreakout",
    "DonchianBreakoutConfig",
    "stratagem_strategies",
]

Position = Literal["above", "inside", "below"]


class DonchianBreakoutConfig(StrategyConfig):
    symbols: list[str] = Field(
        min_length=1,
        description="Symbols to trade, each with its own breakout state. A symbol a "
        "scanner adds mid-session is followed from the moment it joins.",
    )
    fast_interval: str = Field(
        "5m", description="Interval whose closes are tested against the channel."
    )
    slow_interval: str = Field(
        "15m",
        description="Interval the channel is built on; a whole multiple of "
        "fast_interval (equal intervals give the classic one-interval channel).",
    )
    channel_bars: int = Field(
        20,
        ge=1,
        description="Slow bars in the channel: those before the slow window holding "
        "the fast bar.",
    )
    min_quality: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Fast bars below this quality (percent of source bars present) "
        "update the breakout state but emit no signal.",
    )

    @field_validator("fast_interval", "slow_interval")
    @classmethod
    def _interval_name(cls, value: str) -> str:
        interval_minutes(value)
        return value

    @model_validator(mode="after")
    def _slow_is_a_multiple_of_fast(self) -> DonchianBreakoutConfig:
        fast = interval_minutes(self.fast_interval)
        slow = interval_minutes(self.slow_interval)
        if slow % fast:
            raise ValueError(
                f"slow_interval ({self.slow_interval}, {slow} min) must be a whole "
                f"multiple of fast_interval ({self.fast_interval}, {fast} min)"
            )
        return self

    def intervals_used(self) -> list[str]:
        """Both intervals, so ``stratagem validate`` checks the session has them."""
        return [self.fast_interval, self.slow_interval]


@dataclass(frozen=True, slots=True)
class Channel:
    """The Donchian channel one fast bar is compared with.

    :param high: highest high of the slow bars in it.
    :param low: lowest low of the slow bars in it.
    :param first_ts: open time of its oldest slow bar (ns).
    :param last_ts: open time of its newest slow bar (ns).
    """

    high: float
    low: float
    first_ts: int
    last_ts: int


class DonchianBreakout(FollowingStrategy):
    """Donchian breakout across two intervals, per symbol.

    For a fast bar opened at ``t``, the channel is made of the last ``channel_bars``
    slow bars that opened before the slow window holding ``t`` (the slow bar still
    in progress is excluded), read from ``ctx.bars(symbol, slow_interval)``. Each of
    those closed by the start of that window, so no channel ever holds a bar that
    closes after the fast bar, whatever the order in which bars are published.

    The close is ``above`` the channel (> high), ``below`` it (< low) or ``inside``.
    ``buy`` when it turns ``above``, ``sell`` when it turns ``below``: one signal per
    breakout, re-armed once a close is back inside (a jump from above to below is a
    new breakout). Fast bars below ``min_quality`` update the position but emit
    nothing; so do the fast bars already published when the strategy starts
    following a symbol (warm-up history), which :class:`~stratagem.FollowingStrategy`
    tests first. Every fast bar of a notification is tested, in order.
    """

    config_class = DonchianBreakoutConfig
    config: DonchianBreakoutConfig

    def __init__(self, config: DonchianBreakoutConfig) -> None:
        super().__init__(config)
        self._slow_ns = interval_minutes(config.slow_interval) * NS_PER_MINUTE
        self._position: dict[str, Position | None] = {}

    def intervals_to_follow(self) -> list[str]:
        """Only fast bars are tested; slow bars are read from the view."""
        return [self.config.fast_interval]

    def start_following(self, ctx: StrategyContext, symbol: str) -> None:
        # Subscribing to the slow interval as well makes a session that does not
        # derive it fail at start, not at the first fast bar.
        ctx.subscribe(symbol, self.config.slow_interval)
        self._position[symbol] = None

    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        """Per symbol, where the last fast close was against its channel."""
        return {"position": dict(self._position)}

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        for symbol, position in state["position"].items():
            if position not in (None, "above", "below", "inside"):
                raise ValueError(f"{symbol}: no channel position {position!r}")
            self._position[str(symbol)] = position

    def channel(self, slow: Bars, fast_ts: int) -> Channel | None:
        """The channel for the fast bar opened at ``fast_ts``, or None while fewer
        than ``channel_bars`` slow bars precede its slow window.

        :param slow: the slow series as of the current notification.
        :param fast_ts: open time of the fast bar (ns).
        """
        window_start = fast_ts - fast_ts % self._slow_ns
        end = int(slow.ts.searchsorted(window_start, side="left"))
        begin = end - self.config.channel_bars
        if begin < 0:
            return None
        return Channel(
            high=float(slow.high[begin:end].max()),
            low=float(slow.low[begin:end].min()),
            first_ts=int(slow.ts[begin]),
            last_ts=int(slow.ts[end - 1]),
        )

    def update(
        self, ctx: StrategyContext, symbol: str, interval: str, bars: Bars, index: int
    ) -> Signal | None:
        cfg = self.config
        ts = int(bars.ts[index])
        channel = self.channel(ctx.bars(symbol, cfg.slow_interval), ts)
        if channel is None:
            return None
        close = float(bars.close[index])
        before, now = self._position[symbol], _position(close, channel)
        self._position[symbol] = now
        if now == before or now == "inside" or bars.quality[index] < cfg.min_quality:
            return None
        if now == "above":
            side, reason = "buy", f"close {close:g} > channel high {channel.high:g}"
        else:
            side, reason = "sell", f"close {close:g} < channel low {channel.low:g}"
        return Signal(
            symbol=symbol,
            interval=interval,
            bar_ts=ts,
            side=side,
            reason=f"{reason} ({cfg.channel_bars} x {cfg.slow_interval})",
        )


def _position(close: float, channel: Channel) -> Position:
    if close > channel.high:
        return "above"
    if close < channel.low:
        return "below"
    return "inside"


@hookimpl
def stratagem_strategies() -> list[StrategySpec]:
    return [
        StrategySpec(
            name="donchian_breakout",
            strategy=DonchianBreakout,
            config=DonchianBreakoutConfig,
            description="Breakouts of a slow-interval Donchian channel, on fast bars.",
        )
    ]
