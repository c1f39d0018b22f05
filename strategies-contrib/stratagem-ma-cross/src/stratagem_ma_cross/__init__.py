"""``ma_cross``: buy when the fast SMA crosses above the slow one, sell on the way down."""

from __future__ import annotations

from pydantic import Field, model_validator

from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

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
    config_class = MACrossConfig
    config: MACrossConfig


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
