"""Fixtures shared by the core test suites.

The core's tests use strategies of their own, never the contrib ones (those test
themselves in their own distributions): a strategy class defined in the test, or
``stratagem-test-strategies`` (``tests/support/stratagem_test_strategies.py``), a
tiny distribution built and pip-installed once per run, for tests that meet a
strategy through its entry point or its distribution's name and version.
"""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

# A suite started in the background of a script inherits SIGINT ignored, and so do
# the sessions the Ctrl-C tests start (Python keeps an ignored SIGINT ignored): give
# them the default disposition, as a terminal's user has.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: The shared real-data folder sits beside the repository: ``<repo>/../shared/data``.
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
#: The test distribution's only module (installed as its package's ``__init__``).
TEST_STRATEGIES = Path(__file__).resolve().parent / "support"
TEST_STRATEGIES_MODULE = "stratagem_test_strategies"

TEST_STRATEGIES_PYPROJECT = f"""
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "stratagem-test-strategies"
version = "0.1.0"
requires-python = ">=3.11"

[project.entry-points.stratagem]
sma_cross = "{TEST_STRATEGIES_MODULE}"

[tool.hatch.build.targets.wheel]
packages = ["src/{TEST_STRATEGIES_MODULE}"]
"""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real bar data (``bars/<interval>/<SYMBOL>.csv``); skips without it."""
    root = SHARED_DATA.resolve()
    if not (root / "bars").is_dir():
        pytest.skip(
            f"real bar data not found at {root} (expected <repo>/../shared/data)"
        )
    return root


def pip_install_into(target: Path, projects: list[Path]) -> None:
    """pip-install local projects into ``target`` (a folder to put on ``sys.path``),
    built with this environment's hatchling, without dependencies or the network."""
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *map(str, projects),
        ],
        capture_output=True,
        text=True,
    )
    # --no-build-isolation builds with the hatchling of this environment
    assert installed.returncode == 0, f"pip install failed:\n{installed.stderr}"


@pytest.fixture(scope="session")
def pip_install() -> Callable[[Path, list[Path]], None]:
    """:func:`pip_install_into`, for test modules (they cannot import conftest)."""
    return pip_install_into


@pytest.fixture(scope="session")
def local_dist_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``stratagem-test-strategies`` 0.1.0 pip-installed into it.

    Put it on ``sys.path`` (:func:`local_strategies`) or on ``PYTHONPATH`` of a
    subprocess: its entry point ``sma_cross`` is then found as an installed one is.
    """
    root = tmp_path_factory.mktemp("test-strategies")
    project = root / "project"
    package = project / "src" / TEST_STRATEGIES_MODULE
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(TEST_STRATEGIES_PYPROJECT)
    source = TEST_STRATEGIES / f"{TEST_STRATEGIES_MODULE}.py"
    (package / "__init__.py").write_text(source.read_text())
    site = root / "site"
    pip_install_into(site, [project])
    return site


@pytest.fixture
def local_strategies(
    local_dist_site: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """``stratagem-test-strategies`` on ``sys.path`` for this test; its module.

    Entry point discovery (``stratagem plugins``, ``load_session``) sees the
    distribution: strategy ``sma_cross`` (:class:`SmaCross`, :class:`SmaCrossConfig`).
    """
    monkeypatch.syspath_prepend(str(local_dist_site))
    module = importlib.import_module(TEST_STRATEGIES_MODULE)
    assert Path(module.__file__).is_relative_to(local_dist_site), module.__file__
    return module


@pytest.fixture
def write_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], None]]:
    """Write importable plugin modules into tmp_path; forget them afterwards."""
    root = tmp_path / "plugin_modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def write(module: str, source: str) -> None:
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        written.append(module)

    yield write
    for module in written:
        sys.modules.pop(module, None)
