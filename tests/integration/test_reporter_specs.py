"""Reporters with a typed config (``stratagem_reporters`` / ``ReporterSpec``): the
config is validated with the session file, each entry gets its own reporter made
from it before the first report, every report reaches it on the main thread, and
it is closed once when the session ends, whatever happened."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stratagem._config.loading import ConfigError, load_session, session_json_schema
from stratagem._plugins.loader import PluginStatus, load_plugins
from stratagem._session.run import RunOptions, run_session
from stratagem.cli import CliState, main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"

WriteModule = Callable[[str, str], None]

RECORDING = """
import threading

from pydantic import BaseModel, ConfigDict, Field

from stratagem import ReporterSpec, hookimpl

EVENTS = []


class RecordingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field("default", description="Names the reporter in EVENTS.")
    every: int = Field(1, ge=1, description="Keep every N-th periodic report.")
    fail_in: str = Field("", description="'report' or 'close': raise there.")


class Recording:
    def __init__(self, config):
        self.config = config
        EVENTS.append((config.label, "made", config, threading.current_thread().name))

    def report(self, report):
        name = threading.current_thread().name
        EVENTS.append((self.config.label, "report", report, name))
        if self.config.fail_in == "report":
            raise RuntimeError("sink is down")

    def close(self):
        name = threading.current_thread().name
        EVENTS.append((self.config.label, "close", None, name))
        if self.config.fail_in == "close":
            raise RuntimeError("cannot close")


@hookimpl
def stratagem_reporters():
    return [
        ReporterSpec(
            name="recording",
            factory=Recording,
            config=RecordingConfig,
            description="records what it is given",
        )
    ]
