"""The warm-up invariant of ``rsi_reversion`` on real Bittrex bars: a run from ``t``
gives the whole run's signals on bars at or after ``t``, for a config ``start`` and
for a symbol a scanner adds at ``t``.

Wilder's smoothing never forgets a close, so the RSI's look-back is all of a
symbol's bars: these runs publish the whole history (``warmup_bars``), which makes
the RSI, and so every signal, identical to the bit.
"""

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
from stratagem_rsi_reversion import RSIReversion

Row = tuple[int, str, str, str]  # bar_ts, symbol, interval, side

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"interval": "5m", "period": 14, "oversold": 30, "overbought": 70}
ALL_HISTORY = 100_000


def ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 10**9


def rows(outcome: StrategyRunResult) -> list[Row]:
    assert outcome.failures == []
    return [(s.bar_ts, s.symbol, s.interval, str(s.side)) for s in outcome.signals]


# Each start is the open of a 5m bar that signals in the whole run: the first bar a
# run from there delivers, whose signal needs the RSI of the bar before it.
@pytest.mark.parametrize(
    ("start", "signal"),
    [
        ("2018-01-21T04:10:00Z", ("XMR_BTC", "buy")),
        ("2018-01-21T14:40:00Z", ("ETH_BTC", "sell")),
    ],
)
def test_a_run_from_a_config_start_keeps_the_whole_runs_signals(
    shared_data: Path, start: str, signal: tuple[str, str]
) -> None:
    bars = {s: load_bars(shared_data / "bars" / "1m" / f"{s}.csv") for s in SYMBOLS}
    config = {"symbols": SYMBOLS, **CONFIG}
    t, end = ns(start), ns("2018-01-22T00:00:00Z")
    whole = rows(run_strategy(RSIReversion, config, bars, end_ns=end))
    from_t = rows(
        run_strategy(
            RSIReversion,
            config,
            bars,
            start_ns=t,
            end_ns=end,
            warmup_bars=ALL_HISTORY,
        )
    )

    assert [(s, side) for ts, s, _, side in whole if ts == t] == [signal]
    assert from_t == [row for row in whole if row[0] >= t]


# ZEC_BTC's 1m file starts on 2018-01-25 00:00; it joins on bars that signal.
@pytest.mark.parametrize(
    ("joins", "signal"),
    [("2018-01-25T14:50:00Z", "sell"), ("2018-01-25T21:15:00Z", "buy")],
)
def test_a_symbol_joining_mid_session_keeps_the_whole_runs_signals(
    shared_data: Path, joins: str, signal: str
) -> None:
    root = shared_data / "bars" / "1m"
    eth, zec = load_bars(root / "ETH_BTC.csv"), load_bars(root / "ZEC_BTC.csv")
    config = {"symbols": ["ETH_BTC", "ZEC_BTC"], **CONFIG}
    t = ns(joins)
    window = {
        "start_ns": ns("2018-01-25T00:00:00Z"),
        "end_ns": ns("2018-01-26T00:00:00Z"),
        "warmup_bars": ALL_HISTORY,
    }
    whole = rows(
        run_strategy(RSIReversion, config, {"ETH_BTC": eth, "ZEC_BTC": zec}, **window)
    )
    joined = run_strategy(
        RSIReversion,
        config,
        {"ETH_BTC": eth},
        source=MemorySource({("ETH_BTC", "1m"): eth, ("ZEC_BTC", "1m"): zec}),
        scanners=[("join", AddSymbolAt("ZEC_BTC", t))],
        **window,
    )

    assert [(i.symbol, i.time_ns) for i in joined.result.insertions] == [("ZEC_BTC", t)]
    assert [side for ts, s, _, side in whole if (ts, s) == (t, "ZEC_BTC")] == [signal]
    assert rows(joined) == [row for row in whole if row[1] != "ZEC_BTC" or row[0] >= t]
