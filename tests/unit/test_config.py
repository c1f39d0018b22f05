"""Two-phase session config validation against the installed plugins (sma_cross of
the tests' own distribution, stratagem-test-strategies, and the built-ins); every bad
input is its own test and names file and JSON path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from stratagem._config.loading import (
    ConfigError,
    ConfigIssue,
    LoadedSession,
    json_path,
    load_session,
    referenced_plugin_names,
    session_json_schema,
)
from stratagem._config.models import StrategyEntry
from stratagem._plugins.loader import PluginLoadError

MA = "strategy sma_cross from stratagem-test-strategies 0.1.0"


@pytest.fixture(autouse=True)
def _installed(local_strategies: ModuleType) -> None:
    """stratagem-test-strategies is installed (on sys.path) for every test here."""


def sma_cross(**config: Any) -> dict[str, Any]:
    options = {"symbols": ["ETH_BTC"], "interval": "5m", "fast_period": 10}
    options["slow_period"] = 20
    options.update(config)
    return {"module": "sma_cross", "config": options}


def document(**session: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "symbols": ["ETH_BTC", "LTC_BTC"],
        "streams": ["1m"],
        "streaming": {"data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}},
        "strategies": [sma_cross()],
    }
    base.update(session)
    return {"session_data_config": base}


@pytest.fixture
def write(tmp_path: Path) -> Any:
    def write_config(content: dict[str, Any] | str, name: str = "session.json") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text)
        return path

    return write_config


def issues_of(path: Path, **options: Any) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as raised:
        load_session(path, **options)
    return list(raised.value.issues)


def only_issue(path: Path) -> ConfigIssue:
    issues = issues_of(path)
    assert len(issues) == 1, issues
    assert issues[0].file == str(path)
    return issues[0]


# --- a valid file ---------------------------------------------------------------------


def test_valid_config_resolves_every_enabled_instance(write: Any) -> None:
    path = write(
        document(
            strategies=[
                sma_cross(),
                {**sma_cross(interval="15m"), "id": "eth_15m"},
                sma_cross(symbols=["LTC_BTC"]),
                {**sma_cross(), "enabled": False},
            ]
        )
    )
    loaded = load_session(path)
    assert isinstance(loaded, LoadedSession)
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [s.id for s in loaded.strategies] == ["sma_cross", "eth_15m", "sma_cross#2"]
    assert [s.index for s in loaded.strategies] == [0, 1, 2]
    first = loaded.strategies[0]
    assert (first.dist, first.version) == ("stratagem-test-strategies", "0.1.0")
    assert first.spec.name == "sma_cross"
    assert type(first.config).__name__ == "SmaCrossConfig"
    assert first.config.fast_period == 10  # type: ignore[attr-defined]
    assert isinstance(first.entry, StrategyEntry)
    assert first.json_path == "session_data_config.strategies[0]"
    assert loaded.strategies[1].config.intervals_used() == ["15m"]
    assert loaded.data_source.name == "csv"
    assert loaded.plugins.record_of("sma_cross").dist == "stratagem-test-strategies"
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.path = Path("elsewhere")  # type: ignore[misc]


def test_auto_ids_skip_ids_taken_explicitly(write: Any) -> None:
    path = write(
        document(
            strategies=[sma_cross(), sma_cross(), {**sma_cross(), "id": "sma_cross#2"}]
        )
    )
    assert [s.id for s in load_session(path).strategies] == [
        "sma_cross",
        "sma_cross#3",
        "sma_cross#2",
    ]


def test_disabled_strategy_is_never_resolved(write: Any) -> None:
    disabled = {"module": "not_installed_anywhere", "enabled": False, "config": {}}
    loaded = load_session(write(document(strategies=[sma_cross(), disabled])))
    assert [s.id for s in loaded.strategies] == ["sma_cross"]


def test_strategy_by_import_path(write: Any) -> None:
    entry = {**sma_cross(), "module": "stratagem_test_strategies:SmaCross"}
    loaded = load_session(write(document(strategies=[entry])))
    (resolved,) = loaded.strategies
    assert resolved.id == "stratagem_test_strategies:SmaCross"
    assert type(resolved.config).__name__ == "SmaCrossConfig"


def test_symbol_named_by_a_scanner_is_accepted(write: Any) -> None:
    scanner = {
        "name": "schedule",
        "config": {"add": [{"symbol": "ZEC_BTC", "at": "2018-01-25T06:00:00Z"}]},
    }
    path = write(
        document(strategies=[sma_cross(symbols=["ZEC_BTC"])], scanners=[scanner])
    )
    loaded = load_session(path)
    (resolved,) = loaded.scanners
    assert resolved.name == "schedule"
    assert isinstance(resolved.config, BaseModel)
    assert resolved.dist == "stratagem"


def test_seed_format_validates_unchanged(write: Any) -> None:
    seed = {
        "session_data_config": {
            "symbols": ["ETH_BTC", "LTC_BTC"],
            "streams": ["1m"],
            "streaming": {
                "data_upkeep": {"enabled": True, "derived_intervals": [5, 15]}
            },
            "strategies": [
                {
                    "module": "sma_cross",
                    "enabled": True,
                    "config": {
                        "symbols": ["ETH_BTC"],
                        "interval": "5m",
                        "fast_period": 10,
                        "slow_period": 20,
                        "min_quality": 95.0,
                    },
                }
            ],
        }
    }
    assert len(load_session(write(seed)).strategies) == 1


# --- bad input, one case per test -----------------------------------------------------


def test_invalid_json_names_line_and_column(write: Any) -> None:
    text = '{\n  "session_data_config": {\n    "symbols": ["ETH_BTC"]\n    "x": 1\n}'
    path = write(text)
    issue = only_issue(path)
    assert (issue.line, issue.column) == (4, 5)
    assert issue.path == ""
    assert str(issue) == f"{path}:4:5: invalid JSON: Expecting ',' delimiter"


def test_unreadable_file(tmp_path: Path) -> None:
    issue = only_issue(tmp_path / "missing.json")
    assert str(issue) == (
        f"{tmp_path / 'missing.json'}: cannot read the file: No such file or directory"
    )


def test_document_that_is_not_an_object(write: Any) -> None:
    issue = only_issue(write("[1, 2]"))
    assert issue.path == "$"
    assert "valid dictionary" in issue.message


def test_missing_session_data_config(write: Any) -> None:
    issues = issues_of(write({"session": {}}))
    assert [i.path for i in issues] == ["session_data_config", "session"]
    assert issues[0].message == "required key is missing"
    assert issues[1].message == "unknown key 'session'"


def test_unknown_session_key_suggests_the_field(write: Any) -> None:
    issue = only_issue(write(document(speed_multiplyer=2)))
    assert issue.path == "session_data_config.speed_multiplyer"
    assert issue.message == "unknown key 'speed_multiplyer'"
    assert issue.suggestion == "speed_multiplier"
    assert str(issue).endswith(
        "session_data_config.speed_multiplyer: unknown key 'speed_multiplyer'; "
        "did you mean 'speed_multiplier'?"
    )


def test_unknown_nested_session_key_suggests_from_its_own_model(write: Any) -> None:
    upkeep = {"data_upkeep": {"derived_interval": [5]}}
    issue = only_issue(write(document(streaming=upkeep)))
    assert issue.path == "session_data_config.streaming.data_upkeep.derived_interval"
    assert issue.suggestion == "derived_intervals"


def test_unknown_strategy_config_key_suggests_the_field(write: Any) -> None:
    config = sma_cross()
    config["config"]["fast_perod"] = config["config"].pop("fast_period")
    issue = only_issue(write(document(strategies=[config])))
    assert issue.path == "session_data_config.strategies[0].config.fast_perod"
    assert issue.message == "unknown key 'fast_perod'"
    assert issue.suggestion == "fast_period"
    assert issue.context == MA
    assert str(issue) == (
        f"{issue.file}: session_data_config.strategies[0].config.fast_perod: "
        f"unknown key 'fast_perod'; did you mean 'fast_period'? [{MA}]"
    )


def test_wrong_type_in_strategy_config(write: Any) -> None:
    issue = only_issue(write(document(strategies=[sma_cross(fast_period="ten")])))
    assert issue.path == "session_data_config.strategies[0].config.fast_period"
    assert "valid integer" in issue.message
    assert "(got 'ten')" in issue.message


def test_wrong_type_in_session(write: Any) -> None:
    issue = only_issue(write(document(speed_multiplier="fast")))
    assert issue.path == "session_data_config.speed_multiplier"
    assert "valid number" in issue.message and "'fast'" in issue.message


def test_fast_period_must_be_below_slow_period(write: Any) -> None:
    path = write(document(strategies=[sma_cross(fast_period=20, slow_period=10)]))
    issue = only_issue(path)
    assert issue.path == "session_data_config.strategies[0].config"
    assert issue.message == "fast_period (20) must be less than slow_period (10)"
    assert issue.context == MA


def test_unknown_strategy_lists_installed_ones(write: Any) -> None:
    entry = {**sma_cross(), "module": "sma_crosss"}
    issue = only_issue(write(document(strategies=[entry])))
    assert issue.path == "session_data_config.strategies[0].module"
    assert issue.suggestion == "sma_cross"
    assert issue.message.startswith(
        "unknown strategy 'sma_crosss' (installed strategies: "
    )
    installed = issue.message.partition("installed strategies: ")[2].partition(")")[0]
    assert "sma_cross" in installed.split(", ")


def test_strategy_import_path_that_fails(write: Any) -> None:
    entry = {**sma_cross(), "module": "nowhere_pkg.strategies:Fancy"}
    issue = only_issue(write(document(strategies=[entry])))
    assert issue.path == "session_data_config.strategies[0].module"
    assert issue.message == (
        "cannot import strategy 'nowhere_pkg.strategies:Fancy': ModuleNotFoundError: "
        "No module named 'nowhere_pkg'; 'nowhere_pkg' is not importable here: install "
        "the distribution that provides it (for a local package, 'pip install -e "
        "PATH'), or add its folder to PYTHONPATH"
    )


def test_interval_the_session_does_not_derive(write: Any) -> None:
    issue = only_issue(write(document(strategies=[sma_cross(interval="7m")])))
    assert issue.path == "session_data_config.strategies[0].config.interval"
    assert issue.message == (
        "interval '7m' is not derived by the session (it publishes 1m, 5m, 15m); "
        "add 7 to session_data_config.streaming.data_upkeep.derived_intervals"
    )


def test_interval_with_upkeep_disabled(write: Any) -> None:
    streaming = {"data_upkeep": {"enabled": False, "derived_intervals": [5]}}
    issue = only_issue(write(document(streaming=streaming)))
    assert issue.path == "session_data_config.strategies[0].config.interval"
    assert "it publishes 1m)" in issue.message
    assert "enable session_data_config.streaming.data_upkeep and add 5" in issue.message


def test_malformed_interval(write: Any) -> None:
    issue = only_issue(write(document(strategies=[sma_cross(interval="5 minutes")])))
    assert issue.path == "session_data_config.strategies[0].config.interval"
    assert "is not of the form <number><m|h|d>" in issue.message


def test_empty_symbol_list(write: Any) -> None:
    issues = issues_of(write(document(symbols=[])))
    assert issues[0].path == "session_data_config.symbols"
    assert "at least 1 item" in issues[0].message
    # the well-formed strategy entry adds nothing (it is still validated on its own)
    assert len(issues) == 1


def test_strategy_symbol_not_in_the_session(write: Any) -> None:
    path = write(document(strategies=[sma_cross(symbols=["ETH_BTC", "ETH_BCT"])]))
    issue = only_issue(path)
    assert issue.path == "session_data_config.strategies[0].config.symbols[1]"
    assert issue.message == (
        "symbol 'ETH_BCT' is not in session_data_config.symbols (ETH_BTC, LTC_BTC)"
    )
    assert issue.suggestion == "ETH_BTC"


def test_duplicate_explicit_ids(write: Any) -> None:
    entries = [{**sma_cross(), "id": "mine"}, {**sma_cross(), "id": "mine"}]
    issue = only_issue(write(document(strategies=entries)))
    assert issue.path == "session_data_config.strategies[1].id"
    assert issue.message == (
        "id 'mine' is already used by session_data_config.strategies[0]"
    )


def test_unknown_scanner(write: Any) -> None:
    issue = only_issue(write(document(scanners=[{"name": "shedule", "config": {}}])))
    assert issue.path == "session_data_config.scanners[0].name"
    assert issue.suggestion == "schedule"


def test_invalid_scanner_config(write: Any) -> None:
    scanner = {"name": "schedule", "config": {"add": []}}
    issue = only_issue(write(document(scanners=[scanner])))
    assert issue.path == "session_data_config.scanners[0].config.add"
    assert issue.context == "scanner schedule from stratagem 0.1.0"


def test_unknown_data_source(write: Any) -> None:
    issue = only_issue(write(document(data={"source": "cvs"})))
    assert issue.path == "session_data_config.data.source"
    assert issue.suggestion == "csv"


def test_unknown_reporter(write: Any) -> None:
    issue = only_issue(write(document(reporters=["console", "jsno"])))
    assert issue.path == "session_data_config.reporters[1]"
    assert issue.suggestion == "json"


def test_every_problem_is_reported_at_once(write: Any) -> None:
    broken_key = sma_cross()
    broken_key["config"]["slow_periodd"] = 3
    path = write(
        document(
            speed_multiplier=-1,
            strategies=[
                broken_key,
                {**sma_cross(), "module": "sma_crosss"},
                sma_cross(fast_period=30),
            ],
        )
    )
    issues = issues_of(path)
    assert [issue.path for issue in issues] == [
        "session_data_config.speed_multiplier",
        "session_data_config.strategies[0].config.slow_periodd",
        "session_data_config.strategies[1].module",
        "session_data_config.strategies[2].config",
    ]
    assert str(ConfigError(issues)).count("\n") == 3


# --- which plugins are imported -------------------------------------------------------


STRATEGY_MODULE = """
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    class Plain(Strategy):
        pass

    @hookimpl
    def stratagem_strategies():
        return [StrategySpec("{name}", Plain, StrategyConfig)]
