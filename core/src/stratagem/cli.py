"""The ``stratagem`` command line.

Commands only; each imports what it needs when it runs, so ``stratagem --help`` and
``--version`` load no runtime module. Errors a user can fix
(config problems, strict plugin failures) exit 2 with every problem listed; anything
else exits 1 with one line, and with its traceback under ``-v``.
"""

from __future__ import annotations

import contextlib
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
    :param json_logs: errors are logged as JSON records (``run --log-format json``)
        instead of printed.
    """

    verbose: bool = False
    entry_points: Sequence[EntryPoint] | None = None
    builtins: bool = True
    json_logs: bool = False

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
        # one state, made here, for the group and its command (and _exit_for)
        ctx.ensure_object(CliState)
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:
            _exit_for(ctx, exc)


def _reader_gone() -> None:
    """The reader of the output went away (``stratagem plugins | head -2``): stop
    quietly, as a Unix tool does, exit 1 as Python does on a broken pipe. The
    standard streams point at /dev/null first, so that flushing them at exit does
    not complain a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    sys.exit(1)


def _exit_for(ctx: click.Context, exc: Exception) -> None:
    """Exit 2 for problems a user can fix (listed), 1 for anything else."""
    # imported here: ``stratagem --help`` must not load the config models
    from stratagem._config.loading import ConfigError
    from stratagem._plugins.loader import PluginLoadError

    if isinstance(exc, ConfigError):
        for issue in exc.issues:
            _echo_error(ctx, str(issue))
        count = len(exc.issues)
        _echo_error(ctx, f"{count} problem{'s' if count != 1 else ''} found")
        ctx.exit(EXIT_USAGE)
    if isinstance(exc, PluginLoadError):
        _echo_error(ctx, f"error: {exc}")
        if _state(ctx).verbose:
            _echo_tracebacks(exc.failures)
        ctx.exit(EXIT_USAGE)
    if _state(ctx).verbose:
        _echo_error(ctx, "".join(traceback.format_exception(exc)))
    else:
        _echo_error(
            ctx, f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)"
        )
    ctx.exit(1)


def _echo_error(ctx: click.Context, text: str) -> None:
    """Print a line (or a traceback) on stderr; under ``--log-format json`` log it
    as an ERROR record instead, so that stderr holds JSON lines only."""
    if _state(ctx).json_logs:
        import logging

        logging.getLogger("stratagem.cli").error(text.rstrip("\n"))
    else:
        click.echo(text, err=True, nl=not text.endswith("\n"))


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

#: ``--data``, as ``validate``, ``run`` and ``sweep`` take it
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bar folder laid out <interval>/<SYMBOL>.csv (overrides data.path).",
)
#: ``--strict-plugins``, as ``validate``, ``run`` and ``sweep`` take it
strict_plugins_option = click.option(
    "--strict-plugins",
    is_flag=True,
    help="Exit 2 when a plugin loaded for this config fails to load or clashes "
    "(only the plugins the config names are loaded).",
)


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
    if record.reporters:
        parts.append("reporters: " + ", ".join(record.reporters))
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
    from rich.markup import escape
    from rich.table import Table

    from stratagem._console import console

    table = Table()
    for header in _HEADERS:
        table.add_column(header, overflow="fold")
    styles = {"OK": "green", "LOAD FAILED": "red", "DUPLICATE": "yellow"}
    for row in rows:
        table.add_row(*map(escape, row[:-1]), f"[{styles[row[-1]]}]{row[-1]}[/]")
    console().print(table)


