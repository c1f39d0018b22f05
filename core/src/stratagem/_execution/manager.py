"""ExecutionManager: signals to orders to fills, in the session thread (DESIGN 10).

It never runs in a strategy thread. Each step it takes the new signals of the
strategies that trade, turns each into a target and an order (``target -
position``; a newer signal of the same book and symbol replaces an order not yet
filled), asks the broker for the fills of pending orders, and hands each fill to the
strategies of its book before their next ``on_bars``.

**Decision time.** Data-driven: the session time of the step at which the signal
was emitted, which is the first step at or after the close of the bar it was
computed on (the step that published that bar). Clock-driven and live: the step at
which the signal reached this manager (it polls the strategies' signals before every
step), so a strategy that lags behind the clock trades later, as it would live.

**When a fill is known.** The paper broker fills at the open of the first base bar
(1m, or the session's base stream) of
the symbol opening at or after the decision time; that bar's data is published when
it closes, one minute later. Strategies hear the fill at that step, before its
notifications; cash and positions change then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stratagem._data.intervals import NS_PER_MINUTE, interval_ns
from stratagem._data.timefmt import format_ts
from stratagem._data.timeline import visible_count
from stratagem._execution.portfolio import (
    QTY_EPSILON,
    Book,
    PortfolioResult,
    build_portfolio,
)
from stratagem._plugins.failures import FailureLedger, PluginRef
from stratagem._records import (
    BookMode,
    Direction,
    ErrorPolicy,
    Fill,
    Order,
    Side,
    Signal,
    SizingKind,
)
from stratagem._runlog import located

if TYPE_CHECKING:
    from stratagem._config.models import ExecutionConfig, StrategyExecutionConfig
    from stratagem._data.session_data import SessionData
    from stratagem._protocols import Broker

log = logging.getLogger("stratagem.execution")

NET_BOOK = "net"
_EPS = QTY_EPSILON


@dataclass(slots=True)
class _Pending:
    """An order not yet delivered; ``fill`` once the broker filled it."""

    order: Order
    fill: Fill | None = None
    bar_ns: int = NS_PER_MINUTE

    @property
    def due_ns(self) -> int:
        """When strategies hear the fill: the fill bar's close (its publication)."""
        assert self.fill is not None
        return self.fill.ts + self.bar_ns


