"""``stratagem run``: build the session from a validated config, subscribe the run
folder's writer, drive it with a progress bar on a terminal, return the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratagem._config.loading import load_session
from stratagem._records import Mode, RunStatus
from stratagem._session.build import (
    INPUT_ERRORS,
    SessionOutcome,
    SessionSetupError,
    SessionSpec,
    build_session,
)
from stratagem._session.control import ControlServer
from stratagem._session.journal import (
    JOURNAL_NAME,
    JournalError,
    JournalWriter,
    Resumed,
    read_journal,
)
from stratagem._session.outputs import RunFolderWriter, check_out_dir, remove
from stratagem._session.progress import RunProgress
from stratagem._session.reload import Reloader, Watcher

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
    :param resume: a run folder whose journal's last checkpoint this run continues
        from, writing into that folder (``--resume``).
    :param force: resume even though a plugin's version changed (``--force``).
    :param watch: reload a strategy when its module file or the config changes
        (``--watch``; clock-driven and live sessions).
    :param reload_config: reads the config again for a reload (default: the same
        file through the installed plugins).
    """

    data_dir: Path | None = None
    speed: float | None = None
    out_dir: Path | None = None
    save_bars: bool = False
    overwrite: bool = False
    progress: Any = None
    resume: Path | None = None
    force: bool = False
    watch: bool = False
    reload_config: Callable[[], LoadedSession] | None = None


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
    spec = SessionSpec.from_config(
        loaded, data_dir=options.data_dir, speed=options.speed
    )
    if options.watch and spec.mode is Mode.DATA_DRIVEN:
        raise SessionSetupError(
            "--watch reloads strategies of clock-driven and live sessions; this one "
            "is data-driven (give --speed N, or a live data source)"
        )
    identity = run_identity(loaded, spec)
    resumed = None
    if options.resume is not None:
        out_dir = Path(options.resume)
        if options.out_dir is not None and Path(options.out_dir) != out_dir:
            raise SessionSetupError(
                f"--resume writes into the run folder it resumes ({out_dir}); "
                f"drop --out {options.out_dir}"
            )
        resumed = read_journal(out_dir / JOURNAL_NAME)
        check_identity(resumed, identity, force=options.force)
        earlier: list[Path] = []
    else:
        out_dir = (
            Path(options.out_dir) if options.out_dir else default_out_dir(loaded.path)
        )
        earlier = check_out_dir(out_dir, overwrite=options.overwrite)
    session = build_session(spec)
    for path in earlier:
        remove(path)
    if resumed is not None:
        session.resume_from(resumed)
    created = not out_dir.exists()
    writer = JournalWriter(out_dir / JOURNAL_NAME, identity, resumed=resumed)
    session.keep_journal(writer, loaded.config.session_data_config.checkpoint_every)
    session.extra["out_dir"] = str(out_dir)
    session.subscribe(RunFolderWriter(out_dir, save_bars=options.save_bars))
    progress = RunProgress(session, options.progress) if options.progress else None
    reloader = Reloader(
        session, options.reload_config or (lambda: load_session(loaded.path))
    )
    control = ControlServer(out_dir, reloader.handle)
    control.start()
    watcher = Watcher(reloader, loaded.path) if options.watch else None
    if watcher is not None:
        watcher.start()
    try:
        outcome = session.run(on_tick=progress.update if progress else None)
        writer.mark("ended", _ending(outcome))
    finally:
        if watcher is not None:
            watcher.stop()
        control.close()
        writer.close()
        if progress:
            progress.close()
    if outcome.rejected and resumed is None:
        # refused before its first step: the run leaves nothing behind
        writer.remove()
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    error = outcome.error
    if error is not None and not isinstance(error, BAD_INPUT):
        log.error("session failed: %s", outcome.result.reason, exc_info=error)
    return RunOutcome(outcome, out_dir)


def run_identity(loaded: LoadedSession, spec: SessionSpec) -> dict[str, Any]:
    """What a resume must find unchanged: the config, the data and speed options,
    and the version of every plugin the run loaded (the journal's meta)."""
    return {
        "config": loaded.config.model_dump(mode="json", by_alias=True),
        "config_file": str(loaded.path),
        "data_dir": str(spec.data_root.resolve()) if spec.data_root else None,
        "speed_multiplier": spec.speed_multiplier,
        "plugins": {
            record.name: f"{record.dist} {record.version}"
            for record in loaded.plugins.records
            if record.status == "OK"
        },
    }


def check_identity(
    resumed: Resumed, identity: dict[str, Any], *, force: bool = False
) -> None:
    """Refuse to resume a journal that is not this config's, or a finished run.

    :param resumed: the journal's last checkpoint and meta.
    :param identity: this run's :func:`run_identity`.
    :param force: accept changed plugin versions (a warning is logged).
    :raises JournalError: naming the journal and the reason.
    """
    meta, path = resumed.meta, resumed.path
    if meta.get("ended") == "completed":
        raise JournalError(f"{path}: the run completed; there is nothing to resume")
    changed = _differences(meta.get("config"), identity["config"])
    if changed:
        listed = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise JournalError(
            f"{path}: the config changed since the run ({listed}); resume with the "
            f"config it ran ({meta.get('config_file')})"
        )
    for option, flag in (("data_dir", "--data"), ("speed_multiplier", "--speed")):
        if meta.get(option) != identity[option]:
            raise JournalError(
                f"{path}: the run had {option} {meta.get(option)!r}, this one "
                f"{identity[option]!r}; resume with the same {flag}"
            )
    before, now = meta.get("plugins", {}), identity["plugins"]
    moved = [
        f"{name} {before.get(name, 'absent')} -> {now.get(name, 'absent')}"
        for name in sorted(set(before) | set(now))
        if before.get(name) != now.get(name)
    ]
    if moved and not force:
        raise JournalError(
            f"{path}: plugin versions changed since the run ({'; '.join(moved)}); "
            "pass --force to resume anyway"
        )
    if moved:
        log.warning("resuming with changed plugins: %s", "; ".join(moved))


def _differences(before: Any, now: Any, where: str = "") -> list[str]:
    """JSON paths at which two config documents differ."""
    if isinstance(before, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(before) | set(now), key=str):
            out += _differences(
                before.get(key), now.get(key), f"{where}.{key}" if where else key
            )
        return out
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        out = []
        for index, (one, other) in enumerate(zip(before, now, strict=True)):
            out += _differences(one, other, f"{where}[{index}]")
        return out
    return [] if before == now else [where or "$"]


def _ending(outcome: SessionOutcome) -> str:
    """How a run ended, for its journal: ``completed`` when it reached its end."""
    result = outcome.result
    if outcome.status in (RunStatus.OK, RunStatus.DEGRADED) and result.reason is None:
        return "completed"
    return str(outcome.status)
