"""Windows that follow trading days (DESIGN section 15), on real data.

Every case is checked three ways: the bulk :func:`resample`, the
:class:`IncrementalResampler` driven like a live session, and a small reference
written here in plain Python (``datetime`` and ``zoneinfo``, bar by bar) that
shares no code with :mod:`stratagem._data`. All three must agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from stratagem._data.bars import BarArrays
from stratagem._data.resample import (
    IncrementalResampler,
    available_at,
    count_filled,
    resample,
    window_bounds,
    window_start,
)
from stratagem._data.trading_days import TradingCalendar
from stratagem.testing import load_bars

SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
NS = 10**9
MINUTE = 60 * NS
#: BTC_PERP (24/7, gap-free) days relabelled onto the 2017-03-12 US spring-forward
GAP_DAYS = (datetime(2022, 1, 10, tzinfo=UTC), datetime(2022, 1, 14, tzinfo=UTC))
GAP_SHIFT = datetime(2017, 3, 10, tzinfo=UTC) - GAP_DAYS[0]


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * NS


@cache
def shared(name: str) -> BarArrays:
    """A shared data file, ``bars/<interval>/<SYMBOL>.csv`` (skips when absent)."""
    if name == "1m/BTC_PERP@2017-03":
        bars = shared("1m/BTC_PERP.csv")
        lo, hi = (int(moment.timestamp()) * NS for moment in GAP_DAYS)
        part = bars.between(lo, hi)
        shift = int(GAP_SHIFT.total_seconds()) * NS
        return BarArrays(**{**part.columns(), "ts": part.ts + shift})
    path = SHARED_DATA / "bars" / name
    if not path.is_file():
        pytest.skip(f"shared real data {path} is absent (see shared/data/README.md)")
    return load_bars(path, validation="drop")


# --- the reference: plain datetime/zoneinfo, bar by bar -------------------------------


class ReferenceDays:
    """Trading-day anchors computed naively, one local date at a time."""

    def __init__(self, timezone: str, day_start: str) -> None:
        self.zone = ZoneInfo(timezone)
        hours, minutes = day_start.split(":")
        self.start = time(int(hours), int(minutes))
        self.anchors: dict[date, datetime] = {}

    def anchor(self, day: date) -> datetime:
        if day not in self.anchors:
            local = datetime.combine(day, self.start, tzinfo=self.zone)
            moment = local.astimezone(UTC)
            wall = local.replace(tzinfo=None)
            if moment.astimezone(self.zone).replace(tzinfo=None) != wall:
                # the local time does not exist: walk to the minute the clocks jump
                moment -= timedelta(hours=3)
                while moment.astimezone(self.zone).replace(tzinfo=None) < wall:
                    moment += timedelta(minutes=1)
            self.anchors[day] = moment
        return self.anchors[day]

    def day(self, moment: datetime) -> tuple[datetime, datetime]:
        one = timedelta(days=1)
        local = moment.astimezone(self.zone).date()
        while self.anchor(local) > moment:
            local -= one
        while self.anchor(local + one) <= moment:
            local += one
        return self.anchor(local), self.anchor(local + one)


Row = tuple[int, float, float, float, float, float, float]


def reference(
    bars: BarArrays,
    widths: tuple[int, ...],
    source_minutes: int,
    days: ReferenceDays,
) -> dict[tuple[int, str], list[Row]]:
    """Section 15's windows, bar by bar: ``(ts, o, h, l, c, v, quality)`` rows for
    each width in minutes and each empty policy."""
    source = timedelta(minutes=source_minutes)
    windows: dict[int, dict[datetime, list]] = {minutes: {} for minutes in widths}
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
    for ts, o, h, lo, c, v in zip(*(col.tolist() for col in columns), strict=True):
        moment = datetime.fromtimestamp(ts // NS, UTC)
        day_start, day_end = days.day(moment)
        for minutes in widths:
            if minutes == 1440:
                start, end = day_start, day_end
            else:
                width = timedelta(minutes=minutes)
                start = day_start + (moment - day_start) // width * width
                end = min(start + width, day_end)
            window = windows[minutes].get(start)
            if window is None:
                windows[minutes][start] = [end, day_start, day_end, o, h, lo, c, v, 1]
            else:
                window[4] = max(window[4], h)
                window[5] = min(window[5], lo)
                window[6] = c
                window[7] += v
                window[8] += 1
    out = {}
    for minutes in widths:
        rows = {}
        for start, (end, _, _, o, h, lo, c, v, n) in windows[minutes].items():
            assert (end - start) % source == timedelta(0)
            rows[start] = (o, h, lo, c, v, 100.0 * n / ((end - start) // source))
        out[minutes, "skip"] = _rows(rows)
        day_bounds = {(w[1], w[2]) for w in windows[minutes].values()}
        for day_start, day_end in day_bounds if minutes < 1440 else ():
            grid = []
            start = day_start
            while start < day_end:
                grid.append(start)
                start += timedelta(minutes=minutes)
            full = [k for k, start in enumerate(grid) if start in windows[minutes]]
            for k in range(full[0] + 1, full[-1]):
                if grid[k] not in rows:
                    close = rows[grid[k - 1]][3]
                    rows[grid[k]] = (close, close, close, close, 0.0, 0.0)
        out[minutes, "fill"] = _rows(rows)
    return out


def _rows(rows: dict[datetime, tuple]) -> list[Row]:
    return [
        (int(start.timestamp()) * NS, *values) for start, values in sorted(rows.items())
    ]


# --- drivers --------------------------------------------------------------------------


def incremental(bars: BarArrays, minutes: int, source_minutes: int, **kw) -> BarArrays:
    """Drive an IncrementalResampler like a session: time moves to each bar's close."""
    resampler = IncrementalResampler(minutes, source_minutes, **kw)
    out: list[BarArrays] = []
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
    for ts, o, h, lo, c, v in zip(*(col.tolist() for col in columns), strict=True):
        for done in (
            resampler.add(ts, o, h, lo, c, v),
            resampler.close_through(ts + source_minutes * MINUTE),
        ):
            if done is not None:
                out.append(done)
    done = resampler.flush()
    if done is not None:
        out.append(done)
    return BarArrays.concat(out) if out else BarArrays.empty(derived=True)