"""


@pytest.fixture
def recording(write_module: WriteModule) -> tuple[EntryPoint, Any]:
    """The ``recording`` reporter plugin as an injected entry point; its module."""
    write_module("recording_reporter", RECORDING)
    module = __import__("recording_reporter")
    module.EVENTS.clear()
    return EntryPoint("recording", "recording_reporter", "stratagem"), module


def session_file(tmp_path: Path, reporters: list[Any], **extra: Any) -> Path:
    """A short data-driven session on the embedded sample data, no strategy."""
    path = tmp_path / "session.json"
    session = {
        "symbols": ["ETH_BTC"],
        "data": {"path": str(SAMPLE)},
        "end": "2018-01-24T02:00:00Z",
        "reporters": reporters,
        **extra,
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def events_of(module: Any, label: str) -> list[tuple[str, Any, str]]:
    return [
        (kind, value, thread)
        for who, kind, value, thread in module.EVENTS
        if who == label
    ]


def test_hook_stratagem_reporters(tmp_path: Path, recording: tuple) -> None:
    ep, module = recording
    config = session_file(
        tmp_path,
        [{"name": "recording", "config": {"label": "a", "every": 3}}, "recording"],
        metrics_interval_s=0.05,
    )
    loaded = load_session(config, entry_points=[ep])
    # each entry resolved, in file order; a bare name takes the model's defaults
    assert [(r.id, r.name) for r in loaded.reporters] == [
        ("recording", "recording"),
        ("recording#2", "recording"),
    ]
    outcome = run_session(loaded, RunOptions(out_dir=tmp_path / "out"))
    assert outcome.status == "ok"
    main_thread = threading.main_thread().name
    for label, every in (("a", 3), ("default", 1)):
        events = events_of(module, label)
        kinds = [kind for kind, _, _ in events]
        # made once (before any report), then the reports, the final last, closed once
        assert kinds[0] == "made" and kinds[-1] == "close"
        assert kinds.count("made") == 1 and kinds.count("close") == 1
        reports = [value for kind, value, _ in events if kind == "report"]
        assert reports and reports[-1].final
        assert not any(report.final for report in reports[:-1])
        made = events[0][1]
        assert type(made).__name__ == "RecordingConfig" and made.every == every
        assert {thread for _, _, thread in events} == {main_thread}
    final = events_of(module, "a")[-2][1]
    assert final.system["bars_in"] == outcome.metrics["system"]["bars_in"] > 0


def test_reporter_config_errors_name_their_json_path(
    tmp_path: Path, recording: tuple
) -> None:
    ep, _ = recording
    config = session_file(
        tmp_path,
        [
            {"name": "recording", "config": {"every": 0, "lable": "x"}},
            {"name": "json", "config": {"indent": 2}},
            {"name": "recordnig"},
            "consol",
        ],
    )
    with pytest.raises(ConfigError) as raised:
        load_session(config, entry_points=[ep])
    issues = {issue.path: issue for issue in raised.value.issues}
    where = "session_data_config.reporters"
    assert set(issues) == {
        f"{where}[0].config.every",
        f"{where}[0].config.lable",
        f"{where}[1].config",
        f"{where}[2].name",
        f"{where}[3]",
    }
    every = issues[f"{where}[0].config.every"]
    assert "greater than or equal to 1" in every.message
    assert every.context == "reporter recording from - -"
    assert issues[f"{where}[0].config.lable"].suggestion == "label"
    assert "takes no config" in issues[f"{where}[1].config"].message
    assert issues[f"{where}[2].name"].suggestion == "recording"
    assert issues[f"{where}[3]"].suggestion == "console"


def test_a_reporter_is_closed_after_it_failed_and_a_failing_close_is_recorded(
    tmp_path: Path, recording: tuple
) -> None:
    ep, module = recording
    config = session_file(
        tmp_path,
        [
            {"name": "recording", "config": {"label": "r", "fail_in": "report"}},
            {"name": "recording", "config": {"label": "c", "fail_in": "close"}},
        ],
    )
    run_session(
        load_session(config, entry_points=[ep]), RunOptions(out_dir=tmp_path / "out")
    )
    # quarantined at its first report, yet closed at the end
    kinds = [kind for kind, _, _ in events_of(module, "r")]
    assert kinds == ["made", "report", "close"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    failures = {(f["id"], f["hook"]): f for f in manifest["failures"]}
    assert set(failures) == {
        ("recording", "stratagem_report_metrics"),
        ("recording#2", "close"),
    }
    assert "cannot close" in failures[("recording#2", "close")]["error"]
    assert [kind for kind, _, _ in events_of(module, "c")][-1] == "close"


def test_schema_with_plugins_describes_their_reporter_configs(
    recording: tuple,
) -> None:
    ep, _ = recording
    catalogue = load_plugins(entry_points=[ep])
    assert catalogue.record_of("recording").reporters == ("recording",)
    schema = session_json_schema(catalogue)
    data = schema["$defs"]["SessionDataConfig"]["properties"]["reporters"]
    choices = data["items"]["anyOf"]
    assert {"type": "string"} in choices
    (named,) = [c for c in choices if c.get("title") == "recording reporter"]
    assert named["properties"]["name"] == {"const": "recording"}
    model = named["properties"]["config"]["$ref"].rsplit("/", 1)[-1]
    every = schema["$defs"][model]["properties"]["every"]
    assert every["minimum"] == 1 and every["type"] == "integer"
    # the core's schema alone knows no reporter model
    core = session_json_schema()
    assert model not in core["$defs"]
    runner = CliRunner()
    printed = runner.invoke(main, ["schema"], obj=CliState(entry_points=[ep]))
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == schema
    printed = runner.invoke(main, ["schema", "--core"], obj=CliState(entry_points=[ep]))
    assert json.loads(printed.stdout) == core


def test_a_reporter_spec_whose_config_is_not_a_model_fails_to_load(
    write_module: WriteModule,
) -> None:
    write_module(
        "untyped_reporter",
        """
        from stratagem import ReporterSpec, hookimpl

        @hookimpl
        def stratagem_reporters():
            return [ReporterSpec(name="untyped", factory=object, config=dict)]
        """,
    )
    catalogue = load_plugins(
        entry_points=[EntryPoint("untyped", "untyped_reporter", "stratagem")]
    )
    record = catalogue.record_of("untyped")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error is not None
    assert "reporter 'untyped': config" in record.error
    assert "is not a pydantic model class" in record.error
