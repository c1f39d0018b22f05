"""``stratagem run``: build the session from a validated config, subscribe the run
folder's writer, drive it with a progress bar on a terminal, return the outcome."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratagem._data.timefmt import format_ts
from stratagem._records import RunStatus
from stratagem._session.build import (
    INPUT_ERRORS,
    Session,
    SessionOutcome,
    SessionSpec,
    build_session,
)
from stratagem._session.outputs import RunFolderWriter, check_out_dir, remove

if TYPE_CHECKING:
    from stratagem._config.loading import LoadedSession

log = logging.getLogger("stratagem.run")

EXIT_CODES = {
    RunStatus.OK: 0,
    RunStatus.FAILED: 1,
    RunStatus.DEGRADED: 3,
    RunStatus.INTERRUPTED: 130,
}
BAD_INPUT = INPUT_ERRORS


@dataclass
class RunOptions:
    """Command-line overrides of the session config.

    :param data_dir: folder laid out ``<interval>/<SYMBOL>.<ext>``.
    :param speed: ``speed_multiplier`` override (0 = data-driven).
    :param out_dir: output folder; default ``runs/<UTC time>-<config name>/``.
    :param save_bars: write every published bar under ``bars/``.
    :param overwrite: replace an earlier run in ``out_dir``.
    :param progress: a rich console to show a progress bar on (terminals only);
        the one the log goes to, so log lines print above the bar.
    """

    data_dir: Path | None = None
    speed: float | None = None
    out_dir: Path | None = None
    save_bars: bool = False
    overwrite: bool = False
    progress: Any = None


@dataclass
class RunOutcome:
    """A finished ``stratagem run``: the session's outcome and where it was written."""

    session: SessionOutcome
    out_dir: Path

    @property
    def status(self) -> RunStatus:
        return self.session.status

    @property
    def signals(self) -> list:
        return self.session.signals

    @property
    def metrics(self) -> dict:
        return self.session.metrics

    @property
    def error(self) -> str | None:
        if self.status is RunStatus.OK:
            return None
        return self.session.result.reason

    @property
    def bad_input(self) -> bool:
        return isinstance(self.session.error, BAD_INPUT)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 failed, 2 refused bad input, 3 degraded, 130 interrupted."""
        if self.bad_input:
            return 2
        return EXIT_CODES.get(self.status, 1)


def default_out_dir(config_path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{stamp}-{config_path.stem}"


def run_session(loaded: LoadedSession, options: RunOptions) -> RunOutcome:
    """Build, run and write one session from a validated config.

    :param loaded: the validated config with its plugins.
    :param options: the command line's overrides.
    :raises SessionSetupError: when the data folder is missing, or ``out_dir`` holds
        anything but an earlier run (or an earlier run, without ``overwrite``).
    """
    out_dir = Path(options.out_dir) if options.out_dir else default_out_dir(loaded.path)
    earlier = check_out_dir(out_dir, overwrite=options.overwrite)
    spec = SessionSpec.from_config(
        loaded, data_dir=options.data_dir, speed=options.speed
    )
    session = build_session(spec)
    for path in earlier:
        remove(path)
    session.extra["out_dir"] = str(out_dir)
    session.subscribe(RunFolderWriter(out_dir, save_bars=options.save_bars))
    progress = _Progress(session, options.progress) if options.progress else None
    try:
        outcome = session.run(on_tick=progress.update if progress else None)
    finally:
        if progress:
            progress.close()
    error = outcome.error
    if error is not None and not isinstance(error, BAD_INPUT):
        log.error("session failed: %s", outcome.result.reason, exc_info=error)
    return RunOutcome(outcome, out_dir)


class _Progress:
    """A rich progress bar in session time, bars/s and ETA (terminals only)."""

    def __init__(self, session: Session, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.session = session
        self._wall0 = time.perf_counter()
        self.bar = Progress(
            TextColumn("{task.fields[clock]}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("session", total=None, clock="loading", rate="")
        self.bar.start()

    def update(self) -> None:
        processor = self.session.processor
        result = self.session.coordinator.result
        now, start, last = processor.time_ns, result.start_ns, processor.last_time_ns
        if now is None or start is None or last is None or last <= start:
            return
        wall = time.perf_counter() - self._wall0
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
