"""``RSIReversionConfig``: defaults, level rules, unknown keys; the entry point."""

from __future__ import annotations

from importlib.metadata import distribution

import pytest
from pydantic import ValidationError

from stratagem import StrategySpec
from stratagem_rsi_reversion import RSIReversion, RSIReversionConfig


def test_defaults() -> None:
    cfg = RSIReversionConfig(symbols=["ETH_BTC", "LTC_BTC"])
    assert cfg.symbols == ["ETH_BTC", "LTC_BTC"]
    assert cfg.interval == "5m"
    assert cfg.period == 14
    assert cfg.oversold == 30.0
    assert cfg.overbought == 70.0
    assert cfg.min_quality == 0.0


@pytest.mark.parametrize(
    ("oversold", "overbought", "message"),
    [
        (70, 70, "oversold (70) must be less than overbought (70)"),
        (80, 20, "oversold (80) must be less than overbought (20)"),
        (50.5, 50.25, "oversold (50.5) must be less than overbought (50.25)"),
    ],
)
def test_oversold_not_below_overbought_is_rejected(
    oversold: float, overbought: float, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RSIReversionConfig(symbols=["X"], oversold=oversold, overbought=overbought)
    (error,) = info.value.errors()
    assert error["msg"] == f"Value error, {message}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("oversold", 0.0),
        ("oversold", -5.0),
        ("overbought", 100.0),
        ("overbought", 120.0),
        ("period", 1),
        ("min_quality", 101.0),
    ],
)
def test_levels_outside_the_open_interval_are_rejected(
    field: str, value: float
) -> None:
    with pytest.raises(ValidationError) as info:
        RSIReversionConfig.model_validate({"symbols": ["X"], field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_levels_just_inside_the_bounds_are_accepted() -> None:
    cfg = RSIReversionConfig(symbols=["X"], oversold=0.5, overbought=99.5, period=2)
    assert (cfg.oversold, cfg.overbought, cfg.period) == (0.5, 99.5, 2)


def test_symbols_are_required() -> None:
    for config in ({}, {"symbols": []}):
        with pytest.raises(ValidationError) as info:
            RSIReversionConfig.model_validate(config)
        assert [e["loc"] for e in info.value.errors()] == [("symbols",)]


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        RSIReversionConfig.model_validate({"symbols": ["X"], "oversould": 25})
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
        ("extra_forbidden", ("oversould",))
    ]


def test_every_field_is_described() -> None:
    fields = RSIReversionConfig.model_fields
    assert [name for name, f in fields.items() if not f.description] == []


def test_interval_is_reported_for_session_validation() -> None:
    cfg = RSIReversionConfig(symbols=["X"], interval="15m")
    assert cfg.intervals_used() == ["15m"]
    assert cfg.symbols_used() == ["X"]


def test_entry_point_offers_rsi_reversion() -> None:
    (ep,) = [
        ep
        for ep in distribution("stratagem-rsi-reversion").entry_points
        if ep.group == "stratagem"
    ]
    assert ep.name == "rsi_reversion"
    specs = ep.load().stratagem_strategies()
    assert [type(s) for s in specs] == [StrategySpec]
    assert (specs[0].name, specs[0].strategy, specs[0].config) == (
        "rsi_reversion",
        RSIReversion,
        RSIReversionConfig,
    )
