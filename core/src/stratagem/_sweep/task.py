"""One parameter set, run: the code every backend's workers run.

A worker process (local or Ray) builds one :class:`SweepWorker` per sweep: it loads
the plugins once and holds the shared bars; :meth:`SweepWorker.run` then validates
the config with the set's values in place, builds the session with the one session
builder (its source swapped for the shared bars, reporters off, data-driven) and
returns a :class:`SetResult`. Nothing here writes a file: the driver does.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from stratagem._sweep.grid import Scalar, set_key
from stratagem._sweep.results import EXECUTION_FIGURES, FAILED, OK, book_figures
from stratagem._sweep.shared import PreloadedSource, SharedBars


class SweepError(RuntimeError):
    """The sweep cannot go on (its workers cannot start, its folder is not its own)."""


@dataclass(frozen=True)
class SweepSetup:
    """What every task of a sweep shares; picklable, sent once to each worker.

    :param sweep_id: unique per sweep run (a worker keeps one sweep's state).
    :param config_path: the session config file (named in messages; relative data
        paths resolve from its folder).
    :param document: the config as parsed, before any parameter is set.
    :param sha256: the config file's digest.
    :param data_root: the data folder the driver read (``--data`` or the config's).
    :param entries: per swept strategy id, its index in
        ``session_data_config.strategies``.
    :param entry_points: entry points to load instead of the installed ones.
    :param builtins: register the built-in plugins.
    :param sys_path: the driver's import path, for strategies named by import path.
    """

    sweep_id: str
    config_path: str
    document: Mapping[str, Any]
    sha256: str
    data_root: str | None
    entries: Mapping[str, int]
    entry_points: tuple[EntryPoint, ...] | None = None
    builtins: bool = True
    sys_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetTask:
    """One parameter set to run.

    :param index: its position in the grid.
    :param values: ``{"<strategy id>.<param>": value}``.
    """

    index: int
    values: Mapping[str, Scalar]


@dataclass
class SetResult:
    """What one set gave.

    :param index: the set's position in the grid.
    :param values: its parameter values by column.
    :param status: ``ok``, or ``failed`` (it raised, a strategy failed, or its
        worker died): the figures are then empty.
    :param error: what failed, in one line.
    :param session_status: the session's own status (``ok``, ``degraded``,
        ``failed``), if a session ran.
    :param signals: signals emitted.
    :param figures: execution figures (:data:`EXECUTION_FIGURES`).
    :param books: per-book figures as ``<book>.<figure>``, when several books.
    :param bars_in: base bars the session took in.
    :param wall_s: wall seconds of the task in its worker.
    :param cpu_s: CPU seconds of the task's process (all its threads).
    :param worker: ``host:pid`` of the worker.
    :param log: warnings and errors the session logged, with tracebacks.
    :param traceback: the traceback of an exception that ended the task.
    """

    index: int
    values: Mapping[str, Scalar]
    status: str
    error: str | None = None
    session_status: str | None = None
    signals: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    books: dict[str, Any] = field(default_factory=dict)
    bars_in: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    worker: str = ""
    log: list[str] = field(default_factory=list)
    traceback: str | None = None

    def row(self) -> dict[str, Any]:
        """The set as a journal line."""
        return {
            "set": self.index,
            "key": set_key(dict(self.values)),
            "params": dict(self.values),
            "status": self.status,
            "error": self.error,
            "session_status": self.session_status,
            "signals": self.signals,
            **{name: self.figures.get(name) for name in EXECUTION_FIGURES},
            "books": dict(self.books),
            "bars_in": self.bars_in,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "worker": self.worker,
            "log": list(self.log),
            "traceback": self.traceback,
        }


def failed_result(task: SetTask, error: str, **extra: Any) -> SetResult:
    """A set that did not run to the end (its worker died, Ray lost it).

    :param task: the set.
    :param error: why, in one line.
    """
    return SetResult(task.index, dict(task.values), FAILED, error=error, **extra)


def set_document(setup: SweepSetup, values: Mapping[str, Scalar]) -> dict[str, Any]:
    """The config document a set's session is validated from: a copy with the
    set's values in its strategies' ``config`` objects, and no reporters (a
    sweep's tasks report nothing while they run; a reporter that opens a file or a
    port would clash between tasks).

    :param setup: the sweep's setup (the document and the strategy entries).
    :param values: ``{"<strategy id>.<param>": value}``.
    """
    changed = copy.deepcopy(dict(setup.document))
    session = changed["session_data_config"]
    strategies = session["strategies"]
    for column, value in values.items():
        strategy, _, param = column.rpartition(".")
        entry = strategies[setup.entries[strategy]]
        entry["config"] = {**entry.get("config", {}), param: value}
    session["reporters"] = []
    return changed


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Collect(logging.Handler):
    """Keeps a task's warnings and errors, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class SweepWorker:
    """A worker's state for one sweep: the plugins, loaded once, and the bars.

    :param setup: the sweep's shared setup.
    :param bars: the shared, read-only bars.
    """

    def __init__(self, setup: SweepSetup, bars: SharedBars) -> None:
        from stratagem._config.loading import referenced_plugin_names
        from stratagem._plugins.loader import load_plugins

        for entry in reversed(setup.sys_path):
            if entry not in sys.path and (not entry or os.path.isdir(entry)):
                sys.path.insert(0, entry)
        self.setup = setup
        self.bars = bars
        self.plugins = load_plugins(
            entry_points=setup.entry_points,
            builtins=setup.builtins,
            only=referenced_plugin_names(setup.document),
        )
        root = setup.data_root
        self.has_data_folder = root is not None and os.path.isdir(root)
        # the session builder wants a data folder; where the driver's is not on
        # this machine (a cluster node), the shared bars are all there is to read
        self._folder = Path(root) if self.has_data_folder and root else None
        self._stand_in: tempfile.TemporaryDirectory[str] | None = None
        logger = logging.getLogger("stratagem")
        logger.propagate = False  # a worker's log goes into its results
        logger.setLevel(logging.INFO)

    def _data_dir(self) -> Path | None:
        if self.setup.data_root is None or self._folder is not None:
            return self._folder
        if self._stand_in is None:
            self._stand_in = tempfile.TemporaryDirectory(prefix="stratagem-sweep-")
        return Path(self._stand_in.name)

    def run(self, task: SetTask) -> SetResult:
        """Run one set to its end; never raises (a failure is the result).

        :param task: the set.
        """
        wall0, cpu0 = time.perf_counter(), time.process_time()
        collect = _Collect()
        logger = logging.getLogger("stratagem")
        logger.addHandler(collect)
        try:
            result = self._run(task)
        except Exception as exc:  # noqa: BLE001 - one set fails, the sweep goes on
            result = failed_result(
                task,
                _one_line(exc),
                traceback="".join(traceback.format_exception(exc)),
            )
        finally:
            logger.removeHandler(collect)
        result.wall_s = time.perf_counter() - wall0
        result.cpu_s = time.process_time() - cpu0
        result.worker = worker_name()
        result.log = collect.lines
        return result

    def _run(self, task: SetTask) -> SetResult:
        from stratagem._config.loading import load_session_document
        from stratagem._session.build import SessionSpec, build_session

        setup = self.setup
        document = set_document(setup, task.values)
        loaded = load_session_document(
            document, setup.config_path, sha256=setup.sha256, plugins=self.plugins
        )
        spec = SessionSpec.from_config(loaded, data_dir=self._data_dir(), speed=0.0)
        source = PreloadedSource(
            self.bars,
            spec.source if self.has_data_folder else None,
            setup.data_root,
        )
        session = build_session(replace(spec, source=source, reporters=()))
        outcome = session.run()
        status = str(outcome.status)
        result = SetResult(
            task.index,
            dict(task.values),
            OK if status == "ok" else FAILED,
            session_status=status,
            bars_in=int(outcome.metrics["system"].get("bars_in", 0)),
        )
        if status != "ok":
            result.error = _session_error(outcome)
            if outcome.error is not None:
                result.traceback = "".join(traceback.format_exception(outcome.error))
            return result
        result.signals = len(outcome.signals)
        if outcome.portfolio is not None:
            figures = book_figures(outcome.portfolio, list(setup.entries))
            result.figures = {k: figures[k] for k in EXECUTION_FIGURES}
            result.books = {
                k: v for k, v in figures.items() if k not in EXECUTION_FIGURES
            }
        return result


def _session_error(outcome: Any) -> str:
    """Why a session did not end ``ok``: each failed plugin, or the reason."""
    failures: Sequence[Any] = outcome.failures
    if failures:
        return "; ".join(
            f"{f.plugin.kind} {f.plugin.id} {f.kind} in {f.hook}"
            + (f" at {f.where}" if f.where else "")
            + f": {f.error} ({f.action})"
            for f in failures
        )
    return str(outcome.result.reason or outcome.status)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", "; ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
