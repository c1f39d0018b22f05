"""The docs stay true to the code (datasette's ``test_docs.py`` pattern).

Sphinx renders the hook reference from the docstrings in ``stratagem/hookspecs.py``
(``docs/hooks.rst``); these tests check what Sphinx cannot: every hook has the
docstring shape the page needs, is listed on the page, and has a ``test_hook_<name>``
test somewhere. The committed JSON schema must be what ``stratagem schema`` prints.
Sphinx itself runs in CI (``hatch run docs:build``, warnings are errors), not here.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stratagem
from stratagem import hookspecs
from stratagem._config.loading import session_json_schema
from stratagem.cli import main

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
HOOKS_PAGE = DOCS / "hooks.rst"
API_PAGE = DOCS / "api.rst"
SCHEMA_FILE = DOCS / "session_config.schema.json"
TEST_ROOTS = [
    REPO / "tests",
    *sorted(REPO.glob("strategies-contrib/*/tests")),
    *sorted(REPO.glob("plugins/*/tests")),
]
REGENERATE = (
    "regenerate with: stratagem schema --core > docs/session_config.schema.json"
)

SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"
HOOK_PREFIX = f"{hookspecs.PROJECT_NAME}_"
HOOK_TEST = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(test_hook_\w+)[ \t]*\(", re.M)
PAGE_ENTRY = re.compile(
    r"^\.\. autofunction::[ \t]+(?:stratagem\.hookspecs\.)?(\w+)[ \t]*$", re.M
)


def hook_functions() -> list[Callable[..., Any]]:
    """Every hookspec in :mod:`stratagem.hookspecs`, in definition order."""
    found = [
        value
        for name, value in vars(hookspecs).items()
        if name.startswith(HOOK_PREFIX)
        and inspect.isfunction(value)
        and hasattr(value, SPEC_MARKER)
    ]
    return sorted(found, key=lambda function: function.__code__.co_firstlineno)


def docstring_problems(function: Callable[..., Any]) -> list[str]:
    """What a hookspec's docstring lacks of the shape the hook reference shows.

    :param function: the hookspec.
    :returns: one message per missing or wrong section; empty when complete.
    """
    doc = inspect.getdoc(function) or ""
    first = doc.splitlines()[0] if doc else ""
    problems = []
    if not first.strip() or first.startswith((":", "..")):
        problems.append("no summary line")
    if not re.search(r"^\*\*When:\*\*\s+\S", doc, re.M):
        problems.append("no '**When:**' paragraph (lifecycle point, thread, how often)")
    documented = re.findall(r"^:param\s+(?:[^:\s]+\s+)?(\w+)\s*:", doc, re.M)
    arguments = list(inspect.signature(function).parameters)
    problems += [f"no ':param {name}:'" for name in arguments if name not in documented]
    problems += [
        f"':param {name}:' documents no argument"
        for name in documented
        if name not in arguments
    ]
    if not re.search(r"^:returns?:", doc, re.M):
        problems.append("no ':returns:'")
    if not re.search(r"^:raises?(?:\s+[^:]+)?:", doc, re.M):
        problems.append("no ':raises:' (what happens when it raises)")
    if not re.search(r"^\.\. versionadded::\s+\S", doc, re.M):
        problems.append("no '.. versionadded::'")
    return problems


def hook_tests_in(roots: Iterable[Path]) -> set[str]:
    """Names of the ``test_hook_*`` functions defined in the Python files under roots.

    :param roots: folders to search.
    """
    found: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            found.update(HOOK_TEST.findall(path.read_text(encoding="utf-8")))
    return found


HOOKS = [function.__name__ for function in hook_functions()]


@pytest.fixture(scope="module")
def hook_tests() -> set[str]:
    return hook_tests_in(TEST_ROOTS)


@pytest.fixture(scope="module")
def hooks_on_page() -> list[str]:
    return PAGE_ENTRY.findall(HOOKS_PAGE.read_text(encoding="utf-8"))


def test_hooks_are_found() -> None:
    assert "stratagem_on_bars" in HOOKS
    assert len(HOOKS) == len(set(HOOKS))


def test_every_hook_function_is_marked_as_a_hookspec() -> None:
    unmarked = [
        name
        for name, value in vars(hookspecs).items()
        if name.startswith(HOOK_PREFIX)
        and inspect.isfunction(value)
        and not hasattr(value, SPEC_MARKER)
    ]
    assert unmarked == [], "decorate these with @hookspec in hookspecs.py"


@pytest.mark.parametrize("function", hook_functions(), ids=HOOKS)
def test_every_hook_docstring_has_every_section(function: Callable[..., Any]) -> None:
    assert docstring_problems(function) == []


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_on_the_hooks_page(hook: str, hooks_on_page: list[str]) -> None:
    assert hook in hooks_on_page, (
        f"{hook} is missing from docs/hooks.rst; add "
        f"'.. autofunction:: {hook}' under its banner's section"
    )


def test_the_hooks_page_lists_only_hooks_once(hooks_on_page: list[str]) -> None:
    assert [name for name in hooks_on_page if name not in HOOKS] == []
    assert len(hooks_on_page) == len(set(hooks_on_page))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str, hook_tests: set[str]) -> None:
    assert f"test_hook_{hook}" in hook_tests, (
        f"no test function named test_hook_{hook} under tests/, "
        "strategies-contrib/*/tests or plugins/*/tests"
    )


def test_the_api_page_documents_every_public_name() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    assert re.search(r"^\.\. automodule:: stratagem$", text, re.M)
    assert re.search(r"^\.\. automodule:: stratagem\.testing$", text, re.M)
    # automodule documents the classes and functions of __all__, not plain values
    values = [
        name
        for name in stratagem.__all__
        if not inspect.isclass(getattr(stratagem, name))
        and not inspect.isroutine(getattr(stratagem, name))
    ]
    assert "hookimpl" in values
    missing = [name for name in values if f".. data:: {name}\n" not in text]
    assert missing == [], "describe these with '.. data:: NAME' in docs/api.rst"


def test_committed_schema_is_what_stratagem_schema_prints() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(committed) == session_json_schema(), (
        f"docs/session_config.schema.json is stale; {REGENERATE}"
    )
    printed = CliRunner().invoke(main, ["schema", "--core"])
    assert printed.exit_code == 0, printed.output
    assert committed == printed.stdout, (
        f"docs/session_config.schema.json is not byte for byte what "
        f"`stratagem schema --core` prints; {REGENERATE}"
    )


def test_docstring_checker_finds_missing_sections() -> None:
    def stratagem_incomplete(ctx: object, symbol: str) -> None:
        """Do something.

        :param ctx: the context.
        :param sym: a misnamed argument.
        """

    def stratagem_no_summary() -> None:
        """:returns: nothing."""

    assert docstring_problems(stratagem_incomplete) == [
        "no '**When:**' paragraph (lifecycle point, thread, how often)",
        "no ':param symbol:'",
        "':param sym:' documents no argument",
        "no ':returns:'",
        "no ':raises:' (what happens when it raises)",
        "no '.. versionadded::'",
    ]
    assert docstring_problems(stratagem_no_summary)[0] == "no summary line"


def test_docstring_checker_accepts_a_complete_docstring() -> None:
    def stratagem_complete(ctx: object) -> None:
        """Do something.

        **When:** never, it is a fake.

        :param ctx: the context.
        :returns: nothing.
        :raises: nothing is caught.

        .. versionadded:: 0.1
        """

    assert docstring_problems(stratagem_complete) == []


def test_hook_test_finder_reads_test_files(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "test_x.py").write_text(
        "def test_hook_stratagem_a():\n    pass\n"
        "class TestB:\n    async def test_hook_stratagem_b(self):\n        pass\n"
        "# def test_hook_stratagem_c(): commented out\n"
    )
    assert hook_tests_in([tmp_path]) == {
        "test_hook_stratagem_a",
        "test_hook_stratagem_b",
    }
