"""The replay timeline against a brute-force schedule, on real files with gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.resample import resample
from stratagem._data.session_data import BarSeries, SessionData
from stratagem._data.sources import CsvBarSource
from stratagem._data.timefmt import parse_ts
from stratagem._data.timeline import Timeline

#: DASH has ~1,500 holes, ZEC starts days after the others
SYMBOLS = ("ADA_BTC", "DASH_BTC", "ZEC_BTC", "ETC_BTC")
START = parse_ts("2018-01-24T22:00:00Z")
END = parse_ts("2018-01-25T04:00:00Z")


@pytest.fixture(scope="module")
def series(shared_data: Path) -> list[BarSeries]:
    """1m, 5m and 15m series of each symbol, in that order, with a published part."""
    source = CsvBarSource(shared_data / "bars")
    data = SessionData()
    out = []
    for symbol in SYMBOLS:
        base = source.load(symbol, "1m", start_ns=START, end_ns=END)
        for minutes in (1, 5, 15):
            bars = base if minutes == 1 else resample(base, minutes)
            entry = data.add_series(
                symbol, f"{minutes}m", len(bars), derived=minutes > 1
            )
            entry.write(**bars.columns())
            out.append(entry)
    return out


def reference(series: list[BarSeries], after_ns: int) -> tuple[list[int], list]:
    """Step times, and per step the ``(series index, length)`` it publishes: each
    bar at the first step at or after its close, everything left at the flush."""
    closes = {
        int(t) + s.width_ns
        for s in series
        if not s.derived
        for t in s.column("ts")[s.n :]
    }
    times = sorted(t for t in closes if t > after_ns)
    steps = []
    lengths = [s.n for s in series]
    for index in range(len(times) + 1):
        items = []
        for order, entry in enumerate(series):
            if index == len(times):
                length = entry.written
            else:
                visible = entry.column("ts")[: entry.written] + entry.width_ns
                length = int(np.count_nonzero(visible <= times[index]))
            if length > lengths[order]:
                items.append((order, length))
                lengths[order] = length
        steps.append(items)
    return times, steps


@pytest.mark.parametrize("published_minutes", [0, 47])
def test_timeline_publishes_each_bar_at_the_first_step_after_its_close(
    series: list[BarSeries], published_minutes: int
) -> None:
    after = START + published_minutes * NS_PER_MINUTE
    for entry in series:
        entry.n = 0  # the fixture is shared: publish afresh
        entry.publish(
            int(np.count_nonzero(entry.column("ts") + entry.width_ns <= after))
        )
    assert any(entry.n for entry in series) == bool(published_minutes)
    timeline = Timeline()
    timeline.rebuild(series, after)
    times, steps = reference(series, after)
    assert timeline.times == times and len(times) > 300
    assert timeline.flush_index == len(times)
    for index, items in enumerate(steps):
        ids, counts, mid = timeline.events(index, index)
        assert mid == 0
        assert list(zip(ids, counts, strict=True)) == items, index
    # several steps at once: the events of all of them, the last step's from mid
    ids, counts, mid = timeline.events(10, 20)
    assert list(zip(ids, counts, strict=True)) == [
        item for items in steps[10:21] for item in items
    ]
    assert list(zip(ids[mid:], counts[mid:], strict=True)) == steps[20]


def test_target_skips_to_the_next_step_of_interest(series: list[BarSeries]) -> None:
    for entry in series:
        entry.n = 0
    timeline = Timeline()
    timeline.rebuild(series, START)
    times, steps = reference(series, START)
    keys = [(s.symbol, s.interval) for s in series]
    wanted = frozenset({("DASH_BTC", "15m"), ("ZEC_BTC", "5m")})
    orders = {keys.index(key) for key in wanted}
    expected = [
        k for k, items in enumerate(steps[:-1]) if orders & {o for o, _ in items}
    ]
    assert len(expected) > 10
    visited = []
    while timeline.cursor < len(times):
        target = timeline.target(wanted, keys)
        visited.append(target)
        timeline.cursor = target + 1
    # the last step is always a stop, so a session's clock reaches its end
    last = len(times) - 1
    assert visited == expected + ([] if expected[-1] == last else [last])
