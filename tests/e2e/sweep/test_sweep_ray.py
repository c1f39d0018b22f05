"""The ``ray`` backend on a local Ray instance this module starts and stops: the
same rows as the local backend, a failing set (a raise, a crashed Ray worker)
fails alone, and the command line joins a running instance by ``--address``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratagem._sweep.local import LocalBackend
from stratagem._sweep.plan import plan_sweep
from stratagem._sweep.ray_backend import RayBackend
from stratagem._sweep.sweep import SweepFolder, SweepOutcome, load_bars, run_sweep

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[str]:
    """A local Ray instance with 2 CPUs; its address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def sweep(config: Path, grid: list[str], backend: Any, out: Path) -> SweepOutcome:
    """A sweep in this process, as the command line runs it."""
    plan = plan_sweep(config, grid)
    setup, bars = load_bars(plan, None)
    folder = SweepFolder(out, plan, resume=False, overwrite=False)
    return run_sweep(plan, setup, bars, backend, folder)


def figures(outcome: SweepOutcome) -> list[tuple[Any, ...]]:
    names = ("set", "params", "status", "signals", "pnl", "sharpe", "max_drawdown_pct")
    return [tuple(row[name] for name in names) for row in outcome.rows]


@pytest.mark.slow
def test_ray_tasks_give_the_local_backends_rows_and_fail_alone(
    ray_instance: str, sweeps: Any, tmp_path: Path
) -> None:
    config = sweeps.config(tmp_path / "sma.json", [sweeps.sma()])
    grid = ["sma_cross.fast_period=5,8", "sma_cross.slow_period=20:30:10"]
    on_ray = sweep(config, grid, RayBackend(), tmp_path / "ray")
    local = sweep(config, grid, LocalBackend(2), tmp_path / "local")
    assert on_ray.status == "ok" and len(on_ray.rows) == 4
    assert figures(on_ray) == figures(local)
    # the tasks ran in Ray's worker processes, not here
    assert {row["worker"].split(":")[-1] for row in on_ray.rows}.isdisjoint(
        {row["worker"].split(":")[-1] for row in local.rows}
    )

    fragile = sweeps.config(tmp_path / "fragile.json", [sweeps.fragile()])
    broken = sweep(fragile, ["fragile.mode=0:3"], RayBackend(), tmp_path / "broken")
    rows = {row["params"]["fragile.mode"]: row for row in broken.rows}
    assert [rows[m]["status"] for m in range(4)] == ["ok", "failed", "failed", "ok"]
    assert "RuntimeError: mode 1 breaks on" in rows[1]["error"]
    assert "the Ray task failed" in rows[2]["error"]
    assert rows[0]["signals"] > 0 and rows[3]["signals"] > 0
    assert broken.exit_code == 1
    # the instance this module started is still the one in use
    assert ray.is_initialized()


@pytest.mark.slow
def test_the_command_line_joins_a_running_instance_by_address(
    ray_instance: str, sweeps: Any, tmp_path: Path
) -> None:
    config = sweeps.config(tmp_path / "sma.json", [sweeps.sma()])
    out = tmp_path / "sweep"
    done = sweeps.cli(
        "sweep",
        str(config),
        "--grid",
        "sma_cross.fast_period=5,8",
        "--backend",
        "ray",
        "--address",
        ray_instance,
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["backend"] == f"ray ({ray_instance})"
    assert manifest["ok"] == 2
    assert [r["sma_cross.fast_period"] for r in sweeps.results(out)] == [5, 8]
