"""Bar sources: files laid out ``<root>/<interval>/<SYMBOL>.<ext>``.

:class:`CsvBarSource` reads ``.csv`` and ``.csv.gz`` files with the header
``timestamp,open,high,low,close,volume`` (ISO-8601 ``Z`` bar-open times, an optional
trailing ``quality`` column); :class:`ParquetBarSource` reads ``.parquet`` files with
the same columns. Both parse whole columns at once, validate every file with the
source's policy, and remember what they loaded for the run manifest.

A CSV file in the plain layout (the exact header, ``\n`` line ends, plain decimal
numbers, ``YYYY-MM-DDTHH:MM:SSZ`` times) is parsed by numpy; anything else, and every
Parquet file, by pyarrow, which is imported only then (it costs a short run more to
import than to parse its files). Both parsers give the same floats (each correctly
rounded) and the same times; ``tests/unit/data/test_sources.py`` checks they agree
on every real file.
"""

from __future__ import annotations

import difflib
import gzip
import io
import re
import sys
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from stratagem._data.bars import VALUE_COLUMNS, BarArrays
from stratagem._data.intervals import canonical_interval, interval_ns
from stratagem._data.validation import (
    POLICIES,
    BarValidationError,
    Policy,
    ValidationReport,
    validate_bars,
)
from stratagem._records import ValidationPolicy

if TYPE_CHECKING:
    import pyarrow as pa

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", *VALUE_COLUMNS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("quality",)

_EXPECTED_SCHEMA = (
    "timestamp: timestamp[ns, tz=UTC] (any unit), open, high, low, close, volume: "
    "double (any integer or float type), optional quality: double"
)
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_SYMBOL_LISTING_LIMIT = 40


@cache
def _arrow_types() -> dict[str, pa.DataType]:
    """The Arrow type each CSV column is parsed as (imports pyarrow)."""
    import pyarrow as pa

    return {
        "timestamp": pa.timestamp("ns", tz="UTC"),
        **{name: pa.float64() for name in (*VALUE_COLUMNS, *OPTIONAL_COLUMNS)},
    }


class DataSourceError(ValueError):
    """Bars cannot be read from a source: a bar file is missing or unreadable, or a
    live feed sent what is not a bar. The message names the file or the feed; the
    session reports it as bad input (exit code 2), without a traceback."""


