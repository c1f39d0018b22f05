"""Persistence from the command line (DESIGN 12): the journal, ``kill -9`` and
``stratagem run --resume``, and the resumes that must be refused.

The runs are the demo's execution session (three contrib strategies trading
independent books on the embedded sample data, a scanner adding ZEC_BTC at
2018-01-25 06:00) plus a strategy of the test's own that kills its process with
SIGKILL at a chosen bar when ``KILL_AT`` is set: a crash at a known point, with no
chance to flush anything.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"
DEMO = REPO / "session_configs" / "demo_execution.json"
OUTPUTS = ("signals.csv", "fills.csv", "trades.csv", "equity.csv")

KILLER = '''
import os
import signal
from datetime import UTC, datetime

from stratagem import Strategy


class Killer(Strategy):
    """Kills its own process (SIGKILL) on the ETH_BTC 5m bar ``KILL_AT``."""

    def on_start(self, ctx):
        ctx.subscribe("ETH_BTC", "5m")

    def on_bars(self, ctx, symbol, interval):
        ts = int(ctx.bars(symbol, interval).ts[-1]) // 10**9
        bar = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if bar == os.environ.get("KILL_AT"):
            os.kill(os.getpid(), signal.SIGKILL)
'''

CRAFTED = '''
import os
from stratagem import Strategy


class Loads(Strategy):
    """Keeps what on_load gets, as data; writes nothing anywhere."""

    def on_start(self, ctx):
        ctx.subscribe("ETH_BTC", "5m")

    def on_save(self, ctx):
        return {"n": 1}

    def on_load(self, ctx, state):
        self.loaded = state
'''


@pytest.fixture
def local(tmp_path: Path) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "killer.py").write_text(textwrap.dedent(KILLER))
    (folder / "crafted.py").write_text(textwrap.dedent(CRAFTED))
    return folder


def demo_config(path: Path, *, books: str = "independent", **extra: object) -> Path:
    document = json.loads(DEMO.read_text())
    session = document["session_data_config"]
    session["data"]["path"] = str(SAMPLE)
    session["reporters"] = ["json"]
    session["execution"]["books"] = books
    session["strategies"].append({"module": "killer:Killer", "id": "killer"})
    session.update(extra)
    document.pop("$schema", None)
    path.write_text(json.dumps(document))
    return path


def stratagem(
    local: Path, *args: str, kill_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(local)}
    env.pop("KILL_AT", None)
    if kill_at is not None:
        env["KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env,
    )


def checkpoints(run_dir: Path) -> list[tuple[int, int, str]]:
    with sqlite3.connect(run_dir / "state.sqlite") as db:
        return db.execute(
            "SELECT id, steps, reason FROM checkpoints ORDER BY id"
        ).fetchall()


@pytest.mark.parametrize(
    ("kill_at", "books"),
    [
        # before the scanner adds ZEC_BTC: the resume must add it as the run did
        ("2018-01-24T12:00:00Z", "independent"),
        # after it, with one net book (steps handed out one at a time)
        ("2018-01-25T09:30:00Z", "net"),
    ],
)
def test_kill_9_then_resume_gives_the_uninterrupted_runs_outputs(
    tmp_path: Path, local: Path, kill_at: str, books: str
) -> None:
    cfg = demo_config(tmp_path / "s.json", books=books, checkpoint_every=97)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = stratagem(local, "run", str(cfg), "--out", str(whole))
    assert done.returncode == 0, done.stderr

    killed = stratagem(local, "run", str(cfg), "--out", str(broken), kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (broken / "signals.csv").exists()  # nothing was flushed but the journal
    before = checkpoints(broken)
    assert before and all(reason == "steps" for _, _, reason in before)
    assert all(steps % 97 == 0 for _, steps, _ in before)

    resumed = stratagem(local, "run", str(cfg), "--resume", str(broken))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at" in resumed.stderr
    for name in OUTPUTS:
        assert (broken / name).read_text() == (whole / name).read_text(), name
    books_whole = json.loads((whole / "portfolio.json").read_text())["books"]
    books_resumed = json.loads((broken / "portfolio.json").read_text())["books"]
    assert books_resumed == books_whole
    manifest = json.loads((broken / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["journal"]["resumed_from"]["steps"] == before[-1][1]
    assert (
        manifest["session"]["symbols"]
        == json.loads((whole / "manifest.json").read_text())["session"]["symbols"]
    )
    # the resumed run went on checkpointing into the same journal, up to its end
    after = checkpoints(broken)
    assert after[: len(before)] == before and after[-1][2] == "stop"


@pytest.fixture
def killed_run(tmp_path: Path, local: Path) -> tuple[Path, Path]:
    """A run killed mid-way, with checkpoints in its journal; (config, run folder)."""
    cfg = demo_config(tmp_path / "s.json", checkpoint_every=200)
    out = tmp_path / "run"
    killed = stratagem(
        local, "run", str(cfg), "--out", str(out), kill_at="2018-01-24T12:00:00Z"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return cfg, out


def test_a_changed_config_is_refused_naming_the_journal_and_the_change(
    killed_run: tuple[Path, Path], local: Path
) -> None:
    cfg, out = killed_run
    document = json.loads(cfg.read_text())
    document["session_data_config"]["strategies"][0]["config"]["fast_period"] = 7
    cfg.write_text(json.dumps(document))
    refused = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert refused.returncode == 2
    assert str(out / "state.sqlite") in refused.stderr
    assert "config changed" in refused.stderr and "fast_period" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_changed_plugin_version_is_refused_unless_forced(
    killed_run: tuple[Path, Path], local: Path
) -> None:
    cfg, out = killed_run
    # the journal says the run was made with another version of ma_cross
    with sqlite3.connect(out / "state.sqlite") as db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'plugins'").fetchone()
        plugins = json.loads(text)
        plugins["ma_cross"] = "stratagem-ma-cross 0.0.9"
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'plugins'", (json.dumps(plugins),)
        )
    refused = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert refused.returncode == 2
    assert "plugin versions changed" in refused.stderr
    assert "ma_cross stratagem-ma-cross 0.0.9 ->" in refused.stderr
    forced = stratagem(local, "run", str(cfg), "--resume", str(out), "--force")
    assert forced.returncode == 0, forced.stderr


def test_a_corrupt_journal_is_refused(
    killed_run: tuple[Path, Path], local: Path
) -> None:
    cfg, out = killed_run
    journal = out / "state.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{journal}{suffix}").unlink(missing_ok=True)
    data = bytearray(journal.read_bytes())
    data[: len(data) // 2] = b"\x00" * (len(data) // 2)
    journal.write_bytes(bytes(data))
    refused = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert refused.returncode == 2
    assert f"{journal}: corrupt journal" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_finished_run_is_not_resumed(tmp_path: Path, local: Path) -> None:
    cfg = demo_config(tmp_path / "s.json")
    out = tmp_path / "run"
    assert stratagem(local, "run", str(cfg), "--out", str(out)).returncode == 0
    refused = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert refused.returncode == 2
    assert "the run completed" in refused.stderr


def test_a_crafted_journal_state_is_data_never_code(
    tmp_path: Path, local: Path
) -> None:
    """States are JSON: a pickle in the journal is a corrupt journal, and JSON that
    looks like code reaches ``on_load`` as plain strings."""
    marker = tmp_path / "pwned"
    cfg = demo_config(tmp_path / "s.json", checkpoint_every=200)
    document = json.loads(cfg.read_text())
    document["session_data_config"]["strategies"].append(
        {"module": "crafted:Loads", "id": "loads"}
    )
    cfg.write_text(json.dumps(document))
    out = tmp_path / "run"
    killed = stratagem(
        local, "run", str(cfg), "--out", str(out), kill_at="2018-01-24T12:00:00Z"
    )
    assert killed.returncode == -signal.SIGKILL
    journal = out / "state.sqlite"

    import pickle

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    code_like = json.dumps({"__reduce__": f"os.system('touch {marker}')"})
    with sqlite3.connect(journal) as db:
        db.execute(
            "UPDATE states SET state = ? WHERE strategy = 'loads'",
            (pickle.dumps(Exploit()),),
        )
    refused = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert refused.returncode == 2 and "corrupt journal" in refused.stderr
    assert not marker.exists()

    with sqlite3.connect(journal) as db:
        db.execute("UPDATE states SET state = ? WHERE strategy = 'loads'", (code_like,))
    resumed = stratagem(local, "run", str(cfg), "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert not marker.exists()
