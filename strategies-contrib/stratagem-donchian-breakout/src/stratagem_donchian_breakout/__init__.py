"""``donchian_breakout``: a Donchian channel on a slow interval, breakouts tested on
the bars of a fast one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stratagem import (
    NS_PER_MINUTE,
    Bars,
    Signal,
    Strategy,
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


class _Followed:
    __slots__ = ("position", "last_ts")

    def __init__(self) -> None:
        self.position: Position | None = None
        self.last_ts: int | None = None


class DonchianBreakout(Strategy):
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
    nothing; so do the bars already published when the strategy starts following a
    symbol. Every fast bar of a notification is evaluated, in order.
    """

    config_class = DonchianBreakoutConfig
    config: DonchianBreakoutConfig

    def __init__(self, config: DonchianBreakoutConfig) -> None:
        super().__init__(config)
        self._fast_minutes = interval_minutes(config.fast_interval)
        self._slow_ns = interval_minutes(config.slow_interval) * NS_PER_MINUTE
        self._followed: dict[str, _Followed] = {}

    def on_start(self, ctx: StrategyContext) -> None:
        present = set(ctx.symbols)
        for symbol in self.config.symbols:
            if symbol in present:
                self._follow(ctx, symbol)

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        if symbol in self.config.symbols and symbol not in self._followed:
            self._follow(ctx, symbol)

    def _follow(self, ctx: StrategyContext, symbol: str) -> None:
        # Subscribing to the slow interval as well makes a session that does not
        # derive it fail at start, not at the first fast bar.
        ctx.subscribe(symbol, self.config.fast_interval)
        ctx.subscribe(symbol, self.config.slow_interval)
        state = _Followed()
        self._followed[symbol] = state
        fast = ctx.bars(symbol, self.config.fast_interval)
        slow = ctx.bars(symbol, self.config.slow_interval)
        for ts, close in zip(fast.ts.tolist(), fast.close.tolist(), strict=True):
            channel = self.channel(slow, ts)
            if channel is not None:
                state.position = _position(close, channel)
        if len(fast):
            state.last_ts = int(fast.ts[-1])

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

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        if interval_minutes(interval) != self._fast_minutes:
            return  # slow bars are read from the view when fast bars arrive
        cfg = self.config
        state = self._followed[symbol]
        fast = ctx.bars(symbol, interval)
        first = (
            0
            if state.last_ts is None
            else int(fast.ts.searchsorted(state.last_ts, side="right"))
        )
        if first == len(fast):
            return
        slow = ctx.bars(symbol, cfg.slow_interval)
        new_ts = fast.ts[first:].tolist()
        new_close = fast.close[first:].tolist()
        new_quality = fast.quality[first:].tolist()
        state.last_ts = new_ts[-1]
        for ts, close, quality in zip(new_ts, new_close, new_quality, strict=True):
            channel = self.channel(slow, ts)
            if channel is None:
                continue
            before, now = state.position, _position(close, channel)
            state.position = now
            if now == before or now == "inside" or quality < cfg.min_quality:
                continue
            if now == "above":
                side, reason = "buy", f"close {close:g} > channel high {channel.high:g}"
            else:
                side, reason = "sell", f"close {close:g} < channel low {channel.low:g}"
            ctx.emit(
                Signal(
                    symbol=symbol,
                    interval=interval,
                    bar_ts=ts,
                    side=side,
                    reason=f"{reason} ({cfg.channel_bars} x {cfg.slow_interval})",
                )
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
