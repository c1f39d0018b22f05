"""The report page: one HTML file holding plotly.js and every figure of one run
folder, or of two side by side, so it opens anywhere without a network."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratagem._data.timefmt import parse_ts
from stratagem._report.figures import (
    Figure,
    equity_figure,
    percentile_figure,
    price_figure,
    queue_figure,
    timing_figure,
)
from stratagem._report.prices import Prices, load_prices
from stratagem._report.run_folder import (
    ReportInputError,
    RunFolder,
    check_run_folder,
    read_run_folder,
)

#: plotly's options for every figure: no link out of the page, resize with it
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1em; }
h1 { font-size: 1.5em; margin: 0.6em 0 0.2em; }
h2 { font-size: 1.25em; margin: 0.4em 0; word-break: break-all; }
h3 { font-size: 1.05em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #eee; }
.runs { display: grid; gap: 2em; }
.run { min-width: 0; }
.status { padding: 0.1em 0.5em; border-radius: 0.3em; color: #fff; }
.status-ok { background: #2ca02c; }
.status-degraded, .status-interrupted { background: #d18f00; }
.status-failed { background: #d62728; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; }
dl.summary dt { color: #666; }
dl.summary dd { margin: 0; word-break: break-all; }
figure.plot { margin: 0.5em 0 1.2em; }
figcaption, .origin { color: #555; font-size: 0.9em; }
ul.notes { color: #9a5b00; font-size: 0.9em; }
.table { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child, table.kv td { text-align: left; }
pre { background: #f7f7f7; padding: 0.8em; overflow: auto; max-height: 40em; }
"""


def write_report(run_dirs: Sequence[Path], output: Path) -> Path:
    """Write the report of one or two run folders to ``output``.

    :param run_dirs: the run folders, shown side by side in this order.
    :param output: the HTML file to write (replaced atomically).
    :returns: ``output``.
    :raises ReportInputError: when a folder is not a run folder (every such folder
        listed) or one of its files cannot be read.
    """
    problems = []
    for folder in run_dirs:
        try:
            check_run_folder(Path(folder))
        except ReportInputError as exc:
            problems.append(str(exc))
    if problems:
        raise ReportInputError("\n".join(problems))
    runs = [read_run_folder(Path(folder)) for folder in run_dirs]
    text = render_report(runs)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)
    return output


def render_report(runs: Sequence[RunFolder]) -> str:
    """The page of ``runs`` (one, or two side by side).

    :param runs: the run folders, read.
    """
    import plotly
    from plotly.offline import get_plotlyjs

    from stratagem import __version__

    names = " vs ".join(run.path.name or str(run.path) for run in runs)
    sections = "\n".join(
        _run_section(run, number) for number, run in enumerate(runs, start=1)
    )
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    bundle = get_plotlyjs()
    # the bundle's own banner names its version ("plotly.js v4.1.1")
    found = re.search(r"plotly\.js v(\S+)", bundle[:200])
    plotly_js = f"plotly.js {found.group(1) if found else ''}".strip()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stratagem report: {_e(names)}</title>
