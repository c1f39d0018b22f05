"""Hot reload from the command line (DESIGN 12): ``stratagem reload RUN_DIR ID``
and ``stratagem run --watch`` on a clock-driven replay, the control socket's
permissions, and the reloads that must fail without harm.

The reloaded strategy counts the ETH_BTC 5m bars it has seen and puts the count
and its code's version in each signal: a data-driven run of the first version
gives the count every bar must carry, so a reload that lost or doubled state, or
a bar, shows.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stratagem._session.control import send

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"

COUNTING = '''
from stratagem import Signal, Strategy

VERSION = "{version}"


class Counting(Strategy):
    """Signals on every ETH_BTC 5m bar with the number of bars seen so far."""

    def on_start(self, ctx):
        ctx.subscribe("ETH_BTC", "5m")
        self.count = 0

    def on_bars(self, ctx, symbol, interval):
        self.count += ctx.new_bars
        bar_ts = int(ctx.bars(symbol, interval).ts[-1])
        reason = f"{{VERSION}} n={{self.count}}"
        ctx.emit(Signal(symbol, interval, bar_ts, "buy", reason=reason))

    def on_save(self, ctx):
        return {{"count": self.count}}

    def on_load(self, ctx, state):
        self.count = state["count"]
'''

OTHER = '''
from stratagem import Signal, Strategy


class Every(Strategy):
    """Signals on every LTC_BTC 5m bar."""

    def on_start(self, ctx):
        ctx.subscribe("LTC_BTC", "5m")

    def on_bars(self, ctx, symbol, interval):
        bar_ts = int(ctx.bars(symbol, interval).ts[-1])
        ctx.emit(Signal(symbol, interval, bar_ts, "buy"))
'''


def write_counting(folder: Path, version: str) -> None:
    path = folder / "counting.py"
    path.write_text(textwrap.dedent(COUNTING.format(version=version)))


@pytest.fixture
def local(tmp_path: Path) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    write_counting(folder, "v1")
    (folder / "other.py").write_text(textwrap.dedent(OTHER))
    return folder


def config(path: Path, speed: float) -> Path:
    session = {
        "symbols": ["ETH_BTC", "LTC_BTC"],
        "streaming": {"data_upkeep": {"derived_intervals": [5]}},
        "data": {"path": str(SAMPLE)},
        "reporters": ["json"],
        "speed_multiplier": speed,
        "end": "2018-01-25T00:00:00Z",
        "strategies": [
            {"module": "counting:Counting", "id": "counting"},
            {"module": "other:Every", "id": "other"},
        ],
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def env_for(local: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(local), "PYTHONDONTWRITEBYTECODE": "1"}


def cli(local: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env_for(local),
    )


def start(local: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stratagem.cli", "run", *args],
        cwd=REPO,
        env=env_for(local),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(run_dir: Path, session_time: str, timeout_s: float = 60) -> None:
    """Until the running session's clock has passed ``session_time``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (run_dir / "control.sock").exists():
            status = send(run_dir, {"command": "status"}, timeout_s=5)
            if (status.get("session_time") or "") > session_time:
                return
        time.sleep(0.05)
    raise AssertionError(f"the session did not reach {session_time}")


def signals(run_dir: Path, strategy: str) -> list[dict[str, str]]:
    with (run_dir / "signals.csv").open() as stream:
        return [row for row in csv.DictReader(stream) if row["strategy"] == strategy]


