"""``stratagem run`` from the command line, in a subprocess, on real data."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stratagem.testing import load_bars

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "session_configs" / "demo.json"
BITTREX_FIVE = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]
BITTREX_ALL = BITTREX_FIVE + ["NXT_BTC", "POWR_BTC", "XLM_BTC", "XMR_BTC", "ZEC_BTC"]
STRATEGY_KEYS = {
    "notifications",
    "avg_ms",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "queue_max",
    "overruns",
    "dropped",
    "errors",
    "signals",
    "state",
}
SYSTEM_KEYS = {
    "mode",
    "speed_multiplier",
    "bars_in",
    "wall_s",
    "bars_per_s",
    "bottleneck",
}


def stratagem(
    *args: str, timeout: float = 120, site: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m stratagem.cli ARGS``; ``site`` (a folder of installed
    distributions, e.g. ``local_dist_site``) goes on its ``PYTHONPATH``."""
    env = None if site is None else {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


def write_config(
    path: Path, symbols: list[str], strategies: list[dict], **extra
) -> Path:
    session = {
        "symbols": symbols,
        "streams": ["1m"],
        "streaming": {"data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}},
        "strategies": strategies,
        **extra,
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def sma_cross(sid: str | None = None, **overrides) -> dict:
    """The tests' own strategy (stratagem-test-strategies, on ``local_dist_site``)."""
    entry = {
        "module": "sma_cross",
        "config": {
            "symbols": BITTREX_FIVE,
            "interval": "5m",
            "fast_period": 10,
            "slow_period": 20,
            "min_quality": 0.0,
        },
        **overrides,
    }
    if sid:
        entry["id"] = sid
    return entry


def rows(path: Path) -> list[dict]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


def test_demo_session_writes_every_output_with_its_contract(tmp_path: Path) -> None:
    # the shipped demo runs the contrib strategies from their installed distributions
    out = tmp_path / "demo"
    done = stratagem("run", str(DEMO), "--out", str(out))
    assert done.returncode == 0, done.stderr
    signals = rows(out / "signals.csv")
    assert signals and set(signals[0]) >= {
        "bar_ts",
        "strategy",
        "symbol",
        "interval",
        "side",
    }
    assert {row["side"] for row in signals} <= {"buy", "sell"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert SYSTEM_KEYS <= set(metrics["system"])
    assert metrics["system"]["bottleneck"] in metrics["strategies"]
    for snap in metrics["strategies"].values():
        assert STRATEGY_KEYS <= set(snap)
    assert sum(s["signals"] for s in metrics["strategies"].values()) == len(signals)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["config"]["sha256"] == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    for entry in manifest["data"]["files"]:
        assert (
            entry["sha256"]
            == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
        )
    assert {p["dist"] for p in manifest["plugins"]} >= {
        "stratagem",
        "stratagem-ma-cross",
    }
    (added,) = manifest["session"]["symbols_added"]
    assert added["symbol"] == "ZEC_BTC" and added["time"] == "2018-01-25T06:00:00Z"
    # the periodic/final JSON-lines reporter ran too
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["final"] is True


@pytest.fixture(scope="module")
def five_file_runs(
    shared_data: Path, tmp_path_factory, local_dist_site: Path
) -> dict[str, Path]:
    """The five Bittrex files, sma_cross 5m 10/20: once, again, with 8 instances and
    clock-driven."""
    tmp = tmp_path_factory.mktemp("five")
    bars = str(shared_data / "bars")
    configs = {
        "one": [sma_cross("m0")],
        "eight": [sma_cross(f"m{i}") for i in range(8)],
        "clock": [sma_cross("m0", backpressure="block")],
    }
    runs = {}
    for name, strategies in configs.items():
        config = write_config(tmp / f"{name}.json", BITTREX_FIVE, strategies)
        for attempt in ("a", "b") if name == "one" else ("a",):
            out = tmp / f"{name}-{attempt}"
            extra = ["--speed", "2000000"] if name == "clock" else []
            done = stratagem(
                "run",
                str(config),
                "--data",
                bars,
                "--out",
                str(out),
                *extra,
                site=local_dist_site,
            )
            assert done.returncode == 0, done.stderr
            runs[f"{name}-{attempt}"] = out
    return runs


def test_data_driven_runs_are_byte_identical(five_file_runs) -> None:
    first = (five_file_runs["one-a"] / "signals.csv").read_bytes()
    assert first.count(b"\n") > 500
    assert (five_file_runs["one-b"] / "signals.csv").read_bytes() == first


def test_eight_instances_each_match_the_single_run(five_file_runs) -> None:
    single = [r for r in rows(five_file_runs["one-a"] / "signals.csv")]
    eight = rows(five_file_runs["eight-a"] / "signals.csv")
    for i in range(8):
        mine = [{**r, "strategy": "m0"} for r in eight if r["strategy"] == f"m{i}"]
        assert mine == single


def test_clock_driven_replay_gives_the_same_signals(five_file_runs) -> None:
    metrics = json.loads((five_file_runs["clock-a"] / "metrics.json").read_text())
    assert metrics["system"]["mode"] == "clock-driven"
    assert metrics["strategies"]["m0"]["dropped"] == 0  # 'block' loses nothing
    assert (five_file_runs["clock-a"] / "signals.csv").read_bytes() == (
        five_file_runs["one-a"] / "signals.csv"
    ).read_bytes()


def test_saved_bars_match_the_exchange_5m_files_and_a_15m_reference(
    shared_data: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "bars.json", BITTREX_ALL, [])
    out = tmp_path / "out"
    done = stratagem(
        "run",
        str(config),
        "--data",
        str(shared_data / "bars"),
        "--out",
        str(out),
        "--save-bars",
    )
    assert done.returncode == 0, done.stderr
    compared = 0
    for symbol in BITTREX_ALL:
        one = load_bars(shared_data / "bars" / "1m" / f"{symbol}.csv")
        saved5 = load_bars(out / "bars" / "5m" / f"{symbol}.csv")
        exchange = load_bars(shared_data / "bars" / "5m" / f"{symbol}.csv")
        width = 5 * 60 * 10**9
        # windows entirely inside the 1m file's range
        lo = (int(one.ts[0]) // width + 1) * width
        hi = (int(one.ts[-1]) // width) * width
        mine = (saved5.ts >= lo) & (saved5.ts < hi)
        ref = (exchange.ts >= lo) & (exchange.ts < hi)
        np.testing.assert_array_equal(saved5.ts[mine], exchange.ts[ref])
        for column in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(
                getattr(saved5, column)[mine], getattr(exchange, column)[ref]
            )
        np.testing.assert_allclose(saved5.volume[mine], exchange.volume[ref], rtol=1e-9)
        compared += int(mine.sum())
        saved15 = load_bars(out / "bars" / "15m" / f"{symbol}.csv")
        reference = _reference_windows(one, 15)
        mine15 = _as_rows(saved15)
        assert [r[:5] + r[6:] for r in mine15] == [r[:5] + r[6:] for r in reference]
        np.testing.assert_allclose(
            [r[5] for r in mine15], [r[5] for r in reference], rtol=1e-9
        )
    assert compared > 10 * 1000


def _reference_windows(bars, minutes: int) -> list[tuple]:
    """Plain-Python resampling: left-closed, left-labelled, epoch-aligned windows."""
    width = minutes * 60 * 10**9
    windows: dict[int, list] = {}
    for i in range(len(bars)):
        ts = int(bars.ts[i])
        start = ts - ts % width
        o, h, low, c, v = (
            float(x[i])
            for x in (bars.open, bars.high, bars.low, bars.close, bars.volume)
        )
        if start not in windows:
            windows[start] = [o, h, low, c, [v], 1]
        else:
            w = windows[start]
            w[1], w[2], w[3] = max(w[1], h), min(w[2], low), c
            w[4].append(v)
            w[5] += 1
    return [
        (start, w[0], w[1], w[2], w[3], math.fsum(w[4]), 100.0 * w[5] / minutes)
        for start, w in sorted(windows.items())
    ]


def _as_rows(bars) -> list[tuple]:
    return [
        (
            int(bars.ts[i]),
            float(bars.open[i]),
            float(bars.high[i]),
            float(bars.low[i]),
            float(bars.close[i]),
            float(bars.volume[i]),
            float(bars.quality[i]),
        )
        for i in range(len(bars))
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_flushes_outputs_and_exits_interrupted(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # the shipped demo, with the contrib strategies it names, as a user runs it
    out = tmp_path / "interrupted"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(DEMO),
            "--speed",
            "600",
            "--out",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # interrupt once the session is well under way: it has emitted signals
    deadline = time.monotonic() + 90

    def signalled() -> bool:
        # a periodic report that counts signals: the run is well under way
        if not (out / "metrics.jsonl").exists():
            return False
        lines = (out / "metrics.jsonl").read_text().splitlines()
        reports = [json.loads(line) for line in lines if line.endswith("}")]
        return any(
            sum(m["signals"] for m in r["strategies"].values()) > 0 for r in reports
        )

    while not signalled() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert signum.name in manifest["reason"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["system"]["steps"] > 0
    # what was written is the start of the full run's signals (clock-driven replay
    # gives the data-driven signals when nothing is dropped), nothing more or else
    interrupted = (out / "signals.csv").read_text().splitlines()
    full_out = tmp_path / "full"
    done = stratagem("run", str(DEMO), "--out", str(full_out))
    assert done.returncode == 0, done.stderr
    full = (full_out / "signals.csv").read_text().splitlines()
    assert sum(m["dropped"] for m in metrics["strategies"].values()) == 0
    assert 1 < len(interrupted) < len(full)
    assert interrupted == full[: len(interrupted)]
    total = sum(m["signals"] for m in metrics["strategies"].values())
    assert total == len(interrupted) - 1


def test_bad_data_is_refused_with_file_row_and_column(
    tmp_path: Path, local_dist_site: Path
) -> None:
    data = tmp_path / "data" / "1m"
    data.mkdir(parents=True)
    source = (
        REPO / "session_configs" / "sample_data" / "1m" / "ETH_BTC.csv"
    ).read_text()
    lines = source.splitlines()
    fields = lines[10].split(",")
    fields[2] = "nan"
    lines[10] = ",".join(fields)
    (data / "ETH_BTC.csv").write_text("\n".join(lines) + "\n")
    config = write_config(
        tmp_path / "c.json",
        ["ETH_BTC"],
        [sma_cross(config={"symbols": ["ETH_BTC"], "interval": "5m"})],
    )
    done = stratagem(
        "run",
        str(config),
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "o"),
        site=local_dist_site,
    )
    assert done.returncode == 2
    assert (
        "ETH_BTC.csv" in done.stderr
        and "row 11" in done.stderr
        and "high" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_missing_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", ["ETH_BTC"], [])
    done = stratagem("run", str(config), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert "no data folder" in done.stderr and "--data" in done.stderr


def test_a_strategy_asking_for_an_underived_interval_fails_at_start(
    tmp_path: Path,
) -> None:
    # validate cannot see this one: the strategy subscribes in code, not in config
    module = tmp_path / "wants_7m.py"
    module.write_text(
        "from stratagem import Strategy\n"
        "class Wants7m(Strategy):\n"
        "    def on_start(self, ctx):\n"
        "        ctx.subscribe('ETH_BTC', '7m')\n"
    )
    config = write_config(
        tmp_path / "c.json",
        ["ETH_BTC"],
        [{"module": "wants_7m:Wants7m"}],
        data={"path": str(REPO / "session_configs" / "sample_data")},
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(config),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: wants_7m:Wants7m: strategy 'wants_7m:Wants7m' subscribed to ETH_BTC "
        "7m, but the session does not derive 7m (intervals: 1m, 5m, 15m); add it to "
        "streaming.data_upkeep.derived_intervals"
    ]
    # refused before its first step: nothing ran, nothing is written
    assert not (tmp_path / "o").exists()


def test_a_listing_whose_reader_goes_away_stops_quietly() -> None:
    """``stratagem plugins --options | head -1``: no traceback, no error line;
    exit 1, as Python's own tools do on a broken pipe."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stratagem.cli", "plugins", "--options"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    process.stdout.close()  # no reader: the first line written breaks the pipe
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr == ""
