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
from collections.abc import Sequence
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
        closes = [
            bar_close(s.column("ts")[s.n :], s.width_ns)
            for s in series
            if not s.derived
        ]
        times = np.unique(np.concatenate(closes)) if closes else np.empty(0, np.int64)
        times = times[times > after_ns]
        steps, series_ids, counts = [], [], []
        for order, entry in enumerate(series):
            pending = entry.visible_from(entry.n)
            if len(pending) == 0:
                continue
            pos = np.searchsorted(times, pending, side="left")
            last = np.flatnonzero(np.diff(pos))
            last = np.append(last, len(pos) - 1)
            steps.append(pos[last])
            series_ids.append(np.full(len(last), order, dtype=np.int64))
            counts.append(entry.n + last + 1)
        if steps:
            step = np.concatenate(steps)
            sid = np.concatenate(series_ids)
            n = np.concatenate(counts)
            order = np.lexsort((sid, step))
            # int32 halves the timeline's memory; steps, series and counts fit
            step, sid, n = (a[order].astype(np.int32) for a in (step, sid, n))
        else:
            step = sid = n = np.empty(0, dtype=np.int32)
        self.times = times.tolist()
        self._ev_step, self._ev_series, self._ev_n = step, sid, n
        self._bounds = np.searchsorted(
            step, np.arange(len(times) + 2), side="left"
        ).tolist()
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
            steps = np.unique(self._ev_step[lo:][mask]).tolist()
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

    def _slice(self, lo: int, hi: int) -> tuple[list[int], list[int]]:
        start, stop, series_ids, counts = self._chunk
        if not (start <= lo and hi <= stop):
            start, stop = lo, max(hi, min(lo + 65_536, len(self._ev_n)))
            series_ids = self._ev_series[start:stop].tolist()
            counts = self._ev_n[start:stop].tolist()
            self._chunk = (start, stop, series_ids, counts)
        return series_ids[lo - start : hi - start], counts[lo - start : hi - start]
