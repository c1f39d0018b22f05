"""The report's plotly figures, each with a caption that says what it shows.

Times are drawn on date axes as milliseconds since the epoch (UTC); every series
longer than :data:`~stratagem._report.downsample.MAX_POINTS` is thinned by
:func:`~stratagem._report.downsample.min_max_thin`, and the figure says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratagem._execution.portfolio import drawdown_pct
from stratagem._report.downsample import Thinned, min_max_thin
from stratagem._report.prices import Prices, PriceSeries
from stratagem._report.run_folder import Table

SIDE_COLORS = {"buy": "#2ca02c", "sell": "#d62728"}
#: one colour per book or strategy, in order (plotly's default sequence)
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#2ca02c",
    "#d62728",
)
#: the look of every figure (a small template: plotly's own are slow to apply)
TEMPLATE = go.layout.Template(
    layout={
        "colorway": COLORS,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"color": "#2a3f5f"},
        "title": {"x": 0.02, "xanchor": "left"},
        "xaxis": {"gridcolor": "#ebf0f8", "linecolor": "#c8d4e3", "zeroline": False},
        "yaxis": {
            "gridcolor": "#ebf0f8",
            "linecolor": "#c8d4e3",
            "zerolinecolor": "#c8d4e3",
        },
        "hoverlabel": {"align": "left"},
    }
)
_MARGIN = {"l": 60, "r": 20, "t": 70, "b": 40}
_DATE_HOVER = "%Y-%m-%d %H:%M:%S"

#: the timing histograms a strategy's metrics carry: key, what each measures, and
#: what it counts
TIMINGS = (
    ("hist_ms", "time per notification (each on_bars call)", "calls"),
    (
        "wait_hist_ms",
        "inbox wait (step sent to the strategy thread picking it up)",
        "steps",
    ),
    (
        "signal_latency_hist_ms",
        "signal latency (step sent to signal emitted)",
        "signals",
    ),
)


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure for the page.

    :param key: a short name, unique within a run (part of the element id).
    :param figure: the plotly figure.
    :param height: its height in pixels.
    :param caption: what it shows and how it was made, for the page.
    """

    key: str
    figure: go.Figure
    height: int
    caption: str = ""


def price_figure(
    symbol: str,
    prices: Prices,
    signals: Table,
    fills: Table | None,
    added: tuple[int, str] | None = None,
) -> Figure | None:
    """Closes of ``symbol`` at each interval found (a dropdown picks one), the
    signals on the bars they were computed on, and the fills.

    :param symbol: the symbol.
    :param prices: the run's prices.
    :param signals: the run's signals.
    :param fills: the run's fills, or None.
    :param added: when the symbol joined the session mid-run and what added it
        (marked by a vertical line); None for a symbol there from the start.
    :returns: None when there is nothing to draw for ``symbol``.
    """
    mine = signals.where(signals["symbol"] == symbol)
    own_fills = None if fills is None else fills.where(fills["symbol"] == symbol)
    intervals = [i for i in prices.intervals() if (symbol, i) in prices.series]
    if not intervals and not (own_fills is not None and len(own_fills)):
        return None
    fig = go.Figure()
    groups: list[list[int]] = []
    titles: list[str] = []
    for interval in intervals:
        series = prices.series[(symbol, interval)]
        first = len(fig.data)
        thin = _add_closes(fig, series, interval)
        _add_signals(fig, mine.where(mine["interval"] == interval), series, interval)
        groups.append(list(range(first, len(fig.data))))
        titles.append(
            f"{symbol}: {interval} closes"
            + (f" <sup>({thin.describe()})</sup>" if thin.thinned else "")
        )
    shared = len(fig.data)
    if own_fills is not None:
        _add_fills(fig, own_fills)
    always = list(range(shared, len(fig.data)))
    counts = [int(np.sum(mine["interval"] == i)) for i in intervals]
    active = int(np.argmax(counts)) if counts else 0
    masks = [_visible(len(fig.data), group + always) for group in groups]
    if masks:
        for trace, visible in zip(fig.data, masks[active], strict=True):
            trace.visible = visible
    fig.update_layout(
        template=TEMPLATE,
        title={"text": titles[active] if titles else f"{symbol}: fills (no prices)"},
        margin=_MARGIN,
        hovermode="closest",
        legend={"orientation": "h", "y": -0.12},
        xaxis={"type": "date", "hoverformat": _DATE_HOVER},
        yaxis={"title": {"text": "price"}, "exponentformat": "none"},
    )
    if len(intervals) > 1:
        fig.update_layout(
            updatemenus=[
                {
                    "type": "dropdown",
                    "active": active,
                    "x": 1.0,
                    "xanchor": "right",
                    "y": 1.15,
                    "yanchor": "bottom",
                    "buttons": [
                        {
                            "label": interval,
                            "method": "update",
                            "args": [{"visible": mask}, {"title.text": title}],
                        }
                        for interval, mask, title in zip(
                            intervals, masks, titles, strict=True
                        )
                    ],
                }
            ]
        )
    if added is not None:
        fig.add_vline(
            x=float(_ms(np.array([added[0]]))[0]),
            line={"dash": "dash", "color": "#888", "width": 1},
            annotation_text=f"added by {added[1]}",
            annotation_position="top left",
        )
    unplaced = len(mine) - int(np.isin(mine["interval"], intervals).sum())
    caption = _signals_caption(mine, intervals, unplaced)
    return Figure(f"price-{symbol}", fig, 440, caption)


