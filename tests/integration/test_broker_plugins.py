"""Brokers are plugins: a broker offered through ``stratagem_brokers`` replaces the
paper broker by config, and one that raises follows the common failure policy."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from stratagem.cli import CliState, main

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"

PLUGIN = """
    import numpy as np
    from stratagem import BrokerSpec, Fill, Signal, Strategy, StrategyConfig
    from stratagem import StrategySpec, hookimpl

    class AtClose:
        '''Fills at the close of the first bar opening at or after the decision.'''

        def __init__(self, config):
            self.fee_rate = config.fee_rate

        def fill(self, order, bars):
            row = int(np.searchsorted(bars.ts, order.decision_ns))
            if row >= len(bars):
                return None
            price = float(bars.close[row])
            qty = abs(order.qty)
            return Fill(int(bars.ts[row]), order.book, order.symbol, order.side, qty,
                        price, self.fee_rate * qty * price, order.decision_ns,
                        order.strategies)

    class Failing:
        def __init__(self, config):
            pass

        def fill(self, order, bars):
            raise ConnectionError("venue down")

    class EveryTen(Strategy):
        def on_start(self, ctx):
            ctx.subscribe("ETH_BTC", "5m")
            self.n = 0

        def on_bars(self, ctx, symbol, interval):
            self.n += 1
            if self.n % 10 == 0:
                side = "buy" if self.n % 20 == 0 else "sell"
                ts = int(ctx.bars(symbol, interval).ts[-1])
                ctx.emit(Signal(symbol, interval, ts, side))

    @hookimpl
    def stratagem_brokers():
        return [BrokerSpec("at_close", AtClose, "fills at the close"),
                BrokerSpec("failing", Failing, "always raises")]

    @hookimpl
    def stratagem_strategies():
        return [StrategySpec("every_ten", EveryTen, StrategyConfig)]
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    root = tmp_path / "modules"
    root.mkdir()
    (root / "broker_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(root))
    yield [EntryPoint("venue", "broker_plugin", "stratagem")]
    sys.modules.pop("broker_plugin", None)


def run(tmp_path: Path, eps: list, broker: str, **execution: object):
    config = tmp_path / f"{broker}.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                    "data": {"path": str(SAMPLE)},
                    "end": "2018-01-24T12:00:00Z",
                    "reporters": [],
                    "plugins": ["venue"],
                    "execution": {"broker": broker, "fee_rate": 0.001, **execution},
                    "strategies": [
                        {
                            "module": "every_ten",
                            "execution": {"sizing": {"kind": "fixed_qty", "qty": 1}},
                        }
                    ],
                }
            }
        )
    )
    out = tmp_path / f"out-{broker}"
    result = CliRunner().invoke(
        main, ["run", str(config), "--out", str(out)], obj=CliState(entry_points=eps)
    )
    return result, out


def test_hook_stratagem_brokers(tmp_path: Path, plugin: list) -> None:
    listed = CliRunner().invoke(
        main, ["plugins", "--json"], obj=CliState(entry_points=plugin)
    )
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == "venue"]
    assert row["brokers"] == ["at_close", "failing"]
    result, out = run(tmp_path, plugin, "at_close")
    assert result.exit_code == 0, result.output
    rows = (out / "fills.csv").read_text().splitlines()
    assert rows[0] == "ts,book,symbol,side,qty,price,fee"
    closes = {
        line.split(",")[0]: float(line.split(",")[4])
        for line in (SAMPLE / "1m" / "ETH_BTC.csv").read_text().splitlines()[1:]
    }
    assert len(rows) > 2
    for row in rows[1:]:
        ts, book, symbol, side, qty, price, fee = row.split(",")
        # this broker's rule, not the paper broker's: the fill bar's close
        assert float(price) == closes[ts]
        assert float(fee) == pytest.approx(0.001 * float(qty) * float(price))


def test_a_raising_broker_is_quarantined_and_its_orders_listed(
    tmp_path: Path, plugin: list
) -> None:
    result, out = run(tmp_path, plugin, "failing")
    assert result.exit_code == 3, result.output  # degraded: finished without it
    manifest = json.loads((out / "manifest.json").read_text())
    (failure,) = manifest["failures"]
    assert (failure["plugin"], failure["id"], failure["action"]) == (
        "broker",
        "failing",
        "quarantine",
    )
    assert "venue down" in failure["error"] and failure["count"] == 1
    portfolio = json.loads((out / "portfolio.json").read_text())
    assert portfolio["books"]["every_ten"]["fills"] == 0
    assert portfolio["cancelled"]
    assert all("venue down" in c["reason"] for c in portfolio["cancelled"])
