"""Books, FIFO round trips, equity and statistics from fills, and the files they
make; every expected number is worked out here, by hand or by a plain loop."""

from __future__ import annotations

import bisect
import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.timefmt import parse_ts, to_ns
from stratagem._execution.portfolio import (
    ANNUALISATION,
    Book,
    Trade,
    build_portfolio,
    daily_sharpe,
    max_drawdown_pct,
    summary_lines,
    write_execution_outputs,
)
from stratagem._records import Fill, Side

T0 = to_ns(datetime(2018, 1, 21, tzinfo=UTC))
MIN = NS_PER_MINUTE
DAY = 1440 * MIN
SYMBOL = "ETH_BTC"
CENT = 0.005
STAT_KEYS = {
    "initial_cash",
    "final_equity",
    "pnl",
    "return_pct",
    "fees",
    "fills",
    "trades",
    "win_rate",
    "max_drawdown_pct",
    "sharpe",
    "exposure_pct",
}


def fill(
    minute: int,
    side: str,
    qty: float,
    price: float,
    fee: float,
    book: str = "a",
    symbol: str = SYMBOL,
) -> Fill:
    return Fill(
        ts=T0 + minute * MIN,
        book=book,
        symbol=symbol,
        side=Side(side),
        qty=qty,
        price=price,
        fee=fee,
    )


