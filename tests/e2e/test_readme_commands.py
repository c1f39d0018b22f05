"""The README's command blocks work verbatim in a fresh virtual environment.

Every line of every ``bash`` block runs, in order, from the repository root, with
the fresh environment's ``python3`` first on PATH; two lines are left out and say
why: the test command (this suite: it would run itself) and the benchmarks (minutes
of measurement, with a smoke test of their own in ``bench/``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NOT_RUN = ("hatch run test", "hatch run bench")


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command and not any(skip in command for skip in NOT_RUN):
                commands.append(command)
    return commands


def test_the_readme_names_the_commands_this_test_runs() -> None:
    commands = readme_commands()
    assert "python3 -m pip install hatch && python3 -m hatch run demo" in commands
    assert "stratagem run session_configs/demo.json --out runs/demo --overwrite" in (
        commands
    )


@pytest.mark.slow
def test_every_readme_command_works_in_a_fresh_venv(tmp_path: Path) -> None:
    # a copy of the checkout, so the commands' outputs (runs/demo) stay out of it
    work = tmp_path / "checkout"
    shutil.copytree(
        REPO,
        work,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".ci-venv", "runs", "build", "__pycache__", "*.egg-info"
        ),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "HATCH_ENV_ACTIVE")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    # hatch keeps its environments here: a fresh machine has none
    env["HATCH_DATA_DIR"] = str(tmp_path / "hatch-data")
    # a line ending in '&' starts a server in the background, as in a terminal; it
    # is stopped once every line has run
    background: list[subprocess.Popen[str]] = []
    try:
        for command in readme_commands():
            if command.endswith("&"):
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", f"exec {command[:-1].strip()}"],
                        cwd=work,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        text=True,
                    )
                )
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, (
                f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
    finally:
        for process in background:
            process.terminate()
            process.wait(timeout=30)
    live = work / "runs" / "live" / "manifest.json"
    assert '"mode": "live"' in live.read_text()
    manifest = work / "runs" / "demo" / "manifest.json"
    assert '"status": "ok"' in manifest.read_text()
