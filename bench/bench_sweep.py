"""Benchmark: parameter sweep throughput (sets per second).

One grid, 48 parameter sets of ``ma_cross`` (fast 5..10 x slow 20..55 step 5, 5m,
signals only) on the five Bittrex 1m files, run by:

- a single-process loop: the sets one after another in this process, each through
  the sweep's own task code (the data read once beforehand, as the sweep does);
- ``stratagem sweep``'s local backend with 1, 2 and all cores (worker start-up
  included);
- its Ray backend with 1, 2 and all cores, on a local Ray instance started once
  (its start-up is a figure of its own);
- backtrader's ``optstrategy`` with ``maxcpus`` = all cores (``optdatas`` and
  ``optreturn`` on: the feeds are loaded once and shared by the forked workers).

Each repeat runs every contender back to back. Every stratagem contender must give
every set the same signal count; backtrader's crossing counts are compared with
them per set (they differ by a crossing or two on a few sets: backtrader's SMA is a
running sum, ma_cross's mean is correctly rounded, and where the two averages are
within rounding of each other the sign of their difference can differ; two numpy
computations, by cumsum and by fsum, agree with ma_cross).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import backtrader as bt
from _common import Context, Result, Target, write_session
from backtrader_ma_cross import CrossLog, add_feeds

TARGET_SCALING = 0.8
TARGET_VS_BACKTRADER = 25.0
FULL_GRID = ("ma_cross.fast_period=5:10:1", "ma_cross.slow_period=20:55:5")
QUICK_GRID = ("ma_cross.fast_period=5,6", "ma_cross.slow_period=20")

METHOD = (
    "48 parameter sets of ma_cross (fast_period 5..10 x slow_period 20..55 step 5, "
    "5m, min_quality 0, signals only) on the five Bittrex 1m files, a session "
    "deriving 5m and 15m per set. Rate = sets / wall seconds of the whole grid. "
    "Single-process loop: the sets one after another in this process through the "
    "sweep's task code (SweepWorker.run), the bars read once before. Local: "
    "LocalBackend(n).run on the same preloaded bars (forkserver workers started, "
    "the bars mapped from one shared file, plugins loaded: all inside the timing). "
    "Ray: RayBackend(workers=n) on a local Ray instance started once with every CPU "
    "(start-up reported apart). backtrader: optstrategy(CrossLog, fast, slow) with "
    "optdatas and optreturn, maxcpus = all cores, GenericCSVData shifted +1 min to "
    "close-stamped and resampled to 5m, CSV reading included. CPU = driver CPU + "
    "each task's process CPU (stratagem), or this process and its reaped children "
    "(backtrader). Scaling = rate / (n x loop rate), per repeat. Contenders run "
    "back to back in each repeat; figures are medians."
)


# --- backtrader (run in a child process of its own: its pool forks, and a fork of a
# process with Ray's threads running can hang) -------------------------------------


class Crossings(bt.Analyzer):
    """Hands the strategy's count back through ``optreturn``."""

    def stop(self) -> None:
        self.rets["crossings"] = self.strategy.count


def backtrader_opt(
    bars_root: Path, symbols: Sequence[str], grid: dict[str, list[int]], cpus: int
) -> dict[str, int]:
    """backtrader's optimiser over the grid; crossings per ``"fast/slow"``."""
    cerebro = bt.Cerebro(stdstats=False, optdatas=True, optreturn=True, maxcpus=cpus)
    add_feeds(cerebro, bars_root, symbols)
    cerebro.addanalyzer(Crossings, _name="crossings")
    cerebro.optstrategy(CrossLog, fast=grid["fast_period"], slow=grid["slow_period"])
    found: dict[str, int] = {}
    for (result,) in cerebro.run():
        key = f"{result.params.fast}/{result.params.slow}"
        found[key] = result.analyzers.crossings.get_analysis()["crossings"]
    return found