def bars(closes: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """1m bars opening at T0, T0 + 1m, ... with these closes."""
    opens = T0 + np.arange(len(closes), dtype=np.int64) * MIN
    return opens, np.asarray(closes, dtype=np.float64)


def steps(count: int) -> np.ndarray:
    """The 1m closes T0 + 1m ... T0 + count m."""
    return T0 + np.arange(1, count + 1, dtype=np.int64) * MIN


def one_trade(trade: Trade) -> tuple[object, ...]:
    return (
        trade.side,
        trade.qty,
        trade.entry_ts,
        trade.entry_price,
        trade.exit_ts,
        trade.exit_price,
        trade.pnl,
        trade.fees,
    )


# ----------------------------------------------------------------- round trips


def test_a_long_round_trip_pays_both_fees_and_ends_in_cash() -> None:
    fills = [fill(1, "buy", 2, 100.0, 0.2), fill(3, "sell", 2, 110.0, 0.22)]
    result = build_portfolio(
        fills, 1000.0, ["a"], {SYMBOL: bars([100, 101, 105, 108, 111, 111])}, steps(6)
    )

    (trade,) = result.trades
    assert one_trade(trade) == pytest.approx(
        ("long", 2, T0 + MIN, 100.0, T0 + 3 * MIN, 110.0, (110 - 100) * 2, 0.2 + 0.22)
    )
    assert result.open_lots == ()
    stats = result.stats["a"]
    cash = 1000 - 2 * 100 - 0.2 + 2 * 110 - 0.22  # 1019.58
    assert stats.final_equity == pytest.approx(cash)
    assert stats.pnl == pytest.approx(cash - 1000)
    assert stats.return_pct == pytest.approx((cash - 1000) / 1000 * 100)
    assert stats.fees == pytest.approx(0.42)
    assert (stats.fills, stats.trades, stats.win_rate) == (2, 1, 1.0)
    # the buy counts from the step at its bar's open, marked to bar 0's close;
    # step 2 sees bar 1's close; the sell at minute 3 flattens the book at step 3
    rows = result.equity["a"]
    assert rows.ts.tolist() == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert rows.equity.tolist() == pytest.approx(
        [799.8 + 2 * 100, 799.8 + 2 * 101, cash]
    )
    assert rows.cash.tolist() == pytest.approx([799.8, 799.8, cash])
    assert rows.exposure.tolist() == pytest.approx([200, 202, 0])


def test_a_short_round_trip_profits_when_the_price_falls() -> None:
    fills = [fill(0, "sell", 3, 50.0, 0.15), fill(3, "buy", 3, 45.0, 0.135)]
    result = build_portfolio(
        fills, 1000.0, ["a"], {SYMBOL: bars([50, 48, 46, 44])}, steps(4)
    )

    (trade,) = result.trades
    assert one_trade(trade) == pytest.approx(
        ("short", 3, T0, 50.0, T0 + 3 * MIN, 45.0, (50 - 45) * 3, 0.15 + 0.135)
    )
    cash = 1000 + 3 * 50 - 0.15 - 3 * 45 - 0.135  # 1014.715
    assert result.stats["a"].pnl == pytest.approx(cash - 1000)
    # steps 1 and 2 hold -3 marked at the closes of bars 0 and 1
    assert result.equity["a"].equity.tolist() == pytest.approx(
        [1149.85 - 3 * 50, 1149.85 - 3 * 48, cash]
    )
    # exposure is the size held, whatever its sign
    assert result.equity["a"].exposure.tolist() == pytest.approx([150, 144, 0])


def test_a_flip_closes_the_long_as_one_trade_and_opens_a_short_lot() -> None:
    fills = [fill(0, "buy", 1, 100.0, 0.1), fill(1, "sell", 3, 120.0, 0.36)]
    result = build_portfolio(
        fills, 1000.0, ["a"], {SYMBOL: bars([100, 118, 115])}, steps(3)
    )

    (trade,) = result.trades
    # the sell's fee is split pro rata: 1 of 3 closes, 2 of 3 open the short
    assert one_trade(trade) == pytest.approx(
        ("long", 1, T0, 100.0, T0 + MIN, 120.0, 20.0, 0.1 + 0.36 / 3)
    )
    (lot,) = result.open_lots
    assert (lot.side, lot.symbol, lot.entry_ts) == ("short", SYMBOL, T0 + MIN)
    assert (lot.qty, lot.entry_price, lot.fee) == pytest.approx((2, 120.0, 0.24))
    cash = 1000 - 100 - 0.1 + 3 * 120 - 0.36  # 1259.54
    final = cash - 2 * 115  # short 2 marked at the last close
    assert result.stats["a"].final_equity == pytest.approx(final)
    assert result.stats["a"].pnl == pytest.approx(20 + (120 - 115) * 2 - 0.46)


def test_partial_closes_take_the_oldest_lot_first() -> None:
    fills = [
        fill(0, "buy", 1, 100.0, 1.0),
        fill(1, "buy", 2, 130.0, 2.6),
        fill(2, "sell", 2, 150.0, 3.0),
        fill(3, "sell", 1, 90.0, 0.9),
    ]
    book = Book("a", 1000.0)
    for f in fills:
        book.apply(f)

    assert [one_trade(t) for t in book.trades] == [
        # lot 1 closes whole: its fee, half the first sell's fee
        pytest.approx(("long", 1, T0, 100.0, T0 + 2 * MIN, 150.0, 50.0, 1.0 + 1.5)),
        # then half of lot 2: half its fee, the other half of the sell's
        pytest.approx(
            ("long", 1, T0 + MIN, 130.0, T0 + 2 * MIN, 150.0, 20.0, 1.3 + 1.5)
        ),
        # the last sell closes what is left of lot 2 at a loss
        pytest.approx(
            ("long", 1, T0 + MIN, 130.0, T0 + 3 * MIN, 90.0, -40.0, 1.3 + 0.9)
        ),
    ]
    assert book.open_lots() == []
    assert book.position(SYMBOL) == 0.0
    assert book.cash == pytest.approx(
        1000 - 100 - 1.0 - 260 - 2.6 + 300 - 3.0 + 90 - 0.9
    )
    result = build_portfolio(
        fills, 1000.0, ["a"], {SYMBOL: bars([100, 140, 150, 90])}, steps(4)
    )
    # 50 - 2.5 and 20 - 2.8 win, -40 - 2.2 loses
    assert result.stats["a"].win_rate == pytest.approx(2 / 3)
    assert result.stats["a"].pnl == pytest.approx(50 + 20 - 40 - 7.5)


# ---------------------------------------------------------- the pnl identity


def random_session(seed: int = 7) -> tuple[list[Fill], dict, np.ndarray]:
    """Two symbols over three days of 1m bars (one gappy), 200 fills, two books."""
    rng = np.random.default_rng(seed)
    n = 3 * 1440
    closes = {}
    for symbol, start in (("ETH_BTC", 0.08), ("LTC_BTC", 0.015)):
        opens = T0 + np.arange(n, dtype=np.int64) * MIN
        path = start * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
        if symbol == "LTC_BTC":
            keep = rng.random(n) > 0.1
            opens, path = opens[keep], path[keep]
        closes[symbol] = (opens, path)
    step_times = np.unique(np.concatenate([o + MIN for o, _ in closes.values()]))
    picks = []
    for _ in range(200):
        symbol = ("ETH_BTC", "LTC_BTC")[rng.integers(2)]
        opens, path = closes[symbol]
        k = int(rng.integers(1, len(opens)))
        side = ("buy", "sell")[rng.integers(2)]
        price = float(path[k - 1] * (1 + rng.normal(0.0, 0.001)))
        qty = float(rng.uniform(0.1, 5.0))
        picks.append(
            (
                int(opens[k]),
                str(rng.choice(["a", "b"])),
                symbol,
                side,
                qty,
                price,
                0.001 * qty * price,
            )
        )
    picks.sort(key=lambda p: p[0])
    fills = [
        Fill(ts=t, book=b, symbol=s, side=Side(d), qty=q, price=p, fee=f)
        for t, b, s, d, q, p, f in picks
    ]
    return fills, closes, step_times


def test_trade_pnl_plus_open_lots_minus_fees_is_the_pnl_to_the_cent() -> None:
    fills, closes, step_times = random_session()
    result = build_portfolio(fills, 10.0, ["a", "b", "idle"], closes, step_times)

    last_close = {s: float(path[-1]) for s, (_, path) in closes.items()}
    assert len(result.trades) > 50  # the positions flip often enough to test FIFO
    for book_id in ("a", "b", "idle"):
        mine = [f for f in fills if f.book == book_id]
        sign = {f: 1.0 if f.side == "buy" else -1.0 for f in mine}
        cash = 10.0 + sum(-sign[f] * f.qty * f.price - f.fee for f in mine)
        held = {
            s: sum(sign[f] * f.qty for f in mine if f.symbol == s) for s in last_close
        }
        pnl = cash + sum(held[s] * last_close[s] for s in held) - 10.0
        stats = result.stats[book_id]
        assert stats.pnl == pytest.approx(pnl, abs=1e-9)
        assert stats.fees == pytest.approx(sum(f.fee for f in mine), abs=1e-12)
        assert stats.fills == len(mine)

        trades = [t for t in result.trades if t.book == book_id]
        lots = [lot for lot in result.open_lots if lot.book == book_id]
        gross = sum(t.pnl for t in trades)
        marked = sum(lot.marked(last_close[lot.symbol]) for lot in lots)
        assert abs(gross + marked - stats.fees - stats.pnl) < CENT
        assert sum(t.fees for t in trades) + sum(lot.fee for lot in lots) == (
            pytest.approx(stats.fees)
        )
        for s in last_close:
            lot_qty = sum(
                (1 if lot.side == "long" else -1) * lot.qty
                for lot in lots
                if lot.symbol == s
            )
            assert lot_qty == pytest.approx(held[s], abs=1e-9)


def plain_equity(
    fills: list[Fill], cash: float, closes: dict, step_times: np.ndarray
) -> tuple[list[float], list[bool]]:
    """Equity and 'holds anything' at every step, by walking the steps."""
    equity, holding = [], []
    position: dict[str, float] = {}
    close_times = {s: (o + MIN).tolist() for s, (o, _) in closes.items()}
    i = 0
    for t in step_times.tolist():
        while i < len(fills) and fills[i].ts <= t:
            f = fills[i]
            sign = 1.0 if f.side == "buy" else -1.0
            cash += -sign * f.qty * f.price - f.fee
            position[f.symbol] = position.get(f.symbol, 0.0) + sign * f.qty
            i += 1
        value = cash
        for s, qty in position.items():
            newest = bisect.bisect_right(close_times[s], t) - 1
            value += qty * float(closes[s][1][newest])
        equity.append(value)
        holding.append(any(abs(q) > 1e-9 for q in position.values()))
    return equity, holding


def test_equity_rows_drawdown_sharpe_and_exposure_agree_with_a_plain_walk() -> None:
    fills, closes, step_times = random_session(seed=11)
    result = build_portfolio(fills, 10.0, ["a", "b"], closes, step_times)

    for book_id in ("a", "b"):
        mine = [f for f in fills if f.book == book_id]
        equity, holding = plain_equity(mine, 10.0, closes, step_times)
        rows = result.equity[book_id]
        # the rows, carried forward, give the equity at every step
        at = np.searchsorted(rows.ts, step_times, side="right") - 1
        assert rows.equity[at] == pytest.approx(equity, abs=1e-9)

        peak, worst = equity[0], 0.0
        for value in equity:
            peak = max(peak, value)
            worst = max(worst, (peak - value) / peak * 100)
        day_end = {int(t) // DAY: v for t, v in zip(step_times, equity, strict=True)}
        ends = [day_end[d] for d in sorted(day_end)]
        r = [ends[k + 1] / ends[k] - 1 for k in range(len(ends) - 1)]
        mean = sum(r) / len(r)
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))

        stats = result.stats[book_id]
        assert stats.max_drawdown_pct == pytest.approx(worst, abs=1e-9)
        assert stats.sharpe == pytest.approx(mean / std * math.sqrt(365))
        assert stats.exposure_pct == pytest.approx(sum(holding) / len(holding) * 100)
        assert stats.final_equity == pytest.approx(equity[-1], abs=1e-9)


