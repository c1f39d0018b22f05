"""The strategy API refuses mistakes pluggy would let pass silently."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stratagem import Signal, SignalError, Strategy, hookimpl
from stratagem._data.session_data import SessionData


def test_hook_override_without_hookimpl_is_rejected() -> None:
    with pytest.raises(TypeError, match="without @hookimpl"):

        class Bad(Strategy):
            def stratagem_on_bars(self, ctx, symbol, interval):  # type: ignore[override]
                return None


def test_misspelt_hook_name_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean stratagem_on_bars"):

        class Bad(Strategy):
            @hookimpl
            def stratagem_on_bar(self, ctx, symbol, interval):
                return None


def test_misspelt_lifecycle_method_is_rejected() -> None:
    with pytest.raises(TypeError, match="did you mean on_bars"):

        class Bad(Strategy):
            def on_bar(self, ctx, symbol, interval):
                return None


def test_unrelated_on_method_is_allowed() -> None:
    class Fine(Strategy):
        def on_fill_report(self) -> str:
            return "kept"

    assert Fine(Fine.config_class()).on_fill_report() == "kept"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("side", "hold", "side"),
        ("bar_ts", 1.5, "bar_ts"),
        ("bar_ts", True, "bar_ts"),
        ("symbol", "", "symbol"),
        ("strength", float("nan"), "strength"),
    ],
)
def test_malformed_signal_fields_are_rejected(field: str, value, message: str) -> None:
    good = {"symbol": "ETH_BTC", "interval": "5m", "bar_ts": 0, "side": "buy"}
    with pytest.raises(SignalError, match=message):
        Signal(**{**good, field: value})


def test_signal_is_frozen_and_normalises_numpy_times() -> None:
    signal = Signal("ETH_BTC", "5m", np.int64(300_000_000_000), "sell")
    assert type(signal.bar_ts) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.side = "buy"  # type: ignore[misc]


def test_bar_views_are_read_only_and_zero_copy() -> None:
    data = SessionData()
    series = data.add_series("X", "5m", 4, derived=True)
    values = np.arange(4, dtype=float) + 1
    series.write(
        np.arange(4, dtype=np.int64) * 300 * 10**9,
        values,
        values,
        values,
        values,
        values,
        np.full(4, 100.0),
    )
    series.publish(3)
    view = series.view()
    assert len(view) == 3 and view.close.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        view.close[0] = 9.0
    assert np.shares_memory(view.close, series._cols["close"])
