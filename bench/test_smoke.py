"""``python bench/run.py --quick`` runs on tiny inputs and writes both result files.

Not part of the test suite (it takes a while and runs every benchmark): run it with
``python -m pytest bench/test_smoke.py``. It checks that the benchmarks run and
report, never how fast anything is.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The shared real-data folder sits beside the repository: ``<repo>/../shared/data``.
SHARED_DATA = REPO / ".." / "shared" / "data"
BENCHMARKS = {"throughput", "notify", "latency", "replay", "memory", "backpressure"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real bar data (``bars/<interval>/<SYMBOL>.csv``); skips without it."""
    root = SHARED_DATA.resolve()
    if not (root / "bars").is_dir():
        pytest.skip(
            f"real bar data not found at {root} (expected <repo>/../shared/data)"
        )
    return root


@pytest.mark.slow
def test_quick_bench_writes_every_benchmark(tmp_path: Path, shared_data: Path) -> None:
    if importlib.util.find_spec("backtrader") is None:
        pytest.skip(
            "backtrader is not installed; the throughput benchmark compares to it"
        )
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--out",
            str(tmp_path),
            "--data",
            str(shared_data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    document = json.loads((tmp_path / "latest.json").read_text())
    assert set(document["benchmarks"]) == BENCHMARKS
    assert document["meta"]["quick"] is True
    for name, bench in document["benchmarks"].items():
        assert bench["figures"], name
        assert all(figure["n"] == 1 for figure in bench["figures"]), name
    statuses = {target["status"] for target in document["targets"]}
    assert statuses <= {"MET", "MISSED"} and statuses

    markdown = (tmp_path / "latest.md").read_text()
    assert markdown.startswith("# stratagem benchmarks")
    assert markdown in done.stdout
    assert "| benchmark | target | figure | status |" in markdown
    # tiny inputs measure nothing: a quick run meets or misses no target
    assert "**indicative" in markdown
    assert "**MET**" not in markdown and "**MISSED**" not in markdown
