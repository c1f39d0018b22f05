"""The warm-up invariant of ``donchian_breakout`` on real Bittrex bars: a run from
``t`` gives the whole run's signals on bars at or after ``t``, for a config ``start``
and for a symbol a scanner adds at ``t``."""

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
from stratagem_donchian_breakout import DonchianBreakout

Row = tuple[int, str, str, str]  # bar_ts, symbol, interval, side

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"fast_interval": "5m", "slow_interval": "15m", "channel_bars": 20}
FIVE_MINUTES = 5 * 60 * 10**9


def ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 10**9


def rows(outcome: StrategyRunResult) -> list[Row]:
    assert outcome.failures == []
    return [(s.bar_ts, s.symbol, s.interval, str(s.side)) for s in outcome.signals]


# Each start is the bar after a breakout of the whole run that it continues (the
# close stays outside the channel): the first bar a run from there delivers. Only a
# position seeded by the history knows it is no new breakout.
@pytest.mark.parametrize(
    ("start", "breakouts"),
    [
        ("2018-01-21T00:05:00Z", [("ADA_BTC", "sell")]),
        ("2018-01-21T01:10:00Z", [("DASH_BTC", "sell"), ("LTC_BTC", "sell")]),
    ],
)
def test_a_run_from_a_config_start_keeps_the_whole_runs_signals(
    shared_data: Path, start: str, breakouts: list[tuple[str, str]]
) -> None:
    bars = {s: load_bars(shared_data / "bars" / "1m" / f"{s}.csv") for s in SYMBOLS}
    config = {"symbols": SYMBOLS, **CONFIG}
    t, end = ns(start), ns("2018-01-22T00:00:00Z")
    whole = rows(run_strategy(DonchianBreakout, config, bars, end_ns=end))
    from_t = rows(run_strategy(DonchianBreakout, config, bars, start_ns=t, end_ns=end))

    assert [(s, side) for ts, s, _, side in whole if ts == t - FIVE_MINUTES] == (
        breakouts
    )
    assert from_t == [row for row in whole if row[0] >= t]
    assert len(from_t) > 20


# ZEC_BTC's 1m file starts on 2018-01-25 00:00; it joins the bar after a breakout
# up that its first delivered bar continues.
@pytest.mark.parametrize("joins", ["2018-01-25T11:50:00Z", "2018-01-25T14:05:00Z"])
def test_a_symbol_joining_mid_session_keeps_the_whole_runs_signals(
    shared_data: Path, joins: str
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
        run_strategy(
            DonchianBreakout, config, {"ETH_BTC": eth, "ZEC_BTC": zec}, **window
        )
    )
    joined = run_strategy(
        DonchianBreakout,
        config,
        {"ETH_BTC": eth},
        source=MemorySource({("ETH_BTC", "1m"): eth, ("ZEC_BTC", "1m"): zec}),
        scanners=[("join", AddSymbolAt("ZEC_BTC", t))],
        **window,
    )

    assert [(i.symbol, i.time_ns) for i in joined.result.insertions] == [("ZEC_BTC", t)]
    zec_signals = {ts: side for ts, s, _, side in whole if s == "ZEC_BTC"}
    assert zec_signals.get(t - FIVE_MINUTES) == "buy" and t not in zec_signals
    assert rows(joined) == [row for row in whole if row[1] != "ZEC_BTC" or row[0] >= t]