class ExecutionManager:
    """Books, orders and fills of one session; used by the session thread only.

    :param config: the session's validated ``execution`` block.
    :param strategies: per trading strategy id (config order), its ``execution``
        entry; strategies without one only emit signals.
    :param broker: the broker the config names.
    :param broker_ref: the broker as the failure policy names it.
    :param data: the session's bars (the base series give prices and fill bars).
    :param ledger: the session's failure ledger.
    :param base_interval: the session's base stream: its bars give prices and fill
        bars (``"1m"`` by default).
    """

    def __init__(
        self,
        config: ExecutionConfig,
        strategies: Mapping[str, StrategyExecutionConfig],
        broker: Broker,
        broker_ref: PluginRef,
        data: SessionData,
        ledger: FailureLedger,
        base_interval: str = "1m",
    ) -> None:
        self.config = config
        self.trading = dict(strategies)
        self.net = config.books is BookMode.NET
        self.books = [NET_BOOK] if self.net else list(self.trading)
        self.broker: Broker | None = broker
        self.broker_ref = broker_ref
        self.data = data
        self.ledger = ledger
        self.base_interval = base_interval
        self.base_ns = interval_ns(base_interval)
        #: the accounts (cash, positions, round trips) of every book, kept by the
        #: same rules the portfolio is built with
        self.accounts = {book: Book(book, config.initial_cash) for book in self.books}
        #: net books: each strategy's current target per symbol
        self.targets: dict[tuple[str, str], float] = {}
        self.pending: dict[tuple[str, str], _Pending] = {}
        #: fills in the order they reached the books
        self.fills: list[Fill] = []
        self.cancelled: list[dict[str, Any]] = []
        self._consumed: dict[str, int] = {sid: 0 for sid in self.trading}
        self._broker_down = ""

    # --- who trades where ---------------------------------------------------------

    def book_of(self, strategy_id: str) -> str:
        return NET_BOOK if self.net else strategy_id

    def hears(self, strategy_id: str, fill: Fill) -> bool:
        """Whether a strategy hears a fill: every strategy of the fill's book."""
        return strategy_id in self.trading and self.book_of(strategy_id) == fill.book

    # --- signals to orders --------------------------------------------------------

    def take_signals(
        self,
        strategy_id: str,
        emitted: Sequence[tuple[tuple[int, int], Signal]],
        decision_ns: int | None = None,
    ) -> None:
        """Turn a strategy's signals not seen yet into orders.

        :param strategy_id: the emitting strategy.
        :param emitted: its whole signal list, ``((session time, kind), signal)``
            in emission order; only the part after what was taken before is read.
        :param decision_ns: clock-driven and live: the step at which the signals
            reach this manager; data-driven: None (each signal's emission step).
        """
        start = self._consumed.get(strategy_id)
        if start is None:
            return  # not trading
        new = emitted[start:]
        self._consumed[strategy_id] = start + len(new)
        for (when, _kind), signal in new:
            self._order(
                strategy_id, signal, when if decision_ns is None else decision_ns
            )

    def _order(self, strategy_id: str, signal: Signal, decision_ns: int) -> None:
        book = self.book_of(strategy_id)
        symbol = signal.symbol
        target = self._target(strategy_id, book, signal, decision_ns)
        if target is None:
            return
        if self.net:
            self.targets[(strategy_id, symbol)] = target
            total = sum(q for (_, s), q in self.targets.items() if s == symbol)
            who = tuple(
                sid for (sid, s), q in self.targets.items() if s == symbol and q != 0
            ) or (strategy_id,)
        else:
            total, who = target, (strategy_id,)
        qty = total - self.accounts[book].position(symbol)
        key = (book, symbol)
        if abs(qty) < _EPS:
            self.pending.pop(key, None)  # already there: a pending order is moot
            return
        # the last signal before the fill bar wins
        self.pending[key] = _Pending(Order(book, symbol, qty, decision_ns, who))

    def _target(
        self, strategy_id: str, book: str, signal: Signal, decision_ns: int
    ) -> float | None:
        entry = self.trading[strategy_id]
        if signal.side is Side.SELL and entry.direction is Direction.LONG_ONLY:
            return 0.0
        sizing = entry.sizing
        if sizing.kind is SizingKind.FIXED_QTY:
            size = float(sizing.qty or 0.0)
        else:
            close = self.last_close(signal.symbol, decision_ns)
            if close is None:
                log.warning(
                    "strategy %s: no %s price at %s to size its %s order; skipped",
                    strategy_id,
                    signal.symbol,
                    format_ts(decision_ns),
                    signal.side,
                    extra=located(
                        strategy=strategy_id,
                        symbol=signal.symbol,
                        bar_ts=format_ts(signal.bar_ts),
                    ),
                )
                return None
            if sizing.kind is SizingKind.FIXED_NOTIONAL:
                size = float(sizing.notional or 0.0) / close
            else:
                equity = self.equity(book, decision_ns)
                size = float(sizing.percent or 0.0) / 100.0 * equity / close
        return size if signal.side is Side.BUY else -size

    # --- prices ---------------------------------------------------------------------

    def last_close(self, symbol: str, t_ns: int) -> float | None:
        """The close of the newest base bar of ``symbol`` visible at ``t_ns``."""
        series = self.data.series(symbol, self.base_interval)
        count = visible_count(series.column("ts")[: series.n], self.base_ns, t_ns)
        return None if count == 0 else float(series.column("close")[count - 1])

    def equity(self, book: str, t_ns: int) -> float:
        """Cash plus positions marked at the last base closes visible at ``t_ns``."""
        account = self.accounts[book]
        total = account.cash
        for symbol in account.symbols:
            qty = account.position(symbol)
            if qty:
                close = self.last_close(symbol, t_ns)
                total += qty * (close if close is not None else 0.0)
        return total

    # --- fills ----------------------------------------------------------------------

    def resolve(self) -> None:
        """Ask the broker for the fill of every pending order not filled yet, over the
        base bars published so far."""
        if self.broker is None:
            # quarantined: nothing can fill any more; every order says why
            for key in sorted(self.pending):
                if self.pending[key].fill is None:
                    self._cancel(key, self._broker_down)
            return
        for key in sorted(self.pending):
            pending = self.pending[key]
            if pending.fill is not None:
                continue
            order = pending.order
            bars = self.data.series(order.symbol, self.base_interval).view()
            try:
                fill = self.broker.fill(order, bars)
            except Exception as exc:  # noqa: BLE001 - the failure policy decides
                self._broker_failed(exc, order)
                return
            if fill is None:
                continue
            if self.config.reject_insufficient_cash and fill.side is Side.BUY:
                cost = fill.qty * fill.price + fill.fee
                if cost > self._cash_before(order.book, fill.ts) + _EPS:
                    self._cancel(key, "insufficient cash")
                    continue
            pending.fill = fill
            pending.bar_ns = self.base_ns

    def _cash_before(self, book: str, ts: int) -> float:
        """The book's cash once every fill accepted before ``ts`` is booked."""
        cash = self.accounts[book].cash
        for pending in self.pending.values():
            fill = pending.fill
            if fill is not None and fill.book == book and fill.ts < ts:
                cash -= _signed(fill) * fill.price + fill.fee
        return cash

    def due(self, book: str | None, through_ns: int) -> list[Fill]:
        """Fills of ``book`` (every book when None) due by ``through_ns``, in order."""
        found = [
            p.fill
            for p in self.pending.values()
            if p.fill is not None
            and p.due_ns <= through_ns
            and (book is None or p.fill.book == book)
        ]
        return sorted(found, key=_fill_order)

    def commit(self, book: str | None, through_ns: int) -> list[Fill]:
        """Book the fills due by ``through_ns`` (they have reached the strategies).

        :returns: the fills booked, in order.
        """
        booked = self.due(book, through_ns)
        for fill in booked:
            del self.pending[(fill.book, fill.symbol)]
            self.accounts[fill.book].apply(fill)
            self.fills.append(fill)
        return booked

    def schedule(self, strategy_id: str, step_times: Sequence[int]) -> list[list[Fill]]:
        """Data-driven: the fills a strategy hears at each of the given steps, each at
        the first step at or after it is due."""
        out: list[list[Fill]] = [[] for _ in step_times]
        if strategy_id not in self.trading or not step_times:
            return out
        book = self.book_of(strategy_id)
        for fill in self.due(book, step_times[-1]):
            due = fill.ts + self.base_ns
            for index, time_ns in enumerate(step_times):
                if time_ns >= due:
                    out[index].append(fill)
                    break
        return out

    # --- the session's calls ----------------------------------------------------------

    def after_steps(self, progress: Sequence[tuple[str, int, Sequence[Any]]]) -> None:
        """Data-driven, after a barrier: for each strategy (config order), book its
        book's fills up to the step it reached (it has heard them), then turn its new
        signals into orders; then look for fills of what is pending.

        :param progress: ``(strategy id, session time reached, its signal list)``.
        """
        for strategy_id, through_ns, emitted in progress:
            if strategy_id in self.trading:
                self.commit(self.book_of(strategy_id), through_ns)
                self.take_signals(strategy_id, emitted)
        self.resolve()

    def before_step(
        self, time_ns: int, progress: Sequence[tuple[str, Sequence[Any]]]
    ) -> dict[str, list[Fill]]:
        """Clock-driven and live, before handing out the step at ``time_ns``: book
        the fills due by now, turn the signals that reached this manager into orders
        decided now, look for fills.

        :param progress: ``(strategy id, its signal list)`` per strategy.
        :returns: per strategy id, the fills it hears before this step.
        """
        # fills of bars published by now first: the new orders start from them
        self.resolve()
        booked = self.commit(None, time_ns)
        for strategy_id, emitted in progress:
            self.take_signals(strategy_id, emitted, time_ns)
        self.resolve()
        heard: dict[str, list[Fill]] = {}
        for fill in booked:
            for strategy_id in self.trading:
                if self.hears(strategy_id, fill):
                    heard.setdefault(strategy_id, []).append(fill)
        return heard

    def finish(
        self, end_ns: int, progress: Sequence[tuple[str, Sequence[Any]]] = ()
    ) -> None:
        """Session end: book what is due, take the signals that never reached this
        manager (clock-driven and live; decided now, they cannot fill), cancel and
        list every order not filled.

        :param end_ns: the session's last time.
        :param progress: ``(strategy id, its signal list)`` per strategy.
        """
        self.commit(None, end_ns)
        for strategy_id, emitted in progress:
            self.take_signals(strategy_id, emitted, end_ns)
        self.resolve()
        self.commit(None, end_ns)
        for key in sorted(self.pending):
            self._cancel(key, "not filled when the session ended")

    def portfolio(self, start_ns: int | None) -> PortfolioResult:
        """The books' fills, round trips, equity curves and statistics, marked at
        every session step from ``start_ns`` (every base close of any symbol)."""
        closes = {}
        step_times = []
        for series in self.data:
            if series.interval != self.base_interval:
                continue
            ts = series.column("ts")[: series.n]
            closes[series.symbol] = (ts, series.column("close")[: series.n])
            step_times.append(ts + self.base_ns)
        steps = np.unique(np.concatenate(step_times)) if step_times else np.empty(0)
        if start_ns is not None:
            steps = steps[steps >= start_ns]
        return build_portfolio(
            self.fills,
            self.config.initial_cash,
            self.books,
            closes,
            steps.astype(np.int64),
            self.cancelled,
            self.base_ns,
            self.config.days_per_year,
        )

    # --- checkpoints ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What a resumed session needs besides the fills to continue these books
        exactly: open orders, net targets, cancellations, how many of each
        strategy's signals became orders, and a broker that failed (JSON-able)."""
        return {
            "pending": [
                {
                    "book": p.order.book,
                    "symbol": p.order.symbol,
                    "qty": p.order.qty,
                    "decision_ns": p.order.decision_ns,
                    "strategies": list(p.order.strategies),
                }
                for _, p in sorted(self.pending.items())
            ],
            "targets": [[sid, symbol, q] for (sid, symbol), q in self.targets.items()],
            "cancelled": list(self.cancelled),
            "consumed": dict(self._consumed),
            "broker_down": self._broker_down,
        }

    def book_states(self) -> dict[str, dict[str, Any]]:
        """Each book's cash, fees paid and positions now (the journal's copy)."""
        return {
            book: {
                "cash": account.cash,
                "fees": account.fees,
                "positions": {s: account.position(s) for s in account.symbols},
            }
            for book, account in self.accounts.items()
        }

    def restore(self, snapshot: Mapping[str, Any], fills: Sequence[Fill]) -> None:
        """Continue from a checkpoint: book ``fills`` in order (the accounts and
        round trips follow from them by the same rules), then take back the open
        orders and the rest of :meth:`snapshot`.

        :param snapshot: what :meth:`snapshot` gave at the checkpoint.
        :param fills: every fill booked up to it.
        """
        for fill in fills:
            self.accounts[fill.book].apply(fill)
            self.fills.append(fill)
        for item in snapshot["pending"]:
            order = Order(
                str(item["book"]),
                str(item["symbol"]),
                float(item["qty"]),
                int(item["decision_ns"]),
                tuple(str(s) for s in item["strategies"]),
            )
            self.pending[(order.book, order.symbol)] = _Pending(order)
        self.targets = {(str(a), str(b)): float(q) for a, b, q in snapshot["targets"]}
        self.cancelled = list(snapshot["cancelled"])
        for sid, count in snapshot["consumed"].items():
            if sid in self._consumed:
                self._consumed[sid] = int(count)
        if snapshot["broker_down"]:
            self.broker = None
            self._broker_down = str(snapshot["broker_down"])

    # --- failures -------------------------------------------------------------------

    def _cancel(self, key: tuple[str, str], reason: str) -> None:
        order = self.pending.pop(key).order
        self.cancelled.append(
            {
                "book": order.book,
                "symbol": order.symbol,
                "side": str(order.side),
                "qty": abs(order.qty),
                "decision": format_ts(order.decision_ns),
                "strategies": list(order.strategies),
                "reason": reason,
            }
        )

    def _broker_failed(self, exc: Exception, order: Order) -> None:
        where = f"{order.book} {order.symbol} at {format_ts(order.decision_ns)}"
        action = self.ledger.record(self.broker_ref, "fill", exc, where=where)
        if action is ErrorPolicy.CONTINUE:
            return
        self.broker = None
        self._broker_down = f"broker {self.broker_ref.id} failed: {exc}"
        self.resolve()

    @property
    def stop_requested(self) -> str | None:
        """Why the session must stop (a broker failure under ``stop``), if it must."""
        for record in self.ledger.records():
            if record.plugin == self.broker_ref and record.action is ErrorPolicy.STOP:
                return f"broker {self.broker_ref.id} failed: {record.error}"
        return None


def _signed(fill: Fill) -> float:
    return fill.qty if fill.side is Side.BUY else -fill.qty


def _fill_order(fill: Fill) -> tuple[int, str, str]:
    return (fill.ts, fill.book, fill.symbol)
