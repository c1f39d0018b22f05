"""Every hook is called through pluggy, with pluggy's rules, as a plugin author
expects: argument subsets by name, wrappers from other plugins, load-time checks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path

from click.testing import CliRunner

from stratagem._plugins.loader import PluginStatus, load_plugins
from stratagem.cli import CliState, main
from stratagem.testing import make_bars, run_strategy

WriteModule = Callable[[str, str], None]
SAMPLE = Path(__file__).resolve().parents[3] / "session_configs" / "sample_data"


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, "stratagem")


STRATEGY_WITH_SUBSET = """
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    CALLS = []

    class CtxOnly(Strategy):
        def on_start(self, ctx):
            ctx.subscribe("A", "1m")

        @hookimpl
        def stratagem_on_bars(self, ctx):
            CALLS.append(ctx.bars("A", "1m").ts[-1])

    @hookimpl
    def stratagem_strategies():
        return [StrategySpec("ctx_only", CtxOnly, StrategyConfig)]
"""


def test_strategy_hook_taking_a_subset_of_arguments_is_called_every_bar(
    write_module: WriteModule,
) -> None:
    write_module("ctx_only_plugin", STRATEGY_WITH_SUBSET)
    catalogue = load_plugins(
        entry_points=[ep("ctx_only", "ctx_only_plugin")], builtins=False
    )
    assert catalogue.record_of("ctx_only").status is PluginStatus.OK
    spec = catalogue.strategy("ctx_only")
    bars = make_bars([1.0, 2.0, 3.0, 4.0, 5.0])
    outcome = run_strategy(
        [("s", spec.strategy, spec.config())], bars={"A": bars}, derived_intervals=()
    )
    assert outcome.failures == []
    module = sys.modules["ctx_only_plugin"]
    assert module.CALLS == list(bars.ts)


def test_strategy_hook_with_an_unknown_argument_fails_at_load_not_at_run(
    write_module: WriteModule, tmp_path: Path
) -> None:
    write_module(
        "extra_arg_plugin",
        """
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class Extra(Strategy):
            @hookimpl
            def stratagem_on_bars(self, ctx, symbol, interval, bar):
                pass

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("extra", Extra, StrategyConfig)]
        """,
    )
    eps = [ep("extra", "extra_arg_plugin")]
    record = load_plugins(entry_points=eps, builtins=False).record_of("extra")
    assert record.status is PluginStatus.LOAD_FAILED
    assert "stratagem_on_bars" in (record.error or "")
    assert "bar" in (record.error or "")

    runner = CliRunner()
    listed = runner.invoke(main, ["plugins", "--json"], obj=CliState(entry_points=eps))
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == "extra"]
    assert row["status"] == "LOAD FAILED"
    assert "takes bar, which the hook does not pass" in row["error"]

    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "data": {"path": str(SAMPLE)},
                    "strategies": [{"module": "extra"}],
                }
            }
        )
    )
    validated = runner.invoke(
        main, ["validate", str(config)], obj=CliState(entry_points=eps)
    )
    assert validated.exit_code == 2
    assert "strategy 'extra' cannot be used: its plugin extra" in validated.stderr
    assert "LOAD FAILED" in validated.stderr


def test_import_path_strategy_with_a_bad_hook_signature_is_a_config_error(
    write_module: WriteModule, tmp_path: Path
) -> None:
    write_module(
        "local_bad",
        """
        from stratagem import Strategy, hookimpl

        class Bad(Strategy):
            @hookimpl
            def stratagem_on_start(self, ctx, when):
                pass
        """,
    )
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "data": {"path": str(SAMPLE)},
                    "strategies": [{"module": "local_bad:Bad"}],
                }
            }
        )
    )
    result = CliRunner().invoke(
        main, ["validate", str(config)], obj=CliState(entry_points=[])
    )
    assert result.exit_code == 2
    assert "local_bad:Bad" in result.stderr and "stratagem_on_start" in result.stderr


def test_module_level_per_strategy_hook_is_refused_at_load(
    write_module: WriteModule,
) -> None:
    write_module(
        "module_level_plugin",
        """
        from stratagem import hookimpl

        @hookimpl
        def stratagem_on_bars(ctx, symbol, interval):
            pass
        """,
    )
    catalogue = load_plugins(
        entry_points=[ep("stray", "module_level_plugin")], builtins=False
    )
    record = catalogue.record_of("stray")
    assert record.status is PluginStatus.LOAD_FAILED
    assert "per-strategy hook" in (record.error or "")
    assert "Strategy subclass" in (record.error or "")


def test_discovery_hook_on_a_strategy_class_is_refused_at_load(
    write_module: WriteModule,
) -> None:
    write_module(
        "misplaced_plugin",
        """
        from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

        class Misplaced(Strategy):
            @hookimpl
            def stratagem_scanners(self):
                return []

        @hookimpl
        def stratagem_strategies():
            return [StrategySpec("misplaced", Misplaced, StrategyConfig)]
        """,
    )
    catalogue = load_plugins(
        entry_points=[ep("misplaced", "misplaced_plugin")], builtins=False
    )
    record = catalogue.record_of("misplaced")
    assert record.status is PluginStatus.LOAD_FAILED
    assert "module level" in (record.error or "")


WRAPPER = """
    from stratagem import StrategySpec, hookimpl

    SEEN = []

    @hookimpl(wrapper=True)
    def stratagem_strategies():
        offered = yield
        SEEN.append([spec.name for specs in offered for spec in specs])
        return offered

    @hookimpl(wrapper=True, tryfirst=True)
    def stratagem_report_metrics(report):
        SEEN.append(("report", report.final))
        return (yield)
