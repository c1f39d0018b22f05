"""``MACrossConfig``: defaults, cross-field rule, unknown keys; the entry point."""

from __future__ import annotations

from importlib.metadata import distribution

import pytest
from pydantic import ValidationError

from stratagem import StrategySpec
from stratagem_ma_cross import MACross, MACrossConfig


def test_defaults() -> None:
    cfg = MACrossConfig(symbols=["ETH_BTC"])
    assert cfg.symbols == ["ETH_BTC"]
    assert cfg.interval == "5m"
    assert cfg.fast_period == 10
    assert cfg.slow_period == 20
    assert cfg.min_quality == 0.0


@pytest.mark.parametrize(("fast", "slow"), [(20, 20), (30, 20), (5, 4)])
def test_fast_period_not_below_slow_period_is_rejected(fast: int, slow: int) -> None:
    with pytest.raises(ValidationError) as info:
        MACrossConfig(symbols=["ETH_BTC"], fast_period=fast, slow_period=slow)
    (error,) = info.value.errors()
    assert error["msg"] == (
        f"Value error, fast_period ({fast}) must be less than slow_period ({slow})"
    )


def test_fast_period_below_slow_period_is_accepted() -> None:
    cfg = MACrossConfig(symbols=["ETH_BTC"], fast_period=19, slow_period=20)
    assert (cfg.fast_period, cfg.slow_period) == (19, 20)


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        MACrossConfig.model_validate({"symbols": ["ETH_BTC"], "fast_perod": 5})
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
        ("extra_forbidden", ("fast_perod",))
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"symbols": []}, "symbols"),
        ({"min_quality": 100.5}, "min_quality"),
        ({"min_quality": -1.0}, "min_quality"),
        ({"fast_period": 0}, "fast_period"),
    ],
)
def test_out_of_range_values_are_rejected(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        MACrossConfig.model_validate({"symbols": ["ETH_BTC"], **changes})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_config_is_frozen() -> None:
    cfg = MACrossConfig(symbols=["ETH_BTC"])
    with pytest.raises(ValidationError):
        cfg.fast_period = 3  # type: ignore[misc]


def test_every_field_is_described() -> None:
    missing = [n for n, f in MACrossConfig.model_fields.items() if not f.description]
    assert missing == []


def test_entry_point_offers_ma_cross() -> None:
    (ep,) = [
        ep
        for ep in distribution("stratagem-ma-cross").entry_points
        if ep.group == "stratagem"
    ]
    assert ep.name == "ma_cross"
    specs = ep.load().stratagem_strategies()
    assert [type(s) for s in specs] == [StrategySpec]
    assert (specs[0].name, specs[0].strategy, specs[0].config) == (
        "ma_cross",
        MACross,
        MACrossConfig,
    )
