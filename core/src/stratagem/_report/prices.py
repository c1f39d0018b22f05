"""The prices a run ran on, for the report's price figures.

Two origins, in this order, and the page says which one it used:

- ``bars/`` (a run made with ``--save-bars``): every bar the session published, as it
  wrote them;
- else the base-interval data files the manifest lists, each checked against the
  sha256 the run recorded, validated with the run's policy, cut to the session's
  range; the derived intervals the signals name are rebuilt from them with the
  session's own window rule (:func:`stratagem._data.resample.resample`, with the
  calendars and empty-window policy the manifest records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import (
    IntervalError,
    canonical_interval,
    interval_minutes,
    interval_ns,
)
from stratagem._data.resample import resample
from stratagem._data.sources import (
    CsvBarSource,
    DataSourceError,
    FileBarSource,
    ParquetBarSource,
)
from stratagem._data.timefmt import parse_ts
from stratagem._data.trading_days import TradingCalendar
from stratagem._data.validation import BarValidationError, validate_bars
from stratagem._report.run_folder import RunFolder

_SOURCES: tuple[type[FileBarSource], ...] = (CsvBarSource, ParquetBarSource)


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Closing prices of one symbol at one interval.

    :param ts: bar open times, int64 ns (UTC), ascending.
    :param close: the closes.
    """

    ts: np.ndarray
    close: np.ndarray

    def close_at(self, ts: np.ndarray) -> np.ndarray:
        """The close of the bar opening at each of ``ts`` (of the latest bar opening
        before it when none opens then; NaN before the first bar).

        :param ts: open times, int64 ns.
        """
        index = np.searchsorted(self.ts, ts, side="right") - 1
        found = index >= 0
        values = np.full(len(ts), np.nan)
        values[found] = self.close[index[found]]
        return values


@dataclass(slots=True)
class Prices:
    """The prices found for a run, by ``(symbol, interval)``.

    :param origin: what was used, in a sentence for the page.
    :param series: the series found.
    :param notes: files that were missing, changed or refused.
    """

    origin: str
    series: dict[tuple[str, str], PriceSeries] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def intervals(self) -> list[str]:
        """Every interval with a series, narrowest first."""
        return sorted({i for _, i in self.series}, key=interval_minutes)


def load_prices(run: RunFolder) -> Prices:
    """The prices of ``run``: from ``bars/`` when saved, else from its data files.

    :param run: the run folder.
    """
    if run.saved_bars is not None:
        return _saved_bars(run.saved_bars)
    return _data_files(run)


def _saved_bars(folder: Path) -> Prices:
    prices = Prices(
        origin=f"the bars the session published, saved in {folder} (--save-bars)"
    )
    for interval_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            interval = canonical_interval(interval_folder.name)
        except IntervalError:
            prices.notes.append(f"{interval_folder}: not an interval folder, skipped")
            continue
        for path in sorted(interval_folder.iterdir()):
            symbol = _symbol_of(path)
            if symbol is None:
                continue
            try:
                bars, _ = _source_for(path).read(path)
            except DataSourceError as exc:
                prices.notes.append(f"{path}: not read ({exc})")
                continue
            prices.series[(symbol, interval)] = PriceSeries(bars.ts, bars.close)
    return prices


def _data_files(run: RunFolder) -> Prices:
    manifest = run.manifest
    data = manifest.get("data") or {}
    entries = [e for e in data.get("files") or [] if isinstance(e, dict)]
    if not entries:
        return Prices(
            origin="none: the run folder has no bars/ (run with --save-bars to keep "
            "them) and its manifest lists no data files"
        )
    bars_info = manifest.get("bars") or {}
    base = _base_interval(bars_info, entries)
    session = manifest.get("session") or {}
    start = _time_or_none(session.get("start"))
    end = _time_or_none(session.get("end"))
    prices = Prices(origin="")
    matched = 0
    used: list[Path] = []
    base_bars: dict[str, BarArrays] = {}
    for entry in entries:
        path = Path(str(entry.get("path")))
        symbol = _symbol_of(path)
        if symbol is None or _interval_of(path) != base:
            continue
        read = _read_data_file(path, entry, data.get("validation"), prices.notes)
        if read is None:
            continue
        bars, unchanged = read
        used.append(path)
        matched += unchanged
        base_bars[symbol] = bars.between(start, end)
    derived = _derived_intervals(run, base)
    calendars = bars_info.get("calendars") or {}
    empty = bars_info.get("empty", "skip")
    for symbol, bars in base_bars.items():
        prices.series[(symbol, base)] = PriceSeries(bars.ts, bars.close)
        for interval in derived:
            resampled = resample(
                bars,
                interval_minutes(interval),
                source_minutes=interval_minutes(base),
                calendar=_calendar_of(symbol, calendars),
                empty=empty,
            )
            prices.series[(symbol, interval)] = PriceSeries(
                resampled.ts, resampled.close
            )
    prices.origin = _data_files_origin(data, used, matched, base, derived, start, end)
    return prices


