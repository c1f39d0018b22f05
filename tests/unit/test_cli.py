"""The ``stratagem`` command line, through click's CliRunner.

Plugins are injected as ``EntryPoint`` objects through ``CliState`` (click's ``obj``);
the modules they name are written into tmp_path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stratagem import __version__
from stratagem._config.loading import session_json_schema
from stratagem.cli import CliState, main

MODULES = {
    "cli_good_plugin": """
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class Good(Strategy):
            pass

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("good", Good, StrategyConfig, "A good one.")]
    """,
    "cli_broken_import_plugin": """
        raise ImportError("libta is not installed")
    """,
    "cli_no_attribute_plugin": """
        VALUE = 1
    """,
    "cli_bad_argument_plugin": """
        from stratagem import hookimpl

        @hookimpl
        def stratagem_strategies(session):
            return []
    """,
    "cli_misspelt_plugin": """
        from stratagem import hookimpl

        @hookimpl
        def stratagem_on_bar(ctx, symbol, interval):
            pass
    """,
    "cli_twin_a_plugin": """
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class A(Strategy):
            pass

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("twin", A, StrategyConfig),
                    StrategySpec("solo", A, StrategyConfig)]
    """,
    "cli_twin_b_plugin": """
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class B(Strategy):
            pass

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("twin", B, StrategyConfig)]
    """,
    "cli_exploding_plugin": """
        from pydantic import model_validator
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class ExplodingConfig(StrategyConfig):
            @model_validator(mode="after")
            def _explode(self):
                raise RuntimeError("validator bug")

        class Exploding(Strategy):
            config_class = ExplodingConfig

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("exploding", Exploding, ExplodingConfig)]
    """,
}

BROKEN_SET = [
    EntryPoint("broken_import", "cli_broken_import_plugin", "stratagem"),
    EntryPoint("no_attribute", "cli_no_attribute_plugin:plugin", "stratagem"),
    EntryPoint("bad_argument", "cli_bad_argument_plugin", "stratagem"),
    EntryPoint("misspelt", "cli_misspelt_plugin", "stratagem"),
    EntryPoint("good", "cli_good_plugin", "stratagem"),
    EntryPoint("twin_a", "cli_twin_a_plugin", "stratagem"),
    EntryPoint("twin_b", "cli_twin_b_plugin", "stratagem"),
]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "modules"
    root.mkdir()
    for name, source in MODULES.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in MODULES:
        sys.modules.pop(name, None)


def invoke(
    args: list[str], entry_points: list[EntryPoint] | None = None, **kwargs: Any
) -> Result:
    return CliRunner().invoke(
        main, args, obj=CliState(entry_points=entry_points), **kwargs
    )


SAMPLE_DATA = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"


def config_file(tmp_path: Path, strategies: list[dict[str, Any]], **extra: Any) -> Path:
    session = {
        "symbols": ["ETH_BTC", "LTC_BTC"],
        "streaming": {"data_upkeep": {"derived_intervals": [5, 15]}},
        "data": {"path": str(SAMPLE_DATA)},
        "strategies": strategies,
        **extra,
    }
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"session_data_config": session}))
    return path


MA_CROSS = {
    "module": "sma_cross",
    "config": {"symbols": ["ETH_BTC"], "interval": "5m", "fast_period": 10},
}


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output == f"stratagem, version {__version__}\n"


# --- plugins -----------------------------------------------------------------------


@pytest.mark.usefixtures("modules")
def test_plugins_lists_every_plugin_and_exits_0_despite_failures() -> None:
    result = invoke(["plugins"], BROKEN_SET)
    assert result.exit_code == 0, result.output
    table, _, failures = result.stdout.partition("\n\n")
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert set(rows) == {e.name for e in BROKEN_SET}
    assert rows["good"].split() == [
        "good",
        "-",
        "-",
        "cli_good_plugin",
        "strategies:",
        "good",
        "OK",
    ]
    assert rows["twin_a"].endswith("DUPLICATE")
    for name in ("broken_import", "no_attribute", "bad_argument", "misspelt"):
        assert rows[name].endswith("LOAD FAILED")
    assert failures.splitlines() == [
        "broken_import (- -, entry point cli_broken_import_plugin): LOAD FAILED: "
        "ImportError: libta is not installed",
        "no_attribute (- -, entry point cli_no_attribute_plugin:plugin): LOAD FAILED: "
        "AttributeError: module 'cli_no_attribute_plugin' has no attribute 'plugin'",
        "bad_argument (- -, entry point cli_bad_argument_plugin): LOAD FAILED: "
        "PluginValidationError: Plugin 'bad_argument' for hook 'stratagem_strategies' "
        "hookimpl definition: stratagem_strategies(session) Argument(s) {'session'} "
        "are declared in the hookimpl but can not be found in the hookspec",
        "misspelt (- -, entry point cli_misspelt_plugin): LOAD FAILED: "
        "PluginValidationError: unknown hook 'stratagem_on_bar'; "
        "did you mean 'stratagem_on_bars'?",
        "twin_a (- -, entry point cli_twin_a_plugin): DUPLICATE: strategy 'twin' is "
        "also offered by entry point cli_twin_b_plugin (plugin twin_b)",
        "twin_b (- -, entry point cli_twin_b_plugin): DUPLICATE: strategy 'twin' is "
        "also offered by entry point cli_twin_a_plugin (plugin twin_a)",
    ]
    assert "Traceback" not in result.output
    assert "console" not in rows  # built-ins only with --all


@pytest.mark.usefixtures("modules")
def test_plugins_verbose_shows_the_tracebacks() -> None:
    for args in (["-v", "plugins"], ["plugins", "-v"]):
        result = invoke(args, BROKEN_SET)
        assert result.exit_code == 0
        assert "Traceback (most recent call last)" in result.stderr
        assert 'raise ImportError("libta is not installed")' in result.stderr


@pytest.mark.usefixtures("modules")
def test_plugins_json() -> None:
    result = invoke(["plugins", "--json"], BROKEN_SET)
    assert result.exit_code == 0
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(records) == {e.name for e in BROKEN_SET}
    assert records["good"]["status"] == "OK"
    assert records["good"]["strategies"] == ["good"]
    broken = records["broken_import"]
    assert broken["status"] == "LOAD FAILED"
    assert broken["entry_point"] == "cli_broken_import_plugin"
    assert (broken["distribution"], broken["version"]) == ("-", "-")
    assert broken["error"] == "ImportError: libta is not installed"
    assert records["twin_b"]["status"] == "DUPLICATE"


def test_plugins_all_includes_the_builtins() -> None:
    records = json.loads(invoke(["plugins", "--json", "--all"], []).stdout)
    builtins = {r["name"]: r for r in records if r["builtin"]}
    assert builtins["console"]["reporter"] is True
    assert builtins["stratagem._builtin.sources"]["data_sources"] == [
        "csv",
        "parquet",
    ]
    assert all(r["distribution"] == "stratagem" for r in builtins.values())


@pytest.mark.usefixtures("local_strategies")
def test_plugins_lists_an_installed_distribution() -> None:
    # stratagem-test-strategies, pip-installed into a folder on sys.path
    result = invoke(["plugins"])
    assert result.exit_code == 0
    (row,) = [
        line for line in result.stdout.splitlines() if line.startswith("sma_cross")
    ]
    assert row.split() == [
        "sma_cross",
        "stratagem-test-strategies",
        "0.1.0",
        "stratagem_test_strategies",
        "strategies:",
        "sma_cross",
        "OK",
    ]


@pytest.mark.usefixtures("local_strategies")
def test_plugins_with_autoload_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATAGEM_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = invoke(["plugins"])
    assert result.exit_code == 0
    assert "STRATAGEM_DISABLE_PLUGIN_AUTOLOAD is set" in result.stderr
    assert "sma_cross" not in result.stdout
    assert "no plugins found" in result.stdout


# --- validate ------------------------------------------------------------------------


@pytest.mark.usefixtures("local_strategies")
def test_validate_valid_config_prints_one_line(tmp_path: Path) -> None:
    path = config_file(tmp_path, [MA_CROSS, MA_CROSS])
    result = invoke(["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path}: valid: 2 strategy instances (sma_cross, sma_cross#2) on 2 symbols; "
        "intervals 1m, 5m, 15m; data source csv; data-driven\n"
    )


@pytest.mark.usefixtures("local_strategies")
def test_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    typo = {**MA_CROSS, "config": {**MA_CROSS["config"], "fast_perod": 3}}
    path = config_file(
        tmp_path,
        [typo, {**MA_CROSS, "module": "sma_crss"}],
        speed_multiplier="fast",
    )
    result = invoke(["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}: session_data_config.speed_multiplier: ")
    assert lines[1] == (
        f"{path}: session_data_config.strategies[0].config.fast_perod: unknown key "
        "'fast_perod'; did you mean 'fast_period'? "
        "[strategy sma_cross from stratagem-test-strategies 0.1.0]"
    )
    assert lines[2].startswith(
        f"{path}: session_data_config.strategies[1].module: unknown strategy 'sma_crss'"
    )
    assert lines[3] == "3 problems found"
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_validate_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"session_data_config": {"symbols": ["ETH_BTC"],}}')
    result = invoke(["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{path}:1:49: invalid JSON: Expecting property name enclosed in double quotes"
    )


@pytest.mark.usefixtures("modules")
def test_validate_strict_plugins_fails_on_a_broken_plugin(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        [{"module": "good", "config": {}}, {"module": "broken_import", "config": {}}],
    )
    result = invoke(["validate", "--strict-plugins", str(path)], BROKEN_SET)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: 1 plugin(s) failed to load (strict plugins):",
        "  broken_import (- -, entry point cli_broken_import_plugin): LOAD FAILED: "
        "ImportError: libta is not installed",
    ]


@pytest.mark.usefixtures("modules")
def test_validate_warns_about_plugins_that_failed_but_are_not_needed(
    tmp_path: Path,
) -> None:
    # 'solo' matches no entry point name, so every entry point is loaded to find it
    path = config_file(tmp_path, [{"module": "solo", "config": {}}])
    result = invoke(["validate", str(path)], BROKEN_SET)
    assert result.exit_code == 0, result.output
    assert "1 strategy instance (solo)" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 6
    assert all(line.startswith("warning: ") for line in warnings)


@pytest.mark.usefixtures("modules")
def test_unexpected_error_is_one_line_without_verbose(tmp_path: Path) -> None:
    path = config_file(tmp_path, [{"module": "exploding", "config": {}}])
    entry_points = [EntryPoint("exploding", "cli_exploding_plugin", "stratagem")]
    result = invoke(["validate", str(path)], entry_points)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: RuntimeError: validator bug (run with -v for the traceback)\n"
    )
    for args in (["-v", "validate", str(path)], ["validate", "-v", str(path)]):
        verbose = invoke(args, entry_points)
        assert verbose.exit_code == 1
        assert "Traceback (most recent call last)" in verbose.stderr
        assert verbose.stderr.rstrip().endswith("RuntimeError: validator bug")


def test_validate_missing_file(tmp_path: Path) -> None:
    result = invoke(["validate", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "cannot read the file" in result.stderr


# --- schema, and what --help costs ---------------------------------------------------


def test_schema_prints_the_session_json_schema() -> None:
    # no installed plugin: none adds a reporter's config model to the schema
    result = invoke(["schema"], entry_points=[])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == session_json_schema()


HEAVY_MODULES = ("numpy", "pyarrow", "pydantic", "rich")
#: the runtime's packages; the records (stdlib dataclasses) may load, e.g. when a
#: plugin's command is listed by --help
RUNTIME_PACKAGES = [
    ["stratagem", name]
    for name in ("_config", "_data", "_execution", "_plugins", "_runtime", "_session")
]


@pytest.mark.parametrize(
    "code",
    [
        "import stratagem",
        "import stratagem; stratagem.hookimpl; stratagem.__version__",
        "from stratagem.cli import main; main(['--help'])",
        "from stratagem.cli import main; main(['--version'])",
        "from stratagem.cli import main; main(['run', '--help'])",
    ],
)
def test_import_and_help_load_no_runtime(code: str) -> None:
    probe = (
        "import sys\n"
        "try:\n"
        f"    {code}\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY_MODULES!r} or m.split('.')[:2] in {RUNTIME_PACKAGES!r})\n"
        "print('LOADED', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


def test_public_names_resolve_lazily() -> None:
    import stratagem

    for name in stratagem.__all__:
        assert getattr(stratagem, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        stratagem.nope  # noqa: B018