def backtrader_child(
    bars_root: Path, symbols: Sequence[str], grid: dict[str, list[int]], cpus: int
) -> tuple[float, dict[str, int]]:
    """:func:`backtrader_opt` in a fresh interpreter; ``(wall seconds of the
    optimisation inside it, crossings per "fast/slow")``."""
    request = {"root": str(bars_root), "symbols": list(symbols), "grid": grid}
    done = subprocess.run(
        [sys.executable, __file__, "--backtrader", json.dumps(request), str(cpus)],
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if done.returncode != 0:
        raise RuntimeError(f"backtrader child exited {done.returncode}:\n{done.stderr}")
    body = json.loads(done.stdout.splitlines()[-1])
    return body["wall"], body["crossings"]


def _backtrader_main(request: str, cpus: str) -> None:
    body = json.loads(request)
    wall0 = time.perf_counter()
    found = backtrader_opt(Path(body["root"]), body["symbols"], body["grid"], int(cpus))
    wall = time.perf_counter() - wall0
    print(json.dumps({"wall": wall, "crossings": found}))


# --- stratagem ------------------------------------------------------------------------


class Sweep:
    """The grid's plan, tasks and preloaded bars, made once."""

    def __init__(self, config: Path, grid: Sequence[str]) -> None:
        from stratagem._sweep.plan import plan_sweep
        from stratagem._sweep.sweep import load_bars
        from stratagem._sweep.task import SetTask

        self.plan = plan_sweep(config, grid)
        self.setup, self.bars = load_bars(self.plan, None)
        self.tasks = [SetTask(s.index, s.as_dict()) for s in self.plan.sets]

    def key(self, values: dict[str, Any]) -> str:
        return f"{values['ma_cross.fast_period']}/{values['ma_cross.slow_period']}"

    def loop(self, count: int | None = None) -> tuple[list[Any], float]:
        """The first ``count`` sets (all by default) in this process; ``(results,
        task CPU seconds)``, the latter 0 as this process's CPU counts them."""
        from stratagem._sweep.task import SweepWorker

        worker = SweepWorker(self.setup, self.bars)
        results = [worker.run(task) for task in self.tasks[:count]]
        return results, 0.0

    def on(self, backend: Any, count: int | None = None) -> tuple[list[Any], float]:
        """The first ``count`` sets on ``backend``, as a new sweep (a Ray worker
        keeps no state of an earlier one); ``(results, task CPU seconds)``."""
        setup = replace(self.setup, sweep_id=uuid.uuid4().hex)
        results: list[Any] = []
        backend.run(setup, self.bars, self.tasks[:count], results.append)
        return results, sum(r.cpu_s for r in results)


def _signals(sweep: Sweep, results: Sequence[Any], name: str) -> dict[Any, int]:
    failed = [r for r in results if r.status != "ok"]
    if failed or len(results) != len(sweep.tasks):
        raise RuntimeError(
            f"{name}: {len(failed)} set(s) failed of {len(results)}: "
            + "; ".join(str(r.error) for r in failed[:3])
        )
    return {sweep.key(dict(r.values)): r.signals for r in results}


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], tuple[Any, float]]) -> tuple[float, float, Any]:
    """``(wall, CPU, value)``: CPU is this process's (and reaped children's) plus
    the task CPU ``fn`` reports for processes that are not its children."""
    cpu0, wall0 = _cpu_now(), time.perf_counter()
    value, task_cpu = fn()
    return time.perf_counter() - wall0, _cpu_now() - cpu0 + task_cpu, value


