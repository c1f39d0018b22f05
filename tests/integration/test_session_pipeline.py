"""Session clock, publication rule, symbol insertion, live feed and pacing, over the
embedded sample data (real Bittrex bars)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from stratagem import Strategy, StrategyConfig, StrategyContext
from stratagem._builtin.scanners import ScheduleConfig, ScheduleScanner
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.session_data import SessionData
from stratagem._data.timefmt import parse_ts
from stratagem._runtime.manager import StrategyManager
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.coordinator import LiveBar, SessionCoordinator
from stratagem._session.processor import DataProcessor
from stratagem.testing import MemorySource, load_bars, run_strategy

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]
INTERVALS = {"1m": 1, "5m": 5, "15m": 15}


@pytest.fixture(scope="module")
def sample() -> dict:
    return {s: load_bars(SAMPLE / "1m" / f"{s}.csv") for s in SYMBOLS}


@pytest.fixture(scope="module")
def zec_source(sample) -> MemorySource:
    bars = {(s, "1m"): b for s, b in sample.items()}
    bars[("ZEC_BTC", "1m")] = load_bars(SAMPLE / "1m" / "ZEC_BTC.csv")
    bars[("ZEC_BTC", "5m")] = load_bars(SAMPLE / "5m" / "ZEC_BTC.csv")
    return MemorySource(bars)


class WatchConfig(StrategyConfig):
    symbols: list[str] = SYMBOLS
    intervals: list[str] = ["1m", "5m", "15m"]


class Watcher(Strategy):
    """Records every notification and symbol insertion with what it could see."""

    config_class = WatchConfig
    instances: list[Watcher] = []

    def __init__(self, config: WatchConfig) -> None:
        super().__init__(config)
        self.seen: list[tuple[int, str, str, int, int]] = []
        self.added: list[tuple[str, str, int, dict[str, int]]] = []
        Watcher.instances.append(self)

    def on_start(self, ctx: StrategyContext) -> None:
        for symbol in self.config.symbols:
            for interval in self.config.intervals:
                ctx.subscribe(symbol, interval)

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        bars = ctx.bars(symbol, interval)
        self.seen.append((ctx.time_ns, symbol, interval, int(bars.ts[-1]), len(bars)))

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        history = {iv: len(ctx.bars(symbol, iv)) for iv in self.config.intervals}
        self.added.append(
            (symbol, threading.current_thread().name, ctx.time_ns, history)
        )
        for interval in self.config.intervals:
            ctx.subscribe(symbol, interval)


def test_no_bar_is_published_before_its_window_closes_nor_after(sample) -> None:
    outcome = run_strategy([("w", Watcher, WatchConfig())], bars=sample)
    watcher = Watcher.instances[-1]
    steps = np.unique(np.concatenate([b.ts + NS_PER_MINUTE for b in sample.values()]))
    end = int(steps[-1])
    assert len(watcher.seen) > 10_000
    for time_ns, _, interval, bar_ts, _ in watcher.seen:
        bar_end = bar_ts + INTERVALS[interval] * NS_PER_MINUTE
        if time_ns == end and bar_end > end:
            continue  # the last partial windows, closed by the session end
        assert bar_end <= time_ns, "a bar was visible before its window closed"
        # ... and it was published at the first clock step at or after its end
        first_step = steps[np.searchsorted(steps, bar_end)]
        assert time_ns == first_step
    counts = {iv: outcome.data.series("ETH_BTC", iv).n for iv in INTERVALS}
    # every 1m bar and every non-empty window was delivered
    eth = sample["ETH_BTC"]
    assert counts["1m"] == len(eth)
    assert counts["5m"] == len(np.unique(eth.ts // (5 * NS_PER_MINUTE)))
    assert counts["15m"] == len(np.unique(eth.ts // (15 * NS_PER_MINUTE)))


def test_hook_stratagem_on_symbol_added(sample, zec_source) -> None:
    at = parse_ts("2018-01-25T06:00:00Z")
    scanner = ScheduleScanner(
        ScheduleConfig.model_validate(
            {"add": [{"symbol": "ZEC_BTC", "at": "2018-01-25T06:00:00Z"}]}
        )
    )
    outcome = run_strategy(
        [("w", Watcher, WatchConfig())],
        bars=sample,
        source=zec_source,
        scanners=[("schedule", scanner)],
        warmup_bars=100,
    )
    watcher = Watcher.instances[-1]
    ((symbol, thread_name, added_at, history),) = watcher.added
    assert (symbol, thread_name) == ("ZEC_BTC", "strategy-w")
    assert added_at == at
    # warm-up was published before strategies heard of the symbol: 1m from the 1m
    # file (which starts at 00:00), 5m and 15m extended back with the 5m file
    assert history == {"1m": 100, "5m": 100, "15m": 100}
    zec_5m = outcome.data.series("ZEC_BTC", "5m")
    five = zec_source.load("ZEC_BTC", "5m")
    first = int(zec_5m.column("ts")[0])
    assert first < parse_ts("2018-01-25T00:00:00Z")
    row = int(np.searchsorted(five.ts, first))
    assert zec_5m.column("close")[0] == five.close[row]
    # no ZEC bar reached the strategy before the insertion, and some did after
    zec = [entry for entry in watcher.seen if entry[1] == "ZEC_BTC"]
    assert zec and min(entry[0] for entry in zec) > at
    first_1m = min(entry[3] for entry in zec if entry[2] == "1m")
    zec_1m = zec_source.load("ZEC_BTC", "1m").ts
    # the first bar delivered is the file's first bar opening at or after insertion
    assert first_1m == zec_1m[np.searchsorted(zec_1m, at)]
    (insertion,) = outcome.result.insertions
    assert insertion.by == "schedule"


def test_live_feed_publishes_exactly_what_replay_publishes(sample) -> None:
    replay = run_strategy([("w", Watcher, WatchConfig())], bars=sample)
    feed = sorted(
        (
            LiveBar(
                s, int(b.ts[i]), b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i]
            )
            for s, b in sample.items()
            for i in range(len(b))
        ),
        key=lambda bar: (bar.ts, SYMBOLS.index(bar.symbol)),
    )
    data = SessionData()
    processor = DataProcessor(data, [5, 15])
    manager = StrategyManager(
        [StrategyInstance("w", Watcher, WatchConfig())], data, mode="live"
    )
    coordinator = SessionCoordinator(
        SYMBOLS, processor, manager, MemorySource({}), speed_multiplier=0
    )
    result = coordinator.run_live(
        iter(feed), start_ns=min(int(b.ts[0]) for b in sample.values())
    )
    assert result.status == "ok"
    for symbol in SYMBOLS:
        for interval in INTERVALS:
            live = data.series(symbol, interval)
            bulk = replay.data.series(symbol, interval)
            assert live.n == bulk.n > 0
            for column in ("ts", "open", "high", "low", "close", "volume", "quality"):
                np.testing.assert_array_equal(
                    live.column(column)[: live.n], bulk.column(column)[: bulk.n]
                )


@pytest.mark.parametrize(("speed", "minutes"), [(60, 4), (600, 30)])
def test_clock_driven_pacing_keeps_within_one_bar_of_schedule(sample, speed, minutes):
    start = parse_ts("2018-01-24T12:00:00Z")
    outcome = run_strategy(
        [("w", Watcher, WatchConfig(symbols=["ETH_BTC"], intervals=["1m"]))],
        bars=sample,
        speed_multiplier=speed,
        start_ns=start,
        end_ns=start + minutes * NS_PER_MINUTE,
    )
    result = outcome.result
    expected_wall = minutes * 60 / speed
    # paced, not as fast as possible: the last step is due at the session's end
    assert result.wall_s >= expected_wall * 0.9
    assert result.wall_s < expected_wall + 2.0
    drift = outcome.coordinator.drift()
    assert drift["lag_max_session_s"] < 60, drift  # less than one 1m bar behind
    assert result.steps == minutes


def test_batched_data_driven_replay_equals_step_by_step(
    sample, zec_source, monkeypatch
) -> None:
    """Batching steps per barrier (and skipping steps nobody listens to) must be
    invisible: same signals, same insertion, as handing out one step at a time."""
    import stratagem._session.coordinator as coordinator_module
    from stratagem_ma_cross import MACross, MACrossConfig
    from stratagem_rsi_reversion import RSIReversion, RSIReversionConfig

    def run() -> list:
        scanner = ScheduleScanner(
            ScheduleConfig.model_validate(
                {"add": [{"symbol": "ZEC_BTC", "at": "2018-01-25T06:00:00Z"}]}
            )
        )
        outcome = run_strategy(
            [
                ("ma", MACross, MACrossConfig(symbols=SYMBOLS, interval="5m")),
                (
                    "rsi",
                    RSIReversion,
                    RSIReversionConfig(symbols=["ETH_BTC", "ZEC_BTC"], interval="1m"),
                ),
            ],
            bars=sample,
            source=zec_source,
            scanners=[("schedule", scanner)],
        )
        assert [i.symbol for i in outcome.result.insertions] == ["ZEC_BTC"]
        return [(s.strategy, s.symbol, s.bar_ts, s.side) for s in outcome.signals]

    batched = run()
    monkeypatch.setattr(coordinator_module, "BATCH_STEPS", 1)
    step_by_step = run()
    assert any(row[1] == "ZEC_BTC" for row in batched)
    assert batched == step_by_step
