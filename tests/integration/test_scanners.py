"""Built-in scanners on real data: ``volume_surge`` adds what its rule says, when it
says, and strategies hear of each symbol before its bars."""

from __future__ import annotations

import numpy as np
import pytest

from stratagem import Strategy, StrategyConfig, StrategyContext
from stratagem._builtin.scanners import VolumeSurgeConfig, VolumeSurgeScanner
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.sources import CsvBarSource
from stratagem.testing import run_strategy

UNIVERSE = ["NXT_BTC", "POWR_BTC", "XLM_BTC", "XMR_BTC", "ZEC_BTC"]
RULE = {"lookback_bars": 15, "baseline_bars": 240, "min_ratio": 4.0, "top": 1}


class Joiner(Strategy):
    config_class = StrategyConfig
    last: Joiner

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config)
        self.added: list[tuple[str, int]] = []
        self.first_bar: dict[str, int] = {}
        Joiner.last = self

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "1m")

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        self.added.append((symbol, ctx.time_ns))
        ctx.subscribe(symbol, "1m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self.first_bar.setdefault(symbol, ctx.time_ns)


def surge(volume: np.ndarray, ts: np.ndarray, now: int) -> float | None:
    """Independent statement of the rule: mean volume of the last ``lookback`` bars
    closed by ``now`` over the mean of the ``baseline`` bars before them."""
    closed = volume[ts + NS_PER_MINUTE <= now]
    recent, base = RULE["lookback_bars"], RULE["baseline_bars"]
    if len(closed) < recent + base or closed[-recent - base : -recent].mean() <= 0:
        return None
    return closed[-recent:].mean() / closed[-recent - base : -recent].mean()


def test_volume_surge_adds_the_top_surging_symbol_at_scan_times(shared_data) -> None:
    source = CsvBarSource(shared_data / "bars")
    bars = {"ETH_BTC": source.load("ETH_BTC", "1m")}
    end = int(bars["ETH_BTC"].ts[0]) + 3 * 1440 * NS_PER_MINUTE
    scanner = VolumeSurgeScanner(
        VolumeSurgeConfig(universe=UNIVERSE, every_minutes=60, **RULE)
    )
    outcome = run_strategy(
        [("joiner", Joiner, StrategyConfig())],
        bars=bars,
        source=source,
        derived_intervals=(),
        end_ns=end,
        scanners=[("volume_surge", scanner)],
    )
    joiner = Joiner.last
    assert joiner.added, "three days of real data should show at least one surge"
    history = {s: source.load(s, "1m") for s in UNIVERSE}
    in_session: set[str] = set()
    for symbol, at in joiner.added:
        ratios = {
            s: surge(history[s].volume, history[s].ts, at)
            for s in UNIVERSE
            if s not in in_session
        }
        ranked = sorted(
            ((r, s) for s, r in ratios.items() if r is not None), reverse=True
        )
        assert ranked[0][1] == symbol
        assert ranked[0][0] >= RULE["min_ratio"]
        in_session.add(symbol)
        # its bars reached the strategy only after it was announced
        if symbol in joiner.first_bar:
            assert joiner.first_bar[symbol] > at
    assert [i.symbol for i in outcome.result.insertions] == [s for s, _ in joiner.added]
    assert {i.by for i in outcome.result.insertions} == {"volume_surge"}


def test_a_scanner_asking_for_a_symbol_without_data_is_skipped(tmp_path) -> None:
    from stratagem._builtin.scanners import ScheduleConfig, ScheduleScanner
    from stratagem.testing import make_bars

    bars = {"A": make_bars([1.0 + i * 0.01 for i in range(30)])}
    scanner = ScheduleScanner(
        ScheduleConfig.model_validate(
            {"add": [{"symbol": "NOPE", "at": "2024-01-01T00:10:00Z"}]}
        )
    )
    outcome = run_strategy(
        [("joiner", Joiner, StrategyConfig())],
        bars={"ETH_BTC": bars["A"]},
        derived_intervals=(),
        scanners=[("schedule", scanner)],
    )
    assert outcome.result.status == "ok"
    assert outcome.result.skipped_symbols == ["NOPE"]
    assert Joiner.last.added == []


@pytest.mark.parametrize("ratio", [0.0, -1.0])
def test_volume_surge_config_rejects_a_non_positive_ratio(ratio: float) -> None:
    with pytest.raises(ValueError, match="min_ratio"):
        VolumeSurgeConfig(universe=["A"], min_ratio=ratio)
