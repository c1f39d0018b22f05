"""What the sweep tests share (fixture ``sweeps``): session configs over the
embedded sample data, a strategy that fails on purpose, the command line in a
subprocess with both on its import path, and the files a sweep writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "session_configs" / "sample_data"
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]
EXECUTION = {
    "broker": "paper",
    "initial_cash": 100.0,
    "fee_rate": 0.001,
    "slippage_bps": 2,
}

#: a strategy whose ``mode`` decides how it ends: 0 and 3 emit signals (at
#: different cadences), 1 raises in ``on_bars`` (while ``marker`` exists, when one is
#: given), 2 ends its whole process
FRAGILE = """
    import os

    from pydantic import Field

    from stratagem import Signal, Strategy, StrategyConfig


    class FragileConfig(StrategyConfig):
        symbols: list[str] = Field(min_length=1, description="Symbols.")
        mode: int = Field(0, ge=0, le=3, description="How the run ends.")
        marker: str = Field("", description="Mode 1 raises while this file exists.")


    class Fragile(Strategy):
        config_class = FragileConfig

        def on_start(self, ctx):
            for symbol in self.config.symbols:
                ctx.subscribe(symbol, "5m")

        def on_bars(self, ctx, symbol, interval):
            mode, marker = self.config.mode, self.config.marker
            if mode == 1 and (not marker or os.path.exists(marker)):
                raise RuntimeError(f"mode 1 breaks on {symbol}")
            if mode == 2:
                os._exit(17)
            bars = ctx.bars(symbol, interval)
            if len(bars) % (50 if mode == 0 else 70) == 0:
                ctx.emit(Signal(symbol, interval, int(bars.ts[-1]), "buy"))
"""


class SweepKit:
    """Helpers of the sweep tests.

    :param paths: import path entries for subprocesses: the test strategies'
        distribution (``sma_cross``) and the folder holding ``sweep_fragile``.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    @staticmethod
    def config(
        path: Path,
        strategies: Sequence[Mapping[str, Any]],
        *,
        execution: bool = True,
    ) -> Path:
        """A session over the five sample files, deriving 5m and 15m bars.

        :param strategies: the ``strategies`` entries.
        :param execution: add a paper ``execution`` block; every strategy trades
            10 % of its book's equity, long only.
        """
        session: dict[str, Any] = {
            "symbols": SYMBOLS,
            "streams": ["1m"],
            "streaming": {
                "data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}
            },
            "data": {"source": "csv", "path": str(SAMPLE)},
            "strategies": [dict(entry) for entry in strategies],
        }
        if execution:
            session["execution"] = dict(EXECUTION)
            for entry in session["strategies"]:
                entry["execution"] = {
                    "sizing": {"kind": "percent_equity", "percent": 10},
                    "direction": "long_only",
                }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"session_data_config": session}, indent=2))
        return path

    @staticmethod
    def sma(**config: Any) -> dict[str, Any]:
        """An entry of the core tests' own ``sma_cross`` on 5m."""
        return {
            "module": "sma_cross",
            "config": {
                "symbols": SYMBOLS,
                "interval": "5m",
                "fast_period": 10,
                "slow_period": 20,
                **config,
            },
        }

    @staticmethod
    def fragile(**config: Any) -> dict[str, Any]:
        """An entry of ``sweep_fragile:Fragile`` with the id ``fragile``."""
        return {
            "module": "sweep_fragile:Fragile",
            "id": "fragile",
            "config": {"symbols": SYMBOLS, **config},
        }

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``python -m stratagem.cli ARGS`` with :attr:`paths` on PYTHONPATH."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [*map(str, self.paths), *filter(None, [env.get("PYTHONPATH")])]
        )
        return subprocess.run(
            [sys.executable, "-m", "stratagem.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
        )

    @staticmethod
    def results(folder: Path) -> list[dict[str, Any]]:
        """``results.parquet`` as rows."""
        import pyarrow.parquet as pq

        return pq.read_table(folder / "results.parquet").to_pylist()

    @staticmethod
    def journal(folder: Path) -> list[dict[str, Any]]:
        """``sets.jsonl`` as rows, in the order they were written."""
        lines = (folder / "sets.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def sweeps(
    local_dist_site: Path,
    write_module: Callable[[str, str], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SweepKit:
    """The kit; ``sweep_fragile`` is written, and both import paths are on this
    process's ``sys.path`` too (for sweeps run in-process)."""
    write_module("sweep_fragile", FRAGILE)
    monkeypatch.syspath_prepend(str(local_dist_site))
    return SweepKit([local_dist_site, tmp_path / "plugin_modules"])
