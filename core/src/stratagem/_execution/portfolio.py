"""Books, round trips, equity and statistics from a session's fills (DESIGN section
10), and the files a run writes for them.

:func:`build_portfolio` replays each book's fills through a :class:`Book`, marks
its positions to the last 1m close at every session step and summarises it;
:func:`write_execution_outputs` writes ``fills``, ``trades`` and ``equity`` (CSV
and Parquet) and ``portfolio.json``; :func:`summary_lines` is the console's view.
"""

from __future__ import annotations

import csv
import json
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.sources import iso_strings
from stratagem._data.timefmt import format_ts
from stratagem._records import Fill, Side

#: a quantity smaller than this is zero (what float subtraction leaves of a lot)
QTY_EPSILON = 1e-12
NS_PER_DAY = 1440 * NS_PER_MINUTE
#: days per year the Sharpe ratio is annualised with by default: crypto trades
#: every day (equities: 252)
DAYS_PER_YEAR = 365


def annualisation(days_per_year: int = DAYS_PER_YEAR) -> str:
    """The rule of ``sharpe``, as ``portfolio.json`` states it.

    :param days_per_year: the trading days per year the ratio is annualised with.
    """
    return (
        "sharpe = mean / standard deviation (ddof=1) of the daily returns of the "
        "book's equity at the last session step of each UTC day, times "
        f"sqrt({days_per_year}) ({days_per_year} trading days a year); null with "
        "fewer than 2 daily returns or a zero deviation"
    )


ANNUALISATION = annualisation()

