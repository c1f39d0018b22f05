"""Signals to orders to fills (DESIGN section 10), through the real runtime."""

from __future__ import annotations

import numpy as np
import pytest

from stratagem import Fill, Signal, Strategy, StrategyConfig
from stratagem.testing import make_bars, run_strategy

MINUTE = 60 * 10**9


class Scripted(Strategy):
    """Subscribes to 1m of its symbols; emits the side scripted for the n-th bar of
    each symbol (n counted from 1), and records what it hears."""

    script: dict[tuple[str, int], str] = {}

    def on_start(self, ctx) -> None:
        self.events: list[tuple] = []
        for symbol in ctx.symbols:
            ctx.subscribe(symbol, "1m")

    def on_fill(self, ctx, fill: Fill) -> None:
        self.events.append(
            ("fill", fill.ts, str(fill.side), fill.qty, ctx.position(fill.symbol))
        )

    def on_bars(self, ctx, symbol, interval) -> None:
        bars = ctx.bars(symbol, interval)
        self.events.append(("bars", symbol, int(bars.ts[-1])))
        side = self.script.get((symbol, len(bars)))
        if side:
            ctx.emit(Signal(symbol, interval, int(bars.ts[-1]), side))


def scripted(name: str, script: dict[tuple[str, int], str]) -> type[Strategy]:
    return type(name, (Scripted,), {"script": script})


def fills_of(outcome) -> list[tuple]:
    return [
        (f.book, f.symbol, str(f.side), f.qty, f.price, f.fee)
        for f in outcome.session.execution.fills
    ]


def test_hook_stratagem_on_fill() -> None:
    """A fill at the open of the next 1m bar; the strategy hears it before that
    bar's notification, with its position already updated."""
    bars = make_bars([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    cls = scripted("BuyThenSell", {("A", 2): "buy", ("A", 4): "sell"})
    outcome = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0, "fee_rate": 0.01},
    )
    t = [int(x) for x in bars.ts]
    # the buy is decided at the close of bar 2 (its step) and fills at bar 3's open,
    # 11.0 (make_bars opens each bar at the previous close); the sell at bar 5's open
    assert fills_of(outcome) == [
        ("s", "A", "buy", 1.0, 11.0, 0.11),
        ("s", "A", "sell", 2.0, 13.0, 0.26),
    ]
    events = outcome.session.manager.threads[0].strategy.events
    assert events[2:5] == [
        ("fill", t[2], "buy", 1.0, 1.0),
        ("bars", "A", t[2]),
        ("bars", "A", t[3]),
    ]
    assert ("fill", t[4], "sell", 2.0, -1.0) in events
    assert events.index(("fill", t[4], "sell", 2.0, -1.0)) < events.index(
        ("bars", "A", t[4])
    )
    account = outcome.session.execution.accounts["s"]
    assert account.position("A") == -1.0
    assert account.cash == pytest.approx(1000 - 11.0 - 0.11 + 26.0 - 0.26)


def test_gappy_data_fills_at_the_next_bar_that_exists_and_the_last_signal_wins() -> (
    None
):
    # B trades every minute; A has no bars for minutes 3..6
    a = make_bars(
        [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0], skip=[3, 4, 5, 6]
    )
    b = make_bars(np.arange(100.0, 109.0))

    # at B's bars 4 and 5 (inside A's gap) the strategy signals on A's last bar
    # (bar 3 of A): a buy, then a sell; only the sell is executed
    class OnA(Scripted):
        def on_bars(self, ctx, symbol, interval) -> None:
            super().on_bars(ctx, symbol, interval)
            n = len(ctx.bars("B", "1m"))
            if symbol == "B" and n in (4, 5):
                last = int(ctx.bars("A", "1m").ts[-1])
                ctx.emit(Signal("A", "1m", last, "buy" if n == 4 else "sell"))

    outcome = run_strategy(
        [("s", OnA, StrategyConfig())],
        bars={"A": a, "B": b},
        derived_intervals=(),
        execution={"initial_cash": 1000.0},
    )
    # decided at minute 5 (B's bar 5 closes), filled at A's next bar: minute 7,
    # open 17.0 (the close of the bar before it in the list, 13.0? no: make_bars
    # opens each slot at the previous slot's close, 16.0)
    (fill,) = outcome.session.execution.fills
    assert (fill.symbol, str(fill.side), fill.qty) == ("A", "sell", 1.0)
    assert fill.ts == int(a.ts[3]) and fill.price == float(a.open[3]) == 16.0
    assert fill.decision_ns == int(b.ts[4]) + MINUTE


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("long_short", [("buy", 2.0), ("sell", 4.0)]),
        ("long_only", [("buy", 2.0), ("sell", 2.0)]),
    ],
)
def test_direction_maps_sells_to_short_or_flat(direction: str, expected: list) -> None:
    bars = make_bars(np.arange(1.0, 12.0))
    cls = scripted("Dir", {("A", 2): "buy", ("A", 5): "sell", ("A", 7): "sell"})
    outcome = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0},
        trading={
            "s": {"sizing": {"kind": "fixed_qty", "qty": 2}, "direction": direction}
        },
    )
    assert [(side, qty) for _, _, side, qty, _, _ in fills_of(outcome)] == expected


