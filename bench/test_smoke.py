"""``python bench/run.py --quick`` runs on tiny inputs and writes both result files.

Not part of the test suite (it takes a while and runs every benchmark): run it with
``python -m pytest bench/test_smoke.py``. It checks that the benchmarks run and
report, never how fast anything is.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The shared real-data folder sits beside the repository: ``<repo>/../shared/data``.
SHARED_DATA = REPO / ".." / "shared" / "data"
BENCHMARKS = {
    "throughput",
    "scale",
    "notify",
    "latency",
    "replay",
    "memory",
    "backpressure",
    "sweep",
}


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


def _bench_module(name: str):
    """A module of bench/ (they import each other by plain name)."""
    folder = str(REPO / "bench")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def test_timed_process_reports_the_child_alone() -> None:
    common = _bench_module("_common")
    held = b"\x01" * (200 * 2**20)  # the bench process is large; its child is not
    small = common.timed_process([sys.executable, "-c", "pass"])
    big = common.timed_process(
        [sys.executable, "-c", "b = bytearray(120 * 2**20); print(len(b))"]
    )
    assert small.peak_rss < 60 * 2**20 < 120 * 2**20 < big.peak_rss < len(held)
    assert big.value.strip() == str(120 * 2**20)
    assert 0 < small.wall < big.wall and 0 < big.cpu
    with pytest.raises(RuntimeError, match="exited 3"):
        common.timed_process([sys.executable, "-c", "raise SystemExit(3)"])


def test_scale_symbols_are_real_rows_renamed(tmp_path: Path, shared_data: Path) -> None:
    scale = _bench_module("bench_scale")
    source = shared_data / "bars" / "1m"
    bars = scale.make_symbols(source, tmp_path, 12, quick=False)
    made = sorted((tmp_path / "1m").glob("*.csv"))
    assert [p.stem for p in made] == [f"S{k:04d}" for k in range(12)]
    real = sorted(source.glob("*_BTC.csv"))
    rows = 0
    for index, path in enumerate(made):
        lines = path.read_text().splitlines()
        original = real[index % len(real)].read_text().splitlines()
        kept = [row for row in original[1:] if "2018-01-25" <= row[:10] < "2018-01-27"]
        assert lines == [original[0], *kept]
        rows += len(kept)
    assert bars == rows and 2000 * 12 < rows < 2880 * 12