FILL_COLUMNS = ("ts", "book", "symbol", "side", "qty", "price", "fee")
TRADE_COLUMNS = (
    "book",
    "symbol",
    "side",
    "qty",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "fees",
)
EQUITY_COLUMNS = ("ts", "book", "equity", "cash", "exposure")
_TIMESTAMP_COLUMNS = frozenset({"ts", "entry_ts", "exit_ts"})
_TEXT_COLUMNS = frozenset({"book", "symbol", "side"})


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip, matched FIFO.

    :param book: the book's id.
    :param symbol: the symbol traded.
    :param side: ``"long"`` (bought, then sold) or ``"short"``.
    :param qty: the quantity closed, positive.
    :param entry_ts: open time of the entry fill's bar, int64 ns (UTC).
    :param entry_price: the entry fill's price.
    :param exit_ts: open time of the exit fill's bar, int64 ns (UTC).
    :param exit_price: the exit fill's price.
    :param pnl: gross profit, before fees.
    :param fees: the shares of the entry and exit fills' fees for ``qty``.
    """

    book: str
    symbol: str
    side: str
    qty: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    fees: float


@dataclass(frozen=True, slots=True)
class OpenLot:
    """What is left open of one entry fill when the fills run out.

    :param book: the book's id.
    :param symbol: the symbol held.
    :param side: ``"long"`` or ``"short"``.
    :param qty: the quantity still open, positive.
    :param entry_ts: open time of the entry fill's bar, int64 ns (UTC).
    :param entry_price: the entry fill's price.
    :param fee: the share of the entry fill's fee for ``qty``.
    """

    book: str
    symbol: str
    side: str
    qty: float
    entry_ts: int
    entry_price: float
    fee: float

    def marked(self, price: float) -> float:
        """The gross profit of closing this lot at ``price``.

        :param price: the mark, usually the last 1m close.
        """
        move = price - self.entry_price
        return move * self.qty if self.side == "long" else -move * self.qty


@dataclass(slots=True)
class _Lot:
    sign: float
    qty: float
    ts: int
    price: float
    fee_per_unit: float


class Book:
    """The accounts of one book: cash, positions and FIFO round trips.

    Fills are applied one at a time, in the order they were made.

    :param book_id: the book's id (a strategy id, or ``"net"``).
    :param initial_cash: the cash the book starts with.
    """

    def __init__(self, book_id: str, initial_cash: float) -> None:
        self.book_id = book_id
        self.initial_cash = float(initial_cash)
        self.cash = float(initial_cash)
        self.fees = 0.0
        self.fill_count = 0
        self.trades: list[Trade] = []
        self._positions: dict[str, float] = {}
        self._lots: dict[str, deque[_Lot]] = {}

    @property
    def symbols(self) -> list[str]:
        """Every symbol this book has traded."""
        return list(self._positions)

    def position(self, symbol: str) -> float:
        """The signed quantity held of ``symbol`` (0.0 when flat).

        :param symbol: the symbol.
        """
        return self._positions.get(symbol, 0.0)

    def apply(self, fill: Fill) -> None:
        """Book one fill: cash, position, then lots closed and opened.

        :param fill: a fill of this book.
        :raises ValueError: for another book's fill or a quantity that is not
            positive.
        """
        if fill.book != self.book_id:
            raise ValueError(f"fill of book {fill.book!r} applied to {self.book_id!r}")
        if not fill.qty > 0:
            raise ValueError(f"fill quantity must be positive, got {fill.qty!r}")
        sign = 1.0 if fill.side == Side.BUY else -1.0
        self.cash -= sign * fill.qty * fill.price + fill.fee
        self.fees += fill.fee
        self.fill_count += 1
        position = self.position(fill.symbol) + sign * fill.qty
        self._positions[fill.symbol] = 0.0 if abs(position) < QTY_EPSILON else position
        self._match(fill, sign)

    def _match(self, fill: Fill, sign: float) -> None:
        # every lot in a queue has one sign: opposite lots are closed before any
        # remainder opens
        lots = self._lots.setdefault(fill.symbol, deque())
        fee_per_unit = fill.fee / fill.qty
        left = float(fill.qty)
        while left >= QTY_EPSILON and lots and lots[0].sign != sign:
            lot = lots[0]
            qty = min(left, lot.qty)
            move = fill.price - lot.price
            self.trades.append(
                Trade(
                    book=self.book_id,
                    symbol=fill.symbol,
                    side="long" if lot.sign > 0 else "short",
                    qty=qty,
                    entry_ts=lot.ts,
                    entry_price=lot.price,
                    exit_ts=fill.ts,
                    exit_price=fill.price,
                    pnl=move * qty * lot.sign,
                    fees=(lot.fee_per_unit + fee_per_unit) * qty,
                )
            )
            lot.qty -= qty
            left -= qty
            if lot.qty < QTY_EPSILON:
                lots.popleft()
        if left >= QTY_EPSILON:
            lots.append(_Lot(sign, left, fill.ts, fill.price, fee_per_unit))

    def open_lots(self) -> list[OpenLot]:
        """The lots still open, per symbol (sorted), oldest first."""
        return [
            OpenLot(
                book=self.book_id,
                symbol=symbol,
                side="long" if lot.sign > 0 else "short",
                qty=lot.qty,
                entry_ts=lot.ts,
                entry_price=lot.price,
                fee=lot.fee_per_unit * lot.qty,
            )
            for symbol in sorted(self._lots)
            for lot in self._lots[symbol]
        ]


@dataclass(frozen=True, slots=True)
class EquityRows:
    """A book's equity at the first step and at every step where it changed.

    :param ts: the step times, int64 ns (UTC).
    :param equity: cash plus positions marked to the last 1m close.
    :param cash: the cash.
    :param exposure: the sum of ``|position| * last close`` over symbols.
    """

    ts: np.ndarray
    equity: np.ndarray
    cash: np.ndarray
    exposure: np.ndarray


@dataclass(frozen=True, slots=True)
class BookStats:
    """One book's figures in ``portfolio.json``.

    :param initial_cash: the cash the book started with.
    :param final_equity: equity at the last step.
    :param pnl: ``final_equity - initial_cash``, fees included.
    :param return_pct: ``pnl`` in percent of ``initial_cash``.
    :param fees: the sum of the fills' fees.
    :param fills: the number of fills.
    :param trades: the number of closed round trips.
    :param win_rate: the share of trades whose ``pnl - fees`` is positive; None
        without trades.
    :param max_drawdown_pct: the largest fall from a peak of the equity over all
        steps, in percent of that peak.
    :param sharpe: see :data:`ANNUALISATION`; None when undefined.
    :param exposure_pct: the percentage of steps with a position in any symbol.
    """

    initial_cash: float
    final_equity: float
    pnl: float
    return_pct: float
    fees: float
    fills: int
    trades: int
    win_rate: float | None
    max_drawdown_pct: float
    sharpe: float | None
    exposure_pct: float

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON values (a non-finite float becomes None)."""
        body: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            body[item.name] = value
        return body


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """Everything execution reports for a session.

    :param books: every book id, in the caller's order.
    :param fills: the fills, as given.
    :param trades: the closed round trips, book by book, in closing order.
    :param open_lots: the lots still open at the end, book by book.
    :param equity: per book, its equity rows.
    :param stats: per book, its figures.
    :param cancelled: the orders cancelled at the end of the session, as given.
    :param annualisation: the Sharpe rule, as stated in ``portfolio.json``.
    """

    books: tuple[str, ...]
    fills: tuple[Fill, ...]
    trades: tuple[Trade, ...]
    open_lots: tuple[OpenLot, ...]
    equity: Mapping[str, EquityRows]
    stats: Mapping[str, BookStats]
    cancelled: tuple[Mapping[str, Any], ...] = ()
    annualisation: str = ANNUALISATION