def _echo_tracebacks(records: Sequence[PluginRecord]) -> None:
    for record in records:
        if record.traceback:
            click.echo(f"--- {record.name} ({record.dist} {record.version})", err=True)
            click.echo(record.traceback, err=True, nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
@click.option("--all", "show_all", is_flag=True, help="Also list built-in plugins.")
@click.option(
    "--options",
    "show_options",
    is_flag=True,
    help="Also list the config fields of every strategy, scanner, data source, "
    "broker and reporter that has a config model: one line per field with its "
    "type, default and description.",
)
@verbose_option
@pass_state
def plugins(state: CliState, as_json: bool, show_all: bool, show_options: bool) -> None:
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
        dicts = [r.as_dict() for r in records]
        if show_options:
            _add_options(dicts, catalogue, records)
        click.echo(json.dumps(dicts, indent=2))
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
    if show_options:
        _echo_options(catalogue, records)


def _echo_options(catalogue: PluginCatalogue, records: Sequence[PluginRecord]) -> None:
    """Each offer's config fields, one aligned line per field."""
    from stratagem._config.options import offered_options

    for offer in offered_options(catalogue, records):
        click.echo("")
        click.echo(offer.label)
        rows = [(o.name, o.type, o.default, o.description) for o in offer.options]
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
        for row in rows:
            cells = [
                cell.ljust(width) for cell, width in zip(row, widths, strict=False)
            ]
            click.echo("  " + "  ".join([*cells, row[3]]))


def _add_options(
    dicts: list[dict[str, Any]],
    catalogue: PluginCatalogue,
    records: Sequence[PluginRecord],
) -> None:
    """Put each plugin's offers' config fields into its JSON record, under
    ``options``: ``{kind: {name: [field, ...]}}``."""
    from stratagem._config.options import offered_options

    by_plugin = {
        id(record): entry for record, entry in zip(records, dicts, strict=True)
    }
    for entry in dicts:
        entry["options"] = {}
    for offer in offered_options(catalogue, records):
        options = by_plugin[id(offer.plugin)]["options"]
        options.setdefault(offer.kind, {})[offer.name] = [
            option.as_dict() for option in offer.options
        ]


# --- validate ----------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@data_option
@strict_plugins_option
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
@click.option(
    "--core",
    "core_only",
    is_flag=True,
    help="The core's models alone, without installed plugins' reporter configs "
    "(docs/session_config.schema.json is this).",
)
@verbose_option
@pass_state
def schema(state: CliState, core_only: bool) -> None:
    """Print the JSON schema of a session config file.

    A reporters item naming an installed plugin's reporter is checked against that
    reporter's config model.
    """
    from stratagem._config.loading import session_json_schema

    plugins = None if core_only else state.load_plugins()
    click.echo(json.dumps(session_json_schema(plugins), indent=2))


# --- new-strategy ------------------------------------------------------------------


@main.command("new-strategy")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the distribution's folder stratagem-NAME in.",
)
@verbose_option
def new_strategy(name: str, parent: Path) -> None:
    """Write a strategy distribution, ready to install, test and publish.

    NAME (lowercase letters, digits and underscores) is the entry point and the
    strategy name; the distribution is stratagem-NAME, its package stratagem_NAME.
    It holds a pyproject.toml with the entry point, a config class, a strategy
    (a moving-average rule on FollowingStrategy, with on_save/on_load), tests that
    use stratagem.testing, and a README. An existing folder is never overwritten.
    """
    from importlib.metadata import entry_points

    from stratagem._scaffold import ScaffoldError, new_strategy

    try:
        target = new_strategy(name, parent)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {target}: strategy {name!r}, entry point group {PROJECT_NAME!r}")
    for ep in entry_points(group=PROJECT_NAME, name=name):
        owner = ep.dist.name if ep.dist is not None else ep.value
        click.echo(
            f"warning: {owner} already offers the entry point {name!r}; with both "
            "installed, stratagem plugins lists them as DUPLICATE",
            err=True,
        )
    click.echo("next, in a virtual environment:")
    click.echo(f"  cd {target}")
    click.echo('  python -m pip install -e ".[test]"')
    click.echo("  python -m pytest")


# --- run ---------------------------------------------------------------------------

