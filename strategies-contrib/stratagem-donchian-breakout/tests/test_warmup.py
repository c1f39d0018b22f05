"""The warm-up invariant of ``donchian_breakout`` on real Bittrex bars (DESIGN
section 4): a run from ``t`` gives the whole run's signals on bars at or after
``t``, for a config ``start`` and for a symbol a scanner adds at ``t``."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratagem.testing import check_late_join, check_late_start, load_bars
from stratagem_donchian_breakout import DonchianBreakout

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"fast_interval": "5m", "slow_interval": "15m", "channel_bars": 20}
FIVE_MINUTES = 5 * 60 * 10**9


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
    check = check_late_start(
        DonchianBreakout,
        {"symbols": SYMBOLS, **CONFIG},
        bars,
        start=start,
        end="2018-01-22T00:00:00Z",
    )
    before = check.from_ns - FIVE_MINUTES
    assert [(s.symbol, str(s.side)) for s in check.whole if s.bar_ts == before] == (
        breakouts
    )
    assert len(check.expected) > 20
    check.assert_holds()


# ZEC_BTC's 1m file starts on 2018-01-25 00:00; it joins the bar after a breakout
# up that its first delivered bar continues.
@pytest.mark.parametrize("joins", ["2018-01-25T11:50:00Z", "2018-01-25T14:05:00Z"])
def test_a_symbol_joining_mid_session_keeps_the_whole_runs_signals(
    shared_data: Path, joins: str
) -> None:
    root = shared_data / "bars" / "1m"
    bars = {s: load_bars(root / f"{s}.csv") for s in ("ETH_BTC", "ZEC_BTC")}
    check = check_late_join(
        DonchianBreakout,
        {"symbols": list(bars), **CONFIG},
        bars,
        symbol="ZEC_BTC",
        joins=joins,
        start="2018-01-25T00:00:00Z",
        end="2018-01-26T00:00:00Z",
    )
    zec = {s.bar_ts: str(s.side) for s in check.whole if s.symbol == "ZEC_BTC"}
    t = check.from_ns
    assert zec.get(t - FIVE_MINUTES) == "buy" and t not in zec
    check.assert_holds()
