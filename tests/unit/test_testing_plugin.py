"""``stratagem.testing`` is a pytest plugin, found through its ``pytest11`` entry point.

Each test runs pytest in a subprocess (pytester) on a test file that asks for the
fixtures by name and never imports ``stratagem.testing``: as a plugin author's tests
meet them in an environment where stratagem is installed.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

AUTHOR_TESTS = '''
import pluggy
import pytest

from stratagem import Signal, Strategy, StrategyConfig, StrategySpec, hookimpl


class UpConfig(StrategyConfig):
    symbols: list[str] = ["A"]


class Up(Strategy):
    """Buys every 1m bar that closes above the one before."""

    config_class = UpConfig

    def on_start(self, ctx):
        for symbol in self.config.symbols:
            ctx.subscribe(symbol, "1m")

    def on_bars(self, ctx, symbol, interval):
        bars = ctx.bars(symbol, interval)
        if len(bars) > 1 and bars.close[-1] > bars.close[-2]:
            ctx.emit(Signal(symbol, interval, int(bars.ts[-1]), "buy"))


class Plugin:
    @hookimpl
    def stratagem_strategies(self):
        return [StrategySpec("up", Up, UpConfig)]


def test_the_plugin_is_stratagem_testing(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("stratagem")
    assert plugin.__name__ == "stratagem.testing"


def test_plugin_manager_holds_the_hookspecs_and_no_plugin(plugin_manager):
    assert isinstance(plugin_manager, pluggy.PluginManager)
    assert plugin_manager.project_name == "stratagem"
    assert plugin_manager.get_plugins() == set()
    plugin_manager.register(Plugin(), name="mine")
    (specs,) = plugin_manager.hook.stratagem_strategies()
    assert [(s.name, s.strategy) for s in specs] == [("up", Up)]


def test_plugin_manager_is_fresh_in_every_test(plugin_manager):
    assert plugin_manager.get_plugins() == set()


def test_plugin_manager_checks_an_implementation_against_its_spec(plugin_manager):
    class Misnamed:
        @hookimpl
        def stratagem_strategies(self, session):
            return []

    with pytest.raises(pluggy.PluginValidationError, match="session"):
        plugin_manager.register(Misnamed())


def test_bars_factory(bars_factory):
    bars = bars_factory([1.0, 2.0, 1.5], start="2024-03-01T00:00:00Z", minutes=5)
    assert list(bars.close) == [1.0, 2.0, 1.5]
    assert list(bars.open) == [1.0, 1.0, 2.0]
    assert [int(t) for t in bars.ts[1:] - bars.ts[:-1]] == [300 * 10**9] * 2


def test_run_strategy(run_strategy, bars_factory):
    outcome = run_strategy(
        Up, {"symbols": ["A"]}, {"A": bars_factory([1, 2, 1, 3, 4])}
    )
    assert [(s.strategy, s.side) for s in outcome.signals] == [("Up", "buy")] * 3
    closes = [outcome.data.series("A", "1m").column("close")[i] for i in range(5)]
    assert closes == [1, 2, 1, 3, 4]
    assert outcome.metrics["Up"]["notifications"] == 5
    assert outcome.result.status == "ok"
'''


@pytest.fixture
def author_pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    # the plugin under test is found through entry points: let pytest look for them
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_author=AUTHOR_TESTS)
    return pytester


def test_the_distribution_registers_the_pytest11_entry_point() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "stratagem"]
    assert plugin.value == "stratagem.testing"
    assert plugin.dist is not None and plugin.dist.name == "stratagem"


def test_fixtures_reach_tests_that_do_not_import_the_kit(
    author_pytester: pytest.Pytester,
) -> None:
    result = author_pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_p_no_stratagem_leaves_the_plugin_out(
    author_pytester: pytest.Pytester,
) -> None:
    result = author_pytester.runpytest_subprocess(
        "-p", "no:stratagem", "-p", "no:cacheprovider"
    )
    # only the test that asks for no fixture of the plugin fails, the others cannot
    # start: their fixtures are unknown
    result.assert_outcomes(failed=1, errors=5)
    result.stdout.fnmatch_lines(["*fixture 'plugin_manager' not found*"])


HEAVY_MODULES = ("numpy", "pyarrow", "pydantic", "rich")


def test_importing_the_plugin_loads_no_runtime() -> None:
    # pytest imports the plugin at the start of every run in the environment
    probe = (
        "import sys\n"
        "import stratagem.testing\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY_MODULES!r} or m.startswith('stratagem._'))\n"
        "print('LOADED', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"
