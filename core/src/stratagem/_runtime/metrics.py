"""Per-strategy counters and timing distributions, and the system aggregate."""

from __future__ import annotations

from typing import Any

import numpy as np

from stratagem._records import StrategyState

_RING = 1 << 16
#: timing histogram buckets: bucket ``k`` counts durations in
#: ``[2**(k/2), 2**((k+1)/2))`` ns (two per doubling); the first also counts shorter
#: ones, the last (from 2**41.5 ns, about 49 minutes) longer ones
HISTOGRAM_BUCKETS = 84


def _bucket_counts(durations_ns: np.ndarray) -> np.ndarray:
    index = np.floor(np.log2(np.maximum(durations_ns, 1)) * 2).astype(np.int64)
    return np.bincount(
        np.clip(index, 0, HISTOGRAM_BUCKETS - 1), minlength=HISTOGRAM_BUCKETS
    )


class TimingStats:
    """Exact count, total, max and histogram of durations; percentiles over the
    latest 65,536.

    The writing thread only appends to a list (the cheapest thing it can do per
    notification) and folds it into the totals and a numpy ring between steps;
    readers on other threads combine the folded part with a copy of the list.
    """

    __slots__ = (
        "count",
        "total_ns",
        "max_ns",
        "pending",
        "_ring",
        "_filled",
        "_buckets",
    )

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        #: durations not folded yet; ``pending.append`` is the writer's hot path
        self.pending: list[int] = []
        self._ring = np.zeros(_RING, dtype=np.int64)
        self._filled = 0
        self._buckets = np.zeros(HISTOGRAM_BUCKETS, dtype=np.int64)

    def add(self, duration_ns: int) -> None:
        self.pending.append(duration_ns)
        if len(self.pending) >= 4096:
            self.fold()

    def fold(self) -> None:
        """Move pending durations into the totals (writer thread only)."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        durations = np.asarray(pending, dtype=np.int64)
        # a new array, not in place: readers on other threads hold the previous one
        self._buckets = self._buckets + _bucket_counts(durations)
        chunk = durations[-_RING:]
        start = self.count % _RING
        head = min(len(chunk), _RING - start)
        self._ring[start : start + head] = chunk[:head]
        self._ring[: len(chunk) - head] = chunk[head:]
        self.count += len(pending)
        self.total_ns += sum(pending)
        self.max_ns = max(self.max_ns, max(pending))
        self._filled = min(_RING, self._filled + len(pending))

    def summary_ms(self, prefix: str = "") -> dict[str, float]:
        """avg/p50/p99/max in milliseconds (zeros when nothing was recorded)."""
        pending = list(self.pending)
        count = self.count + len(pending)
        if count == 0:
            return {f"{prefix}{k}_ms": 0.0 for k in ("avg", "p50", "p99", "max")}
        recent = np.concatenate(
            [self._ring[: self._filled], np.asarray(pending, dtype=np.int64)]
        )[-_RING:]
        p50, p99 = np.percentile(recent, [50, 99])
        total = self.total_ns + sum(pending)
        peak = max(self.max_ns, max(pending, default=0))
        return {
            f"{prefix}avg_ms": total / count / 1e6,
            f"{prefix}p50_ms": float(p50) / 1e6,
            f"{prefix}p99_ms": float(p99) / 1e6,
            f"{prefix}max_ms": peak / 1e6,
        }

    def histogram_ms(self, prefix: str = "") -> dict[str, dict[str, list[Any]]]:
        """Every duration recorded, counted in the :data:`HISTOGRAM_BUCKETS` buckets.

        :param prefix: prefix of the key, as in :meth:`summary_ms`.
        :returns: ``{"<prefix>hist_ms": {"edges": [...], "counts": [...]}}`` over the
            buckets from the first to the last non-empty one: ``edges`` in
            milliseconds, one more than ``counts`` (both empty when nothing was
            recorded).
        """
        pending = list(self.pending)
        counts = self._buckets
        if pending:
            counts = counts + _bucket_counts(np.asarray(pending, dtype=np.int64))
        used = np.flatnonzero(counts)
        if not len(used):
            return {f"{prefix}hist_ms": {"edges": [], "counts": []}}
        first, stop = int(used[0]), int(used[-1]) + 1
        return {
            f"{prefix}hist_ms": {
                "edges": [2 ** (k / 2) / 1e6 for k in range(first, stop + 1)],
                "counts": counts[first:stop].tolist(),
            }
        }

    @property
    def total_recorded_ns(self) -> int:
        return self.total_ns + sum(list(self.pending))


class StrategyMetrics:
    """Counters of one strategy instance; incremented by its thread and the manager."""

    def __init__(self) -> None:
        self.notifications = 0
        self.steps = 0
        self.signals = 0
        self.overruns = 0
        self.dropped = 0
        self.blocked = 0
        self.queue_max = 0
        self.state = StrategyState.CREATED
        self.call_time = TimingStats()
        self.wait_time = TimingStats()
        self.signal_latency = TimingStats()

    def snapshot(self, queue_size: int, errors: int) -> dict[str, Any]:
        """Counters and timing summaries, JSON-ready.

        :param queue_size: the inbox's current depth.
        :param errors: failures counted by the failure ledger (its one owner).
        """
        snap: dict[str, Any] = {
            "state": str(self.state),
            "notifications": self.notifications,
            "steps": self.steps,
        }
        snap.update(self.call_time.summary_ms())
        snap["total_ms"] = self.call_time.total_recorded_ns / 1e6
        snap.update(
            {
                "queue_size": queue_size,
                "queue_max": self.queue_max,
                "overruns": self.overruns,
                "dropped": self.dropped,
                "blocked": self.blocked,
                "errors": errors,
                "signals": self.signals,
            }
        )
        snap.update(self.wait_time.summary_ms("wait_"))
        snap.update(self.signal_latency.summary_ms("signal_latency_"))
        snap.update(self.call_time.histogram_ms())
        snap.update(self.wait_time.histogram_ms("wait_"))
        snap.update(self.signal_latency.histogram_ms("signal_latency_"))
        return snap


def bottleneck(strategies: dict[str, dict[str, Any]]) -> str | None:
    """The strategy id that cost the most time (ties: the first in config order)."""
    best: str | None = None
    best_ms = -1.0
    for strategy_id, snap in strategies.items():
        if snap["total_ms"] > best_ms:
            best, best_ms = strategy_id, snap["total_ms"]
    return best
