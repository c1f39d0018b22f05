"""A reload's swap in process (DESIGN 12): the new instance starts at the last step
the old one was given, whatever the session clock says when the swap is asked for
(it may already be past a step not handed out yet), so no bar is lost or counted
twice, on the path where the new code starts and on the one where it fails and the
old code runs on; and the steps handed out while the new instance still adopts the
state queue for it, routed by the old instance's subscriptions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratagem import LiveBar, Signal, Strategy, StrategyConfig, StrategyContext
from stratagem._data.session_data import SessionData
from stratagem._runtime.manager import StrategyManager
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.coordinator import SessionCoordinator
from stratagem._session.processor import DataProcessor
from stratagem.testing import MemorySource, load_bars

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"


class Counting(Strategy):
    """Signals on every ETH_BTC 5m bar with the number of bars seen so far."""

    version = "v1"

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "5m")
        self.count = 0

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self.count += ctx.new_bars
        bar_ts = int(ctx.bars(symbol, interval).ts[-1])
        reason = f"{self.version} n={self.count}"
        ctx.emit(Signal(symbol, interval, bar_ts, "buy", reason=reason))

    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        return {"count": self.count}

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        self.count = state["count"]


class CountingV2(Counting):
    version = "v2"


class FailsToStart(Counting):
    def on_start(self, ctx: StrategyContext) -> None:
        raise RuntimeError("no start")


#: set by the scanner a few steps after a swap that does not wait for it
RELEASED = threading.Event()


class SlowToStart(CountingV2):
    """New code whose ``on_start`` is held until steps were handed out after the
    swap (the new instance has not adopted the state yet when they are)."""

    def on_start(self, ctx: StrategyContext) -> None:
        assert RELEASED.wait(30)
        super().on_start(ctx)


class SlowToFail(Counting):
    def on_start(self, ctx: StrategyContext) -> None:
        assert RELEASED.wait(30)
        raise RuntimeError("no start")


class SwapAt:
    """A scanner that swaps the strategy at its 300th poll: in a live session the
    step's bar is already published then, and not yet handed out."""

    def __init__(self, replacement: type[Strategy]) -> None:
        self.replacement = replacement
        self.polls = 0
        self.outcomes: list[bool] = []
        self.slow = replacement in (SlowToStart, SlowToFail)

    def scan(self, context: Any) -> list[str]:
        self.polls += 1
        if self.polls == 300:
            new = StrategyInstance("counting", self.replacement, StrategyConfig())
            self.handover = context.coordinator.manager.swap(new, context.time_ns)
            if not self.slow:
                self.settle()
        elif self.polls == 330 and self.slow:
            # 30 one-minute steps (six 5m bars) were handed out meanwhile
            RELEASED.set()
            self.settle()
        return []

    def settle(self) -> None:
        assert self.handover.done.wait(30)
        self.outcomes.append(self.handover.ok)


def run_live(replacement: type[Strategy]) -> list[tuple[int, str]]:
    """A live session over ETH_BTC whose strategy is swapped at its 300th bar."""
    eth = load_bars(SAMPLE / "1m" / "ETH_BTC.csv")
    data = SessionData()
    processor = DataProcessor(data, [5])
    instance = StrategyInstance("counting", Counting, StrategyConfig())
    manager = StrategyManager([instance], data, mode="live")
    swapper = SwapAt(replacement)
    coordinator = SessionCoordinator(
        ["ETH_BTC"],
        processor,
        manager,
        MemorySource({}),
        speed_multiplier=0,
        scanners=[("swap", swapper)],
    )
    feed = (
        LiveBar(
            "ETH_BTC",
            int(eth.ts[row]),
            eth.open[row],
            eth.high[row],
            eth.low[row],
            eth.close[row],
            eth.volume[row],
        )
        for row in range(len(eth))
    )
    result = coordinator.run_live(feed, start_ns=int(eth.ts[0]))
    assert result.status == "ok"
    assert swapper.outcomes == [replacement not in (FailsToStart, SlowToFail)]
    return [(signal.bar_ts, signal.reason or "") for signal in manager.signals()]


