"""Under ``validation: drop`` a bad bar is gone, counted, reported in the manifest,
and no strategy ever sees it; under ``reject`` the session refuses to start."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from stratagem._config.loading import load_session
from stratagem._data.timefmt import parse_ts
from stratagem._session.run import RunOptions, RunOutcome, run_session

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"

RECORDER = textwrap.dedent(
    """
    from stratagem import Strategy

    SEEN = []

    class Everything(Strategy):
        def on_start(self, ctx):
            ctx.subscribe("ETH_BTC", "1m")
            ctx.subscribe("ETH_BTC", "5m")

        def on_bars(self, ctx, symbol, interval):
            bars = ctx.bars(symbol, interval)
            SEEN.extend((interval, int(t)) for t in bars.ts[-ctx.new_bars :])
    """
)


@pytest.fixture
def bad_data(tmp_path: Path) -> tuple[Path, str]:
    """ETH_BTC with one row whose high is below its low (line 101 of the file)."""
    lines = (SAMPLE / "1m" / "ETH_BTC.csv").read_text().splitlines()
    fields = lines[100].split(",")
    fields[2], fields[3] = fields[3], str(float(fields[2]) * 1.01)
    lines[100] = ",".join(fields)
    folder = tmp_path / "data" / "1m"
    folder.mkdir(parents=True)
    (folder / "ETH_BTC.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "data", fields[0]


def _run(
    tmp_path: Path, data: Path, policy: str, monkeypatch
) -> tuple[RunOutcome, str]:
    module = f"recorder_{policy}_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(RECORDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                    "data": {"path": str(data), "validation": policy},
                    "reporters": [],
                    "strategies": [{"module": f"{module}:Everything"}],
                }
            }
        )
    )
    loaded = load_session(config)
    return run_session(loaded, RunOptions(out_dir=tmp_path / "out")), module


def test_drop_removes_counts_and_reports_and_no_strategy_sees_it(
    tmp_path: Path, bad_data, monkeypatch
) -> None:
    data, bad_stamp = bad_data
    outcome, module = _run(tmp_path, data, "drop", monkeypatch)
    assert outcome.status == "ok"
    seen = __import__(module).SEEN
    bad = parse_ts(bad_stamp)
    one_minute = [t for iv, t in seen if iv == "1m"]
    total_rows = len((data / "1m" / "ETH_BTC.csv").read_text().splitlines()) - 1
    assert bad not in one_minute
    assert len(one_minute) == total_rows - 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (entry,) = manifest["data"]["files"]
    assert entry["validation"]["dropped"] == 1
    assert entry["validation"]["counts"]["high_below_low"] == 1
    assert entry["validation"]["issues"][0]["row"] == 101


def test_reject_refuses_to_start_naming_file_row_and_column(
    tmp_path: Path, bad_data, monkeypatch
) -> None:
    data, bad_stamp = bad_data
    outcome, module = _run(tmp_path, data, "reject", monkeypatch)
    assert outcome.exit_code == 2 and outcome.status == "failed"
    assert "ETH_BTC.csv" in outcome.error and "row 101" in outcome.error
    assert bad_stamp in outcome.error and "high" in outcome.error
    assert __import__(module).SEEN == []
    # refused before its first step: no output folder
    assert outcome.session.rejected and not (tmp_path / "out").exists()
