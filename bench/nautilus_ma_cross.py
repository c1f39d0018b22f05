"""The benchmark's ma_cross in NautilusTrader: its ``BacktestEngine`` aggregates the
1m bars to 5m itself (``5-MINUTE-LAST-INTERNAL@1-MINUTE-EXTERNAL``) and two of its
own ``SimpleMovingAverage`` (10 and 20) per symbol feed the crossings.

Imported by the throughput benchmark (in-process contender) and run as a script for
the end-to-end timing:

    python bench/nautilus_ma_cross.py BARS_ROOT SYMBOL [SYMBOL ...]

prints one JSON line ``{"bars": <1m bars fed>, "crossings": <count>}``.

The files are read with pandas and turned into nautilus bars by its
``BarDataWrangler``, the way its documentation loads CSV bars; each bar's time moves
+1 min, because nautilus stamps a bar at its close. Crossings follow ma_cross's rule:
``d = fast - slow`` once the slow average is warm, the first ``d`` seeds the last
non-zero difference, a crossing is a sign change against it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VENUE_NAME = "BITTREX"
PRECISION = 8  # the Bittrex files' prices and volumes have at most 8 decimals


def nautilus_missing() -> str | None:
    """Why NautilusTrader cannot run here, or None when it can."""
    try:
        import nautilus_trader  # noqa: F401
        from nautilus_trader.backtest.engine import BacktestEngine  # noqa: F401
    except Exception as exc:  # a broken wheel raises more than ImportError
        return f"nautilus_trader does not import: {type(exc).__name__}: {exc}"
    return None


def nautilus_run(bars_root: Path, symbols: list[str]) -> tuple[int, int]:
    """Run the NautilusTrader equivalent; returns ``(1m bars fed, crossings)``.

    :param bars_root: folder holding ``1m/<SYMBOL>.csv``.
    :param symbols: the files to feed, one instrument each.
    """
    from decimal import Decimal

    import pandas as pd
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import DataEngineConfig, LoggingConfig, StrategyConfig
    from nautilus_trader.indicators import SimpleMovingAverage
    from nautilus_trader.model.currencies import BTC
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, CurrencyType, OmsType
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Currency, Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.trading.strategy import Strategy

    venue = Venue(VENUE_NAME)

    def instrument(symbol: str) -> CurrencyPair:
        base, quote = symbol.split("_", 1)
        return CurrencyPair(
            instrument_id=InstrumentId(Symbol(f"{base}/{quote}"), venue),
            raw_symbol=Symbol(symbol),
            base_currency=Currency(base, PRECISION, 0, base, CurrencyType.CRYPTO),
            quote_currency=BTC,
            price_precision=PRECISION,
            size_precision=PRECISION,
            price_increment=Price(10**-PRECISION, PRECISION),
            size_increment=Quantity(10**-PRECISION, PRECISION),
            lot_size=None,
            max_quantity=None,
            min_quantity=None,
            max_notional=None,
            min_notional=None,
            max_price=None,
            min_price=None,
            margin_init=Decimal(0),
            margin_maint=Decimal(0),
            maker_fee=Decimal(0),
            taker_fee=Decimal(0),
            ts_event=0,
            ts_init=0,
        )

    class CrossConfig(StrategyConfig, frozen=True):
        bar_types: tuple[str, ...]

    class CrossCount(Strategy):
        def __init__(self, config: CrossConfig) -> None:
            super().__init__(config)
            self.found = 0
            self.averages: dict[Any, list[Any]] = {}

        def on_start(self) -> None:
            for text in self.config.bar_types:
                bar_type = BarType.from_str(text)
                fast, slow = SimpleMovingAverage(10), SimpleMovingAverage(20)
                self.averages[bar_type.instrument_id] = [fast, slow, None]
                self.register_indicator_for_bars(bar_type, fast)
                self.register_indicator_for_bars(bar_type, slow)
                self.subscribe_bars(bar_type)

        def on_bar(self, bar: Any) -> None:
            state = self.averages[bar.bar_type.instrument_id]
            fast, slow, before = state
            if not slow.initialized:
                return
            d = fast.value - slow.value
            if before is None or d != 0.0:
                state[2] = d
            if before is not None and (
                (d > 0.0 and before < 0.0) or (d < 0.0 and before > 0.0)
            ):
                self.found += 1

    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(bypass_logging=True),
            # a 5m bar exists only for a window with 1m bars, as in the other engines
            data_engine=DataEngineConfig(time_bars_build_with_no_updates=False),
        )
    )
    try:
        engine.add_venue(
            venue,
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            base_currency=None,
            starting_balances=[Money(1, BTC)],
        )
        bar_types = []
        fed = 0
        for symbol in symbols:
            pair = instrument(symbol)
            engine.add_instrument(pair)
            frame = pd.read_csv(
                bars_root / "1m" / f"{symbol}.csv",
                index_col="timestamp",
                parse_dates=True,
            )
            frame.index = frame.index + pd.Timedelta(minutes=1)
            one_minute = BarType.from_str(f"{pair.id}-1-MINUTE-LAST-EXTERNAL")
            bars = BarDataWrangler(one_minute, pair).process(frame)
            fed += len(bars)
            engine.add_data(bars)
            bar_types.append(f"{pair.id}-5-MINUTE-LAST-INTERNAL@1-MINUTE-EXTERNAL")
        strategy = CrossCount(CrossConfig(bar_types=tuple(bar_types)))
        engine.add_strategy(strategy)
        engine.run()
        return fed, strategy.found
    finally:
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    fed, found = nautilus_run(Path(sys.argv[1]), sys.argv[2:])
    print(json.dumps({"bars": fed, "crossings": found}))
