"""Trading days (DESIGN section 15): when a symbol's day starts, as UTC instants.

A :class:`TradingCalendar` names an IANA time zone and a local ``day_start``
(``"HH:MM"``). Trading day ``d`` is ``[A_d, A_{d+1})``, where the *anchor* ``A_d``
is ``day_start`` on the local date ``d`` in that zone, as an instant (int64 ns since
the epoch, UTC). A day therefore lasts 23, 24 or 25 hours around daylight-saving
changes. The offsets come from :mod:`zoneinfo` (the system zone database, or the
``tzdata`` package where the system has none); none is written by hand.

Daylight-saving edges, decided once here:

- ``day_start`` in a *fold* (a local time that happens twice, e.g. 01:30 in
  America/New_York on 2017-11-05): the first occurrence, i.e. :mod:`zoneinfo`'s
  ``fold=0`` (01:30 EDT, 05:30Z).
- ``day_start`` in a *gap* (a local time that never happens, e.g. 02:30 in
  America/New_York on 2017-03-12): the instant the clocks jump, i.e. the first
  instant whose local time is at or after ``day_start`` (03:00 EDT, 07:00Z). Plain
  ``fold=0`` would give 02:30 EST = 07:30Z, half an hour into the new day.

Anchors are computed once per local date (and cached), never per bar:
:meth:`TradingCalendar.days_of` computes the anchors of the dates a series spans and
places every bar with one :func:`numpy.searchsorted`; :meth:`TradingCalendar.day_of`
places one bar (the live path). Both return the same integers, so the bulk and the
incremental resamplers of :mod:`stratagem._data.resample` agree bit for bit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from stratagem._data.intervals import NS_PER_SECOND

#: the default time zone: with :data:`DEFAULT_DAY_START`, today's UTC days
DEFAULT_TIMEZONE = "UTC"
#: the default local start of a trading day
DEFAULT_DAY_START = "00:00"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
# dates added on each side of a series' local dates before placing its bars
_MARGIN_DAYS = 2


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """When the trading days of one symbol start.

    :param timezone: IANA time zone name, e.g. ``"America/New_York"``.
    :param day_start: local start of each trading day, ``"HH:MM"`` (24-hour clock),
        e.g. ``"17:00"``.
    :raises ValueError: on an unknown time zone or a malformed ``day_start``.

    ``TradingCalendar()`` (UTC, 00:00) is the default calendar: its days are the UTC
    days, and the resamplers treat it exactly like no calendar at all (see
    :attr:`is_default`).
    """

    timezone: str = DEFAULT_TIMEZONE
    day_start: str = DEFAULT_DAY_START

    def __post_init__(self) -> None:
        if not isinstance(self.timezone, str) or not self.timezone:
            raise ValueError(f"timezone must be an IANA name, got {self.timezone!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.timezone!r}: expected an IANA name such as "
                f"'America/New_York' (install the 'tzdata' package where the system "
                f"has no zone database)"
            ) from None
        if not isinstance(self.day_start, str) or not _HH_MM.fullmatch(self.day_start):
            raise ValueError(
                f"day_start must be a local time 'HH:MM' from '00:00' to '23:59', "
                f"got {self.day_start!r}"
            )

    def __str__(self) -> str:
        return f"{self.timezone} {self.day_start}"

    @property
    def zone(self) -> ZoneInfo:
        """The time zone (:class:`zoneinfo.ZoneInfo` caches one instance per name)."""
        return ZoneInfo(self.timezone)

    @property
    def is_default(self) -> bool:
        """True for exactly ``TradingCalendar("UTC", "00:00")``.

        The resamplers then keep the epoch-aligned rule of DESIGN section 4, which
        gives the same windows as trading days for every width that divides a day
        and keeps today's windows for the widths that do not (e.g. 7m).
        """
        return self.timezone == DEFAULT_TIMEZONE and self.day_start == DEFAULT_DAY_START

    def local_date(self, ts_ns: int) -> date:
        """Local calendar date of the instant ``ts_ns`` in :attr:`timezone`.

        :param ts_ns: ns since the epoch (UTC).
        """
        moment = _EPOCH + timedelta(seconds=int(ts_ns) // NS_PER_SECOND)
        return moment.astimezone(self.zone).date()

    def day_start_ns(self, day: date) -> int:
        """The anchor ``A_d``: ``day_start`` on local date ``day``, as ns (UTC).

        :param day: the local date ``d``.
        """
        return _anchor_ns(self.timezone, self.day_start, day.toordinal())

    def day_starts(self, first: date, last: date) -> np.ndarray:
        """Anchors of the local dates ``first`` .. ``last`` (both included).

        :param first: first local date.
        :param last: last local date.
        :returns: int64 ns, one per date (empty when ``last < first``).
        """
        ordinals = range(first.toordinal(), last.toordinal() + 1)
        return np.array(
            [_anchor_ns(self.timezone, self.day_start, o) for o in ordinals],
            dtype=np.int64,
        )

    def day_of(self, ts_ns: int) -> tuple[int, int]:
        """The trading day ``[A_d, A_{d+1})`` that holds the instant ``ts_ns``.

        :param ts_ns: ns since the epoch (UTC).
        :returns: ``(A_d, A_{d+1})`` in ns.
        """
        ts_ns = int(ts_ns)
        ordinal = self.local_date(ts_ns).toordinal()
        while _anchor_ns(self.timezone, self.day_start, ordinal) > ts_ns:
            ordinal -= 1
        while _anchor_ns(self.timezone, self.day_start, ordinal + 1) <= ts_ns:
            ordinal += 1
        return (
            _anchor_ns(self.timezone, self.day_start, ordinal),
            _anchor_ns(self.timezone, self.day_start, ordinal + 1),
        )

    def days_of(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The trading day of every instant of ``ts``, vectorised.

        Anchors are computed once for the local dates ``ts`` spans (plus a margin)
        and the instants placed among them with :func:`numpy.searchsorted`; the
        result equals :meth:`day_of` of each instant.

        :param ts: int64 ns since the epoch, in any order.
        :returns: ``(day_start, day_end)``, two int64 arrays shaped like ``ts``.
        :raises ValueError: when the zone's anchors go backwards over the range (a
            local date repeated by a date-line move; no zone does this since 1900).
        """
        ts = np.asarray(ts, dtype=np.int64)
        if ts.size == 0:
            return ts.copy(), ts.copy()
        low, high = int(ts.min()), int(ts.max())
        first = self.local_date(low) - timedelta(days=_MARGIN_DAYS)
        last = self.local_date(high) + timedelta(days=_MARGIN_DAYS)
        anchors = self.day_starts(first, last)
        while anchors[0] > low or anchors[-1] <= high:
            first -= timedelta(days=_MARGIN_DAYS)
            last += timedelta(days=_MARGIN_DAYS)
            anchors = self.day_starts(first, last)
        backwards = np.flatnonzero(anchors[1:] < anchors[:-1])
        if len(backwards):
            day = first + timedelta(days=int(backwards[0]) + 1)
            raise ValueError(
                f"trading days of {self} go backwards at local date {day}: "
                f"its day start is before the previous day's"
            )
        index = np.searchsorted(anchors, ts, side="right") - 1
        return anchors[index], anchors[index + 1]


@lru_cache(maxsize=1 << 16)
def _anchor_ns(timezone: str, day_start: str, ordinal: int) -> int:
    zone = ZoneInfo(timezone)
    day = date.fromordinal(ordinal)
    hours, minutes = int(day_start[:2]), int(day_start[3:])
    wall = datetime(day.year, day.month, day.day, hours, minutes)
    instant = _seconds(wall.replace(tzinfo=zone))  # fold=0: first occurrence
    if _local(instant, zone) == wall:
        return instant * NS_PER_SECOND
    # wall never happens (a gap): the first instant whose local time reaches it,
    # between the later offset's reading (before the jump) and fold=0's (after it)
    before = _seconds(wall.replace(tzinfo=zone, fold=1))
    after = instant
    while after - before > 1:
        middle = (before + after) // 2
        if _local(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return after * NS_PER_SECOND


def _seconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _SECOND


def _local(seconds: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(seconds=seconds)).astimezone(zone).replace(tzinfo=None)
