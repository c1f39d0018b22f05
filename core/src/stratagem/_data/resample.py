"""Derived bars (DESIGN sections 4 and 15), in bulk for replay and incrementally for
live feeds.

The rule, defined once here and implemented twice:

- Without a calendar (``calendar=None``, or the default
  ``TradingCalendar("UTC", "00:00")``), a derived bar of width ``W`` covers the
  window ``[s, s + W)`` where ``s = window_start(ts, W)`` is the source bar's open
  time rounded down to a multiple of ``W`` since the UTC epoch (left-closed,
  left-labelled, epoch-aligned). This is DESIGN section 4's rule, unchanged.
- With a :class:`~stratagem._data.trading_days.TradingCalendar`, windows follow the
  symbol's trading days ``[A_d, A_{d+1})`` (DESIGN section 15): a window of width
  ``W <= 1 day`` is ``[A_d + k·W, min(A_d + (k+1)·W, A_{d+1}))``, so windows restart
  at each day start and the last window of a day is cut at the day's end (or added,
  on a 25-hour day). ``W = 1 day`` is the whole trading day; wider windows are
  refused. A window is labelled with its start instant.
- A source bar belongs to the window holding its open time. ``open`` is the first
  source open, ``high`` the max, ``low`` the min, ``close`` the last close,
  ``volume`` the sum of the volumes added left to right (so both implementations
  give the same float bit for bit), and ``quality`` is :func:`window_quality` of the
  number of source bars present and of the source bars the window can hold
  (:func:`window_capacity`; a cut window holds fewer).
- Empty windows (policy ``empty``): ``"skip"`` (the default) yields no bar for a
  window without a source bar. ``"fill"`` yields a flat bar at the previous close
  (``open = high = low = close``, ``volume`` 0, ``quality`` exactly 0) for each empty
  window between the first and the last non-empty window of one trading day (the UTC
  day of the window's start without a calendar); days without bars stay empty. Real
  bars always have ``quality > 0``, so :func:`count_filled` counts the filled ones.

:func:`resample` applies the rule to a whole series with numpy;
:class:`IncrementalResampler` applies it one source bar at a time. The two agree
bit for bit for every calendar and policy (checked on every 1m file of the shared
data by the integration tests and on real data with trading days by
``tests/unit/data/test_trading_days.py``).
"""

from __future__ import annotations

from numbers import Integral
from typing import Literal, TypeVar

import numpy as np

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.timefmt import format_ts
from stratagem._data.trading_days import TradingCalendar

_Time = TypeVar("_Time", int, np.ndarray)

#: what to do with a window that no source bar fell in
EmptyPolicy = Literal["skip", "fill"]
EMPTY_POLICIES: tuple[str, ...] = ("skip", "fill")
#: one day in minutes: the widest window a trading calendar allows
DAY_MINUTES = 1440
NS_PER_DAY = DAY_MINUTES * NS_PER_MINUTE


def trading_calendar(calendar: TradingCalendar | None) -> TradingCalendar | None:
    """The calendar the window rule uses: ``None`` for no or the default calendar.

    :param calendar: a :class:`TradingCalendar` or ``None``.
    :returns: ``None`` (epoch-aligned windows) when ``calendar`` is ``None`` or
        :attr:`TradingCalendar.is_default`, else ``calendar``.
    :raises TypeError: when ``calendar`` is neither.
    """
    if calendar is None:
        return None
    if not isinstance(calendar, TradingCalendar):
        raise TypeError(
            f"calendar must be a TradingCalendar or None, got {type(calendar).__name__}"
        )
    return None if calendar.is_default else calendar


def _check_width(width_ns: int, calendar: TradingCalendar | None) -> None:
    if calendar is not None and width_ns > NS_PER_DAY:
        raise ValueError(
            f"windows of {width_ns // NS_PER_MINUTE} minutes are wider than a "
            f"trading day: with the calendar {calendar}, derived widths go up to 1d"
        )