def _add_closes(fig: go.Figure, series: PriceSeries, interval: str) -> Thinned:
    thin = min_max_thin(series.close)
    fig.add_trace(
        go.Scatter(
            x=_ms(series.ts[thin.index]),
            y=series.close[thin.index],
            mode="lines",
            name=f"{interval} close",
            line={"width": 1.2, "color": COLORS[0]},
            hovertemplate="%{x|" + _DATE_HOVER + "} close %{y}<extra></extra>",
        )
    )
    return thin


def _add_signals(
    fig: go.Figure, signals: Table, series: PriceSeries, interval: str
) -> None:
    for side, marker in (("buy", "triangle-up"), ("sell", "triangle-down")):
        chosen = signals.where(signals["side"] == side)
        if not len(chosen):
            continue
        reasons = chosen.columns.get("reason", np.full(len(chosen), "", object))
        fig.add_trace(
            go.Scatter(
                x=_ms(chosen["ts"]),
                y=series.close_at(chosen["ts"]),
                mode="markers",
                name=f"{interval} {side} signals",
                marker={"symbol": marker, "size": 10, "color": SIDE_COLORS[side]},
                customdata=np.stack([chosen["strategy"], reasons], axis=-1),
                hovertemplate=(
                    f"%{{customdata[0]}}: {side} on the bar opening "
                    "%{x|" + _DATE_HOVER + "}<br>%{customdata[1]}<extra></extra>"
                ),
            )
        )


def _add_fills(fig: go.Figure, fills: Table) -> None:
    for side in ("buy", "sell"):
        chosen = fills.where(fills["side"] == side)
        if not len(chosen):
            continue
        fig.add_trace(
            go.Scatter(
                x=_ms(chosen["ts"]),
                y=chosen["price"],
                mode="markers",
                name=f"{side} fills",
                marker={
                    "symbol": "circle-open",
                    "size": 9,
                    "line": {"width": 2},
                    "color": SIDE_COLORS[side],
                },
                customdata=np.stack(
                    [chosen["book"], chosen["qty"], chosen["fee"]], axis=-1
                ),
                hovertemplate=(
                    f"book %{{customdata[0]}}: {side} %{{customdata[1]:.6g}} at "
                    "%{y} (fee %{customdata[2]:.4g})<br>%{x|"
                    + _DATE_HOVER
                    + "}<extra></extra>"
                ),
            )
        )


def _signals_caption(signals: Table, intervals: Sequence[str], unplaced: int) -> str:
    text = (
        f"{len(signals):,} signals, each drawn at the close of the bar it was "
        "computed on; fills at their price"
    )
    if len(intervals) > 1:
        text += "; the menu picks the interval (signals of that interval are shown)"
    if unplaced:
        missing = sorted(set(signals["interval"].tolist()) - set(intervals))
        text += (
            f". {unplaced:,} signals at {', '.join(missing)} are not drawn: "
            "no prices at that interval"
        )
    return text


