"""Every fenced code block of ``docs/*.md`` and ``README.md`` runs in a test, or is
declared a listing, or says why it cannot run.

What each language tag means:

- ``python``: executed. A page's Python blocks share one interpreter and run in page
  order, so a block may use what an earlier block of the page defined.
- ``bash`` (or ``sh``): the block is one ``bash -e`` script; a line ending in ``&``
  starts a server in the background, stopped when the block ends. It must exit 0.
- ``console``: ``$ COMMAND`` lines are run one by one; the lines after a command
  are its expected output (stdout and stderr). A line ``...`` stands for any number
  of lines, and ``...`` inside a line for any text. Each command must exit 0.
- ``json``: a whole session config (it has ``session_data_config``) must pass
  ``stratagem validate``; a fragment (members of ``session_data_config``, JSON only
  once put between braces) is merged into ``session_configs/demo.json`` and must
  pass the session config model; any other JSON must parse.
- ``toml``: must parse.
- ``text``: a listing (output, a synopsis, a diagram); not run.

A block without a tag, or with another tag, fails the test. Every page's blocks,
of every language, are handled in page order, in a scratch folder of their own
that holds a copy of ``session_configs/`` (so ``runs/...`` and scaffolds land
there), with a ``HOME`` of their own and a virtual environment of the page's own
on ``PATH`` first: it sees every package of the test environment, and a ``pip
install`` in a block installs into it alone.

An HTML comment on the line right before a fence changes what happens to it:

- ``<!-- file: PATH -->``: the block is written to ``PATH`` (relative to the
  scratch folder) before it is checked, as the page asks the reader to save it.
- ``<!-- as in the README -->`` (shell blocks): not run here, because every line of
  it is a command of the README's shell blocks, which
  ``tests/e2e/test_readme_commands.py`` runs in a fresh virtual environment; the
  test checks that each line is one of those commands.
- ``<!-- not run: REASON -->``: not run; the reason is required.

The README's own ``bash`` blocks are the ones ``test_readme_commands.py`` runs; this
test checks that that module runs each of their lines (or names why not).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from stratagem._config.models import SessionConfig

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_COMMANDS_TEST = REPO / "tests" / "e2e" / "test_readme_commands.py"
DEMO_CONFIG = REPO / "session_configs" / "demo.json"

SHELL = frozenset({"bash", "sh"})
RUN = SHELL | {"python", "console", "json", "toml"}
LISTING = frozenset({"text"})
#: MyST directives that hold code: a plain fence is what this test reads
CODE_DIRECTIVES = frozenset({"{code-block}", "{code}", "{code-cell}", "{sourcecode}"})

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(
    r"^\s*<!--\s*(?P<kind>not run|file|as in the README)(?P<rest>.*?)-->\s*$"
)
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page.

    :param page: the page's path.
    :param line: the 1-based line of its opening fence.
    :param lang: the first word of its info string ('' when untagged).
    :param text: its content, the fence's indentation removed.
    :param marker: ``(kind, argument)`` of the HTML comment right before it.
    """

    page: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        page = (
            self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        )
        return f"{page}:{self.line}"


