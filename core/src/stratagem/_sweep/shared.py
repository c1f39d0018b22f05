"""Market data loaded once per sweep and shared read-only by every task.

The sweep reads and validates each bar file once (:func:`preload`), then shares the
columns without copying them: local worker processes map one file of raw columns
(:func:`write_mapped_bars`, :func:`attach_mapped_bars`; in ``/dev/shm`` where it
exists, so the pages are memory), Ray tasks get numpy views of the object store.
Each task's session reads them through a :class:`PreloadedSource`, the way a test
hands a session in-memory bars.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stratagem._config.loading import _candidate_symbols
from stratagem._data.bars import BAR_COLUMNS, BarArrays
from stratagem._data.intervals import canonical_interval, interval_name
from stratagem._data.sources import DataErrors, DataSourceError
from stratagem._data.validation import BarValidationError

if TYPE_CHECKING:
    from stratagem._config.loading import LoadedSession
    from stratagem._protocols import BarSource
    from stratagem._session.build import SessionSpec

#: ``(symbol, interval)`` with the interval in canonical form (``"5m"``, ``"1h"``)
SeriesKey = tuple[str, str]
SharedBars = Mapping[SeriesKey, BarArrays]

_ALIGN = 64
_ITEM = 8  # every column is int64 or float64


def preload(spec: SessionSpec, loaded: LoadedSession) -> dict[SeriesKey, BarArrays]:
    """Every series a session of this config reads, each file read and validated once.

    The start symbols' base bars, and for the symbols a scanner may add, their base
    bars and the derived-width files the session warms a joining symbol up from.

    :param spec: the session built from the config (its source and widths).
    :param loaded: the validated config (its scanners name candidate symbols).
    :raises DataSourceError: listing every start symbol whose file is missing or
        unreadable.
    :raises BarValidationError: for a file refused under ``reject``.
    """
    source = spec.source
    base = interval_name(spec.base_minutes)
    bars: dict[SeriesKey, BarArrays] = {}
    errors: list[Exception] = []
    for symbol in spec.symbols:
        try:
            bars[(symbol, canonical_interval(base))] = source.load(symbol, base)
        except (DataSourceError, BarValidationError) as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else DataErrors(errors)
    derived = [interval_name(m) for m in sorted(spec.derived_minutes)]
    for symbol in _scanner_candidates(loaded):
        if symbol in spec.symbols or not source.available(symbol, base):
            continue
        for interval in (base, *derived):
            if source.available(symbol, interval):
                bars[(symbol, canonical_interval(interval))] = source.load(
                    symbol, interval
                )
    return bars


def _scanner_candidates(loaded: LoadedSession) -> list[str]:
    found: list[str] = []
    for scanner in loaded.scanners:
        found += [s for s in _candidate_symbols(scanner.config) if s not in found]
    return found


class PreloadedSource:
    """A bar source over bars already in memory, for one task's session.

    :param bars: the preloaded series.
    :param fallback: the config's own source, for a series nobody preloaded (a
        symbol a scanner finds at run time); None where the data folder is not
        on this machine.
    :param data_root: the data folder, for the message when there is no fallback.
    """

    def __init__(
        self,
        bars: SharedBars,
        fallback: BarSource | None = None,
        data_root: str | None = None,
    ) -> None:
        self._bars = bars
        self._fallback = fallback
        self._data_root = data_root

    def available(self, symbol: str, interval: str) -> bool:
        if (symbol, canonical_interval(interval)) in self._bars:
            return True
        return self._fallback is not None and self._fallback.available(symbol, interval)

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays:
        bars = self._bars.get((symbol, canonical_interval(interval)))
        if bars is not None:
            return bars.between(start_ns, end_ns)
        if self._fallback is None:
            raise DataSourceError(
                f"no {interval} bars for {symbol!r} were loaded for the sweep, and "
                f"the data folder {self._data_root} is not on this machine"
            )
        return self._fallback.load(symbol, interval, start_ns=start_ns, end_ns=end_ns)


# --- local processes: one mapped file of raw columns ---------------------------------


@dataclass(frozen=True)
class MappedSeries:
    """Where one series' columns sit in the mapped file.

    :param symbol: the symbol.
    :param interval: the canonical interval.
    :param rows: bars in the series.
    :param derived: whether it has a ``quality`` column.
    :param offset: byte offset of its first column; the columns follow each other
        (``ts`` int64, then float64 ``open`` … ``volume`` [, ``quality``]).
    """

    symbol: str
    interval: str
    rows: int
    derived: bool
    offset: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (*BAR_COLUMNS, "quality") if self.derived else BAR_COLUMNS


@dataclass(frozen=True)
class MappedBars:
    """The layout of a mapped bar file (picklable, handed to each worker).

    :param path: the file.
    :param series: every series in it.
    """

    path: str
    series: tuple[MappedSeries, ...]


def shared_memory_folder() -> str | None:
    """``/dev/shm`` where it is a writable folder (memory, not disk); else None
    (the system's temporary folder)."""
    folder = "/dev/shm"
    return folder if os.path.isdir(folder) and os.access(folder, os.W_OK) else None


def scratch_folder() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for the mapped file, removed when closed."""
    return tempfile.TemporaryDirectory(
        prefix="stratagem-sweep-", dir=shared_memory_folder()
    )


def write_mapped_bars(bars: SharedBars, path: Path) -> MappedBars:
    """Write every series' columns, raw, into one file.

    :param bars: the series to share.
    :param path: the file to write.
    """
    layout: list[MappedSeries] = []
    offset = 0
    with path.open("wb") as stream:
        for (symbol, interval), arrays in bars.items():
            entry = MappedSeries(symbol, interval, len(arrays), arrays.derived, offset)
            for name in entry.columns:
                stream.write(memoryview(getattr(arrays, name)).cast("B"))
            offset += len(arrays) * _ITEM * len(entry.columns)
            padding = -offset % _ALIGN
            stream.write(b"\0" * padding)
            offset += padding
            layout.append(entry)
        if offset == 0:
            stream.write(b"\0" * _ALIGN)  # an empty file cannot be mapped
    return MappedBars(str(path), tuple(layout))


def attach_mapped_bars(layout: MappedBars) -> dict[SeriesKey, BarArrays]:
    """Read-only numpy views of a mapped bar file: no column is copied.

    :param layout: what :func:`write_mapped_bars` returned.
    """
    with open(layout.path, "rb") as stream:
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    bars: dict[SeriesKey, BarArrays] = {}
    for entry in layout.series:
        columns = {}
        for position, name in enumerate(entry.columns):
            columns[name] = np.frombuffer(
                mapped,
                dtype=np.int64 if name == "ts" else np.float64,
                count=entry.rows,
                offset=entry.offset + position * entry.rows * _ITEM,
            )
        bars[(entry.symbol, entry.interval)] = BarArrays(**columns)
    return bars


# --- Ray: plain column dicts, which the object store hands back as numpy views -------


def as_columns(bars: SharedBars) -> dict[SeriesKey, dict[str, np.ndarray]]:
    """The series as ``{key: {column: array}}``, for ``ray.put``.

    :param bars: the series to share.
    """
    return {key: arrays.columns() for key, arrays in bars.items()}


def from_columns(
    columns: Mapping[SeriesKey, Mapping[str, np.ndarray]],
) -> dict[SeriesKey, BarArrays]:
    """The series back from :func:`as_columns` (views, no copy).

    :param columns: ``{key: {column: array}}``.
    """
    return {key: BarArrays(**dict(cols)) for key, cols in columns.items()}


def total_rows(bars: Iterable[BarArrays]) -> int:
    """Bars over every series.

    :param bars: the series.
    """
    return sum(len(arrays) for arrays in bars)