<style>{_STYLE}</style>
<script type="text/javascript">{bundle}</script>
</head>
<body>
<header>
<h1>stratagem report: {_e(names)}</h1>
<p class="origin">Written {written} by stratagem {_e(__version__)}. {_e(plotly_js)}
(from plotly {_e(plotly.__version__)}) is inside this file: it opens without a
network.</p>
</header>
<main class="runs" style="grid-template-columns: repeat({len(runs)}, minmax(0, 1fr))">
{sections}
</main>
</body>
</html>
"""


def _run_section(run: RunFolder, number: int) -> str:
    prices = load_prices(run)
    manifest = run.manifest
    status = str(manifest.get("status", "unknown"))
    parts = [
        f'<section class="run" id="run{number}">',
        f"<h2>{_e(str(run.path))} "
        f'<span class="status status-{_e(status)}">{_e(status)}</span></h2>',
        _summary(run),
        _notes(run.notes),
        "<h3>Price, signals and fills</h3>",
        f'<p class="origin">Prices: {_e(prices.origin)}.</p>',
        _notes(prices.notes),
        *_price_figures(run, prices, number),
        "<h3>Equity and drawdown</h3>",
        _equity(run, number),
        "<h3>Timing per strategy</h3>",
        _timing(run, number),
        "<h3>Queue depth over time</h3>",
        _queue(run, number),
        "<h3>Metrics</h3>",
        _metrics_tables(run),
        "<h3>Manifest</h3>",
        _manifest(manifest),
        "</section>",
    ]
    return "\n".join(part for part in parts if part)


def _summary(run: RunFolder) -> str:
    manifest = run.manifest
    session = manifest.get("session") or {}
    config = manifest.get("config") or {}
    mode = str(manifest.get("mode", ""))
    if manifest.get("speed_multiplier"):
        mode += f" x{manifest['speed_multiplier']:g}"
    added = ", ".join(
        f"{a.get('symbol')} at {a.get('time')}"
        for a in session.get("symbols_added") or []
        if isinstance(a, Mapping)
    )
    rows = [
        ("status", f"{manifest.get('status')}" + _suffix(manifest.get("reason"))),
        ("mode", mode),
        (
            "session",
            f"{session.get('start')} to {session.get('end')}, "
            f"{session.get('steps', 0):,} steps",
        ),
        ("symbols", ", ".join(session.get("symbols") or [])),
        ("symbols added", added),
        ("signals", f"{len(run.signals):,}"),
        (
            "config",
            f"{config.get('path')} (sha256 {str(config.get('sha256'))[:16]}...)"
            if config
            else "",
        ),
        (
            "written",
            f"{manifest.get('created')} by stratagem {manifest.get('stratagem')}, "
            f"Python {manifest.get('python')}",
        ),
        ("failures", str(len(manifest.get("failures") or []))),
    ]
    items = "".join(
        f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows if value
    )
    return f'<dl class="summary">{items}</dl>'


def _price_figures(run: RunFolder, prices: Prices, number: int) -> list[str]:
    session = run.manifest.get("session") or {}
    symbols = list(session.get("symbols") or [])
    added = {
        str(item.get("symbol")): (parse_ts(item["time"]), str(item.get("by", "?")))
        for item in session.get("symbols_added") or []
        if isinstance(item, Mapping) and isinstance(item.get("time"), str)
    }
    found = {symbol for symbol, _ in prices.series}
    found |= set(run.signals["symbol"].tolist()) if len(run.signals) else set()
    if run.fills is not None and len(run.fills):
        found |= set(run.fills["symbol"].tolist())
    symbols += sorted(found - set(symbols))
    parts = []
    empty = []
    for symbol in symbols:
        figure = price_figure(symbol, prices, run.signals, run.fills, added.get(symbol))
        if figure is None:
            empty.append(symbol)
        else:
            parts.append(_figure(figure, number))
    if empty:
        parts.append(
            f'<p class="origin">Nothing to draw (no prices, no fills) for '
            f"{_e(', '.join(empty))}.</p>"
        )
    return parts


def _equity(run: RunFolder, number: int) -> str:
    if run.equity is None:
        return (
            '<p class="origin">No execution in this run (no fills.csv or '
            "equity.csv): the session has no <code>execution</code> block.</p>"
        )
    books = list(((run.portfolio or {}).get("books") or {}).keys())
    books += sorted(set(run.equity["book"].tolist()) - set(books))
    end = (run.manifest.get("session") or {}).get("end")
    figure = equity_figure(run.equity, books, parse_ts(end) if end else None)
    if figure is None:
        return '<p class="origin">The equity table is empty.</p>'
    return _figure(figure, number)


def _timing(run: RunFolder, number: int) -> str:
    strategies = run.metrics.get("strategies") or {}
    figure = timing_figure(strategies) or percentile_figure(strategies)
    if figure is None:
        return '<p class="origin">No strategy timings in metrics.json.</p>'
    return _figure(figure, number)


def _queue(run: RunFolder, number: int) -> str:
    figure = queue_figure(run.snapshots, run.metrics)
    if figure is None:
        return '<p class="origin">No queue depth in the metrics.</p>'
    return _figure(figure, number)


def _figure(figure: Figure, number: int) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]+", "-", figure.key)
    body = figure.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"run{number}-{key}",
        config=PLOT_CONFIG,
        default_width="100%",
        default_height=f"{figure.height}px",
    )
    caption = (
        f"<figcaption>{_e(figure.caption)}.</figcaption>" if figure.caption else ""
    )
    return f'<figure class="plot">{body}{caption}</figure>'


def _metrics_tables(run: RunFolder) -> str:
    system = run.metrics.get("system") or {}
    strategies = run.metrics.get("strategies") or {}
    bottleneck = system.get("bottleneck")
    parts = [
        "<h4>Session</h4>",
        _table(("", "value"), [(k, _cell(v)) for k, v in system.items()], "kv"),
    ]
    if strategies:
        headers = [f"{s} (bottleneck)" if s == bottleneck else s for s in strategies]
        parts += [
            "<h4>Strategies</h4>",
            _transposed(headers, list(strategies.values())),
        ]
    books = (run.portfolio or {}).get("books") or {}
    if books:
        parts += [
            "<h4>Books</h4>",
            _transposed(list(books), list(books.values())),
            f'<p class="origin">{_e(str(run.portfolio.get("annualisation", "")))}</p>'
            if run.portfolio
            else "",
        ]
    return "\n".join(parts)


def _transposed(headers: Sequence[str], columns: Sequence[Mapping[str, Any]]) -> str:
    """One column per item, one row per scalar field (lists and maps left out)."""
    fields: list[str] = []
    for column in columns:
        for name, value in column.items():
            if name not in fields and not isinstance(value, (Mapping, list)):
                fields.append(name)
    rows = [(name, *(_cell(c.get(name, "")) for c in columns)) for name in fields]
    return _table(("", *headers), rows)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], kind: str = ""
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    table = f'<table class="{kind}">' if kind else "<table>"
    return f'<div class="table">{table}<tr>{head}</tr>{body}</table></div>'


def _manifest(manifest: Mapping[str, Any]) -> str:
    plugins = [
        (str(p.get("name")), str(p.get("dist")), str(p.get("version")))
        for p in manifest.get("plugins") or []
        if isinstance(p, Mapping)
    ]
    data = manifest.get("data") or {}
    files = []
    for entry in data.get("files") or []:
        if not isinstance(entry, Mapping):
            continue
        report = entry.get("validation") or {}
        files.append(
            (
                str(entry.get("path")),
                str(entry.get("sha256")),
                _cell(report.get("rows_in", "")),
                _cell(report.get("dropped", "")),
            )
        )
    failures = [json.dumps(f, default=str) for f in manifest.get("failures") or []]
    parts = []
    if plugins:
        parts += [
            "<h4>Plugins</h4>",
            _table(("plugin", "distribution", "version"), plugins),
        ]
    if files:
        parts += [
            f"<h4>Data files ({_e(str(data.get('source')))}, validation "
            f"{_e(str(data.get('validation')))})</h4>",
            _table(("file", "sha256", "rows", "dropped"), files),
        ]
    if failures:
        parts += [
            "<h4>Failures</h4>",
            "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in failures) + "</ul>",
        ]
    parts.append(
        "<details><summary>manifest.json</summary><pre>"
        + _e(json.dumps(manifest, indent=2, default=str))
        + "</pre></details>"
    )
    return "\n".join(parts)


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, list) and all(
        not isinstance(v, (Mapping, list)) for v in value
    ):
        return ", ".join(str(v) for v in value)
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, default=str)
    return str(value)


def _suffix(reason: Any) -> str:
    return f" ({reason})" if reason else ""


def _e(text: str) -> str:
    return html.escape(text, quote=True)
