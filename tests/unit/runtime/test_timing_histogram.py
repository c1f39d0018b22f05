"""The timing histograms a strategy's metrics carry (``hist_ms`` and friends):
every recorded duration counted once, in the bucket whose edges hold it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from stratagem._runtime.metrics import StrategyMetrics, TimingStats


def bucket_holding(histogram: dict, duration_ns: int) -> int:
    """Index of the bucket whose [lower, upper) edges hold ``duration_ns``."""
    edges_ns = np.asarray(histogram["edges"]) * 1e6
    (found,) = np.flatnonzero(
        (edges_ns[:-1] <= duration_ns) & (duration_ns < edges_ns[1:])
    )
    return int(found)


def test_each_duration_lands_between_its_bucket_edges() -> None:
    stats = TimingStats()
    durations = [900, 1_000, 1_000, 1_500, 40_000, 2_000_000, 2_000_000, 3_000_000_000]
    for duration in durations:
        stats.add(duration)
    (histogram,) = stats.histogram_ms().values()
    edges = histogram["edges"]
    assert len(edges) == len(histogram["counts"]) + 1
    ratios = [b / a for a, b in zip(edges, edges[1:], strict=False)]
    assert ratios == pytest.approx([2**0.5] * len(ratios))
    assert sum(histogram["counts"]) == len(durations)
    expected: dict[int, int] = {}
    for duration in durations:
        index = bucket_holding(histogram, duration)
        expected[index] = expected.get(index, 0) + 1
    assert {i: c for i, c in enumerate(histogram["counts"]) if c} == expected
    # trimmed to the used span: the first and the last bucket hold something
    assert histogram["counts"][0] and histogram["counts"][-1]


def test_folded_and_pending_durations_are_counted_alike() -> None:
    rng = np.random.default_rng(3)
    durations = rng.integers(500, 50_000_000, size=10_000).tolist()
    folded, pending = TimingStats(), TimingStats()
    for duration in durations:
        folded.add(duration)  # folds every 4,096
    pending.pending.extend(durations)  # never folded
    assert folded.pending != durations
    assert folded.histogram_ms("x_") == pending.histogram_ms("x_")
    (histogram,) = folded.histogram_ms().values()
    assert (
        sum(histogram["counts"]) == len(durations) == folded.count + len(folded.pending)
    )


def test_counts_are_exact_beyond_the_percentile_ring() -> None:
    stats = TimingStats()
    for _ in range(70_000):  # more than the 65,536 the percentiles look at
        stats.add(2_000)
    (histogram,) = stats.histogram_ms().values()
    assert histogram["counts"] == [70_000]


def test_nothing_recorded_gives_an_empty_histogram() -> None:
    assert TimingStats().histogram_ms("wait_") == {
        "wait_hist_ms": {"edges": [], "counts": []}
    }


def test_a_snapshot_carries_the_three_histograms_while_a_thread_records() -> None:
    metrics = StrategyMetrics()
    stop = threading.Event()

    def record() -> None:
        while not stop.is_set():
            metrics.call_time.add(1_234)

    writer = threading.Thread(target=record)
    writer.start()
    try:
        snapshots = [metrics.snapshot(queue_size=0, errors=0) for _ in range(50)]
    finally:
        stop.set()
        writer.join()
    for snap in snapshots:
        assert {"hist_ms", "wait_hist_ms", "signal_latency_hist_ms"} <= set(snap)
        assert snap["wait_hist_ms"] == {"edges": [], "counts": []}
    final = metrics.snapshot(queue_size=0, errors=0)["hist_ms"]
    assert sum(final["counts"]) == metrics.call_time.count + len(
        metrics.call_time.pending
    )
