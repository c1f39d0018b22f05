"""Checking a sweep before any task starts: the config, the grid against it, and
every parameter set as its session would validate it; every problem at once.

A problem is a :class:`~stratagem._config.loading.ConfigIssue`, as for ``stratagem
validate``: a malformed ``--grid``, an unknown strategy id or parameter (with a
did-you-mean), a value the strategy's config rejects (with its JSON path and the
parameter sets it occurs in), a ranking metric the config cannot give.
"""

from __future__ import annotations

import difflib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from stratagem._config.loading import (
    ConfigError,
    ConfigIssue,
    LoadedSession,
    json_path,
    load_session,
    load_session_document,
)
from stratagem._sweep.grid import (
    GridAxis,
    GridError,
    ParameterSet,
    parameter_sets,
    parse_grid,
)
from stratagem._sweep.results import METRICS, Metric
from stratagem._sweep.task import SweepSetup, set_document

_STRATEGIES = ("session_data_config", "strategies")
#: parameter sets named in one problem's message before "and N more"
_SETS_SHOWN = 3


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: what to run, not yet run.

    :param loaded: the config as given (no parameter set applied).
    :param axes: the swept parameters.
    :param sets: every parameter set, in grid order.
    :param setup: what each worker gets.
    :param metric: what the best sets are ranked by.
    """

    loaded: LoadedSession
    axes: tuple[GridAxis, ...]
    sets: tuple[ParameterSet, ...]
    setup: SweepSetup
    metric: Metric

    @property
    def executes(self) -> bool:
        """Whether the config turns signals into fills (execution figures)."""
        return self.loaded.config.session_data_config.execution is not None

    @property
    def columns(self) -> list[str]:
        """The swept parameters' result columns, in axis order."""
        return [axis.column for axis in self.axes]


def plan_sweep(
    config: Path,
    grid: Sequence[str],
    *,
    metric: str | None = None,
    strict_plugins: bool = False,
    entry_points: Sequence[EntryPoint] | None = None,
    builtins: bool = True,
) -> SweepPlan:
    """Check a sweep: the config, the grid and every parameter set.

    :param config: the session config file.
    :param grid: the ``--grid`` arguments.
    :param metric: the ranking figure (default ``pnl`` when the config executes,
        ``signals`` otherwise).
    :param strict_plugins: make any plugin that fails to load fatal.
    :param entry_points: entry points to load instead of the installed ones.
    :param builtins: register the built-in plugins.
    :raises ConfigError: listing every problem of the config, the grid and the
        parameter sets.
    """
    issues: list[ConfigIssue] = []
    axes: tuple[GridAxis, ...] = ()
    try:
        axes = parse_grid(grid)
    except GridError as exc:
        issues += [ConfigIssue(f"--grid {arg}", "", msg) for arg, msg in exc.problems]
        axes = exc.axes
    try:
        loaded = load_session(
            config,
            strict_plugins=strict_plugins,
            entry_points=entry_points,
            builtins=builtins,
        )
    except ConfigError as exc:
        raise ConfigError([*exc.issues, *issues]) from None
    executes = loaded.config.session_data_config.execution is not None
    chosen = _metric(metric, executes, str(config), issues)
    valid, entries = _check_axes(loaded, axes, issues)
    document = json.loads(Path(config).read_bytes())
    setup = SweepSetup(
        sweep_id=uuid.uuid4().hex,
        config_path=str(config),
        document=document,
        sha256=loaded.sha256,
        # set once the data is read (see stratagem._sweep.sweep.load_bars)
        data_root=None,
        entries=entries,
        entry_points=None if entry_points is None else tuple(entry_points),
        builtins=builtins,
        sys_path=tuple(sys.path),
    )
    # the sets of the axes that are sound, so that the values they reject are
    # listed in the same pass as the axes that are not
    _check_sets(loaded, setup, parameter_sets(valid), issues)
    if issues:
        raise ConfigError(issues)
    assert chosen is not None
    return SweepPlan(loaded, axes, tuple(parameter_sets(axes)), setup, chosen)


def _metric(
    name: str | None, executes: bool, file: str, issues: list[ConfigIssue]
) -> Metric | None:
    if name is None:
        return METRICS["pnl" if executes else "signals"]
    metric = METRICS.get(name)
    if metric is None:
        hint = difflib.get_close_matches(name, list(METRICS), n=1)
        issues.append(
            ConfigIssue(
                "--metric",
                "",
                f"unknown metric {name!r} (one of {', '.join(METRICS)})",
                hint[0] if hint else None,
            )
        )
        return None
    if metric.needs_execution and not executes:
        issues.append(
            ConfigIssue(
                file,
                "session_data_config",
                f"--metric {name} needs fills, but the config has no 'execution' "
                'block (add one, e.g. {"broker": "paper", "initial_cash": '
                "100000}, or rank by signals)",
            )
        )
    return metric


def _check_axes(
    loaded: LoadedSession, axes: Sequence[GridAxis], issues: list[ConfigIssue]
) -> tuple[list[GridAxis], dict[str, int]]:
    """Each axis names an enabled strategy's id and a field of its config; the
    sound axes, and per swept strategy id its entry's index."""
    file = str(loaded.path)
    by_id = {item.id: item for item in loaded.strategies}
    valid: list[GridAxis] = []
    entries: dict[str, int] = {}
    for axis in axes:
        item = by_id.get(axis.strategy)
        if item is None:
            hint = difflib.get_close_matches(axis.strategy, list(by_id), n=1)
            issues.append(
                ConfigIssue(
                    file,
                    json_path(_STRATEGIES),
                    f"--grid {axis.text}: no enabled strategy has the id "
                    f"{axis.strategy!r} (ids: {', '.join(by_id) or 'none'})",
                    hint[0] if hint else None,
                )
            )
            continue
        fields = _field_names(item.spec.config)
        if axis.param not in fields:
            hint = difflib.get_close_matches(axis.param, fields, n=1)
            issues.append(
                ConfigIssue(
                    file,
                    json_path((*_STRATEGIES, item.index, "config")),
                    f"--grid {axis.text}: strategy {axis.strategy!r} "
                    f"({item.entry.module}) has no parameter {axis.param!r} (its "
                    f"parameters: {', '.join(fields)})",
                    hint[0] if hint else None,
                    f"strategy {item.entry.module} from {item.dist} {item.version}",
                )
            )
            continue
        entries[axis.strategy] = item.index
        valid.append(axis)
    return valid, entries


def _field_names(model: Any) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _check_sets(
    loaded: LoadedSession,
    setup: SweepSetup,
    sets: Sequence[ParameterSet],
    issues: list[ConfigIssue],
) -> None:
    """Validate the config with each set's values in place, as its task will; one
    problem per distinct path and message, naming the sets it occurs in."""
    found: dict[tuple[str, str], tuple[ConfigIssue, list[str]]] = {}
    for parameter_set in sets:
        document = set_document(setup, parameter_set.as_dict())
        try:
            load_session_document(
                document, loaded.path, sha256=loaded.sha256, plugins=loaded.plugins
            )
        except ConfigError as exc:
            for issue in exc.issues:
                key = (issue.path, issue.message)
                found.setdefault(key, (issue, []))[1].append(parameter_set.label)
    for issue, labels in found.values():
        shown = "; ".join(labels[:_SETS_SHOWN])
        more = len(labels) - _SETS_SHOWN
        where = f" (parameter set {shown}" + (f"; and {more} more" if more > 0 else "")
        issues.append(
            ConfigIssue(
                issue.file,
                issue.path,
                issue.message + where + ")",
                issue.suggestion,
                issue.context,
            )
        )
