"""The guarded plugin loader, with entry points injected at modules in tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from types import ModuleType

import pytest

from stratagem._plugins import loader as _loader
from stratagem._plugins.loader import (
    PluginLoadError,
    PluginLookupError,
    PluginStatus,
    load_plugins,
)

WriteModule = Callable[[str, str], None]

GOOD = """
    from pydantic import Field
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    class GoodConfig(StrategyConfig):
        symbols: list[str] = Field(min_length=1, description="Symbols.")

    class Good(Strategy):
        '''Does nothing, well.'''
        config_class = GoodConfig

    class Other(Strategy):
        config_class = GoodConfig

    @hookimpl
    def stratagem_strategies():
        return [
            StrategySpec("good", Good, GoodConfig, "A good one."),
            StrategySpec("good_other", Other, GoodConfig),
        ]
"""

BROKEN_IMPORT = """
    import stratagem_dependency_that_is_not_installed
"""

NO_ATTRIBUTE = """
    VALUE = 1
"""

BAD_ARGUMENT = """
    from stratagem import hookimpl

    @hookimpl
    def stratagem_strategies(session):
        return []
"""

MISSPELT = """
    from stratagem import hookimpl

    @hookimpl
    def stratagem_strategys():
        return []
"""

UNMARKED = """
    def stratagem_strategies():
        return []
"""

RAISING = """
    from stratagem import hookimpl

    @hookimpl
    def stratagem_strategies():
        raise RuntimeError("no licence key")