_STATUS_STYLE = {
    "ok": "green",
    "degraded": "yellow",
    "failed": "red",
    "interrupted": "yellow",
}


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@data_option
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
@strict_plugins_option
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the stopped or killed run in this folder from its journal's last "
    "checkpoint (same config and options), writing into it.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --resume: accept plugins whose version changed since the run.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Reload a strategy when its module file or the config changes "
    "(clock-driven and live sessions).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: every line on stderr is one JSON object (time, level, logger, "
    "message, and run_id, strategy, symbol, interval, bar_ts where they apply), "
    "the summary included; no progress bar.",
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
    resume_dir: Path | None,
    force: bool,
    watch: bool,
    log_format: str,
) -> None:
    """Run a session: data-driven, or clock-driven replay with --speed N.

    On a terminal a progress bar shows session time, steps, bars/s and the time
    left; the summary follows at the end.
    """
    from stratagem._console import console as pipe_safe_console
    from stratagem._data.sources import DataSourceError
    from stratagem._data.validation import BarValidationError
    from stratagem._plugins.loader import describe_failure
    from stratagem._session.build import SessionSetupError
    from stratagem._session.journal import JournalError
    from stratagem._session.run import RunOptions, run_session

    state.json_logs = log_format == "json"
    console = _LogConsole() if state.json_logs else pipe_safe_console(stderr=True)
    _configure_logging(console, state.verbose, log_format=log_format)
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
        resume=resume_dir,
        force=force,
        watch=watch,
        reload_config=lambda: state.load_session(config, strict_plugins=False),
    )
    try:
        outcome = run_session(loaded, options)
    except (
        SessionSetupError,
        DataSourceError,
        BarValidationError,
        JournalError,
    ) as exc:
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


@main.command("reload")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("strategy_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the session's answer.",
)
@verbose_option
def reload_command(run_dir: Path, strategy_id: str, timeout: float) -> None:
    """Reload one strategy of the session running in RUN_DIR: its code and config.

    The session re-imports the strategy's module, validates its config entry, and
    swaps it in between two steps with its state (clock-driven and live sessions);
    the other strategies never pause. Exits 0 when reloaded, 1 when the reload
    failed (the running instance is kept, and the reason printed), 2 when the
    session has no such strategy or no session runs in RUN_DIR.
    """
    from stratagem._session.control import ControlError, send

    try:
        reply = send(
            run_dir,
            {"command": "reload", "strategy": strategy_id},
            timeout_s=timeout,
        )
    except (ControlError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if reply.get("ok"):
        click.echo(reply.get("message", "reloaded"))
        return
    click.echo(f"error: {reply.get('message')}", err=True)
    sys.exit(EXIT_USAGE if reply.get("unknown") else 1)


class _LogConsole:
    """The run's console under ``--log-format json``: each line it is given to
    print becomes a record of the ``stratagem.cli`` logger (ERROR for a line
    starting ``error:``, WARNING for ``warning:``, INFO otherwise), so that every
    line on stderr is JSON."""

    is_terminal = False
    width = 80

    def print(self, text: Any, *, markup: bool = True, **_options: Any) -> None:
        """Log ``text``, its rich markup removed.

        :param text: what a console would print: a string, or a rich renderable
            (logged as the plain text it renders to).
        :param markup: whether a string holds rich markup.
        """
        import io
        import logging

        from rich.console import Console
        from rich.text import Text

        if isinstance(text, str):
            plain = Text.from_markup(text).plain if markup else text
        else:
            buffer = io.StringIO()
            Console(file=buffer, width=self.width, color_system=None).print(text)
            plain = buffer.getvalue().rstrip("\n")
        level = logging.INFO
        if plain.startswith("error:"):
            level = logging.ERROR
        elif plain.startswith("warning:"):
            level = logging.WARNING
        logging.getLogger("stratagem.cli").log(level, plain)


def _configure_logging(
    console: Any, verbose: bool, *, log_format: str = "text"
) -> None:
    import logging

    from rich.logging import RichHandler

    handler: logging.Handler
    if log_format == "json":
        from stratagem._runlog import JsonFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif console.is_terminal:
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


# --- report ------------------------------------------------------------------------


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("run_dir2", required=False, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default <RUN_DIR>/report.html).",
)
@verbose_option
def report(run_dir: Path, run_dir2: Path | None, output: Path | None) -> None:
    """Write one self-contained HTML page of a run folder, or of two side by side.

    Price per symbol with signals and fills (interval picked in a menu), equity and
    drawdown per book, timing histograms and queue depth per strategy, the metrics
    and the manifest. plotly.js is inside the file: it opens without a network.
    """
    from stratagem._report.page import write_report
    from stratagem._report.run_folder import ReportInputError

    folders = [run_dir] if run_dir2 is None else [run_dir, run_dir2]
    try:
        written = write_report(folders, output or run_dir / "report.html")
    except ReportInputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"report written to {written}")


