"""The metric families of one session, rebuilt from each report.

The session's counters already count (they are cumulative since the session
started), so the families are built with the absolute values of the latest
:class:`stratagem.MetricsReport` rather than by incrementing prometheus-client's own
counters. They are built on the reporting thread when a report arrives and swapped
in whole; a scrape only yields the families of the latest report.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from stratagem import MetricsReport, StrategyState

#: the ``le`` bounds of every timing histogram, in seconds: powers of two
#: nanoseconds from 1,024 ns (about 1 us) to 2**36 ns (about 69 s). They are edges
#: of the session's own timing buckets (powers of sqrt 2 ns), so every count is
#: exact.
BUCKET_BOUNDS_S: tuple[float, ...] = tuple(2**k / 1e9 for k in range(10, 37))

#: per-strategy counters: (snapshot key, metric name, help)
STRATEGY_COUNTERS: tuple[tuple[str, str, str], ...] = (
    (
        "notifications",
        "stratagem_strategy_notifications",
        "Notifications delivered to the strategy (on_bars calls).",
    ),
    ("steps", "stratagem_strategy_steps", "Clock steps the strategy handled."),
    (
        "signals",
        "stratagem_strategy_signals",
        "Signals the strategy emitted (the final report counts signals.csv's rows).",
    ),
    ("errors", "stratagem_strategy_errors", "Failures of the strategy's hooks."),
    (
        "overruns",
        "stratagem_strategy_overruns",
        "Steps that found the strategy's inbox full.",
    ),
    (
        "dropped",
        "stratagem_strategy_dropped",
        "Steps dropped or coalesced by the inbox's backpressure policy.",
    ),
    (
        "blocked",
        "stratagem_strategy_blocked",
        "Hand-offs that waited for room in the inbox (backpressure 'block').",
    ),
)

#: per-strategy timing histograms: (snapshot key prefix, metric name, help)
STRATEGY_HISTOGRAMS: tuple[tuple[str, str, str], ...] = (
    (
        "",
        "stratagem_strategy_notification_seconds",
        "Time the strategy took per notification.",
    ),
    (
        "wait_",
        "stratagem_strategy_wait_seconds",
        "Time from a step being handed out to the strategy's thread starting it.",
    ),
    (
        "signal_latency_",
        "stratagem_strategy_signal_latency_seconds",
        "Time from a step being handed out to a signal emitted on it.",
    ),
)

_STATES = tuple(str(state) for state in StrategyState)
_LAG_QUANTILES = (("0.5", "lag_p50_ms"), ("0.99", "lag_p99_ms"), ("1", "lag_max_ms"))


class ReportCollector(Collector):
    """Yields the metric families of the latest report (none before the first).

    :meth:`update` runs on the session's reporting thread; :meth:`collect` on the
    HTTP server's threads.
    """

    def __init__(self) -> None:
        self._families: tuple[Metric, ...] = ()
        self._final = False
        self._peaks = _Peaks()
        #: set once a scrape has read the families of the session's final report
        self.final_scraped = threading.Event()

    @property
    def final(self) -> bool:
        """Whether the session's final report is in."""
        return self._final

    def update(self, report: MetricsReport) -> None:
        """Build the families of ``report`` and make them the ones scrapes get.

        :param report: the session's latest snapshot.
        """
        families = (
            *_session_families(report),
            *_strategy_families(report.strategies, report.system, self._peaks),
        )
        # one assignment each: a scrape sees the old families or the new ones
        self._families = families
        self._final = report.final

    def collect(self) -> Iterator[Metric]:
        families, final = self._families, self._final
        yield from families
        if final:
            self.final_scraped.set()


