"""Run every stratagem benchmark side by side and write ``latest.json`` / ``latest.md``.

    python bench/run.py [--quick] [--repeat N] [--out DIR] [--only NAME,...]

``--quick`` runs one repeat on tiny inputs (a smoke run; its figures mean little).
The Markdown table is also printed to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_DATA,
    REPO,
    Context,
    Result,
    fmt,
    make_quick_data,
)

BENCHMARKS = (
    "throughput",
    "scale",
    "notify",
    "latency",
    "replay",
    "memory",
    "backpressure",
    "sweep",
)


def _runner(name: str) -> Callable[[Context], Result]:
    module = __import__(f"bench_{name}")
    return module.run


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _version_of(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _meta(ctx: Context, data_root: Path) -> dict[str, Any]:
    import numpy

    import stratagem

    source = Path(stratagem.__file__).resolve().parent
    in_repo = source.is_relative_to(REPO)
    changed = _git("status", "--porcelain", "--", "core", "strategies-contrib")
    try:
        import backtrader

        bt_version = backtrader.__version__
    except ImportError:
        bt_version = None
    return {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _git("rev-parse", "HEAD") or "unknown",
        "stratagem_source": str(source),
        # uncommitted core changes measured (only meaningful for an in-repo source)
        "core_dirty": bool(changed) if in_repo and changed is not None else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "stratagem": stratagem.__version__,
        "numpy": numpy.__version__,
        "backtrader": bt_version,
        "nautilus_trader": _version_of("nautilus_trader"),
        "quick": ctx.quick,
        "repeat": ctx.repeat,
        "data": str(data_root),
        "env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
    }


def status_label(target: Any, quick: bool) -> str:
    """MET or MISSED; a quick run's tiny inputs measure nothing, so its figures are
    only indicative."""
    if quick:
        return "indicative (quick run, not a measurement)"
    return str(target.status)


def render_markdown(meta: dict[str, Any], results: list[Result]) -> str:
    """The results as Markdown: a targets table, then one table per benchmark."""
    lines = [
        "# stratagem benchmarks",
        "",
        f"{meta['created']}, commit `{meta['commit'][:12]}`"
        + (" (with uncommitted core changes)" if meta["core_dirty"] else "")
        + (
            ""
            if meta["core_dirty"] is not None
            else f" (stratagem imported from {meta['stratagem_source']})"
        )
        + f", Python {meta['python']}, "
        f"{meta['cpus']} CPUs, {meta['platform']}; {meta['repeat']} repeat(s), "
        "figures are median (min-max)."
        + (" QUICK run: tiny inputs, not a measurement." if meta["quick"] else ""),
        "",
        "## Targets",
        "",
        "| benchmark | target | figure | status |",
        "|---|---|---|---|",
    ]
    for result in results:
        for target in result.targets:
            lines.append(
                f"| {result.key} | {target.name} | {target.figure} {target.unit} "
                f"({target.op} {fmt(target.threshold)}) | "
                f"**{status_label(target, meta['quick'])}** |"
            )
    for number, result in enumerate(results, 1):
        lines += ["", f"## {number}. {result.title}", "", result.method, ""]
        lines += [
            "| figure | median | min | max | unit | n |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for figure in result.figures:
            name = f"{figure.name} ({figure.note})" if figure.note else figure.name
            lines.append(
                f"| {name} | {fmt(figure.median)} | {fmt(figure.low)} | "
                f"{fmt(figure.high)} | {figure.unit} | {len(figure.samples)} |"
            )
        if result.ratios:
            lines += [
                "",
                "| ratio | median | min | max | n |",
                "|---|---:|---:|---:|---:|",
            ]
            for ratio in result.ratios:
                name = f"{ratio.name} ({ratio.note})" if ratio.note else ratio.name
                lines.append(
                    f"| {name} | {fmt(ratio.median)}x | {fmt(ratio.low)}x | "
                    f"{fmt(ratio.high)}x | {len(ratio.samples)} |"
                )
        if result.info:
            lines.append("")
            for key, value in result.info.items():
                lines.append(f"- {key}: {json.dumps(value, default=str)}")
        lines.append(f"- benchmark wall time: {result.wall_s:.1f} s")
    return "\n".join(lines) + "\n"


def run_isolated(name: str, ctx: Context) -> Result:
    """Run one benchmark in a fresh interpreter and read back its result.

    Each benchmark gets a process of its own, so none inherits another's threads,
    heap or garbage (a bigger heap makes every full garbage collection, and so the
    clock-driven latencies, worse than a user's process would see).
    """
    out = ctx.tmp / f"{name}.json"
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--child-out",
        str(out),
        "--child-bars",
        str(ctx.bars_root),
        "--child-tmp",
        str(ctx.tmpdir(f"{name}-")),
        "--repeat",
        str(ctx.repeat),
    ]
    if ctx.quick:
        command.append("--quick")
    done = subprocess.run(command, stdout=sys.stderr, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {name} failed (exit {done.returncode})")
    return Result.from_dict(name, json.loads(out.read_text()))


def _child(args: argparse.Namespace) -> int:
    ctx = Context(
        bars_root=args.child_bars,
        quick=args.quick,
        repeat=args.repeat,
        tmp=args.child_tmp,
    )
    result = _runner(args.child)(ctx)
    args.child_out.write_text(json.dumps(result.as_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, tiny inputs")
    parser.add_argument("--repeat", type=int, help="repeats per figure (default 5)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data")
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--child", choices=BENCHMARKS, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-bars", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    selected = BENCHMARKS
    if args.only:
        selected = tuple(name.strip() for name in args.only.split(","))
        unknown = sorted(set(selected) - set(BENCHMARKS))
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    bars = args.data.resolve() / "bars"
    if not (bars / "1m").is_dir():
        print(f"error: no 1m bar files under {bars} (pass --data DIR)", file=sys.stderr)
        return 2
    try:
        import backtrader  # noqa: F401
    except ImportError:
        print(
            "error: backtrader is not installed; `pip install backtrader` "
            "(it is in the hatch env)",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="stratagem-bench-"))
    try:
        if args.quick:
            bars = make_quick_data(bars, tmp / "quick-bars")
        ctx = Context(bars_root=bars, quick=args.quick, repeat=repeat, tmp=tmp)
        meta = _meta(ctx, args.data.resolve())
        results: list[Result] = []
        for name in selected:
            ctx.log(f"{name}: start")
            t0 = time.perf_counter()
            result = run_isolated(name, ctx)
            result.wall_s = time.perf_counter() - t0
            results.append(result)
            for target in result.targets:
                ctx.log(
                    f"{name}: {status_label(target, args.quick)}: {target.name}: "
                    f"{target.figure} {target.unit}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta["wall_s"] = time.perf_counter() - started
    document = {
        "meta": meta,
        "benchmarks": {result.key: result.as_dict() for result in results},
        "targets": [
            {"benchmark": result.key, **target.as_dict()}
            for result in results
            for target in result.targets
        ],
    }
    markdown = render_markdown(meta, results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown)
    print(markdown)
    for result in results:
        for target in result.targets:
            print(
                f"{status_label(target, args.quick)}: {result.key}: {target.name}: "
                f"{target.figure} {target.unit} (target {target.op} "
                f"{fmt(target.threshold)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
