"""The warm-up invariant of ``rsi_reversion`` on real Bittrex bars (DESIGN section
4): a run from ``t`` gives the whole run's signals on bars at or after ``t``, for a
config ``start`` and for a symbol a scanner adds at ``t``.

Wilder's smoothing never forgets a close, so the RSI's look-back is all of a
symbol's bars: these runs publish the whole history (``warmup_bars``), which makes
the RSI, and so every signal, identical to the bit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stratagem.testing import check_late_join, check_late_start, load_bars
from stratagem_rsi_reversion import RSIReversion

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"interval": "5m", "period": 14, "oversold": 30, "overbought": 70}
ALL_HISTORY = 100_000


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
    check = check_late_start(
        RSIReversion,
        {"symbols": SYMBOLS, **CONFIG},
        bars,
        start=start,
        end="2018-01-22T00:00:00Z",
        warmup_bars=ALL_HISTORY,
    )
    first = [(s.symbol, str(s.side)) for s in check.first]
    assert first == [signal]
    check.assert_holds()


# ZEC_BTC's 1m file starts on 2018-01-25 00:00; it joins on bars that signal.
@pytest.mark.parametrize(
    ("joins", "signal"),
    [("2018-01-25T14:50:00Z", "sell"), ("2018-01-25T21:15:00Z", "buy")],
)
def test_a_symbol_joining_mid_session_keeps_the_whole_runs_signals(
    shared_data: Path, joins: str, signal: str
) -> None:
    root = shared_data / "bars" / "1m"
    bars = {s: load_bars(root / f"{s}.csv") for s in ("ETH_BTC", "ZEC_BTC")}
    check = check_late_join(
        RSIReversion,
        {"symbols": list(bars), **CONFIG},
        bars,
        symbol="ZEC_BTC",
        joins=joins,
        start="2018-01-25T00:00:00Z",
        end="2018-01-26T00:00:00Z",
        warmup_bars=ALL_HISTORY,
    )
    first = [str(s.side) for s in check.first]
    assert first == [signal]
    check.assert_holds()
