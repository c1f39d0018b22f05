"""``stratagem new-strategy``: write a strategy distribution from the templates in
``template/`` (package data of the core).

Each template file is rendered with :class:`string.Template`: ``${name}`` (the entry
point and strategy name), ``${dist}``, ``${package}``, ``${class_name}`` and
``${core_version}``, in its content and in its path; a ``.tmpl`` suffix is dropped
(it keeps the templates out of ruff's and pytest's reach), other files are copied as
they are. The templates are the only source of the generated code.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from stratagem.hookspecs import PROJECT_NAME

TEMPLATE_SUFFIX = ".tmpl"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class ScaffoldError(ValueError):
    """A name that cannot make a distribution, or a folder that already exists."""


@dataclass(frozen=True)
class StrategyNames:
    """Every name derived from the strategy name, as the contrib distributions use
    them (``ma_cross``, ``stratagem-ma-cross``, ``stratagem_ma_cross``, ``MaCross``).

    :param name: the entry point and strategy name.
    """

    name: str

    @property
    def dist(self) -> str:
        return f"{PROJECT_NAME}-{self.name.replace('_', '-')}"

    @property
    def package(self) -> str:
        return f"{PROJECT_NAME}_{self.name}"

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


def check_name(name: str) -> StrategyNames:
    """The names of a new strategy, or why ``name`` cannot be one.

    :param name: lowercase ASCII letters, digits and single underscores, starting
        with a letter (``breakout``, ``sma_trend_2``): it is the entry point name,
        and with a ``stratagem_`` prefix an import package and a distribution name.
    :raises ScaffoldError: naming the rule broken and a name that would do.
    """
    if _NAME.fullmatch(name) is None:
        hint = _suggestion(name)
        raise ScaffoldError(
            f"invalid strategy name {name!r}: use lowercase letters, digits and "
            "single underscores, starting with a letter"
            + (f" (e.g. {hint!r})" if hint else "")
        )
    prefix = f"{PROJECT_NAME}_"
    if name == PROJECT_NAME or name.startswith(prefix):
        rest = name.removeprefix(prefix)
        raise ScaffoldError(
            f"invalid strategy name {name!r}: the distribution and package get the "
            f"{PROJECT_NAME!r} prefix already"
            + (f" (e.g. {rest!r})" if rest and rest != PROJECT_NAME else "")
        )
    return StrategyNames(name)


def _suggestion(name: str) -> str:
    """A valid name close to an invalid one (``My-Strategy`` -> ``my_strategy``)."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    while words and not words[0][0].isalpha():
        words[0] = words[0].lstrip("0123456789")
        if not words[0]:
            words.pop(0)
    return "_".join(words)


def core_requirement() -> str:
    """The lowest stratagem the generated distribution accepts: the installed one's
    release (a local label such as ``+g1234`` is not allowed in a requirement)."""
    return version(PROJECT_NAME).split("+")[0]


def new_strategy(name: str, parent: Path) -> Path:
    """Write the distribution of a new strategy ``name`` into ``parent``.

    :param name: the strategy name (see :func:`check_name`).
    :param parent: the folder to create the distribution's folder in.
    :returns: the distribution's folder, ``parent/stratagem-<name>``.
    :raises ScaffoldError: for an invalid name, or when that folder exists.
    """
    names = check_name(name)
    target = parent / names.dist
    if target.exists() or target.is_symlink():
        raise ScaffoldError(f"{target} already exists; choose another --dir or name")
    if parent.exists() and not parent.is_dir():
        raise ScaffoldError(f"--dir {parent} is not a folder")
    parent.mkdir(parents=True, exist_ok=True)
    values = {
        "name": names.name,
        "dist": names.dist,
        "package": names.package,
        "class_name": names.class_name,
        "core_version": core_requirement(),
    }
    # written beside the target and renamed into place: never half a distribution
    staging = parent / f".{names.dist}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        _render(files(__name__) / "template", staging, values)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _render(source: Traversable, dest: Path, values: dict[str, str]) -> None:
    for item in sorted(source.iterdir(), key=lambda entry: entry.name):
        if item.name == "__pycache__":
            continue
        rendered = Template(item.name).substitute(values)
        if item.is_dir():
            (dest / rendered).mkdir()
            _render(item, dest / rendered, values)
        elif rendered.endswith(TEMPLATE_SUFFIX):
            text = Template(item.read_text(encoding="utf-8")).substitute(values)
            (dest / rendered.removesuffix(TEMPLATE_SUFFIX)).write_text(
                text, encoding="utf-8"
            )
        else:
            (dest / rendered).write_bytes(item.read_bytes())