def equity_figure(
    equity: Table, books: Sequence[str], end_ns: int | None
) -> Figure | None:
    """Equity per book and its drawdown from the running peak.

    :param equity: the run's equity rows (one per book at each change).
    :param books: the books, in the run's order.
    :param end_ns: the session's end: each curve is drawn on to it (a book's equity
        does not change after its last row).
    :returns: None when there are no equity rows.
    """
    if not len(equity):
        return None
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.08,
        subplot_titles=("equity", "drawdown from the running peak (%)"),
    )
    notes = []
    for number, book in enumerate(books):
        rows = equity.where(equity["book"] == book)
        if not len(rows):
            continue
        ts, values = rows["ts"], rows["equity"]
        if end_ns is not None and end_ns > ts[-1]:
            ts, values = np.append(ts, end_ns), np.append(values, values[-1])
        color = COLORS[number % len(COLORS)]
        for row, series in ((1, values), (2, -drawdown_pct(values))):
            thin = min_max_thin(series)
            if thin.thinned and row == 1:
                notes.append(f"{book}: {thin.describe()}")
            fig.add_trace(
                go.Scatter(
                    x=_ms(ts[thin.index]),
                    y=series[thin.index],
                    mode="lines",
                    name=book,
                    legendgroup=book,
                    showlegend=row == 1,
                    line={"color": color, "width": 1.5, "shape": "hv"},
                    fill="tozeroy" if row == 2 else None,
                    hovertemplate=f"{book} %{{y:.6g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": "equity and drawdown per book"},
        margin=_MARGIN,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.1},
    )
    fig.update_xaxes(type="date", hoverformat=_DATE_HOVER)
    caption = (
        "equity = cash plus positions marked to the last 1m close, at the first step "
        "and at every step where it changed; drawdown = fall from the running peak"
    )
    if notes:
        caption += "; " + "; ".join(notes)
    return Figure("equity", fig, 560, caption)


def timing_figure(strategies: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """Per strategy, the share of its timings in each duration bucket: one panel per
    timing the metrics carry a histogram of.

    :param strategies: ``metrics.json``'s ``strategies``.
    :returns: None when no strategy carries a histogram.
    """
    panels = [
        (key, title, unit)
        for key, title, unit in TIMINGS
        if any(_histogram(snap, key) for snap in strategies.values())
    ]
    if not panels:
        return None
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        vertical_spacing=0.22 / len(panels),
        subplot_titles=[title for _, title, _ in panels],
    )
    for row, (key, _, unit) in enumerate(panels, start=1):
        bucket_range = _bucket_range(strategies, key)
        labels = [_duration_label(k) for k in bucket_range]
        for number, (strategy, snap) in enumerate(strategies.items()):
            histogram = _histogram(snap, key)
            if histogram is None:
                continue
            first, counts = histogram
            full = np.zeros(len(bucket_range), dtype=np.int64)
            offset = first - bucket_range[0]
            full[offset : offset + len(counts)] = counts
            ranges = [
                f"{_duration_label(k)} to {_duration_label(k + 1)}"
                for k in bucket_range
            ]
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=full / max(int(full.sum()), 1) * 100.0,
                    name=strategy,
                    legendgroup=strategy,
                    showlegend=row == 1,
                    marker={"color": COLORS[number % len(COLORS)]},
                    customdata=np.stack([full, ranges], axis=-1),
                    hovertemplate=(
                        f"{strategy}: %{{customdata[0]}} in %{{customdata[1]}} "
                        "(%{y:.1f}%)<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        fig.update_xaxes(
            type="category", categoryorder="array", categoryarray=labels, row=row
        )
        fig.update_yaxes(title={"text": f"% of {unit}"}, row=row, col=1)
    fig.update_layout(
        template=TEMPLATE,
        title={"text": "timing histograms per strategy"},
        barmode="group",
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.08},
    )
    caption = (
        "every timing of the run counted in buckets two per doubling of the duration "
        "(each label is a bucket's lower bound); bars are the share of the "
        "strategy's timings in each bucket, the count is in the hover"
    )
    return Figure("timing", fig, 150 + 260 * len(panels), caption)


