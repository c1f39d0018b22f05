"""A live session over the WebSocket feed (DESIGN section 11): the first-party
``stratagem-feed-websocket`` plugin replays bar files as a server on 127.0.0.1, and a
session reading it gives the bars and signals of the data-driven run over the same
files (when no strategy overruns)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "session_configs" / "sample_data"
SYMBOLS = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session(tmp_path: Path, name: str, data: dict, **extra: object) -> Path:
    strategies = [
        {
            "module": "sma_cross",
            "id": "sma",
            # block: the live run must not drop a step to be comparable
            "backpressure": "block",
            "config": {"symbols": SYMBOLS, "interval": "5m"},
        }
    ]
    body = {
        "symbols": SYMBOLS,
        "streaming": {"data_upkeep": {"derived_intervals": [5, 15]}},
        "data": data,
        "start": "2018-01-24T06:00:00Z",
        "end": "2018-01-25T06:00:00Z",
        "reporters": [],
        "strategies": strategies,
        **extra,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"session_data_config": body}))
    return path


def run(config: Path, out: Path, site: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "run",
            str(config),
            "--out",
            str(out),
            "--save-bars",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )


def sorted_rows(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [lines[0], *sorted(lines[1:])]


#: UTC windows; and trading days starting 17:00 New York time, with a 4h series
#: whose windows restart there (DESIGN 15: parity whatever the trading days)
CALENDARS = {
    "utc": ({}, ("1m", "5m", "15m")),
    "new-york-17h": (
        {
            "bars": {"timezone": "America/New_York", "day_start": "17:00"},
            "streaming": {"data_upkeep": {"derived_intervals": [5, 15, "4h"]}},
        },
        ("1m", "5m", "15m", "4h"),
    ),
}


@pytest.mark.parametrize("calendar", sorted(CALENDARS))
def test_a_live_session_over_the_feed_equals_the_data_driven_run(
    tmp_path: Path, local_dist_site: Path, calendar: str
) -> None:
    extra, intervals = CALENDARS[calendar]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stratagem.cli",
            "feed",
            "serve",
            "--data",
            str(SAMPLE),
            "--symbols",
            ",".join(SYMBOLS),
            "--port",
            str(port),
            "--speed",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        live_cfg = session(
            tmp_path,
            "live",
            {
                "source": "websocket",
                "url": f"ws://127.0.0.1:{port}",
                "history": str(SAMPLE),
            },
            **extra,
        )
        live = run(live_cfg, tmp_path / "live", local_dist_site)
        assert live.returncode == 0, live.stderr
    finally:
        server.terminate()
        server.communicate(timeout=30)
    replay_cfg = session(tmp_path, "replay", {"path": str(SAMPLE)}, **extra)
    replay = run(replay_cfg, tmp_path / "replay", local_dist_site)
    assert replay.returncode == 0, replay.stderr

    live_manifest = json.loads((tmp_path / "live" / "manifest.json").read_text())
    assert live_manifest["mode"] == "live"
    metrics = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert metrics["strategies"]["sma"]["dropped"] == 0
    assert metrics["system"]["feed_messages"] > 0
    # the same signals (live order is arrival order; compare as sets of rows)
    live_signals = sorted_rows(tmp_path / "live" / "signals.csv")
    replay_signals = sorted_rows(tmp_path / "replay" / "signals.csv")
    assert len(replay_signals) > 10
    assert live_signals == replay_signals
    # and the same bars, every interval
    for interval in intervals:
        for symbol in SYMBOLS:
            a = (tmp_path / "live" / "bars" / interval / f"{symbol}.csv").read_text()
            b = (tmp_path / "replay" / "bars" / interval / f"{symbol}.csv").read_text()
            assert a == b, (interval, symbol)
