"""The warm-up invariant of ``ma_cross`` on real Bittrex bars: a run from ``t`` gives
the whole run's signals on bars at or after ``t``, for a config ``start`` and for a
symbol a scanner adds at ``t``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from stratagem.testing import (
    AddSymbolAt,
    MemorySource,
    StrategyRunResult,
    load_bars,
    run_strategy,
)
from stratagem_ma_cross import MACross

Row = tuple[int, str, str, str]  # bar_ts, symbol, interval, side

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"interval": "5m", "fast_period": 10, "slow_period": 20}


def ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 10**9


def rows(outcome: StrategyRunResult) -> list[Row]:
    assert outcome.failures == []
    return [(s.bar_ts, s.symbol, s.interval, str(s.side)) for s in outcome.signals]


# Each start is the open of a 5m bar that crosses in the whole run: the first bar a
# run from there delivers, so only a state seeded by the history can see it cross.
@pytest.mark.parametrize(
    ("start", "crossing"),
    [
        ("2018-01-21T00:00:00Z", [("LTC_BTC", "sell")]),
        ("2018-01-21T02:45:00Z", [("DASH_BTC", "buy"), ("LTC_BTC", "sell")]),
    ],
)
def test_a_run_from_a_config_start_keeps_the_whole_runs_signals(
    shared_data: Path, start: str, crossing: list[tuple[str, str]]
) -> None:
    bars = {s: load_bars(shared_data / "bars" / "1m" / f"{s}.csv") for s in SYMBOLS}
    config = {"symbols": SYMBOLS, **CONFIG}
    t, end = ns(start), ns("2018-01-22T00:00:00Z")
    whole = rows(run_strategy(MACross, config, bars, end_ns=end))
    from_t = rows(run_strategy(MACross, config, bars, start_ns=t, end_ns=end))

    assert [(s, side) for ts, s, _, side in whole if ts == t] == crossing
    assert from_t == [row for row in whole if row[0] >= t]
    assert len(from_t) > 50


# ZEC_BTC's 1m file starts on 2018-01-25 00:00; it joins at 02:05, when its 5m
# averages are defined and the 02:05 bar, the first one delivered, crosses down.
@pytest.mark.parametrize(
    ("joins", "crossing"),
    [("2018-01-25T02:05:00Z", "sell"), ("2018-01-25T09:45:00Z", "buy")],
)
def test_a_symbol_joining_mid_session_keeps_the_whole_runs_signals(
    shared_data: Path, joins: str, crossing: str
) -> None:
    root = shared_data / "bars" / "1m"
    eth, zec = load_bars(root / "ETH_BTC.csv"), load_bars(root / "ZEC_BTC.csv")
    config = {"symbols": ["ETH_BTC", "ZEC_BTC"], **CONFIG}
    t = ns(joins)
    window = {
        "start_ns": ns("2018-01-25T00:00:00Z"),
        "end_ns": ns("2018-01-26T00:00:00Z"),
    }
    whole = rows(
        run_strategy(MACross, config, {"ETH_BTC": eth, "ZEC_BTC": zec}, **window)
    )
    joined = run_strategy(
        MACross,
        config,
        {"ETH_BTC": eth},
        source=MemorySource({("ETH_BTC", "1m"): eth, ("ZEC_BTC", "1m"): zec}),
        scanners=[("join", AddSymbolAt("ZEC_BTC", t))],
        **window,
    )

    assert [(i.symbol, i.time_ns) for i in joined.result.insertions] == [("ZEC_BTC", t)]
    assert [side for ts, s, _, side in whole if (ts, s) == (t, "ZEC_BTC")] == [crossing]
    assert rows(joined) == [row for row in whole if row[1] != "ZEC_BTC" or row[0] >= t]