@pytest.mark.parametrize(
    "replacement", [CountingV2, FailsToStart, SlowToStart, SlowToFail]
)
def test_the_swapped_instance_counts_every_bar_once(
    replacement: type[Strategy],
) -> None:
    RELEASED.clear()
    rows = run_live(replacement)
    counts = [int(reason.split("n=")[1]) for _, reason in rows]
    # one signal per 5m bar, and the count carried over the swap without a gap
    assert counts == list(range(1, len(rows) + 1))
    versions = {reason.split()[0] for _, reason in rows}
    new_code_runs = replacement in (CountingV2, SlowToStart)
    assert versions == ({"v1", "v2"} if new_code_runs else {"v1"})


#: set when the old instance is stuck
STUCK = threading.Event()


class StuckOnce(Strategy):
    """Takes ETH_BTC and LTC_BTC 5m bars, and is stuck in its 60th ETH_BTC call
    for longer than a reload waits for its state."""

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("ETH_BTC", "5m")
        ctx.subscribe("LTC_BTC", "5m")
        self.eth_bars = 0

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        if symbol == "ETH_BTC":
            self.eth_bars += 1
            if self.eth_bars == 60:
                STUCK.set()
                time.sleep(1.5)


class LtcOnly(Strategy):
    """New code that takes LTC_BTC alone and signals every call it gets."""

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.subscribe("LTC_BTC", "5m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        bar_ts = int(ctx.bars(symbol, interval).ts[-1])
        ctx.emit(Signal(symbol, interval, bar_ts, "buy", reason="new"))


class SwapWithoutWaiting:
    def __init__(self) -> None:
        self.handover: Any = None

    def scan(self, context: Any) -> list[str]:
        if STUCK.is_set() and self.handover is None:
            new = StrategyInstance(
                "stuck", LtcOnly, StrategyConfig(), callback_timeout_s=0.3
            )
            self.handover = context.coordinator.manager.swap(new, context.time_ns)
        return []


def test_new_code_that_starts_without_the_state_gets_only_its_own_series() -> None:
    """The old instance is stuck, so the new one starts without its state and
    subscriptions; the steps queued meanwhile (routed as the old instance's were)
    reach it only for the series it took itself."""
    bars = {
        symbol: load_bars(SAMPLE / "1m" / f"{symbol}.csv")
        for symbol in ("ETH_BTC", "LTC_BTC")
    }
    data = SessionData()
    instance = StrategyInstance(
        "stuck", StuckOnce, StrategyConfig(), callback_timeout_s=0.3
    )
    manager = StrategyManager([instance], data, mode="live", join_timeout_s=10)
    swapper = SwapWithoutWaiting()
    coordinator = SessionCoordinator(
        ["ETH_BTC", "LTC_BTC"],
        DataProcessor(data, [5]),
        manager,
        MemorySource({}),
        speed_multiplier=0,
        scanners=[("swap", swapper)],
    )
    start_ns = max(int(b.ts[0]) for b in bars.values())

    def feed() -> Iterator[LiveBar]:
        for row in range(min(len(b) for b in bars.values())):
            if row == 400:
                # the rest arrives while the old instance is stuck
                assert STUCK.wait(30)
            for symbol, b in bars.items():
                yield LiveBar(
                    symbol,
                    int(b.ts[row]),
                    b.open[row],
                    b.high[row],
                    b.low[row],
                    b.close[row],
                    b.volume[row],
                )

    coordinator.run_live(feed(), start_ns=start_ns)
    assert swapper.handover.done.wait(30)
    assert swapper.handover.ok
    assert "did not hand over its state" in swapper.handover.message
    new_signals = [s for s in manager.signals() if s.reason == "new"]
    assert new_signals, "the new code got no LTC_BTC bar"
    assert {s.symbol for s in new_signals} == {"LTC_BTC"}