# --- sweep -------------------------------------------------------------------------


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--grid",
    multiple=True,
    metavar="STRATEGY.PARAM=VALUES",
    help="A swept parameter of a strategy (by its id): a range a:b[:step] that "
    "includes b, a list a,b,c, or one value. Repeat for more; every combination "
    "is a parameter set.",
)
@data_option
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: processes on this machine; ray: Ray tasks (pip install "
    "'stratagem[ray]').",
)
@click.option(
    "--address",
    help="Ray cluster address for --backend ray (e.g. ray://head:10001 or auto); "
    "without it a local Ray instance is started and stopped.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Parameter sets run at once (default: every CPU).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default runs/<UTC time>-<config name>-sweep/).",
)
@click.option(
    "--metric",
    help="Rank the best sets by signals, pnl, return_pct, sharpe, max_drawdown_pct, "
    "trades, fees or win_rate (default pnl with execution, else signals).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Best sets shown.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the sweep in --out: run only the sets it has not finished ok.",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier sweep in --out.")
@strict_plugins_option
@verbose_option
@pass_state
def sweep(
    state: CliState,
    config: Path,
    grid: tuple[str, ...],
    data_dir: Path | None,
    backend: str,
    address: str | None,
    workers: int | None,
    out_dir: Path | None,
    metric: str | None,
    top: int,
    resume: bool,
    overwrite: bool,
    strict_plugins: bool,
) -> None:
    """Run one data-driven session per parameter set of a grid, in parallel.

    The market data is read once and shared read-only by every task. Writes
    results.parquet and results.csv (one row per set), sets.jsonl (each set as it
    finishes) and sweep.json into --out, then shows the best sets. Exit 0 when
    every set ran ok, 1 when one failed (the others' results are written), 2 for
    an invalid config or grid (every problem listed before any set runs), 130
    when interrupted (--resume finishes it).
    """
    from stratagem._console import console as pipe_safe_console
    from stratagem._data.sources import DataSourceError
    from stratagem._data.validation import BarValidationError
    from stratagem._session.build import SessionSetupError
    from stratagem._sweep.console import SweepConsole
    from stratagem._sweep.plan import plan_sweep
    from stratagem._sweep.sweep import (
        SweepFolder,
        default_sweep_dir,
        load_bars,
        make_backend,
        run_sweep,
    )
    from stratagem._sweep.task import SweepError

    console = pipe_safe_console(stderr=True)
    _configure_logging(console, state.verbose)
    plan = plan_sweep(
        config,
        grid,
        metric=metric,
        strict_plugins=strict_plugins,
        entry_points=state.entry_points,
        builtins=state.builtins,
    )
    try:
        runner = make_backend(backend, address=address, workers=workers)
        folder = SweepFolder(
            out_dir or default_sweep_dir(config),
            plan,
            resume=resume,
            overwrite=overwrite,
        )
        setup, bars = load_bars(plan, data_dir)
    except (SweepError, SessionSetupError, DataSourceError, BarValidationError) as exc:
        console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    view = SweepConsole(console, plan, terminal=console.is_terminal)
    resumed = len(folder.finished())
    view.start(runner.describe(), len(plan.sets) - resumed, resumed)
    try:
        outcome = run_sweep(plan, setup, bars, runner, folder, on_result=view.update)
    finally:
        view.close()
    view.summary(outcome, top)
    sys.exit(outcome.exit_code)


if __name__ == "__main__":
    main()