# ---------------------------------------------------------------- the curve


def test_equity_rows_are_kept_only_where_equity_cash_or_exposure_changed() -> None:
    fills = [fill(0, "buy", 1, 10.0, 0.0), fill(5, "sell", 1, 12.0, 0.0)]
    result = build_portfolio(
        fills, 1000.0, ["a", "idle"], {SYMBOL: bars([10, 10, 10, 12, 12, 12])}, steps(6)
    )

    rows = result.equity["a"]
    # steps 2, 3 repeat step 1; step 4 sees the close move to 12; step 5 sells at
    # 12: the same equity, but cash and exposure change; step 6 repeats step 5
    assert rows.ts.tolist() == [T0 + MIN, T0 + 4 * MIN, T0 + 5 * MIN]
    assert rows.equity.tolist() == [990 + 10, 990 + 12, 1002]
    assert rows.cash.tolist() == [990, 990, 1002]
    assert rows.exposure.tolist() == [10, 12, 0]
    assert rows.ts.dtype == np.int64
    idle = result.equity["idle"]
    assert (idle.ts.tolist(), idle.equity.tolist()) == ([T0 + MIN], [1000.0])
    # held from step 1 to step 4: four of six steps
    assert result.stats["a"].exposure_pct == pytest.approx(4 / 6 * 100)
    assert result.stats["idle"].exposure_pct == 0.0
    assert result.stats["idle"].win_rate is None
    assert result.stats["idle"].sharpe is None


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    curve = np.array([100.0, 120.0, 90.0, 130.0, 104.0, 110.0])
    # peaks 100, 120, 120, 130, 130, 130: falls 0, 0, 30/120, 0, 26/130, 20/130
    assert max_drawdown_pct(curve) == pytest.approx(30 / 120 * 100)
    assert max_drawdown_pct(np.array([1.0, 2.0, 3.0])) == 0.0
    assert max_drawdown_pct(np.array([])) == 0.0


