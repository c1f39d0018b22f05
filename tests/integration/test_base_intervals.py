"""Any base interval (DESIGN section 15): daily and hourly data, derived widths as
minutes or interval names, checked against the rules computed directly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from stratagem import Signal, Strategy
from stratagem.cli import CliState, main
from stratagem.testing import load_bars, run_strategy

DAY = 86_400 * 10**9


class SmaCross(Strategy):
    """A 10/20 SMA cross on the base interval of every symbol, backtrader's
    CrossOver rule (the last non-zero difference flips)."""

    def on_start(self, ctx) -> None:
        self.last: dict[str, float] = {}
        for symbol in ctx.symbols:
            ctx.subscribe(symbol, ctx.intervals[0])

    def on_bars(self, ctx, symbol, interval) -> None:
        bars = ctx.bars(symbol, interval)
        for end in range(max(len(bars) - ctx.new_bars, 19), len(bars)):
            closes = bars.close[end - 19 : end + 1].tolist()
            d = math.fsum(closes[-10:]) / 10 - math.fsum(closes) / 20
            before = self.last.get(symbol)
            if before is None or d != 0.0:
                self.last[symbol] = d
            if before is not None and d * before < 0:
                side = "buy" if d > 0 else "sell"
                ctx.emit(Signal(symbol, interval, int(bars.ts[end]), side))


def direct_crossings(ts: np.ndarray, close: np.ndarray) -> list[tuple[int, str]]:
    """The same rule on the closes themselves, in plain numpy."""
    out = []
    last = None
    for end in range(19, len(close)):
        window = close[end - 19 : end + 1]
        d = math.fsum(window[-10:]) / 10 - math.fsum(window) / 20
        if last is not None and d * last < 0:
            out.append((int(ts[end]), "buy" if d > 0 else "sell"))
        if last is None or d != 0.0:
            last = d
    return out


def test_a_daily_session_signals_on_the_daily_closes(shared_data: Path) -> None:
    spy = load_bars(shared_data / "bars" / "1d" / "SPY.csv", validation="drop")
    outcome = run_strategy(
        SmaCross, {}, {"SPY": spy}, base_interval="1d", derived_intervals=()
    )
    got = [(s.bar_ts, str(s.side)) for s in outcome.signals]
    assert {s.interval for s in outcome.signals} == {"1d"}
    assert got == direct_crossings(spy.ts, spy.close)
    assert len(got) > 50


def test_hourly_data_derives_4h_and_1d_by_name(shared_data: Path) -> None:
    eurusd = load_bars(shared_data / "bars" / "1h" / "EURUSD.csv")
    outcome = run_strategy(
        SmaCross,
        {},
        {"EURUSD": eurusd},
        base_interval="1h",
        derived_intervals=(240, 1440),
    )
    for interval, hours in (("4h", 4), ("1d", 24)):
        series = outcome.data.series("EURUSD", interval)
        width = hours * 3600 * 10**9
        starts = eurusd.ts - eurusd.ts % width
        # an independent aggregation of the hourly bars, window by window
        expected = []
        for start in np.unique(starts):
            rows = np.flatnonzero(starts == start)
            expected.append(
                (
                    int(start),
                    eurusd.open[rows[0]],
                    eurusd.high[rows].max(),
                    eurusd.low[rows].min(),
                    eurusd.close[rows[-1]],
                    100.0 * len(rows) / hours,
                )
            )
        n = series.n
        got = list(
            zip(
                series.column("ts")[:n].tolist(),
                series.column("open")[:n].tolist(),
                series.column("high")[:n].tolist(),
                series.column("low")[:n].tolist(),
                series.column("close")[:n].tolist(),
                series.column("quality")[:n].tolist(),
                strict=True,
            )
        )
        assert got == expected, interval


SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"


def test_config_names_intervals_and_refuses_widths_the_base_cannot_make(
    tmp_path: Path, shared_data: Path
) -> None:
    def validate(**session: object) -> tuple[int, str]:
        path = tmp_path / "s.json"
        path.write_text(json.dumps({"session_data_config": session}))
        done = CliRunner().invoke(
            main, ["validate", str(path)], obj=CliState(entry_points=[])
        )
        return done.exit_code, done.output

    data = {"path": str(shared_data / "bars")}
    code, out = validate(
        symbols=["EURUSD"],
        streams=["1h"],
        streaming={"data_upkeep": {"derived_intervals": ["4h", 1440]}},
        data=data,
    )
    assert code == 0, out
    assert "intervals 1h, 4h, 1d" in out
    code, out = validate(
        symbols=["EURUSD"],
        streams=["1h"],
        streaming={"data_upkeep": {"derived_intervals": [90]}},
        data=data,
    )
    assert code == 2
    assert "derived interval 90 is not a whole multiple of the base stream '1h'" in out


def test_save_bars_writes_each_interval_under_its_canonical_name(
    tmp_path: Path, shared_data: Path
) -> None:
    config = tmp_path / "s.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["EURUSD"],
                    "streams": ["1h"],
                    "streaming": {"data_upkeep": {"derived_intervals": [120, "4h"]}},
                    "data": {"path": str(shared_data / "bars")},
                    "reporters": [],
                }
            }
        )
    )
    out = tmp_path / "out"
    done = CliRunner().invoke(
        main,
        ["run", str(config), "--out", str(out), "--save-bars"],
        obj=CliState(entry_points=[]),
    )
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (out / "bars").iterdir()) == ["1h", "2h", "4h"]
    header = (out / "bars" / "4h" / "EURUSD.csv").read_text().splitlines()[0]
    assert header.endswith(",quality")
    source = (shared_data / "bars" / "1h" / "EURUSD.csv").read_bytes()
    assert (out / "bars" / "1h" / "EURUSD.csv").read_bytes().splitlines()[
        1:
    ] == source.splitlines()[1:]
