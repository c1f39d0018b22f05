"""Runs that go wrong, from the command line as a user meets them (DESIGN sections 7
and 8): hung strategies, stop policies, Ctrl-C twice, reused output folders, gaps in
clock-driven replay."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"

STRATEGIES = '''
import time
import threading

from stratagem import Signal, Strategy, StrategyConfig

class Every(Strategy):
    """Emits a buy on every 5m bar of ETH_BTC."""

    def on_start(self, ctx):
        ctx.subscribe("ETH_BTC", "5m")

    def on_bars(self, ctx, symbol, interval):
        bar_ts = int(ctx.bars(symbol, interval).ts[-1])
        ctx.emit(Signal(symbol, interval, bar_ts, "buy"))

class Hang(Strategy):
    """Hangs forever on its third 5m bar."""

    def on_start(self, ctx):
        ctx.subscribe("ETH_BTC", "5m")
        self.seen = 0

    def on_bars(self, ctx, symbol, interval):
        self.seen += 1
        if self.seen == 3:
            threading.Event().wait()

class Poison(Every):
    """Emits like Every, and raises on its tenth bar."""

    def on_start(self, ctx):
        super().on_start(ctx)
        self.seen = 0

    def on_bars(self, ctx, symbol, interval):
        self.seen += 1
        if self.seen == 10:
            raise RuntimeError("tenth bar")
        super().on_bars(ctx, symbol, interval)
'''


@pytest.fixture
def strategies(tmp_path: Path) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "local_strats.py").write_text(textwrap.dedent(STRATEGIES))
    return folder


def config(path: Path, strategies: list[dict], **extra: object) -> Path:
    session = {
        "symbols": ["ETH_BTC"],
        "streaming": {"data_upkeep": {"derived_intervals": [5]}},
        "data": {"path": str(SAMPLE)},
        "reporters": ["json"],
        "strategies": strategies,
        **extra,
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def run(
    strategies: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(strategies)}
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


def signal_rows(out: Path) -> list[dict[str, str]]:
    with (out / "signals.csv").open() as stream:
        return list(csv.DictReader(stream))


def test_a_hung_strategy_is_a_failure_degraded_exit_3_and_the_bottleneck(
    tmp_path: Path, strategies: Path
) -> None:
    cfg = config(
        tmp_path / "s.json",
        [
            {"module": "local_strats:Every", "id": "every"},
            {"module": "local_strats:Hang", "id": "hang", "callback_timeout_s": 1.0},
        ],
        end="2018-01-24T04:00:00Z",
    )
    out = tmp_path / "out"
    done = run(strategies, str(cfg), "--out", str(out))
    assert done.returncode == 3, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "degraded"
    (failure,) = manifest["failures"]
    assert (failure["id"], failure["kind"], failure["action"]) == (
        "hang",
        "hung",
        "quarantine",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["system"]["bottleneck"] == "hang"
    assert metrics["strategies"]["hang"]["state"] == "hung"
    # the other strategy ran to the end
    assert len(signal_rows(out)) == metrics["strategies"]["every"]["signals"] == 48


def test_under_stop_metrics_signals_and_manifest_agree(
    tmp_path: Path, strategies: Path
) -> None:
    cfg = config(
        tmp_path / "s.json",
        [
            {"module": "local_strats:Every", "id": "every"},
            {"module": "local_strats:Poison", "id": "poison", "on_error": "stop"},
        ],
    )
    out = tmp_path / "out"
    done = run(strategies, str(cfg), "--out", str(out))
    assert done.returncode == 1, done.stderr
    rows = signal_rows(out)
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "tenth bar" in manifest["reason"]
    for sid in ("every", "poison"):
        written = sum(1 for row in rows if row["strategy"] == sid)
        assert metrics["strategies"][sid]["signals"] == written
    # poison emitted on its first nine bars; every on the same bars, up to the stop
    assert sum(1 for row in rows if row["strategy"] == "poison") == 9
    assert sum(1 for row in rows if row["strategy"] == "every") == 10


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_with_a_hung_strategy(
    tmp_path: Path, strategies: Path, presses: int
) -> None:
    """Once: the run ends once the watchdog has quarantined the hung strategy (its
    callback timeout, 2 s here), without waiting for the call itself. Twice: it stops
    waiting at once, before the watchdog (60 s there) could quarantine anything.
    Files are valid either way."""
    timeout_s = 2.0 if presses == 1 else 60.0
    cfg = config(
        tmp_path / "s.json",
        [
            {"module": "local_strats:Every", "id": "every"},
            {
                "module": "local_strats:Hang",
                "id": "hang",
                "callback_timeout_s": timeout_s,
            },
        ],
        metrics_interval_s=0.2,
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "stratagem.cli", "run", str(cfg), "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(strategies)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the hang has begun: it is on its third bar of 48
    process.send_signal(signal.SIGINT)
    if presses == 2:
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
    # the hung call never returns: the process ends only if nothing waits for it
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    metrics = json.loads((out / "metrics.json").read_text())
    if presses == 1:
        # the end waited for the watchdog, which quarantined the hung strategy
        assert metrics["strategies"]["hang"]["state"] == "hung"
        assert "interrupted again" not in stderr
    else:
        # the second Ctrl-C ended the wait before the watchdog could fire
        assert "interrupted again" in stderr
        assert metrics["strategies"]["hang"]["state"] != "hung"
    assert metrics["strategies"]["every"]["signals"] == len(signal_rows(out))
    assert metrics["system"]["bottleneck"] == "hang"


def test_a_reused_out_folder_is_refused_or_replaced_without_stale_files(
    tmp_path: Path, strategies: Path
) -> None:
    cfg = config(
        tmp_path / "s.json",
        [{"module": "local_strats:Every", "id": "every"}],
        end="2018-01-24T02:00:00Z",
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run(strategies, str(cfg), "--out", str(foreign), "--overwrite")
    assert refused.returncode == 2
    assert (
        "not a stratagem run folder" in refused.stderr and "notes.txt" in refused.stderr
    )
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    out = tmp_path / "out"
    first = run(strategies, str(cfg), "--out", str(out), "--save-bars")
    assert first.returncode == 0, first.stderr
    assert (out / "bars").is_dir()
    again = run(strategies, str(cfg), "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    replaced = run(strategies, str(cfg), "--out", str(out), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not (out / "bars").exists()  # the earlier run's bars are gone
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "metrics.json",
        "metrics.jsonl",
        "signals.csv",
        "state.sqlite",
    ]


def test_the_folder_of_a_run_that_did_not_finish_is_named_as_such(
    tmp_path: Path, strategies: Path
) -> None:
    """A run killed before its end leaves its journal and no manifest: ``--out``
    says so and offers ``--resume``; ``--overwrite`` replaces it."""
    cfg = config(
        tmp_path / "s.json",
        [{"module": "local_strats:Every", "id": "every"}],
        end="2018-01-24T02:00:00Z",
    )
    out = tmp_path / "out"
    assert run(strategies, str(cfg), "--out", str(out)).returncode == 0
    # what a kill -9 leaves: the journal (and the periodic metrics), nothing else
    for name in ("manifest.json", "metrics.json", "signals.csv"):
        (out / name).unlink()
    refused = run(strategies, str(cfg), "--out", str(out))
    assert refused.returncode == 2
    assert "did not finish" in refused.stderr
    assert f"--resume {out}" in refused.stderr
    replaced = run(strategies, str(cfg), "--out", str(out), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert (out / "manifest.json").is_file()


def test_a_closed_stderr_pipe_loses_no_output(tmp_path: Path, strategies: Path) -> None:
    """``stratagem run ... 2>&1 | head -1``: the reader goes away before the run
    logs anything. The console falls silent; the run goes on, writes its folder and
    exits with its own code."""
    cfg = config(
        tmp_path / "s.json",
        [{"module": "local_strats:Every", "id": "every"}],
        end="2018-01-24T04:00:00Z",
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "stratagem.cli", "run", str(cfg), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(strategies)},
    )
    assert process.stderr is not None
    process.stderr.close()  # no reader: the first write to stderr breaks the pipe
    assert process.wait(timeout=120) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert len(signal_rows(out)) == 48


def test_a_rejected_run_writes_no_folder(tmp_path: Path, strategies: Path) -> None:
    cfg = config(
        tmp_path / "s.json",
        [{"module": "local_strats:Every", "id": "every"}],
        streaming={"data_upkeep": {"derived_intervals": [15]}},
    )
    out = tmp_path / "never"
    done = run(strategies, str(cfg), "--out", str(out))
    assert done.returncode == 2
    assert "5m" in done.stderr
    assert not out.exists()


def test_clock_driven_replay_jumps_spans_without_bars(
    tmp_path: Path, strategies: Path
) -> None:
    # two hours of bars, a 30-day hole, two more hours: at 6000x the hole alone
    # would take 432 s of pacing
    data = tmp_path / "data" / "1m"
    data.mkdir(parents=True)
    rows = (SAMPLE / "1m" / "ETH_BTC.csv").read_text().splitlines()
    header, body = rows[0], rows[1:241]
    shifted = []
    for line in body[120:]:
        stamp, rest = line.split(",", 1)
        day = int(stamp[8:10]) + 30 - 31  # 2018-01-24 -> 2018-02-23
        shifted.append(f"2018-02-{day:02d}{stamp[10:]},{rest}")
    (data / "ETH_BTC.csv").write_text("\n".join([header, *body[:120], *shifted]) + "\n")
    cfg = config(
        tmp_path / "s.json",
        [{"module": "local_strats:Every", "id": "every"}],
        data={"path": str(tmp_path / "data")},
        speed_multiplier=6000,
    )
    out = tmp_path / "out"
    done = run(strategies, str(cfg), "--out", str(out), timeout=60)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    skipped = metrics["system"]["skipped_session_s"]
    assert 30 * 86400 - 3 * 3600 < skipped < 30 * 86400 + 3600
    assert len(signal_rows(out)) == 48
