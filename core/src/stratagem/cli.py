"""The ``stratagem`` command line.

``plugins``, ``validate`` and ``schema`` live here; commands written in other modules
(``run``) are attached lazily through :data:`EXTERNAL_COMMANDS`. Errors a user can fix
(config problems, strict plugin failures) exit 2 with every problem listed; anything
else exits 1 with one line, and with its traceback under ``-v``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, TypeVar

import click

from stratagem import __version__
from stratagem._config_loading import (
    ConfigError,
    LoadedSession,
    load_session,
    session_json_schema,
)
from stratagem._loader import (
    DISABLE_AUTOLOAD_ENV,
    PluginCatalogue,
    PluginLoadError,
    PluginRecord,
    PluginStatus,
    autoload_disabled,
    describe_failure,
    load_plugins,
)

EXIT_USAGE = 2

#: Commands defined outside this module, ``name -> "module:attribute"`` of a
#: :class:`click.Command`. :func:`_register_commands` attaches them to :func:`main`;
#: each is imported only when it is invoked or listed by ``--help``, so ``stratagem
#: plugins`` never pays for (or breaks on) the runtime's imports.
EXTERNAL_COMMANDS: dict[str, str] = {"run": "stratagem.session.run_command:run"}

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
        return load_plugins(
            entry_points=self.entry_points, builtins=self.builtins, strict=strict
        )

    def load_session(self, path: Path, *, strict_plugins: bool) -> LoadedSession:
        """Validate a session file, loading only the plugins it names.

        :param path: the session config file.
        :param strict_plugins: make any plugin failure fatal.
        """
        return load_session(
            path,
            strict_plugins=strict_plugins,
            entry_points=self.entry_points,
            builtins=self.builtins,
        )


class StratagemGroup(click.Group):
    """A group that turns expected errors into exit codes and resolves lazy commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str) -> None:
        """Attach the command at ``target`` (``"module:attribute"``) as ``name``.

        :param name: the command name.
        :param target: where the :class:`click.Command` object lives.
        """
        self.lazy_commands[name] = target

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        target = self.lazy_commands[cmd_name]
        module_name, _, attribute = target.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(found, click.Command):
                raise TypeError(f"{target} is {found!r}, not a click command")
        except Exception as exc:
            return _unavailable(cmd_name, target, exc)
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ConfigError as exc:
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            count = len(exc.issues)
            click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
            ctx.exit(EXIT_USAGE)
        except PluginLoadError as exc:
            click.echo(f"error: {exc}", err=True)
            if _state(ctx).verbose:
                _echo_tracebacks(exc.failures)
            ctx.exit(EXIT_USAGE)
        except Exception as exc:
            if _state(ctx).verbose:
                click.echo(traceback.format_exc(), err=True, nl=False)
            else:
                click.echo(
                    f"error: {type(exc).__name__}: {exc} (run with -v for the "
                    "traceback)",
                    err=True,
                )
            ctx.exit(1)


def _unavailable(name: str, target: str, exc: Exception) -> click.Command:
    reason = f"{type(exc).__name__}: {exc}"

    def fail() -> None:
        raise click.ClickException(f"command {name!r} ({target}) cannot load: {reason}")

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
@click.version_option(__version__, "--version", prog_name="stratagem")
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
    styles = {
        str(PluginStatus.OK): "green",
        str(PluginStatus.LOAD_FAILED): "red",
        str(PluginStatus.DUPLICATE): "yellow",
    }
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
    failures = [r for r in records if r.status is not PluginStatus.OK]
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
    "--strict-plugins", is_flag=True, help="Fail when any plugin fails to load."
)
@verbose_option
@pass_state
def validate(state: CliState, config: Path, strict_plugins: bool) -> None:
    """Check a session config: exit 0 when valid, 2 with every problem otherwise.

    Only the plugins the config refers to are imported.
    """
    loaded = state.load_session(config, strict_plugins=strict_plugins)
    for record in loaded.plugins.failures:
        click.echo(f"warning: {describe_failure(record)}", err=True)
    session = loaded.config.session_data_config
    ids = ", ".join(item.id for item in loaded.strategies) or "none"
    mode = (
        "data-driven"
        if session.speed_multiplier == 0
        else f"clock-driven x{session.speed_multiplier:g}"
    )
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
    click.echo(json.dumps(session_json_schema(), indent=2))


# --- commands defined in other modules ---------------------------------------------


def _register_commands() -> None:
    """Attach :data:`EXTERNAL_COMMANDS` to :func:`main`, resolved when first used."""
    group = main
    assert isinstance(group, StratagemGroup)
    for name, target in EXTERNAL_COMMANDS.items():
        group.add_lazy_command(name, target)


_register_commands()

if __name__ == "__main__":
    # ``python -m stratagem.cli`` runs this file as ``__main__``, a second copy of the
    # module; commands defined elsewhere import ``stratagem.cli`` and must share its
    # CliState class, so run that copy's group.
    from stratagem.cli import main as stratagem_main

    stratagem_main()
