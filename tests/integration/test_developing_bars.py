"""Developing bars (DESIGN section 15): a strategy subscribed with ``partial=True``
sees the open window's bar at every base bar, never ahead of session time; every
developing bar is a prefix of the closed bar, which is the aggregate of all of its
base bars."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from stratagem import Signal, Strategy
from stratagem.cli import CliState, main
from stratagem.testing import load_bars, make_bars, run_strategy

MINUTE = 60 * 10**9


class Watcher(Strategy):
    """Records every developing and closed 5m bar of A, with the session time."""

    RECORDS: list = []

    def on_start(self, ctx) -> None:
        ctx.subscribe("A", "5m", partial=True)

    def on_bars(self, ctx, symbol, interval) -> None:
        bars = ctx.bars(symbol, interval)
        open_bar = ctx.developing(symbol, interval)
        if ctx.new_bars:
            for k in range(len(bars) - ctx.new_bars, len(bars)):
                Watcher.RECORDS.append(("closed", ctx.time_ns, int(bars.ts[k]), k))
        if open_bar is not None:
            Watcher.RECORDS.append(("developing", ctx.time_ns, open_bar))


def aggregate(base, lo: int, hi: int) -> tuple:
    volume = 0.0
    for v in base.volume[lo:hi].tolist():
        volume += v
    return (
        float(base.open[lo]),
        float(base.high[lo:hi].max()),
        float(base.low[lo:hi].min()),
        float(base.close[hi - 1]),
        volume,
    )


@pytest.mark.parametrize("speed", [0.0, 2_000_000.0])
def test_every_developing_bar_is_a_prefix_of_its_closed_bar(
    shared_data: Path, speed: float
) -> None:
    base = load_bars(shared_data / "bars" / "1m" / "DASH_BTC.csv").slice(0, 3000)
    Watcher.RECORDS = []
    outcome = run_strategy(
        Watcher, {}, {"A": base}, derived_intervals=(5,), speed_multiplier=speed
    )
    assert outcome.failures == []
    derived = outcome.data.series("A", "5m")
    closed_ts = derived.column("ts")
    developing = [r for r in Watcher.RECORDS if r[0] == "developing"]
    assert len(developing) > 1000
    for _, now, bar in developing:
        # exactly the base bars of the window that closed by now: no look-ahead
        lo = int(np.searchsorted(base.ts, bar.ts))
        hi = int(np.searchsorted(base.ts, now - MINUTE, side="right"))
        assert lo < hi and base.ts[hi - 1] + MINUTE <= now
        assert bar.ts + 5 * MINUTE > now  # the window is still open
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == aggregate(
            base, lo, hi
        )
        assert bar.quality == 100.0 * (hi - lo) / 5
        # a prefix of the closed bar of its window
        k = int(np.searchsorted(closed_ts, bar.ts))
        assert closed_ts[k] == bar.ts
        full_hi = int(np.searchsorted(base.ts, bar.ts + 5 * MINUTE))
        closed = (
            float(derived.column("open")[k]),
            float(derived.column("high")[k]),
            float(derived.column("low")[k]),
            float(derived.column("close")[k]),
            float(derived.column("volume")[k]),
        )
        assert closed == aggregate(base, lo, full_hi)
        assert hi <= full_hi


class PartialSignals(Strategy):
    def on_start(self, ctx) -> None:
        ctx.subscribe("A", "5m", partial=True)

    def on_bars(self, ctx, symbol, interval) -> None:
        open_bar = ctx.developing(symbol, interval)
        if open_bar is not None and open_bar.close > open_bar.open:
            ctx.emit(Signal(symbol, interval, open_bar.ts, "buy"))


def test_signals_on_developing_bars_are_marked_partial(tmp_path: Path) -> None:
    bars = make_bars([1.0, 2.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    outcome = run_strategy(PartialSignals, {}, {"A": bars}, derived_intervals=(5,))
    assert outcome.signals and all(s.partial for s in outcome.signals)

    # a signal on a bar neither closed nor developing is refused
    class Ahead(Strategy):
        def on_start(self, ctx) -> None:
            ctx.subscribe("A", "5m", partial=True)

        def on_bars(self, ctx, symbol, interval) -> None:
            open_bar = ctx.developing(symbol, interval)
            if open_bar is not None:
                ctx.emit(Signal(symbol, interval, open_bar.ts + 5 * MINUTE, "buy"))

    refused = run_strategy(Ahead, {}, {"A": bars}, derived_intervals=(5,))
    assert refused.signals == [] and "cannot have seen" in refused.failures[0].error


def test_signals_csv_has_the_partial_column(tmp_path: Path, local_dist_site) -> None:
    module = tmp_path / "partial_mod.py"
    module.write_text(
        "from stratagem import Signal, Strategy\n"
        "class P(Strategy):\n"
        "    def on_start(self, ctx):\n"
        "        ctx.subscribe('ETH_BTC', '5m', partial=True)\n"
        "    def on_bars(self, ctx, symbol, interval):\n"
        "        bar = ctx.developing(symbol, interval)\n"
        "        if bar is not None and bar.quality == 60.0:\n"
        "            ctx.emit(Signal(symbol, interval, bar.ts, 'sell'))\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        config = tmp_path / "s.json"
        sample = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
        config.write_text(
            json.dumps(
                {
                    "session_data_config": {
                        "symbols": ["ETH_BTC"],
                        "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                        "data": {"path": str(sample)},
                        "end": "2018-01-24T02:00:00Z",
                        "reporters": [],
                        "strategies": [{"module": "partial_mod:P"}],
                    }
                }
            )
        )
        done = CliRunner().invoke(
            main,
            ["run", str(config), "--out", str(tmp_path / "out")],
            obj=CliState(entry_points=[]),
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("partial_mod", None)
    assert done.exit_code == 0, done.output
    with (tmp_path / "out" / "signals.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert rows and {row["partial"] for row in rows} == {"partial"}
