"""The warm-up invariant of ``ma_cross`` on real Bittrex bars (DESIGN section 4): a
run from ``t`` gives the whole run's signals on bars at or after ``t``, for a config
``start`` and for a symbol a scanner adds at ``t``."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratagem.testing import check_late_join, check_late_start, load_bars
from stratagem_ma_cross import MACross

#: the Bittrex pairs whose 1m files cover 2018-01-21 (ZEC_BTC starts on the 25th)
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "XMR_BTC"]
CONFIG = {"interval": "5m", "fast_period": 10, "slow_period": 20}


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
    check = check_late_start(
        MACross,
        {"symbols": SYMBOLS, **CONFIG},
        bars,
        start=start,
        end="2018-01-22T00:00:00Z",
    )
    first = [(s.symbol, str(s.side)) for s in check.first]
    assert first == crossing
    assert len(check.expected) > 50
    check.assert_holds()


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
    bars = {s: load_bars(root / f"{s}.csv") for s in ("ETH_BTC", "ZEC_BTC")}
    check = check_late_join(
        MACross,
        {"symbols": list(bars), **CONFIG},
        bars,
        symbol="ZEC_BTC",
        joins=joins,
        start="2018-01-25T00:00:00Z",
        end="2018-01-26T00:00:00Z",
    )
    first = [str(s.side) for s in check.first]
    assert first == [crossing]
    check.assert_holds()


def test_a_short_warm_up_misses_the_first_crossing(shared_data: Path) -> None:
    """The check fails where it should: with 19 bars of history the 20-bar average
    of the first bar cannot be known, and the crossing there is missed."""
    bars = {s: load_bars(shared_data / "bars" / "1m" / f"{s}.csv") for s in SYMBOLS}
    check = check_late_start(
        MACross,
        {"symbols": SYMBOLS, **CONFIG},
        bars,
        start="2018-01-21T02:45:00Z",
        end="2018-01-21T12:00:00Z",
        warmup_bars=19,
    )
    assert not check.holds
    assert [(s.symbol, s.bar_ts) for s in check.missed][:2] == [
        ("DASH_BTC", check.from_ns),
        ("LTC_BTC", check.from_ns),
    ]
    with pytest.raises(AssertionError, match="missed .*DASH_BTC 5m 2018-01-21T02:45"):
        check.assert_holds()
