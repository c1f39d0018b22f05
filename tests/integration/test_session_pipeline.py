"""Session clock, publication rule, symbol insertion, live feed and pacing, over the
embedded sample data (real Bittrex bars)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stratagem import LiveBar, Strategy, StrategyConfig, StrategyContext
from stratagem._builtin.scanners import ScheduleConfig, ScheduleScanner
from stratagem._data.intervals import NS_PER_MINUTE, NS_PER_SECOND
from stratagem._data.session_data import SessionData
from stratagem._data.timefmt import parse_ts
from stratagem._runtime.manager import StrategyManager
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.coordinator import SessionCoordinator
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


class Clocked(Strategy):
    """Records, at every notification, the session time and the wall clock."""

    config_class = WatchConfig
    last: Clocked

    def __init__(self, config: WatchConfig) -> None:
        super().__init__(config)
        self.seen: list[tuple[int, float]] = []
        Clocked.last = self

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "1m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self.seen.append((ctx.time_ns, time.perf_counter()))


@pytest.mark.parametrize(("speed", "minutes"), [(600, 4), (6000, 30)])
def test_clock_driven_replay_hands_out_no_step_before_its_wall_time(
    sample, speed, minutes
) -> None:
    # how far behind schedule a loaded machine falls is measured by bench/ (replay
    # drift), not asserted here; a step handed out early is a pacing bug on any
    # machine
    start = parse_ts("2018-01-24T12:00:00Z")
    begun = time.perf_counter()
    outcome = run_strategy(
        [("c", Clocked, WatchConfig(symbols=["ETH_BTC"]))],
        bars=sample,
        speed_multiplier=speed,
        start_ns=start,
        end_ns=start + minutes * NS_PER_MINUTE,
    )
    assert outcome.result.mode == "clock-driven"
    assert outcome.result.steps == minutes
    seen = Clocked.last.seen
    # one notification per step, one step per 1m bar
    assert [t for t, _ in seen] == [
        start + (i + 1) * NS_PER_MINUTE for i in range(minutes)
    ]
    # paced, not as fast as possible: no step reached the strategy before its
    # scheduled wall time (the schedule starts after `begun`), the last one at the
    # session's end
    for time_ns, wall in seen:
        assert wall - begun >= (time_ns - start) / NS_PER_SECOND / speed
    # the lag behind schedule is reported, in session seconds too
    assert {"lag_p99_ms", "lag_max_session_s"} <= set(outcome.coordinator.drift())


def test_batched_data_driven_replay_equals_step_by_step(
    sample, zec_source, monkeypatch, local_strategies
) -> None:
    """Batching steps per barrier (and skipping steps nobody listens to) must be
    invisible: same signals, same insertion, as handing out one step at a time."""
    import stratagem._session.coordinator as coordinator_module

    sma, config = local_strategies.SmaCross, local_strategies.SmaCrossConfig

    def run() -> list:
        scanner = ScheduleScanner(
            ScheduleConfig.model_validate(
                {"add": [{"symbol": "ZEC_BTC", "at": "2018-01-25T06:00:00Z"}]}
            )
        )
        outcome = run_strategy(
            [
                ("ma", sma, config(symbols=SYMBOLS, interval="5m")),
                (
                    "fast",
                    sma,
                    config(
                        symbols=["ETH_BTC", "ZEC_BTC"],
                        interval="1m",
                        fast_period=3,
                        slow_period=8,
                    ),
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
    assert {row[0] for row in batched} == {"ma", "fast"}
    assert any(row[1] == "ZEC_BTC" for row in batched)
    assert batched == step_by_step
