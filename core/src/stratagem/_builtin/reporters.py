"""Built-in metrics reporters: ``console`` (a rich table) and ``json`` (JSON lines).

Each is a plugin object implementing ``stratagem_report_metrics``; the session calls
them from the reporter side (the main thread), never from a strategy thread.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stratagem import MetricsReport, hookimpl
from stratagem._console import console as pipe_safe_console
from stratagem._runlog import located, logs_json

log = logging.getLogger("stratagem.metrics")

_COLUMNS = (
    ("state", "state", "{}"),
    ("notif", "notifications", "{:,}"),
    ("avg ms", "avg_ms", "{:.4f}"),
    ("p50 ms", "p50_ms", "{:.4f}"),
    ("p99 ms", "p99_ms", "{:.4f}"),
    ("max ms", "max_ms", "{:.3f}"),
    ("queue max", "queue_max", "{:,}"),
    ("overruns", "overruns", "{:,}"),
    ("dropped", "dropped", "{:,}"),
    ("errors", "errors", "{:,}"),
    ("signals", "signals", "{:,}"),
    ("sig lat p99 ms", "signal_latency_p99_ms", "{:.3f}"),
)


def metrics_table(report: MetricsReport) -> Table:
    """The per-strategy metrics as a rich table, the bottleneck marked."""
    system = report.system
    title = (
        f"{system.get('mode')}  bars in {system.get('bars_in', 0):,}  "
        f"{system.get('bars_per_s', 0):,.0f} bars/s  "
        f"wall {system.get('wall_s', 0):.2f}s"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("strategy", no_wrap=True)
    for header, _, _ in _COLUMNS:
        table.add_column(header, justify="right")
    bottleneck = system.get("bottleneck")
    for strategy_id, snap in report.strategies.items():
        name = (
            f"{strategy_id} (bottleneck)" if strategy_id == bottleneck else strategy_id
        )
        table.add_row(name, *(fmt.format(snap.get(key, 0)) for _, key, fmt in _COLUMNS))
    return table


def metrics_lines(report: MetricsReport) -> list[str]:
    """The per-strategy metrics as plain lines under 80 columns, names in full."""
    system = report.system
    bottleneck = system.get("bottleneck")
    lines = [
        f"{system.get('mode')}: {system.get('bars_in', 0):,} bars in, "
        f"{system.get('bars_per_s', 0):,.0f} bars/s, "
        f"wall {system.get('wall_s', 0):.2f}s",
        f"bottleneck: {bottleneck}",
    ]
    for strategy_id, snap in report.strategies.items():
        mark = " (bottleneck)" if strategy_id == bottleneck else ""
        lines += [
            f"{strategy_id}{mark}",
            f"  {snap.get('state')}, {snap.get('notifications', 0):,} notifications, "
            f"{snap.get('signals', 0):,} signals, {snap.get('errors', 0):,} errors",
            f"  ms per notification: avg {snap.get('avg_ms', 0):.4f}, "
            f"p50 {snap.get('p50_ms', 0):.4f}, p99 {snap.get('p99_ms', 0):.4f}, "
            f"max {snap.get('max_ms', 0):.3f}",
            f"  queue max {snap.get('queue_max', 0):,}, overruns "
            f"{snap.get('overruns', 0):,}, dropped {snap.get('dropped', 0):,}, "
            f"signal latency p99 {snap.get('signal_latency_p99_ms', 0):.3f} ms",
        ]
    return lines


class ConsoleReporter:
    """Prints a one-line summary per periodic report and the metrics at the end
    (stderr): a table when it fits the terminal, plain lines otherwise and whenever
    the output is not a terminal. Strategy names are never cut."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console

    @property
    def console(self) -> Console:
        if self._console is not None:
            return self._console
        return pipe_safe_console(file=sys.stderr)

    @hookimpl
    def stratagem_report_metrics(self, report: MetricsReport) -> None:
        if self._console is None and logs_json():
            log_report(report)
            return
        console = self.console
        if report.final:
            table = metrics_table(report)
            natural = console.measure(
                table, options=console.options.update_width(10_000)
            )
            fits = natural.maximum <= console.width
            if console.is_terminal and fits:
                console.print(table)
            else:
                for line in metrics_lines(report):
                    # a terminal wraps at word boundaries; a pipe keeps lines whole
                    console.print(
                        line,
                        highlight=False,
                        markup=False,
                        soft_wrap=not console.is_terminal,
                    )
            return
        system = report.system
        errors = sum(int(s.get("errors", 0)) for s in report.strategies.values())
        console.print(
            f"[dim]{system.get('session_time', '')}[/dim] "
            f"{system.get('bars_in', 0):,} bars in, "
            f"{system.get('bars_per_s', 0):,.0f} bars/s, "
            f"bottleneck {system.get('bottleneck')}, errors {errors}",
            highlight=False,
        )


def log_report(report: MetricsReport) -> None:
    """The console reporter's output as log records, for ``--log-format json``: one
    for the session (its system metrics in ``metrics``) and, at the end, one per
    strategy instance (``strategy`` and its ``metrics``)."""
    system = report.system
    log.info(
        "%s: %s bars in, %s bars/s, bottleneck %s%s",
        system.get("mode"),
        f"{system.get('bars_in', 0):,}",
        f"{system.get('bars_per_s', 0):,.0f}",
        system.get("bottleneck"),
        " (final)" if report.final else "",
        extra=located(metrics=dict(system)),
    )
    if not report.final:
        return
    for strategy_id, snap in report.strategies.items():
        log.info(
            "%s: %s, %s notifications, %s signals, %s errors",
            strategy_id,
            snap.get("state"),
            f"{snap.get('notifications', 0):,}",
            f"{snap.get('signals', 0):,}",
            f"{snap.get('errors', 0):,}",
            extra=located(strategy=strategy_id, metrics=dict(snap)),
        )


class JsonReporter:
    """Writes every report, periodic and final, as one JSON line to
    ``metrics.jsonl`` in the run's output folder (``report.extra["out_dir"]``), so a
    run's metrics can be followed while it runs and plotted afterwards. A new run
    (``report.extra["run_id"]``) into the same folder starts the file afresh."""

    def __init__(self) -> None:
        self._runs: dict[str, object] = {}

    @hookimpl
    def stratagem_report_metrics(self, report: MetricsReport) -> None:
        out_dir = report.extra.get("out_dir")
        if not out_dir:
            return
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        run_id = report.extra.get("run_id")
        mode = "a" if self._runs.get(str(folder)) == run_id else "w"
        self._runs[str(folder)] = run_id
        line = {"final": report.final, **metrics_document(report)}
        with (folder / "metrics.jsonl").open(mode) as stream:
            stream.write(json.dumps(line, default=str) + "\n")


def metrics_document(report: MetricsReport) -> dict[str, Any]:
    """The ``metrics.json`` shape: ``{"system": ..., "strategies": ...}``."""
    return {
        "system": dict(report.system),
        "strategies": {k: dict(v) for k, v in report.strategies.items()},
    }


console = ConsoleReporter()
json_file = JsonReporter()
