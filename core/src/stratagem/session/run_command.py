"""``stratagem run CONFIG``: one session from the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler

from stratagem._loader import describe_failure
from stratagem.cli import CliState, pass_state, verbose_option
from stratagem.data.sources import DataSourceError
from stratagem.data.validation import BarValidationError
from stratagem.session.runner import RunOptions, RunSetupError, SessionRun

STATUS_STYLE = {"ok": "green", "failed": "red", "interrupted": "yellow"}


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bar folder laid out <interval>/<SYMBOL>.csv (overrides data.path).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    help="speed_multiplier override: 0 = data-driven, N = N x real time.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default runs/<UTC time>-<config name>/).",
)
@click.option("--save-bars", is_flag=True, help="Write every published bar.")
@click.option(
    "--strict-plugins", is_flag=True, help="Fail when any plugin fails to load."
)
@verbose_option
@pass_state
def run(
    state: CliState,
    config: Path,
    data_dir: Path | None,
    speed: float | None,
    out_dir: Path | None,
    save_bars: bool,
    strict_plugins: bool,
) -> None:
    """Run a session: data-driven, or clock-driven replay with --speed N."""
    console = Console(stderr=True)
    _configure_logging(console, state.verbose)
    loaded = state.load_session(config, strict_plugins=strict_plugins)
    for record in loaded.plugins.failures:
        console.print(f"warning: {describe_failure(record)}", highlight=False)
    options = RunOptions(
        data_dir=data_dir,
        speed=speed,
        out_dir=out_dir,
        save_bars=save_bars,
        progress=console.is_terminal,
    )
    try:
        session = SessionRun(loaded, options)
        outcome = session.run()
    except (RunSetupError, DataSourceError, BarValidationError) as exc:
        console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    style = STATUS_STYLE.get(outcome.status, "red")
    signals = len(outcome.signals)
    console.print(
        f"[{style}]{outcome.status}[/{style}]: {signals} signal"
        f"{'s' if signals != 1 else ''}; outputs in {outcome.out_dir}"
        + (f" ({outcome.error})" if outcome.error else ""),
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(outcome.exit_code)


def _configure_logging(console: Console, verbose: bool) -> None:
    handler = RichHandler(console=console, show_path=verbose, markup=False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