def percentile_figure(strategies: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """avg/p50/p99/max time per notification per strategy, for a run whose metrics
    carry no histogram.

    :param strategies: ``metrics.json``'s ``strategies``.
    :returns: None when no strategy has these numbers.
    """
    stats = ("avg_ms", "p50_ms", "p99_ms", "max_ms")
    present = {
        s: snap for s, snap in strategies.items() if all(k in snap for k in stats)
    }
    if not present:
        return None
    fig = go.Figure()
    for number, (strategy, snap) in enumerate(present.items()):
        fig.add_trace(
            go.Bar(
                x=[k.removesuffix("_ms") for k in stats],
                y=[float(snap[k]) for k in stats],
                name=strategy,
                marker={"color": COLORS[number % len(COLORS)]},
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": "time per notification per strategy (ms)"},
        barmode="group",
        margin=_MARGIN,
        yaxis={"type": "log", "title": {"text": "ms"}},
    )
    caption = (
        "this run's metrics carry no timing histogram (written by an earlier "
        "stratagem): the summary statistics it has"
    )
    return Figure("timing", fig, 380, caption)


def queue_figure(
    snapshots: Sequence[Mapping[str, Any]], final: Mapping[str, Any]
) -> Figure | None:
    """Each strategy's inbox depth at each metrics report, and its peak so far.

    :param snapshots: the run's metrics reports in order (``metrics.jsonl``).
    :param final: ``metrics.json``, used alone when there are no reports.
    :returns: None when no report carries a queue depth.
    """
    reports = list(snapshots) or [final]
    strategies: list[str] = []
    for report in reports:
        for strategy in report.get("strategies", {}):
            if strategy not in strategies:
                strategies.append(strategy)
    fig = go.Figure()
    for number, strategy in enumerate(strategies):
        points = [
            (
                float(r.get("system", {}).get("wall_s", math.nan)),
                r["strategies"][strategy],
                str(r.get("system", {}).get("session_time") or ""),
            )
            for r in reports
            if "queue_size" in r.get("strategies", {}).get(strategy, {})
        ]
        if not points:
            continue
        wall = [p[0] for p in points]
        color = COLORS[number % len(COLORS)]
        for key, dash, label in (
            ("queue_size", None, ""),
            ("queue_max", "dot", "peak"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=wall,
                    y=[p[1].get(key, 0) for p in points],
                    customdata=[p[2] for p in points],
                    mode="lines+markers",
                    name=f"{strategy} {label}".strip(),
                    legendgroup=strategy,
                    line={"color": color, "dash": dash},
                    marker={"size": 7},
                    hovertemplate=(
                        f"{strategy} {key} %{{y}} at %{{x:.2f}} s "
                        "(session time %{customdata})<extra></extra>"
                    ),
                )
            )
    if not fig.data:
        return None
    fig.update_layout(
        template=TEMPLATE,
        title={"text": "inbox depth per strategy over the run"},
        margin=_MARGIN,
        xaxis={
            "title": {"text": "wall seconds since the session started"},
            "rangemode": "tozero",
        },
        yaxis={"title": {"text": "queued steps"}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
    )
    periodic = sum(1 for r in snapshots if not r.get("final"))
    if snapshots:
        caption = (
            f"{len(snapshots)} metrics reports from metrics.jsonl ({periodic} "
            "periodic, every metrics_interval_s of wall time, and the final one): "
            "solid, the depth of each strategy's inbox at the report; dotted, its "
            "peak so far"
        )
    else:
        caption = (
            "no metrics.jsonl in this run (the json reporter was off): the final "
            "metrics only"
        )
    if (final.get("system") or {}).get("mode") == "data-driven":
        caption += (
            ". In a data-driven run each step waits for every strategy it "
            "notifies, so inboxes do not build up"
        )
    return Figure("queue", fig, 380, caption)


def _histogram(snap: Mapping[str, Any], key: str) -> tuple[int, list[int]] | None:
    """``(first bucket, counts)`` of a snapshot's histogram, None when absent/empty."""
    body = snap.get(key)
    if not isinstance(body, Mapping):
        return None
    edges, counts = body.get("edges") or [], body.get("counts") or []
    if not counts or len(edges) != len(counts) + 1 or not edges[0] > 0:
        return None
    return round(2 * math.log2(edges[0] * 1e6)), [int(c) for c in counts]


def _bucket_range(strategies: Mapping[str, Mapping[str, Any]], key: str) -> range:
    spans = []
    for snap in strategies.values():
        histogram = _histogram(snap, key)
        if histogram is not None:
            spans.append((histogram[0], histogram[0] + len(histogram[1])))
    return range(min(s for s, _ in spans), max(e for _, e in spans))


def _duration_label(bucket: int) -> str:
    """The lower bound of histogram bucket ``bucket`` (``2**(bucket/2)`` ns)."""
    ns = 2 ** (bucket / 2)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _visible(total: int, shown: Sequence[int]) -> list[bool]:
    chosen = set(shown)
    return [i in chosen for i in range(total)]


def _ms(ts_ns: np.ndarray) -> np.ndarray:
    """Epoch nanoseconds as the epoch milliseconds a plotly date axis reads."""
    return np.asarray(ts_ns, dtype=np.int64) / 1e6
