"""Shared pieces of the benchmarks: context, figures, targets, session configs."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
FIVE = ("ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC")
NS_PER_MINUTE = 60_000_000_000
QUICK_ROWS = 600


@dataclass
class Context:
    """What every benchmark gets: where the data is, how hard to try, scratch space.

    :param bars_root: folder laid out ``<interval>/<SYMBOL>.csv`` (the real data, or
        in quick mode a copy of the first rows of the five files).
    :param quick: tiny inputs, for a smoke run.
    :param repeat: measurements per figure.
    :param tmp: scratch folder, removed at the end of the run.
    """

    bars_root: Path
    quick: bool
    repeat: int
    tmp: Path

    def tmpdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp))

    def log(self, message: str) -> None:
        print(
            f"[bench {time.strftime('%H:%M:%S')}] {message}",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class Figure:
    """One measured quantity: every sample, summarised as median and min-max."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, value: float) -> None:
        self.samples.append(float(value))

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "n": len(self.samples),
            "samples": self.samples,
            "note": self.note,
        }


@dataclass
class Target:
    """A goal on one figure: ``value op threshold``, e.g. ratio >= 25."""

    name: str
    value: float
    op: str
    threshold: float
    unit: str
    detail: str = ""

    @property
    def met(self) -> bool:
        if self.op == ">=":
            return self.value >= self.threshold
        if self.op == "<=":
            return self.value <= self.threshold
        raise ValueError(f"unknown comparison {self.op!r}")

    @property
    def status(self) -> str:
        return "MET" if self.met else "MISSED"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "unit": self.unit,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class Result:
    """What one benchmark reports."""

    key: str
    title: str
    method: str
    figures: list[Figure] = field(default_factory=list)
    ratios: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    #: bulky records kept in latest.json only (not rendered in the Markdown)
    details: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def figure(self, name: str, unit: str, note: str = "") -> Figure:
        """The figure called ``name``, created on first use (keeps insertion order)."""
        for existing in self.figures:
            if existing.name == name:
                return existing
        created = Figure(name, unit, note=note)
        self.figures.append(created)
        return created

    def ratio(self, name: str, note: str = "") -> Figure:
        for existing in self.ratios:
            if existing.name == name:
                return existing
        created = Figure(name, "x", note=note)
        self.ratios.append(created)
        return created

    def get(self, name: str) -> Figure:
        for existing in (*self.figures, *self.ratios):
            if existing.name == name:
                return existing
        raise KeyError(name)

    @classmethod
    def from_dict(cls, key: str, body: dict[str, Any]) -> Result:
        """Rebuild a result from :meth:`as_dict` (a child process's report)."""

        def figures(items: list[dict[str, Any]]) -> list[Figure]:
            return [
                Figure(f["name"], f["unit"], list(f["samples"]), f.get("note", ""))
                for f in items
            ]

        return cls(
            key=key,
            title=body["title"],
            method=body["method"],
            figures=figures(body["figures"]),
            ratios=figures(body["ratios"]),
            targets=[
                Target(
                    t["name"],
                    t["value"],
                    t["op"],
                    t["threshold"],
                    t["unit"],
                    t["detail"],
                )
                for t in body["targets"]
            ],
            info=body["info"],
            details=body.get("details", {}),
            wall_s=body.get("wall_s", 0.0),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "method": self.method,
            "figures": [f.as_dict() for f in self.figures],
            "ratios": [r.as_dict() for r in self.ratios],
            "targets": [t.as_dict() for t in self.targets],
            "info": self.info,
            "details": self.details,
            "wall_s": self.wall_s,
        }


def fmt(value: float | None) -> str:
    """A figure for a table: thousands separators, about three significant digits."""
    if value is None or value != value:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


# --- data ---------------------------------------------------------------------------