"""


def twin(label: str) -> str:
    return f"""
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    class Twin{label}(Strategy):
        pass

    class Solo{label}(Strategy):
        pass

    @hookimpl
    def stratagem_strategies():
        return [
            StrategySpec("twin", Twin{label}, StrategyConfig),
            StrategySpec("solo_{label.lower()}", Solo{label}, StrategyConfig),
        ]
    """


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, "stratagem")


@pytest.fixture
def broken_set(write_module: WriteModule) -> list[EntryPoint]:
    """Two good plugins and one of every kind of broken one."""
    write_module("good_plugin", GOOD)
    write_module("broken_import_plugin", BROKEN_IMPORT)
    write_module("no_attribute_plugin", NO_ATTRIBUTE)
    write_module("bad_argument_plugin", BAD_ARGUMENT)
    write_module("misspelt_plugin", MISSPELT)
    write_module("twin_a_plugin", twin("A"))
    write_module("twin_b_plugin", twin("B"))
    return [
        ep("broken_import", "broken_import_plugin"),
        ep("no_attribute", "no_attribute_plugin:stratagem_plugin"),
        ep("bad_argument", "bad_argument_plugin"),
        ep("misspelt", "misspelt_plugin"),
        ep("good", "good_plugin"),
        ep("twin_a", "twin_a_plugin"),
        ep("twin_b", "twin_b_plugin"),
    ]


# --- the discovery hooks ------------------------------------------------------------


def test_hook_stratagem_strategies(write_module: WriteModule) -> None:
    write_module("good_plugin", GOOD)
    write_module("twin_a_plugin", twin("A"))
    catalogue = load_plugins(
        entry_points=[ep("good", "good_plugin"), ep("twin_a", "twin_a_plugin")],
        builtins=False,
    )
    assert catalogue.strategy_names == ("good", "good_other", "solo_a", "twin")
    spec = catalogue.strategy("good")
    assert spec.strategy.__name__ == "Good"
    assert spec.config.__name__ == "GoodConfig"
    assert spec.description == "A good one."
    # every record is traced to the plugin whose implementation returned it
    assert catalogue.provider("strategy", "good_other").name == "good"
    assert catalogue.provider("strategy", "twin").name == "twin_a"
    assert catalogue.record_of("good").strategies == ("good", "good_other")
    assert catalogue.record_of("twin_a").strategies == ("twin", "solo_a")


def test_hook_stratagem_scanners(write_module: WriteModule) -> None:
    write_module(
        "scanner_plugin",
        """
        from pydantic import BaseModel
        from stratagem import ScannerSpec, hookimpl

        class EveryHourConfig(BaseModel):
            symbols: list[str] = []

            def candidate_symbols(self):
                return list(self.symbols)

        class EveryHour:
            def __init__(self, config):
                self.config = config

            def scan(self, session):
                return []

        @hookimpl
        def stratagem_scanners():
            return [ScannerSpec("every_hour", EveryHour, EveryHourConfig, "Hourly.")]
        """,
    )
    catalogue = load_plugins(
        entry_points=[ep("hourly", "scanner_plugin")], builtins=False
    )
    spec = catalogue.scanner("every_hour")
    assert spec.factory.__name__ == "EveryHour"
    assert spec.config.__name__ == "EveryHourConfig"
    assert catalogue.names("scanner") == ("every_hour",)
    record = catalogue.record_of("hourly")
    assert record.status is PluginStatus.OK
    assert record.scanners == ("every_hour",)
    assert catalogue.provider("scanner", "every_hour") is record


def test_hook_stratagem_data_sources(write_module: WriteModule) -> None:
    write_module(
        "feed_plugin",
        """
        from stratagem import DataSourceSpec, hookimpl

        def open_feed(root, options):
            return None

        @hookimpl
        def stratagem_data_sources():
            return (DataSourceSpec("feed", open_feed, "A live feed."),)
        """,
    )
    catalogue = load_plugins(entry_points=[ep("feed", "feed_plugin")])
    assert catalogue.data_source("feed").description == "A live feed."
    assert catalogue.record_of("feed").data_sources == ("feed",)
    # csv and parquet come from a built-in, through the same path
    for name in ("csv", "parquet"):
        assert catalogue.data_source(name).name == name
        provider = catalogue.provider("data_source", name)
        assert provider.builtin
        assert provider.dist == "stratagem"


# --- one broken plugin never stops the others ---------------------------------------


def test_broken_plugins_are_load_failed_and_the_good_ones_load(
    broken_set: list[EntryPoint],
) -> None:
    catalogue = load_plugins(entry_points=broken_set, builtins=False)
    status = {record.name: record.status for record in catalogue.records}
    assert status == {
        "broken_import": PluginStatus.LOAD_FAILED,
        "no_attribute": PluginStatus.LOAD_FAILED,
        "bad_argument": PluginStatus.LOAD_FAILED,
        "misspelt": PluginStatus.LOAD_FAILED,
        "good": PluginStatus.OK,
        "twin_a": PluginStatus.DUPLICATE,
        "twin_b": PluginStatus.DUPLICATE,
    }
    assert catalogue.strategy("good").strategy.__name__ == "Good"
    assert catalogue.strategy("solo_a").strategy.__name__ == "SoloA"
    assert catalogue.strategy("solo_b").strategy.__name__ == "SoloB"


def test_import_error_is_load_failed(write_module: WriteModule) -> None:
    write_module("broken_import_plugin", BROKEN_IMPORT)
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[
            ep("broken_import", "broken_import_plugin"),
            ep("good", "good_plugin"),
        ],
        builtins=False,
    )
    record = catalogue.record_of("broken_import")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.value == "broken_import_plugin"
    assert record.error == (
        "ModuleNotFoundError: No module named "
        "'stratagem_dependency_that_is_not_installed'"
    )
    assert "Traceback" in (record.traceback or "")
    assert record.dist == "-" and record.version == "-"
    assert catalogue.record_of("good").status is PluginStatus.OK


def test_missing_attribute_is_load_failed(write_module: WriteModule) -> None:
    write_module("no_attribute_plugin", NO_ATTRIBUTE)
    catalogue = load_plugins(
        entry_points=[ep("no_attribute", "no_attribute_plugin:stratagem_plugin")],
        builtins=False,
    )
    record = catalogue.record_of("no_attribute")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.value == "no_attribute_plugin:stratagem_plugin"
    assert record.error is not None
    assert record.error.startswith("AttributeError: ")
    assert "stratagem_plugin" in record.error


def test_hookimpl_argument_missing_from_the_spec_is_load_failed(
    write_module: WriteModule,
) -> None:
    write_module("bad_argument_plugin", BAD_ARGUMENT)
    catalogue = load_plugins(
        entry_points=[ep("bad_argument", "bad_argument_plugin")], builtins=False
    )
    record = catalogue.record_of("bad_argument")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error is not None
    assert record.error.startswith("PluginValidationError: ")
    assert "session" in record.error
    assert "\n" not in record.error
    assert not catalogue.pm.has_plugin("bad_argument")


def test_misspelt_hook_is_load_failed_and_attributed_to_its_plugin(
    write_module: WriteModule,
) -> None:
    write_module("misspelt_plugin", MISSPELT)
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        # the misspelt plugin registers first: check_pending after the good one must
        # not blame the good one
        entry_points=[ep("misspelt", "misspelt_plugin"), ep("good", "good_plugin")],
        builtins=False,
    )
    record = catalogue.record_of("misspelt")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error == (
        "PluginValidationError: unknown hook 'stratagem_strategys'; "
        "did you mean 'stratagem_strategies'?"
    )
    assert not catalogue.pm.has_plugin("misspelt")
    assert catalogue.record_of("good").status is PluginStatus.OK
    catalogue.pm.check_pending()


def test_unmarked_hook_function_is_load_failed(
    write_module: WriteModule,
) -> None:
    write_module("unmarked_plugin", UNMARKED)
    catalogue = load_plugins(
        entry_points=[ep("unmarked", "unmarked_plugin")], builtins=False
    )
    record = catalogue.record_of("unmarked")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error == (
        "TypeError: stratagem_strategies is not marked @stratagem.hookimpl; "
        "pluggy would ignore it silently"
    )


def test_discovery_hook_that_raises_is_load_failed(write_module: WriteModule) -> None:
    write_module("raising_plugin", RAISING)
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("raising", "raising_plugin"), ep("good", "good_plugin")],
        builtins=False,
    )
    record = catalogue.record_of("raising")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error == "RuntimeError: no licence key"
    assert not catalogue.pm.has_plugin("raising")
    assert catalogue.strategy_names == ("good", "good_other")


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        ("{'name': 'x'}", "returned dict, expected a list of StrategySpec"),
        ("None", "returned NoneType, expected a list of StrategySpec"),
        ("['ma_cross']", "returned str at index 0, expected StrategySpec"),
        (
            "[StrategySpec('x', int, StrategyConfig)]",
            "is not a stratagem.Strategy subclass",
        ),
        (
            "[StrategySpec('a b', Strategy, StrategyConfig)]",
            "offers a strategy named 'a b'",
        ),
        (
            "[StrategySpec('x', Strategy, StrategyConfig)] * 2",
            "offers strategy 'x' twice",
        ),
    ],
)
def test_malformed_discovery_result_is_load_failed(
    write_module: WriteModule, returned: str, error: str
) -> None:
    write_module(
        "malformed_plugin",
        f"""
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        @hookimpl
        def stratagem_strategies():
            return {returned}
        """,
    )
    catalogue = load_plugins(
        entry_points=[ep("malformed", "malformed_plugin")], builtins=False
    )
    record = catalogue.record_of("malformed")
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.error is not None and error in record.error
    assert catalogue.strategy_names == ()


def test_same_strategy_from_two_plugins_is_duplicate_and_resolves_to_neither(
    write_module: WriteModule,
) -> None:
    write_module("twin_a_plugin", twin("A"))
    write_module("twin_b_plugin", twin("B"))
    catalogue = load_plugins(
        entry_points=[ep("twin_a", "twin_a_plugin"), ep("twin_b", "twin_b_plugin")],
        builtins=False,
    )
    a, b = catalogue.record_of("twin_a"), catalogue.record_of("twin_b")
    assert a.status is b.status is PluginStatus.DUPLICATE
    assert a.error == (
        "strategy 'twin' is also offered by entry point twin_b_plugin (plugin twin_b)"
    )
    assert b.error == (
        "strategy 'twin' is also offered by entry point twin_a_plugin (plugin twin_a)"
    )
    with pytest.raises(PluginLookupError) as raised:
        catalogue.strategy("twin")
    message = str(raised.value)
    assert "more than one plugin" in message
    assert "twin_a_plugin" in message and "twin_b_plugin" in message
    assert "twin" not in catalogue.strategy_names
    # what each offers alone still resolves; both stay registered
    assert catalogue.strategy("solo_a").strategy.__name__ == "SoloA"
    assert catalogue.pm.has_plugin("twin_a") and catalogue.pm.has_plugin("twin_b")


def test_entry_point_name_used_twice_fails_the_second(
    write_module: WriteModule,
) -> None:
    write_module("good_plugin", GOOD)
    write_module("twin_a_plugin", twin("A"))
    catalogue = load_plugins(
        entry_points=[ep("same", "good_plugin"), ep("same", "twin_a_plugin")],
        builtins=False,
    )
    first, second = catalogue.records
    assert first.status is PluginStatus.OK
    assert second.status is PluginStatus.LOAD_FAILED
    assert second.error == (
        "ValueError: plugin name 'same' is already taken by entry point good_plugin"
    )
    assert catalogue.record_of("same") is second


def test_builtin_that_fails_to_import_is_load_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        _loader,
        "BUILTIN_PLUGINS",
        ("stratagem.no_such_builtin", *_loader.BUILTIN_PLUGINS),
    )
    catalogue = load_plugins(entry_points=[])
    record = catalogue.record_of("stratagem.no_such_builtin")
    assert record.builtin
    assert record.status is PluginStatus.LOAD_FAILED
    assert record.dist == "stratagem"
    assert (
        record.error
        == "ModuleNotFoundError: No module named 'stratagem.no_such_builtin'"
    )
    assert catalogue.data_source("csv").name == "csv"


def test_builtins_register_under_their_names() -> None:
    catalogue = load_plugins(entry_points=[])
    assert {"console", "json"} <= set(catalogue.reporters)
    assert (
        catalogue.record_of("console").value == "stratagem._builtin.reporters:console"
    )
    assert all(record.builtin for record in catalogue.records)


def test_reporters_are_the_plugins_implementing_report_metrics(
    write_module: WriteModule,
) -> None:
    write_module(
        "reporter_plugin",
        """
        from stratagem import hookimpl

        @hookimpl
        def stratagem_report_metrics(report):
            pass
        """,
    )
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("prom", "reporter_plugin"), ep("good", "good_plugin")],
        builtins=False,
    )
    assert catalogue.reporters == ("prom",)
    assert catalogue.record_of("prom").reporter
    assert not catalogue.record_of("good").reporter


# --- which entry points are imported ----------------------------------------------


def test_only_imports_the_entry_points_a_config_names(
    write_module: WriteModule,
) -> None:
    write_module("good_plugin", GOOD)
    write_module("unused_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("good", "good_plugin"), ep("unused", "unused_plugin")],
        builtins=False,
        only={"good"},
    )
    assert [r.name for r in catalogue.records] == ["good"]
    assert "good_plugin" in sys.modules
    assert "unused_plugin" not in sys.modules


def test_only_falls_back_to_every_entry_point_for_an_unmatched_name(
    write_module: WriteModule,
) -> None:
    write_module("twin_a_plugin", twin("A"))
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("pack", "twin_a_plugin"), ep("good", "good_plugin")],
        builtins=False,
        only={"solo_a"},
    )
    assert catalogue.strategy("solo_a").strategy.__name__ == "SoloA"
    assert {r.name for r in catalogue.records} == {"pack", "good"}


def test_only_does_not_fall_back_for_names_the_builtins_offer(
    write_module: WriteModule,
) -> None:
    write_module("good_plugin", GOOD)
    write_module("unused_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("good", "good_plugin"), ep("unused", "unused_plugin")],
        only={"good", "csv", "console", "json", "schedule"},
    )
    assert "unused_plugin" not in sys.modules
    assert catalogue.record_of("good").status is PluginStatus.OK


def test_blocked_plugin_is_never_imported(write_module: WriteModule) -> None:
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("good", "good_plugin")], builtins=False, blocked={"good"}
    )
    assert catalogue.records == ()
    assert "good_plugin" not in sys.modules


def test_installed_entry_points_are_autoloaded(local_strategies: ModuleType) -> None:
    # stratagem-test-strategies, pip-installed into a folder on sys.path
    catalogue = load_plugins()
    record = catalogue.record_of("sma_cross")
    assert record.status is PluginStatus.OK
    assert (record.dist, record.version) == ("stratagem-test-strategies", "0.1.0")
    assert record.value == "stratagem_test_strategies"
    assert catalogue.provider("strategy", "sma_cross") is record
    assert catalogue.strategy("sma_cross").strategy is local_strategies.SmaCross


def test_autoload_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, local_strategies: ModuleType
) -> None:
    monkeypatch.setenv("STRATAGEM_DISABLE_PLUGIN_AUTOLOAD", "1")
    catalogue = load_plugins()
    assert all(record.builtin for record in catalogue.records)
    assert "sma_cross" not in catalogue.strategy_names
    assert catalogue.data_source("csv").name == "csv"
    # import paths still work
    spec = catalogue.strategy("stratagem_test_strategies:SmaCross")
    assert spec.config is local_strategies.SmaCrossConfig


def test_strict_raises_naming_every_failure(broken_set: list[EntryPoint]) -> None:
    with pytest.raises(PluginLoadError) as raised:
        load_plugins(entry_points=broken_set, builtins=False, strict=True)
    names = {record.name for record in raised.value.failures}
    assert names == {
        "broken_import",
        "no_attribute",
        "bad_argument",
        "misspelt",
        "twin_a",
        "twin_b",
    }
    message = str(raised.value)
    assert "6 plugin(s) failed to load" in message
    assert (
        "broken_import (- -, entry point broken_import_plugin): LOAD FAILED" in message
    )
    assert "twin_a (- -, entry point twin_a_plugin): DUPLICATE" in message


def test_strict_passes_when_everything_loads(write_module: WriteModule) -> None:
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[ep("good", "good_plugin")], builtins=False, strict=True
    )
    assert catalogue.failures == ()


# --- resolving names ------------------------------------------------------------------


def test_unknown_strategy_lists_installed_and_suggests(
    write_module: WriteModule,
) -> None:
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(entry_points=[ep("good", "good_plugin")], builtins=False)
    with pytest.raises(PluginLookupError) as raised:
        catalogue.strategy("godo")
    error = raised.value
    assert error.suggestion == "good"
    assert error.known == ("good", "good_other")
    assert str(error) == (
        "unknown strategy 'godo' (installed strategies: good, good_other); "
        "did you mean 'good'?"
    )


def test_unknown_strategy_of_a_failed_plugin_names_the_failure(
    write_module: WriteModule,
) -> None:
    write_module("broken_import_plugin", BROKEN_IMPORT)
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(
        entry_points=[
            ep("broken", "broken_import_plugin"),
            ep("good", "good_plugin"),
            ep("other", "not_imported_for_this_run"),
        ],
        builtins=False,
        only={"broken"},
    )
    with pytest.raises(PluginLookupError) as raised:
        catalogue.strategy("broken")
    assert str(raised.value) == (
        "strategy 'broken' cannot be used: its plugin broken (- -, entry point "
        "broken_import_plugin): LOAD FAILED: ModuleNotFoundError: No module named "
        "'stratagem_dependency_that_is_not_installed'"
    )
    # an unknown name lists what is installed, loaded for this run or not
    with pytest.raises(PluginLookupError, match=r"installed strategies: good, other"):
        catalogue.strategy("nope")


def test_strategy_by_import_path(write_module: WriteModule) -> None:
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(entry_points=[], builtins=False)
    spec = catalogue.strategy("good_plugin:Good")
    assert spec.strategy.__name__ == "Good"
    assert spec.config is spec.strategy.config_class
    assert spec.description == "Does nothing, well."
    record = catalogue.provider("strategy", "good_plugin:Good")
    assert (record.dist, record.version) == ("-", "-")
    assert catalogue.strategy("good_plugin:Good") is spec


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "no_such_module_here:Thing",
            "cannot import strategy 'no_such_module_here:Thing': ModuleNotFoundError: "
            "No module named 'no_such_module_here'",
        ),
        (
            "good_plugin:Missing",
            "cannot import strategy 'good_plugin:Missing': AttributeError: ",
        ),
        ("good_plugin:GoodConfig", "not a stratagem.Strategy subclass"),
        ("good_plugin:", "expected 'package.module:Class'"),
    ],
)
def test_strategy_import_path_errors(
    write_module: WriteModule, path: str, message: str
) -> None:
    write_module("good_plugin", GOOD)
    catalogue = load_plugins(entry_points=[], builtins=False)
    with pytest.raises(PluginLookupError) as raised:
        catalogue.strategy(path)
    assert message in str(raised.value)
    assert path in str(raised.value)


def test_unknown_scanner_and_data_source(write_module: WriteModule) -> None:
    catalogue = load_plugins(entry_points=[])
    with pytest.raises(PluginLookupError) as raised:
        catalogue.scanner("shedule")
    assert raised.value.suggestion == "schedule"
    with pytest.raises(PluginLookupError) as raised:
        catalogue.data_source("cvs")
    assert raised.value.suggestion == "csv"
    assert "installed data sources: csv, parquet" in str(raised.value)


def test_record_as_dict_is_json_ready(broken_set: list[EntryPoint]) -> None:
    catalogue = load_plugins(entry_points=broken_set, builtins=False)
    data = catalogue.record_of("good").as_dict()
    assert data == {
        "name": "good",
        "distribution": "-",
        "version": "-",
        "entry_point": "good_plugin",
        "status": "OK",
        "error": None,
        "strategies": ["good", "good_other"],
        "scanners": [],
        "data_sources": [],
        "brokers": [],
        "reporters": [],
        "reporter": False,
        "builtin": False,
    }
