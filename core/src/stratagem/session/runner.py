"""Run one session end to end: build it from a validated config, drive it in the
session thread, report metrics from this (the main) thread, write the outputs.

Outputs (DESIGN section 8) are written whatever happens after the session starts:
a failure or Ctrl-C still leaves ``signals.csv``, ``metrics.json`` and
``manifest.json`` with what was computed so far.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import logging
import platform
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import stratagem
from stratagem._records import MetricsReport, Signal
from stratagem.data.bars import BarArrays
from stratagem.data.session_data import SessionData
from stratagem.data.sources import DataSourceError, write_bars_csv
from stratagem.data.timefmt import format_ts, to_ns
from stratagem.data.validation import BarValidationError
from stratagem.runtime.manager import DATA_DRIVEN, StartupError, StrategyManager
from stratagem.runtime.metrics import bottleneck
from stratagem.runtime.thread import StrategyInstance
from stratagem.session.coordinator import SessionCoordinator, SessionResult
from stratagem.session.processor import DataProcessor

if TYPE_CHECKING:
    from stratagem._config_loading import LoadedSession
    from stratagem._loader import PluginCatalogue

log = logging.getLogger("stratagem.run")

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}
#: refused input (bad data, a strategy asking for what the session lacks): exit 2 with
#: the message, no traceback
BAD_INPUT = (BarValidationError, DataSourceError, StartupError)


class RunSetupError(ValueError):
    """The session could not be set up (data folder, data source, bad data)."""


@dataclass
class RunOptions:
    """Command-line overrides of the session config.

    :param data_dir: folder laid out ``<interval>/<SYMBOL>.<ext>``.
    :param speed: ``speed_multiplier`` override (0 = data-driven).
    :param out_dir: output folder; default ``runs/<UTC time>-<config name>/``.
    :param save_bars: write every published bar under ``bars/``.
    :param progress: show a progress bar (terminals only).
    """

    data_dir: Path | None = None
    speed: float | None = None
    out_dir: Path | None = None
    save_bars: bool = False
    progress: bool = False


@dataclass
class RunOutcome:
    status: str
    out_dir: Path
    result: SessionResult | None
    signals: list[Signal] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    bad_input: bool = False

    @property
    def exit_code(self) -> int:
        """0 ok, 1 failed, 2 refused bad input (data), 130 interrupted."""
        if self.bad_input:
            return 2
        return EXIT_CODES.get(self.status, 1)


class ReporterFacade:
    """Calls each selected reporter on its own; one that raises is dropped."""

    def __init__(self, catalogue: PluginCatalogue, names: Sequence[str]) -> None:
        self._reporters: list[tuple[str, Callable[..., None]]] = []
        available = set(catalogue.reporters)
        for name in names:
            if name not in available:
                log.warning(
                    "reporter %r is not installed (installed: %s)",
                    name,
                    ", ".join(sorted(available)) or "none",
                )
                continue
            plugin = catalogue.pm.get_plugin(name)
            for impl in catalogue.pm.hook.stratagem_report_metrics.get_hookimpls():
                if impl.plugin is plugin:
                    self._reporters.append((name, impl.function))

    def report(self, report: MetricsReport) -> None:
        for entry in list(self._reporters):
            name, function = entry
            try:
                function(report=report)
            except Exception:
                log.exception("reporter %s raised; it will not be called again", name)
                self._reporters.remove(entry)


def default_out_dir(config_path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{stamp}-{config_path.stem}"


class SessionRun:
    """One session, assembled from a validated config and the plugin catalogue."""

    def __init__(self, loaded: LoadedSession, options: RunOptions) -> None:
        self.loaded = loaded
        self.catalogue: PluginCatalogue = loaded.plugins
        self.options = options
        cfg = loaded.config.session_data_config
        self.cfg = cfg
        self.out_dir = (
            Path(options.out_dir) if options.out_dir else default_out_dir(loaded.path)
        )
        self.speed = cfg.speed_multiplier if options.speed is None else options.speed
        self.mode = DATA_DRIVEN if self.speed == 0 else "clock-driven"
        self.data_root = self._data_root()
        self.source = loaded.data_source.factory(
            self.data_root, {"validation": cfg.data.validation}
        )
        self.data = SessionData()
        upkeep = cfg.streaming.data_upkeep
        self.processor = DataProcessor(
            self.data,
            upkeep.derived_intervals if upkeep.enabled else [],
            warmup_bars=cfg.warmup_bars,
            validation=cfg.data.validation,
        )
        self.instances = [
            StrategyInstance(
                id=item.id,
                strategy_cls=item.spec.strategy,
                config=item.config,
                dist=item.dist,
                version=item.version,
                on_error=item.entry.on_error,
                max_errors=item.entry.max_errors,
                backpressure=item.entry.backpressure,
                inbox_size=item.entry.inbox_size,
                callback_timeout_s=item.entry.callback_timeout_s,
            )
            for item in loaded.strategies
        ]
        self.manager = StrategyManager(self.instances, self.data, self.mode)
        self.coordinator = SessionCoordinator(
            cfg.symbols,
            self.processor,
            self.manager,
            self.source,
            speed_multiplier=self.speed,
            start_ns=to_ns(cfg.start) if cfg.start else None,
            end_ns=to_ns(cfg.end) if cfg.end else None,
            scanners=[
                (item.name, item.spec.factory(item.config)) for item in loaded.scanners
            ],
        )
        self.reporters = ReporterFacade(self.catalogue, cfg.reporters)
        self.run_id = uuid.uuid4().hex
        self._wall0 = time.perf_counter()

    def _data_root(self) -> Path:
        if self.options.data_dir is not None:
            root = Path(self.options.data_dir)
            origin = "--data"
        elif self.cfg.data.path is not None:
            root = (self.loaded.path.parent / self.cfg.data.path).resolve()
            origin = f"{self.loaded.path}: session_data_config.data.path"
        else:
            raise RunSetupError(
                f"{self.loaded.path}: no data folder; pass --data DIR or set "
                "session_data_config.data.path"
            )
        if not root.is_dir():
            raise RunSetupError(f"data folder {root} (from {origin}) does not exist")
        return root

    # --- running -----------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Drive the session in its own thread; report and write outputs here."""
        outcome_box: dict[str, Any] = {}

        finished = threading.Event()

        def session_main() -> None:
            try:
                outcome_box["result"] = self.coordinator.run()
            except BaseException as exc:  # reported below, never lost
                outcome_box["error"] = exc
            finally:
                finished.set()

        thread = threading.Thread(target=session_main, name="session", daemon=True)
        # what start-up built (modules, plugins, configs) lives for the whole run:
        # keep it out of the collector's full passes, which otherwise pause every
        # thread for tens of milliseconds
        gc.collect()
        gc.freeze()
        previous = _install_sigterm(self.coordinator)
        self._wall0 = time.perf_counter()
        progress = _Progress(self) if self.options.progress else None
        try:
            thread.start()
            next_report = time.perf_counter() + self.cfg.metrics_interval_s
            # Event.wait, not Thread.join: a Ctrl-C inside join can leave the thread
            # marked finished while it still runs
            while not finished.is_set():
                try:
                    finished.wait(0.1)
                    if progress:
                        progress.update()
                    if time.perf_counter() >= next_report:
                        self.reporters.report(self.snapshot(final=False))
                        next_report += self.cfg.metrics_interval_s
                except KeyboardInterrupt:
                    log.warning("interrupted: finishing in-flight steps, then writing")
                    self.coordinator.request_stop("interrupted (SIGINT)")
        finally:
            if progress:
                progress.close()
            _restore_sigterm(previous)
        thread.join()
        result: SessionResult | None = outcome_box.get("result")
        error = outcome_box.get("error")
        if error is None:
            return self.finish(result)
        result = self.coordinator.result
        result.status = "failed"
        result.reason = f"{type(error).__name__}: {error}"
        if isinstance(error, BAD_INPUT):
            log.error("%s", error)
        else:
            log.error("session failed: %s", result.reason, exc_info=error)
        outcome = self.finish(result)
        outcome.bad_input = isinstance(error, BAD_INPUT)
        return outcome

    def finish(self, result: SessionResult | None) -> RunOutcome:
        """Final report and outputs; always called once the session thread ended."""
        status = result.status if result else "failed"
        final = self.snapshot(final=True)
        self.reporters.report(final)
        signals = self.manager.signals()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_signals_csv(self.out_dir / "signals.csv", signals)
        metrics = {
            "system": dict(final.system),
            "strategies": {k: dict(v) for k, v in final.strategies.items()},
        }
        _write_json(self.out_dir / "metrics.json", metrics)
        if self.options.save_bars:
            save_bars(self.out_dir / "bars", self.data)
        _write_json(self.out_dir / "manifest.json", self.manifest(result, status))
        return RunOutcome(
            status=status,
            out_dir=self.out_dir,
            result=result,
            signals=signals,
            metrics=metrics,
            error=result.reason if result and status != "ok" else None,
        )

    # --- metrics and manifest ------------------------------------------------------

    def snapshot(self, *, final: bool) -> MetricsReport:
        strategies = self.manager.metrics()
        wall = time.perf_counter() - self._wall0
        bars_in = self.processor.bars_in
        result = self.coordinator.result
        system: dict[str, Any] = {
            "mode": self.mode,
            "speed_multiplier": self.speed,
            "status": result.status,
            "bars_in": bars_in,
            "wall_s": wall,
            "bars_per_s": bars_in / wall if wall > 0 else 0.0,
            "steps": result.steps,
            "notifications": result.notifications,
            "bottleneck": bottleneck(strategies),
            "symbols": self.processor.symbols,
            "session_time": (
                format_ts(self.processor.time_ns) if self.processor.time_ns else None
            ),
            "session_start": format_ts(result.start_ns) if result.start_ns else None,
            "session_data_bytes": self.data.nbytes,
            "symbols_added": [i.as_dict() for i in result.insertions],
            "live_bars_dropped": self.processor.dropped_live,
        }
        if self.mode != DATA_DRIVEN:
            system.update(self.coordinator.drift())
        return MetricsReport(
            system=system,
            strategies=strategies,
            final=final,
            extra={"out_dir": str(self.out_dir), "run_id": self.run_id},
        )

    def manifest(self, result: SessionResult | None, status: str) -> dict[str, Any]:
        files = sorted({Path(p) for p in getattr(self.source, "files_used", [])})
        reports = getattr(self.source, "reports", {})
        return {
            "status": status,
            "reason": result.reason if result else None,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "python": platform.python_version(),
            "stratagem": stratagem.__version__,
            "command": sys.argv,
            "mode": self.mode,
            "speed_multiplier": self.speed,
            "session": {
                "start": format_ts(result.start_ns)
                if result and result.start_ns
                else None,
                "end": format_ts(result.end_ns) if result and result.end_ns else None,
                "steps": result.steps if result else 0,
                "symbols": self.processor.symbols,
                "symbols_added": [i.as_dict() for i in result.insertions]
                if result
                else [],
                "symbols_skipped": result.skipped_symbols if result else [],
                "stuck_threads": result.stuck_threads if result else [],
            },
            "config": {
                "path": str(self.loaded.path),
                "sha256": self.loaded.sha256,
            },
            "plugins": [
                {"name": r.name, "dist": r.dist, "version": r.version, "value": r.value}
                for r in self.catalogue.records
                if str(r.status) == "OK"
            ],
            "strategies": [
                {"id": i.id, "dist": i.dist, "version": i.version}
                for i in self.instances
            ],
            "data": {
                "root": str(self.data_root),
                "source": self.cfg.data.source,
                "validation": self.cfg.data.validation,
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
            "failures": [
                {
                    "strategy": f.strategy,
                    "hook": f.hook,
                    "symbol": f.symbol,
                    "bar_ts": format_ts(f.bar_ts) if f.bar_ts is not None else None,
                    "error": f.error,
                }
                for f in self.manager.failures
            ],
        }


def write_signals_csv(path: Path, signals: Sequence[Signal]) -> None:
    """``signals.csv``: one row per signal, deterministic columns only."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(
            ["bar_ts", "strategy", "symbol", "interval", "side", "strength", "reason"]
        )
        for s in signals:
            writer.writerow(
                [
                    format_ts(s.bar_ts),
                    s.strategy,
                    s.symbol,
                    s.interval,
                    s.side,
                    "" if s.strength is None else repr(float(s.strength)),
                    s.reason or "",
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, body: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, default=str) + "\n")
    tmp.replace(path)


def _install_sigterm(coordinator: SessionCoordinator) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum: int, frame: Any) -> None:
        coordinator.request_stop("interrupted (SIGTERM)")

    return signal.signal(signal.SIGTERM, on_sigterm)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """A rich progress bar in session time, bars/s and ETA (terminals only)."""

    def __init__(self, run: SessionRun) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.run = run
        self.bar = Progress(
            TextColumn("{task.fields[clock]}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.bar.add_task("session", total=None, clock="loading", rate="")
        self.bar.start()

    def update(self) -> None:
        processor = self.run.processor
        result = self.run.coordinator.result
        now, start, last = processor.time_ns, result.start_ns, processor.last_time_ns
        if now is None or start is None or last is None or last <= start:
            return
        wall = time.perf_counter() - self.run._wall0
        rate = processor.bars_in / wall if wall > 0 else 0.0
        self.bar.update(
            self.task,
            total=last - start,
            completed=min(now, last) - start,
            clock=format_ts(now),
            rate=f"{rate:,.0f} bars/s",
        )

    def close(self) -> None:
        self.bar.stop()