def build_portfolio(
    fills: Sequence[Fill],
    initial_cash: float,
    books: Sequence[str],
    closes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    step_times: np.ndarray,
    cancelled: Sequence[Mapping[str, Any]] = (),
    bar_ns: int = NS_PER_MINUTE,
    days_per_year: int = DAYS_PER_YEAR,
) -> PortfolioResult:
    """Replay a session's fills into books, equity curves and statistics.

    A fill counts from the first step at or after the open of its bar; a position
    is marked to the close of the symbol's newest 1m bar closed by the step (to
    its fill price while none is).

    :param fills: every fill of the session, sorted by ``ts`` and then by the order
        they were made.
    :param initial_cash: the cash each book starts with, positive.
    :param books: every book id; a book without fills gets a flat curve.
    :param closes: per symbol, the open times (int64 ns) and close prices of its
        1m bars, sorted by time.
    :param step_times: the session's step times, int64 ns, sorted.
    :param cancelled: the orders cancelled at the end of the session, JSON-ready.
    :param bar_ns: width of the bars in ``closes`` (the session's base stream): a
        bar's close is known at its open time plus this.
    :param days_per_year: trading days a year, to annualise the Sharpe ratio.
    :raises ValueError: for a non-positive cash, an unknown or repeated book, fills
        out of order, a fill after the last step or a symbol without closes.
    """
    if not initial_cash > 0:
        raise ValueError(f"initial_cash must be positive, got {initial_cash!r}")
    ids = tuple(books)
    if len(set(ids)) != len(ids):
        raise ValueError(f"book ids repeat: {list(ids)}")
    steps = np.asarray(step_times, dtype=np.int64)
    if steps.ndim != 1 or bool(np.any(np.diff(steps) < 0)):
        raise ValueError("step_times must be a sorted one-dimensional array")
    by_book: dict[str, list[Fill]] = {book_id: [] for book_id in ids}
    for fill in fills:
        if fill.book not in by_book:
            raise ValueError(f"fill of unknown book {fill.book!r}; books: {list(ids)}")
        by_book[fill.book].append(fill)
    marks: dict[str, np.ndarray] = {}
    trades: list[Trade] = []
    open_lots: list[OpenLot] = []
    equity: dict[str, EquityRows] = {}
    stats: dict[str, BookStats] = {}
    for book_id in ids:
        book = Book(book_id, initial_cash)
        curve, cash, exposure, held = _replay(
            book, by_book[book_id], steps, closes, marks, bar_ns
        )
        trades.extend(book.trades)
        open_lots.extend(book.open_lots())
        equity[book_id] = _changed_rows(steps, curve, cash, exposure)
        stats[book_id] = _book_stats(book, steps, curve, held, days_per_year)
    return PortfolioResult(
        books=ids,
        fills=tuple(fills),
        trades=tuple(trades),
        open_lots=tuple(open_lots),
        equity=equity,
        stats=stats,
        cancelled=tuple(cancelled),
        annualisation=annualisation(days_per_year),
    )