def _check_empty(empty: str) -> str:
    if empty not in EMPTY_POLICIES:
        raise ValueError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")
    return empty


def window_start(
    ts: _Time, width_ns: int, calendar: TradingCalendar | None = None
) -> _Time:
    """Open time of the derived window holding a source bar that opens at ``ts``.

    :param ts: source bar open time(s), ns since the epoch; an int or an int64 array.
    :param width_ns: the window width in ns.
    :param calendar: trading days to follow; ``None`` (or the default calendar) for
        epoch-aligned windows.
    """
    if trading_calendar(calendar) is None:
        return ts - ts % width_ns
    return window_bounds(ts, width_ns, calendar)[0]


def window_bounds(
    ts: _Time, width_ns: int, calendar: TradingCalendar | None = None
) -> tuple[_Time, _Time]:
    """The window ``[start, end)`` holding a source bar that opens at ``ts``.

    ``end`` is where the window closes (a derived bar is published once session time
    reaches it): ``start + width_ns``, or the end of the trading day for a cut
    window. A window's label lies in it, so the bounds of derived bars are
    ``window_bounds(derived.ts, ...)``.

    :param ts: open time(s), ns since the epoch; an int or an int64 array.
    :param width_ns: the window width in ns (at most one day with a calendar).
    :param calendar: trading days to follow; ``None`` (or the default calendar) for
        epoch-aligned windows.
    :returns: ``(start, end)``, ints or int64 arrays shaped like ``ts``.
    :raises ValueError: when a calendar is given and the width exceeds a day.
    """
    start, end, _ = _windows(ts, width_ns, trading_calendar(calendar))
    return start, end


def _windows(
    ts: _Time, width_ns: int, calendar: TradingCalendar | None
) -> tuple[_Time, _Time, _Time]:
    # (start, end, day) of the windows holding ts; day identifies the trading day
    # (its start instant; the UTC day number without a calendar)
    if calendar is None:
        start = ts - ts % width_ns
        return start, start + width_ns, start // NS_PER_DAY
    _check_width(width_ns, calendar)
    if isinstance(ts, np.ndarray):
        day_start, day_end = calendar.days_of(ts)
    else:
        ts = int(ts)
        day_start, day_end = calendar.day_of(ts)
    return _cut(ts, width_ns, day_start, day_end)


def _cut(
    ts: _Time, width_ns: int, day_start: _Time, day_end: _Time
) -> tuple[_Time, _Time, _Time]:
    # the window of the trading day [day_start, day_end) that holds ts
    if width_ns == NS_PER_DAY:
        return day_start, day_end, day_start
    start = ts - (ts - day_start) % width_ns
    end = start + width_ns
    if isinstance(end, np.ndarray):
        return start, np.minimum(end, day_end), day_start
    return start, min(end, day_end), day_start


