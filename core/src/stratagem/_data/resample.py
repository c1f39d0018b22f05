"""Derived bars (DESIGN section 4), in bulk for replay and incrementally for live feeds.

The rule, defined once here and implemented twice:

- A derived bar of width ``W`` covers the window ``[s, s + W)`` where
  ``s = window_start(ts, W)`` is the source bar's open time rounded down to a
  multiple of ``W`` since the UTC epoch (left-closed, left-labelled, epoch-aligned).
- A window yields a bar iff at least one source bar fell in it; gaps are never filled.
- ``open`` is the first source open, ``high`` the max, ``low`` the min, ``close`` the
  last close, ``volume`` the sum of the volumes added left to right (so both
  implementations give the same float bit for bit), and ``quality`` is
  :func:`window_quality` of the number of source bars present.

:func:`resample` applies the rule to a whole series with numpy;
:class:`IncrementalResampler` applies it one source bar at a time. The integration
tests check that the two agree bit for bit on every 1m file of the shared data.
"""

from __future__ import annotations

from numbers import Integral
from typing import TypeVar

import numpy as np

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.timefmt import format_ts

_Time = TypeVar("_Time", int, np.ndarray)


def window_start(ts: _Time, width_ns: int) -> _Time:
    """Open time of the derived window holding a source bar that opens at ``ts``.

    :param ts: source bar open time(s), ns since the epoch; an int or an int64 array.
    :param width_ns: the window width in ns.
    """
    return ts - ts % width_ns


def window_quality(present: _Time, expected: int) -> _Time:
    """Quality of a window: ``100 * present / expected`` (4 of 5 bars -> 80.0).

    :param present: source bars that fell in the window (an int or an int array).
    :param expected: source bars a full window holds.
    """
    return 100.0 * present / expected


