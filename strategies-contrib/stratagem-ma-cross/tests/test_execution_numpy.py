"""Stratagem's fills and books against a small re-implementation of DESIGN 10.

The reference below shares no code with stratagem's execution (manager, broker,
portfolio): it reads the 1m CSV files itself and applies the rules as DESIGN 10
words them, with plain numpy and Python. Only the *signals* come from the stratagem
run (``result.signals``: strategy, symbol, bar_ts, side), since what is checked is
what execution makes of them.

Data (see :data:`SCENARIOS`): five Bittrex ``*_BTC`` pairs over the same two days,
two of them almost complete (ETH, LTC) and three with many 1-5 minute holes (DASH,
POWR, XMR), so fills wait for the next bar that exists; and DASH_BTC alone over the
ten days all pairs share, where a 5m bar whose last minute is missing is decided
later than its end (no other symbol makes a step then). Two ``ma_cross`` instances,
``fast`` (SMA 10/20) and ``slow`` (SMA 5/30) on 5m bars, ``long_only``,
``fixed_notional`` 1000, ``slippage_bps`` 5, fee 0.1 %, with ``independent`` books,
then ``net``.

The rules, as implemented by :func:`reference`:

- **Steps**: every distinct 1m close time (open + 1 min) over all loaded symbols.
- **Decision** of a signal on 5m bar ``[T, T+5m)``: the first step ``>= T + 5m``
  (``T + 5m`` itself unless no symbol has a bar closing then).
- **Size**: ``1000 / close`` of the symbol's newest 1m bar whose close time is
  ``<= decision``; no such bar: no order (the signal is skipped).
- **Target**: buy -> +size, sell -> 0 (long_only). Net books: the sum of the targets
  of all strategies on the symbol. **Order** = target - position, none when zero.
- **Fill**: at the open of the symbol's first 1m bar opening ``>= decision``; buys pay
  ``open * (1 + 5e-4)``, sells get ``open * (1 - 5e-4)``; fee ``0.001 * qty *
  price``. A newer order of the same book and symbol decided at or before that fill
  bar's open replaces the pending one (the last one wins; "at" happens when both
  strategies of a net book signal at the same step); the position an order starts
  from holds every fill whose bar opened before its decision.
- **End**: orders whose fill bar does not exist are cancelled.
- **Equity** = cash + sum(position * last 1m close of the symbol).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stratagem.testing import load_bars, run_strategy
from stratagem_ma_cross import MACross, MACrossConfig

SYMBOLS = ["ETH_BTC", "LTC_BTC", "DASH_BTC", "POWR_BTC", "XMR_BTC"]
START = "2018-01-20T05:00:00Z"
END = "2018-01-22T05:00:00Z"  # exclusive: two days
MINUTE = 60_000_000_000
FIVE_MINUTES = 5 * MINUTE
INITIAL_CASH = 100_000.0
FEE_RATE = 0.001
SLIPPAGE_BPS = 5
NOTIONAL = 1000.0
STRATEGIES = {"fast": (10, 20), "slow": (5, 30)}
REL = 1e-9
CENT = 0.005


def ns(text: str) -> int:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def iso(t: int) -> str:
    return datetime.fromtimestamp(t // 1_000_000_000, UTC).strftime("%m-%dT%H:%MZ")


@dataclass
class Minute:
    """One symbol's 1m bars in the window: open times (ns), opens, closes."""

    ts: np.ndarray
    open: np.ndarray
    close: np.ndarray
    rows: tuple[int, int]  # [first, last) row of the file


def read_minutes(path: Path, start: int, end: int) -> Minute:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["timestamp", "open", "high", "low", "close", "volume"]
        table = [(ns(r[0]), float(r[1]), float(r[4])) for r in reader]
    ts = np.array([r[0] for r in table], dtype=np.int64)
    lo, hi = np.searchsorted(ts, [start, end])
    return Minute(
        ts[lo:hi],
        np.array([r[1] for r in table[lo:hi]]),
        np.array([r[2] for r in table[lo:hi]]),
        (int(lo), int(hi)),
    )


@dataclass(frozen=True)
class RefFill:
    ts: int
    book: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    decision: int


