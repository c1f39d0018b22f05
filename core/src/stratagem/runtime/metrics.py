"""Per-strategy counters and timing distributions, and the system aggregate."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_RING = 1 << 16


class TimingStats:
    """Exact count, total and max of durations, percentiles over the latest 65,536.

    Written by one thread (the strategy's), read by the reporter under the lock.
    """

    __slots__ = ("count", "total_ns", "max_ns", "_ring", "_lock")

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        self._ring = np.zeros(_RING, dtype=np.int64)
        self._lock = threading.Lock()

    def add(self, duration_ns: int) -> None:
        self._ring[self.count & (_RING - 1)] = duration_ns
        self.count += 1
        self.total_ns += duration_ns
        if duration_ns > self.max_ns:
            self.max_ns = duration_ns

    def summary_ms(self, prefix: str = "") -> dict[str, float]:
        """avg/p50/p99/max in milliseconds (zeros when nothing was recorded)."""
        count = self.count
        if count == 0:
            return {f"{prefix}{k}_ms": 0.0 for k in ("avg", "p50", "p99", "max")}
        recent = self._ring[: min(count, _RING)]
        p50, p99 = np.percentile(recent, [50, 99])
        return {
            f"{prefix}avg_ms": self.total_ns / count / 1e6,
            f"{prefix}p50_ms": float(p50) / 1e6,
            f"{prefix}p99_ms": float(p99) / 1e6,
            f"{prefix}max_ms": self.max_ns / 1e6,
        }


class StrategyMetrics:
    """Counters of one strategy instance; incremented by its thread and the manager."""

    def __init__(self) -> None:
        self.notifications = 0
        self.steps = 0
        self.errors = 0
        self.signals = 0
        self.overruns = 0
        self.dropped = 0
        self.blocked = 0
        self.queue_max = 0
        self.state = "created"
        self.call_time = TimingStats()
        self.wait_time = TimingStats()
        self.signal_latency = TimingStats()

    def snapshot(self, queue_size: int) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "state": self.state,
            "notifications": self.notifications,
            "steps": self.steps,
        }
        snap.update(self.call_time.summary_ms())
        snap["total_ms"] = self.call_time.total_ns / 1e6
        snap.update(
            {
                "queue_size": queue_size,
                "queue_max": self.queue_max,
                "overruns": self.overruns,
                "dropped": self.dropped,
                "blocked": self.blocked,
                "errors": self.errors,
                "signals": self.signals,
            }
        )
        snap.update(self.wait_time.summary_ms("wait_"))
        snap.update(self.signal_latency.summary_ms("signal_latency_"))
        return snap


def bottleneck(strategies: dict[str, dict[str, Any]]) -> str | None:
    """The strategy id that cost the most time (ties: the first in config order)."""
    best: str | None = None
    best_ms = -1.0
    for strategy_id, snap in strategies.items():
        if snap["total_ms"] > best_ms:
            best, best_ms = strategy_id, snap["total_ms"]
    return best