def window_capacity(start: _Time, end: _Time, source_ns: int) -> _Time:
    """Source bars the window ``[start, end)`` can hold: the open times it contains.

    For a window aligned to the source bars this is ``(end - start) / source_ns``
    (a full window holds ``W / source_ns``, a cut one fewer).

    :param start: window start(s), ns.
    :param end: window end(s), ns.
    :param source_ns: width of the source bars in ns.
    """
    return -(-end // source_ns) + (-start // source_ns)


def window_quality(present: _Time, expected: _Time) -> _Time:
    """Quality of a window: ``100 * present / expected`` (4 of 5 bars -> 80.0).

    :param present: source bars that fell in the window (an int or an int array).
    :param expected: source bars the window can hold (an int or an int array).
    """
    return 100.0 * present / expected


def count_filled(bars: BarArrays) -> int:
    """How many of the derived ``bars`` were filled by the ``"fill"`` policy.

    A filled bar has ``quality == 0`` and a real one ``quality > 0``, so the count
    works on the output of either resampler (and on a manifest's saved bars).

    :param bars: derived bars.
    :raises ValueError: for source bars (no ``quality`` column).
    """
    if bars.quality is None:
        raise ValueError("source bars have no quality column, hence no filled bars")
    return int(np.count_nonzero(bars.quality == 0.0))


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


def resample(
    bars: BarArrays,
    minutes: int,
    source_minutes: int = 1,
    *,
    calendar: TradingCalendar | None = None,
    empty: EmptyPolicy = "skip",
) -> BarArrays:
    """Derived bars of a whole series, in bulk (the replay path).

    :param bars: source bars, strictly ascending and aligned to ``source_minutes``
        (validated bars are).
    :param minutes: derived width in minutes; any multiple of ``source_minutes``
        (at most 1440 with a calendar).
    :param source_minutes: width of the source bars in minutes.
    :param calendar: trading days the windows follow; ``None`` or the default
        calendar for epoch-aligned windows (DESIGN section 4).
    :param empty: ``"skip"`` (no bar for an empty window) or ``"fill"`` (a flat bar
        at the previous close for each empty window inside a trading day;
        :func:`count_filled` counts them).
    :returns: one derived bar per window holding a source bar (plus the filled
        ones), with ``quality``.
    :raises ValueError: on a bad width or policy, or on unsorted or misaligned
        source bars.
    """
    width_ns, expected = window_width(minutes, source_minutes)
    rule = trading_calendar(calendar)
    _check_width(width_ns, rule)
    _check_empty(empty)
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
    source_ns = source_minutes * NS_PER_MINUTE
    misaligned = np.flatnonzero(ts % source_ns)
    if len(misaligned):
        i = int(misaligned[0])
        raise ValueError(
            f"source bar {i} at {format_ts(ts[i])} is not aligned to {source_minutes}m"
        )
    starts, ends, days = _windows(ts, width_ns, rule)
    first = np.flatnonzero(np.concatenate(([True], starts[1:] != starts[:-1])))
    counts = np.diff(np.append(first, n))
    last = first + counts - 1
    if rule is None:
        quality = window_quality(counts, expected)
    else:
        capacity = window_capacity(starts[first], ends[first], source_ns)
        quality = window_quality(counts, capacity)
    derived = BarArrays(
        ts=starts[first],
        open=bars.open[first],
        high=np.maximum.reduceat(bars.high, first),
        low=np.minimum.reduceat(bars.low, first),
        close=bars.close[last],
        volume=_sequential_sums(bars.volume, first, counts),
        quality=quality,
    )
    if empty == "fill":
        return _fill(derived, days[first], width_ns)
    return derived


def _fill(derived: BarArrays, days: np.ndarray, width_ns: int) -> BarArrays:
    # empty windows between two bars of one day: they are whole (only a day's last
    # window is cut) and lie on the day's grid, so they start at ts + k * width
    ts = derived.ts
    n = len(ts)
    gaps = np.zeros(n, dtype=np.int64)
    same_day = days[1:] == days[:-1]
    gaps[:-1] = np.where(same_day, (ts[1:] - ts[:-1]) // width_ns - 1, 0)
    total = int(gaps.sum())
    if total == 0:
        return derived
    owner = np.repeat(np.arange(n), gaps)
    before = np.cumsum(gaps) - gaps
    step = np.arange(total) - np.repeat(before, gaps) + 1
    rows = np.arange(n) + before
    filled = rows[owner] + step
    size = n + total
    columns: dict[str, np.ndarray] = {"ts": np.empty(size, dtype=np.int64)}
    columns["ts"][rows] = ts
    columns["ts"][filled] = ts[owner] + step * width_ns
    for name in ("open", "high", "low", "close", "volume", "quality"):
        column = np.empty(size, dtype=np.float64)
        column[rows] = getattr(derived, name)
        column[filled] = 0.0 if name in ("volume", "quality") else derived.close[owner]
        columns[name] = column
    return BarArrays(**columns)


def available_at(
    derived: BarArrays,
    source_ts: np.ndarray,
    minutes: int,
    source_minutes: int = 1,
    *,
    calendar: TradingCalendar | None = None,
) -> np.ndarray:
    """Earliest session time at which each derived bar can be published.

    A real bar can be published when its window ends (its end by
    :func:`window_bounds`, cut or not), or when its last source bar closes if that
    is later (a source bar that opens in a window and crosses its end, which only a
    trading day misaligned with the source width allows). A filled bar
    (``quality == 0``) is known only once a later source bar of the same trading day
    exists, i.e. at the close of the first source bar after its window: publishing
    it at its window's end would reveal that the day trades on. The times are made
    non-decreasing, so bars are published in order.

    :class:`IncrementalResampler` returns each bar at these times in a session whose
    time moves to each source bar's close (a filled bar with the source bar that
    follows it), so replay and live publish the same bars at the same times.

    :param derived: bars from :func:`resample` of ``source_ts``' series (bars of a
        coarser file prepended before ``source_ts`` starts are kept at their ends).
    :param source_ts: the source bars' open times, ascending.
    :param minutes: derived width in minutes.
    :param source_minutes: width of the source bars in minutes.
    :param calendar: the calendar the bars were built with.
    :returns: int64 ns, one per derived bar, non-decreasing.
    """
    width_ns, _ = window_width(minutes, source_minutes)
    source_ns = source_minutes * NS_PER_MINUTE
    _, ends = window_bounds(derived.ts, width_ns, calendar)
    at = np.array(ends, dtype=np.int64)
    source_ts = np.asarray(source_ts, dtype=np.int64)
    if len(at) == 0 or len(source_ts) == 0:
        return at
    last = np.maximum(np.searchsorted(source_ts, at, side="left") - 1, 0)
    inside = (source_ts[last] >= derived.ts) & (source_ts[last] < at)
    at[inside] = np.maximum(at[inside], source_ts[last[inside]] + source_ns)
    if derived.quality is not None:
        filled = np.flatnonzero(derived.quality == 0.0)
        after = np.searchsorted(source_ts, at[filled], side="left")
        known = after < len(source_ts)
        filled, after = filled[known], after[known]
        at[filled] = np.maximum(at[filled], source_ts[after] + source_ns)
    return np.maximum.accumulate(at)


class IncrementalResampler:
    """Derived bars of a feed, one source bar at a time (the live path).

    Feed source bars in time order with :meth:`add`; a bar is returned once its
    window is closed: by a source bar of a later window (:meth:`add`), by session
    time passing the window's end (:meth:`close_through`, which also closes windows
    whose last source bars never came) or by the end of the session (:meth:`flush`).
    A session that advances its time to each source bar's close and calls
    ``close_through`` after every ``add`` publishes each bar as early as DESIGN
    section 4 allows.

    With ``empty="fill"``, the flat bars of the empty windows before a source bar's
    window (in the same trading day) are returned by the :meth:`add` of that bar:
    only then is it known that the day did not end.

    :param minutes: derived width in minutes; any multiple of ``source_minutes``
        (at most 1440 with a calendar).
    :param source_minutes: width of the source bars in minutes.
    :param calendar: trading days the windows follow; ``None`` or the default
        calendar for epoch-aligned windows.
    :param empty: ``"skip"`` or ``"fill"``, as for :func:`resample`.
    """

    __slots__ = (
        "minutes",
        "source_minutes",
        "width_ns",
        "expected",
        "calendar",
        "empty",
        "_rule",
        "_source_ns",
        "_start",
        "_end",
        "_day",
        "_capacity",
        "_open",
        "_high",
        "_low",
        "_close",
        "_volume",
        "_present",
        "_last_ts",
        "_closed_until",
        "_day_start",
        "_day_end",
        "_done_day",
        "_done_close",
    )

    def __init__(
        self,
        minutes: int,
        source_minutes: int = 1,
        *,
        calendar: TradingCalendar | None = None,
        empty: EmptyPolicy = "skip",
    ) -> None:
        self.width_ns, self.expected = window_width(minutes, source_minutes)
        self._rule = trading_calendar(calendar)
        _check_width(self.width_ns, self._rule)
        self.empty = _check_empty(empty)
        self.calendar = calendar
        self.minutes = int(minutes)
        self.source_minutes = int(source_minutes)
        self._source_ns = self.source_minutes * NS_PER_MINUTE
        self._start: int | None = None
        self._end = self._day = self._capacity = 0
        self._open = self._high = self._low = self._close = self._volume = 0.0
        self._present = 0
        self._last_ts: int | None = None
        self._closed_until: int | None = None
        self._day_start = self._day_end = 0
        self._done_day: int | None = None
        self._done_close = 0.0

    def __repr__(self) -> str:
        state = "idle" if self._start is None else f"open at {format_ts(self._start)}"
        widths = f"{self.minutes}m from {self.source_minutes}m"
        days = "" if self._rule is None else f", days {self._rule}"
        fill = ", fill" if self.empty == "fill" else ""
        return f"IncrementalResampler({widths}{days}{fill}, {state})"

    @property
    def open_window(self) -> int | None:
        """Start of the window being built (ns), or ``None`` when none is open."""
        return self._start

    @property
    def open_window_end(self) -> int | None:
        """End of the window being built (ns; cut at the day's end), or ``None``."""
        return None if self._start is None else self._end

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
        :returns: when this bar starts a new window, the previous window's bar (if
            it was still open) followed, with ``empty="fill"``, by the flat bars of
            the empty windows in between; else ``None``.
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
        if self._start is not None and ts < self._end:
            if high > self._high:
                self._high = float(high)
            if low < self._low:
                self._low = float(low)
            self._close = float(close)
            self._volume += float(volume)
            self._present += 1
            return None
        done = None if self._start is None else self._emit()
        start, end, day = self._window_of(ts)
        if self.empty == "fill" and self._done_day == day:
            assert self._closed_until is not None
            filled = self._filled(self._closed_until, start)
            if filled is not None:
                done = filled if done is None else BarArrays.concat([done, filled])
        self._start, self._end, self._day = start, end, day
        self._capacity = (
            self.expected
            if self._rule is None
            else window_capacity(start, end, self._source_ns)
        )
        self._open = float(open)
        self._high = float(high)
        self._low = float(low)
        self._close = float(close)
        self._volume = float(volume)
        self._present = 1
        return done

    def _window_of(self, ts: int) -> tuple[int, int, int]:
        if self._rule is None:
            return _windows(ts, self.width_ns, None)
        if not self._day_start <= ts < self._day_end:
            self._day_start, self._day_end = self._rule.day_of(ts)
        return _cut(ts, self.width_ns, self._day_start, self._day_end)

    def close_through(self, t_ns: int) -> BarArrays | None:
        """Close the open window if session time ``t_ns`` reached its end.

        :param t_ns: session time, ns since the epoch.
        :returns: the window's bar when it ends (at its cut end, with a calendar) at
            or before ``t_ns``, else ``None``.
        """
        if self._start is not None and self._end <= t_ns:
            return self._emit()
        return None

    def flush(self) -> BarArrays | None:
        """Close whatever window is open (end of session).

        :returns: its bar, or ``None`` when no window is open.
        """
        if self._start is None:
            return None
        return self._emit()

    def _filled(self, first: int, stop: int) -> BarArrays | None:
        ts = np.arange(first, stop, self.width_ns, dtype=np.int64)
        if len(ts) == 0:
            return None
        price = np.full(len(ts), self._done_close)
        nothing = np.zeros(len(ts))
        return BarArrays(
            ts=ts,
            open=price,
            high=price,
            low=price,
            close=price,
            volume=nothing,
            quality=nothing,
        )

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
            quality=np.array([window_quality(self._present, self._capacity)]),
        )
        self._closed_until = self._end
        self._done_day = self._day
        self._done_close = self._close
        self._start = None
        return bar
