"""``stratagem sweep``: read the data once, run every parameter set on a backend,
keep each result as it comes, and write the results table.

The output folder holds ``sweep.json`` (what was swept, how, and how it ended),
``sets.jsonl`` (one line per finished set, appended as sets finish: ``--resume``
reads it and runs only the sets not finished ``ok``), and ``results.parquet`` /
``results.csv`` (one row per parameter set of the grid).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from stratagem._data.bars import BarArrays
from stratagem._session.build import SessionSetupError, SessionSpec
from stratagem._session.run import default_out_dir
from stratagem._sweep.plan import SweepPlan
from stratagem._sweep.results import (
    FAILED,
    JOURNAL,
    MANIFEST,
    OK,
    RESULTS,
    append_journal,
    read_journal,
    table_columns,
    table_rows,
    write_table,
)
from stratagem._sweep.shared import SeriesKey, SharedBars, preload
from stratagem._sweep.task import SetResult, SetTask, SweepError, SweepSetup

#: files a sweep writes in its folder (and may replace with --overwrite)
OWN_FILES = (
    MANIFEST,
    JOURNAL,
    f"{RESULTS}.parquet",
    f"{RESULTS}.csv",
    f"{RESULTS}.parquet.tmp",
    f"{RESULTS}.csv.tmp",
    f"{MANIFEST}.tmp",
)


class Backend(Protocol):
    """What runs the sets: :class:`~stratagem._sweep.local.LocalBackend` or
    :class:`~stratagem._sweep.ray_backend.RayBackend`."""

    name: str

    def describe(self) -> str: ...

    def run(
        self,
        setup: SweepSetup,
        bars: SharedBars,
        tasks: Sequence[SetTask],
        on_result: Callable[[SetResult], None],
    ) -> None: ...


BACKENDS = ("local", "ray")


def make_backend(
    name: str, *, address: str | None = None, workers: int | None = None
) -> Backend:
    """The backend called ``name``.

    :param name: ``local`` or ``ray``.
    :param address: a Ray cluster's address (``ray`` only).
    :param workers: sets run at once.
    :raises SweepError: for an address without Ray, or Ray missing.
    """
    if name == "local":
        if address is not None:
            raise SweepError("--address is for --backend ray")
        from stratagem._sweep.local import LocalBackend

        return LocalBackend(workers)
    if name == "ray":
        from stratagem._sweep.ray_backend import RayBackend

        return RayBackend(address, workers)
    raise SweepError(f"unknown backend {name!r} (one of {', '.join(BACKENDS)})")


def default_sweep_dir(config: Path) -> Path:
    """``runs/<UTC time>-<config name>-sweep/``.

    :param config: the session config file.
    """
    run_dir = default_out_dir(config)
    return run_dir.with_name(f"{run_dir.name}-sweep")


def load_bars(
    plan: SweepPlan, data_dir: Path | None
) -> tuple[SweepSetup, dict[SeriesKey, BarArrays]]:
    """Read every bar file the sessions use, once, and the setup that names the
    data folder.

    :param plan: the checked sweep.
    :param data_dir: ``--data``, overriding the config's ``data.path``.
    :raises SessionSetupError: without a data folder, or for a live source.
    :raises DataSourceError: listing every missing or unreadable start file.
    :raises BarValidationError: for a file refused under ``reject``.
    """
    spec = SessionSpec.from_config(plan.loaded, data_dir=data_dir, speed=0.0)
    if spec.live:
        source = plan.loaded.config.session_data_config.data.source
        raise SessionSetupError(
            f"{plan.loaded.path}: a sweep replays bar files, but data source "
            f"{source!r} streams live"
        )
    bars = preload(spec, plan.loaded)
    root = None if spec.data_root is None else str(spec.data_root)
    return replace(plan.setup, data_root=root), bars


class SweepFolder:
    """A sweep's output folder: fresh, or an earlier sweep of the same config and
    parameters to resume or replace.

    :param path: the folder.
    :param plan: the checked sweep.
    :param resume: keep the sets an earlier sweep here finished ``ok``.
    :param overwrite: replace an earlier sweep here.
    :raises SweepError: when the folder holds anything but a sweep, an earlier
        sweep without ``resume`` or ``overwrite``, or (resuming) a sweep of another
        config or other parameters.
    """

    def __init__(
        self, path: Path, plan: SweepPlan, *, resume: bool, overwrite: bool
    ) -> None:
        self.path = Path(path)
        self.plan = plan
        self.earlier: dict[str, dict[str, Any]] = {}
        entries = (
            sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        )
        if not entries:
            return
        foreign = [name for name in entries if name not in OWN_FILES]
        if foreign or MANIFEST not in entries:
            raise SweepError(
                f"{self.path} is not empty and holds no sweep of its own "
                f"({', '.join(foreign or entries)}); choose another --out"
            )
        if resume:
            self._check_same_sweep()
            self.earlier = read_journal(self.path)
        elif overwrite:
            for name in entries:
                (self.path / name).unlink()
        else:
            raise SweepError(
                f"{self.path} holds an earlier sweep: pass --resume to run only the "
                "sets it has not finished, or --overwrite to replace it"
            )

    def _check_same_sweep(self) -> None:
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SweepError(f"{self.path / MANIFEST} is unreadable: {exc}") from None
        if manifest.get("config_sha256") != self.plan.loaded.sha256:
            raise SweepError(
                f"cannot resume {self.path}: it swept {manifest.get('config')} with "
                f"other contents (sha256 {manifest.get('config_sha256')}); the config "
                f"{self.plan.loaded.path} has changed since"
            )
        before = [axis["column"] for axis in manifest.get("grid", [])]
        if before != self.plan.columns:
            raise SweepError(
                f"cannot resume {self.path}: it swept {', '.join(before) or 'nothing'}"
                f", this grid sweeps {', '.join(self.plan.columns)}"
            )

    def finished(self) -> dict[str, dict[str, Any]]:
        """The earlier sets of this grid that finished ``ok``, by key."""
        keys = {s.key for s in self.plan.sets}
        return {
            key: row
            for key, row in self.earlier.items()
            if key in keys and row.get("status") == OK
        }

    def write_manifest(self, body: Mapping[str, Any]) -> None:
        """Write ``sweep.json`` atomically.

        :param body: its contents.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / MANIFEST
        tmp = target.with_name(f"{MANIFEST}.tmp")
        tmp.write_text(json.dumps(dict(body), indent=2) + "\n")
        tmp.replace(target)

    def record(self, result: SetResult) -> dict[str, Any]:
        """Journal one finished set; returns its row.

        :param result: the set's result.
        """
        row = result.row()
        append_journal(self.path, row)
        return row

    def write_results(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write the results table of ``rows``.

        :param rows: journal rows, one per set.
        """
        columns = table_columns(rows, self.plan.columns, self.plan.executes)
        write_table(self.path, table_rows(rows, columns), columns)


@dataclass
class SweepOutcome:
    """A sweep that ran (to its end or not).

    :param out_dir: where its files are.
    :param rows: one row per parameter set with a result, in grid order.
    :param total: parameter sets in the grid.
    :param ran: sets run by this invocation.
    :param skipped: sets an earlier invocation had finished (``--resume``).
    :param wall_s: wall seconds of this invocation's sets.
    :param interrupted: Ctrl-C stopped it; unfinished sets are not in ``rows``.
    :param error: why the sweep stopped early, when it did.
    """

    out_dir: Path
    rows: list[dict[str, Any]]
    total: int
    ran: int
    skipped: int
    wall_s: float
    interrupted: bool = False
    error: str | None = None
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Rows of the sets that failed."""
        return [row for row in self.rows if row.get("status") == FAILED]

    @property
    def status(self) -> str:
        """``ok``, ``failed`` (a set failed, or the sweep stopped) or
        ``interrupted``."""
        if self.interrupted:
            return "interrupted"
        if self.error is not None or self.failed or len(self.rows) < self.total:
            return FAILED
        return OK

    @property
    def exit_code(self) -> int:
        """0 every set ok, 1 a set failed (or the sweep stopped), 130 interrupted."""
        return {"ok": 0, "interrupted": 130}.get(self.status, 1)

    @property
    def sets_per_s(self) -> float:
        """This invocation's throughput."""
        return self.ran / self.wall_s if self.wall_s > 0 else 0.0


def run_sweep(
    plan: SweepPlan,
    setup: SweepSetup,
    bars: SharedBars,
    backend: Backend,
    folder: SweepFolder,
    *,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
) -> SweepOutcome:
    """Run the sets ``folder`` has not finished; journal each as it finishes;
    write the results table and the manifest whatever happens.

    :param plan: the checked sweep.
    :param setup: from :func:`load_bars`.
    :param bars: from :func:`load_bars`.
    :param backend: what runs the sets.
    :param folder: the output folder.
    :param on_result: told ``(row, done, total)`` after each set (progress).
    """
    finished = folder.finished()
    tasks = [SetTask(s.index, s.as_dict()) for s in plan.sets if s.key not in finished]
    index_of = {s.key: s.index for s in plan.sets}
    # an earlier sweep's set keeps its values; its index is this grid's
    by_key = {key: {**row, "set": index_of[key]} for key, row in finished.items()}
    started = datetime.now(UTC)
    manifest = _manifest(plan, setup, backend, started)
    folder.write_manifest({**manifest, "status": "running"})
    outcome = SweepOutcome(
        folder.path,
        [],
        total=len(plan.sets),
        ran=0,
        skipped=len(finished),
        wall_s=0.0,
        backend=backend.describe(),
    )

    def take(result: SetResult) -> None:
        row = folder.record(result)
        by_key[row["key"]] = row
        outcome.ran += 1
        if on_result is not None:
            on_result(row, len(by_key), len(plan.sets))

    wall0 = time.perf_counter()
    try:
        backend.run(setup, bars, tasks, take)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except SweepError as exc:
        outcome.error = str(exc)
    finally:
        outcome.wall_s = time.perf_counter() - wall0
        outcome.rows = sorted(by_key.values(), key=lambda row: row["set"])
        folder.write_results(outcome.rows)
        folder.write_manifest(_ending(manifest, outcome))
    return outcome


def _manifest(
    plan: SweepPlan, setup: SweepSetup, backend: Backend, started: datetime
) -> dict[str, Any]:
    from stratagem import __version__

    return {
        "config": str(plan.loaded.path),
        "config_sha256": plan.loaded.sha256,
        "data": setup.data_root,
        "grid": [
            {"column": axis.column, "argument": axis.text, "values": list(axis.values)}
            for axis in plan.axes
        ],
        "sets": len(plan.sets),
        "metric": plan.metric.name,
        "backend": backend.describe(),
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stratagem": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "pid": os.getpid(),
    }


def _ending(manifest: Mapping[str, Any], outcome: SweepOutcome) -> dict[str, Any]:
    return {
        **manifest,
        "status": outcome.status,
        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ok": sum(1 for row in outcome.rows if row.get("status") == OK),
        "failed": len(outcome.failed),
        "not_run": outcome.total - len(outcome.rows),
        "resumed": outcome.skipped,
        "ran": outcome.ran,
        "wall_s": outcome.wall_s,
        "sets_per_s": outcome.sets_per_s,
        "error": outcome.error,
    }