def window_width(minutes: int, source_minutes: int = 1) -> tuple[int, int]:
    """Width in ns of a ``minutes`` window and the source bars a full one holds.

    :param minutes: derived width in minutes, e.g. 5, 7 or 1440.
    :param source_minutes: width of the source bars in minutes.
    :raises ValueError: unless both are positive integers and ``minutes`` is a
        multiple of ``source_minutes``.
    """
    for name, value in (("minutes", minutes), ("source_minutes", source_minutes)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if minutes % source_minutes:
        raise ValueError(
            f"cannot build {minutes}m bars from {source_minutes}m bars: the derived "
            f"width must be a multiple of the source width"
        )
    return int(minutes) * NS_PER_MINUTE, int(minutes) // int(source_minutes)


def _sequential_sums(
    values: np.ndarray, first: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    # np.add.reduceat sums long segments pairwise; adding the k-th value of every
    # window at once keeps the left-to-right order of the incremental resampler
    total = values[first].copy()
    for k in range(1, int(counts.max())):
        windows = np.flatnonzero(counts > k)
        total[windows] += values[first[windows] + k]
    return total


def resample(bars: BarArrays, minutes: int, source_minutes: int = 1) -> BarArrays:
    """Derived bars of a whole series, in bulk (the replay path).

    :param bars: source bars, strictly ascending and aligned to ``source_minutes``
        (validated bars are).
    :param minutes: derived width in minutes; any multiple of ``source_minutes``.
    :param source_minutes: width of the source bars in minutes.
    :returns: one derived bar per window holding a source bar, with ``quality``.
    :raises ValueError: on a bad width or on unsorted or misaligned source bars.
    """
    width_ns, expected = window_width(minutes, source_minutes)
    n = len(bars)
    if n == 0:
        return BarArrays.empty(derived=True)
    ts = bars.ts
    unsorted = np.flatnonzero(ts[1:] <= ts[:-1])
    if len(unsorted):
        i = int(unsorted[0]) + 1
        raise ValueError(
            f"source bars must be strictly ascending: bar {i} at {format_ts(ts[i])} is "
            f"not after bar {i - 1} at {format_ts(ts[i - 1])}"
        )
    misaligned = np.flatnonzero(ts % (source_minutes * NS_PER_MINUTE))
    if len(misaligned):
        i = int(misaligned[0])
        raise ValueError(
            f"source bar {i} at {format_ts(ts[i])} is not aligned to {source_minutes}m"
        )
    starts = window_start(ts, width_ns)
    first = np.flatnonzero(np.concatenate(([True], starts[1:] != starts[:-1])))
    counts = np.diff(np.append(first, n))
    last = first + counts - 1
    return BarArrays(
        ts=starts[first],
        open=bars.open[first],
        high=np.maximum.reduceat(bars.high, first),
        low=np.minimum.reduceat(bars.low, first),
        close=bars.close[last],
        volume=_sequential_sums(bars.volume, first, counts),
        quality=window_quality(counts, expected),
    )


class IncrementalResampler:
    """Derived bars of a feed, one source bar at a time (the live path).

    Feed source bars in time order with :meth:`add`; a bar is returned once its
    window is closed: by a source bar of a later window (:meth:`add`), by session
    time passing the window's end (:meth:`close_through`, which also closes windows
    whose last source bars never came) or by the end of the session (:meth:`flush`).
    A session that advances its time to each source bar's close and calls
    ``close_through`` after every ``add`` publishes each bar as early as DESIGN
    section 4 allows.

    :param minutes: derived width in minutes; any multiple of ``source_minutes``.
    :param source_minutes: width of the source bars in minutes.
    """

    __slots__ = (
        "minutes",
        "source_minutes",
        "width_ns",
        "expected",
        "_source_ns",
        "_start",
        "_open",
        "_high",
        "_low",
        "_close",
        "_volume",
        "_present",
        "_last_ts",
        "_closed_until",
    )

    def __init__(self, minutes: int, source_minutes: int = 1) -> None:
        self.width_ns, self.expected = window_width(minutes, source_minutes)
        self.minutes = int(minutes)
        self.source_minutes = int(source_minutes)
        self._source_ns = self.source_minutes * NS_PER_MINUTE
        self._start: int | None = None
        self._open = self._high = self._low = self._close = self._volume = 0.0
        self._present = 0
        self._last_ts: int | None = None
        self._closed_until: int | None = None

    def __repr__(self) -> str:
        state = "idle" if self._start is None else f"open at {format_ts(self._start)}"
        widths = f"{self.minutes}m from {self.source_minutes}m"
        return f"IncrementalResampler({widths}, {state})"

    @property
    def open_window(self) -> int | None:
        """Start of the window being built (ns), or ``None`` when none is open."""
        return self._start

    def add(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> BarArrays | None:
        """Take one source bar.

        :param ts: its open time, ns since the epoch; after every bar added before.
        :param open: its open.
        :param high: its high.
        :param low: its low.
        :param close: its close.
        :param volume: its volume.
        :returns: the previous window's bar when this bar starts a new window, else
            ``None``.
        :raises ValueError: when the bar is misaligned, not after the previous one, or
            falls in a window that was already closed.
        """
        ts = int(ts)
        if ts % self._source_ns:
            raise ValueError(
                f"source bar at {format_ts(ts)} is not aligned to "
                f"{self.source_minutes}m"
            )
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(
                f"source bar at {format_ts(ts)} is not after the previous one at "
                f"{format_ts(self._last_ts)}"
            )
        if self._closed_until is not None and ts < self._closed_until:
            raise ValueError(
                f"source bar at {format_ts(ts)} falls in a window closed up to "
                f"{format_ts(self._closed_until)}; its bar was published already"
            )
        self._last_ts = ts
        start = window_start(ts, self.width_ns)
        done = None
        if self._start is not None and start != self._start:
            done = self._emit()
        if self._start is None:
            self._start = start
            self._open = float(open)
            self._high = float(high)
            self._low = float(low)
            self._close = float(close)
            self._volume = float(volume)
            self._present = 1
            return done
        if high > self._high:
            self._high = float(high)
        if low < self._low:
            self._low = float(low)
        self._close = float(close)
        self._volume += float(volume)
        self._present += 1
        return done

    def close_through(self, t_ns: int) -> BarArrays | None:
        """Close the open window if session time ``t_ns`` reached its end.

        :param t_ns: session time, ns since the epoch.
        :returns: the window's bar when it ends at or before ``t_ns``, else ``None``.
        """
        if self._start is not None and self._start + self.width_ns <= t_ns:
            return self._emit()
        return None

    def flush(self) -> BarArrays | None:
        """Close whatever window is open (end of session).

        :returns: its bar, or ``None`` when no window is open.
        """
        if self._start is None:
            return None
        return self._emit()

    def _emit(self) -> BarArrays:
        start = self._start
        assert start is not None
        bar = BarArrays(
            ts=np.array([start], dtype=np.int64),
            open=np.array([self._open]),
            high=np.array([self._high]),
            low=np.array([self._low]),
            close=np.array([self._close]),
            volume=np.array([self._volume]),
            quality=np.array([window_quality(self._present, self.expected)]),
        )
        self._closed_until = start + self.width_ns
        self._start = None
        return bar
