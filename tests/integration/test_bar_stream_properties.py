"""Random valid and invalid bar streams, through files and through the socket
(DESIGN sections 4 and 11), as a Hypothesis property: no strategy ever sees an
invalid bar, the 1m bars it sees are exactly the valid bars of its files, and its
5m bars equal a reference resampling of them, each bar delivered exactly once.

The expected bars come from code in this file only: a small validator that applies
DESIGN 4's rules as ``drop`` documents them (a time must be after the latest time of
every earlier row, so the first of duplicated bars is kept) and a plain-Python
resampler (epoch-aligned, left-closed, left-labelled windows).
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import stratagem
from stratagem import Strategy, StrategyConfig
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.build import SessionSpec, build_session
from stratagem.testing import MemorySource, load_bars, run_strategy

NS_PER_MINUTE = 60 * 10**9
WIDTH = 5  # the derived interval, in minutes
#: 2024-01-01T00:00:00Z: every generated stream starts within minutes of it
BASE_NS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 10**9
SYMBOLS = ("AAA_BTC", "BBB_BTC", "CCC_BTC")
MAX_BARS = 150
#: no session of this file may take longer than this (a hang fails, not blocks)
WATCHDOG_SECONDS = 60.0

FILE_EXAMPLES = 100
SOCKET_EXAMPLES = 20


# --- what is generated -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of a bar file, in file order; any field may be corrupted."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def values(self) -> tuple[float, float, float, float, float]:
        return (self.open, self.high, self.low, self.close, self.volume)


#: bars as a strategy sees them: (ts, open, high, low, close, volume[, quality])
Seen = tuple[float, ...]

prices = st.one_of(
    # a few round prices, so that ties (open == high, low == high) come up
    st.sampled_from([0.5, 1.0, 2.0, 100.0]),
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
volumes = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False),
)
#: minutes missing before a bar (0, the next minute, most often: full windows too)
gaps = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, 10))


@st.composite
def valid_rows(draw: st.DrawFn) -> list[Row]:
    """1m bars of one symbol: open times on minutes, increasing, with gaps."""
    t = BASE_NS + draw(st.integers(min_value=0, max_value=9)) * NS_PER_MINUTE
    # the size drawn first: lists drawn without one stay a few bars long
    size = draw(st.integers(min_value=1, max_value=MAX_BARS))
    shapes = draw(
        st.lists(
            st.tuples(gaps, st.lists(prices, min_size=4, max_size=4), st.booleans()),
            min_size=size,
            max_size=size,
        )
    )
    rows = []
    for k, (gap, four, up) in enumerate(shapes):
        if k:
            t += (1 + gap) * NS_PER_MINUTE
        low, a, b, high = sorted(four)
        first, last = (a, b) if up else (b, a)
        rows.append(Row(t, first, high, low, last, draw(volumes)))
    return rows


KINDS = (
    "high_below_low",
    "outside_range",
    "negative_volume",
    "non_positive_price",
    "non_finite",
    "duplicate_timestamp",
    "out_of_order",
    "misaligned_timestamp",
)
PRICE_NAMES = ("open", "high", "low", "close")
VALUE_NAMES = (*PRICE_NAMES, "volume")


@dataclass(frozen=True)
class Corruption:
    kind: str
    at: int  # a row index, taken modulo the rows there are then
    pick: int  # which variant / column / earlier row
    amount: float  # a size, for the variants that need one


corruptions = st.builds(
    Corruption,
    kind=st.sampled_from(KINDS),
    at=st.integers(min_value=0, max_value=10**6),
    pick=st.integers(min_value=0, max_value=10**6),
    amount=st.floats(min_value=1e-9, max_value=1e9),
)


def corrupt(rows: list[Row], c: Corruption) -> None:
    """Apply one corruption to ``rows`` in place (some insert a row)."""
    i = c.at % len(rows)
    row = rows[i]
    if c.kind == "high_below_low":
        rows[i] = replace(row, high=row.low / 2)
    elif c.kind == "outside_range":
        name = ("open", "close")[c.pick % 2]
        value = row.high * 2 if c.pick // 2 % 2 else row.low / 2
        rows[i] = replace(row, **{name: value})
    elif c.kind == "negative_volume":
        rows[i] = replace(row, volume=-c.amount)
    elif c.kind == "non_positive_price":
        name = PRICE_NAMES[c.pick % 4]
        value = (0.0, -0.0, -c.amount)[c.pick // 4 % 3]
        rows[i] = replace(row, **{name: value})
    elif c.kind == "non_finite":
        name = VALUE_NAMES[c.pick % 5]
        value = (math.nan, math.inf, -math.inf)[c.pick // 5 % 3]
        rows[i] = replace(row, **{name: value})
    elif c.kind == "duplicate_timestamp":
        # a copy of row i after it, with the open time of row i or of an earlier row
        earlier = rows[c.pick % (i + 1)]
        rows.insert(i + 1, replace(row, ts=earlier.ts))
    elif c.kind == "out_of_order":
        if c.pick % 2 and i + 1 < len(rows):
            rows[i], rows[i + 1] = rows[i + 1], rows[i]  # two rows swapped
        else:  # a row back-dated to before row i, on the minute grid
            back = (1 + c.pick // 2 % 20) * NS_PER_MINUTE
            rows.insert(i + 1, replace(row, ts=row.ts - back))
    elif c.kind == "misaligned_timestamp":
        # 1 ms to 59.999 s past the minute: still between its neighbours
        rows[i] = replace(row, ts=row.ts + (1 + c.pick % 59_999) * 10**6)
    else:  # pragma: no cover - KINDS lists every kind
        raise AssertionError(c.kind)


@dataclass(frozen=True)
class Streams:
    """Per symbol, the rows of its file (valid and corrupted, in file order)."""

    files: dict[str, list[Row]]

    def describe(self) -> str:
        """The files as written, for the report of a failing example."""
        return "\n".join(
            f"1m/{symbol}.csv:\n" + "\n".join(f"  {csv_line(r)}" for r in rows)
            for symbol, rows in self.files.items()
        )


@st.composite
def bar_streams(draw: st.DrawFn) -> Streams:
    count = draw(st.integers(min_value=1, max_value=len(SYMBOLS)))
    files = {}
    for symbol in SYMBOLS[:count]:
        rows = draw(valid_rows())
        damaged = draw(st.integers(min_value=0, max_value=max(1, len(rows) // 4)))
        for c in draw(st.lists(corruptions, min_size=damaged, max_size=damaged)):
            corrupt(rows, c)
            event(c.kind)
        files[symbol] = rows
    return Streams(files)


# --- files -------------------------------------------------------------------------


def iso(ts: int) -> str:
    """ISO-8601 with Z, as the bar files write times (fractions when there are)."""
    seconds, rest = divmod(ts, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if rest:
        text += f".{rest:09d}".rstrip("0")
    return text + "Z"


def csv_line(row: Row) -> str:
    # repr: the shortest text that reads back as the same float (nan, inf too)
    return ",".join([iso(row.ts), *(repr(v) for v in row.values())])


def write_files(root: Path, streams: Streams) -> dict[str, Path]:
    folder = root / "1m"
    folder.mkdir(parents=True)
    paths = {}
    for symbol, rows in streams.files.items():
        path = folder / f"{symbol}.csv"
        lines = ["timestamp,open,high,low,close,volume", *map(csv_line, rows)]
        path.write_text("\n".join(lines) + "\n")
        paths[symbol] = path
    return paths


# --- the reference: validation and resampling, written here ------------------------


def problems(ts: int, o: float, h: float, low: float, c: float, v: float) -> list[str]:
    """The rules of DESIGN 4 that one bar breaks on its own (not order rules)."""
    found = []
    if not all(math.isfinite(x) for x in (o, h, low, c, v)):
        found.append("non_finite")
    if any(x <= 0 for x in (o, h, low, c)):
        found.append("non_positive_price")
    if v < 0:
        found.append("negative_volume")
    if h < low:
        found.append("high_below_low")
    if not (low <= o <= h and low <= c <= h):
        found.append("outside_range")
    if ts % NS_PER_MINUTE:
        found.append("misaligned_timestamp")
    return found


def expected_valid(rows: Sequence[Row]) -> list[Seen]:
    """The rows that ``drop`` keeps, in order: valid on their own, and opening after
    the latest open time of every earlier row (valid or not), so that of duplicated
    times the first row is kept and the kept times strictly increase."""
    kept: list[Seen] = []
    latest: int | None = None
    for row in rows:
        in_order = latest is None or row.ts > latest
        if in_order and not problems(row.ts, *row.values()):
            kept.append((row.ts, *row.values()))
        latest = row.ts if latest is None else max(latest, row.ts)
    return kept


def reference_resample(bars: Sequence[Seen], minutes: int) -> list[Seen]:
    """Windows [floor(ts / W) * W, + W): open first, high max, low min, close last,
    volume summed left to right, quality 100 * bars / (W / 1m); no empty window."""
    width = minutes * NS_PER_MINUTE
    out: list[Seen] = []
    window: list[Seen] = []

    def emit() -> None:
        start = window[0][0] // width * width
        volume = window[0][5]
        for bar in window[1:]:
            volume += bar[5]
        out.append(
            (
                start,
                window[0][1],
                max(bar[2] for bar in window),
                min(bar[3] for bar in window),
                window[-1][4],
                volume,
                100.0 * len(window) / minutes,
            )
        )

    for bar in bars:
        if window and bar[0] // width != window[0][0] // width:
            emit()
            window = []
        window.append(bar)
    if window:
        emit()
    return out


# --- the strategy that records what it is shown ----------------------------------


class Recorder(Strategy):
    """Subscribes to every symbol at 1m and 5m; records each bar it is notified of
    (the newest ``ctx.new_bars`` bars of the notified series)."""

    #: (symbol, interval, bar, session time of the notification)
    SEEN: list[tuple[str, str, Seen, int]] = []
    LOCK = threading.Lock()

    def on_start(self, ctx: stratagem.StrategyContext) -> None:
        for symbol in ctx.symbols:
            ctx.subscribe(symbol, "1m")
            ctx.subscribe(symbol, f"{WIDTH}m")

    def on_bars(
        self, ctx: stratagem.StrategyContext, symbol: str, interval: str
    ) -> None:
        bars = ctx.bars(symbol, interval)
        n = len(bars)
        derived = interval != "1m"
        seen = []
        for k in range(n - ctx.new_bars, n):
            bar: Seen = (
                int(bars.ts[k]),
                float(bars.open[k]),
                float(bars.high[k]),
                float(bars.low[k]),
                float(bars.close[k]),
                float(bars.volume[k]),
            )
            if derived:
                bar += (float(bars.quality[k]),)
            seen.append((symbol, interval, bar, ctx.time_ns))
        with Recorder.LOCK:
            Recorder.SEEN.extend(seen)


def reset_recorder() -> None:
    with Recorder.LOCK:
        Recorder.SEEN = []


def recorded(symbol: str, interval: str) -> list[Seen]:
    with Recorder.LOCK:
        return [b for s, i, b, _ in Recorder.SEEN if (s, i) == (symbol, interval)]


# --- the properties ----------------------------------------------------------------


def assert_valid_series(bars: Sequence[Seen], minutes: int, what: str) -> None:
    """Every bar passes every rule; open times on the grid, strictly increasing."""
    for bar in bars:
        assert not problems(*bar[:6]), f"{what}: invalid bar delivered: {bar}"
        assert bar[0] % (minutes * NS_PER_MINUTE) == 0, f"{what}: misaligned {bar}"
    times = [bar[0] for bar in bars]
    assert all(a < b for a, b in zip(times, times[1:], strict=False)), (
        f"{what}: open times not strictly increasing: {[iso(t) for t in times]}"
    )


def assert_no_look_ahead(streams: Streams, how: str) -> None:
    """A bar is seen once its window has closed (session time >= its end), except
    the last window of a series, which the end of the session closes early; and
    never before the close of the newest 1m bar it holds."""
    with Recorder.LOCK:
        seen = list(Recorder.SEEN)
    if not seen:
        return
    end = max(t for *_, t in seen)
    for symbol, rows in streams.files.items():
        last_minute: dict[int, int] = {}
        for bar in expected_valid(rows):
            last_minute[bar[0] // (WIDTH * NS_PER_MINUTE)] = bar[0]
        for interval, minutes in (("1m", 1), (f"{WIDTH}m", WIDTH)):
            series = [(b, t) for s, i, b, t in seen if (s, i) == (symbol, interval)]
            for k, (bar, t) in enumerate(series):
                if minutes > 1:
                    newest = last_minute.get(bar[0] // (minutes * NS_PER_MINUTE))
                    assert newest is not None and newest + NS_PER_MINUTE <= t, (
                        f"{how} {symbol} {interval} bar {iso(bar[0])} seen at "
                        f"{iso(t)}, before the close of its newest 1m bar"
                    )
                if bar[0] + minutes * NS_PER_MINUTE > t:
                    final = minutes > 1 and k == len(series) - 1 and t == end
                    assert final, (
                        f"{how} {symbol} {interval} bar {iso(bar[0])} seen at "
                        f"{iso(t)}, before its window closed"
                    )


def assert_strategy_saw(streams: Streams, how: str) -> None:
    """The recorded bars are exactly the expected ones, each once, in order."""
    with Recorder.LOCK:
        unknown = {(s, i) for s, i, _, _ in Recorder.SEEN} - {
            (s, i) for s in streams.files for i in ("1m", f"{WIDTH}m")
        }
    assert not unknown, f"{how}: bars of series never subscribed: {unknown}"
    assert_no_look_ahead(streams, how)
    for symbol, rows in streams.files.items():
        minute = recorded(symbol, "1m")
        derived = recorded(symbol, f"{WIDTH}m")
        assert_valid_series(minute, 1, f"{how} {symbol} 1m")
        assert_valid_series(derived, WIDTH, f"{how} {symbol} {WIDTH}m")
        want = expected_valid(rows)
        # equal lists: nothing missing, nothing extra, nothing twice
        assert minute == want, f"{how} {symbol} 1m"
        assert derived == reference_resample(want, WIDTH), f"{how} {symbol} {WIDTH}m"


def expected_counts(streams: Streams) -> list[int]:
    """Valid bars per file; notes the edge cases for the statistics."""
    counts = [len(expected_valid(rows)) for rows in streams.files.values()]
    if not any(counts):
        event("no valid bar in any file")
    elif not all(counts):
        event("a file without a valid bar")
    return counts


@settings(
    max_examples=FILE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams=bar_streams())
def test_through_files_a_strategy_sees_only_valid_bars_and_reference_5m_bars(
    streams: Streams,
) -> None:
    note(streams.describe())
    counts = expected_counts(streams)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_files(root, streams)
        # the kit's loader applies the session's validation rules
        loaded = {s: load_bars(p, validation="drop") for s, p in paths.items()}
        for symbol, bars in loaded.items():
            got = list(
                zip(
                    bars.ts.tolist(),
                    bars.open.tolist(),
                    bars.high.tolist(),
                    bars.low.tolist(),
                    bars.close.tolist(),
                    bars.volume.tolist(),
                    strict=True,
                )
            )
            assert got == expected_valid(streams.files[symbol]), f"load_bars {symbol}"
        sources = {
            # the kit's way: bars loaded by load_bars, held in memory
            "files via load_bars": MemorySource(
                {(symbol, "1m"): bars for symbol, bars in loaded.items()}
            ),
            # the session reads and validates the files itself, as a config's
            # data.path with "validation": "drop" makes it
            "files via the session": stratagem.open_bar_files(root, "drop"),
        }
        for how, source in sources.items():
            reset_recorder()
            if not any(counts):
                # no valid bar in any file: nothing to run on, and the run says so
                with pytest.raises(ValueError, match="no 1m bars"):
                    run_strategy(
                        Recorder,
                        {},
                        loaded,
                        derived_intervals=(WIDTH,),
                        source=source,
                    )
                continue
            result = run_strategy(
                Recorder, {}, loaded, derived_intervals=(WIDTH,), source=source
            )
            assert result.result.status == stratagem.RunStatus.OK, how
            assert not result.failures, how
            assert_strategy_saw(streams, how)


@settings(
    max_examples=SOCKET_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams=bar_streams())
def test_through_the_socket_a_strategy_sees_only_valid_bars_and_reference_5m_bars(
    streams: Streams,
) -> None:
    from stratagem_feed_websocket import FeedServer, websocket_source

    note(streams.describe())
    counts = expected_counts(streams)
    symbols = list(streams.files)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_files(root, streams)  # invalid rows and all: the server drops them
        with FeedServer(
            root, symbols=symbols, speed=0, host="127.0.0.1", port=0, validation="drop"
        ) as server:
            assert server.bar_count == sum(counts)
            source = websocket_source(
                None,
                {
                    "url": server.url,
                    "validation": "drop",
                    "symbol_map": {},
                    "interval": "1m",
                },
            )
            spec = SessionSpec(
                symbols=symbols,
                strategies=[
                    StrategyInstance(
                        "recorder", Recorder, StrategyConfig(), backpressure="block"
                    )
                ],
                source=source,
                derived_minutes=(WIDTH,),
                # before the first bar: every streamed bar is delivered, none is
                # warm-up history
                start_ns=BASE_NS - 60 * NS_PER_MINUTE,
                validation="drop",
            )
            assert spec.live
            reset_recorder()
            session = build_session(spec)
            watchdog = threading.Timer(
                WATCHDOG_SECONDS, session.request_stop, ("watchdog",)
            )
            watchdog.start()
            try:
                outcome = session.run()
            finally:
                watchdog.cancel()
    assert outcome.error is None, outcome.error
    assert outcome.status == stratagem.RunStatus.OK, outcome.result.reason
    assert not outcome.failures
    assert outcome.metrics["strategies"]["recorder"]["dropped"] == 0
    stats = source.feed_stats()
    # every valid bar came over the socket once, then the end message
    assert stats["messages"] == sum(counts) + 1, stats
    assert stats["reconnects"] == stats["duplicates_dropped"] == 0, stats
    assert stats["invalid_dropped"] == 0, stats
    assert_strategy_saw(streams, "socket")
