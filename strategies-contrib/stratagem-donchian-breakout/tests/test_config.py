"""``DonchianBreakoutConfig``: defaults, interval rules, unknown keys; entry point."""

from __future__ import annotations

from importlib.metadata import distribution

import pytest
from pydantic import ValidationError

from stratagem import StrategySpec
from stratagem_donchian_breakout import DonchianBreakout, DonchianBreakoutConfig


def test_defaults() -> None:
    cfg = DonchianBreakoutConfig(symbols=["ETH_BTC"])
    assert cfg.fast_interval == "5m"
    assert cfg.slow_interval == "15m"
    assert cfg.channel_bars == 20
    assert cfg.min_quality == 0.0


@pytest.mark.parametrize(
    ("fast", "slow", "message"),
    [
        (
            "5m",
            "12m",
            "slow_interval (12m, 12 min) must be a whole multiple of "
            "fast_interval (5m, 5 min)",
        ),
        (
            "15m",
            "5m",
            "slow_interval (5m, 5 min) must be a whole multiple of "
            "fast_interval (15m, 15 min)",
        ),
        (
            "7m",
            "1h",
            "slow_interval (1h, 60 min) must be a whole multiple of "
            "fast_interval (7m, 7 min)",
        ),
    ],
)
def test_slow_interval_not_a_multiple_of_fast_is_rejected(
    fast: str, slow: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        DonchianBreakoutConfig(symbols=["X"], fast_interval=fast, slow_interval=slow)
    (error,) = info.value.errors()
    assert error["msg"] == f"Value error, {message}"


@pytest.mark.parametrize(
    ("fast", "slow"), [("5m", "1h"), ("1h", "1d"), ("5m", "5m"), ("3m", "15m")]
)
def test_multiples_are_accepted(fast: str, slow: str) -> None:
    cfg = DonchianBreakoutConfig(symbols=["X"], fast_interval=fast, slow_interval=slow)
    assert cfg.intervals_used() == [fast, slow]


@pytest.mark.parametrize("field", ["fast_interval", "slow_interval"])
@pytest.mark.parametrize("name", ["5min", "0m", "m5", "", "5M", "1w"])
def test_malformed_interval_is_rejected_on_its_field(field: str, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        DonchianBreakoutConfig.model_validate({"symbols": ["X"], field: name})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert f"interval {name!r} is not of the form <number><m|h|d>" in error["msg"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"symbols": []}, "symbols"),
        ({"channel_bars": 0}, "channel_bars"),
        ({"min_quality": 100.1}, "min_quality"),
    ],
)
def test_out_of_range_values_are_rejected(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        DonchianBreakoutConfig.model_validate({"symbols": ["X"], **changes})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        DonchianBreakoutConfig.model_validate({"symbols": ["X"], "interval": "5m"})
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
        ("extra_forbidden", ("interval",))
    ]


def test_every_field_is_described() -> None:
    fields = DonchianBreakoutConfig.model_fields
    assert [name for name, f in fields.items() if not f.description] == []


def test_entry_point_offers_donchian_breakout() -> None:
    (ep,) = [
        ep
        for ep in distribution("stratagem-donchian-breakout").entry_points
        if ep.group == "stratagem"
    ]
    assert ep.name == "donchian_breakout"
    specs = ep.load().stratagem_strategies()
    assert [type(s) for s in specs] == [StrategySpec]
    assert (specs[0].name, specs[0].strategy, specs[0].config) == (
        "donchian_breakout",
        DonchianBreakout,
        DonchianBreakoutConfig,
    )
