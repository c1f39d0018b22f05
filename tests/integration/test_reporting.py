"""Metrics reach reporter plugins on the reporting (main) thread, periodically and at
the end; a reporter that raises is dropped and the session goes on."""

from __future__ import annotations

import json
import textwrap
import threading
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from stratagem._config.loading import load_session
from stratagem._session.run import RunOptions, run_session

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"

REPORTER_MODULE = textwrap.dedent(
    """
    import threading
    from stratagem import hookimpl

    class Recorder:
        def __init__(self):
            self.reports = []

        @hookimpl
        def stratagem_report_metrics(self, report):
            self.reports.append((threading.current_thread().name, report))

    class Broken:
        calls = 0

        @hookimpl
        def stratagem_report_metrics(self, report):
            Broken.calls += 1
            raise RuntimeError("sink is down")

    class Exits:
        @hookimpl
        def stratagem_report_metrics(self, report):
            if report.final:
                raise SystemExit(7)

    recorder = Recorder()
    broken = Broken()
    exits = Exits()
    """
)


@pytest.fixture
def reporter_module(tmp_path: Path, monkeypatch) -> str:
    name = f"recording_reporters_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(REPORTER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_hook_stratagem_report_metrics(
    tmp_path: Path, reporter_module: str, local_strategies
) -> None:
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC", "LTC_BTC"],
                    "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                    "data": {"path": str(SAMPLE)},
                    "start": "2018-01-24T10:00:00Z",
                    "end": "2018-01-24T11:40:00Z",
                    "speed_multiplier": 6000,
                    "metrics_interval_s": 0.1,
                    "reporters": ["recorder", "broken"],
                    "strategies": [
                        {
                            "module": "sma_cross",
                            "config": {
                                "symbols": ["ETH_BTC", "LTC_BTC"],
                                "interval": "5m",
                                "fast_period": 3,
                                "slow_period": 6,
                            },
                        }
                    ],
                }
            }
        )
    )
    entry_points = [
        EntryPoint("recorder", f"{reporter_module}:recorder", "stratagem"),
        EntryPoint("broken", f"{reporter_module}:broken", "stratagem"),
        # the tests' own strategy distribution, installed on sys.path
        *[ep for ep in _installed() if ep.name == "sma_cross"],
    ]
    loaded = load_session(config, entry_points=entry_points)
    outcome = run_session(loaded, RunOptions(out_dir=tmp_path / "out"))
    # the raising reporter was quarantined: the run finished without it
    assert outcome.status == "degraded" and outcome.exit_code == 3
    module = __import__(reporter_module)
    reports = module.recorder.reports
    periodic = [r for _, r in reports if not r.final]
    finals = [r for _, r in reports if r.final]
    # 100 session minutes at 6000x take about one second: several periodic reports
    assert len(periodic) >= 3
    assert len(finals) == 1
    assert {name for name, _ in reports} == {threading.main_thread().name}
    final = finals[0]
    assert final.system["bars_in"] == outcome.metrics["system"]["bars_in"] > 0
    assert final.system["bottleneck"] == "sma_cross"
    assert final.strategies["sma_cross"]["notifications"] > 0
    # periodic snapshots grow towards the final one, every count current in each
    for name in ("bars_in", "steps", "notifications"):
        seen = [r.system[name] for r in periodic] + [final.system[name]]
        assert seen == sorted(seen), name
        assert seen[-2] > 0, name
    assert final.system["steps"] == outcome.session.result.steps > 0
    assert final.system["notifications"] == outcome.session.result.notifications
    # the raising reporter was called once, then never again
    assert module.Broken.calls == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (failure,) = manifest["failures"]
    assert (failure["plugin"], failure["id"], failure["action"]) == (
        "reporter",
        "broken",
        "quarantine",
    )
    assert "sink is down" in failure["error"] and failure["count"] == 1


def test_a_reporter_that_exits_at_the_end_still_leaves_the_run_folder(
    tmp_path: Path, reporter_module: str, local_strategies
) -> None:
    """SystemExit is no Exception: the failure policy cannot hold it, and it goes
    on up. The run folder is written first."""
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                    "data": {"path": str(SAMPLE)},
                    "end": "2018-01-24T06:00:00Z",
                    "reporters": ["exits"],
                    "strategies": [
                        {
                            "module": "sma_cross",
                            "config": {
                                "symbols": ["ETH_BTC"],
                                "interval": "5m",
                                "fast_period": 3,
                                "slow_period": 6,
                            },
                        }
                    ],
                }
            }
        )
    )
    entry_points = [
        EntryPoint("exits", f"{reporter_module}:exits", "stratagem"),
        *[ep for ep in _installed() if ep.name == "sma_cross"],
    ]
    loaded = load_session(config, entry_points=entry_points)
    with pytest.raises(SystemExit) as exited:
        run_session(loaded, RunOptions(out_dir=tmp_path / "out"))
    assert exited.value.code == 7
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    signals = (tmp_path / "out" / "signals.csv").read_text().splitlines()
    assert len(signals) > 1


def _installed() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return list(entry_points(group="stratagem"))


def test_a_new_run_into_the_same_folder_starts_metrics_jsonl_afresh(
    tmp_path: Path,
) -> None:
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "data": {"path": str(SAMPLE)},
                    "end": "2018-01-24T06:00:00Z",
                    "reporters": ["json"],
                }
            }
        )
    )
    for _ in range(2):
        loaded = load_session(config)
        run_session(loaded, RunOptions(out_dir=tmp_path / "out", overwrite=True))
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    finals = [json.loads(line) for line in lines if json.loads(line)["final"]]
    assert len(finals) == 1
    rows = (SAMPLE / "1m" / "ETH_BTC.csv").read_text().splitlines()[1:]
    expected = sum(1 for row in rows if row < "2018-01-24T06:00:00Z")
    assert finals[0]["system"]["bars_in"] == expected