class DataErrors(DataSourceError):
    """Several symbols' bars could not be loaded; every one is listed.

    :param errors: per symbol, what went wrong (a :class:`DataSourceError` or a
        :class:`~stratagem._data.validation.BarValidationError`, whose message names
        file, rows and columns, capped per file with a count).
    """

    def __init__(self, errors: Sequence[Exception]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        text = "\n".join(str(error) for error in self.errors)
        super().__init__(
            f"{text}\n{count} data file{'s' if count != 1 else ''} refused"
        )


class FileBarSource(ABC):
    """Bar files of one format under ``root``, one file per ``(symbol, interval)``.

    :param root: folder holding one sub-folder per interval (``1m``, ``5m``, ``1h``).
    :param validation: ``reject`` (a bad bar makes :meth:`load` raise) or ``drop``
        (bad bars are removed, counted and reported).

    :meth:`load` may be called from any thread; :attr:`reports` and
    :attr:`files_used` record every file loaded, for the run manifest.
    """

    #: Name of the file format in messages.
    format_name: ClassVar[str]
    #: File name endings, in order of preference.
    suffixes: ClassVar[tuple[str, ...]]

    def __init__(self, root: Path | str, validation: Policy = "reject") -> None:
        if validation not in POLICIES:
            raise ValueError(
                f"validation policy must be 'reject' or 'drop', got {validation!r}"
            )
        self.root = Path(root)
        self.validation: Policy = validation
        self._lock = threading.Lock()
        self._reports: dict[Path, ValidationReport] = {}
        #: the files read, in order (a dict: a session may read thousands)
        self._files: dict[Path, None] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.root)!r}, validation={self.validation!r})"
        )

    @property
    def reports(self) -> dict[Path, ValidationReport]:
        """Validation report of every file loaded so far, by path."""
        with self._lock:
            return dict(self._reports)

    @property
    def files_used(self) -> list[Path]:
        """Every file loaded so far, in first-load order."""
        with self._lock:
            return list(self._files)

    def path(self, symbol: str, interval: str) -> Path:
        """The file of ``symbol`` at ``interval``: the first existing one among the
        accepted endings, else the path the preferred ending would have.

        :param symbol: e.g. ``"ETH_BTC"``.
        :param interval: e.g. ``"1m"``; ``"60m"`` also finds the ``1h`` folder.
        """
        if (
            not isinstance(symbol, str)
            or not symbol
            or any(sep in symbol for sep in ("/", "\\", "\0"))
            or symbol.startswith(".")
        ):
            raise DataSourceError(f"{symbol!r} is not a valid symbol name")
        folders = self._folders(interval)
        for folder in folders:
            for suffix in self.suffixes:
                candidate = folder / f"{symbol}{suffix}"
                if candidate.is_file():
                    return candidate
        return folders[0] / f"{symbol}{self.suffixes[0]}"

    def available(self, symbol: str, interval: str) -> bool:
        """True when a file for ``symbol`` at ``interval`` exists.

        :param symbol: e.g. ``"ETH_BTC"``.
        :param interval: e.g. ``"1m"``.
        """
        return self.path(symbol, interval).is_file()

    def symbols(self, interval: str) -> list[str]:
        """Sorted symbols that have a file at ``interval``.

        :param interval: e.g. ``"1m"``.
        """
        found: set[str] = set()
        for folder in self._folders(interval):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                for suffix in self.suffixes:
                    if entry.name.endswith(suffix) and entry.is_file():
                        found.add(entry.name[: -len(suffix)])
        return sorted(found)

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays:
        """Read, validate and clip the bars of ``symbol`` at ``interval``.

        The whole file is validated (rows in messages are rows of the file), then
        bars whose open time lies outside ``[start_ns, end_ns)`` are cut.

        :param symbol: e.g. ``"ETH_BTC"``.
        :param interval: e.g. ``"1m"``.
        :param start_ns: first open time kept, ns since the epoch; ``None``: no bound.
        :param end_ns: open times from here on are cut; ``None``: no bound.
        :raises DataSourceError: when the file is missing or unreadable as bars.
        :raises BarValidationError: under ``reject``, when a bar breaks a rule.
        """
        path = self.path(symbol, interval)
        if not path.is_file():
            raise self._missing(symbol, interval, path)
        bars, rows = self.read(path)
        with self._lock:
            self._files.setdefault(path)
        try:
            valid, report = validate_bars(
                bars,
                file=str(path),
                interval_ns=interval_ns(interval),
                policy=self.validation,
                rows=rows,
            )
        except BarValidationError as exc:
            with self._lock:
                self._reports[path] = exc.report
            raise
        with self._lock:
            self._reports[path] = report
        return valid.between(start_ns, end_ns)

    @abstractmethod
    def read(self, path: Path) -> tuple[BarArrays, np.ndarray]:
        """Parse one file, without validation.

        :param path: the file.
        :returns: the bars in file order and the row number of each (as used in
            validation messages).
        :raises DataSourceError: when the file cannot be read as bars.
        """

    def _folders(self, interval: str) -> list[Path]:
        canonical = canonical_interval(interval)
        names = [canonical] if interval == canonical else [canonical, interval]
        return [self.root / name for name in names]

    def _missing(self, symbol: str, interval: str, path: Path) -> DataSourceError:
        if not self.root.is_dir():
            return DataSourceError(f"data folder {self.root} does not exist")
        folder = path.parent
        if not folder.is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            return DataSourceError(
                f"no {interval} bars for {symbol!r}: folder {folder} does not exist "
                f"(interval folders in {self.root}: {', '.join(present) or 'none'})"
            )
        known = self.symbols(interval)
        message = f"no {self.format_name} file for {symbol!r} at {interval}: {path}"
        by_upper = {name.upper(): name for name in known}
        close = difflib.get_close_matches(symbol.upper(), list(by_upper), n=3)
        if close:
            message += (
                "; did you mean " + " or ".join(repr(by_upper[c]) for c in close) + "?"
            )
        listing = ", ".join(known[:_SYMBOL_LISTING_LIMIT]) or "none"
        if len(known) > _SYMBOL_LISTING_LIMIT:
            listing += f", ... ({len(known)} in all)"
        heading = f"{self.format_name} symbols at {interval} in {folder}"
        return DataSourceError(f"{message}\n{heading}: {listing}")


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise DataSourceError(f"{path}: empty file (0 bytes)")