def reference(
    signals: list[Any], bars: dict[str, Minute], net: bool
) -> tuple[list[RefFill], dict[str, float], list[tuple[str, str, int]], list[int]]:
    """DESIGN 10 applied to ``signals``.

    :returns: the fills, the final equity per book, the cancelled orders
        ``(book, symbol, decision)`` and the decision time of every signal (in the
        order of ``signals``).
    """
    steps = np.unique(np.concatenate([m.ts + MINUTE for m in bars.values()]))
    slip = SLIPPAGE_BPS / 10_000
    books = ["net"] if net else list(STRATEGIES)
    cash = dict.fromkeys(books, INITIAL_CASH)
    position: dict[tuple[str, str], float] = {}
    targets: dict[tuple[str, str], float] = {}
    pending: dict[tuple[str, str], tuple[float, int]] = {}  # qty signed, decision
    fills: list[RefFill] = []

    def fill_row(symbol: str, decision: int) -> int | None:
        row = int(np.searchsorted(bars[symbol].ts, decision, side="left"))
        return row if row < len(bars[symbol].ts) else None

    def settle(before: int | None) -> None:
        """Fill every pending order whose fill bar opens before ``before``."""
        due = []
        for (book, symbol), (_qty, decision) in pending.items():
            row = fill_row(symbol, decision)
            if row is not None and (before is None or bars[symbol].ts[row] < before):
                due.append((int(bars[symbol].ts[row]), book, symbol, row))
        for ts, book, symbol, row in sorted(due):
            qty, decision = pending.pop((book, symbol))
            buy = qty > 0
            price = float(bars[symbol].open[row]) * (1 + slip if buy else 1 - slip)
            fee = FEE_RATE * abs(qty) * price
            cash[book] -= qty * price + fee
            position[(book, symbol)] = position.get((book, symbol), 0.0) + qty
            side = "buy" if buy else "sell"
            fills.append(
                RefFill(ts, book, symbol, side, abs(qty), price, fee, decision)
            )

    order_of = {sid: i for i, sid in enumerate(STRATEGIES)}
    decisions = []
    for s in signals:
        assert s.interval == "5m"
        at = int(np.searchsorted(steps, s.bar_ts + FIVE_MINUTES, side="left"))
        assert at < len(steps), f"signal on the last bar {iso(s.bar_ts)} had no step"
        decisions.append(int(steps[at]))
    events = sorted(
        zip(decisions, [order_of[s.strategy] for s in signals], signals, strict=True),
        key=lambda e: (e[0], e[1], e[2].symbol),
    )

    for decision, _, s in events:
        symbol = s.symbol
        settle(decision)
        book = "net" if net else s.strategy
        if str(s.side) == "sell":
            target = 0.0
        else:
            m = bars[symbol]
            seen = int(np.searchsorted(m.ts + MINUTE, decision, side="right"))
            if seen == 0:
                continue  # no price to size the order: skipped
            target = NOTIONAL / float(m.close[seen - 1])
        targets[(s.strategy, symbol)] = target
        total = (
            sum(q for (_, sym), q in targets.items() if sym == symbol)
            if net
            else target
        )
        qty = total - position.get((book, symbol), 0.0)
        if abs(qty) < 1e-12:
            pending.pop((book, symbol), None)
        else:
            pending[(book, symbol)] = (qty, decision)
    settle(None)
    cancelled = sorted((b, sym, d) for (b, sym), (_, d) in pending.items())

    equity = {}
    for book in books:
        value = cash[book]
        for (b, symbol), qty in position.items():
            if b == book:
                value += qty * float(bars[symbol].close[-1])
        equity[book] = value
    return fills, equity, cancelled, decisions


def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b))


def fill_diff(ours: list[Any], ref: list[RefFill]) -> list[str]:
    """One line per differing fill (up to 20): stratagem, then the reference."""

    def show(f: Any) -> str:
        if f is None:
            return "-"
        return (
            f"{iso(f.ts)} {f.book}/{f.symbol} {str(f.side):<4} qty={f.qty:.10g} "
            f"price={f.price:.10g} fee={f.fee:.6g} decision="
            f"{iso(getattr(f, 'decision_ns', getattr(f, 'decision', 0)))}"
        )

    lines = []
    for i in range(max(len(ours), len(ref))):
        a = ours[i] if i < len(ours) else None
        b = ref[i] if i < len(ref) else None
        same = (
            a is not None
            and b is not None
            and (a.ts, a.book, a.symbol, str(a.side), a.decision_ns)
            == (b.ts, b.book, b.symbol, b.side, b.decision)
            and close(a.qty, b.qty)
            and close(a.price, b.price)
            and close(a.fee, b.fee)
        )
        if not same:
            lines.append(f"fill {i}:\n  stratagem {show(a)}\n  reference {show(b)}")
    if len(lines) > 20:
        lines = [*lines[:20], f"... and {len(lines) - 20} more"]
    return lines