def parse_blocks(page: Path, source: str | None = None) -> list[Block]:
    """Every fenced code block of a Markdown page, in order.

    :param page: the page (read unless ``source`` is given).
    :param source: the page's text, for tests of the parser.
    """
    lines = (page.read_text(encoding="utf-8") if source is None else source).split("\n")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            end += 1
        info = opening["info"].strip()
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        blocks.append(
            Block(
                page,
                index + 1,
                info.split()[0] if info else "",
                "\n".join(body) + "\n",
                (marker["kind"], marker["rest"].lstrip(":").strip())
                if marker
                else None,
            )
        )
        index = end + 1
    return blocks


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def readme_commands_module() -> ModuleType:
    """``tests/e2e/test_readme_commands.py``, whose ``readme_commands()`` lists
    what that test runs."""
    spec = importlib.util.spec_from_file_location(
        "stratagem_readme_commands", README_COMMANDS_TEST
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_lines(block: Block) -> list[str]:
    """A shell block's commands, one a line, trailing comments cut as the README
    test cuts them."""
    return [
        command
        for line in block.text.splitlines()
        if (command := line.split("  #")[0].strip()) and not command.startswith("#")
    ]


def is_readme_bash(block: Block) -> bool:
    """A README ``bash`` block: ``test_readme_commands.py`` runs it."""
    return block.page == README and block.lang == "bash"


def block_problems(block: Block, readme_commands: list[str]) -> list[str]:
    """Why a block is neither run nor a declared listing, if it is not.

    :param block: the block.
    :param readme_commands: what ``test_readme_commands.py`` runs.
    """
    where, lang = block.where, block.lang
    if lang.startswith("{"):
        if lang in CODE_DIRECTIVES:
            return [f"{where}: use a plain fence (```python, ...), not {lang}"]
        return []  # a MyST directive such as {toctree}, not a code block
    if not lang:
        return [f"{where}: untagged block; tag it (text for a listing)"]
    if lang not in RUN | LISTING:
        return [
            f"{where}: unknown tag {lang!r}; use one of "
            f"{', '.join(sorted(RUN | LISTING))}"
        ]
    if block.marker is None:
        return []
    kind, argument = block.marker
    if is_readme_bash(block):
        return [
            f"{where}: tests/e2e/test_readme_commands.py runs every bash block of the "
            "README, whatever its comment; show commands that cannot run as console"
        ]
    if lang in LISTING:
        return [f"{where}: a {kind!r} comment on a text listing, which never runs"]
    if kind == "not run" and not argument:
        return [f"{where}: '<!-- not run: REASON -->' needs its reason"]
    if kind == "file" and (
        not argument or Path(argument).is_absolute() or ".." in argument
    ):
        return [
            f"{where}: '<!-- file: PATH -->' needs a relative path inside the folder"
        ]
    if kind == "as in the README":
        if lang not in SHELL:
            return [f"{where}: 'as in the README' is for shell blocks"]
        return [
            f"{where}: {command!r} is not a command the README's shell blocks run "
            "(tests/e2e/test_readme_commands.py)"
            for command in command_lines(block)
            if command not in readme_commands
        ]
    return []


def test_every_block_is_run_or_a_declared_listing() -> None:
    module = readme_commands_module()
    commands = module.readme_commands()
    problems = []
    for page in pages():
        for block in parse_blocks(page):
            problems += block_problems(block, commands)
    assert problems == []


def test_the_readme_test_runs_every_line_of_the_readme_bash_blocks() -> None:
    module = readme_commands_module()
    commands = module.readme_commands()
    blocks = [block for block in parse_blocks(README) if is_readme_bash(block)]
    assert len(blocks) >= 3
    missing = [
        f"{block.where}: {line}"
        for block in blocks
        for line in command_lines(block)
        if line not in commands and not any(part in line for part in module.NOT_RUN)
    ]
    assert missing == []


def test_the_parser_reads_fences_markers_and_indentation() -> None:
    source = "\n".join(
        [
            "text",
            "<!-- not run: needs a cluster -->",
            "```bash",
            "ray start --head",
            "```",
            "",
            "1. a list item:",
            "",
            "   ````python",
            "   print('```')",
            "   ````",
            "",
            "```",
            "untagged",
            "```",
            "<!-- file: session_configs/x.json -->",
            '```json {"caption": 1}',
            "{}",
            "```",
        ]
    )
    blocks = parse_blocks(DOCS / "sample.md", source)
    assert [(b.line, b.lang) for b in blocks] == [
        (3, "bash"),
        (9, "python"),
        (13, ""),
        (17, "json"),
    ]
    assert blocks[0].marker == ("not run", "needs a cluster")
    assert blocks[1].text == "print('```')\n" and blocks[1].marker is None
    assert blocks[3].marker == ("file", "session_configs/x.json")
    problems = [p for b in blocks for p in block_problems(b, [])]
    assert problems == [
        "docs/sample.md:13: untagged block; tag it (text for a listing)"
    ]
    page = DOCS / "sample.md"
    assert block_problems(
        Block(page, 1, "bash", "pip install x\n", ("as in the README", "")),
        ["pip install y"],
    ) == [
        "docs/sample.md:1: 'pip install x' is not a command the README's shell "
        "blocks run (tests/e2e/test_readme_commands.py)"
    ]
    assert block_problems(Block(page, 1, "bash", "x\n", ("not run", "")), []) == [
        "docs/sample.md:1: '<!-- not run: REASON -->' needs its reason"
    ]
    assert block_problems(Block(README, 1, "yaml", "a: 1\n"), []) != []
    assert block_problems(Block(README, 1, "bash", "x\n", ("not run", "why")), []) != []
    assert block_problems(Block(page, 1, "bash", "x\n", ("not run", "why")), []) == []


# --- running a page's blocks ----------------------------------------------------


def expected_output_pattern(expected: list[str]) -> re.Pattern[str]:
    """A console transcript's expected lines as one pattern over the whole output.

    :param expected: lines; ``...`` alone is any number of lines, ``...`` inside a
        line any text on that line.
    """
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = [re.escape(piece) for piece in line.rstrip().split("...")]
            parts.append("[^\n]*".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts))


