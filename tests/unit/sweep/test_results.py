"""A sweep's rows: the execution figures of the books a set trades in, the ranking
of the best sets, and the results table's types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stratagem._execution.portfolio import build_portfolio
from stratagem._records import Fill, Side
from stratagem._sweep.results import (
    METRICS,
    best_rows,
    book_figures,
    table_columns,
    table_rows,
    write_table,
)

MINUTE = 60_000_000_000
DAY = 1440 * MINUTE


def portfolio(books: list[str]) -> object:
    """Two days of steps; book ``a`` buys 1 at 10 and sells at 12, ``b`` buys 2 at
    10 and holds while the price falls to 9."""
    steps = np.arange(0, 3 * DAY, 60 * MINUTE, dtype=np.int64)
    closes = {
        "X": (steps, np.where(steps < DAY, 10.0, np.where(steps < 2 * DAY, 12.0, 9.0)))
    }
    fills = [
        Fill(0, "a", "X", Side.BUY, 1.0, 10.0, 0.1),
        Fill(0, "b", "X", Side.BUY, 2.0, 10.0, 0.0),
        Fill(DAY + 60 * MINUTE, "a", "X", Side.SELL, 1.0, 12.0, 0.1),
    ]
    fills = [f for f in fills if f.book in books]
    return build_portfolio(fills, 100.0, books, closes, steps)


def test_one_book_gives_its_own_figures() -> None:
    result = portfolio(["a"])
    figures = book_figures(result, ["a"])
    stats = result.stats["a"].as_dict()
    assert figures["pnl"] == stats["pnl"] == pytest.approx(2.0 - 0.2)
    assert figures["sharpe"] == stats["sharpe"]
    assert figures["max_drawdown_pct"] == stats["max_drawdown_pct"]
    assert not any("." in name for name in figures)


def test_the_swept_strategys_book_among_independent_books() -> None:
    result = portfolio(["a", "b"])
    figures = book_figures(result, ["b"])
    assert figures["pnl"] == result.stats["b"].pnl == -2.0
    assert figures["sharpe"] == result.stats["b"].sharpe


def test_several_swept_books_add_up_and_are_given_one_by_one() -> None:
    result = portfolio(["a", "b"])
    figures = book_figures(result, ["a", "b"])
    assert figures["pnl"] == result.stats["a"].pnl + result.stats["b"].pnl
    assert figures["return_pct"] == figures["pnl"] / 200.0 * 100.0
    assert figures["trades"] == 1
    assert figures["sharpe"] is None and figures["max_drawdown_pct"] is None
    assert figures["a.pnl"] == result.stats["a"].pnl
    assert figures["b.max_drawdown_pct"] == result.stats["b"].max_drawdown_pct


def test_the_best_sets_leave_out_failures_and_follow_the_metrics_order() -> None:
    rows = [
        {"set": 0, "status": "ok", "pnl": 1.0, "max_drawdown_pct": 5.0},
        {"set": 1, "status": "ok", "pnl": 3.0, "max_drawdown_pct": 9.0},
        {"set": 2, "status": "failed", "pnl": None, "max_drawdown_pct": None},
        {"set": 3, "status": "ok", "pnl": 3.0, "max_drawdown_pct": 1.0},
        {"set": 4, "status": "ok", "pnl": float("nan"), "max_drawdown_pct": 0.5},
    ]
    assert [r["set"] for r in best_rows(rows, METRICS["pnl"], 10)] == [1, 3, 0]
    assert [r["set"] for r in best_rows(rows, METRICS["max_drawdown_pct"], 2)] == [
        4,
        3,
    ]


def test_the_table_types_each_column(tmp_path: Path) -> None:
    rows = [
        {
            "set": 0,
            "params": {"s.p": 5, "s.q": 0.5, "s.i": "5m"},
            "status": "ok",
            "error": None,
            "signals": 7,
            "pnl": 1.5,
            "books": {},
        },
        {
            "set": 1,
            "params": {"s.p": 6, "s.q": 1.0, "s.i": "15m"},
            "status": "failed",
            "error": "RuntimeError: boom",
            "signals": None,
            "pnl": None,
            "books": {},
        },
    ]
    columns = table_columns(rows, ["s.p", "s.q", "s.i"], executes=True)
    write_table(tmp_path, table_rows(rows, columns), columns)
    table = pq.read_table(tmp_path / "results.parquet")
    types = {name: str(table.schema.field(name).type) for name in table.column_names}
    assert types["s.p"] == "int64" and types["s.q"] == "double"
    assert types["s.i"] == "string" and types["error"] == "string"
    assert types["signals"] == "int64" and types["sharpe"] == "double"
    assert table.column("error").to_pylist() == [None, "RuntimeError: boom"]
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0].startswith("set,s.p,s.q,s.i,status,error,signals,pnl")
    assert csv[1].startswith("0,5,0.5,5m,ok,,7,1.5")
