"""``stratagem sweep`` on the local backend, end to end in a subprocess: each set's
row is what ``stratagem run`` gives for it, a bad grid is refused before any set
runs, a failing set (a raise, a dead worker) fails alone, and ``--resume`` runs
only what is not finished."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SWEPT = ("pnl", "return_pct", "sharpe", "max_drawdown_pct", "trades", "fees")


def test_each_row_equals_the_same_set_run_alone(sweeps: Any, tmp_path: Path) -> None:
    config = sweeps.config(tmp_path / "sma.json", [sweeps.sma()])
    out = tmp_path / "sweep"
    done = sweeps.cli(
        "sweep",
        str(config),
        "--grid",
        "sma_cross.fast_period=5,8",
        "--grid",
        "sma_cross.slow_period=20:30:10",
        "--workers",
        "2",
        "--out",
        str(out),
        "--metric",
        "sharpe",
    )
    assert done.returncode == 0, done.stderr
    rows = sweeps.results(out)
    assert [(r["sma_cross.fast_period"], r["sma_cross.slow_period"]) for r in rows] == [
        (5, 20),
        (5, 30),
        (8, 20),
        (8, 30),
    ]
    assert {r["status"] for r in rows} == {"ok"}
    # the parameters reached the strategy: the sets differ
    assert len({r["signals"] for r in rows}) > 1
    with (out / "results.csv").open() as stream:
        table = list(csv.DictReader(stream))
    for row in (rows[0], rows[3]):
        alone = tmp_path / f"run-{row['set']}"
        values = {
            "fast_period": row["sma_cross.fast_period"],
            "slow_period": row["sma_cross.slow_period"],
        }
        single = sweeps.config(
            tmp_path / f"set-{row['set']}.json", [sweeps.sma(**values)]
        )
        ran = sweeps.cli("run", str(single), "--out", str(alone))
        assert ran.returncode == 0, ran.stderr
        with (alone / "signals.csv").open() as stream:
            assert row["signals"] == sum(1 for _ in csv.DictReader(stream))
        book = json.loads((alone / "portfolio.json").read_text())["books"]["sma_cross"]
        for name in SWEPT:
            assert row[name] == book[name], name
        assert float(table[row["set"]]["pnl"]) == book["pnl"]
    # the best sets by the chosen metric, highest Sharpe first
    assert "by sharpe (highest first)" in done.stdout
    best = max(rows, key=lambda r: r["sharpe"])
    first = done.stdout.splitlines()[2].split()
    assert first[:3] == [
        str(best["set"]),
        str(best["sma_cross.fast_period"]),
        str(best["sma_cross.slow_period"]),
    ]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "ok" and manifest["sets"] == 4


def test_a_bad_grid_lists_every_problem_before_any_set_runs(
    sweeps: Any, tmp_path: Path
) -> None:
    config = sweeps.config(tmp_path / "sma.json", [sweeps.sma()])
    out = tmp_path / "never"
    done = sweeps.cli(
        "sweep",
        str(config),
        "--grid",
        "sma_cros.fast_period=5",
        "--grid",
        "sma_cross.fats_period=5",
        "--grid",
        "sma_cross.slow_period=5:x:1",
        "--grid",
        "sma_cross.fast_period=0:20:10",
        "--grid",
        "sma_cross.min_quality=50:150:50",
        "--out",
        str(out),
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr
    assert "no enabled strategy has the id 'sma_cros'" in err
    assert "did you mean 'sma_cross'?" in err
    assert "has no parameter 'fats_period'" in err
    assert "did you mean 'fast_period'?" in err
    assert "--grid sma_cross.slow_period=5:x:1: range bounds" in err
    path = "session_data_config.strategies[0].config"
    # rejected values, at their JSON path, with the sets they occur in
    assert f"{path}.fast_period: Input should be greater than or equal to 1" in err
    assert "sma_cross.fast_period=0 sma_cross.min_quality=50" in err
    assert f"{path}.min_quality: Input should be less than or equal to 100" in err
    assert "fast_period (20) must be less than slow_period (20)" in err
    assert "problems found" in err
    assert not out.exists()


def test_a_failing_set_fails_alone(sweeps: Any, tmp_path: Path) -> None:
    config = sweeps.config(tmp_path / "fragile.json", [sweeps.fragile()])
    out = tmp_path / "sweep"
    done = sweeps.cli(
        "sweep",
        str(config),
        "--grid",
        "fragile.mode=0:3",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stderr
    rows = {r["fragile.mode"]: r for r in sweeps.results(out)}
    assert [rows[m]["status"] for m in range(4)] == ["ok", "failed", "failed", "ok"]
    assert "RuntimeError: mode 1 breaks on" in rows[1]["error"]
    assert rows[1]["session_status"] == "degraded"
    assert "worker process died" in rows[2]["error"]
    assert "exit code 17" in rows[2]["error"]
    assert rows[0]["signals"] > 0 and rows[3]["signals"] > 0
    assert rows[0]["signals"] != rows[3]["signals"]
    assert rows[1]["pnl"] is None
    # the raising set's traceback is kept in the journal
    logged = {r["params"]["fragile.mode"]: r for r in sweeps.journal(out)}
    assert any("RuntimeError" in line for line in logged[1]["log"])
    assert "failed: set 1 fragile.mode=1" in done.stdout
    assert json.loads((out / "sweep.json").read_text())["status"] == "failed"


def test_resume_runs_only_what_is_not_finished(sweeps: Any, tmp_path: Path) -> None:
    marker = tmp_path / "break-now"
    marker.touch()
    config = sweeps.config(
        tmp_path / "fragile.json", [sweeps.fragile(marker=str(marker))]
    )
    out = tmp_path / "sweep"
    args = ["sweep", str(config), "--out", str(out), "--workers", "1"]
    first = sweeps.cli(*args, "--grid", "fragile.mode=0,1")
    assert first.returncode == 1, first.stderr
    before = sweeps.journal(out)
    assert [(r["params"]["fragile.mode"], r["status"]) for r in before] == [
        (0, "ok"),
        (1, "failed"),
    ]
    # an earlier sweep is never replaced by accident
    again = sweeps.cli(*args, "--grid", "fragile.mode=0,1")
    assert again.returncode == 2 and "--resume" in again.stderr

    marker.unlink()
    resumed = sweeps.cli(*args, "--grid", "fragile.mode=0,1,3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "(1 finished earlier)" in resumed.stderr
    after = sweeps.journal(out)
    assert after[:2] == before
    # the failed set ran again (and is fine now), the new one ran, set 0 did not
    assert sorted(r["params"]["fragile.mode"] for r in after[2:]) == [1, 3]
    rows = sweeps.results(out)
    assert [(r["fragile.mode"], r["status"]) for r in rows] == [
        (0, "ok"),
        (1, "ok"),
        (3, "ok"),
    ]
    assert rows[0]["signals"] == before[0]["signals"]

    # a config changed since: its results would not belong together
    sweeps.config(config, [sweeps.fragile(marker=str(tmp_path / "elsewhere"))])
    changed = sweeps.cli(*args, "--grid", "fragile.mode=0,1", "--resume")
    assert changed.returncode == 2
    assert "has changed since" in changed.stderr


def test_the_ray_backend_without_ray_names_the_extra(
    sweeps: Any, tmp_path: Path
) -> None:
    config = sweeps.config(tmp_path / "sma.json", [sweeps.sma()])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, sweeps.paths)))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            # as where Ray is not installed: importing it fails
            "import sys; sys.modules['ray'] = None\n"
            "from stratagem.cli import main; main()",
            "sweep",
            str(config),
            "--grid",
            "sma_cross.fast_period=5",
            "--backend",
            "ray",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'stratagem[ray]'" in done.stderr
    assert not (tmp_path / "out").exists()
