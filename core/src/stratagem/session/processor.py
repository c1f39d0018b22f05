"""DataProcessor: the single writer of SessionData and the source of clock steps.

Replay (data-driven and clock-driven) knows every bar in advance: each symbol's 1m
bars and its derived bars are built in bulk and written ahead of the clock, and a
timeline says at which step each series grows. Live runs feed 1m bars one at a time
through the incremental resampler. Both follow the one window rule of
:mod:`stratagem.data.resample`, and both publish a bar only once its window has closed:
at the first step whose session time is at or after the bar's end. Live bars of one
minute arrive one symbol after another, so there a window whose last minute never
came closes once a later minute has begun (one minute later than in replay); the bars
themselves are identical.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stratagem.data.bars import BarArrays
from stratagem.data.intervals import NS_PER_MINUTE, interval_name
from stratagem.data.resample import IncrementalResampler, resample, window_start
from stratagem.data.session_data import BarSeries, SessionData
from stratagem.data.timefmt import format_ts
from stratagem.data.validation import validate_bars

log = logging.getLogger("stratagem.session")

SeriesKey = tuple[str, str]
StepItems = list[tuple[SeriesKey, int]]


@dataclass
class _Tracked:
    series: BarSeries
    key: SeriesKey
    minutes: int


class DataProcessor:
    """Writes SessionData and turns the clock into batches of published series.

    :param data: the session's store; the processor is its only writer.
    :param derived_minutes: widths of the derived intervals, e.g. ``[5, 15]``.
    :param warmup_bars: history rows per series published when a symbol joins.
    :param validation: ``reject`` or ``drop`` for bars pushed live.
    """

    def __init__(
        self,
        data: SessionData,
        derived_minutes: Sequence[int],
        *,
        warmup_bars: int = 200,
        validation: str = "reject",
    ) -> None:
        self.data = data
        self.minutes = [1, *sorted(set(derived_minutes))]
        self.warmup_bars = warmup_bars
        self.validation = validation
        self.time_ns: int | None = None
        self.bars_in = 0
        self.dropped_live = 0
        self._tracked: list[_Tracked] = []
        self._symbols: list[str] = []
        # replay timeline: parallel arrays sorted by (step, series order)
        self._times: list[int] = []
        self._ev_step = np.empty(0, dtype=np.int64)
        self._ev_series = np.empty(0, dtype=np.int64)
        self._ev_n = np.empty(0, dtype=np.int64)
        self._bounds: list[int] = [0]
        self._cursor = 0
        self._chunk: tuple[int, int, list[int], list[int]] = (0, 0, [], [])
        self._interest: tuple[frozenset[SeriesKey] | None, list[int]] = (None, [])
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
        bars_1m: BarArrays,
        now_ns: int,
        *,
        coarse: BarArrays | None = None,
        coarse_minutes: int | None = None,
        history_only: bool = False,
    ) -> StepItems:
        """Add a symbol for replay: write its bars, publish its warm-up history.

        :param bars_1m: every 1m bar of the symbol in the session range.
        :param now_ns: current session time; bars that closed by then are history
            (the last ``warmup_bars`` of each series are kept and published now).
        :param coarse: optional coarser bars (e.g. a 5m file) that extend the history
            of derived intervals to before the first 1m bar.
        :param coarse_minutes: width of ``coarse`` bars.
        :param history_only: write only bars closed by ``now_ns`` (live symbols, whose
            open windows are completed by the incremental resampler).
        :returns: the history that was published, as ``(key, n)`` items.
        """
        if symbol in self._symbols:
            raise ValueError(f"symbol {symbol} is already in the session")
        self._symbols.append(symbol)
        published: StepItems = []
        for minutes in self.minutes:
            bars = bars_1m if minutes == 1 else resample(bars_1m, minutes)
            if minutes > 1 and coarse is not None and coarse_minutes:
                bars = self._prepend_coarse(
                    bars, bars_1m, coarse, coarse_minutes, minutes
                )
            width = minutes * NS_PER_MINUTE
            closed = int(np.searchsorted(bars.ts, now_ns - width, side="right"))
            first = max(0, closed - self.warmup_bars)
            bars = bars.slice(first, closed if history_only else len(bars))
            tracked = self._track(symbol, minutes, capacity=len(bars))
            if len(bars):
                _write(tracked.series, bars)
            history = closed - first
            if history:
                tracked.series.publish(history)
                published.append((tracked.key, history))
        if self.time_ns is not None:  # mid-session; start() builds the first one
            self._rebuild_timeline(now_ns)
        return published

    def _prepend_coarse(
        self,
        derived: BarArrays,
        bars_1m: BarArrays,
        coarse: BarArrays,
        coarse_minutes: int,
        minutes: int,
    ) -> BarArrays:
        if minutes % coarse_minutes or len(bars_1m) == 0:
            return derived
        width = minutes * NS_PER_MINUTE
        first_window = int(window_start(np.int64(bars_1m.ts[0]), width))
        earlier = coarse.slice(0, int(np.searchsorted(coarse.ts, first_window)))
        if len(earlier) == 0:
            return derived
        return BarArrays.concat(
            [resample(earlier, minutes, source_minutes=coarse_minutes), derived]
        )

    def _track(self, symbol: str, minutes: int, capacity: int) -> _Tracked:
        series = self.data.add_series(
            symbol, interval_name(minutes), capacity, derived=minutes > 1
        )
        tracked = _Tracked(series, (series.symbol, series.interval), minutes)
        self._tracked.append(tracked)
        return tracked

    def start(self, now_ns: int) -> None:
        """Set the session clock before the first step."""
        self.time_ns = now_ns
        self._rebuild_timeline(now_ns)

    def _rebuild_timeline(self, after_ns: int) -> None:
        """Recompute, for every step after ``after_ns``, which series grow to what."""
        ends_1m = [
            t.series.column("ts")[t.series.n :] + NS_PER_MINUTE
            for t in self._tracked
            if t.minutes == 1
        ]
        times = np.unique(np.concatenate(ends_1m)) if ends_1m else np.empty(0, np.int64)
        times = times[times > after_ns]
        steps, series_ids, counts = [], [], []
        for order, tracked in enumerate(self._tracked):
            series = tracked.series
            pending_ends = (
                series.column("ts")[series.n :] + tracked.minutes * NS_PER_MINUTE
            )
            if len(pending_ends) == 0:
                continue
            # len(times) stands for the final flush at session end
            pos = np.searchsorted(times, pending_ends, side="left")
            last = np.flatnonzero(np.diff(pos))
            last = np.append(last, len(pos) - 1)
            steps.append(pos[last])
            series_ids.append(np.full(len(last), order, dtype=np.int64))
            counts.append(series.n + last + 1)
        if steps:
            step = np.concatenate(steps)
            sid = np.concatenate(series_ids)
            n = np.concatenate(counts)
            order = np.lexsort((sid, step))
            # int32 halves the timeline's memory; steps, series and counts fit
            step, sid, n = (a[order].astype(np.int32) for a in (step, sid, n))
        else:
            step = sid = n = np.empty(0, dtype=np.int32)
        self._times = times.tolist()
        self._ev_step, self._ev_series, self._ev_n = step, sid, n
        self._bounds = np.searchsorted(
            step, np.arange(len(times) + 2), side="left"
        ).tolist()
        self._cursor = 0
        self._chunk = (0, 0, [], [])
        self._interest: tuple[frozenset[SeriesKey] | None, list[int]] = (None, [])

    @property
    def next_time_ns(self) -> int | None:
        """Session time of the next replay step, or None when only the flush is left."""
        if self._cursor < len(self._times):
            return self._times[self._cursor]
        return None

    @property
    def last_time_ns(self) -> int | None:
        """Session time of the last replay step (None when there is none)."""
        return self._times[-1] if self._times else self.time_ns

    def next_step(
        self, interesting: frozenset[SeriesKey] | None = None
    ) -> tuple[int, StepItems] | None:
        """Advance the replay clock and return what the step published.

        :param interesting: when given, advance straight to the next step that
            publishes one of these series (or the last step), publishing everything
            in between; the steps skipped are those nobody listens to, so no one can
            tell them from steps taken one by one.
        """
        cursor = self._cursor
        last = len(self._times) - 1
        if cursor > last:
            return None
        target = cursor if interesting is None else self._next_interesting(interesting)
        self._cursor = target + 1
        self.last_index = target
        self.steps += target + 1 - cursor
        self.time_ns = self._times[target]
        return self.time_ns, self._publish(cursor, target)

    def replay_steps(self, first: int, last: int) -> list[tuple[int, int, StepItems]]:
        """Steps ``first..last`` (already published) with everything they published,
        for a strategy that must see them one by one."""
        out = []
        tracked = self._tracked
        for index in range(first, last + 1):
            series_ids, counts = self._events(
                self._bounds[index], self._bounds[index + 1]
            )
            pairs = zip(series_ids, counts, strict=True)
            items = [(tracked[sid].key, n) for sid, n in pairs]
            out.append((index, self._times[index], items))
        return out

    def _next_interesting(self, interesting: frozenset[SeriesKey]) -> int:
        keys, steps = self._interest
        if keys is not interesting:
            wanted = [
                sid for sid, t in enumerate(self._tracked) if t.key in interesting
            ]
            lo = self._bounds[self._cursor]
            mask = np.isin(self._ev_series[lo:], wanted)
            steps = np.unique(self._ev_step[lo:][mask]).tolist()
            self._interest = (interesting, steps)
        index = bisect_left(steps, self._cursor)
        last = len(self._times) - 1
        return min(steps[index], last) if index < len(steps) else last

    def flush(self, end_ns: int | None = None) -> tuple[int, StepItems]:
        """Session end: close every open window and publish everything written."""
        time_ns = end_ns if end_ns is not None else (self.time_ns or 0)
        if self.time_ns is None or time_ns > self.time_ns:
            self.time_ns = time_ns
        if self._resamplers:
            self._close_live(None)
        flush_step = len(self._times)
        items = self._publish(flush_step, flush_step)
        self._cursor = flush_step
        for tracked in self._tracked:
            if tracked.series.n < tracked.series.written:
                tracked.series.publish(tracked.series.written)
                items.append((tracked.key, tracked.series.n))
        return self.time_ns, items

    def _publish(self, first: int, last: int) -> StepItems:
        """Publish the events of steps ``first..last``; the items of step ``last``."""
        lo, mid, hi = self._bounds[first], self._bounds[last], self._bounds[last + 1]
        if lo == hi:
            return []
        series_ids, counts = self._events(lo, hi)
        tracked = self._tracked
        items: StepItems = []
        for index, (sid, n) in enumerate(zip(series_ids, counts, strict=True)):
            entry = tracked[sid]
            series = entry.series
            if entry.minutes == 1:
                self.bars_in += n - series.n
            series.n = n
            if index >= mid - lo:
                items.append((entry.key, n))
        return items

    def _events(self, lo: int, hi: int) -> tuple[list[int], list[int]]:
        """Events ``lo..hi`` as Python lists, converted a chunk at a time so that a
        long session never holds its whole timeline as Python objects."""
        start, stop, series_ids, counts = self._chunk
        if not (start <= lo and hi <= stop):
            start, stop = lo, max(hi, min(lo + 65_536, len(self._ev_n)))
            series_ids = self._ev_series[start:stop].tolist()
            counts = self._ev_n[start:stop].tolist()
            self._chunk = (start, stop, series_ids, counts)
        return series_ids[lo - start : hi - start], counts[lo - start : hi - start]

    # --- live ------------------------------------------------------------------------

    def add_live_symbol(
        self, symbol: str, history_1m: BarArrays, now_ns: int
    ) -> StepItems:
        """Add a live symbol, warmed up by ``history_1m`` (bars closed by now)."""
        published = self.add_symbol(symbol, history_1m, now_ns, history_only=True)
        resamplers = []
        for tracked in self._tracked:
            if tracked.key[0] == symbol and tracked.minutes > 1:
                resampler = IncrementalResampler(tracked.minutes)
                # the open window may already hold history minutes
                width = tracked.minutes * NS_PER_MINUTE
                for row in range(len(history_1m)):
                    ts = int(history_1m.ts[row])
                    if ts + NS_PER_MINUTE > now_ns:
                        break
                    if window_start(ts, width) + width > now_ns:
                        resampler.add(
                            ts,
                            float(history_1m.open[row]),
                            float(history_1m.high[row]),
                            float(history_1m.low[row]),
                            float(history_1m.close[row]),
                            float(history_1m.volume[row]),
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
    ) -> tuple[int, StepItems]:
        """Accept one live 1m bar: validate, store, close due windows, publish.

        :returns: the step's session time and what it published (empty when the bar
            was dropped under the ``drop`` policy).
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
        if now is not None and any(
            window_start(ts, t.series.width_ns) + t.series.width_ns
            <= now - NS_PER_MINUTE
            for t, _ in self._resamplers.get(symbol, [])
        ):
            log.warning(
                "live bar %s %s arrived after its window was published; dropped",
                symbol,
                format_ts(ts),
            )
            self.dropped_live += 1
            return now, []
        series = self.data.series(symbol, "1m")
        # validated together with the previous bar, so order and duplicates are
        # checked by the same rules as files
        checked = BarArrays.concat([_last_row(series), one]) if series.written else one
        kept, _ = validate_bars(
            checked,
            file=f"live:{symbol}",
            interval_ns=NS_PER_MINUTE,
            policy=self.validation,
        )
        if len(kept) < len(checked):
            self.dropped_live += 1
            return now if now is not None else ts, []
        series.write(one.ts, one.open, one.high, one.low, one.close, one.volume)
        self.steps += 1
        bar_end = ts + NS_PER_MINUTE
        for tracked, resampler in self._resamplers.get(symbol, []):
            for done in (
                resampler.add(ts, open, high, low, close, volume),
                resampler.close_through(bar_end),
            ):
                if done is not None:
                    _write(tracked.series, done)
        if now is None or bar_end > now:
            self.time_ns = bar_end
        # bars of one minute arrive one symbol after another, so another symbol's
        # window whose last minute is missing closes once a later minute has begun
        self._close_live(self.time_ns - NS_PER_MINUTE)
        items: StepItems = []
        for tracked in self._tracked:
            grown = tracked.series.written
            if tracked.series.n < grown:
                if tracked.minutes == 1:
                    self.bars_in += grown - tracked.series.n
                tracked.series.publish(grown)
                items.append((tracked.key, grown))
        return self.time_ns, items

    def _close_live(self, now_ns: int | None) -> None:
        for resamplers in self._resamplers.values():
            for tracked, resampler in resamplers:
                done = (
                    resampler.flush()
                    if now_ns is None
                    else resampler.close_through(now_ns)
                )
                if done is not None:
                    _write(tracked.series, done)


def _write(series: BarSeries, bars: BarArrays) -> None:
    series.write(
        bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.quality
    )


def _last_row(series: BarSeries) -> BarArrays:
    return BarArrays(
        **{name: series.column(name)[-1:].copy() for name in _COLUMNS},
    )


_COLUMNS = ("ts", "open", "high", "low", "close", "volume")
