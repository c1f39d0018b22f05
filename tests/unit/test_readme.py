"""The README's strategy example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from stratagem.testing import make_bars, run_strategy

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_strategy_example_runs_and_signals() -> None:
    (code,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
        if "class Momentum" in block
    ]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    strategy = namespace["Momentum"]
    (spec,) = namespace["stratagem_strategies"]()
    assert spec.name == "momentum" and spec.strategy is strategy
    closes = [10, 11, 12, 11, 10, 9, 10, 11, 12, 13, 14, 13, 12, 15]
    outcome = run_strategy(
        strategy,
        {"symbols": ["A"], "interval": "1m"},
        {"A": make_bars(closes)},
        derived_intervals=(),
    )
    # a buy on each bar (from the 10th) that closes at the high of the last ten
    expected = [
        i for i in range(9, len(closes)) if closes[i] >= max(closes[i - 9 : i + 1])
    ]
    bars = make_bars(closes)
    assert [s.bar_ts for s in outcome.signals] == [int(bars.ts[i]) for i in expected]
    assert expected and {s.side for s in outcome.signals} == {"buy"}