def _data_files_origin(
    data: Mapping[str, Any],
    used: list[Path],
    matched: int,
    base: str,
    derived: list[str],
    start: int | None,
    end: int | None,
) -> str:
    where = data.get("root") or (str(used[0].parent.parent) if used else "?")
    text = (
        f"the {base} data files the manifest lists ({len(used)} under {where}; "
        f"{matched} of {len(used)} with the sha256 the run recorded)"
    )
    if start is not None or end is not None:
        text += ", cut to the session's range"
    if derived:
        text += (
            f"; {', '.join(derived)} rebuilt from them by the session's window rule "
            "(calendars and empty-window policy from the manifest)"
        )
    return text


def _read_data_file(
    path: Path, entry: Mapping[str, Any], policy: Any, notes: list[str]
) -> tuple[BarArrays, bool] | None:
    """The valid bars of one listed file and whether its sha256 is the recorded one;
    None (and a note) when it is missing or refused."""
    if not path.is_file():
        notes.append(f"{path}: listed in the manifest but missing now; not shown")
        return None
    digest = _file_sha256(path)
    unchanged = digest == entry.get("sha256")
    if not unchanged:
        notes.append(
            f"{path}: changed since the run (sha256 {digest[:12]}... is not the "
            f"{str(entry.get('sha256'))[:12]}... the run recorded); shown as it is now"
        )
    try:
        bars, rows = _source_for(path).read(path)
        valid, _ = validate_bars(
            bars,
            file=str(path),
            interval_ns=interval_ns(_interval_of(path) or "1m"),
            policy="drop" if policy == "drop" else "reject",
            rows=rows,
        )
    except (DataSourceError, BarValidationError) as exc:
        notes.append(f"{path}: not read ({str(exc).splitlines()[0]}); not shown")
        return None
    return valid, unchanged


def _derived_intervals(run: RunFolder, base: str) -> list[str]:
    """The intervals the run's signals name, wider than ``base`` and made of it."""
    base_minutes = interval_minutes(base)
    found = set()
    for name in set(run.signals["interval"].tolist()) if len(run.signals) else ():
        try:
            minutes = interval_minutes(name)
        except IntervalError:
            continue
        if minutes > base_minutes and minutes % base_minutes == 0:
            found.add(canonical_interval(name))
    return sorted(found, key=interval_minutes)


def _base_interval(bars_info: Mapping[str, Any], entries: Iterable[Any]) -> str:
    base = bars_info.get("base")
    if isinstance(base, str):
        return canonical_interval(base)
    # a manifest from before "bars" was recorded: the narrowest listed interval
    listed = {_interval_of(Path(str(e.get("path")))) for e in entries}
    known = [i for i in listed if i is not None]
    return min(known, key=interval_minutes) if known else "1m"


def _calendar_of(
    symbol: str, calendars: Mapping[str, Mapping[str, str]]
) -> TradingCalendar | None:
    # the session's lookup: the symbol's own calendar, else the "*" one
    spec = calendars.get(symbol, calendars.get("*"))
    if not spec:
        return None
    return TradingCalendar(spec["timezone"], spec["day_start"])


def _source_for(path: Path) -> FileBarSource:
    for source in _SOURCES:
        if path.name.endswith(source.suffixes):
            return source(path.parent.parent)
    raise DataSourceError(f"{path}: not a bar file (.csv, .csv.gz or .parquet)")


def _symbol_of(path: Path) -> str | None:
    for source in _SOURCES:
        for suffix in source.suffixes:
            if path.name.endswith(suffix) and len(path.name) > len(suffix):
                return path.name[: -len(suffix)]
    return None


def _interval_of(path: Path) -> str | None:
    try:
        return canonical_interval(path.parent.name)
    except IntervalError:
        return None


def _time_or_none(text: Any) -> int | None:
    return parse_ts(text) if isinstance(text, str) and text else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
