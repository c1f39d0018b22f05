"""``stratagem new-strategy``: name rules, the files it writes, and that it never
overwrites (the generated distribution installed and tested in a fresh virtual
environment is tests/e2e/test_new_strategy.py)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import pytest
from click.testing import CliRunner

from stratagem._scaffold import ScaffoldError, check_name, new_strategy
from stratagem.cli import main

GENERATED = (
    "README.md",
    "pyproject.toml",
    "src/stratagem_sma_trend/__init__.py",
    "src/stratagem_sma_trend/py.typed",
    "tests/test_sma_trend.py",
)


def files_under(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("My-Strategy", "my_strategy"),
        ("sma-trend", "sma_trend"),
        ("2fast", "fast"),
        ("sma__trend", "sma_trend"),
        ("_sma", "sma"),
        ("sma_", "sma"),
        ("SMA", "sma"),
        ("trend!", "trend"),
        ("ma cross", "ma_cross"),
    ],
)
def test_an_invalid_name_is_refused_with_a_valid_one_suggested(
    name: str, suggested: str
) -> None:
    with pytest.raises(ScaffoldError) as info:
        check_name(name)
    message = str(info.value)
    assert f"invalid strategy name {name!r}" in message
    assert "lowercase letters, digits and single underscores" in message
    assert f"(e.g. {suggested!r})" in message
    check_name(suggested)


@pytest.mark.parametrize("name", ["", "123", "ß", "--"])
def test_a_name_with_nothing_to_suggest_is_refused_without_a_suggestion(
    name: str,
) -> None:
    with pytest.raises(ScaffoldError) as info:
        check_name(name)
    assert "e.g." not in str(info.value)


@pytest.mark.parametrize(
    ("name", "hint"), [("stratagem_trend", "'trend'"), ("stratagem", None)]
)
def test_the_project_prefix_is_refused(name: str, hint: str | None) -> None:
    with pytest.raises(ScaffoldError) as info:
        check_name(name)
    assert "prefix already" in str(info.value)
    assert (f"(e.g. {hint})" in str(info.value)) == (hint is not None)


@pytest.mark.parametrize(
    ("name", "dist", "package", "class_name"),
    [
        ("sma_trend", "stratagem-sma-trend", "stratagem_sma_trend", "SmaTrend"),
        ("rsi2", "stratagem-rsi2", "stratagem_rsi2", "Rsi2"),
        ("a_1_b", "stratagem-a-1-b", "stratagem_a_1_b", "A1B"),
    ],
)
def test_names_derive_as_the_contrib_distributions_do(
    name: str, dist: str, package: str, class_name: str
) -> None:
    names = check_name(name)
    assert (names.dist, names.package, names.class_name) == (dist, package, class_name)
    assert class_name.isidentifier() and package.isidentifier()


def test_the_command_writes_a_complete_distribution(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["new-strategy", "sma_trend", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    target = tmp_path / "stratagem-sma-trend"
    assert f"wrote {target}" in result.output
    assert files_under(target) == sorted(GENERATED)
    # nothing left beside it (the staging folder is renamed into place)
    assert [p.name for p in tmp_path.iterdir()] == ["stratagem-sma-trend"]

    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    project = pyproject["project"]
    assert project["name"] == "stratagem-sma-trend"
    assert project["dependencies"] == [f"stratagem>={version('stratagem')}"]
    assert project["entry-points"]["stratagem"] == {"sma_trend": "stratagem_sma_trend"}
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/stratagem_sma_trend"
    ]
    for path in target.rglob("*"):
        if path.is_file():
            assert "${" not in path.read_text(), path
            if path.suffix == ".py":
                ast.parse(path.read_text(), filename=str(path))
    module = ast.parse((target / GENERATED[2]).read_text())
    classes = {node.name for node in module.body if isinstance(node, ast.ClassDef)}
    assert classes == {"SmaTrend", "SmaTrendConfig"}
    methods = {
        node.name
        for cls in module.body
        if isinstance(cls, ast.ClassDef) and cls.name == "SmaTrend"
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    }
    assert {"update", "on_save", "on_load"} <= methods


def test_the_generated_code_is_clean_for_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed beside this Python")
    target = new_strategy("sma_trend", tmp_path)
    # in the distribution's own folder, with the project's rule set
    for command in (
        [ruff, "check", "--select", "I,F,E,W,UP,B", "."],
        [ruff, "format", "--check", "."],
    ):
        done = subprocess.run(command, cwd=target, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "stratagem-sma-trend"
    target.mkdir()
    (target / "mine.py").write_text("kept = True\n")
    result = CliRunner().invoke(
        main, ["new-strategy", "sma_trend", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert f"{target} already exists" in result.output
    assert files_under(target) == ["mine.py"]
    assert (target / "mine.py").read_text() == "kept = True\n"
    assert [p.name for p in tmp_path.iterdir()] == ["stratagem-sma-trend"]


def test_an_empty_existing_folder_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "stratagem-sma-trend").mkdir()
    with pytest.raises(ScaffoldError, match="already exists"):
        new_strategy("sma_trend", tmp_path)
    assert files_under(tmp_path) == []


def test_a_bad_name_on_the_command_line_exits_2_and_writes_nothing(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        main, ["new-strategy", "My-Strategy", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "invalid strategy name 'My-Strategy'" in result.output
    assert "'my_strategy'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_dir_is_created_when_missing(tmp_path: Path) -> None:
    parent = tmp_path / "a" / "b"
    target = new_strategy("breakout", parent)
    assert target == parent / "stratagem-breakout"
    assert (target / "src" / "stratagem_breakout" / "__init__.py").is_file()


def test_a_name_an_installed_plugin_offers_is_written_with_a_warning(
    tmp_path: Path,
) -> None:
    try:
        distribution("stratagem-ma-cross")
    except PackageNotFoundError:
        pytest.skip("stratagem-ma-cross is not installed in this environment")
    result = CliRunner().invoke(
        main, ["new-strategy", "ma_cross", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0
    assert "stratagem-ma-cross already offers the entry point 'ma_cross'" in (
        result.output
    )
    assert (tmp_path / "stratagem-ma-cross" / "pyproject.toml").is_file()
