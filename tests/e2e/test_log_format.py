"""``stratagem run --log-format json``: every line on stderr is one JSON object, and
records carry the run id, strategy, symbol, interval and bar time where they apply.

The run is a subprocess over the embedded sample data with strategies written for
the test: one logs through ``ctx.log`` on a chosen bar, one raises on a chosen bar,
one only trades; a scanner adds a symbol mid-session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "session_configs" / "sample_data"
#: a 5m bar of ETH_BTC in the sample data, and one of LTC_BTC
TALK_AT = "2018-01-24T06:00:00Z"
FAIL_AT = "2018-01-24T08:15:00Z"

STRATEGIES = """
    from datetime import datetime

    from pydantic import Field

    from stratagem import Strategy, StrategyConfig


    class AtBarConfig(StrategyConfig):
        symbols: list[str] = Field(description="Symbols to follow.")
        at: str = Field(description="The 5m bar (open time) to act on.")


    def ns(text):
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int(moment.timestamp()) * 10**9


    class AtBar(Strategy):
        config_class = AtBarConfig

        def on_start(self, ctx):
            for symbol in self.config.symbols:
                ctx.subscribe(symbol, "5m")

        def on_bars(self, ctx, symbol, interval):
            if int(ctx.bars(symbol, interval).ts[-1]) == ns(self.config.at):
                self.act(ctx, symbol)


    class Talker(AtBar):
        def act(self, ctx, symbol):
            ctx.log.warning("a word from the strategy")


    class Failing(AtBar):
        def act(self, ctx, symbol):
            raise RuntimeError("boom on the chosen bar")
"""


def write_session(tmp_path: Path, **extra: Any) -> Path:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "log_format_strategies.py").write_text(textwrap.dedent(STRATEGIES))
    session = {
        "symbols": ["ETH_BTC", "LTC_BTC"],
        "streaming": {"data_upkeep": {"derived_intervals": [5]}},
        "data": {"path": str(SAMPLE_DATA)},
        "scanners": [
            {
                "name": "schedule",
                "config": {
                    "add": [{"symbol": "ZEC_BTC", "at": "2018-01-25T06:00:00Z"}]
                },
            }
        ],
        "strategies": [
            {
                "module": "log_format_strategies:Talker",
                "id": "talker",
                "config": {"symbols": ["ETH_BTC"], "at": TALK_AT},
            },
            {
                "module": "log_format_strategies:Failing",
                "id": "failing",
                "config": {"symbols": ["LTC_BTC"], "at": FAIL_AT},
            },
        ],
        **extra,
    }
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def run_json(tmp_path: Path, config: Path) -> tuple[int, list[dict[str, Any]], str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tmp_path / "modules"), env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(config),
            "--out",
            str(tmp_path / "run"),
            "--log-format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    assert lines, "nothing was logged"
    records = [json.loads(line) for line in lines]  # every line, or it raises
    return done.returncode, records, done.stdout


def test_every_stderr_line_is_a_json_record_that_says_where(tmp_path: Path) -> None:
    code, records, stdout = run_json(tmp_path, write_session(tmp_path))
    assert code == 3, records  # degraded: the failing strategy was quarantined
    assert stdout == ""
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    (run_id,) = {record.get("run_id") for record in records}
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    # the run folder says which run wrote it: its records can be found in the logs
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["run_id"] == run_id

    (talk,) = [r for r in records if r["message"] == "a word from the strategy"]
    assert talk["level"] == "WARNING"
    assert talk["logger"] == "stratagem.strategy.talker"
    assert (talk["strategy"], talk["symbol"], talk["interval"], talk["bar_ts"]) == (
        "talker",
        "ETH_BTC",
        "5m",
        TALK_AT,
    )

    (failure,) = [r for r in records if "boom on the chosen bar" in r["message"]]
    assert failure["level"] == "ERROR"
    assert (failure["strategy"], failure["symbol"], failure["bar_ts"]) == (
        "failing",
        "LTC_BTC",
        FAIL_AT,
    )
    # the traceback is inside the one line
    assert "Traceback (most recent call last)" in failure["message"]
    assert 'raise RuntimeError("boom on the chosen bar")' in failure["message"]

    (added,) = [r for r in records if r["message"].startswith("added ZEC_BTC")]
    assert added["symbol"] == "ZEC_BTC"
    assert "strategy" not in added

    per_strategy = {
        r["strategy"]: r["metrics"]
        for r in records
        if r["logger"] == "stratagem.metrics" and "strategy" in r
    }
    assert sorted(per_strategy) == ["failing", "talker"]
    assert per_strategy["failing"]["errors"] == 1
    assert per_strategy["failing"]["state"] == "quarantined"

    status = records[-1]
    assert status["logger"] == "stratagem.cli"
    assert status["message"].startswith("degraded: 0 signals; outputs in ")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["strategies"]["talker"]["notifications"] > 0


def test_config_errors_are_json_records_too(tmp_path: Path) -> None:
    config = write_session(tmp_path, speed_multipler=0)
    code, records, _ = run_json(tmp_path, config)
    assert code == 2
    assert all(record["level"] == "ERROR" for record in records)
    assert any("speed_multipler" in record["message"] for record in records)
    assert records[-1]["message"] == "1 problem found"
    assert not (tmp_path / "run").exists()
