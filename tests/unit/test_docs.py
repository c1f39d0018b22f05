"""The hook reference and the config schema are rendered from the code and stay so.

datasette's ``test_docs.py`` pattern: every hook in ``hookspecs.py`` is documented,
has every docstring section, and has a ``test_hook_<name>`` test somewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stratagem._docs import (
    CONFIG_FILE,
    HOOKS_FILE,
    SCHEMA_FILE,
    docstring_problems,
    hook_functions,
    hook_names,
    main,
    render_plugin_hooks,
    render_session_schema,
    stale_files,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
TEST_ROOTS = [REPO / "tests", *REPO.glob("strategies-contrib/*/tests")]
TEST_ROOTS += list(REPO.glob("plugins/*/tests"))
HOOK_TEST = re.compile(r"^\s*(?:async\s+)?def (test_hook_\w+)\s*\(", re.MULTILINE)
REGENERATE = "run `python -m stratagem._docs` from the repository root"

HOOKS = hook_names()


@pytest.fixture(scope="module")
def hook_tests() -> set[str]:
    found: set[str] = set()
    for root in TEST_ROOTS:
        for path in root.rglob("test_*.py"):
            found.update(HOOK_TEST.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_hook_of_the_design_is_specified() -> None:
    assert HOOKS == [
        "stratagem_strategies",
        "stratagem_scanners",
        "stratagem_data_sources",
        "stratagem_on_start",
        "stratagem_on_bars",
        "stratagem_on_symbol_added",
        "stratagem_on_stop",
        "stratagem_report_metrics",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    text = (DOCS / HOOKS_FILE).read_text(encoding="utf-8")
    assert f"### `{hook}`" in text, f"{hook} is missing from docs/{HOOKS_FILE}"


@pytest.mark.parametrize("function", hook_functions(), ids=HOOKS)
def test_every_hook_docstring_has_every_section(function: object) -> None:
    assert docstring_problems(function) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str, hook_tests: set[str]) -> None:
    assert f"test_hook_{hook}" in hook_tests, (
        f"no test function named test_hook_{hook} under tests/, "
        "strategies-contrib/*/tests or plugins/*/tests"
    )


def test_plugin_hooks_doc_is_current() -> None:
    text = (DOCS / HOOKS_FILE).read_text(encoding="utf-8")
    assert text == render_plugin_hooks(), f"docs/{HOOKS_FILE} is stale; {REGENERATE}"


def test_session_schema_is_current() -> None:
    text = (DOCS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert text == render_session_schema(), f"docs/{SCHEMA_FILE} is stale; {REGENERATE}"


def test_docstring_checker_finds_missing_sections() -> None:
    def stratagem_incomplete(ctx: object, symbol: str) -> None:
        """Do something.

        :param ctx: the context.
        :param sym: a misnamed argument.
        """

    assert docstring_problems(stratagem_incomplete) == [
        "no '**When:**' paragraph (lifecycle point, thread, how often)",
        "no ':param symbol:'",
        "':param sym:' documents no argument",
        "no ':returns:'",
        "no ':raises:' (what happens when it raises)",
        "no '.. versionadded::'",
    ]


def test_renderer_writes_and_checks_a_docs_folder(tmp_path: Path) -> None:
    assert {path.name for path in stale_files(tmp_path)} == {
        HOOKS_FILE,
        SCHEMA_FILE,
        CONFIG_FILE,
    }
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path)]) == 0
    assert stale_files(tmp_path) == []
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / HOOKS_FILE).write_text("# edited by hand\n")
    assert [path.name for path in stale_files(tmp_path)] == [HOOKS_FILE]
