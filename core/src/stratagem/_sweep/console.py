"""What ``stratagem sweep`` shows: progress while the sets run, then the best sets.

On a terminal, a progress bar (sets done, failed, sets/s, time left) and a table of
the best sets; piped, one plain line per finished set and an aligned plain table.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from stratagem._sweep.plan import SweepPlan
from stratagem._sweep.results import FAILED, best_rows
from stratagem._sweep.sweep import SweepOutcome

_FIGURE_COLUMNS = ("signals", "pnl", "return_pct", "sharpe", "max_drawdown_pct")


class SweepConsole:
    """Progress and summary of one sweep.

    :param console: a rich console on stderr (progress and the closing line).
    :param plan: the checked sweep.
    :param terminal: draw a progress bar and rich tables (else plain lines).
    """

    def __init__(self, console: Any, plan: SweepPlan, *, terminal: bool) -> None:
        self.console = console
        self.plan = plan
        self.terminal = terminal
        self.failed = 0
        self.resumed = 0
        self._wall0 = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def start(self, backend: str, todo: int, resumed: int) -> None:
        """Say what runs where, and start the progress bar.

        :param backend: the backend's description.
        :param todo: sets to run now.
        :param resumed: sets an earlier sweep finished.
        """
        total = len(self.plan.sets)
        again = f" ({resumed} finished earlier)" if resumed else ""
        self.console.print(
            f"sweep: {total} parameter sets{again} on {backend}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        self.resumed = resumed
        self._wall0 = time.perf_counter()
        if not self.terminal or not todo:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("sets"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._bar.add_task(
            "sweep", total=total, completed=resumed, failed="", rate=""
        )
        self._bar.start()

    def update(self, row: Mapping[str, Any], done: int, total: int) -> None:
        """One set finished.

        :param row: its row.
        :param done: sets with a result so far.
        :param total: sets in the grid.
        """
        if row.get("status") == FAILED:
            self.failed += 1
        if self._bar is not None:
            wall = time.perf_counter() - self._wall0
            ran = done - self.resumed
            self._bar.update(
                self._task,
                completed=done,
                failed=f"{self.failed} failed" if self.failed else "",
                rate=f"{ran / wall:.2f} sets/s" if wall > 0 else "",
            )
            if row.get("status") == FAILED:
                self.console.print(
                    f"set {row['set']} failed: {_label(row)}: {row.get('error')}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
            return
        click.echo(f"[{done}/{total}] {_line(row)}", err=True)

    def close(self) -> None:
        """Stop the progress bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def summary(self, outcome: SweepOutcome, top: int) -> None:
        """Print the best sets (stdout), the failed ones, and the closing line.

        :param outcome: the sweep's outcome.
        :param top: how many sets to show.
        """
        metric = self.plan.metric
        best = best_rows(outcome.rows, metric, top)
        columns = ["set", *self.plan.columns, *self._figures()]
        order = "highest" if metric.higher_is_better else "lowest"
        click.echo(
            f"best {len(best)} of {outcome.total} parameter sets by {metric.name} "
            f"({order} first):"
        )
        rows = [
            [_cell({**row, **row["params"]}.get(name)) for name in columns]
            for row in best
        ]
        if self.terminal:
            _rich_table(columns, rows)
        else:
            _plain_table(columns, rows)
        for row in outcome.failed:
            click.echo(f"failed: set {row['set']} {_label(row)}: {row.get('error')}")
        ok = len(outcome.rows) - len(outcome.failed)
        parts = [f"{ok} ok", f"{len(outcome.failed)} failed"]
        missing = outcome.total - len(outcome.rows)
        if missing:
            parts.append(f"{missing} not run")
        if outcome.skipped:
            parts.append(f"{outcome.skipped} resumed")
        style = {"ok": "green", "interrupted": "yellow"}.get(outcome.status, "red")
        reason = f" ({outcome.error})" if outcome.error else ""
        self.console.print(
            f"[{style}]{outcome.status}[/{style}]: {outcome.total} sets "
            f"({', '.join(parts)}); {outcome.ran} ran in {outcome.wall_s:.1f} s "
            f"({outcome.sets_per_s:.2f} sets/s); results in {outcome.out_dir}" + reason,
            highlight=False,
            soft_wrap=True,
        )

    def _figures(self) -> list[str]:
        names = ["signals"]
        if self.plan.executes:
            names += [n for n in _FIGURE_COLUMNS if n != "signals"]
        if self.plan.metric.name not in names:
            names.append(self.plan.metric.name)
        return names


def _label(row: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in row.get("params", {}).items())


def _line(row: Mapping[str, Any]) -> str:
    if row.get("status") == FAILED:
        return f"failed {_label(row)}: {row.get('error')}"
    figures = f"{row.get('signals')} signals"
    if row.get("pnl") is not None:
        figures += f", pnl {row['pnl']:+.6g}"
    return f"ok {_label(row)}: {figures} ({row.get('wall_s', 0.0):.2f} s)"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else "-"
    return str(value)


def _plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    for row in [columns, *rows]:
        click.echo(
            "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )


def _rich_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.table import Table

    from stratagem._console import console

    table = Table()
    for name in columns:
        table.add_column(name, justify="right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console(file=sys.stdout).print(table)