def test_notional_and_percent_equity_sizing_use_the_last_close_at_decision() -> None:
    bars = make_bars([10.0, 20.0, 40.0, 50.0])
    cls = scripted("Size", {("A", 2): "buy"})
    notional = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0},
        trading={"s": {"sizing": {"kind": "fixed_notional", "notional": 100.0}}},
    )
    # the last close at the decision (bar 2 closed) is 20.0: 100 / 20 = 5 units
    assert fills_of(notional) == [("s", "A", "buy", 5.0, 20.0, 0.0)]
    percent = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0},
        trading={"s": {"sizing": {"kind": "percent_equity", "percent": 50.0}}},
    )
    # half of 1000 of equity at 20.0: 25 units
    assert fills_of(percent) == [("s", "A", "buy", 25.0, 20.0, 0.0)]


def test_insufficient_cash_is_rejected_when_asked_and_listed() -> None:
    bars = make_bars([10.0, 20.0, 40.0, 50.0])
    cls = scripted("Rich", {("A", 2): "buy"})
    outcome = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 100.0, "reject_insufficient_cash": True},
        trading={"s": {"sizing": {"kind": "fixed_qty", "qty": 10}}},
    )
    assert outcome.session.execution.fills == []
    (cancelled,) = outcome.session.execution.cancelled
    assert cancelled["reason"] == "insufficient cash" and cancelled["qty"] == 10.0


def test_a_net_book_sums_the_targets_of_its_strategies() -> None:
    bars = make_bars(np.arange(1.0, 12.0))
    buyer = scripted("Buyer", {("A", 2): "buy"})
    seller = scripted("Seller", {("A", 2): "sell", ("A", 6): "buy"})
    outcome = run_strategy(
        [("b", buyer, StrategyConfig()), ("s", seller, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0, "books": "net"},
    )
    # +1 and -1 cancel out at bar 2; at bar 6 both are long: one order of +2
    assert fills_of(outcome) == [("net", "A", "buy", 2.0, 6.0, 0.0)]
    for thread in outcome.session.manager.threads:
        fills = [e for e in thread.strategy.events if e[0] == "fill"]
        assert fills == [("fill", int(bars.ts[6]), "buy", 2.0, 2.0)]


def test_orders_not_filled_at_the_end_are_cancelled_and_listed() -> None:
    bars = make_bars([1.0, 2.0, 3.0])
    cls = scripted("Late", {("A", 3): "buy"})
    outcome = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        execution={"initial_cash": 1000.0},
    )
    assert outcome.session.execution.fills == []
    (cancelled,) = outcome.session.execution.cancelled
    assert cancelled["symbol"] == "A" and "session ended" in cancelled["reason"]


def test_clock_driven_decides_at_the_step_the_signal_reaches_execution() -> None:
    bars = make_bars(np.arange(1.0, 30.0))
    cls = scripted("Clock", {("A", 2): "buy"})
    outcome = run_strategy(
        [("s", cls, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
        speed_multiplier=3000.0,
        execution={"initial_cash": 1000.0},
    )
    (fill,) = outcome.session.execution.fills
    # emitted at the step of minute 2; it reaches execution at a later step, never
    # earlier, and fills at the first bar opening at or after that step
    assert fill.decision_ns >= int(bars.ts[1]) + MINUTE
    assert fill.ts == fill.decision_ns
    assert fill.price == float(bars.open[(fill.ts - int(bars.ts[0])) // MINUTE])
    events = outcome.session.manager.threads[0].strategy.events
    heard = events.index(("fill", fill.ts, "buy", 1.0, 1.0))
    assert ("bars", "A", fill.ts) in events[heard:]
