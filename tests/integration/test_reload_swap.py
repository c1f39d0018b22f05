"""A reload's swap in process (DESIGN 12): the new instance starts at the last step
the old one was given, whatever the session clock says when the swap is asked for
(it may already be past a step not handed out yet), so no bar is lost or counted
twice, on the path where the new code starts and on the one where it fails and the
old code runs on."""

from __future__ import annotations

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


class SwapAt:
    """A scanner that swaps the strategy at its 300th poll: in a live session the
    step's bar is already published then, and not yet handed out."""

    def __init__(self, replacement: type[Strategy]) -> None:
        self.replacement = replacement
        self.polls = 0
        self.outcomes: list[bool] = []

    def scan(self, context: Any) -> list[str]:
        self.polls += 1
        if self.polls == 300:
            new = StrategyInstance("counting", self.replacement, StrategyConfig())
            handover = context.coordinator.manager.swap(new, context.time_ns)
            assert handover.done.wait(30)
            self.outcomes.append(handover.ok)
        return []


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
    assert swapper.outcomes == [replacement is not FailsToStart]
    return [(signal.bar_ts, signal.reason or "") for signal in manager.signals()]


@pytest.mark.parametrize("replacement", [CountingV2, FailsToStart])
def test_the_swapped_instance_counts_every_bar_once(
    replacement: type[Strategy],
) -> None:
    rows = run_live(replacement)
    counts = [int(reason.split("n=")[1]) for _, reason in rows]
    # one signal per 5m bar, and the count carried over the swap without a gap
    assert counts == list(range(1, len(rows) + 1))
    versions = {reason.split()[0] for _, reason in rows}
    assert versions == ({"v1", "v2"} if replacement is CountingV2 else {"v1"})
