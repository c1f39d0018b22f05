"""SessionData: the columnar, zero-copy store of every bar a session publishes.

One :class:`BarSeries` per ``(symbol, interval)``: preallocated numpy columns and a
published length ``n``. The processor is the single writer; strategies read through
:class:`Bars`, read-only views ``column[:n]`` as of the notification they handle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from stratagem._data.bars import VALUE_COLUMNS
from stratagem._data.intervals import canonical_interval, interval_ns
from stratagem._data.resample import window_bounds, window_capacity, window_quality
from stratagem._data.timeline import bar_close, visible_count
from stratagem._data.trading_days import TradingCalendar
from stratagem._records import Bar


class Bars:
    """Read-only, zero-copy view of one series as of one notification.

    Columns are numpy arrays (``ts`` int64 ns open times; ``open``, ``high``, ``low``,
    ``close``, ``volume`` float64; ``quality`` float64 for derived intervals, 100.0
    for source bars). Index ``[-1]`` is the newest bar the strategy may see.
    """

    __slots__ = ("_series", "_n")

    def __init__(self, series: BarSeries, n: int) -> None:
        self._series = series
        self._n = n

    def __len__(self) -> int:
        return self._n

    @property
    def symbol(self) -> str:
        return self._series.symbol

    @property
    def interval(self) -> str:
        return self._series.interval

    @property
    def ts(self) -> np.ndarray:
        return self._series._ro["ts"][: self._n]

    @property
    def open(self) -> np.ndarray:
        return self._series._ro["open"][: self._n]

    @property
    def high(self) -> np.ndarray:
        return self._series._ro["high"][: self._n]

    @property
    def low(self) -> np.ndarray:
        return self._series._ro["low"][: self._n]

    @property
    def close(self) -> np.ndarray:
        return self._series._ro["close"][: self._n]

    @property
    def volume(self) -> np.ndarray:
        return self._series._ro["volume"][: self._n]

    @property
    def quality(self) -> np.ndarray:
        return self._series._ro["quality"][: self._n]

    @property
    def newest_ts(self) -> int:
        """Open time of the newest visible bar (the view must not be empty)."""
        return int(self._series._cols["ts"][self._n - 1])

    def __repr__(self) -> str:
        return f"Bars({self.symbol!r}, {self.interval!r}, n={self._n})"


class BarSeries:
    """Preallocated columns of one ``(symbol, interval)`` and its published length.

    Rows ``[0, n)`` are published and never change; rows past ``n`` may already hold
    bars that are written but not yet visible (bulk replay writes a whole file ahead of
    the clock). Growing the capacity reallocates; views handed out earlier keep the old
    buffers, which still hold exactly what they showed.

    The first write of exactly ``capacity`` bars (a replay writes each series once)
    keeps the caller's arrays instead of copying them, when each is a whole buffer
    of the right type: the loaded file is then held once, not twice. Those arrays are
    never written to afterwards (the next write reallocates), so the caller must not
    change them either.
    """

    __slots__ = (
        "symbol",
        "interval",
        "width_ns",
        "derived",
        "timed",
        "n",
        "written",
        "_cols",
        "_ro",
    )

    def __init__(
        self,
        symbol: str,
        interval: str,
        capacity: int,
        *,
        derived: bool,
        timed: bool = False,
    ) -> None:
        self.symbol = symbol
        self.interval = canonical_interval(interval)
        self.width_ns = interval_ns(self.interval)
        self.derived = derived
        #: each bar carries the session time it becomes visible at (windows cut at a
        #: trading day's end, filled windows); otherwise it is ``ts + width``
        self.timed = timed
        self.n = 0
        self.written = 0
        self._allocate(max(int(capacity), 1))

    def _allocate(self, capacity: int) -> None:
        cols = {"ts": np.empty(capacity, dtype=np.int64)}
        for name in VALUE_COLUMNS:
            cols[name] = np.empty(capacity, dtype=np.float64)
        if self.derived:
            cols["quality"] = np.empty(capacity, dtype=np.float64)
        if self.timed:
            cols["visible_from"] = np.empty(capacity, dtype=np.int64)
        old = getattr(self, "_cols", None)
        if old is not None:
            for name, col in old.items():
                cols[name][: self.written] = col[: self.written]
        self._install(cols)

    def _install(self, cols: dict[str, np.ndarray]) -> None:
        """Make ``cols`` the series' columns, with their read-only views."""
        capacity = len(cols["ts"])
        readonly = {}
        for name, col in cols.items():
            view = col.view()
            view.flags.writeable = False
            readonly[name] = view
        if not self.derived:
            # source bars are complete by definition; one shared constant column keeps
            # the per-bar memory of 1m data at 48 bytes
            readonly["quality"] = np.broadcast_to(np.float64(100.0), (capacity,))
        # readers on other threads (live growth) see the old dicts or the new ones,
        # each complete: both are built before either is swapped in
        self._ro = readonly
        self._cols = cols

    @property
    def capacity(self) -> int:
        return len(self._cols["ts"])

    @property
    def nbytes(self) -> int:
        return sum(col.nbytes for col in self._cols.values())

    def write(
        self,
        ts: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        quality: np.ndarray | None = None,
        visible_from: np.ndarray | None = None,
    ) -> None:
        """Append bars after the written rows (not yet published).

        :param visible_from: for a ``timed`` series, the session time each bar
            becomes visible at.
        """
        k = len(ts)
        if k == 0:
            return
        if self.written == 0 and k == self.capacity:
            given = {"ts": ts, "open": open, "high": high, "low": low, "close": close}
            given["volume"] = volume
            if self.derived:
                given["quality"] = quality
            if self.timed:
                given["visible_from"] = visible_from
            if all(_whole_buffer(given[name], col) for name, col in self._cols.items()):
                self._install(given)
                self.written = k
                return
        if self.written and int(ts[0]) <= int(self._cols["ts"][self.written - 1]):
            raise ValueError(
                f"{self.symbol} {self.interval}: bar at {int(ts[0])} is not after the "
                f"last written bar"
            )
        need = self.written + k
        if need > self.capacity:
            self._allocate(max(need, 2 * self.capacity))
        end = self.written + k
        cols = self._cols
        cols["ts"][self.written : end] = ts
        cols["open"][self.written : end] = open
        cols["high"][self.written : end] = high
        cols["low"][self.written : end] = low
        cols["close"][self.written : end] = close
        cols["volume"][self.written : end] = volume
        if self.derived:
            if quality is None:
                raise ValueError(
                    f"{self.symbol} {self.interval}: derived bars need quality"
                )
            cols["quality"][self.written : end] = quality
        if self.timed:
            if visible_from is None:
                raise ValueError(
                    f"{self.symbol} {self.interval}: timed bars need visible_from"
                )
            cols["visible_from"][self.written : end] = visible_from
        self.written = end

    def publish(self, n: int) -> None:
        """Make rows ``[0, n)`` visible; ``n`` never decreases."""
        if n < self.n or n > self.written:
            raise ValueError(
                f"{self.symbol} {self.interval}: cannot publish {n} bars "
                f"(published {self.n}, written {self.written})"
            )
        self.n = n

    def view(self, n: int | None = None) -> Bars:
        """Read-only view of the first ``n`` published bars (default: all published)."""
        return Bars(self, self.n if n is None else n)

    def visible_at(self, t_ns: int) -> int:
        """How many published bars are visible at session time ``t_ns``."""
        if self.timed:
            return int(
                np.searchsorted(self._cols["visible_from"][: self.n], t_ns, "right")
            )
        return visible_count(self._cols["ts"][: self.n], self.width_ns, t_ns)

    def visible_from(self, first: int) -> np.ndarray:
        """When each written bar from row ``first`` on becomes visible (ns)."""
        if self.timed:
            return self._cols["visible_from"][first : self.written]
        return bar_close(self._cols["ts"][first : self.written], self.width_ns)

    def column(self, name: str) -> np.ndarray:
        """Read-only view of the written rows of column ``name`` (for outputs)."""
        return self._ro[name][: self.written]