def test_sharpe_uses_the_last_equity_of_each_utc_day() -> None:
    # four days, three steps a day; only the last of each day counts
    times = np.array(
        [T0 + d * DAY + m * MIN for d in range(4) for m in (1, 700, 1439)],
        dtype=np.int64,
    )
    equity = np.array(
        [1, 500, 100, 7, 3, 110, 1e6, 0.5, 99, 42, 42, 108.9], dtype=np.float64
    )
    r = [110 / 100 - 1, 99 / 110 - 1, 108.9 / 99 - 1]  # +10%, -10%, +10%
    mean = (r[0] + r[1] + r[2]) / 3
    std = math.sqrt(((r[0] - mean) ** 2 + (r[1] - mean) ** 2 + (r[2] - mean) ** 2) / 2)
    assert daily_sharpe(times, equity) == pytest.approx(mean / std * math.sqrt(365))
    # by hand: mean 1/30, deviations 2/30, -4/30, 2/30, variance 24/900 / 2,
    # so mean / std = 1 / sqrt(12)
    assert daily_sharpe(times, equity) == pytest.approx(math.sqrt(365 / 12))
    # equities trade 252 days a year
    assert daily_sharpe(times, equity, 252) == pytest.approx(math.sqrt(252 / 12))
    # two days give one return: undefined; a flat curve has no deviation
    assert daily_sharpe(times[:6], equity[:6]) is None
    assert daily_sharpe(times, np.full(12, 100.0)) is None


def test_a_fill_after_the_last_step_or_of_an_unknown_book_is_refused() -> None:
    closes = {SYMBOL: bars([10, 10])}
    with pytest.raises(ValueError, match="after the last step"):
        build_portfolio([fill(3, "buy", 1, 10, 0)], 100.0, ["a"], closes, steps(2))
    # a fill at the last step's time still counts, at that step
    last = build_portfolio([fill(2, "buy", 1, 10, 1)], 100.0, ["a"], closes, steps(2))
    assert last.equity["a"].cash.tolist() == [100.0, 100 - 10 - 1]
    with pytest.raises(ValueError, match="unknown book 'x'"):
        build_portfolio(
            [fill(0, "buy", 1, 10, 0, book="x")], 100.0, ["a"], closes, steps(2)
        )


# ------------------------------------------------------------------- outputs


