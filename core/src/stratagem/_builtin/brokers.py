"""The built-in ``paper`` broker, offered through ``stratagem_brokers`` like any
broker plugin's (DESIGN section 10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stratagem import BrokerSpec, Fill, hookimpl

if TYPE_CHECKING:
    from stratagem import Bars, Order


class PaperBroker:
    """Fills a market order at the open of the first 1m bar of its symbol whose open
    time is at or after the decision time: on gappy data, the next bar that exists.

    Buys pay ``open * (1 + s)``, sells get ``open * (1 - s)`` with
    ``s = slippage_bps / 10_000``; the fee is ``fee_rate * qty * price``.

    :param config: the session's validated ``execution`` block.
    """

    def __init__(self, config: Any) -> None:
        self.fee_rate = float(config.fee_rate)
        self.slip = float(config.slippage_bps) / 10_000

    def fill(self, order: Order, bars: Bars) -> Fill | None:
        ts = bars.ts
        row = int(np.searchsorted(ts, order.decision_ns, side="left"))
        if row >= len(ts):
            return None  # the fill bar has not been published yet
        qty = abs(order.qty)
        buy = order.qty > 0
        price = float(bars.open[row]) * (1 + self.slip if buy else 1 - self.slip)
        return Fill(
            ts=int(ts[row]),
            book=order.book,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=self.fee_rate * qty * price,
            decision_ns=order.decision_ns,
            strategies=order.strategies,
        )


@hookimpl
def stratagem_brokers() -> list[BrokerSpec]:
    return [
        BrokerSpec(
            name="paper",
            factory=PaperBroker,
            description="Market orders at the next 1m bar's open, fees and slippage.",
        )
    ]
