"""``stratagem new-strategy`` from an installed core wheel gives a distribution that
installs, lists, tests and runs in a fresh virtual environment.

The core is built into a wheel (so the templates must ship as its package data) and
installed, with pytest, into a new venv that sees no other site-packages; that venv's
``stratagem`` writes the distribution, pip installs it (building it in pip's own
isolated build environment), ``stratagem plugins`` lists it OK, its own tests pass
with ``python -m pytest`` from its folder, and a session on the embedded sample data
runs it and writes its signals.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "session_configs" / "sample_data"
NAME = "e2e_trend"
DIST = "stratagem-e2e-trend"
SYMBOLS = ["ETH_BTC", "LTC_BTC"]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def fresh_venv(root: Path) -> tuple[Path, dict[str, str]]:
    """A new venv (no system site-packages) and an environment that uses it alone."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "HATCH_ENV_ACTIVE")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    return venv / "bin", env


def session_config(path: Path) -> Path:
    config = {
        "session_data_config": {
            "symbols": SYMBOLS,
            "streams": ["1m"],
            "streaming": {"data_upkeep": {"enabled": True, "derived_intervals": [5]}},
            "data": {"source": "csv", "path": str(SAMPLE_DATA)},
            "strategies": [{"module": NAME, "config": {"symbols": SYMBOLS}}],
        }
    }
    path.write_text(json.dumps(config))
    return path


def test_a_new_strategy_installs_lists_tests_and_runs(tmp_path: Path) -> None:
    if not (SAMPLE_DATA / "1m" / "ETH_BTC.csv").is_file():
        pytest.skip(f"the embedded sample data is missing at {SAMPLE_DATA}")
    wheels = tmp_path / "wheels"
    # the test environment's hatchling builds the core's wheel as pip would
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(REPO / "core"),
        ],
        tmp_path,
        dict(os.environ),
    )
    (core_wheel,) = wheels.glob("stratagem-*.whl")
    bin_dir, env = fresh_venv(tmp_path)
    python = str(bin_dir / "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, str(core_wheel), "pytest"], tmp_path, env)

    written = run(
        [str(bin_dir / "stratagem"), "new-strategy", NAME, "--dir", "work"],
        tmp_path,
        env,
    )
    project = tmp_path / "work" / DIST
    assert f"wrote work/{DIST}" in written
    run([*pip, str(project)], tmp_path, env)

    listed = run([str(bin_dir / "stratagem"), "plugins"], tmp_path, env)
    (row,) = [line.split() for line in listed.splitlines() if line.startswith(NAME)]
    assert row[:3] == [NAME, DIST, "0.1.0"]
    assert row[-1] == "OK"
    assert f"strategies: {NAME}" in " ".join(row)

    tested = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert " passed" in tested and "failed" not in tested and "skipped" not in tested

    config = session_config(tmp_path / "session.json")
    out = tmp_path / "run"
    run(
        [str(bin_dir / "stratagem"), "run", str(config), "--out", str(out)],
        tmp_path,
        env,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    with (out / "signals.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert rows, "the strategy emitted no signal over two days of 5m bars"
    assert {row["strategy"] for row in rows} == {NAME}
    assert {row["interval"] for row in rows} == {"5m"}
    for symbol in SYMBOLS:
        sides = [row["side"] for row in rows if row["symbol"] == symbol]
        # a crossing rule: every signal of a symbol reverses the one before
        assert sides and all(a != b for a, b in itertools.pairwise(sides)), symbol