#: name -> (symbols, start, end): five pairs over two days, where some symbol
#: always trades in the minute before a 5m boundary (every decision is ``T + 5m``),
#: and one gappy pair alone over the whole overlap, where a 5m bar whose last
#: minutes are missing is decided at the next 1m close that exists, later than
#: ``T + 5m``, and where an order can be decided the minute after an earlier
#: order's fill bar opened
SCENARIOS = {
    "five-pairs-2d": (SYMBOLS, START, END),
    "dash-10d": (["DASH_BTC"], "2018-01-20T05:00:00Z", "2018-01-30T04:00:00Z"),
}


@pytest.mark.slow
@pytest.mark.parametrize("books", ["independent", "net"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_fills_match_a_numpy_reimplementation(
    shared_data: Path, scenario: str, books: str
) -> None:
    symbols, start, end = SCENARIOS[scenario]
    root = shared_data / "bars" / "1m"
    minutes = {s: read_minutes(root / f"{s}.csv", ns(start), ns(end)) for s in symbols}
    bars = {}
    for symbol, m in minutes.items():
        loaded = load_bars(root / f"{symbol}.csv").slice(*m.rows)
        assert np.array_equal(loaded.ts, m.ts)
        bars[symbol] = loaded
    outcome = run_strategy(
        [
            (
                sid,
                MACross,
                MACrossConfig(
                    symbols=symbols,
                    interval="5m",
                    fast_period=fast,
                    slow_period=slow,
                    min_quality=0.0,
                ),
            )
            for sid, (fast, slow) in STRATEGIES.items()
        ],
        bars=bars,
        derived_intervals=(5,),
        execution={
            "initial_cash": INITIAL_CASH,
            "fee_rate": FEE_RATE,
            "slippage_bps": SLIPPAGE_BPS,
            "books": books,
        },
        trading={
            sid: {
                "sizing": {"kind": "fixed_notional", "notional": NOTIONAL},
                "direction": "long_only",
            }
            for sid in STRATEGIES
        },
    )
    assert outcome.failures == []
    assert outcome.session is not None
    desk = outcome.portfolio  # fills, cancelled orders and statistics per book
    assert desk is not None

    ref, ref_equity, ref_cancelled, decisions = reference(
        outcome.signals, minutes, books == "net"
    )
    key = lambda f: (f.ts, f.book, f.symbol)  # noqa: E731
    ours = sorted(desk.fills, key=key)
    ref = sorted(ref, key=key)

    # the data exercises what it should
    assert {s.strategy for s in outcome.signals} == set(STRATEGIES)
    assert len(ref) > 100
    assert {f.symbol for f in ref} == set(symbols)
    late = [
        (s, d)
        for s, d in zip(outcome.signals, decisions, strict=True)
        if d != s.bar_ts + FIVE_MINUTES
    ]
    gap_fills = [f for f in ref if f.ts > f.decision]
    assert gap_fills, "no fill waited for a missing minute; the data changed?"
    if len(symbols) == 1:
        assert late, "no 5m bar was decided after T + 5m; the data changed?"
        # an order decided the minute after the previous one's fill bar opened:
        # that fill stands (its bar opened before the decision), the new order
        # starts from it
        per_book: dict[tuple[str, str], list[RefFill]] = {}
        for f in ref:
            per_book.setdefault((f.book, f.symbol), []).append(f)
        chained = [
            (a, b)
            for fills in per_book.values()
            for a, b in zip(fills, fills[1:], strict=False)
            if b.decision == a.ts + MINUTE
        ]
        assert chained, "no order decided right after a fill bar; the data changed?"

    diff = fill_diff(ours, ref)
    assert not diff, (
        f"{scenario}, {books} books: {len(ours)} stratagem fills vs {len(ref)} in "
        f"the reference ({len(late)} decisions after bar end + 5m, "
        f"{len(gap_fills)} fills after a gap); differences:\n" + "\n".join(diff)
    )

    theirs_cancelled = sorted(
        (c["book"], c["symbol"], ns(c["decision"])) for c in desk.cancelled
    )
    assert theirs_cancelled == ref_cancelled

    for book, expected in ref_equity.items():
        # final equity: cash plus positions marked at each symbol's last 1m close
        value = desk.stats[book].final_equity
        assert abs(value - expected) < CENT, (
            f"book {book}: final equity stratagem {value:.6f} vs reference "
            f"{expected:.6f}"
        )
