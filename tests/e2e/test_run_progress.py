"""``stratagem run`` on a terminal shows a progress bar (session time, share done,
steps, bars/s, time left) and then the summary; piped, it shows none.

The terminal is a real pseudo-terminal: the command runs in a subprocess whose
stdin, stdout and stderr are its slave end, and the test reads what it draws.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "session_configs" / "sample_data"
SUPPORT = REPO / "tests" / "support"
SYMBOL = "DASH_BTC"  # 1m bars with gaps: steps are not minutes
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def session_config(tmp_path: Path) -> Path:
    config = {
        "session_data_config": {
            "symbols": [SYMBOL],
            "streaming": {"data_upkeep": {"derived_intervals": [5]}},
            "data": {"path": str(SAMPLE_DATA)},
            "strategies": [
                {
                    "module": "stratagem_test_strategies:SmaCross",
                    "config": {"symbols": [SYMBOL]},
                }
            ],
        }
    }
    path = tmp_path / "session.json"
    path.write_text(json.dumps(config))
    return path


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SUPPORT), env.get("PYTHONPATH")])
    )
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    return env


def run_on_a_terminal(command: list[str], columns: int = 120) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal as its stdin, stdout and stderr;
    its exit code and everything it wrote, escape sequences removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        command,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment(),
        cwd=REPO,
        close_fds=True,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the slave end closed: the process is done
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, ANSI.sub("", output.decode(errors="replace"))


def bar_times(path: Path) -> list[datetime]:
    with path.open(newline="") as stream:
        return [
            datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            for row in csv.DictReader(stream)
        ]


def test_a_terminal_sees_progress_then_the_summary(tmp_path: Path) -> None:
    times = bar_times(SAMPLE_DATA / "1m" / f"{SYMBOL}.csv")
    # a data-driven replay steps once per base bar; its clock ends after the last
    end = (times[-1] + timedelta(minutes=1)).astimezone(UTC)
    command = [
        sys.executable,
        "-m",
        "stratagem.cli",
        "run",
        str(session_config(tmp_path)),
        "--out",
        str(tmp_path / "run"),
    ]
    code, screen = run_on_a_terminal(command)
    assert code == 0, screen[-3000:]
    lines = re.split(r"[\r\n]", screen)
    frames = [i for i, line in enumerate(lines) if re.search(r" steps .* bars/s", line)]
    assert frames, screen[-3000:]
    final = lines[frames[-1]]
    assert final.startswith(end.strftime("%Y-%m-%dT%H:%M:%SZ")), final
    assert " 100% " in final
    assert f" {len(times):,} steps " in final
    rate = re.search(r" ([\d,]+) bars/s ", final)
    assert rate is not None and int(rate.group(1).replace(",", "")) > 0, final
    assert "ETA" in final
    (status,) = [i for i, line in enumerate(lines) if line.startswith("ok: ")]
    assert status > frames[-1]
    assert f"outputs in {tmp_path / 'run'}" in lines[status]


def test_piped_output_has_no_progress_bar(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(session_config(tmp_path)),
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ok: " in done.stderr
    assert " steps " not in done.stderr and "ETA" not in done.stderr
    assert "\x1b[" not in done.stderr