def test_outputs_have_the_exact_headers_and_csv_and_parquet_agree(
    tmp_path: Path,
) -> None:
    fills = [
        fill(0, "buy", 1, 100.0, 1.0),
        fill(1, "buy", 2, 130.0, 2.6, book="b"),
        fill(2, "sell", 1, 150.0, 1.5),
        fill(3, "sell", 2, 90.0, 1.8, book="b"),
    ]
    cancelled = [
        {
            "book": "a",
            "symbol": SYMBOL,
            "qty": 1.0,
            "side": "buy",
            "decision_ts": "2018-01-21T00:04:00Z",
            "reason": "session ended before the fill bar",
        }
    ]
    result = build_portfolio(
        fills,
        1000.0,
        ["a", "b"],
        {SYMBOL: bars([100, 140, 150, 90])},
        steps(4),
        cancelled=cancelled,
    )
    write_execution_outputs(tmp_path, result)

    headers = {
        "fills": "ts,book,symbol,side,qty,price,fee",
        "trades": "book,symbol,side,qty,entry_ts,entry_price,exit_ts,exit_price,"
        "pnl,fees",
        "equity": "ts,book,equity,cash,exposure",
    }
    for name, header in headers.items():
        text = (tmp_path / f"{name}.csv").read_text()
        assert text.splitlines()[0] == header
        assert "\r" not in text
        with (tmp_path / f"{name}.csv").open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.column_names == header.split(",")
        assert table.num_rows == len(rows) > 0
        for column in table.column_names:
            kind = table.schema.field(column).type
            if column.endswith("ts"):
                assert kind == pa.timestamp("ns", tz="UTC")
                stored = table.column(column).cast(pa.int64()).to_pylist()
                assert [parse_ts(r[column]) for r in rows] == stored
            elif kind == pa.float64():
                stored = table.column(column).to_pylist()
                assert [float(r[column]) for r in rows] == stored
            else:
                assert [r[column] for r in rows] == table.column(column).to_pylist()

    assert (tmp_path / "fills.csv").read_text().splitlines()[1:3] == [
        "2018-01-21T00:00:00Z,a,ETH_BTC,buy,1.0,100.0,1.0",
        "2018-01-21T00:01:00Z,b,ETH_BTC,buy,2.0,130.0,2.6",
    ]
    trade_rows = (tmp_path / "trades.csv").read_text().splitlines()[1:]
    assert trade_rows[0] == (
        "a,ETH_BTC,long,1.0,2018-01-21T00:00:00Z,100.0,2018-01-21T00:02:00Z,150.0,"
        f"50.0,{1.0 + 1.5!r}"
    )
    assert trade_rows[1].startswith("b,ETH_BTC,long,2.0,2018-01-21T00:01:00Z,130.0,")
    assert trade_rows[1].split(",")[8] == repr((90.0 - 130.0) * 2)

    body = json.loads((tmp_path / "portfolio.json").read_text())
    assert set(body) == {"annualisation", "books", "cancelled"}
    assert body["annualisation"] == ANNUALISATION
    assert "sqrt(365)" in body["annualisation"]
    assert list(body["books"]) == ["a", "b"]
    for stats in body["books"].values():
        assert set(stats) == STAT_KEYS
    assert body["books"]["a"]["pnl"] == pytest.approx(50 - 2.5)
    assert body["books"]["b"]["pnl"] == pytest.approx(-80 - 4.4)
    assert body["books"]["b"]["win_rate"] == 0.0
    assert body["cancelled"] == cancelled
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "equity.csv",
        "equity.parquet",
        "fills.csv",
        "fills.parquet",
        "portfolio.json",
        "trades.csv",
        "trades.parquet",
    ]


def test_summary_lines_fit_the_width_and_keep_long_book_ids_whole() -> None:
    fills = [
        fill(0, "buy", 10, 100.0, 1.0, book="a"),
        fill(1, "sell", 10, 223.5, 2.0, book="a"),
    ]
    long_id = "ma_cross_eth_15m_very_long_instance_name"
    result = build_portfolio(
        fills, 100_000.0, ["a", long_id], {SYMBOL: bars([100, 230])}, steps(2)
    )

    lines = summary_lines(result)
    # pnl = 10 * (223.5 - 100) - 3 = 1232; the curve only rises: no drawdown
    assert lines[0] == (
        "book a: equity 101,232.00 pnl +1,232.00 (+1.23%) max dd 0.00% sharpe - "
        "fees 3.00"
    )
    assert lines[1:] == [
        f"book {long_id}:",
        "  equity 100,000.00 pnl +0.00 (+0.00%) max dd 0.00% sharpe - fees 0.00",
    ]
    assert all(len(line) <= 80 for line in lines)
    narrow = summary_lines(result, width=60)
    assert narrow[:2] == [
        "book a:",
        "  equity 101,232.00 pnl +1,232.00 (+1.23%) max dd 0.00%",
    ]
    assert narrow[2] == "  sharpe - fees 3.00"
    assert all(len(line) <= 60 for line in narrow[1:])