def test_expected_output_patterns_match_as_documented() -> None:
    pattern = expected_output_pattern(["...", "ok: ... signals", "done"])
    assert pattern.fullmatch("12:00 INFO x\nmore\nok: 273 signals\ndone\n")
    assert pattern.fullmatch("ok: 9 signals\ndone\n")
    assert not pattern.fullmatch("ok: 9 signals\nextra\ndone\n")
    assert not pattern.fullmatch("ok: 9 signals\n")
    exact = expected_output_pattern(["a  b"])
    assert exact.fullmatch("a  b\n") and not exact.fullmatch("a b\n")


class PageRunner:
    """Runs one page's blocks in page order, in a scratch folder of its own.

    :param root: an empty folder for the page.
    """

    PYTHON_DRIVER = r"""
import json, os, sys, traceback
replies = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # what blocks print goes with the log, not the replies
sys.stdout = sys.stderr
namespace = {"__name__": "__main__"}
for request in sys.stdin:
    block = json.loads(request)
    print(f"--- {block['where']}", flush=True)
    try:
        exec(compile(block["code"], block["where"], "exec"), namespace)
        reply = {"ok": True}
    except BaseException:
        reply = {"ok": False, "error": traceback.format_exc()}
    sys.stdout.flush()
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
"""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.work.mkdir(parents=True)
        shutil.copytree(REPO / "session_configs", self.work / "session_configs")
        home = root / "home"
        home.mkdir()
        self.venv = self._overlay_venv(root / "venv")
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "HATCH_ENV_ACTIVE")
        }
        tools = Path(sys.executable).parent
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), str(tools), env["PATH"]])
        env["VIRTUAL_ENV"] = str(self.venv)
        env["HOME"] = str(home)
        self.env = env
        self.python_log = root / "python.log"
        self._python: subprocess.Popen[str] | None = None

    @staticmethod
    def _overlay_venv(venv: Path) -> Path:
        """A venv that sees this environment's packages and installs into itself.

        Its ``.pth`` adds this environment's site-packages (with their own ``.pth``
        files: the editable installs); ``stratagem`` in its ``bin`` runs its python.
        """
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
        )
        site = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ours = sysconfig.get_paths()["purelib"]
        (Path(site) / "_test_environment.pth").write_text(
            f"import site; site.addsitedir({ours!r})\n"
        )
        (script,) = entry_points(group="console_scripts", name="stratagem")
        module, function = script.value.split(":")
        launcher = venv / "bin" / "stratagem"
        launcher.write_text(
            f"#!{venv / 'bin' / 'python'}\n"
            f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"
        )
        launcher.chmod(0o755)
        return venv

    # --- per language ---------------------------------------------------------

    def run(self, block: Block) -> None:
        if block.marker is not None and block.marker[0] == "file":
            target = self.work / block.marker[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        elif block.marker is not None:
            return  # 'not run' or 'as in the README': checked by the tests above
        if is_readme_bash(block):
            return  # tests/e2e/test_readme_commands.py runs it
        handler = {
            "python": self.python,
            "console": self.console,
            "json": self.json,
            "toml": self.toml,
        }.get(block.lang, self.shell if block.lang in SHELL else None)
        if handler is not None:
            handler(block)

    def shell(self, block: Block) -> None:
        script = self.work.parent / f"block-{block.line}.sh"
        script.write_text(block.text)
        code, output = self._bash(["bash", "-e", str(script)])
        assert code == 0, f"{block.where} exited {code}:\n{output[-4000:]}"

    def console(self, block: Block) -> None:
        for command, expected in transcript(block):
            code, output = self._bash(["bash", "-c", command])
            assert code == 0, (
                f"{block.where}: {command} exited {code}:\n{output[-4000:]}"
            )
            assert expected_output_pattern(expected).fullmatch(output), (
                f"{block.where}: the output of {command} is not the one shown.\n"
                f"shown:\n{chr(10).join(expected)}\ngot:\n{output[-4000:]}"
            )

    def python(self, block: Block) -> None:
        if self._python is None:
            self._python = subprocess.Popen(
                [str(self.venv / "bin" / "python"), "-c", self.PYTHON_DRIVER],
                cwd=self.work,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.python_log.open("w"),
                text=True,
            )
        process = self._python
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(
            json.dumps({"code": block.text, "where": block.where}) + "\n"
        )
        process.stdin.flush()
        reply = process.stdout.readline()
        assert reply, f"{block.where}: the interpreter died:\n{self._python_output()}"
        answer = json.loads(reply)
        assert answer["ok"], (
            f"{block.where} raised:\n{answer['error']}\n{self._python_output()}"
        )

    def json(self, block: Block) -> None:
        document, fragment = parse_json_block(block)
        if fragment:
            config = json.loads(DEMO_CONFIG.read_text())
            config["session_data_config"].update(document)
            try:
                SessionConfig.model_validate(config)
            except ValidationError as exc:
                raise AssertionError(
                    f"{block.where}: members of session_data_config that the session "
                    f"config refuses:\n{exc}"
                ) from None
        elif isinstance(document, dict) and "session_data_config" in document:
            if block.marker is not None and block.marker[0] == "file":
                path = self.work / block.marker[1]
            else:
                # beside the session configs, so a relative data path resolves
                path = self.work / "session_configs" / f"_block_{block.line}.json"
                path.write_text(block.text, encoding="utf-8")
            code, output = self._bash(["stratagem", "validate", str(path)])
            assert code == 0, f"{block.where}: stratagem validate says:\n{output}"

    def toml(self, block: Block) -> None:
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"{block.where}: not TOML: {exc}") from None

    # --- processes --------------------------------------------------------------

    def _bash(self, command: list[str]) -> tuple[int, str]:
        """Run ``command`` in its own process group from the scratch folder; end
        whatever it left in the background.

        :returns: the exit code and the output, stdout and stderr together.
        """
        log = self.work.parent / "output.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=self.work,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=BLOCK_TIMEOUT_S)
            finally:
                stop_group(process.pid)
        return code, log.read_text(errors="replace")

    def _python_output(self) -> str:
        return self.python_log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self._python is not None:
            assert self._python.stdin is not None
            self._python.stdin.close()
            self._python.wait(timeout=30)


