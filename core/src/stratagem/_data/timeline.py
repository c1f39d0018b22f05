"""The session timeline: session time, when a bar becomes visible, and the steps.

One rule (DESIGN section 4), defined here and asked by every path (replay,
clock-driven, live, symbol insertion, strategy views, scanners):

    a bar that opens at ``ts`` and lasts ``width`` is visible at session time ``t``
    iff ``ts + width <= t`` (its window has closed).

Replay knows every bar in advance, so :class:`Timeline` computes once, for every
future step (each distinct close of a base bar), which series grow to which length;
``next_step`` walks it. Live runs advance time bar by bar and ask
:func:`live_horizon`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from stratagem._records import SeriesKey

if TYPE_CHECKING:
    from stratagem._data.session_data import BarSeries

_Time = TypeVar("_Time", int, np.ndarray)

#: what one step published: ``(series key, published length)`` per series, in order
StepItems = list[tuple[SeriesKey, int]]


def bar_close(open_ns: _Time, width_ns: int) -> _Time:
    """When a bar that opens at ``open_ns`` closes: the first instant it is visible."""
    return open_ns + width_ns


def is_visible(open_ns: int, width_ns: int, t_ns: int) -> bool:
    """Whether a bar opening at ``open_ns`` is visible at session time ``t_ns``."""
    return open_ns + width_ns <= t_ns


def visible_count(ts: np.ndarray, width_ns: int, t_ns: int) -> int:
    """How many of the bars with sorted open times ``ts`` are visible at ``t_ns``."""
    n = len(ts)
    if n == 0:
        return 0
    if int(ts[n - 1]) + width_ns <= t_ns:
        return n
    return int(np.searchsorted(ts, t_ns - width_ns, side="right"))


def live_horizon(now_ns: int, base_width_ns: int) -> int:
    """Live: the time through which every symbol's bars are known to be in.

    Base bars of one period arrive one symbol after another, so at session time
    ``now`` (the newest close) another symbol's bar of that same period may still
    come; only windows that closed a base period earlier are complete. A window whose
    last base bar is missing therefore closes one base period later than in replay;
    the bars themselves are identical.
    """
    return now_ns - base_width_ns


@dataclass(frozen=True, slots=True)
class ClockStep:
    """One step of the session clock and what it published.

    :param index: position in the replay timeline; None for a step that cannot be
        replayed (the end-of-session flush, a live step).
    :param time_ns: session time of the step.
    :param items: ``(key, n)`` per series published at this step; ``n`` is the
        series' published length, so its newest bar is row ``n - 1``.
    """

    index: int | None
    time_ns: int
    items: StepItems


class Timeline:
    """The replay schedule: for every future step, which series grow to what.

    Rebuilt when the set of series changes (a symbol joins); the processor publishes
    what :meth:`advance` returns. Held as parallel int32 arrays sorted by (step,
    series order) and converted to Python a chunk at a time, so a long session never
    holds its whole timeline as Python objects.
    """

    def __init__(self) -> None:
        self.times: list[int] = []
        self._ev_step = np.empty(0, dtype=np.int32)
        self._ev_series = np.empty(0, dtype=np.int32)
        self._ev_n = np.empty(0, dtype=np.int32)
        self._bounds: list[int] = [0, 0]
        self.cursor = 0
        self._chunk: tuple[int, int, list[int], list[int]] = (0, 0, [], [])
        self._interest: tuple[frozenset[SeriesKey] | None, list[int]] = (None, [])

    def rebuild(self, series: Sequence[BarSeries], after_ns: int) -> None:
        """Schedule every written, unpublished bar of ``series`` after ``after_ns``.

        Steps are the distinct closes of base bars; each bar is published at the
        first step at or after it becomes visible (its window's end; one past the
        last step stands for the end-of-session flush).

        :param series: every series of the session, in publication order.
        :param after_ns: the current session time.
        """
        times = _distinct_closes(series)
        times = times[times > after_ns]
        # events sorted by (step, series order), by a counting sort in two passes
        # over the series (each series' steps are distinct and ascending): the
        # first counts the events of each step, the second places each series'
        # events after those of the series before it. Per event, only the int32
        # result is ever held (no int64 sort keys).
        per_step = np.zeros(len(times) + 1, dtype=np.int64)
        for _, steps, _ in _growth(series, times):
            per_step[steps] += 1
        bounds = np.concatenate(([0], np.cumsum(per_step)))
        size = int(bounds[-1])
        step = np.empty(size, dtype=np.int32)
        sid = np.empty(size, dtype=np.int32)
        n = np.empty(size, dtype=np.int32)
        free = bounds[:-1].copy()
        for order, steps, counts in _growth(series, times):
            slots = free[steps]
            step[slots] = steps
            sid[slots] = order
            n[slots] = counts
            free[steps] += 1
        self.times = times.tolist()
        self._ev_step, self._ev_series, self._ev_n = step, sid, n
        self._bounds = bounds.tolist()
        self.cursor = 0
        self._chunk = (0, 0, [], [])
        self._interest = (None, [])

    @property
    def next_time_ns(self) -> int | None:
        """Session time of the next step, or None when only the flush is left."""
        if self.cursor < len(self.times):
            return self.times[self.cursor]
        return None

    @property
    def last_time_ns(self) -> int | None:
        """Session time of the last step (None when there is none)."""
        return self.times[-1] if self.times else None

    @property
    def flush_index(self) -> int:
        """The pseudo-step of the end-of-session flush."""
        return len(self.times)

    def target(
        self,
        interesting: frozenset[SeriesKey] | None,
        keys_of: Sequence[SeriesKey],
    ) -> int:
        """The step to advance to: the next one, or with ``interesting`` the next
        that publishes one of those series (or the last step).

        :param interesting: keys some strategy listens to; None for every step.
        :param keys_of: the key of each series id, in publication order.
        """
        if interesting is None:
            return self.cursor
        keys, steps = self._interest
        if keys is not interesting:
            wanted = [sid for sid, key in enumerate(keys_of) if key in interesting]
            lo = self._bounds[self.cursor]
            mask = np.isin(self._ev_series[lo:], wanted)
            # events are sorted by step: dropping repeats leaves each step once
            steps = _sorted_unique(self._ev_step[lo:][mask]).tolist()
            self._interest = (interesting, steps)
        index = bisect_left(steps, self.cursor)
        last = len(self.times) - 1
        return min(steps[index], last) if index < len(steps) else last

    def events(self, first: int, last: int) -> tuple[list[int], list[int], int]:
        """Events of steps ``first..last``: series ids, lengths, and where the events
        of step ``last`` begin in those lists."""
        lo, mid, hi = self._bounds[first], self._bounds[last], self._bounds[last + 1]
        series_ids, counts = self._slice(lo, hi)
        return series_ids, counts, mid - lo

    def final_counts(self, first: int, last: int) -> tuple[list[int], list[int]]:
        """Each series' length after steps ``first..last``: series ids and lengths
        of the last event of each series in them (numpy: for many events)."""
        lo, hi = self._bounds[first], self._bounds[last + 1]
        series = self._ev_series[lo:hi]
        # events are in step order: a series' last event is its first one reversed
        ids, at = np.unique(series[::-1], return_index=True)
        counts = self._ev_n[lo:hi][len(series) - 1 - at]
        return ids.tolist(), counts.tolist()

    def _slice(self, lo: int, hi: int) -> tuple[list[int], list[int]]:
        start, stop, series_ids, counts = self._chunk
        if not (start <= lo and hi <= stop):
            start, stop = lo, max(hi, min(lo + 65_536, len(self._ev_n)))
            series_ids = self._ev_series[start:stop].tolist()
            counts = self._ev_n[start:stop].tolist()
            self._chunk = (start, stop, series_ids, counts)
        return series_ids[lo - start : hi - start], counts[lo - start : hi - start]


#: closes gathered before they are reduced to distinct ones: bounds the memory of
#: :func:`_distinct_closes` whatever the number of series
_CLOSES_CHUNK = 1 << 20


def _distinct_closes(series: Sequence[BarSeries]) -> np.ndarray:
    """The distinct closes of every unpublished base bar, ascending: the steps."""
    distinct = np.empty(0, dtype=np.int64)
    pending: list[np.ndarray] = []
    size = 0
    for entry in series:
        if entry.derived:
            continue
        pending.append(bar_close(entry.column("ts")[entry.n :], entry.width_ns))
        size += len(pending[-1])
        if size >= _CLOSES_CHUNK:
            distinct = _sorted_unique(np.concatenate([distinct, *pending]))
            pending, size = [], 0
    if pending:
        distinct = _sorted_unique(np.concatenate([distinct, *pending]))
    return distinct


def _growth(
    series: Sequence[BarSeries], times: np.ndarray
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per series with unpublished bars: its order, the steps it grows at (each
    once, ascending) and its published length after each, as int32."""
    for order, entry in enumerate(series):
        pending = entry.visible_from(entry.n)
        if len(pending) == 0:
            continue
        # each bar is published at the first step at or after it becomes visible;
        # a series grows once per step, to the count after its last bar there
        pos = np.searchsorted(times, pending, side="left")
        last = np.append(np.flatnonzero(np.diff(pos)), len(pos) - 1)
        # int32 keeps the timeline small; steps, series and counts fit
        yield order, pos[last].astype(np.int32), (entry.n + last + 1).astype(np.int32)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (``np.unique`` without its import of
    ``numpy.ma``, which costs a short run ~15 ms)."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