"""

OFFERS = """
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    class {cls}(Strategy):
        pass

    @hookimpl
    def stratagem_strategies():
        return [StrategySpec("{name}", {cls}, StrategyConfig)]
"""


def test_a_wrapper_from_another_plugin_wraps_each_plugins_discovery(
    write_module: WriteModule,
) -> None:
    write_module("wrapper_plugin", WRAPPER)
    write_module("offers_a", OFFERS.format(cls="A", name="alpha"))
    write_module("offers_b", OFFERS.format(cls="B", name="beta"))
    catalogue = load_plugins(
        entry_points=[
            ep("a", "offers_a"),
            ep("wrapper", "wrapper_plugin"),
            ep("b", "offers_b"),
        ],
        builtins=False,
    )
    seen = sys.modules["wrapper_plugin"].SEEN
    # around each plugin's call, whatever the registration order
    assert sorted(seen) == [["alpha"], ["beta"]]
    # each record stays traced to the plugin that offered it
    assert catalogue.record_of("a").strategies == ("alpha",)
    assert catalogue.record_of("b").strategies == ("beta",)
    assert catalogue.record_of("wrapper").status is PluginStatus.OK


def test_reporter_with_no_arguments_and_a_reporting_wrapper_are_both_called(
    write_module: WriteModule, tmp_path: Path
) -> None:
    write_module("wrapper_plugin", WRAPPER)
    write_module(
        "bare_reporter",
        """
        from stratagem import hookimpl

        CALLS = []

        @hookimpl
        def stratagem_report_metrics():
            CALLS.append(1)
        """,
    )
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "data": {"path": str(SAMPLE)},
                    "end": "2018-01-24T01:00:00Z",
                    "reporters": ["bare"],
                    "plugins": ["wrapper"],
                }
            }
        )
    )
    eps = [ep("bare", "bare_reporter"), ep("wrapper", "wrapper_plugin")]
    result = CliRunner().invoke(
        main,
        ["run", str(config), "--out", str(tmp_path / "out")],
        obj=CliState(entry_points=eps),
    )
    assert result.exit_code == 0, result.output
    assert sys.modules["bare_reporter"].CALLS == [1]  # the final report
    assert ("report", True) in sys.modules["wrapper_plugin"].SEEN
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["failures"] == []


def test_an_unknown_extra_plugin_is_a_config_error_with_a_suggestion(
    write_module: WriteModule, tmp_path: Path
) -> None:
    write_module("wrapper_plugin", WRAPPER)
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "data": {"path": str(SAMPLE)},
                    "plugins": ["wraper"],
                }
            }
        )
    )
    result = CliRunner().invoke(
        main,
        ["validate", str(config)],
        obj=CliState(entry_points=[ep("wrapper", "wrapper_plugin")]),
    )
    assert result.exit_code == 2
    assert "session_data_config.plugins[0]" in result.stderr
    assert "did you mean 'wrapper'?" in result.stderr