class _Peaks:
    """The highest value exported per series, for values that never go down.

    The session reads a strategy's timing buckets while its thread may be folding
    new durations into them; such a read can miss a handful for a moment. The true
    counts only grow, so the exporter keeps the highest it has seen, which is
    never above the truth, and Prometheus never sees a counter reset.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], float] = {}

    def at_least(self, key: tuple[str, ...], value: float) -> float:
        peak = max(value, self._seen.get(key, value))
        self._seen[key] = peak
        return peak


def _session_families(report: MetricsReport) -> list[Metric]:
    system = report.system
    info = InfoMetricFamily(
        "stratagem_session",
        "The session: run id, mode and status.",
        value={
            "run_id": str(report.extra.get("run_id", "")),
            "mode": str(system.get("mode", "")),
            "status": str(system.get("status", "")),
        },
    )
    families: list[Metric] = [
        info,
        _gauge(
            "stratagem_session_ended",
            "1 once the session's final report is in.",
            1.0 if report.final else 0.0,
        ),
        _gauge(
            "stratagem_speed_multiplier",
            "Replay speed: 0 data-driven, N clock-driven at N x real time.",
            system.get("speed_multiplier", 0.0),
        ),
        _gauge(
            "stratagem_wall_seconds",
            "Wall time since the run started.",
            system.get("wall_s", 0.0),
        ),
        _counter("stratagem_bars", "Base bars taken in.", system.get("bars_in", 0)),
        _gauge(
            "stratagem_bars_per_second",
            "Base bars taken in per wall second, since the run started.",
            system.get("bars_per_s", 0.0),
        ),
        _gauge(
            "stratagem_symbols",
            "Symbols in the session (added ones included).",
            len(system.get("symbols") or ()),
        ),
        _gauge(
            "stratagem_session_data_bytes",
            "Memory held by the session's bars.",
            system.get("session_data_bytes", 0),
        ),
        _counter(
            "stratagem_live_bars_dropped",
            "Live bars dropped (late, repeated or invalid).",
            system.get("live_bars_dropped", 0),
        ),
    ]
    session_time = system.get("session_time")
    if isinstance(session_time, str):
        families.append(
            _gauge(
                "stratagem_session_time_seconds",
                "The session clock, as Unix time.",
                datetime.fromisoformat(session_time.replace("Z", "+00:00")).timestamp(),
            )
        )
    if all(key in system for _, key in _LAG_QUANTILES):
        lag = GaugeMetricFamily(
            "stratagem_clock_lag_seconds",
            "Clock-driven runs: how far steps ran behind their schedule "
            "(quantile 1 is the maximum).",
            labels=["quantile"],
        )
        for quantile, key in _LAG_QUANTILES:
            lag.add_metric([quantile], float(system[key]) / 1000)
        families.append(lag)
    if "skipped_session_s" in system:
        families.append(
            _counter(
                "stratagem_skipped_session_seconds",
                "Clock-driven runs: session time skipped to catch up.",
                system["skipped_session_s"],
            )
        )
    return families


def _strategy_families(
    strategies: Mapping[str, Mapping[str, Any]],
    system: Mapping[str, Any],
    peaks: _Peaks,
) -> list[Metric]:
    labels = ["strategy"]
    counters = {
        key: CounterMetricFamily(name, text, labels=labels)
        for key, name, text in STRATEGY_COUNTERS
    }
    busy = CounterMetricFamily(
        "stratagem_strategy_busy_seconds",
        "Time spent in the strategy's hooks (a call still running included).",
        labels=labels,
    )
    depth = GaugeMetricFamily(
        "stratagem_strategy_queue_depth", "Steps waiting in the inbox.", labels=labels
    )
    high = GaugeMetricFamily(
        "stratagem_strategy_queue_max",
        "Most steps ever waiting in the inbox.",
        labels=labels,
    )
    state = GaugeMetricFamily(
        "stratagem_strategy_state",
        "1 for the strategy's lifecycle state, 0 for the others.",
        labels=["strategy", "state"],
    )
    bottleneck = GaugeMetricFamily(
        "stratagem_strategy_bottleneck",
        "1 for the strategy that cost the most time so far.",
        labels=labels,
    )
    histograms = {
        prefix: HistogramMetricFamily(name, text, labels=labels)
        for prefix, name, text in STRATEGY_HISTOGRAMS
    }
    for strategy_id, snap in strategies.items():
        for key, family in counters.items():
            family.add_metric([strategy_id], snap.get(key, 0))
        busy_s = float(snap.get("total_ms", 0.0)) / 1000
        busy.add_metric([strategy_id], peaks.at_least(("busy", strategy_id), busy_s))
        depth.add_metric([strategy_id], snap.get("queue_size", 0))
        high.add_metric([strategy_id], snap.get("queue_max", 0))
        current = str(snap.get("state", ""))
        for name in _STATES:
            state.add_metric([strategy_id, name], 1.0 if name == current else 0.0)
        is_bottleneck = strategy_id == system.get("bottleneck")
        bottleneck.add_metric([strategy_id], 1.0 if is_bottleneck else 0.0)
        for prefix, family in histograms.items():
            _add_histogram(family, strategy_id, snap, prefix, peaks)
    return [
        *counters.values(),
        busy,
        depth,
        high,
        state,
        bottleneck,
        *histograms.values(),
    ]


def _add_histogram(
    family: HistogramMetricFamily,
    strategy_id: str,
    snap: Mapping[str, Any],
    prefix: str,
    peaks: _Peaks,
) -> None:
    """One strategy's series of a timing histogram, from its snapshot's
    ``<prefix>hist_ms`` and ``<prefix>avg_ms`` (none when the snapshot has no
    histogram)."""
    histogram = snap.get(f"{prefix}hist_ms")
    if histogram is None:
        return
    average_s = float(snap.get(f"{prefix}avg_ms", 0.0)) / 1000
    buckets, total_s = _buckets(histogram, average_s)
    key = (family.name, strategy_id)
    buckets = [(le, peaks.at_least((*key, le), count)) for le, count in buckets]
    family.add_metric([strategy_id], buckets, peaks.at_least((*key, "sum"), total_s))


def _buckets(
    histogram: Mapping[str, Sequence[float]], average_s: float
) -> tuple[list[tuple[str, float]], float]:
    """The session's timing buckets as cumulative ``le`` buckets and their sum.

    :param histogram: ``{"edges": [...], "counts": [...]}`` in milliseconds: counts
        of durations in ``[edges[i], edges[i + 1])``.
    :param average_s: the average duration, which times the count gives the sum.
    """
    edges, counts = histogram["edges"], histogram["counts"]
    cumulative: list[tuple[str, float]] = []
    total = 0
    index = 0
    for bound_s in BUCKET_BOUNDS_S:
        bound_ms = bound_s * 1000 * (1 + 1e-9)
        while index < len(counts) and edges[index + 1] <= bound_ms:
            total += counts[index]
            index += 1
        cumulative.append((repr(bound_s), total))
    count = sum(counts)
    cumulative.append(("+Inf", count))
    return cumulative, average_s * count


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float(value))


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=float(value))
