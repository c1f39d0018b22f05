"""Render the reference docs from the code (``python -m stratagem._docs``).

``plugin_hooks.md`` comes from the hookspec docstrings (grouped under the banners of
``hookspecs.py``); ``session_config.schema.json`` and ``config_reference.md`` from the
session config models. ``tests/unit/test_docs.py`` fails when any file is stale.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratagem import hookspecs
from stratagem._config.loading import session_json_schema

HOOKS_FILE = "plugin_hooks.md"
SCHEMA_FILE = "session_config.schema.json"
CONFIG_FILE = "config_reference.md"

_SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"
_BANNER_RULE = re.compile(r"^# -{20,}$")
_FIELD = re.compile(r"^:(param|returns?|raises?)\s*([^:]*):\s*(.*)$")
_DIRECTIVE = re.compile(r"^\.\. versionadded::\s*(\S+)\s*$")
_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


@dataclass
class HookDoc:
    """A hookspec docstring, split into the sections the docs page shows.

    :param name: the hook's name.
    :param group: the banner it sits under in ``hookspecs.py``.
    :param signature: ``name(args) -> returns`` as written.
    :param summary: the first paragraph.
    :param paragraphs: the other free-text paragraphs (the ``**When:**`` one first).
    :param params: per ``:param:``, its description.
    :param returns: the ``:returns:`` text.
    :param raises: the ``:raises:`` text.
    :param versionadded: the ``.. versionadded::`` version.
    """

    name: str
    group: str
    signature: str
    summary: str = ""
    paragraphs: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None
    raises: str | None = None
    versionadded: str | None = None


def hook_functions() -> list[Callable[..., Any]]:
    """Every hookspec of :mod:`stratagem.hookspecs`, in the order they are defined."""
    found = [
        value
        for name, value in vars(hookspecs).items()
        if name.startswith(f"{hookspecs.PROJECT_NAME}_")
        and inspect.isfunction(value)
        and hasattr(value, _SPEC_MARKER)
    ]
    return sorted(found, key=lambda function: function.__code__.co_firstlineno)


def hook_names() -> list[str]:
    """Names of every hookspec, in definition order."""
    return [function.__name__ for function in hook_functions()]


def _banners() -> list[tuple[int, str]]:
    lines = inspect.getsource(hookspecs).splitlines()
    found = []
    for number, line in enumerate(lines[:-2], start=1):
        title = lines[number]
        if (
            _BANNER_RULE.match(line)
            and title.startswith("# ")
            and _BANNER_RULE.match(lines[number + 1])
        ):
            found.append((number, title[2:].strip()))
    return found


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


def _signature(function: Callable[..., Any]) -> str:
    signature = inspect.signature(function)
    arguments = ", ".join(
        name
        if parameter.annotation is parameter.empty
        else f"{name}: {_annotation(parameter.annotation)}"
        for name, parameter in signature.parameters.items()
    )
    text = f"{function.__name__}({arguments})"
    if signature.return_annotation is not signature.empty:
        text += f" -> {_annotation(signature.return_annotation)}"
    return text


def parse_hook(function: Callable[..., Any], group: str = "") -> HookDoc:
    """Split a hookspec's docstring into its sections.

    :param function: the hookspec function.
    :param group: the banner it sits under.
    """
    doc = HookDoc(function.__name__, group, _signature(function))
    lines = (inspect.getdoc(function) or "").splitlines()
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line.strip():
            blocks.append([])
        elif line[0].isspace() and blocks[-1]:
            blocks[-1][-1] += " " + line.strip()
        elif _FIELD.match(line) or _DIRECTIVE.match(line):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    texts = [" ".join(block) for block in blocks if block]
    if texts and not _FIELD.match(texts[0]) and not _DIRECTIVE.match(texts[0]):
        doc.summary = texts.pop(0)
    for text in texts:
        field_match = _FIELD.match(text)
        directive = _DIRECTIVE.match(text)
        if field_match:
            kind, argument, body = field_match.groups()
            if kind == "param":
                doc.params[argument.strip()] = body
            elif kind.startswith("return"):
                doc.returns = body
            else:
                doc.raises = f"{argument.strip()}: {body}" if argument.strip() else body
        elif directive:
            doc.versionadded = directive.group(1)
        else:
            doc.paragraphs.append(text)
    return doc


def docstring_problems(function: Callable[..., Any]) -> list[str]:
    """What a hookspec docstring lacks of the shape the docs require.

    :param function: the hookspec function.
    :returns: one message per missing or wrong section; empty when complete.
    """
    doc = parse_hook(function)
    problems = []
    if not doc.summary:
        problems.append("no summary line")
    if not any(text.startswith("**When:**") for text in doc.paragraphs):
        problems.append("no '**When:**' paragraph (lifecycle point, thread, how often)")
    arguments = list(inspect.signature(function).parameters)
    for argument in arguments:
        if argument not in doc.params:
            problems.append(f"no ':param {argument}:'")
    for argument in doc.params:
        if argument not in arguments:
            problems.append(f"':param {argument}:' documents no argument")
    if doc.returns is None:
        problems.append("no ':returns:'")
    if doc.raises is None:
        problems.append("no ':raises:' (what happens when it raises)")
    if doc.versionadded is None:
        problems.append("no '.. versionadded::'")
    return problems


def _markdown(text: str) -> str:
    return _LITERAL.sub(r"`\1`", _ROLE.sub(r"``\1``", text))


def render_plugin_hooks() -> str:
    """The text of ``docs/plugin_hooks.md``."""
    banners = _banners()
    out = [
        "# Plugin hooks",
        "",
        "<!-- Rendered from core/src/stratagem/hookspecs.py by "
        "`python -m stratagem._docs`; edit the docstrings, not this file. -->",
        "",
        "A plugin is a module (or object) registered through the `stratagem` entry "
        "point group. Mark every implementation with `@stratagem.hookimpl`: pluggy "
        "ignores an unmarked one, and a marked function whose name is not a hook "
        "below makes the plugin `LOAD FAILED`. Implementations may take any subset "
        "of a hook's arguments, by name.",
        "",
    ]
    current_group = None
    for function in hook_functions():
        line = function.__code__.co_firstlineno
        group = next((t for n, t in reversed(banners) if n < line), "Hooks")
        doc = parse_hook(function, group)
        if group != current_group:
            out += [f"## {group}", ""]
            current_group = group
        out += [f"### `{doc.name}`", "", "```python", f"def {doc.signature}", "```", ""]
        out += [_markdown(doc.summary), ""]
        for paragraph in doc.paragraphs:
            out += [_markdown(paragraph), ""]
        if doc.params:
            out += ["**Parameters:**", ""]
            out += [
                f"- `{name}`: {_markdown(text)}" for name, text in doc.params.items()
            ]
            out.append("")
        if doc.returns is not None:
            out += [f"**Returns:** {_markdown(doc.returns)}", ""]
        if doc.raises is not None:
            out += [f"**Raises:** {_markdown(doc.raises)}", ""]
        if doc.versionadded is not None:
            out += [f"*New in version {doc.versionadded}.*", ""]
    return "\n".join(out).rstrip() + "\n"


def render_session_schema() -> str:
    """The text of ``docs/session_config.schema.json``."""
    return json.dumps(session_json_schema(), indent=2) + "\n"


def render_config_reference() -> str:
    """The text of ``docs/config_reference.md``: every session config field."""
    from pydantic import BaseModel

    from stratagem._config.models import SessionConfig

    out = [
        "# Session config reference",
        "",
        "<!-- Rendered from core/src/stratagem/config.py by "
        "`python -m stratagem._docs`; edit the field descriptions, not this file. -->",
        "",
        "A session file is JSON; editors validate it against "
        "`session_config.schema.json` (`stratagem schema` prints it). Unknown keys "
        "are errors. Each strategy's `config` object is validated by that strategy's "
        "own config class (see its README).",
        "",
    ]
    queue: list[tuple[str, type[BaseModel]]] = [("(top level)", SessionConfig)]
    done: set[type[BaseModel]] = set()
    while queue:
        path, model = queue.pop(0)
        if model in done:
            continue
        done.add(model)
        out += [
            f"## `{path}`",
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for name, info in model.model_fields.items():
            key = info.alias or name
            nested = _nested_model(info.annotation)
            if nested is not None:
                suffix = "[]" if "list[" in _annotation(info.annotation) else ""
                queue.append(
                    (f"{path}.{key}{suffix}".removeprefix("(top level)."), nested)
                )
            if info.is_required():
                default = "required"
            else:
                value = info.get_default(call_default_factory=True)
                if isinstance(value, BaseModel):
                    value = value.model_dump(mode="json", by_alias=True)
                default = f"`{json.dumps(value, default=str)}`"
            kind = re.sub(
                r"\b(?:[a-z_]+\.)+([A-Za-z_]+)", r"\1", _annotation(info.annotation)
            )
            out.append(
                f"| `{key}` | `{kind}` | {default} | "
                f"{(info.description or '').replace('|', '/')} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _nested_model(annotation: Any) -> Any:
    from pydantic import BaseModel

    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def rendered_docs() -> dict[str, str]:
    """Every rendered file, by file name inside the docs folder."""
    return {
        HOOKS_FILE: render_plugin_hooks(),
        SCHEMA_FILE: render_session_schema(),
        CONFIG_FILE: render_config_reference(),
    }


def stale_files(docs_dir: Path) -> list[Path]:
    """Rendered files in ``docs_dir`` that are missing or differ from the code.

    :param docs_dir: the docs folder.
    """
    stale = []
    for name, text in rendered_docs().items():
        target = docs_dir / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(target)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, verify) the rendered docs.

    :param argv: command-line arguments; ``sys.argv[1:]`` by default.
    :returns: the exit code: 1 when ``--check`` finds stale files.
    """
    parser = argparse.ArgumentParser(prog="python -m stratagem._docs")
    parser.add_argument("docs_dir", nargs="?", default="docs", type=Path)
    parser.add_argument("--check", action="store_true", help="only report staleness")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.docs_dir)
        for path in stale:
            print(f"stale: {path} (run python -m stratagem._docs)", file=sys.stderr)
        return 1 if stale else 0
    args.docs_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_docs().items():
        (args.docs_dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.docs_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
