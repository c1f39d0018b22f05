"""A sweep's records: one row per parameter set, the journal, the results table and
the ranking.

Each finished set is appended to ``sets.jsonl`` as it comes in (what ``--resume``
reads); ``results.parquet`` and ``results.csv`` are written from those rows: the
set's index, one column per swept parameter (``<strategy id>.<param>``), ``status``
and ``error``, ``signals``, and the execution figures when the config executes.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratagem._execution.portfolio import PortfolioResult

JOURNAL = "sets.jsonl"
RESULTS = "results"  # .parquet and .csv
MANIFEST = "sweep.json"

OK = "ok"
FAILED = "failed"

#: figures of the book(s) a set trades in, when the config executes
EXECUTION_FIGURES = (
    "pnl",
    "return_pct",
    "sharpe",
    "max_drawdown_pct",
    "trades",
    "fees",
    "win_rate",
)
#: figures per book, as ``<book>.<figure>`` columns, when a set trades in several
PER_BOOK_FIGURES = ("pnl", "sharpe", "max_drawdown_pct")
_INTEGER_FIGURES = frozenset({"signals", "trades", "bars_in"})
_TEXT_COLUMNS = frozenset({"status", "error", "session_status", "worker"})


@dataclass(frozen=True)
class Metric:
    """A figure the best sets are ranked by.

    :param name: the column.
    :param higher_is_better: the order of the ranking.
    :param needs_execution: only a config with an ``execution`` block has it.
    """

    name: str
    higher_is_better: bool
    needs_execution: bool


METRICS: dict[str, Metric] = {
    "signals": Metric("signals", True, False),
    "pnl": Metric("pnl", True, True),
    "return_pct": Metric("return_pct", True, True),
    "sharpe": Metric("sharpe", True, True),
    "max_drawdown_pct": Metric("max_drawdown_pct", False, True),
    "trades": Metric("trades", True, True),
    "fees": Metric("fees", False, True),
    "win_rate": Metric("win_rate", True, True),
}


def book_figures(
    portfolio: PortfolioResult, swept: Sequence[str]
) -> dict[str, float | int | None]:
    """A set's execution figures, from the books it trades in.

    One book (a ``net`` book, or a single strategy): that book's figures, as
    ``portfolio.json`` has them. Several ``independent`` books: those of the swept
    strategies (every book when none is swept); ``pnl``, ``trades`` and ``fees``
    add up, ``return_pct`` is on their summed cash, and ``sharpe``,
    ``max_drawdown_pct`` and ``win_rate`` are left empty at the top, given per
    book as ``<book>.pnl``, ``<book>.sharpe`` and ``<book>.max_drawdown_pct``.

    :param portfolio: the session's portfolio.
    :param swept: the ids of the strategies the grid sweeps.
    """
    books = [b for b in portfolio.books if b in swept] or list(portfolio.books)
    if len(portfolio.books) == 1:
        books = list(portfolio.books)
    stats = [portfolio.stats[b].as_dict() for b in books]
    if len(stats) == 1:
        return {name: stats[0][name] for name in EXECUTION_FIGURES}
    cash = sum(s["initial_cash"] for s in stats)
    pnl = sum(s["pnl"] for s in stats)
    figures: dict[str, float | int | None] = {
        "pnl": pnl,
        "return_pct": pnl / cash * 100.0 if cash else None,
        "sharpe": None,
        "max_drawdown_pct": None,
        "trades": sum(s["trades"] for s in stats),
        "fees": sum(s["fees"] for s in stats),
        "win_rate": None,
    }
    for book, body in zip(books, stats, strict=True):
        for name in PER_BOOK_FIGURES:
            figures[f"{book}.{name}"] = body[name]
    return figures


# --- the journal ----------------------------------------------------------------------


def append_journal(folder: Path, row: Mapping[str, Any]) -> None:
    """Append one finished set to the journal (flushed, so a crash keeps it).

    :param folder: the sweep's output folder.
    :param row: the set's row (see :meth:`SetResult.row`).
    """
    with (folder / JOURNAL).open("a") as stream:
        stream.write(json.dumps(dict(row), default=_json_value) + "\n")
        stream.flush()


def read_journal(folder: Path) -> dict[str, dict[str, Any]]:
    """The sets an earlier sweep in ``folder`` finished, by parameter-set key (the
    last line of a set wins; a torn last line, from a crash, is ignored).

    :param folder: the sweep's output folder.
    """
    path = folder / JOURNAL
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("key"), str):
            rows[row["key"]] = row
    return rows


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return str(value)


# --- the table ------------------------------------------------------------------------


def table_columns(
    rows: Iterable[Mapping[str, Any]], params: Sequence[str], executes: bool
) -> list[str]:
    """The results table's columns, in order.

    :param rows: the rows (per-book columns appear when a row has them).
    :param params: the swept parameters' columns, in axis order.
    :param executes: whether the config has an execution block.
    """
    columns = ["set", *params, "status", "error", "signals"]
    if executes:
        columns += EXECUTION_FIGURES
        extra: list[str] = []
        for row in rows:
            for name in row.get("books", {}):
                if name not in extra:
                    extra.append(name)
        columns += extra
    return [*columns, "bars_in", "wall_s", "cpu_s", "session_status", "worker"]


def table_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The rows flattened into the table's columns, ordered by set index.

    :param rows: journal rows.
    :param columns: from :func:`table_columns`.
    """
    flat = []
    for row in sorted(rows, key=lambda r: r["set"]):
        merged = {**row, **row.get("params", {}), **row.get("books", {})}
        flat.append({name: merged.get(name) for name in columns})
    return flat


def write_table(
    folder: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """Write ``results.parquet`` and ``results.csv`` (each atomically).

    :param folder: the sweep's output folder.
    :param rows: flat rows from :func:`table_rows`.
    :param columns: the columns, in order.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {name: _column([row[name] for row in rows], name) for name in columns}
    table = pa.table(arrays)
    target = folder / f"{RESULTS}.parquet"
    tmp = target.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(target)
    target = folder / f"{RESULTS}.csv"
    tmp = target.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[name]) for name in columns])
    tmp.replace(target)


def _column(values: list[Any], name: str) -> Any:
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if name in _INTEGER_FIGURES or name == "set":
        return pa.array(values, type=pa.int64())
    if name in _TEXT_COLUMNS:
        return pa.array(values, type=pa.string())
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.int64())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array(
            [None if v is None else float(v) for v in values], type=pa.float64()
        )
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


# --- the ranking ----------------------------------------------------------------------


def best_rows(
    rows: Iterable[Mapping[str, Any]], metric: Metric, top: int
) -> list[Mapping[str, Any]]:
    """The ``top`` finished sets by ``metric`` (sets without a value are left out;
    ties keep grid order).

    :param rows: journal rows.
    :param metric: what to rank by.
    :param top: how many to keep.
    """
    ranked = [
        row for row in rows if row.get("status") == OK and _number(row.get(metric.name))
    ]
    sign = -1.0 if metric.higher_is_better else 1.0
    ranked.sort(key=lambda row: (sign * float(row[metric.name]), row["set"]))
    return ranked[:top]


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
