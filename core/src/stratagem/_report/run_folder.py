"""What a run folder holds (DESIGN section 8), read back for the report.

A run folder is recognised by the three files every run writes: ``manifest.json``,
``metrics.json`` and ``signals.csv``. The rest is optional: ``metrics.jsonl`` (the
json reporter's periodic snapshots), the execution tables (``fills``, ``equity``,
from Parquet when present, else CSV), ``portfolio.json`` and ``bars/`` (with
``--save-bars``). A file that is present but unreadable is a
:class:`ReportInputError` naming it; a damaged line of ``metrics.jsonl`` (a run
killed while writing) is skipped and noted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

#: the files every run writes: a folder without them is not a run folder
REQUIRED_FILES = ("manifest.json", "metrics.json", "signals.csv")

_TIMESTAMP = pa.timestamp("ns", tz="UTC")
_TEXT_COLUMNS = (
    "strategy",
    "symbol",
    "interval",
    "side",
    "strength",
    "reason",
    "partial",
    "book",
)


class ReportInputError(ValueError):
    """A report's input is not a run folder or holds an unreadable file; the message
    names the folder or the file."""


@dataclass(frozen=True, slots=True)
class Table:
    """Columns of one of a run's tables, as numpy arrays of one length.

    :param columns: by name: ``int64`` ns for times, ``float64`` for numbers, and
        ``object`` arrays of ``str`` for text.
    """

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def where(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is true.

        :param mask: a boolean array, one item per row.
        """
        return Table({name: values[mask] for name, values in self.columns.items()})


@dataclass(frozen=True, slots=True)
class RunFolder:
    """A run folder, read.

    :param path: the folder.
    :param manifest: ``manifest.json``.
    :param metrics: ``metrics.json`` (the final metrics).
    :param snapshots: every line of ``metrics.jsonl`` in order (periodic and final);
        empty when the run had no json reporter.
    :param signals: ``signals.csv``: ``bar_ts`` (ns), ``strategy``, ``symbol``,
        ``interval``, ``side``, ``reason``, ``partial``.
    :param fills: ``fills``: ``ts``, ``book``, ``symbol``, ``side``, ``qty``,
        ``price``, ``fee``; None for a run without execution.
    :param equity: ``equity``: ``ts``, ``book``, ``equity``, ``cash``, ``exposure``;
        None for a run without execution.
    :param portfolio: ``portfolio.json``; None for a run without execution.
    :param notes: what was skipped while reading, for the page.
    """

    path: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    snapshots: list[dict[str, Any]]
    signals: Table
    fills: Table | None
    equity: Table | None
    portfolio: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def saved_bars(self) -> Path | None:
        """The ``bars/`` folder of a run made with ``--save-bars``, else None."""
        folder = self.path / "bars"
        return folder if folder.is_dir() else None


def read_run_folder(path: Path) -> RunFolder:
    """Read the run folder at ``path``.

    :param path: a folder written by ``stratagem run``.
    :raises ReportInputError: when ``path`` is not a run folder or one of its files
        cannot be read.
    """
    path = Path(path)
    check_run_folder(path)
    notes: list[str] = []
    return RunFolder(
        path=path,
        manifest=_read_json(path / "manifest.json"),
        metrics=_read_json(path / "metrics.json"),
        snapshots=_read_snapshots(path / "metrics.jsonl", notes),
        signals=_read_signals(path / "signals.csv"),
        fills=_read_table(path, "fills", ("ts",)),
        equity=_read_table(path, "equity", ("ts",)),
        portfolio=(
            _read_json(path / "portfolio.json")
            if (path / "portfolio.json").is_file()
            else None
        ),
        notes=notes,
    )


def check_run_folder(path: Path) -> None:
    """Refuse anything but a run folder, naming it and what it lacks.

    :param path: the folder to check.
    :raises ReportInputError: when ``path`` is missing, not a folder, or lacks one of
        :data:`REQUIRED_FILES`.
    """
    if not path.exists():
        raise ReportInputError(f"{path} is not a run folder: it does not exist")
    if not path.is_dir():
        raise ReportInputError(f"{path} is not a run folder: it is a file")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ReportInputError(
            f"{path} is not a run folder: it has no {', '.join(missing)} (a folder "
            f"written by `stratagem run` holds {', '.join(REQUIRED_FILES)})"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ReportInputError(
            f"{path}: expected a JSON object, found {type(body).__name__}"
        )
    return body


def _read_snapshots(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    snapshots = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError:
            notes.append(f"{path.name} line {number} is not JSON: skipped")
            continue
        if isinstance(body, dict) and isinstance(body.get("strategies"), dict):
            snapshots.append(body)
        else:
            notes.append(f"{path.name} line {number} is not a metrics report: skipped")
    return snapshots


def _read_signals(path: Path) -> Table:
    table = _read_csv(path, ("bar_ts",))
    table = table.rename_columns(
        ["ts" if n == "bar_ts" else n for n in table.column_names]
    )
    needed = ("ts", "strategy", "symbol", "interval", "side")
    return _to_table(path, table, needed)


def _read_table(folder: Path, stem: str, times: tuple[str, ...]) -> Table | None:
    parquet, csv = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    if parquet.is_file():
        try:
            table = pq.read_table(parquet)
        except (pa.ArrowException, OSError) as exc:
            raise ReportInputError(
                f"{parquet}: not a readable Parquet file ({exc})"
            ) from None
        for name in times:
            if name in table.column_names:
                index = table.column_names.index(name)
                table = table.set_column(
                    index, name, table.column(name).cast(_TIMESTAMP)
                )
        return _to_table(parquet, table, times)
    if csv.is_file():
        return _to_table(csv, _read_csv(csv, times), times)
    return None


def _read_csv(path: Path, times: tuple[str, ...]) -> pa.Table:
    try:
        with path.open("rb") as stream:
            header = stream.readline().decode().strip().split(",")
        types = {
            name: _TIMESTAMP if name in times else pa.string()
            for name in header
            if name in times or name in _TEXT_COLUMNS
        }
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: not readable as CSV ({exc})") from None


def _to_table(path: Path, table: pa.Table, needed: tuple[str, ...]) -> Table:
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise ReportInputError(
            f"{path}: column {', '.join(repr(m) for m in missing)} missing "
            f"(found {', '.join(table.column_names) or 'no columns'})"
        )
    columns: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            columns[name] = column.cast(pa.int64()).to_numpy()
        elif pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
            columns[name] = column.cast(pa.float64()).to_numpy()
        else:
            values = column.cast(pa.string()).to_pylist()
            columns[name] = np.array(["" if v is None else v for v in values], object)
    return Table(columns)