def _replay(
    book: Book,
    fills: Sequence[Fill],
    steps: np.ndarray,
    closes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    marks: dict[str, np.ndarray],
    bar_ns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``fills`` to ``book``; its equity, cash, exposure and held flag per
    step."""
    fill_ts = np.fromiter((f.ts for f in fills), dtype=np.int64, count=len(fills))
    if bool(np.any(np.diff(fill_ts) < 0)):
        raise ValueError(f"fills of book {book.book_id!r} are not sorted by ts")
    if len(fills) and (not len(steps) or fill_ts[-1] > steps[-1]):
        last = format_ts(int(steps[-1])) if len(steps) else "none"
        raise ValueError(
            f"fill of book {book.book_id!r} at {format_ts(int(fill_ts[-1]))} comes "
            f"after the last step ({last})"
        )
    cash_after = np.empty(len(fills))
    # per symbol: fill ts, position after the fill, fill price
    levels: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for k, fill in enumerate(fills):
        book.apply(fill)
        cash_after[k] = book.cash
        ts, position, price = levels.setdefault(fill.symbol, ([], [], []))
        ts.append(fill.ts)
        position.append(book.position(fill.symbol))
        price.append(fill.price)
    applied = np.searchsorted(fill_ts, steps, side="right")
    cash = np.concatenate(([book.initial_cash], cash_after))[applied]
    equity = cash.copy()
    exposure = np.zeros(len(steps))
    held = np.zeros(len(steps), dtype=bool)
    for symbol in sorted(levels):
        ts, position_after, price_after = levels[symbol]
        applied = np.searchsorted(np.asarray(ts, dtype=np.int64), steps, side="right")
        position = np.concatenate(([0.0], position_after))[applied]
        fill_price = np.concatenate(([np.nan], price_after))[applied]
        if symbol not in marks:
            marks[symbol] = _last_closes(symbol, closes, steps, bar_ns)
        mark = np.where(np.isnan(marks[symbol]), fill_price, marks[symbol])
        value = np.where(position != 0.0, position * mark, 0.0)
        equity += value
        exposure += np.abs(value)
        held |= position != 0.0
    return equity, cash, exposure, held


def _last_closes(
    symbol: str,
    closes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    steps: np.ndarray,
    bar_ns: int,
) -> np.ndarray:
    """The close of the symbol's newest bar closed by each step (NaN before)."""
    if symbol not in closes:
        raise ValueError(f"no closes given for traded symbol {symbol!r}")
    opens, prices = closes[symbol]
    close_times = np.asarray(opens, dtype=np.int64) + bar_ns
    prices = np.asarray(prices, dtype=np.float64)
    newest = np.searchsorted(close_times, steps, side="right") - 1
    if not len(prices):
        return np.full(len(steps), np.nan)
    return np.where(newest >= 0, prices[np.maximum(newest, 0)], np.nan)


def _changed_rows(
    steps: np.ndarray, equity: np.ndarray, cash: np.ndarray, exposure: np.ndarray
) -> EquityRows:
    keep = np.ones(len(steps), dtype=bool)
    keep[1:] = (
        (equity[1:] != equity[:-1])
        | (cash[1:] != cash[:-1])
        | (exposure[1:] != exposure[:-1])
    )
    return EquityRows(
        ts=steps[keep], equity=equity[keep], cash=cash[keep], exposure=exposure[keep]
    )


def _book_stats(
    book: Book,
    steps: np.ndarray,
    equity: np.ndarray,
    held: np.ndarray,
    days_per_year: int,
) -> BookStats:
    final = float(equity[-1]) if len(equity) else book.initial_cash
    pnl = final - book.initial_cash
    trades = book.trades
    wins = sum(1 for t in trades if t.pnl - t.fees > 0)
    return BookStats(
        initial_cash=book.initial_cash,
        final_equity=final,
        pnl=pnl,
        return_pct=pnl / book.initial_cash * 100.0,
        fees=book.fees,
        fills=book.fill_count,
        trades=len(trades),
        win_rate=wins / len(trades) if trades else None,
        max_drawdown_pct=max_drawdown_pct(equity),
        sharpe=daily_sharpe(steps, equity, days_per_year),
        exposure_pct=float(held.mean() * 100.0) if len(held) else 0.0,
    )


def max_drawdown_pct(equity: np.ndarray) -> float:
    """The largest fall from a running peak, in percent of that peak (>= 0).

    :param equity: an equity curve, one value per step.
    """
    fall = drawdown_pct(equity)
    return float(fall.max()) if len(fall) else 0.0


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """At each step, the fall from the running peak, in percent of that peak (>= 0;
    0 where the peak is not positive).

    :param equity: an equity curve, one value per step.
    """
    values = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(values) if len(values) else values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (peak - values) / peak, 0.0) * 100.0


