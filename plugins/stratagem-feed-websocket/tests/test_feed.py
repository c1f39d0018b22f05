"""The websocket feed over real sockets on 127.0.0.1: the replay server, the client
source, and ``stratagem feed serve`` as a process."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect
from websockets.sync.server import serve as websocket_server

import stratagem
import stratagem_feed_websocket
from stratagem_feed_websocket import (
    FeedError,
    FeedServer,
    FeedValidationError,
    WebSocketSource,
    serve,
    websocket_source,
)

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "session_configs" / "sample_data"
SHARED = REPO.parent / "shared" / "data" / "bars"
#: no test waits longer than this for a stream to finish
WATCHDOG_SECONDS = 15.0

needs_sample = pytest.mark.skipif(
    not (SAMPLE / "1m").is_dir(), reason=f"embedded sample data absent: {SAMPLE}"
)
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared real data absent: {SHARED}"
)


def collect(
    source: WebSocketSource,
    symbols: Sequence[str],
    start_ns: int = 0,
    stop: threading.Event | None = None,
) -> list[stratagem.LiveBar]:
    """Every bar of the stream; a watchdog stops a stream that never ends."""
    stop = stop or threading.Event()
    watchdog = threading.Timer(WATCHDOG_SECONDS, stop.set)
    watchdog.start()
    try:
        bars = list(source.stream(symbols, start_ns, stop))
    finally:
        watchdog.cancel()
    assert not stop.is_set(), "the stream did not end on its own"
    return bars


def assert_bars_equal_files(
    bars: Sequence[stratagem.LiveBar],
    root: Path,
    symbols: Sequence[str],
    interval: str = "1m",
    start_ns: int | None = None,
) -> None:
    """Per symbol, the streamed bars are exactly the file's, every column; across
    symbols they come by (open time, symbol order)."""
    files = stratagem.open_bar_files(root)
    assert {bar.symbol for bar in bars} <= set(symbols)
    for symbol in symbols:
        want = files.load(symbol, interval, start_ns=start_ns)
        got = [bar for bar in bars if bar.symbol == symbol]
        assert len(got) == len(want), symbol
        for column in ("ts", "open", "high", "low", "close", "volume"):
            values = np.array([getattr(bar, column) for bar in got])
            np.testing.assert_array_equal(values, getattr(want, column), symbol)
    rank = {symbol: i for i, symbol in enumerate(symbols)}
    keys = [(bar.ts, rank[bar.symbol]) for bar in bars]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def expected_gaps(root: Path, symbols: Sequence[str], interval: str) -> int:
    """Base bars missing between consecutive bars of each file."""
    step = stratagem.interval_minutes(interval) * stratagem.NS_PER_MINUTE
    files = stratagem.open_bar_files(root)
    total = 0
    for symbol in symbols:
        diffs = np.diff(files.load(symbol, interval).ts)
        total += int((diffs[diffs > step] // step - 1).sum())
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (Linux /proc)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    raw = bytes.fromhex(address)
                    # /proc writes each 32-bit word in host (little-endian) order
                    words = [raw[i : i + 4][::-1] for i in range(0, width // 2, 4)]
                    family = socket.AF_INET if width == 8 else socket.AF_INET6
                    found.add(socket.inet_ntop(family, b"".join(words)))
    return found


@contextlib.contextmanager
def scripted_server(messages: Sequence[str]) -> Iterator[str]:
    """A WebSocket server (real socket) that sends ``messages`` to each client."""

    def handler(connection: object) -> None:
        for text in messages:
            connection.send(text)  # type: ignore[attr-defined]

    with websocket_server(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
        thread.join(5)


def kline(symbol: str, minute: int, ohlc: Sequence[object], **extra: object) -> str:
    t = 1_516_752_000_000 + minute * 60_000
    o, h, low, c = (str(x) for x in ohlc)
    k = {"t": t, "T": t + 59_999, "s": symbol, "i": "1m", "o": o, "h": h, "l": low}
    k |= {"c": c, "v": "1.5", "x": True, **extra}
    return json.dumps({"e": "kline", "E": t + 60_000, "s": symbol, "k": k})


@functools.cache
def feed_command() -> tuple[str, ...]:
    """``stratagem feed`` when the core CLI attaches it, else the plugin's module."""
    probe = subprocess.run(
        [sys.executable, "-m", "stratagem.cli", "feed", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode == 0 and "serve" in probe.stdout:
        return (sys.executable, "-m", "stratagem.cli", "feed")
    return (sys.executable, "-m", "stratagem_feed_websocket.cli")


def start_feed(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``feed serve ARGS`` as a process, and the URL it prints."""
    process = subprocess.Popen(
        [*feed_command(), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    hung = threading.Timer(30, process.kill)
    hung.start()
    line = process.stdout.readline()
    hung.cancel()
    match = re.search(r"ws://\S+:\d+", line)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"feed serve printed {line!r}; stderr: {err}")
    return process, match.group(0)


# --- the replay, end to end ------------------------------------------------------


@needs_sample
def test_the_client_receives_exactly_the_bars_of_the_files() -> None:
    with FeedServer(SAMPLE, port=0) as server:
        source = WebSocketSource(server.url)
        bars = collect(source, server.symbols)
    symbols = ["ADA_BTC", "DASH_BTC", "ETC_BTC", "ETH_BTC", "LTC_BTC", "ZEC_BTC"]
    assert server.symbols == symbols
    assert_bars_equal_files(bars, SAMPLE, symbols)
    stats = source.feed_stats()
    assert stats["messages"] == len(bars) + 1  # and the end message
    assert stats["reconnects"] == stats["duplicates_dropped"] == 0
    # the sample keeps the source's gaps: every missing minute is counted
    assert stats["gaps"] == expected_gaps(SAMPLE, symbols, "1m") > 0


@needs_shared
def test_shared_data_at_5m_from_a_start_in_the_given_symbol_order() -> None:
    symbols = ["ZEC_BTC", "ETH_BTC", "XMR_BTC"]
    start = "2018-01-28T00:00:00Z"
    with FeedServer(
        SHARED, symbols=symbols, interval="5m", start=start, port=0
    ) as server:
        source = WebSocketSource(server.url, interval="5m")
        bars = collect(source, symbols)
    start_ns = np.datetime64(start.rstrip("Z"), "ns").astype(np.int64)
    assert bars[0].ts == start_ns
    assert_bars_equal_files(bars, SHARED, symbols, "5m", start_ns=int(start_ns))


@needs_shared
def test_shared_hourly_bars_and_their_weekend_gaps() -> None:
    with FeedServer(SHARED, interval="1h", port=0) as server:
        source = WebSocketSource(server.url, interval="60m")
        bars = collect(source, ["EURUSD"])
    assert_bars_equal_files(bars, SHARED, ["EURUSD"], "1h")
    assert source.feed_stats()["gaps"] == expected_gaps(SHARED, ["EURUSD"], "1h") > 0


@needs_shared
def test_a_bad_bar_file_refuses_to_serve_under_reject() -> None:
    # SPY has two rows with an open below the low (see the sample data README)
    with pytest.raises(ValueError, match="SPY"):
        FeedServer(SHARED, symbols=["SPY"], interval="1d", port=0)
    with FeedServer(
        SHARED, symbols=["SPY"], interval="1d", validation="drop", port=0
    ) as server:
        assert server.bar_count == 2519 - 2


def test_a_gap_in_the_data_is_counted(tmp_path: Path) -> None:
    rows = {
        "AAA_BTC": [0, 1, 4, 5, 9],  # minutes 2, 3 and 6, 7, 8 are missing
        "BBB_BTC": [0, 1, 2, 3],
    }
    (tmp_path / "1m").mkdir()
    for symbol, minutes in rows.items():
        lines = ["timestamp,open,high,low,close,volume"]
        for m in minutes:
            lines.append(f"2024-03-01T00:{m:02d}:00Z,1.0,1.2,0.9,1.1,{m + 1}")
        (tmp_path / "1m" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    with FeedServer(tmp_path, port=0) as server:
        source = WebSocketSource(server.url)
        bars = collect(source, ["AAA_BTC", "BBB_BTC"])
    assert_bars_equal_files(bars, tmp_path, ["AAA_BTC", "BBB_BTC"])
    assert source.feed_stats()["gaps"] == 5


@needs_sample
def test_the_combined_stream_wrapper_is_accepted() -> None:
    with FeedServer(SAMPLE, port=0) as server:
        url = f"{server.url}/stream?streams=ethbtc@kline_1m/adabtc@kline_1m"
        # it stops reading mid-replay: do not wait for a polite close
        with connect(url, close_timeout=0.2) as raw:
            first = json.loads(raw.recv(timeout=5))
        assert first["stream"] == "adabtc@kline_1m"
        assert first["data"]["k"]["x"] is True
        source = WebSocketSource(url)
        bars = collect(source, ["ADA_BTC", "ETH_BTC", "ZEC_BTC"])
    # ZEC_BTC is served, but not on these streams
    assert_bars_equal_files(bars, SAMPLE, ["ADA_BTC", "ETH_BTC"])


@needs_sample
def test_bars_before_start_and_unwanted_symbols_are_not_yielded() -> None:
    start_ns = int(np.datetime64("2018-01-25T12:00", "ns").astype(np.int64))
    with FeedServer(SAMPLE, port=0) as server:
        source = WebSocketSource(server.url, symbol_map={"ZECBTC": "ZCASH"})
        bars = collect(source, ["ZCASH", "ETH_BTC"], start_ns=start_ns)
    assert {bar.symbol for bar in bars} == {"ZCASH", "ETH_BTC"}
    assert min(bar.ts for bar in bars) == start_ns
    files = stratagem.open_bar_files(SAMPLE)
    zec = files.load("ZEC_BTC", "1m", start_ns=start_ns)
    np.testing.assert_array_equal(
        [b.close for b in bars if b.symbol == "ZCASH"], zec.close
    )


# --- the server ------------------------------------------------------------------


@needs_sample
def test_the_server_binds_loopback_by_default() -> None:
    with FeedServer(SAMPLE, port=0) as server:
        assert server.socket.getsockname()[0] == "127.0.0.1"
        assert server.url.startswith("ws://127.0.0.1:")
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(SAMPLE,),
        kwargs={"port": port, "ready": ready, "stop": stop},
    )
    thread.start()
    try:
        assert ready.wait(10)
        if not Path("/proc/net/tcp").exists():
            pytest.skip("no /proc/net/tcp to read the listening address from")
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_server_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="interval folders"):
        FeedServer(tmp_path, port=0)
    (tmp_path / "1m").mkdir()
    with pytest.raises(FeedError, match="no bar files"):
        FeedServer(tmp_path, port=0)
    with pytest.raises(FeedError, match="speed"):
        FeedServer(tmp_path, speed=-1, port=0)


@needs_sample
def test_an_unknown_stream_is_refused_with_a_reason() -> None:
    with FeedServer(SAMPLE, port=0) as server:
        with connect(f"{server.url}/ws/dogebtc@kline_1m") as raw:
            with pytest.raises(Exception) as closed:
                raw.recv(timeout=5)
            assert raw.close_code == 1008
        assert "dogebtc" in str(closed.value)


# --- reconnects, duplicates, stop ------------------------------------------------


@needs_sample
def test_a_killed_server_restarted_gives_the_files_once() -> None:
    symbols = ["ETH_BTC", "ADA_BTC"]
    # paced (about 1.5 s a replay) so that the kill lands mid-replay, whatever the
    # sockets buffer
    args = ["--data", str(SAMPLE), "--symbols", ",".join(symbols), "--speed", "120000"]
    first, url = start_feed(*args, "--port", "0")
    assert url.startswith("ws://127.0.0.1:")
    port = url.rsplit(":", 1)[1]
    source = WebSocketSource(url)
    stop = threading.Event()
    watchdog = threading.Timer(WATCHDOG_SECONDS, stop.set)
    watchdog.start()
    second = None
    bars: list[stratagem.LiveBar] = []
    yielded_before_reconnect = 0
    try:
        for bar in source.stream(symbols, 0, stop):
            bars.append(bar)
            if source.feed_stats()["reconnects"] == 0:
                yielded_before_reconnect += 1
            if len(bars) == 200:
                first.kill()
                first.wait(10)
                second, _ = start_feed(*args, "--port", port)
    finally:
        watchdog.cancel()
        for process in (first, second):
            if process is not None:
                process.kill()
                process.communicate(timeout=10)
    assert not stop.is_set(), "the stream did not end on its own"
    stats = source.feed_stats()
    assert stats["reconnects"] == 1
    assert 200 <= yielded_before_reconnect < len(bars)
    # the new server replays from the first bar: all that was yielded comes again
    assert stats["duplicates_dropped"] == yielded_before_reconnect
    assert stats["messages"] == len(bars) + stats["duplicates_dropped"] + 1
    assert_bars_equal_files(bars, SAMPLE, symbols)


@needs_sample
def test_stop_ends_a_quiet_stream_promptly() -> None:
    # one bar a minute of wall time: after the first, nothing comes
    with FeedServer(SAMPLE, symbols=["ETH_BTC"], speed=1, port=0) as server:
        stop = threading.Event()
        stream = WebSocketSource(server.url).stream(["ETH_BTC"], 0, stop)
        assert next(stream).symbol == "ETH_BTC"
        threading.Timer(0.3, stop.set).start()
        began = time.monotonic()
        with pytest.raises(StopIteration):
            next(stream)
        assert 0.25 < time.monotonic() - began < 1.0


def test_stop_ends_a_stream_that_cannot_connect() -> None:
    source = WebSocketSource(f"ws://127.0.0.1:{free_port()}")
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    began = time.monotonic()
    assert list(source.stream(["ETH_BTC"], 0, stop)) == []
    assert time.monotonic() - began < 1.2
    assert source.feed_stats()["reconnects"] == 0


def test_the_server_closing_without_end_makes_the_client_reconnect() -> None:
    lone = [kline("ETHBTC", 0, (1, 2, 0.5, 1.5))]
    with scripted_server(lone) as url:
        source = WebSocketSource(url)
        stop = threading.Event()
        threading.Timer(0.8, stop.set).start()
        bars = list(source.stream(["ETH_BTC"], 0, stop))
    stats = source.feed_stats()
    assert len(bars) == 1
    assert stats["reconnects"] >= 2
    # the same bar again on each connection, dropped (the last one may be cut by stop)
    assert stats["reconnects"] - 1 <= stats["duplicates_dropped"] <= stats["reconnects"]


# --- what counts as a bar --------------------------------------------------------


def test_only_closed_klines_of_the_interval_are_bars() -> None:
    messages = [
        json.dumps({"result": None, "id": 1}),  # a subscription reply
        kline("ETHBTC", 0, (1, 2, 0.5, 1.5), x=False),  # still open
        kline("ETHBTC", 0, (1, 2, 0.5, 1.6)),
        kline("ETHBTC", 0, (1, 2, 0.5, 1.6), i="5m"),
        kline("LTCBTC", 1, (1, 2, 0.5, 1.5)),  # not asked for
        kline("ETHBTC", 1, (1.6, 2, 0.5, 1.7)),
        json.dumps({"e": "end"}),
    ]
    with scripted_server(messages) as url:
        source = WebSocketSource(url)
        bars = collect(source, ["ETH_BTC"])
    assert [(b.ts, b.close) for b in bars] == [
        (1_516_752_000_000_000_000, 1.6),
        (1_516_752_060_000_000_000, 1.7),
    ]
    assert source.feed_stats()["duplicates_dropped"] == 0


def test_an_unreadable_message_is_refused_under_reject_and_counted_under_drop() -> None:
    messages = [
        kline("ETHBTC", 0, (1, 2, 0.5, 1.5)),
        "not json",
        kline("ETHBTC", 2, (1, 2, 0.5, 1.5)),
        json.dumps({"e": "end"}),
    ]
    with scripted_server(messages) as url:
        with pytest.raises(FeedValidationError, match="not json"):
            collect(WebSocketSource(url), ["ETH_BTC"])
        source = WebSocketSource(url, validation="drop")
        bars = collect(source, ["ETH_BTC"])
    minutes = [(b.ts - 1_516_752_000_000_000_000) // 60_000_000_000 for b in bars]
    assert minutes == [0, 2]
    assert source.feed_stats()["invalid_dropped"] == 1
    assert source.feed_stats()["gaps"] == 1


BAD_BAR_FEED = [
    kline("ETHBTC", 0, (1, 2, 0.5, 1.5)),
    kline("ETHBTC", 1, (1, 0.4, 0.5, 1.5)),  # high below low
    kline("ETHBTC", 2, (1, 2, 0.5, 1.5)),
    json.dumps({"e": "end"}),
]


def run_live_session(
    tmp_path: Path, messages: Sequence[str], validation: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``stratagem run`` of a live ETH_BTC session over a server sending
    ``messages``; the run and its system metrics."""
    session: dict[str, Any] = {
        "symbols": ["ETH_BTC"],
        "data": {"source": "websocket", "validation": validation},
        "start": "2018-01-24T00:00:00Z",
        "reporters": ["json"],
        "strategies": [],
    }
    with scripted_server(messages) as url:
        session["data"]["url"] = url
        run = run_config(tmp_path, {"session_data_config": session})
    system = json.loads((tmp_path / "run" / "metrics.json").read_text())["system"]
    return run, system


def run_config(
    tmp_path: Path, config: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """``stratagem run`` of ``config`` with its outputs in ``tmp_path / "run"``."""
    path = tmp_path / "live.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", "run", str(path)]
        + ["--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("validation", ["reject", "drop"])
def test_the_session_holds_streamed_bars_to_the_file_rules(
    tmp_path: Path, validation: str
) -> None:
    """The bar rules are the session's, one place for files and feeds: a streamed
    bar with its high below its low stops a ``reject`` session as bad input, in one
    line naming the symbol, the bar and the rule; ``drop`` skips and counts it."""
    run, system = run_live_session(tmp_path, BAD_BAR_FEED, validation)
    if validation == "reject":
        assert run.returncode == 2, run.stdout + run.stderr
        (error,) = [line for line in run.stderr.splitlines() if "error" in line]
        assert "ETH_BTC 2018-01-24T00:01:00Z: high_below_low" in error
        assert "Traceback" not in run.stderr
        assert system["status"] == "failed"
        assert system["bars_in"] == 1
    else:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "ETH_BTC 2018-01-24T00:01:00Z: high_below_low" in run.stderr
        assert system["live_bars_dropped"] == 1
        assert system["bars_in"] == 2
        assert system["feed_invalid_dropped"] == 0


def test_an_unreadable_message_stops_a_reject_session_as_bad_input(
    tmp_path: Path,
) -> None:
    messages = [BAD_BAR_FEED[0], "not json", BAD_BAR_FEED[-1]]
    run, system = run_live_session(tmp_path, messages, "reject")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    (error,) = [line for line in run.stderr.splitlines() if "error" in line]
    assert "not JSON" in error and "ws://127.0.0.1:" in error
    assert system["status"] == "failed"


# --- the data source as the core meets it ----------------------------------------


def test_the_plugin_offers_the_websocket_source(plugin_manager: object) -> None:
    pm = plugin_manager
    pm.register(stratagem_feed_websocket, name="websocket")  # type: ignore[attr-defined]
    pm.check_pending()  # type: ignore[attr-defined]
    offered = pm.hook.stratagem_data_sources()  # type: ignore[attr-defined]
    (spec,) = [s for specs in offered for s in specs]
    assert isinstance(spec, stratagem.DataSourceSpec)
    assert spec.name == "websocket"
    assert spec.factory is websocket_source
    by_group = {
        group: {ep.name: ep.value for ep in entry_points(group=group)}
        for group in ("stratagem", "stratagem.commands")
    }
    assert by_group["stratagem"]["websocket"] == "stratagem_feed_websocket"
    assert by_group["stratagem.commands"]["feed"] == "stratagem_feed_websocket.cli:feed"


@needs_sample
def test_history_comes_from_the_files() -> None:
    options = {
        "validation": "reject",
        "url": "ws://127.0.0.1:8765",
        "symbol_map": {},
        "interval": "1m",
    }
    source = websocket_source(SAMPLE, options)
    assert isinstance(source, stratagem.BarSource)
    assert source.available("ETH_BTC", "1m") and source.available("ZEC_BTC", "5m")
    assert not source.available("ETH_BTC", "1h")
    end_ns = int(np.datetime64("2018-01-25", "ns").astype(np.int64))
    got = source.load("ETH_BTC", "1m", end_ns=end_ns)
    want = stratagem.open_bar_files(SAMPLE).load("ETH_BTC", "1m", end_ns=end_ns)
    np.testing.assert_array_equal(got.ts, want.ts)
    np.testing.assert_array_equal(got.close, want.close)
    assert source.files_used == [SAMPLE / "1m" / "ETH_BTC.csv"]
    assert list(source.reports) == source.files_used

    bare = websocket_source(None, options)
    assert not bare.available("ETH_BTC", "1m")
    assert bare.files_used == [] and bare.reports == {}
    with pytest.raises(ValueError, match="no history"):
        bare.load("ETH_BTC", "1m")
    with pytest.raises(ValueError, match="data.url"):
        websocket_source(None, {**options, "url": None})


def test_two_symbols_on_one_feed_name_are_refused() -> None:
    source = WebSocketSource("ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="symbol_map"):
        next(source.stream(["ETH_BTC", "ETHB_TC"], 0, threading.Event()))


# --- the command -----------------------------------------------------------------


@needs_sample
def test_feed_serve_runs_as_a_command_and_stops_on_sigterm() -> None:
    process, url = start_feed(
        "--data", str(SAMPLE), "--symbols", "ETH_BTC", "--port", "0"
    )
    try:
        assert url.startswith("ws://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(port) == {"127.0.0.1"}
        source = WebSocketSource(url)
        bars = collect(source, ["ETH_BTC"])
        assert_bars_equal_files(bars, SAMPLE, ["ETH_BTC"])
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in err


def test_feed_serve_reports_a_missing_symbol() -> None:
    if not (SAMPLE / "1m").is_dir():
        pytest.skip(f"embedded sample data absent: {SAMPLE}")
    result = subprocess.run(
        [
            *feed_command(),
            "serve",
            "--data",
            str(SAMPLE),
            "--symbols",
            "DOGE_BTC",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode != 0
    assert "DOGE_BTC" in result.stderr


@needs_sample
def test_the_readme_live_demo_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("stratagem_ma_cross") is None:
        pytest.skip("stratagem-ma-cross (the demo's strategy) is not installed")
    example = Path(__file__).resolve().parents[1] / "examples" / "live_demo.json"
    config = json.loads(example.read_text())
    data = config["session_data_config"]["data"]
    assert (example.parent / data["history"]).resolve() == SAMPLE
    process, url = start_feed("--data", str(SAMPLE), "--port", "0")
    try:
        data |= {"url": url, "history": str(SAMPLE)}
        run = run_config(tmp_path, config)
    finally:
        process.kill()
        process.communicate(timeout=10)
    assert run.returncode == 0, run.stdout + run.stderr
    system = json.loads((tmp_path / "run" / "metrics.json").read_text())["system"]
    assert system["mode"] == "live" and system["status"] == "ok"
    assert system["feed_reconnects"] == 0
    # every base bar of the files from the session start on made it through the feed
    start_ns = int(np.datetime64("2018-01-24T06:00", "ns").astype(np.int64))
    files = stratagem.open_bar_files(SAMPLE)
    symbols = config["session_data_config"]["symbols"]
    assert system["bars_in"] == sum(
        len(files.load(s, "1m", start_ns=start_ns)) for s in symbols
    )