def _whole_buffer(given: np.ndarray | None, like: np.ndarray) -> bool:
    """Whether ``given`` can be kept as a column shaped like ``like``: a contiguous
    1-D array of its type and length that spans all of the memory it lives in (a
    view of a larger array would keep the rest of it alive)."""
    if (
        not isinstance(given, np.ndarray)
        or given.dtype != like.dtype
        or given.shape != like.shape
        or not given.flags.c_contiguous
    ):
        return False
    root = given
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root.nbytes == given.nbytes


class SessionData:
    """All series of a session, keyed by ``(symbol, interval)``."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], BarSeries] = {}
        #: the base stream every derived series is built from
        self.base_interval = "1m"
        #: the trading-day rule of each symbol's derived windows (None: UTC windows)
        self.calendar_of: Callable[[str], TradingCalendar | None] = lambda _: None

    def developing(self, symbol: str, interval: str, t_ns: int) -> Bar | None:
        """The bar of ``(symbol, interval)``'s window still open at session time
        ``t_ns``, from the base bars visible then; None when no window is open (the
        newest base bar's window has closed, or there is none).

        Reads the base series in place: nothing is copied per strategy.
        """
        base = self.series(symbol, self.base_interval)
        derived = self.series(symbol, interval)
        count = base.visible_at(t_ns)
        if count == 0 or not derived.derived:
            return None
        ts = base._cols["ts"]
        calendar = self.calendar_of(symbol)
        start, end = window_bounds(int(ts[count - 1]), derived.width_ns, calendar)
        if end <= t_ns:
            return None
        first = int(np.searchsorted(ts[:count], start, side="left"))
        cols = base._cols
        volume = 0.0
        for value in cols["volume"][first:count].tolist():
            volume += value  # left to right, as the closed bar sums it
        present = count - first
        return Bar(
            ts=int(start),
            open=float(cols["open"][first]),
            high=float(cols["high"][first:count].max()),
            low=float(cols["low"][first:count].min()),
            close=float(cols["close"][count - 1]),
            volume=volume,
            quality=float(
                window_quality(present, window_capacity(start, end, base.width_ns))
            ),
        )

    def add_series(
        self,
        symbol: str,
        interval: str,
        capacity: int,
        *,
        derived: bool,
        timed: bool = False,
    ) -> BarSeries:
        key = (symbol, canonical_interval(interval))
        if key in self._series:
            raise ValueError(f"series {symbol} {interval} exists already")
        series = BarSeries(symbol, interval, capacity, derived=derived, timed=timed)
        self._series[key] = series
        return series

    def series(self, symbol: str, interval: str) -> BarSeries:
        found = self._series.get((symbol, interval))
        if found is None:
            try:
                found = self._series.get((symbol, canonical_interval(interval)))
            except ValueError:  # not an interval name at all: reported below
                found = None
        if found is None:
            known = sorted({s for s, _ in self._series})
            raise KeyError(
                f"no bars for {symbol} {interval} in this session "
                f"(symbols: {', '.join(known) or 'none'}; "
                f"intervals: {', '.join(self.intervals) or 'none'})"
            )
        return found

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._series

    def __iter__(self) -> Iterator[BarSeries]:
        return iter(self._series.values())

    @property
    def symbols(self) -> list[str]:
        return sorted({symbol for symbol, _ in self._series})

    @property
    def intervals(self) -> list[str]:
        return sorted({iv for _, iv in self._series}, key=interval_ns)

    @property
    def nbytes(self) -> int:
        return sum(series.nbytes for series in self._series.values())