def assert_same(ours: BarArrays, other: BarArrays, what: str) -> None:
    assert len(ours) == len(other), what
    for name, column in ours.columns().items():
        theirs = other.columns()[name]
        assert column.dtype == theirs.dtype, (what, name)
        assert column.tobytes() == theirs.tobytes(), (what, name)


def as_bars(rows: list[tuple]) -> BarArrays:
    names = ("ts", "open", "high", "low", "close", "volume", "quality")
    if not rows:
        return BarArrays.empty(derived=True)
    columns = map(np.array, zip(*rows, strict=True))
    return BarArrays(**dict(zip(names, columns, strict=True)))


def labels(bars: BarArrays) -> list[str]:
    return [
        datetime.fromtimestamp(int(t) // NS, UTC).strftime("%Y-%m-%dT%H:%MZ")
        for t in bars.ts
    ]


# --- every case: bulk == reference == incremental -------------------------------------


@dataclass(frozen=True)
class Case:
    file: str
    source_minutes: int
    timezone: str
    day_start: str
    widths: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.file}@{self.timezone}/{self.day_start}"


CASES = [
    # the FX day: 17:00 New York, 21:00Z before 2017-11-05 and 22:00Z after
    Case("1h/EURUSD.csv", 60, "America/New_York", "17:00", (60, 240, 1440)),
    # London midnight: 2017-10-29 lasts 25 hours and has bars
    Case("1h/EURUSD.csv", 60, "Europe/London", "00:00", (240, 1440)),
    # the CME Globex day: 17:00 Chicago (23:00Z in January)
    Case("1m/6EH4.csv", 1, "America/Chicago", "17:00", (60, 1440)),
    # Eurex on the local clock; 7m does not divide a day: each day's last window is 5m
    Case("1m/FESX.csv", 1, "Europe/Berlin", "00:00", (7, 60, 1440)),
    # a fold: 02:30 happens twice in Fiji on 2018-01-14 (24/7 data)
    Case("5m/ETH_BTC.csv", 5, "Pacific/Fiji", "02:30", (15, 60, 1440)),
    # a gap: 02:30 never happens in New York on 2017-03-12 (real bars relabelled)
    Case("1m/BTC_PERP@2017-03", 1, "America/New_York", "02:30", (15, 60, 1440)),
    # UTC through the calendar code path (not the default calendar's key)
    Case("1m/DASH_BTC.csv", 1, "Etc/UTC", "00:00", (3, 7)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bulk_reference_and_incremental_agree_bit_for_bit(case: Case) -> None:
    bars = shared(case.file)
    calendar = TradingCalendar(case.timezone, case.day_start)
    days = ReferenceDays(case.timezone, case.day_start)
    expected = reference(bars, case.widths, case.source_minutes, days)
    filled = 0
    for minutes in case.widths:
        for empty in ("skip", "fill"):
            what = f"{case} {minutes}m {empty}"
            kw = {"calendar": calendar, "empty": empty}
            bulk = resample(bars, minutes, case.source_minutes, **kw)
            assert_same(bulk, as_bars(expected[minutes, empty]), f"{what} reference")
            live = incremental(bars, minutes, case.source_minutes, **kw)
            assert_same(bulk, live, f"{what} incremental")
            assert (bulk.quality <= 100.0).all()
            assert count_filled(bulk) == (bulk.quality == 0).sum()
            filled += count_filled(bulk)
    if case.file in ("1m/FESX.csv", "1m/DASH_BTC.csv"):
        assert filled > 0  # in-session holes: the fill policy is exercised


# --- what the windows look like around the DST changes --------------------------------


def test_new_york_fx_day_moves_from_21z_to_22z() -> None:
    eurusd = shared("1h/EURUSD.csv")
    fx = TradingCalendar("America/New_York", "17:00")
    days = resample(eurusd, 1440, 60, calendar=fx)
    around = days.between(ns("2017-11-01T00:00:00Z"), ns("2017-11-08T00:00:00Z"))
    # no bar on Friday 2017-11-03 at 21:00Z, so no day opened then
    assert labels(around) == [
        "2017-11-01T21:00Z",  # Wednesday 17:00 EDT
        "2017-11-02T21:00Z",
        "2017-11-05T22:00Z",  # Sunday 17:00 EST: the week opens
        "2017-11-06T22:00Z",
        "2017-11-07T22:00Z",
    ]
    assert (around.quality == 100.0).all()  # 24 hourly bars each
    fours = resample(eurusd, 240, 60, calendar=fx)
    before = fours.between(ns("2017-11-01T21:00:00Z"), ns("2017-11-02T21:00:00Z"))
    assert labels(before)[:2] == ["2017-11-01T21:00Z", "2017-11-02T01:00Z"]
    after = fours.between(ns("2017-11-06T22:00:00Z"), ns("2017-11-07T22:00:00Z"))
    assert labels(after)[:2] == ["2017-11-06T22:00Z", "2017-11-07T02:00Z"]
    # the epoch-aligned 1d bars of the same data start at midnight UTC
    assert (resample(eurusd, 1440, 60).ts % (1440 * MINUTE) == 0).all()


def test_london_25_hour_day_gets_an_added_cut_window() -> None:
    eurusd = shared("1h/EURUSD.csv")
    london = TradingCalendar("Europe/London", "00:00")
    start, end = ns("2017-10-28T23:00:00Z"), ns("2017-10-30T00:00:00Z")
    assert london.day_of(ns("2017-10-29T21:00:00Z")) == (start, end)  # 25 hours
    day = resample(eurusd, 1440, 60, calendar=london).between(start, end)
    # Sunday's bars at 21:00Z, 22:00Z and 23:00Z: 3 of the 25 hours the day can hold
    assert labels(day) == ["2017-10-28T23:00Z"] and day.quality[0] == 12.0
    fours = resample(eurusd, 240, 60, calendar=london).between(start, end)
    assert labels(fours) == ["2017-10-29T19:00Z", "2017-10-29T23:00Z"]
    assert fours.quality.tolist() == [50.0, 100.0]  # the 7th window lasts one hour
    assert window_bounds(ns("2017-10-29T23:00:00Z"), 240 * MINUTE, london) == (
        ns("2017-10-29T23:00:00Z"),
        end,
    )
    # live: that window closes at the day's end, not 4 hours after it opened
    resampler = IncrementalResampler(240, 60, calendar=london)
    for row in np.flatnonzero((eurusd.ts >= start) & (eurusd.ts < end)):
        resampler.add(
            int(eurusd.ts[row]),
            float(eurusd.open[row]),
            float(eurusd.high[row]),
            float(eurusd.low[row]),
            float(eurusd.close[row]),
            float(eurusd.volume[row]),
        )
    assert resampler.open_window == ns("2017-10-29T23:00:00Z")
    assert resampler.open_window_end == end
    assert resampler.close_through(end - 1) is None
    done = resampler.close_through(end)
    assert done is not None and done.ts[0] == ns("2017-10-29T23:00:00Z")


def test_cme_day_starts_at_17_chicago_and_keeps_the_maintenance_hour_empty() -> None:
    cme = TradingCalendar("America/Chicago", "17:00")
    futures = shared("1m/6EH4.csv")
    days = resample(futures, 1440, calendar=cme)
    assert (days.ts % (1440 * MINUTE) == 23 * 60 * MINUTE).all()  # 17:00 CST
    # a full session is 23:00Z..21:59Z: 1380 of the day's 1440 minutes at most
    assert days.quality.max() <= 100.0 * 1380 / 1440
    filled = resample(futures, 60, calendar=cme, empty="fill")
    hours = (filled.ts // (60 * MINUTE)) % 24
    assert 22 not in hours.tolist()  # the break ends the CME day: never filled
    utc_filled = resample(futures, 60, empty="fill")
    assert 22 in ((utc_filled.ts // (60 * MINUTE)) % 24).tolist()  # UTC days fill it
    assert count_filled(utc_filled) > count_filled(filled)


def test_eurex_hours_and_the_cut_last_window_of_a_7m_day() -> None:
    fesx = shared("1m/FESX.csv")
    eurex = TradingCalendar("Europe/Berlin", "00:00")
    hours = resample(fesx, 60, calendar=eurex)
    assert (hours.ts % (60 * MINUTE) == 0).all()
    assert labels(hours)[0] == "2006-01-02T08:00Z"
    sevens = resample(fesx, 7, calendar=eurex)
    # each Berlin day starts at 23:00Z (CET) and holds 205 windows of 7m and one of 5m
    offsets = (sevens.ts - 23 * 60 * MINUTE) % (1440 * MINUTE)
    assert (offsets % (7 * MINUTE) == 0).all()
    assert not np.array_equal(sevens.ts, resample(fesx, 7).ts)
    last = window_bounds(ns("2006-01-03T22:57:00Z"), 7 * MINUTE, eurex)
    assert last == (ns("2006-01-03T22:55:00Z"), ns("2006-01-03T23:00:00Z"))
    assert window_bounds(ns("2006-01-03T23:00:00Z"), 7 * MINUTE, eurex)[0] == ns(
        "2006-01-03T23:00:00Z"
    )


def test_dst_gap_day_starts_when_the_clocks_jump() -> None:
    calendar = TradingCalendar("America/New_York", "02:30")
    # 02:30 EST on 03-11 (07:30Z); on 03-12 02:30 does not exist: the clocks jump
    # from 02:00 EST to 03:00 EDT at 07:00Z; 02:30 EDT on 03-13 (06:30Z)
    assert calendar.day_start_ns(date(2017, 3, 11)) == ns("2017-03-11T07:30:00Z")
    assert calendar.day_start_ns(date(2017, 3, 12)) == ns("2017-03-12T07:00:00Z")
    assert calendar.day_start_ns(date(2017, 3, 13)) == ns("2017-03-13T06:30:00Z")
    bars = shared("1m/BTC_PERP@2017-03")
    days = resample(bars, 1440, calendar=calendar)
    assert labels(days) == [
        "2017-03-09T07:30Z",
        "2017-03-10T07:30Z",
        "2017-03-11T07:30Z",
        "2017-03-12T07:00Z",
        "2017-03-13T06:30Z",
    ]
    # gap-free data: whole days are 100% whatever they last (24, 23.5, 23.5 hours)
    assert days.quality[1:4].tolist() == [100.0, 100.0, 100.0]
    hours = resample(bars, 60, calendar=calendar).between(
        ns("2017-03-12T07:00:00Z"), ns("2017-03-13T06:30:00Z")
    )
    assert labels(hours)[0] == "2017-03-12T07:00Z" and len(hours) == 24
    assert labels(hours)[-1] == "2017-03-13T06:00Z"  # a 30-minute window: cut
    assert hours.quality[-1] == 100.0


def test_dst_fold_day_starts_at_the_first_occurrence() -> None:
    calendar = TradingCalendar("Pacific/Fiji", "02:30")
    # Fiji leaves DST on 2018-01-14 at 03:00 (+13) -> 02:00 (+12): 02:30 twice
    assert calendar.day_start_ns(date(2018, 1, 14)) == ns("2018-01-13T13:30:00Z")
    assert calendar.day_start_ns(date(2018, 1, 15)) == ns("2018-01-14T14:30:00Z")
    new_york = TradingCalendar("America/New_York", "01:30")
    assert new_york.day_start_ns(date(2017, 11, 5)) == ns("2017-11-05T05:30:00Z")
    bars = shared("5m/ETH_BTC.csv")
    days = resample(bars, 1440, 5, calendar=calendar)
    long_day = days.take(days.ts == ns("2018-01-13T13:30:00Z"))
    assert len(long_day) == 1 and long_day.quality[0] == 100.0  # 300 of 300 bars
    hours = resample(bars, 60, 5, calendar=calendar).between(
        ns("2018-01-13T13:30:00Z"), ns("2018-01-14T14:30:00Z")
    )
    assert len(hours) == 25 and (hours.quality == 100.0).all()


@pytest.mark.parametrize(
    ("timezone", "day_start"),
    [
        ("America/New_York", "17:00"),
        ("America/New_York", "02:30"),
        ("America/New_York", "01:30"),
        ("Europe/London", "01:30"),
        ("Australia/Lord_Howe", "02:15"),
        ("Pacific/Fiji", "02:30"),
    ],
)
def test_day_starts_match_the_reference_every_day_of_two_years(
    timezone: str, day_start: str
) -> None:
    calendar = TradingCalendar(timezone, day_start)
    days = ReferenceDays(timezone, day_start)
    first, last = date(2017, 1, 1), date(2018, 12, 31)
    anchors = calendar.day_starts(first, last)
    expected = [
        int(days.anchor(first + timedelta(days=k)).timestamp()) * NS
        for k in range((last - first).days + 1)
    ]
    assert anchors.tolist() == expected
    # and a bar is placed in the same day one at a time and in bulk
    probes = np.arange(int(anchors[0]), int(anchors[-1]), 7 * MINUTE, dtype=np.int64)
    starts, ends = calendar.days_of(probes)
    every = len(probes) // 500
    pairs = zip(starts[::every].tolist(), ends[::every].tolist(), strict=True)
    assert [calendar.day_of(int(t)) for t in probes[::every]] == list(pairs)
    assert ((starts <= probes) & (probes < ends)).all()


# --- the default calendar is today's rule ---------------------------------------------


@pytest.mark.parametrize("minutes", [5, 15, 60, 1440, 7])
def test_default_calendar_gives_todays_windows_bit_for_bit(minutes: int) -> None:
    dash = shared("1m/DASH_BTC.csv")
    today = resample(dash, minutes)
    for empty in ("skip", "fill"):
        none = resample(dash, minutes, calendar=None, empty=empty)
        default = resample(dash, minutes, calendar=TradingCalendar(), empty=empty)
        assert_same(none, default, f"{minutes}m {empty}")
        live = incremental(dash, minutes, 1, calendar=TradingCalendar(), empty=empty)
        assert_same(none, live, f"{minutes}m {empty} incremental")
    assert_same(today, resample(dash, minutes, 1), f"{minutes}m positional")
    assert window_start(dash.ts, minutes * MINUTE, TradingCalendar()).tolist() == (
        (dash.ts - dash.ts % (minutes * MINUTE)).tolist()
    )
    if 1440 % minutes == 0:
        # through the calendar code path, UTC days give the same windows too
        utc = resample(dash, minutes, calendar=TradingCalendar("Etc/UTC", "00:00"))
        assert_same(today, utc, f"{minutes}m Etc/UTC")


def test_epoch_rule_fills_within_utc_days_and_matches_the_reference() -> None:
    dash = shared("1m/DASH_BTC.csv")
    filled = resample(dash, 5, empty="fill")
    rows = reference(dash, (5,), 1, ReferenceDays("UTC", "00:00"))[5, "fill"]
    assert_same(filled, as_bars(rows), "DASH 5m fill vs reference")
    skipped = resample(dash, 5)
    assert count_filled(filled) == len(filled) - len(skipped) > 0
    assert count_filled(skipped) == 0
    flat = filled.take(filled.quality == 0.0)
    assert (flat.volume == 0.0).all()
    assert (flat.open == flat.close).all() and (flat.high == flat.low).all()
    # a filled bar carries the close of the bar before it
    rows_before = np.searchsorted(filled.ts, flat.ts) - 1
    assert (flat.close == filled.close[rows_before]).all()


def test_filled_bars_are_available_only_when_the_next_bar_closes() -> None:
    dash = shared("1m/DASH_BTC.csv")
    filled = resample(dash, 5, empty="fill")
    at = available_at(filled, dash.ts, 5)
    real = filled.quality > 0
    assert (at[real] == filled.ts[real] + 5 * MINUTE).all()
    empty_rows = np.flatnonzero(~real)
    nxt = np.searchsorted(dash.ts, filled.ts[empty_rows] + 5 * MINUTE)
    assert (at[empty_rows] == dash.ts[nxt] + MINUTE).all()
    assert (at[empty_rows] > filled.ts[empty_rows] + 5 * MINUTE).all()


def test_a_source_bar_crossing_a_window_end_stays_where_it_opens() -> None:
    eurusd = shared("1h/EURUSD.csv").slice(0, 600)
    odd = TradingCalendar("UTC", "00:30")  # not the default: days from 00:30Z
    bulk = resample(eurusd, 240, 60, calendar=odd)
    assert (bulk.ts % (60 * MINUTE) == 30 * MINUTE).all()
    assert_same(bulk, incremental(eurusd, 240, 60, calendar=odd), "crossing")
    # [00:30Z, 04:30Z) holds the bars opening 01:00Z..04:00Z: 4 of 4, not 5
    assert (bulk.quality <= 100.0).all() and (bulk.quality == 100.0).any()
    at = available_at(bulk, eurusd.ts, 240, 60, calendar=odd)
    full = bulk.quality == 100.0
    # published when its last bar closes (04:00Z + 1h), after the window's end
    assert (at[full] == bulk.ts[full] + 270 * MINUTE).all()
    assert (np.diff(at) >= 0).all()
    # bars from before the source bars (a coarser file's history): at their ends
    later = eurusd.ts[300:]
    early = np.flatnonzero(bulk.ts + 240 * MINUTE <= later[0])
    ends = window_bounds(bulk.ts[early], 240 * MINUTE, odd)[1]
    assert (available_at(bulk, later, 240, 60, calendar=odd)[early] == ends).all()


# --- arguments ------------------------------------------------------------------------


def test_calendar_fields_are_checked() -> None:
    assert TradingCalendar().is_default
    assert not TradingCalendar("Etc/UTC").is_default
    assert str(TradingCalendar("Europe/Berlin", "08:00")) == "Europe/Berlin 08:00"
    with pytest.raises(ValueError, match="unknown time zone"):
        TradingCalendar("Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="unknown time zone"):
        TradingCalendar("../etc/passwd")
    for bad in ("5:00", "24:00", "17:60", "17h00", "", None):
        with pytest.raises(ValueError, match="HH:MM"):
            TradingCalendar("UTC", bad)  # type: ignore[arg-type]


def test_widths_policies_and_calendar_types_are_checked() -> None:
    dash = shared("1m/DASH_BTC.csv").slice(0, 100)
    new_york = TradingCalendar("America/New_York", "17:00")
    with pytest.raises(ValueError, match="wider than a trading day"):
        resample(dash, 2880, calendar=new_york)
    with pytest.raises(ValueError, match="wider than a trading day"):
        IncrementalResampler(2880, calendar=new_york)
    assert len(resample(dash, 2880)) == 1  # no calendar: epoch-aligned, as today
    with pytest.raises(ValueError, match="empty must be one of"):
        resample(dash, 5, empty="zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty must be one of"):
        IncrementalResampler(5, empty="zero")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TradingCalendar"):
        resample(dash, 5, calendar="America/New_York")  # type: ignore[arg-type]
    assert len(resample(BarArrays.empty(), 60, calendar=new_york)) == 0
    with pytest.raises(ValueError, match="no quality column"):
        count_filled(dash)
