"""Real distributions, built with hatchling and installed with pip, seen by the CLI.

Tiny distributions (good, broken and clashing ones) are pip-installed into a target
folder; ``python -m stratagem.cli`` runs in a subprocess with that folder on
``PYTHONPATH``, beside ``stratagem-ma-cross`` installed in the test environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    entry_point: str
    value: str
    source: str

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")


SAMPLE_DATA = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"

STRATEGY = """
    from stratagem import Strategy, StrategyConfig, StrategySpec, hookimpl

    class Offered(Strategy):
        pass

    @hookimpl
    def stratagem_strategies():
        return [StrategySpec({name!r}, Offered, StrategyConfig)]
"""

DISTS = [
    Dist(
        "stratagem-good-extra",
        "1.2.0",
        "good_extra",
        "stratagem_good_extra",
        STRATEGY.format(name="good_extra"),
    ),
    Dist(
        "stratagem-broken-import",
        "0.2.0",
        "broken_import",
        "stratagem_broken_import",
        'raise ImportError("needs libta-c")',
    ),
    Dist(
        "stratagem-missing-attr",
        "0.3.0",
        "missing_attr",
        "stratagem_missing_attr:plugin",
        "VALUE = 1",
    ),
    Dist(
        "stratagem-bad-hook",
        "0.4.0",
        "bad_hook",
        "stratagem_bad_hook",
        """
        from stratagem import hookimpl

        @hookimpl
        def stratagem_data_source():
            return []
        """,
    ),
    Dist(
        "stratagem-twin-a",
        "0.5.0",
        "twin_a",
        "stratagem_twin_a",
        STRATEGY.format(name="twin"),
    ),
    Dist(
        "stratagem-twin-b",
        "0.6.0",
        "twin_b",
        "stratagem_twin_b",
        STRATEGY.format(name="twin"),
    ),
]

PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.11"

[project.entry-points.stratagem]
{entry_point} = "{value}"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]
"""


def write_project(root: Path, dist: Dist) -> Path:
    project = root / dist.name
    package = project / "src" / dist.package
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(
            name=dist.name,
            version=dist.version,
            entry_point=dist.entry_point,
            value=dist.value,
            package=dist.package,
        )
    )
    (package / "__init__.py").write_text(textwrap.dedent(dist.source))
    return project


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    pip_install: Callable[[Path, list[Path]], None],
) -> Path:
    """A folder with every test distribution pip-installed into it."""
    root = tmp_path_factory.mktemp("dists")
    target = root / "site"
    pip_install(target, [write_project(root / "src", dist) for dist in DISTS])
    return target


def stratagem(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("STRATAGEM_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def records(site: Path) -> dict[str, dict[str, Any]]:
    result = stratagem(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    return {record["name"]: record for record in json.loads(result.stdout)}


def test_installed_distributions_are_listed_with_their_status(site: Path) -> None:
    found = records(site)
    # stratagem-ma-cross is here as the one distribution pip installed into the
    # environment itself (the others sit in a folder on PYTHONPATH): both are found
    assert {d.entry_point for d in DISTS} | {"ma_cross"} <= set(found)

    ma_cross = found["ma_cross"]
    assert ma_cross["status"] == "OK"
    assert (ma_cross["distribution"], ma_cross["version"]) == (
        "stratagem-ma-cross",
        version("stratagem-ma-cross"),
    )
    assert ma_cross["strategies"] == ["ma_cross"]

    good = found["good_extra"]
    assert good["status"] == "OK"
    assert (good["distribution"], good["version"]) == ("stratagem-good-extra", "1.2.0")
    assert good["strategies"] == ["good_extra"]

    expected_errors = {
        "broken_import": "ImportError: needs libta-c",
        "missing_attr": "AttributeError: module 'stratagem_missing_attr' has no "
        "attribute 'plugin'",
        "bad_hook": "PluginValidationError: unknown hook 'stratagem_data_source'; "
        "did you mean 'stratagem_data_sources'?",
    }
    for dist in DISTS:
        record = found[dist.entry_point]
        assert record["distribution"] == dist.name
        assert record["version"] == dist.version
        assert record["entry_point"] == dist.value
        if dist.entry_point in expected_errors:
            assert record["status"] == "LOAD FAILED"
            assert record["error"] == expected_errors[dist.entry_point]

    assert found["twin_a"]["status"] == found["twin_b"]["status"] == "DUPLICATE"
    assert found["twin_a"]["error"] == (
        "strategy 'twin' is also offered by stratagem-twin-b 0.6.0 (plugin twin_b)"
    )
    assert found["twin_b"]["error"] == (
        "strategy 'twin' is also offered by stratagem-twin-a 0.5.0 (plugin twin_a)"
    )


def test_plugins_table_lists_everything_and_exits_0(site: Path) -> None:
    result = stratagem(site, "plugins")
    assert result.returncode == 0, result.stderr
    assert (
        "broken_import (stratagem-broken-import 0.2.0, entry point "
        "stratagem_broken_import): LOAD FAILED: ImportError: needs libta-c"
    ) in result.stdout.splitlines()
    assert "Traceback" not in result.stdout + result.stderr


def session_file(tmp_path: Path, modules: list[str]) -> Path:
    # ma_cross: a strategy of a distribution installed into the environment itself
    strategies = [{"module": module, "config": {}} for module in modules]
    for entry in strategies:
        if entry["module"] == "ma_cross":
            entry["config"] = {"symbols": ["ETH_BTC"], "interval": "5m"}
    path = tmp_path / "session.json"
    session = {
        "symbols": ["ETH_BTC"],
        "streaming": {"data_upkeep": {"derived_intervals": [5]}},
        "data": {"path": str(SAMPLE_DATA)},
        "strategies": strategies,
    }
    path.write_text(json.dumps({"session_data_config": session}))
    return path


def test_validate_imports_only_the_plugins_the_config_enables(
    site: Path, tmp_path: Path
) -> None:
    path = session_file(tmp_path, ["ma_cross", "good_extra"])
    result = stratagem(site, "validate", "--strict-plugins", str(path))
    # the broken distributions are installed but never imported for this config
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "2 strategy instances (ma_cross, good_extra)" in result.stdout


def test_validate_strict_plugins_names_the_broken_distribution(
    site: Path, tmp_path: Path
) -> None:
    path = session_file(tmp_path, ["ma_cross", "broken_import"])
    result = stratagem(site, "validate", "--strict-plugins", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: 1 plugin(s) failed to load (strict plugins):",
        "  broken_import (stratagem-broken-import 0.2.0, entry point "
        "stratagem_broken_import): LOAD FAILED: ImportError: needs libta-c",
    ]
    lenient = stratagem(site, "validate", str(path))
    assert lenient.returncode == 2
    assert (
        "strategy 'broken_import' cannot be used: its plugin broken_import "
        "(stratagem-broken-import 0.2.0, entry point stratagem_broken_import): "
        "LOAD FAILED: ImportError: needs libta-c"
    ) in lenient.stderr


def test_validate_duplicate_strategy_names_both_distributions(
    site: Path, tmp_path: Path
) -> None:
    path = session_file(tmp_path, ["twin"])
    result = stratagem(site, "validate", str(path))
    assert result.returncode == 2
    assert (
        "session_data_config.strategies[0].module: strategy 'twin' is offered by "
        "more than one plugin: stratagem-twin-a 0.5.0 (plugin twin_a) and "
        "stratagem-twin-b 0.6.0 (plugin twin_b); uninstall all but one of them"
    ) in result.stderr