def stop_group(pgid: int) -> None:
    """End a block's process group (its background servers), gently first."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def transcript(block: Block) -> Iterator[tuple[str, list[str]]]:
    """A console block's ``(command, expected output lines)`` pairs."""
    command: str | None = None
    expected: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, expected
            command, expected = line[2:], []
        elif command is None:
            raise AssertionError(f"{block.where}: a console block starts with '$ '")
        else:
            expected.append(line)
    assert command is not None, f"{block.where}: no '$ ' command"
    yield command, expected


def parse_json_block(block: Block) -> tuple[Any, bool]:
    """The block's JSON, and whether it is a fragment (members of an object)."""
    with contextlib.suppress(json.JSONDecodeError):
        return json.loads(block.text), False
    try:
        return json.loads("{" + block.text + "}"), True
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"{block.where}: neither JSON nor members of an object: {exc}"
        ) from None


def runnable(page: Path) -> bool:
    """Whether some block of the page runs here."""
    return any(
        block.lang in RUN
        and not is_readme_bash(block)
        and (block.marker is None or block.marker[0] == "file")
        for block in parse_blocks(page)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    [page for page in pages() if runnable(page)],
    ids=lambda page: page.name,
)
def test_the_blocks_of_a_page_run(page: Path, tmp_path: Path) -> None:
    runner = PageRunner(tmp_path)
    try:
        for block in parse_blocks(page):
            runner.run(block)
    finally:
        runner.close()


def test_the_runner_fails_a_block_that_does_not_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    runner = PageRunner(tmp_path / "runner")

    def block(lang: str, text: str, marker: tuple[str, str] | None = None) -> Block:
        return Block(page, 1, lang, text, marker)

    def fails(lang: str, text: str, message: str) -> None:
        with pytest.raises(AssertionError, match=message):
            runner.run(block(lang, text))

    try:
        fails("bash", "true\nexit 3\necho never\n", "exited 3")
        fails("bash", "false\necho never\n", "exited 1")
        fails("console", "$ echo hello\ngoodbye\n", "is not the one shown")
        fails("console", "$ echo hello\n", "is not the one shown")  # output not shown
        fails("console", "echo hello\n", "starts with")
        fails("python", "raise ValueError('broken example')\n", "broken example")
        fails("toml", "[project\n", "not TOML")
        fails("json", '"speed_multiplier": -1', "session_data_config.speed_multiplier")
        fails("json", '"speed_multiplier": 0,', "neither JSON")
        fails(
            "json",
            '{"session_data_config": {"symbols": ["ETH_BTC"], "data": {"path": '
            '"sample_data"}, "strategies": [{"module": "no_such_strategy"}]}}',
            "no_such_strategy",
        )
        # what passes: shared Python state, transcripts, files, background servers
        runner.run(block("python", "answer = 41\n"))
        runner.run(block("python", "assert answer + 1 == 42\n"))
        runner.run(block("console", "$ echo hello; echo there\nhel...\n...\n"))
        runner.run(block("toml", "x = 1\n", ("file", "sub/x.toml")))
        assert (runner.work / "sub" / "x.toml").read_text() == "x = 1\n"
        runner.run(block("bash", "sleep 300 &\necho $! > server.pid\n"))
        server = int((runner.work / "server.pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(server, 0)
        runner.run(block("bash", "exit 5\n", ("not run", "needs a cluster")))
    finally:
        runner.close()