def make_quick_data(source_bars: Path, folder: Path, rows: int = QUICK_ROWS) -> Path:
    """The first ``rows`` bars of each of the five files, laid out as the real data."""
    target = folder / "1m"
    target.mkdir(parents=True, exist_ok=True)
    for symbol in FIVE:
        with (source_bars / "1m" / f"{symbol}.csv").open() as src:
            lines = [line for _, line in zip(range(rows + 1), src, strict=False)]
        (target / f"{symbol}.csv").write_text("".join(lines))
    return folder


def count_rows(bars_root: Path, symbols: Sequence[str] = FIVE) -> int:
    """1m bars in the files (data lines, header excluded)."""
    total = 0
    for symbol in symbols:
        with (bars_root / "1m" / f"{symbol}.csv").open("rb") as handle:
            total += (
                sum(
                    chunk.count(b"\n")
                    for chunk in iter(lambda: handle.read(1 << 20), b"")
                )
                - 1
            )
    return total


def overlap_ns(bars_root: Path, symbols: Sequence[str] = FIVE) -> tuple[int, int]:
    """``(latest first bar, earliest last bar)`` open times over the files, in ns."""
    firsts, lasts = [], []
    for symbol in symbols:
        lines = (bars_root / "1m" / f"{symbol}.csv").read_text().splitlines()
        firsts.append(parse_iso(lines[1].split(",", 1)[0]))
        lasts.append(parse_iso(lines[-1].split(",", 1)[0]))
    return max(firsts), min(lasts)


def parse_iso(text: str) -> int:
    stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 1_000_000_000


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- sessions -----------------------------------------------------------------------


def ma_cross_entry(symbols: Sequence[str] = FIVE, **extra: Any) -> dict[str, Any]:
    """The benchmarked strategy: ma_cross on 5m, fast 10 / slow 20, min_quality 0."""
    return {
        "module": "ma_cross",
        "enabled": True,
        "config": {
            "symbols": list(symbols),
            "interval": "5m",
            "fast_period": 10,
            "slow_period": 20,
            "min_quality": 0.0,
        },
        **extra,
    }


def write_session(
    path: Path,
    bars_root: Path,
    *,
    speed: float = 0.0,
    start_ns: int | None = None,
    end_ns: int | None = None,
    reporters: Sequence[str] | None = (),
    strategies: Sequence[dict[str, Any]] | None = None,
    execution: dict[str, Any] | None = None,
) -> Path:
    """A session config over the five files with derived 5m and 15m bars.

    :param reporters: ``None`` keeps the defaults (console and json), as a user gets.
    :param execution: an ``execution`` block; every strategy then trades
        ``fixed_qty`` 1, ``long_short``.
    """
    session: dict[str, Any] = {
        "symbols": list(FIVE),
        "streams": ["1m"],
        "streaming": {"data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}},
        "data": {"source": "csv", "path": str(bars_root)},
        "speed_multiplier": speed,
        "strategies": list(strategies)
        if strategies is not None
        else [ma_cross_entry()],
    }
    if execution is not None:
        session["execution"] = dict(execution)
        session["strategies"] = [
            {**entry, "execution": {"sizing": {"kind": "fixed_qty", "qty": 1}}}
            for entry in session["strategies"]
        ]
    if start_ns is not None:
        session["start"] = iso(start_ns)
    if end_ns is not None:
        session["end"] = iso(end_ns)
    if reporters is not None:
        session["reporters"] = list(reporters)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"session_data_config": session}, indent=2))
    return path


def run_session(config: Path, out_dir: Path) -> tuple[Any, Any]:
    """``load_session``, ``build_session`` and the run folder's writer, as
    ``stratagem run`` does; returns ``(session, outcome)``."""
    from stratagem import build_session
    from stratagem._config.loading import load_session
    from stratagem._session.build import SessionSpec
    from stratagem._session.outputs import RunFolderWriter

    session = build_session(SessionSpec.from_config(load_session(config)))
    session.subscribe(RunFolderWriter(out_dir))
    outcome = session.run()
    if outcome.status != "ok":
        raise RuntimeError(
            f"session {config} ended {outcome.status}: {outcome.result.reason}"
        )
    return session, outcome