def run(ctx: Context) -> Result:
    import ray

    from stratagem._sweep.local import LocalBackend
    from stratagem._sweep.ray_backend import RayBackend

    result = Result("sweep", "Parameter sweeps (ma_cross over a grid)", METHOD)
    scratch = ctx.tmpdir("sweep-")
    config = write_session(scratch / "sweep.json", ctx.bars_root, reporters=())
    grid = QUICK_GRID if ctx.quick else FULL_GRID
    sweep = Sweep(config, grid)
    cpus = os.cpu_count() or 1
    counts = sorted({1, 2, cpus}) if not ctx.quick else [1, 2]
    bt_cpus = counts[-1]
    sets = len(sweep.tasks)
    columns = {a.param: list(a.values) for a in sweep.plan.axes}
    symbols = list(sweep.plan.loaded.config.session_data_config.symbols)
    result.info.update(
        sets=sets, grid=list(grid), cores=counts, cpus=cpus, backtrader_maxcpus=bt_cpus
    )

    wall0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    result.figure("Ray local instance start-up", "s").add(time.perf_counter() - wall0)
    try:
        # warm every contender's imports and code paths, and Ray's worker processes
        sweep.loop(1)
        sweep.on(LocalBackend(1), 1)
        sweep.on(RayBackend(workers=cpus), cpus)

        contenders: dict[str, Callable[[], tuple[Any, float]]] = {
            "single-process loop": sweep.loop
        }
        for n in counts:
            contenders[f"local, {n} core(s)"] = lambda n=n: sweep.on(LocalBackend(n))
        for n in counts:
            contenders[f"ray, {n} core(s)"] = lambda n=n: sweep.on(
                RayBackend(workers=n)
            )
        expected: dict[Any, int] | None = None
        bt_found: list[dict[str, int]] = []
        for index in range(ctx.repeat):
            rates: dict[str, float] = {}
            for name, fn in contenders.items():
                wall, cpu, results = _timed(fn)
                found = _signals(sweep, results, name)
                if expected is None:
                    expected = found
                elif found != expected:
                    raise RuntimeError(f"{name}: signal counts differ from the loop")
                rates[name] = sets / wall
                result.figure(f"{name}", "sets/s").add(rates[name])
                result.figure(f"{name} wall", "s").add(wall)
                result.figure(f"{name} CPU", "s").add(cpu)
            name = f"backtrader optstrategy, maxcpus={bt_cpus}"
            _, cpu, (wall, crossings) = _timed(
                lambda: (
                    backtrader_child(ctx.bars_root, symbols, columns, bt_cpus),
                    0.0,
                )
            )
            rates[name] = sets / wall
            result.figure(name, "sets/s").add(rates[name])
            result.figure(f"{name} wall", "s").add(wall)
            result.figure(f"{name} CPU", "s").add(cpu)
            bt_found.append(crossings)
            loop = rates["single-process loop"]
            for n in counts:
                for backend in ("local", "ray"):
                    result.ratio(
                        f"{backend} {n} core(s) / ({n} x loop)",
                        "scaling: 1.0 is perfect",
                    ).add(rates[f"{backend}, {n} core(s)"] / (n * loop))
            top = counts[-1]
            for backend in ("local", "ray"):
                result.ratio(f"{backend} {top} cores / backtrader {bt_cpus}").add(
                    rates[f"{backend}, {top} core(s)"] / rates[name]
                )
            ctx.log(
                f"sweep repeat {index + 1}: "
                + ", ".join(f"{k} {v:.2f} sets/s" for k, v in rates.items())
            )
    finally:
        ray.shutdown()
    assert expected is not None
    result.info["signals_per_set"] = expected
    # backtrader's SMA is a running sum, ma_cross's a correctly rounded mean: where
    # the two averages are within rounding of each other, a crossing can differ
    differ = {
        key: {"stratagem": expected[key], "backtrader": found.get(key)}
        for found in bt_found[:1]
        for key in expected
        if found.get(key) != expected[key]
    }
    result.info["backtrader_sets_equal"] = f"{sets - len(differ)} of {sets}"
    result.info["backtrader_differences"] = differ
    result.info["backtrader_same_every_repeat"] = all(
        found == bt_found[0] for found in bt_found
    )
    print(
        f"sweep: backtrader's crossing count equals stratagem's signal count on "
        f"{sets - len(differ)} of {sets} sets; differences: {differ}",
        file=sys.stderr,
    )
    top = counts[-1]
    for backend in ("local", "ray"):
        result.targets.append(
            Target(
                f"{backend} sweep on {top} cores >= 0.8 x {top} x single-process rate",
                result.get(f"{backend} {top} core(s) / ({top} x loop)").median,
                ">=",
                TARGET_SCALING,
                "x",
                "rate / (cores x loop rate)",
            )
        )
        result.targets.append(
            Target(
                f"{backend} sweep >= 25x backtrader optstrategy (maxcpus={bt_cpus})",
                result.get(f"{backend} {top} cores / backtrader {bt_cpus}").median,
                ">=",
                TARGET_VS_BACKTRADER,
                "x",
            )
        )
    return result


if __name__ == "__main__" and sys.argv[1:2] == ["--backtrader"]:
    _backtrader_main(*sys.argv[2:])