def reference_counts(tmp_path: Path, local: Path) -> dict[str, int]:
    """bar_ts -> bars seen, from a data-driven run of the first version."""
    out = tmp_path / "reference"
    done = cli(local, "run", str(config(tmp_path / "ref.json", 0)), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return {
        row["bar_ts"]: int(row["reason"].split("n=")[1])
        for row in signals(out, "counting")
    }


def test_reload_swaps_code_keeps_state_and_the_others_see_every_bar(
    tmp_path: Path, local: Path
) -> None:
    counts = reference_counts(tmp_path, local)
    out = tmp_path / "run"
    # one day of 1m steps in about 12 s of wall time
    process = start(local, str(config(tmp_path / "s.json", 7200)), "--out", str(out))
    try:
        wait_until(out, "2018-01-24T04:00:00Z")
        socket_mode = (out / "control.sock").stat().st_mode
        assert stat.S_ISSOCK(socket_mode)
        assert stat.S_IMODE(socket_mode) == 0o600

        unknown = cli(local, "reload", str(out), "nope")
        assert unknown.returncode == 2
        assert "'nope'" in unknown.stderr and "counting" in unknown.stderr

        write_counting(local, "v2-reloaded")
        reloaded = cli(local, "reload", str(out), "counting")
        assert reloaded.returncode == 0, reloaded.stderr
        assert "reloaded counting" in reloaded.stdout

        wait_until(out, "2018-01-24T12:00:00Z")
        (local / "counting.py").write_text("this is not python (\n")
        broken = cli(local, "reload", str(out), "counting")
        assert broken.returncode == 1
        assert "SyntaxError" in broken.stderr and "goes on unchanged" in broken.stderr
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert not (out / "control.sock").exists()

    rows = signals(out, "counting")
    versions = [row["reason"].split()[0] for row in rows]
    first_v2 = versions.index("v2-reloaded")
    assert set(versions[:first_v2]) == {"v1"}
    assert set(versions[first_v2:]) == {"v2-reloaded"}  # the broken code never ran
    # state carried over: every bar's count is the count of the uninterrupted run
    assert {row["bar_ts"]: int(row["reason"].split("n=")[1]) for row in rows} == counts
    # the other strategy never lost a bar while the reload went on
    metrics = json.loads((out / "metrics.json").read_text())["strategies"]
    assert metrics["other"]["dropped"] == 0
    assert len(signals(out, "other")) == metrics["other"]["notifications"]


def test_a_reload_whose_new_code_fails_to_start_keeps_the_old_code_and_state(
    tmp_path: Path, local: Path
) -> None:
    counts = reference_counts(tmp_path, local)
    out = tmp_path / "run"
    process = start(local, str(config(tmp_path / "s.json", 7200)), "--out", str(out))
    try:
        wait_until(out, "2018-01-24T04:00:00Z")
        source = COUNTING.format(version="v3").replace(
            'ctx.subscribe("ETH_BTC", "5m")', 'raise RuntimeError("no start")'
        )
        (local / "counting.py").write_text(textwrap.dedent(source))
        failed = cli(local, "reload", str(out), "counting")
        assert failed.returncode == 1
        assert "RuntimeError: no start" in failed.stderr
        assert "old code runs on" in failed.stderr
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    rows = signals(out, "counting")
    assert {row["reason"].split()[0] for row in rows} == {"v1"}
    assert {row["bar_ts"]: int(row["reason"].split("n=")[1]) for row in rows} == counts


def test_watch_reloads_a_strategy_whose_file_changed(
    tmp_path: Path, local: Path
) -> None:
    out = tmp_path / "run"
    process = start(
        local, str(config(tmp_path / "s.json", 7200)), "--out", str(out), "--watch"
    )
    try:
        wait_until(out, "2018-01-24T04:00:00Z")
        write_counting(local, "v2-watched")
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "reloaded counting" in stderr
    versions = [row["reason"].split()[0] for row in signals(out, "counting")]
    assert versions[0] == "v1" and versions[-1] == "v2-watched"


def test_watch_is_refused_for_a_data_driven_run(tmp_path: Path, local: Path) -> None:
    refused = cli(
        local,
        "run",
        str(config(tmp_path / "s.json", 0)),
        "--watch",
        "--out",
        str(tmp_path / "run"),
    )
    assert refused.returncode == 2
    assert "--watch" in refused.stderr and "data-driven" in refused.stderr
