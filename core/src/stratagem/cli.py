"""The ``stratagem`` command line.

Commands only; each imports what it needs when it runs, so ``stratagem --help`` and
``--version`` load no runtime module. Errors a user can fix
(config problems, strict plugin failures) exit 2 with every problem listed; anything
else exits 1 with one line, and with its traceback under ``-v``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stratagem.hookspecs import PROJECT_NAME

if TYPE_CHECKING:
    from stratagem._config.loading import LoadedSession
    from stratagem._plugins.loader import PluginCatalogue, PluginRecord

EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """Shared by every command through ``click.Context.obj``.

    :param verbose: show tracebacks (``-v``).
    :param entry_points: entry points to load instead of the installed ones (tests
        pass ``obj=CliState(entry_points=[...])`` to ``CliRunner.invoke``).
    :param builtins: register the built-in plugins.
    """

    verbose: bool = False
    entry_points: Sequence[EntryPoint] | None = None
    builtins: bool = True

    def load_plugins(self, *, strict: bool = False) -> PluginCatalogue:
        """Every plugin, for listing.

        :param strict: raise :class:`PluginLoadError` on any failure.
        """
        from stratagem._plugins.loader import load_plugins

        return load_plugins(
            entry_points=self.entry_points, builtins=self.builtins, strict=strict
        )

    def load_session(self, path: Path, *, strict_plugins: bool) -> LoadedSession:
        """Validate a session file, loading only the plugins it names.

        :param path: the session config file.
        :param strict_plugins: make any plugin failure fatal.
        """
        from stratagem._config.loading import load_session

        return load_session(
            path,
            strict_plugins=strict_plugins,
            entry_points=self.entry_points,
            builtins=self.builtins,
        )


#: entry point group of commands that plugins add (``stratagem feed serve`` …)
COMMANDS_GROUP = "stratagem.commands"


class StratagemGroup(click.Group):
    """A group that turns expected errors into exit codes and attaches the commands
    plugins offer under :data:`COMMANDS_GROUP`, imported only when used."""

    def _plugin_commands(self) -> dict[str, EntryPoint]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._plugin_commands().get(cmd_name)
        if ep is None:
            return None
        try:
            found = ep.load()
            if not isinstance(found, click.Command):
                raise TypeError(f"{ep.value} is {found!r}, not a click command")
        except Exception as exc:
            return _unavailable(cmd_name, ep, exc)
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            _exit_for(ctx, exc)


def _exit_for(ctx: click.Context, exc: Exception) -> None:
    """Exit 2 for problems a user can fix (listed), 1 for anything else."""
    # imported here: ``stratagem --help`` must not load the config models
    from stratagem._config.loading import ConfigError
    from stratagem._plugins.loader import PluginLoadError

    if isinstance(exc, ConfigError):
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        count = len(exc.issues)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
        ctx.exit(EXIT_USAGE)
    if isinstance(exc, PluginLoadError):
        click.echo(f"error: {exc}", err=True)
        if _state(ctx).verbose:
            _echo_tracebacks(exc.failures)
        ctx.exit(EXIT_USAGE)
    if _state(ctx).verbose:
        click.echo("".join(traceback.format_exception(exc)), err=True, nl=False)
    else:
        click.echo(
            f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
            err=True,
        )
    ctx.exit(1)


def _unavailable(name: str, ep: EntryPoint, exc: Exception) -> click.Command:
    dist = getattr(ep, "dist", None)
    origin = f"{dist.name} {dist.version}" if dist is not None else ep.value
    reason = f"{type(exc).__name__}: {exc}"

    def fail() -> None:
        raise click.ClickException(
            f"command {name!r} ({origin}, entry point {ep.value}) cannot load: {reason}"
        )

    return click.Command(
        name,
        callback=fail,
        help=f"Unavailable: {reason}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _state(ctx: click.Context) -> CliState:
    return ctx.ensure_object(CliState)


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).verbose = True


def verbose_option(function: F) -> F:
    """``-v/--verbose`` on a command, same as on the group: show tracebacks.

    :param function: the command callback.
    """
    option = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Show tracebacks.",
    )
    decorated: F = option(function)
    return decorated


pass_state = click.make_pass_decorator(CliState, ensure=True)


@click.group(
    cls=StratagemGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name=PROJECT_NAME, prog_name=PROJECT_NAME)
@verbose_option
def main() -> None:
    """stratagem: run bar-driven trading strategies from installed plugins."""


def _is_terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# --- plugins ---------------------------------------------------------------------


def _offers(record: PluginRecord) -> str:
    parts = []
    if record.strategies:
        parts.append("strategies: " + ", ".join(record.strategies))
    if record.scanners:
        parts.append("scanners: " + ", ".join(record.scanners))
    if record.data_sources:
        parts.append("data sources: " + ", ".join(record.data_sources))
    if record.brokers:
        parts.append("brokers: " + ", ".join(record.brokers))
    if record.reporter:
        parts.append("reporter")
    return "; ".join(parts) or "-"


_HEADERS = ("plugin", "distribution", "version", "entry point", "offers", "status")


def _rows(records: Sequence[PluginRecord]) -> list[tuple[str, ...]]:
    return [
        (r.name, r.dist, r.version, r.value, _offers(r), str(r.status)) for r in records
    ]


def _print_plain_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(6)]
    for row in [tuple(h.upper() for h in _HEADERS), *rows]:
        click.echo(
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )


def _print_rich_table(rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for header in _HEADERS:
        table.add_column(header, overflow="fold")
    styles = {"OK": "green", "LOAD FAILED": "red", "DUPLICATE": "yellow"}
    for row in rows:
        table.add_row(*map(escape, row[:-1]), f"[{styles[row[-1]]}]{row[-1]}[/]")
    Console().print(table)


def _echo_tracebacks(records: Sequence[PluginRecord]) -> None:
    for record in records:
        if record.traceback:
            click.echo(f"--- {record.name} ({record.dist} {record.version})", err=True)
            click.echo(record.traceback, err=True, nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
@click.option("--all", "show_all", is_flag=True, help="Also list built-in plugins.")
@verbose_option
@pass_state
def plugins(state: CliState, as_json: bool, show_all: bool) -> None:
    """List plugins: distribution, version, entry point, offers, status.

    A plugin that fails to load is listed as LOAD FAILED with its error; two plugins
    offering one name are both DUPLICATE. Exits 0 either way.
    """
    from stratagem._plugins.loader import (
        DISABLE_AUTOLOAD_ENV,
        autoload_disabled,
        describe_failure,
    )

    catalogue = state.load_plugins()
    records = [r for r in catalogue.records if show_all or not r.builtin]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    if state.entry_points is None and autoload_disabled():
        click.echo(
            f"entry point autoloading is off ({DISABLE_AUTOLOAD_ENV} is set)",
            err=True,
        )
    if not records:
        click.echo("no plugins found (entry point group 'stratagem')")
        return
    rows = _rows(records)
    if _is_terminal():
        _print_rich_table(rows)
    else:
        _print_plain_table(rows)
    failures = [r for r in records if r.status != "OK"]
    if failures:
        click.echo("")
        for record in failures:
            click.echo(describe_failure(record))
        if state.verbose:
            _echo_tracebacks(failures)


# --- validate ----------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bar folder laid out <interval>/<SYMBOL>.csv (overrides data.path).",
)
@click.option(
    "--strict-plugins",
    is_flag=True,
    help="Exit 2 when a plugin loaded for this config fails to load or clashes "
    "(only the plugins the config names are loaded).",
)
@verbose_option
@pass_state
def validate(
    state: CliState, config: Path, data_dir: Path | None, strict_plugins: bool
) -> None:
    """Check a session config and its data: exit 0 when valid, 2 with every problem.

    Checks everything `run` checks before its first step: the config (every error
    at once), the plugins it names (only those are imported), the data folder and
    every start symbol's bar file, read and validated.
    """
    from stratagem._data.sources import DataSourceError
    from stratagem._data.validation import BarValidationError
    from stratagem._plugins.loader import describe_failure
    from stratagem._session.build import SessionSetupError, SessionSpec, build_session

    loaded = state.load_session(config, strict_plugins=strict_plugins)
    for record in loaded.plugins.failures:
        click.echo(f"warning: {describe_failure(record)}", err=True)
    try:
        built = build_session(SessionSpec.from_config(loaded, data_dir=data_dir))
        built.check_inputs()
    except (SessionSetupError, DataSourceError, BarValidationError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    session = loaded.config.session_data_config
    ids = ", ".join(item.id for item in loaded.strategies) or "none"
    mode = str(built.mode)
    if built.mode == "clock-driven":
        mode += f" x{session.speed_multiplier:g}"
    click.echo(
        f"{config}: valid: {_plural(len(loaded.strategies), 'strategy instance')} "
        f"({ids}) on {_plural(len(session.symbols), 'symbol')}; intervals "
        f"{', '.join(session.intervals)}; data source {session.data.source}; {mode}"
    )


# --- schema ------------------------------------------------------------------------


@main.command()
@verbose_option
def schema() -> None:
    """Print the JSON schema of a session config file."""
    from stratagem._config.loading import session_json_schema

    click.echo(json.dumps(session_json_schema(), indent=2))


# --- run ---------------------------------------------------------------------------

_STATUS_STYLE = {
    "ok": "green",
    "degraded": "yellow",
    "failed": "red",
    "interrupted": "yellow",
}


@main.command()
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
    "--overwrite",
    is_flag=True,
    help="Replace an earlier run in --out (a folder holding anything else is "
    "always refused).",
)
@click.option(
    "--strict-plugins",
    is_flag=True,
    help="Exit 2 when a plugin loaded for this config fails to load or clashes "
    "(only the plugins the config names are loaded).",
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
    overwrite: bool,
    strict_plugins: bool,
) -> None:
    """Run a session: data-driven, or clock-driven replay with --speed N."""
    from rich.console import Console

    from stratagem._data.sources import DataSourceError
    from stratagem._data.validation import BarValidationError
    from stratagem._plugins.loader import describe_failure
    from stratagem._session.build import SessionSetupError
    from stratagem._session.run import RunOptions, run_session

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
        overwrite=overwrite,
        progress=console if console.is_terminal else None,
    )
    try:
        outcome = run_session(loaded, options)
    except (SessionSetupError, DataSourceError, BarValidationError) as exc:
        console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    if outcome.bad_input:
        # refused input: said once, without a traceback; a rejected run wrote nothing
        written = "" if outcome.session.rejected else f" (outputs in {outcome.out_dir})"
        console.print(
            f"error: {outcome.session.error}{written}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
    portfolio = outcome.session.portfolio
    if portfolio is not None:
        from stratagem._execution.portfolio import summary_lines

        width = console.width if console.is_terminal else 80
        for line in summary_lines(portfolio, width):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    style = _STATUS_STYLE.get(outcome.status, "red")
    signals = len(outcome.signals)
    console.print(
        f"[{style}]{outcome.status}[/{style}]: {_plural(signals, 'signal')}; "
        f"outputs in {outcome.out_dir}"
        + (f" ({outcome.error})" if outcome.error else ""),
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(outcome.exit_code)


def _configure_logging(console: Any, verbose: bool) -> None:
    import logging

    from rich.logging import RichHandler

    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=verbose, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        # piped or redirected: one plain line per record, nothing wrapped or padded
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
        )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        handlers=[handler],
        force=True,
    )


if __name__ == "__main__":
    main()
