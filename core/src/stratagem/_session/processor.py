"""DataProcessor: the single writer of SessionData and the source of clock steps.

Replay (data-driven and clock-driven) knows every bar in advance: each symbol's base
bars (1m, or the session's base stream) and its derived bars are built in bulk and
written ahead of the clock, and the
:class:`~stratagem._data.timeline.Timeline` says at which step each series grows.
Live runs feed base bars one at a time through the incremental resampler. Both follow
the one window rule of :mod:`stratagem._data.resample` and the one visibility rule of
:mod:`stratagem._data.timeline`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stratagem._data.bars import BAR_COLUMNS, BarArrays
from stratagem._data.intervals import NS_PER_MINUTE, interval_name
from stratagem._data.resample import (
    IncrementalResampler,
    available_at,
    count_filled,
    resample,
    trading_calendar,
    window_bounds,
    window_start,
)
from stratagem._data.session_data import BarSeries, SessionData
from stratagem._data.timefmt import format_ts
from stratagem._data.timeline import (
    ClockStep,
    StepItems,
    Timeline,
    bar_close,
    is_visible,
    live_horizon,
    visible_count,
)
from stratagem._data.trading_days import TradingCalendar
from stratagem._data.validation import BarValidationError, validate_bars
from stratagem._records import SeriesKey
from stratagem._runlog import located

log = logging.getLogger("stratagem.session")


#: events of the steps before the one returned from which publishing takes each
#: series' last length at once (numpy) rather than event by event
_MANY_EVENTS = 256


@dataclass
class _Tracked:
    series: BarSeries
    key: SeriesKey
    minutes: int


class DataProcessor:
    """Writes SessionData and turns the clock into batches of published series.

    :param data: the session's store; the processor is its only writer.
    :param derived_minutes: widths of the derived intervals in minutes, e.g.
        ``[5, 15]``; whole multiples of the base width.
    :param base_minutes: width of the base stream (the source bars) in minutes.
    :param calendars: per symbol, the trading days its derived windows restart at
        (``"*"``: every other symbol's); none or UTC 00:00 keeps UTC windows.
    :param empty: ``skip`` or ``fill`` for derived windows without a base bar.
    :param warmup_bars: history rows per series published when a symbol joins.
    :param validation: ``reject`` or ``drop`` for bars pushed live.
    """

    def __init__(
        self,
        data: SessionData,
        derived_minutes: Sequence[int],
        *,
        base_minutes: int = 1,
        calendars: Mapping[str, TradingCalendar] | None = None,
        empty: str = "skip",
        warmup_bars: int = 200,
        validation: str = "reject",
    ) -> None:
        self.data = data
        self.base_minutes = base_minutes
        self.base_ns = base_minutes * NS_PER_MINUTE
        self.base_interval = interval_name(base_minutes)
        self.minutes = [base_minutes, *sorted(set(derived_minutes) - {base_minutes})]
        self.calendars = dict(calendars or {})
        self.empty = empty
        data.base_interval = self.base_interval
        data.calendar_of = self.calendar_of
        #: derived bars the ``fill`` policy made, per series
        self.filled: dict[SeriesKey, int] = {}
        self.warmup_bars = warmup_bars
        self.validation = validation
        self.time_ns: int | None = None
        self.bars_in = 0
        self.dropped_live = 0
        self._tracked: list[_Tracked] = []
        # by series id, beside ``_tracked``: its key, its series, and whether it is
        # a base series (whose bars count as bars in)
        self._keys: list[SeriesKey] = []
        self._series_of: list[BarSeries] = []
        self._is_base: list[bool] = []
        self._symbols: list[str] = []
        self.timeline = Timeline()
        self.steps = 0
        self.last_index: int | None = None
        # live state
        self._resamplers: dict[str, list[tuple[_Tracked, IncrementalResampler]]] = {}

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    # --- replay ----------------------------------------------------------------------

    def add_symbol(
        self,
        symbol: str,
        base_bars: BarArrays,
        now_ns: int,
        *,
        coarse: BarArrays | None = None,
        coarse_minutes: int | None = None,
        history_only: bool = False,
    ) -> StepItems:
        """Add a symbol for replay: write its bars, publish its warm-up history.

        :param base_bars: every base bar of the symbol in the session range.
        :param now_ns: current session time; bars that closed by then are history
            (the last ``warmup_bars`` of each series are kept and published now).
        :param coarse: optional coarser bars (e.g. a 5m file) that extend the history
            of derived intervals to before the first base bar.
        :param coarse_minutes: width of ``coarse`` bars.
        :param history_only: write only bars closed by ``now_ns`` (live symbols, whose
            open windows are completed by the incremental resampler).
        :returns: the history that was published, as ``(key, n)`` items.
        """
        if symbol in self._symbols:
            raise ValueError(f"symbol {symbol} is already in the session")
        self._symbols.append(symbol)
        published: StepItems = []
        base = self.base_minutes
        calendar = self.calendar_of(symbol)
        timed = calendar is not None or self.empty == "fill"
        for minutes in self.minutes:
            visible_from = None
            if minutes == base:
                bars = base_bars
            else:
                bars = resample(
                    base_bars,
                    minutes,
                    source_minutes=base,
                    calendar=calendar,
                    empty=self.empty,
                )
                self.filled[(symbol, interval_name(minutes))] = count_filled(bars)
                if coarse is not None and coarse_minutes:
                    bars = self._prepend_coarse(
                        bars, base_bars, coarse, coarse_minutes, minutes, calendar
                    )
                if timed:
                    visible_from = available_at(
                        bars, base_bars.ts, minutes, base, calendar=calendar
                    )
            if visible_from is None:
                closed = visible_count(bars.ts, minutes * NS_PER_MINUTE, now_ns)
            else:
                closed = int(np.searchsorted(visible_from, now_ns, side="right"))
            first = max(0, closed - self.warmup_bars)
            last = closed if history_only else len(bars)
            bars = bars.slice(first, last)
            tracked = self._track(
                symbol, minutes, capacity=len(bars), timed=visible_from is not None
            )
            if len(bars):
                _write(
                    tracked.series,
                    bars,
                    None if visible_from is None else visible_from[first:last],
                )
            history = closed - first
            if history:
                tracked.series.publish(history)
                published.append((tracked.key, history))
        if self.time_ns is not None:  # mid-session; start() builds the first one
            self._rebuild_timeline(now_ns)
        return published

    def calendar_of(self, symbol: str) -> TradingCalendar | None:
        """The trading days of ``symbol``'s derived windows; None for UTC windows."""
        return trading_calendar(self.calendars.get(symbol, self.calendars.get("*")))

    def _prepend_coarse(
        self,
        derived: BarArrays,
        base_bars: BarArrays,
        coarse: BarArrays,
        coarse_minutes: int,
        minutes: int,
        calendar: TradingCalendar | None,
    ) -> BarArrays:
        if minutes % coarse_minutes or len(base_bars) == 0:
            return derived
        width = minutes * NS_PER_MINUTE
        first_window = int(window_start(int(base_bars.ts[0]), width, calendar))
        earlier = coarse.slice(0, int(np.searchsorted(coarse.ts, first_window)))
        if len(earlier) == 0:
            return derived
        history = resample(
            earlier, minutes, source_minutes=coarse_minutes, calendar=calendar
        )
        return BarArrays.concat([history, derived])

    def _track(
        self, symbol: str, minutes: int, capacity: int, *, timed: bool = False
    ) -> _Tracked:
        series = self.data.add_series(
            symbol,
            interval_name(minutes),
            capacity,
            derived=minutes > self.base_minutes,
            timed=timed,
        )
        tracked = _Tracked(series, (series.symbol, series.interval), minutes)
        self._tracked.append(tracked)
        self._keys.append(tracked.key)
        self._series_of.append(series)
        self._is_base.append(minutes == self.base_minutes)
        return tracked

    def start(self, now_ns: int) -> None:
        """Set the session clock before the first step."""
        self.time_ns = now_ns
        self._rebuild_timeline(now_ns)

    def _rebuild_timeline(self, after_ns: int) -> None:
        self.timeline.rebuild([t.series for t in self._tracked], after_ns)

    @property
    def next_time_ns(self) -> int | None:
        """Session time of the next replay step, or None when only the flush is left."""
        return self.timeline.next_time_ns

    @property
    def last_time_ns(self) -> int | None:
        """Session time of the last replay step (None when there is none)."""
        last = self.timeline.last_time_ns
        return self.time_ns if last is None else last

    def next_step(
        self, interesting: frozenset[SeriesKey] | None = None, *, limit: int = 0
    ) -> ClockStep | None:
        """Advance the replay clock and return the step it reached.

        :param interesting: when given, advance straight to the next step that
            publishes one of these series (or the last step), publishing everything
            in between; the steps skipped are those nobody listens to, so no one can
            tell them from steps taken one by one.
        :param limit: when positive, advance at most this many steps (a checkpoint
            is due there).
        """
        timeline = self.timeline
        cursor = timeline.cursor
        if cursor >= len(timeline.times):
            return None
        target = timeline.target(interesting, self._keys)
        if limit > 0:
            target = min(target, cursor + limit - 1)
        timeline.cursor = target + 1
        self.steps += target + 1 - cursor
        self.time_ns = timeline.times[target]
        return ClockStep(target, self.time_ns, self._publish(cursor, target))

    def replay_steps(self, first: int, last: int) -> list[ClockStep]:
        """Steps ``first..last`` (already published) with everything they published,
        for a strategy that must see them one by one."""
        out = []
        keys = self._keys
        for index in range(first, last + 1):
            series_ids, counts, _ = self.timeline.events(index, index)
            items = [(keys[sid], n) for sid, n in zip(series_ids, counts, strict=True)]
            out.append(ClockStep(index, self.timeline.times[index], items))
        return out

    def flush(self, end_ns: int | None = None) -> ClockStep:
        """Session end: close every open window and publish everything written."""
        time_ns = end_ns if end_ns is not None else (self.time_ns or 0)
        if self.time_ns is None or time_ns > self.time_ns:
            self.time_ns = time_ns
        if self._resamplers:
            self._close_live(None)
        flush_step = self.timeline.flush_index
        items = self._publish(flush_step, flush_step)
        self.timeline.cursor = flush_step
        for tracked in self._tracked:
            if tracked.series.n < tracked.series.written:
                tracked.series.publish(tracked.series.written)
                items.append((tracked.key, tracked.series.n))
        return ClockStep(None, self.time_ns, items)

    def _publish(self, first: int, last: int) -> StepItems:
        """Publish the events of steps ``first..last``; the items of step ``last``."""
        series_ids, counts, mid = self.timeline.events(first, last)
        if not series_ids:
            return []
        if mid >= _MANY_EVENTS:
            # many steps at once: only each series' last length matters
            self._set_lengths(*self.timeline.final_counts(first, last))
        else:
            self._set_lengths(series_ids, counts)
        keys = map(self._keys.__getitem__, series_ids[mid:])
        return list(zip(keys, counts[mid:], strict=True))

    def _set_lengths(self, series_ids: list[int], counts: list[int]) -> None:
        """Publish each series up to its length (in event order: the last wins)."""
        series_of = self._series_of
        is_base = self._is_base
        bars_in = 0
        for sid, n in zip(series_ids, counts, strict=True):
            series = series_of[sid]
            if is_base[sid]:
                bars_in += n - series.n
            series.n = n
        self.bars_in += bars_in

    # --- live ------------------------------------------------------------------------

    def add_live_symbol(
        self, symbol: str, history: BarArrays, now_ns: int
    ) -> StepItems:
        """Add a live symbol, warmed up by ``history`` (base bars closed by now)."""
        published = self.add_symbol(symbol, history, now_ns, history_only=True)
        resamplers = []
        for tracked in self._tracked:
            if tracked.key[0] == symbol and tracked.minutes > self.base_minutes:
                calendar = self.calendar_of(symbol)
                resampler = IncrementalResampler(
                    tracked.minutes,
                    source_minutes=self.base_minutes,
                    calendar=calendar,
                    empty=self.empty,
                )
                # the open window may already hold history minutes
                width = tracked.minutes * NS_PER_MINUTE
                for row in range(len(history)):
                    ts = int(history.ts[row])
                    if not is_visible(ts, self.base_ns, now_ns):
                        break
                    if window_bounds(ts, width, calendar)[1] > now_ns:
                        resampler.add(
                            ts,
                            float(history.open[row]),
                            float(history.high[row]),
                            float(history.low[row]),
                            float(history.close[row]),
                            float(history.volume[row]),
                        )
                resamplers.append((tracked, resampler))
        self._resamplers[symbol] = resamplers
        return published

    def push_bar(
        self,
        symbol: str,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> ClockStep:
        """Accept one live base bar: validate, store, close due windows, publish.

        :returns: the step: its session time and what it published (nothing when
            the bar was dropped under the ``drop`` policy).
        :raises BarValidationError: a bad bar under the ``reject`` policy.
        """
        one = BarArrays(
            ts=np.array([ts], dtype=np.int64),
            open=np.array([open]),
            high=np.array([high]),
            low=np.array([low]),
            close=np.array([close]),
            volume=np.array([volume]),
        )
        now = self.time_ns
        calendar = self.calendar_of(symbol)
        if now is not None and any(
            window_bounds(ts, t.series.width_ns, calendar)[1]
            <= live_horizon(now, self.base_ns)
            for t, _ in self._resamplers.get(symbol, [])
        ):
            log.warning(
                "live bar %s %s arrived after its window was published; dropped",
                symbol,
                format_ts(ts),
                extra=located(symbol=symbol, bar_ts=format_ts(ts)),
            )
            self.dropped_live += 1
            return ClockStep(None, now, [])
        series = self.data.series(symbol, self.base_interval)
        # validated together with the previous bar, so order and duplicates are
        # checked by the same rules as files
        checked = BarArrays.concat([_last_row(series), one]) if series.written else one
        kept, report = validate_bars(
            checked,
            file=f"live:{symbol}",
            interval_ns=self.base_ns,
            policy="drop",
            log_drops=False,
        )
        if len(kept) < len(checked):
            issue = report.issues[-1]  # the new bar's (the previous one passed)
            problem = (
                f"live bar {symbol} {format_ts(ts)}: {issue.rule} ({issue.message})"
            )
            if self.validation == "reject":
                raise BarValidationError(
                    report,
                    f"{problem} under data.validation 'reject'; 'drop' skips such "
                    "bars and counts them in live_bars_dropped",
                )
            log.warning("%s; dropped", problem, extra=located(symbol=symbol))
            self.dropped_live += 1
            return ClockStep(None, now if now is not None else ts, [])
        series.write(one.ts, one.open, one.high, one.low, one.close, one.volume)
        self.steps += 1
        bar_end = bar_close(ts, self.base_ns)
        for tracked, resampler in self._resamplers.get(symbol, []):
            for done in (
                resampler.add(ts, open, high, low, close, volume),
                resampler.close_through(bar_end),
            ):
                if done is not None:
                    # published at this step (its session time is the bar's close)
                    when = np.full(len(done), max(bar_end, now or 0), dtype=np.int64)
                    _write(tracked.series, done, when)
        if now is None or bar_end > now:
            self.time_ns = bar_end
        self._close_live(live_horizon(self.time_ns, self.base_ns))
        items: StepItems = []
        for tracked in self._tracked:
            grown = tracked.series.written
            if tracked.series.n < grown:
                if tracked.minutes == self.base_minutes:
                    self.bars_in += grown - tracked.series.n
                tracked.series.publish(grown)
                items.append((tracked.key, grown))
        return ClockStep(None, self.time_ns, items)

    def _close_live(self, now_ns: int | None) -> None:
        for resamplers in self._resamplers.values():
            for tracked, resampler in resamplers:
                done = (
                    resampler.flush()
                    if now_ns is None
                    else resampler.close_through(now_ns)
                )
                if done is not None:
                    # published at this step, with the step's other bars
                    when = np.full(len(done), self.time_ns or 0, dtype=np.int64)
                    _write(tracked.series, done, when)


def _write(
    series: BarSeries, bars: BarArrays, visible_from: np.ndarray | None = None
) -> None:
    series.write(
        bars.ts,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.quality,
        visible_from if series.timed else None,
    )


def _last_row(series: BarSeries) -> BarArrays:
    return BarArrays(
        **{name: series.column(name)[-1:].copy() for name in BAR_COLUMNS},
    )
