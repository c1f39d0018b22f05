"""Shared pieces of the benchmarks: context, figures, targets, session configs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
    """A goal on one figure: ``value op threshold``, e.g. ratio >= 25.

    A timing target carries its figure twice, by wall time (``value``) and by CPU
    time (``cpu_value``): on a shared machine either can flatter, so it is met only
    when both meet it.
    """

    name: str
    value: float
    op: str
    threshold: float
    unit: str
    detail: str = ""
    cpu_value: float | None = None

    def _meets(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<=":
            return value <= self.threshold
        raise ValueError(f"unknown comparison {self.op!r}")

    @property
    def met(self) -> bool:
        return self._meets(self.value) and (
            self.cpu_value is None or self._meets(self.cpu_value)
        )

    @property
    def figure(self) -> str:
        """The figure as a table shows it: ``wall 31.9 / CPU 28.0`` for timings."""
        if self.cpu_value is None:
            return fmt(self.value)
        return f"wall {fmt(self.value)} / CPU {fmt(self.cpu_value)}"

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
            "cpu_value": self.cpu_value,
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
                    t.get("cpu_value"),
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


# --- timing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One timed call or process: wall and CPU seconds (CPU of every thread, user
    plus system), with what it returned (a process: its stdout)."""

    wall: float
    cpu: float
    value: Any = None
    #: a process's peak resident memory in bytes (``ru_maxrss``); 0 for a call
    peak_rss: int = 0


def timed(fn: Callable[..., Any], *args: Any) -> Timed:
    """Call ``fn(*args)`` and time it by wall and by this process's CPU time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    value = fn(*args)
    return Timed(time.perf_counter() - wall0, time.process_time() - cpu0, value)


#: Runs its command and reports how it ran. A child's peak RSS (``ru_maxrss``)
#: counts the memory of the process it was forked from, so the bench (hundreds of
#: MB) does not fork the timed process itself: this small launcher does, and times
#: it from spawn to exit.
_LAUNCHER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as out:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "peak_rss": usage.ru_maxrss * 1024,
               "exit": os.waitstatus_to_exitcode(status)}, out)
"""


def timed_process(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 900
) -> Timed:
    """Run ``command`` (its program an absolute path) to its end, timed from outside:
    wall from spawn to exit, CPU and peak RSS from the kernel's accounting of that
    process alone (``wait4``). The value is its stdout.

    :raises RuntimeError: when it exits non-zero (its stderr is in the message).
    """
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if done.returncode != 0 or not report.is_file():
            raise RuntimeError(f"the launcher of {command[:3]} failed:\n{done.stderr}")
        how = json.loads(report.read_text())
    if how["exit"] != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])} ... exited {how['exit']}:\n{done.stderr[-4000:]}"
        )
    return Timed(how["wall"], how["cpu"], done.stdout, how["peak_rss"])


def bytecode_env() -> dict[str, str]:
    """The environment for timed child processes: bytecode caches allowed, as a
    user's installation has them (this sandbox may forbid writing them)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def stratagem_command() -> list[str]:
    """How a user starts ``stratagem``: the console script beside this interpreter
    (``python -m stratagem.cli`` when there is none)."""
    script = Path(sys.executable).with_name("stratagem")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "stratagem.cli"]


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