def daily_sharpe(
    step_times: np.ndarray, equity: np.ndarray, days_per_year: int = DAYS_PER_YEAR
) -> float | None:
    """The annualised Sharpe ratio of :func:`annualisation`.

    :param step_times: the step times, int64 ns, sorted.
    :param equity: the equity at each step.
    :param days_per_year: trading days a year.
    :returns: the ratio, or None with fewer than 2 daily returns or no deviation.
    """
    steps = np.asarray(step_times, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    if len(values) < 3:
        return None
    day = steps // NS_PER_DAY
    last_of_day = np.append(np.flatnonzero(np.diff(day)), len(values) - 1)
    closing = values[last_of_day]
    if len(closing) < 3:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = closing[1:] / closing[:-1] - 1.0
        deviation = float(returns.std(ddof=1))
        if not (deviation > 0 and math.isfinite(deviation)):
            return None
        ratio = float(returns.mean()) / deviation * math.sqrt(days_per_year)
    return ratio if math.isfinite(ratio) else None


def write_execution_outputs(folder: Path, result: PortfolioResult) -> None:
    """Write ``fills``, ``trades`` and ``equity`` as ``.csv`` and ``.parquet``, and
    ``portfolio.json`` (atomically), into ``folder``.

    :param folder: the run folder (created when needed).
    :param result: what :func:`build_portfolio` returned.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fills = result.fills
    _write_table(
        folder / "fills",
        {
            "ts": [f.ts for f in fills],
            "book": [f.book for f in fills],
            "symbol": [f.symbol for f in fills],
            "side": [str(f.side) for f in fills],
            "qty": [f.qty for f in fills],
            "price": [f.price for f in fills],
            "fee": [f.fee for f in fills],
        },
    )
    _write_table(
        folder / "trades",
        {name: [getattr(t, name) for t in result.trades] for name in TRADE_COLUMNS},
    )
    rows = [result.equity[book_id] for book_id in result.books]
    _write_table(
        folder / "equity",
        {
            "ts": np.concatenate([r.ts for r in rows] or [np.empty(0, np.int64)]),
            "book": [b for b, r in zip(result.books, rows, strict=True) for _ in r.ts],
            "equity": np.concatenate([r.equity for r in rows] or [np.empty(0)]),
            "cash": np.concatenate([r.cash for r in rows] or [np.empty(0)]),
            "exposure": np.concatenate([r.exposure for r in rows] or [np.empty(0)]),
        },
    )
    body = {
        "annualisation": result.annualisation,
        "books": {b: result.stats[b].as_dict() for b in result.books},
        "cancelled": [dict(order) for order in result.cancelled],
    }
    target = folder / "portfolio.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(target)


def _write_table(stem: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """``<stem>.csv`` and ``<stem>.parquet`` with the same columns and rows."""
    # imported here: a run without execution never loads pyarrow
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        if name in _TIMESTAMP_COLUMNS:
            arrays[name] = pa.array(values, type=pa.int64()).cast(
                pa.timestamp("ns", tz="UTC")
            )
        elif name in _TEXT_COLUMNS:
            arrays[name] = pa.array(values, type=pa.string())
        else:
            arrays[name] = pa.array(values, type=pa.float64())
    pq.write_table(pa.table(arrays), stem.with_suffix(".parquet"))
    cells = [
        iso_strings(np.asarray(values, dtype=np.int64)).to_pylist()
        if name in _TIMESTAMP_COLUMNS
        else [str(v) for v in values]
        if name in _TEXT_COLUMNS
        else [repr(float(v)) for v in values]
        for name, values in columns.items()
    ]
    with stem.with_suffix(".csv").open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*cells, strict=True))


def summary_lines(result: PortfolioResult, width: int = 80) -> list[str]:
    """The end-of-run view: per book, equity, pnl, drawdown, Sharpe and fees.

    A book is one line when it fits ``width``; otherwise its id (never cut) stands
    alone, its figures on indented lines below.

    :param result: what :func:`build_portfolio` returned.
    :param width: the columns a line may take.
    :returns: the lines, without newlines.
    """
    lines: list[str] = []
    for book_id in result.books:
        s = result.stats[book_id]
        figures = [
            f"equity {s.final_equity:,.2f}",
            f"pnl {s.pnl:+,.2f} ({s.return_pct:+.2f}%)",
            f"max dd {s.max_drawdown_pct:.2f}%",
            "sharpe -" if s.sharpe is None else f"sharpe {s.sharpe:.2f}",
            f"fees {s.fees:,.2f}",
        ]
        head = f"book {book_id}:"
        line = " ".join([head, *figures])
        if len(line) <= width:
            lines.append(line)
            continue
        lines.append(head)
        line = ""
        for figure in figures:
            if line and len(line) + 1 + len(figure) > width:
                lines.append(line)
                line = ""
            line = f"{line} {figure}" if line else f"  {figure}"
        lines.append(line)
    return lines
