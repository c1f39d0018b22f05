"""Output writers of a run folder (DESIGN section 8), subscribed to a session.

:class:`RunFolderWriter` writes ``signals.csv``, ``metrics.json``,
``manifest.json`` and, with ``save_bars``, ``bars/<interval>/<SYMBOL>.csv`` when the
session ends, whatever the way it ended: a failure or Ctrl-C still leaves every file
with what was computed so far.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratagem._data.bars import BarArrays
from stratagem._data.session_data import SessionData
from stratagem._data.sources import write_bars_csv
from stratagem._data.timefmt import format_ts
from stratagem._execution.portfolio import write_execution_outputs
from stratagem._records import Signal
from stratagem._session.journal import JOURNAL_NAME

if TYPE_CHECKING:
    from stratagem._session.build import Session, SessionOutcome

#: what a run may leave in its folder (``metrics.jsonl`` comes from the json
#: reporter, ``report.html`` from ``stratagem report``); an earlier run's copies are
#: removed before a run with ``--overwrite``
RUN_FILES = (
    "signals.csv",
    "metrics.json",
    "metrics.jsonl",
    "manifest.json",
    "bars",
    "fills.csv",
    "fills.parquet",
    "trades.csv",
    "trades.parquet",
    "equity.csv",
    "equity.parquet",
    "portfolio.json",
    "report.html",
    # the journal (DESIGN 12) and the control socket of a running session
    "state.sqlite",
    "state.sqlite-wal",
    "state.sqlite-shm",
    "control.sock",
)

SIGNAL_COLUMNS = (
    "bar_ts",
    "strategy",
    "symbol",
    "interval",
    "side",
    "strength",
    "reason",
    "partial",
)


class RunFolderWriter:
    """Writes a run's files into ``out_dir`` when the session ends.

    :param out_dir: the run folder (created when needed).
    :param save_bars: also write every published bar.
    """

    def __init__(self, out_dir: Path, *, save_bars: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.save_bars = save_bars

    def session_ended(self, session: Session, outcome: SessionOutcome) -> None:
        if outcome.rejected:
            return  # refused before its first step: nothing ran, nothing to keep
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_signals_csv(self.out_dir / "signals.csv", outcome.signals)
        write_json(self.out_dir / "metrics.json", outcome.metrics)
        if self.save_bars:
            save_bars(self.out_dir / "bars", session.data)
        if outcome.portfolio is not None:
            write_execution_outputs(self.out_dir, outcome.portfolio)
        write_json(self.out_dir / "manifest.json", manifest(session, outcome))


def check_out_dir(out_dir: Path, *, overwrite: bool) -> list[Path]:
    """Check that a run may write into ``out_dir`` (DESIGN section 8).

    :param out_dir: the run folder.
    :param overwrite: replace an earlier run there.
    :returns: the earlier run's files to remove before the new run writes.
    :raises SessionSetupError: when the folder holds anything but an earlier run,
        or an earlier run without ``overwrite``.
    """
    from stratagem._session.build import SessionSetupError

    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise SessionSetupError(f"--out {out_dir} is a file, not a folder")
    present = sorted(out_dir.iterdir())
    if not present:
        return []
    foreign = [p.name for p in present if p.name not in RUN_FILES]
    finished = (out_dir / "manifest.json").is_file()
    # a run that never finished (killed, or its process died) leaves its journal
    unfinished = not finished and (out_dir / JOURNAL_NAME).is_file()
    if foreign or not (finished or unfinished):
        listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise SessionSetupError(
            f"--out {out_dir} is not empty and is not a stratagem run folder "
            f"(it holds {listed or 'files without a manifest.json'}); choose an "
            "empty or new folder"
        )
    if not overwrite:
        if unfinished:
            raise SessionSetupError(
                f"--out {out_dir} holds a run that did not finish (its journal, "
                f"no manifest.json); continue it with --resume {out_dir}, pass "
                "--overwrite to replace it, or choose another folder"
            )
        raise SessionSetupError(
            f"--out {out_dir} holds an earlier run; pass --overwrite to replace it, "
            "or choose another folder"
        )
    return present


def remove(path: Path) -> None:
    """Remove a file or a folder of an earlier run."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def write_signals_csv(path: Path, signals: Sequence[Signal]) -> None:
    """``signals.csv``: one row per signal, deterministic columns only."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(SIGNAL_COLUMNS)
        for s in signals:
            writer.writerow(
                [
                    format_ts(s.bar_ts),
                    s.strategy,
                    s.symbol,
                    s.interval,
                    str(s.side),
                    "" if s.strength is None else repr(float(s.strength)),
                    s.reason or "",
                    "partial" if s.partial else "",
                ]
            )


def save_bars(folder: Path, data: SessionData) -> None:
    """Every published bar, as ``<interval>/<SYMBOL>.csv`` in the input format."""
    for series in data:
        n = series.n
        arrays = BarArrays(
            ts=series.column("ts")[:n],
            open=series.column("open")[:n],
            high=series.column("high")[:n],
            low=series.column("low")[:n],
            close=series.column("close")[:n],
            volume=series.column("volume")[:n],
            quality=series.column("quality")[:n] if series.derived else None,
        )
        target = folder / series.interval / f"{series.symbol}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bars_csv(target, arrays)


def manifest(session: Session, outcome: SessionOutcome) -> dict[str, Any]:
    """``manifest.json``: status, versions, plugins, inputs and their digests."""
    from stratagem import __version__

    spec = session.spec
    result = outcome.result
    source = spec.source
    files = sorted({Path(p) for p in getattr(source, "files_used", [])})
    reports = getattr(source, "reports", {})
    loaded = spec.origin
    return {
        "status": str(outcome.status),
        "reason": result.reason,
        # the id every log record of this run carries
        "run_id": session.run_id,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "stratagem": __version__,
        "command": sys.argv,
        "mode": str(session.mode),
        "speed_multiplier": spec.speed_multiplier,
        "session": {
            "start": format_ts(result.start_ns) if result.start_ns else None,
            "end": format_ts(result.end_ns) if result.end_ns else None,
            "steps": result.steps,
            "symbols": session.processor.symbols,
            "symbols_added": [i.as_dict() for i in result.insertions],
            "symbols_skipped": result.skipped_symbols,
            "stuck_threads": result.stuck_threads,
        },
        "config": None
        if loaded is None
        else {"path": str(loaded.path), "sha256": loaded.sha256},
        "plugins": []
        if loaded is None
        else [
            {"name": r.name, "dist": r.dist, "version": r.version, "value": r.value}
            for r in loaded.plugins.records
            if str(r.status) == "OK"
        ],
        "strategies": [
            {"id": i.id, "dist": i.dist, "version": i.version} for i in spec.strategies
        ],
        "data": {
            "root": None if spec.data_root is None else str(spec.data_root),
            "source": None
            if loaded is None
            else loaded.config.session_data_config.data.source,
            "validation": spec.validation,
            "files": [
                {
                    "path": str(path),
                    "sha256": _sha256(path),
                    "validation": (
                        reports[path].as_dict() if path in reports else None
                    ),
                }
                for path in files
            ],
        },
        "bars": {
            "base": session.processor.base_interval,
            "calendars": {
                name: {"timezone": c.timezone, "day_start": c.day_start}
                for name, c in spec.calendars.items()
            },
            "empty": str(spec.empty),
            "filled": {
                f"{symbol} {interval}": count
                for (symbol, interval), count in session.processor.filled.items()
                if count
            },
        },
        "failures": [record.as_dict() for record in outcome.failures],
        "journal": _journal_of(session),
    }


def _journal_of(session: Session) -> dict[str, Any] | None:
    """Where the run's checkpoints went, and the checkpoint it resumed from."""
    checkpointer = session.coordinator.checkpointer
    if checkpointer is None:
        return None
    return {
        "path": checkpointer.writer.path.name,
        "checkpoints": checkpointer.writer.checkpoints,
        "error": checkpointer.failed,
        "resumed_from": session.extra.get("resumed_from"),
    }


def write_json(path: Path, body: dict[str, Any]) -> None:
    """Write ``body`` atomically (a temporary file renamed over ``path``)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, default=str) + "\n")
    tmp.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