def _line_bounds(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start offset and blank flag of every line of ``raw``, by numpy, not per line."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    length = ends - starts
    has_cr = np.zeros(len(starts), dtype=bool)
    nonempty = length > 0
    has_cr[nonempty] = buf[ends[nonempty] - 1] == ord("\r")
    return starts, (length - has_cr) == 0


def _data_row_numbers(raw: bytes, n: int) -> np.ndarray:
    """Line number of each of the ``n`` data rows (pyarrow skips blank lines)."""
    end = len(raw)
    while end and raw[end - 1] in _WHITESPACE:  # trailing blank lines are harmless
        end -= 1
    if raw.count(b"\n", 0, end) == n:  # header + n rows, no blank line between
        return np.arange(2, n + 2, dtype=np.int64)
    _, blank = _line_bounds(raw)
    numbers = np.flatnonzero(~blank).astype(np.int64) + 1
    if len(numbers) != n + 1:
        return np.arange(2, n + 2, dtype=np.int64)
    return numbers[1:]


def _first_uncastable(column: pa.Array, target: pa.DataType) -> int | None:
    """Index of the first string of ``column`` that does not cast to ``target``.

    Halving search over casts of slices: about two casts of the whole column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def castable(part: pa.Array) -> bool:
        try:
            pc.cast(part, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if castable(column):
        return None
    lo, hi = 0, len(column)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if not castable(column[lo:mid]):
            hi = mid
        else:
            lo = mid
    return lo


#: header line of a plain-layout file, and whether it carries ``quality``
_PLAIN_HEADERS: dict[bytes, bool] = {
    b"timestamp,open,high,low,close,volume,quality\n": True,
    b"timestamp,open,high,low,close,volume\n": False,
}
#: every byte the rows of a plain-layout file may hold; anything else (quotes,
#: spaces, ``\r``, words such as ``nan``) is left to pyarrow
_PLAIN_BYTES = b"0123456789+-.eE,:TZ\n"
#: ``YYYY-MM-DDTHH:MM:SSZ``: where its separators stand, and its digits
_TIME_TEXT = b"0000-00-00T00:00:00Z"
_TIME_SEPARATORS = [i for i, c in enumerate(_TIME_TEXT) if c != ord("0")]
_TIME_DIGITS = [i for i, c in enumerate(_TIME_TEXT) if c == ord("0")]
#: years whose every instant fits int64 nanoseconds since the epoch
_PLAIN_YEARS = (1678, 2261)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def read_plain_csv(raw: bytes) -> BarArrays | None:
    """Parse a bar CSV file in the plain layout with numpy; None for any other file.

    The plain layout: the header ``timestamp,open,high,low,close,volume`` (with an
    optional ``,quality``) exactly, ``\\n`` line ends, no blank line before the
    trailing ones, times ``YYYY-MM-DDTHH:MM:SSZ`` (years 1678-2261, which int64
    nanoseconds hold) and decimal numbers. numpy rounds each number correctly, as
    pyarrow does, so the two readers give the same floats. A file that breaks the
    layout anywhere, or whose fields do not parse, gets None: pyarrow then reads it
    or names the row that is wrong.

    :param raw: the file's bytes, byte-order mark removed.
    """
    derived = next(
        (
            quality
            for header, quality in _PLAIN_HEADERS.items()
            if raw.startswith(header)
        ),
        None,
    )
    if derived is None:
        return None
    header_length = raw.index(b"\n") + 1
    body = raw[header_length:].rstrip(b"\n")
    if body.translate(None, _PLAIN_BYTES) or b"\n\n" in body or body.startswith(b"\n"):
        return None
    if not body:
        return BarArrays.empty(derived=derived)
    names = [*VALUE_COLUMNS, *OPTIONAL_COLUMNS] if derived else list(VALUE_COLUMNS)
    layout = np.dtype(
        [
            ("timestamp", f"S{len(_TIME_TEXT) + 1}"),  # one byte more: longer is seen
            *((name, np.float64) for name in names),
        ]
    )
    try:
        rows = np.loadtxt(
            io.BytesIO(body),
            dtype=layout,
            delimiter=",",
            comments=None,
            ndmin=1,
            encoding="latin1",
        )
    except ValueError:
        return None
    ts = _plain_times(rows["timestamp"])
    if ts is None:
        return None
    columns: dict[str, Any] = {name: rows[name] for name in names}
    return BarArrays(ts=ts, **columns)


def _plain_times(stamps: np.ndarray) -> np.ndarray | None:
    """int64 ns of ``YYYY-MM-DDTHH:MM:SSZ`` texts; None when one is anything else
    (another ISO-8601 form, an impossible date, a year outside 1678-2261)."""
    width = len(_TIME_TEXT)
    chars = np.ascontiguousarray(stamps).view(np.uint8).reshape(len(stamps), -1)
    if chars.shape[1] != width + 1 or chars[:, width].any():
        return None
    template = np.frombuffer(_TIME_TEXT, dtype=np.uint8)
    if not np.array_equal(
        chars[:, _TIME_SEPARATORS],
        np.broadcast_to(
            template[_TIME_SEPARATORS], (len(chars), len(_TIME_SEPARATORS))
        ),
    ):
        return None
    digits = chars[:, _TIME_DIGITS] - np.uint8(ord("0"))  # wraps below '0'
    if (digits > 9).any():
        return None
    d = digits.astype(np.int64)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    hour = d[:, 8] * 10 + d[:, 9]
    minute = d[:, 10] * 10 + d[:, 11]
    second = d[:, 12] * 10 + d[:, 13]
    if (
        (year < _PLAIN_YEARS[0]).any()
        or (year > _PLAIN_YEARS[1]).any()
        or (month < 1).any()
        or (month > 12).any()
    ):
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[month] + (leap & (month == 2))
    if (
        (day < 1).any()
        or (day > month_days).any()
        or (hour > 23).any()
        or (minute > 59).any()
        or (second > 59).any()
    ):
        return None
    return (
        _epoch_days(year, month, day) * 86_400_000_000_000
        + ((hour * 60 + minute) * 60 + second) * 1_000_000_000
    )


def _epoch_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (years >= 1)."""
    march_year = year - (month <= 2)
    era = march_year // 400
    year_of_era = march_year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


class CsvBarSource(FileBarSource):
    """CSV bar files, plain (``.csv``) or gzip-compressed (``.csv.gz``).

    Rows in messages are line numbers of the file (the header is line 1).

    :param root: folder holding one sub-folder per interval.
    :param validation: ``reject`` or ``drop``.
    """

    format_name = "CSV"
    suffixes = (".csv", ".csv.gz")
    #: CSV bytes one source parses with numpy before it imports pyarrow, which parses
    #: about twice as fast but takes ~0.1 s to import: past this many bytes (about
    #: 100k rows) the import pays for itself
    plain_budget_bytes: ClassVar[int] = 8 << 20

    def __init__(self, root: Path | str, validation: Policy = "reject") -> None:
        super().__init__(root, validation)
        self._plain_bytes = 0

    def _plain_pays(self, size: int) -> bool:
        """Whether numpy should parse the next file (pyarrow not loaded, budget left).

        :param size: the file's size in bytes, counted against the budget.
        """
        if "pyarrow.csv" in sys.modules:
            return False
        with self._lock:
            self._plain_bytes += size
            return self._plain_bytes <= self.plain_budget_bytes

    def read(self, path: Path) -> tuple[BarArrays, np.ndarray]:
        """Parse one CSV file, without validation.

        :param path: a ``.csv`` or ``.csv.gz`` file.
        """
        raw = self._read_bytes(path)
        names = self._header(path, raw)
        bars = read_plain_csv(raw) if self._plain_pays(len(raw)) else None
        if bars is None:
            bars = self._read_with_arrow(path, raw, names)
        if len(bars) == 0:
            raise DataSourceError(f"{path}: the file has a header but no bars")
        return bars, _data_row_numbers(raw, len(bars))

    @classmethod
    def _read_with_arrow(cls, path: Path, raw: bytes, names: list[str]) -> BarArrays:
        """Any CSV layout pyarrow reads: columns in any order or with extra ones,
        quotes, ``\r\n``, blank lines, ISO-8601 variants; its errors name the row."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        columns = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in names)]
        types = _arrow_types()
        try:
            table = pacsv.read_csv(
                io.BytesIO(raw),
                memory_pool=pa.system_memory_pool(),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: types[name] for name in columns},
                    include_columns=columns,
                    null_values=[],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            raise cls._parse_error(path, raw, names, exc) from None
        # copies: the parser's buffers are larger than their columns, and a view
        # would keep them whole for the session
        return BarArrays(
            ts=table.column("timestamp").to_numpy().view(np.int64).copy(),
            **{
                name: table.column(name).to_numpy().copy()
                for name in columns
                if name != "timestamp"
            },
        )

    @staticmethod
    def _read_bytes(path: Path) -> bytes:
        _check_not_empty(path)
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataSourceError(
                    f"{path}: not a readable gzip file ({exc})"
                ) from None
        raw = raw.removeprefix(_BOM)
        if not raw or raw.isspace():
            raise DataSourceError(f"{path}: empty file (no header, no bars)")
        return raw

    @staticmethod
    def _header(path: Path, raw: bytes) -> list[str]:
        start = 0
        while raw[start] in _WHITESPACE:
            start += 1
        end = raw.find(b"\n", start)
        line = raw[start : end if end >= 0 else len(raw)]
        text = line.decode("utf-8", "replace").strip()
        names = [name.strip().strip('"') for name in text.split(",")]
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            hint = ""
            for name in missing:
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                if close:
                    hint += f"; {close[0]!r} is not {name!r}"
            raise DataSourceError(
                f"{path}: the header lacks column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}{hint}.\n"
                f"expected columns: {','.join(REQUIRED_COLUMNS)} (optional: quality)\n"
                f"found columns:    {','.join(names)}"
            )
        return names

    @staticmethod
    def _parse_error(
        path: Path, raw: bytes, names: list[str], exc: pa.ArrowInvalid
    ) -> DataSourceError:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = str(exc)
        match = re.search(r"In CSV column #(\d+)", text)
        if match and int(match.group(1)) < len(names):
            name = names[int(match.group(1))]
            try:
                strings = (
                    pacsv.read_csv(
                        io.BytesIO(raw),
                        convert_options=pacsv.ConvertOptions(
                            include_columns=[name],
                            column_types={name: pa.string()},
                            strings_can_be_null=False,
                        ),
                    )
                    .column(name)
                    .combine_chunks()
                )
            except pa.ArrowInvalid:
                strings = None
            index = None
            types = _arrow_types()
            if strings is not None and name in types:
                index = _first_uncastable(strings, types[name])
            if strings is not None and index is not None:
                row = int(_data_row_numbers(raw, len(strings))[index])
                what = (
                    "an ISO-8601 UTC time such as 2018-01-20T04:55:00Z"
                    if name == "timestamp"
                    else "a number"
                )
                return DataSourceError(
                    f"{path}, row {row}, column {name}: cannot parse "
                    f"{strings[index].as_py()!r} as {what}"
                )
        elif "CSV parse error" in text:
            starts, blank = _line_bounds(raw)
            buf = np.frombuffer(raw, dtype=np.uint8)
            line_of_comma = (
                np.searchsorted(starts, np.flatnonzero(buf == ord(",")), side="right")
                - 1
            )
            fields = np.bincount(line_of_comma, minlength=len(starts)) + 1
            wrong = np.flatnonzero((fields != len(names)) & ~blank)
            if len(wrong):
                line = int(wrong[0])
                return DataSourceError(
                    f"{path}, row {line + 1}: {int(fields[line])} fields where the "
                    f"header has {len(names)}"
                )
        return DataSourceError(f"{path}: cannot read as CSV bars: {text}")


class ParquetBarSource(FileBarSource):
    """Parquet bar files (``.parquet``), as written by :func:`write_bars_parquet`.

    ``timestamp`` may be any Arrow timestamp type (a zone-less one is taken as UTC);
    value columns any integer or float type. Rows in messages count from 1.

    :param root: folder holding one sub-folder per interval.
    :param validation: ``reject`` or ``drop``.
    """

    format_name = "Parquet"
    suffixes = (".parquet",)

    def read(self, path: Path) -> tuple[BarArrays, np.ndarray]:
        """Parse one Parquet file, without validation.

        :param path: a ``.parquet`` file.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        _check_not_empty(path)
        try:
            parquet = pq.ParquetFile(path)
            schema = parquet.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise DataSourceError(
                f"{path}: not a readable Parquet file ({exc})"
            ) from None
        problems = []
        for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            index = schema.get_field_index(name)
            if index < 0:
                if name in REQUIRED_COLUMNS:
                    problems.append(f"column {name!r} is missing")
                continue
            kind = schema.field(index).type
            fits = (
                pa.types.is_timestamp(kind)
                if name == "timestamp"
                else pa.types.is_floating(kind) or pa.types.is_integer(kind)
            )
            if not fits:
                problems.append(f"column {name!r} has type {kind}")
        if problems:
            found = ", ".join(f"{field.name}: {field.type}" for field in schema)
            raise DataSourceError(
                f"{path}: wrong Parquet schema: {'; '.join(problems)}.\n"
                f"expected: {_EXPECTED_SCHEMA}\nfound:    {found or 'no columns'}"
            )
        columns = [
            *REQUIRED_COLUMNS,
            *(c for c in OPTIONAL_COLUMNS if c in schema.names),
        ]
        table = parquet.read(columns=columns)
        if table.num_rows == 0:
            raise DataSourceError(f"{path}: the Parquet file holds no bars")
        stamps = table.column("timestamp")
        if stamps.null_count:
            nulls = stamps.is_null().to_numpy(zero_copy_only=False)
            first = int(np.flatnonzero(nulls)[0])
            raise DataSourceError(f"{path}, row {first + 1}: missing timestamp")
        try:
            ts = stamps.cast(pa.timestamp("ns", tz=stamps.type.tz)).cast(pa.int64())
        except pa.ArrowInvalid as exc:
            raise DataSourceError(
                f"{path}: timestamps do not fit in int64 nanoseconds ({exc})"
            ) from None

        def values(name: str) -> np.ndarray:
            col = table.column(name).cast(pa.float64(), safe=False)
            return col.to_numpy().astype(np.float64, copy=False)

        bars = BarArrays(
            ts=ts.to_numpy(),
            open=values("open"),
            high=values("high"),
            low=values("low"),
            close=values("close"),
            volume=values("volume"),
            quality=values("quality") if "quality" in columns else None,
        )
        return bars, np.arange(1, len(bars) + 1, dtype=np.int64)


def iso_strings(ts: np.ndarray) -> pa.Array:
    """``2018-01-20T04:55:00Z`` texts of int64 ns times, with only the fractional
    digits the data needs, formatted by Arrow in bulk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unit, per = next(
        (unit, per)
        for unit, per in (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1))
        if not np.any(ts % per)
    )
    text = pc.cast(pa.array(ts // per, type=pa.timestamp(unit)), pa.string())
    text = pc.utf8_replace_slice(text, 10, 11, "T")
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


def _float_strings(values: np.ndarray) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(values, type=pa.float64()), pa.string())


def write_bars_csv(path: Path | str, arrays: BarArrays) -> Path:
    """Write bars in the input CSV format, gzip-compressed when ``path`` ends in .gz.

    Header ``timestamp,open,high,low,close,volume`` (plus ``quality`` for derived
    bars), ISO-8601 ``Z`` open times, floats as their shortest text that parses back
    to the same float (Arrow's formatting: ``0.00005352``, ``205``, ``1e-7``), so
    :class:`CsvBarSource` reads back identical arrays.

    :param path: the file to write; missing parent folders are created.
    :param arrays: the bars.
    :returns: ``path`` as a :class:`~pathlib.Path`.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    names = ["timestamp", *VALUE_COLUMNS]
    columns = [iso_strings(arrays.ts)]
    columns += [_float_strings(getattr(arrays, name)) for name in VALUE_COLUMNS]
    if arrays.quality is not None:
        names.append("quality")
        columns.append(_float_strings(arrays.quality))
    out = io.BytesIO()
    out.write((",".join(names) + "\n").encode())
    pacsv.write_csv(
        pa.table(columns, names=names),
        out,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
    )
    data = out.getvalue()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_bars_parquet(path: Path | str, arrays: BarArrays) -> Path:
    """Write bars as a Parquet file :class:`ParquetBarSource` reads.

    :param path: the file to write; missing parent folders are created.
    :param arrays: the bars.
    :returns: ``path`` as a :class:`~pathlib.Path`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    stamps = pa.array(arrays.ts, type=pa.int64()).cast(_arrow_types()["timestamp"])
    columns = {"timestamp": stamps}
    for name in VALUE_COLUMNS:
        columns[name] = pa.array(getattr(arrays, name), type=pa.float64())
    if arrays.quality is not None:
        columns["quality"] = pa.array(arrays.quality, type=pa.float64())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def open_bar_files(root: Path | str, validation: str = "reject") -> FileBarSource:
    """The CSV bar files under ``root`` (``<interval>/<SYMBOL>.csv``) as a bar source,
    validated by the same rules as a session's; for plugins that read history (a
    live feed's warm-up) or tools.

    :param root: the folder.
    :param validation: ``reject`` or ``drop``.
    """
    return CsvBarSource(Path(root), validation=ValidationPolicy(validation))