"""


@pytest.fixture
def two_strategy_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[EntryPoint]:
    root = tmp_path / "modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    for name in ("wanted", "unwanted"):
        source = textwrap.dedent(STRATEGY_MODULE).format(name=name)
        (root / f"{name}_strategy_plugin.py").write_text(source)
        monkeypatch.delitem(sys.modules, f"{name}_strategy_plugin", raising=False)
    return [
        EntryPoint("wanted", "wanted_strategy_plugin", "stratagem"),
        EntryPoint("unwanted", "unwanted_strategy_plugin", "stratagem"),
    ]


def test_a_strategy_the_config_does_not_enable_is_never_imported(
    write: Any, two_strategy_plugins: list[EntryPoint]
) -> None:
    path = write(
        document(
            strategies=[
                {"module": "wanted", "config": {}},
                {"module": "unwanted", "enabled": False, "config": {}},
            ]
        )
    )
    loaded = load_session(path, entry_points=two_strategy_plugins)
    assert [s.id for s in loaded.strategies] == ["wanted"]
    assert "wanted_strategy_plugin" in sys.modules
    assert "unwanted_strategy_plugin" not in sys.modules
    assert "unwanted" not in {record.name for record in loaded.plugins.records}


def test_strict_plugins_makes_a_failed_plugin_fatal(write: Any, tmp_path: Path) -> None:
    path = write(document(strategies=[{"module": "ghost", "config": {}}]))
    ghost = EntryPoint("ghost", "ghost_module_that_is_not_there", "stratagem")
    with pytest.raises(PluginLoadError) as raised:
        load_session(path, entry_points=[ghost], strict_plugins=True)
    assert [r.name for r in raised.value.failures] == ["ghost"]
    # without strict, the same file reports the strategy it cannot resolve
    issue = issues_of(path, entry_points=[ghost])[0]
    assert issue.path == "session_data_config.strategies[0].module"
    assert issue.message.startswith(
        "strategy 'ghost' cannot be used: its plugin ghost (- -, entry point "
        "ghost_module_that_is_not_there): LOAD FAILED: ModuleNotFoundError"
    )


def test_referenced_plugin_names() -> None:
    raw = document(
        strategies=[
            sma_cross(),
            {"module": "off", "enabled": False},
            {"module": "pkg.mod:Local"},
        ],
        scanners=[{"name": "schedule"}],
    )
    assert referenced_plugin_names(raw) == {
        "sma_cross",
        "schedule",
        "csv",
        "console",
        "json",
    }
    assert referenced_plugin_names([1, 2]) == {"csv", "console", "json"}


# --- helpers -----------------------------------------------------------------------


def test_json_path() -> None:
    assert json_path(()) == "$"
    assert json_path(("a", 0, "b")) == "a[0].b"
    assert json_path(("$schema",)) == '["$schema"]'
    assert json_path(("cfg", "odd key")) == 'cfg["odd key"]'


def test_session_json_schema() -> None:
    schema = session_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["session_data_config"]
    assert schema["additionalProperties"] is False
    assert "$schema" in schema["properties"]
