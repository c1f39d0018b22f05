"""``stratagem feed serve``: bar files replayed as a Binance-style kline stream.

Every connection gets its own replay of all bars, merged by (open time, symbol
order), each sent as a closed kline when its close time is due (``speed`` times real
time, relative to the first bar's close; ``speed`` 0: as fast as the client reads),
then ``{"e": "end"}``, then the server closes the connection.

Paths follow Binance: ``/`` serves every symbol as raw events,
``/ws/<stream>/<stream>`` the named streams as raw events and
``/stream?streams=<stream>/<stream>`` the named streams in the combined-stream
wrapper; a stream is named ``<symbol lower case>@kline_<interval>``
(``ethbtc@kline_1m``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.server import Server, ServerConnection
from websockets.sync.server import serve as websocket_server

import stratagem
from stratagem_feed_websocket._kline import (
    END_MESSAGE,
    encode_kline,
    exchange_symbol,
    format_ns,
    parse_time,
    stream_name,
)

log = logging.getLogger("stratagem.feed")

_SUFFIXES = (".csv", ".csv.gz")
#: How long closing waits for connections to finish politely before it cuts them.
_CLOSE_GRACE = 1.5


class FeedError(ValueError):
    """The server cannot serve what it was asked to (no files, a bad option)."""


class FeedServer:
    """Bar files served as a kline stream; the socket is bound on construction.

    Use it as a context manager (or call :meth:`start` and :meth:`close`)::

        with FeedServer(Path("sample_data"), port=0) as server:
            print(server.url)
            server.wait(stop)

    :param data: folder of bar files ``<interval>/<SYMBOL>.csv``.
    :param symbols: the symbols to serve, in this order for bars of one open time;
        None: every file of the interval folder, sorted.
    :param speed: N times real time; 0 sends as fast as each client reads.
    :param host: address to bind; loopback unless told otherwise (DESIGN 12).
    :param port: port to bind; 0 picks a free one (see :attr:`port`).
    :param start: ISO-8601 time of the first bar served; None: the first bar.
    :param interval: the bar files' interval (``"1m"``).
    :param validation: ``reject`` (a bad bar in a file refuses to start) or
        ``drop``.
    :raises FeedError: when there is nothing to serve or an option is wrong.
    :raises ValueError: for a bad bar file under ``reject`` (the message says which).
    """

    def __init__(
        self,
        data: Path | str,
        *,
        symbols: Sequence[str] | None = None,
        speed: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 8765,
        start: str | None = None,
        interval: str = "1m",
        validation: str = "reject",
    ) -> None:
        if not speed >= 0:
            raise FeedError(f"speed must be 0 or more, got {speed}")
        self.data = Path(data)
        self.speed = float(speed)
        try:
            self.interval = stratagem.canonical_interval(interval)
            self.interval_ns = stratagem.interval_minutes(interval) * (
                stratagem.NS_PER_MINUTE
            )
            start_ns = parse_time(start) if start is not None else None
        except ValueError as exc:
            raise FeedError(str(exc)) from None
        self.symbols = list(symbols) if symbols else self._symbols_in_folder()
        self._load(start_ns, validation)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.socket = socket.create_server((host, port), family=family)
        except OSError as exc:
            raise FeedError(f"cannot listen on {host} port {port}: {exc}") from None
        self._server: Server = websocket_server(
            self._replay, sock=self.socket, compression=None, close_timeout=1
        )

    def __repr__(self) -> str:
        return f"FeedServer({str(self.data)!r}, url={self.url!r})"

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self.socket.getsockname()[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://HOST:PORT`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def bar_count(self) -> int:
        """Bars served per full replay."""
        return len(self._ts)

    def describe(self) -> str:
        """One line: what is served, from when to when."""
        if not self.bar_count:
            return f"{len(self.symbols)} symbols, no bars"
        return (
            f"{len(self.symbols)} symbols, {self.bar_count:,} {self.interval} bars "
            f"{format_ns(int(self._ts[0]))} .. {format_ns(int(self._ts[-1]))}"
        )

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> FeedServer:
        """Accept connections in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="feed-server", daemon=True
            )
            self._thread.start()
        return self

    def wait(self, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` is set (forever when None, or until Ctrl-C).

        :param stop: the event that ends serving.
        """
        self.start()
        stop = stop if stop is not None else threading.Event()
        # a bounded wait, so that Ctrl-C and signal handlers run promptly
        while not stop.wait(0.5):
            continue

    def close(self) -> None:
        """Stop accepting, end every replay and close every connection: politely,
        then, for a client that does not read, by cutting its socket."""
        self._stop.set()
        closer = threading.Thread(
            target=self._server.shutdown, name="feed-shutdown", daemon=True
        )
        closer.start()
        closer.join(_CLOSE_GRACE)
        if closer.is_alive():
            # a replay blocked in send() to a client that stopped reading holds the
            # connection's lock that a polite close needs
            for connection in list(self._server.connections):
                with contextlib.suppress(OSError):
                    connection.socket.shutdown(socket.SHUT_RDWR)
            closer.join(_CLOSE_GRACE)
        self.socket.close()
        if self._thread is not None:
            self._thread.join(_CLOSE_GRACE)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- bars --------------------------------------------------------------------

    def _symbols_in_folder(self) -> list[str]:
        folder = self.data / self.interval
        if not folder.is_dir():
            present = (
                sorted(p.name for p in self.data.iterdir() if p.is_dir())
                if self.data.is_dir()
                else []
            )
            where = (
                f"interval folders in {self.data}: {', '.join(present) or 'none'}"
                if self.data.is_dir()
                else f"{self.data} does not exist"
            )
            raise FeedError(f"no bar files at {self.interval}: {where}")
        found = {
            entry.name.removesuffix(suffix)
            for entry in folder.iterdir()
            for suffix in _SUFFIXES
            if entry.is_file() and entry.name.endswith(suffix)
        }
        if not found:
            raise FeedError(f"no bar files in {folder}")
        return sorted(found)

    def _load(self, start_ns: int | None, validation: str) -> None:
        """Every bar to serve, merged by (open time, symbol order), as columns."""
        source = stratagem.open_bar_files(self.data, validation)
        missing = [s for s in self.symbols if not source.available(s, self.interval)]
        if missing:
            raise FeedError(
                f"no {self.interval} bar file in {self.data} for " + ", ".join(missing)
            )
        names = [exchange_symbol(s) for s in self.symbols]
        clash = {n for n in names if names.count(n) > 1}
        if clash:
            raise FeedError(
                f"symbols {', '.join(sorted(clash))} appear twice once '_' is removed"
            )
        parts = [source.load(s, self.interval, start_ns=start_ns) for s in self.symbols]
        ts = np.concatenate([p.ts for p in parts]) if parts else np.empty(0, np.int64)
        which = np.concatenate(
            [np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)]
        )
        order = np.lexsort((which, ts))
        self._ts = ts[order]
        self._which = which[order]
        self._values = np.column_stack(
            [np.concatenate([getattr(p, c) for p in parts]) for c in _VALUES]
        )[order]
        self._names = names

    # --- one connection ----------------------------------------------------------

    def _selection(self, path: str) -> tuple[set[int], bool]:
        """The symbol indexes a request path asks for, and whether to wrap."""
        parts = urlsplit(path)
        if parts.path.rstrip("/") == "/stream":
            requested = "/".join(parse_qs(parts.query).get("streams", []))
            wrap = True
        elif parts.path.startswith("/ws/"):
            requested, wrap = parts.path[len("/ws/") :], False
        else:
            return set(range(len(self.symbols))), False
        served = {
            stream_name(name, self.interval): i for i, name in enumerate(self._names)
        }
        wanted = [s for s in requested.split("/") if s]
        unknown = [s for s in wanted if s.lower() not in served]
        if unknown or not wanted:
            raise FeedError(
                f"unknown stream {', '.join(unknown) or '(none named)'}; served: "
                + ", ".join(served)
            )
        return {served[s.lower()] for s in wanted}, wrap

    def _replay(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "/"
        try:
            selected, wrap = self._selection(path)
        except FeedError as exc:
            connection.close(CloseCode.POLICY_VIOLATION, str(exc)[:120])
            return
        log.info("replay to %s (%s)", connection.remote_address, path)
        picked = np.isin(self._which, list(selected))
        ts, which, values = self._ts[picked], self._which[picked], self._values[picked]
        began = time.monotonic()
        # bars of one interval: close times are as far apart as open times
        first = int(ts[0]) if len(ts) else 0
        try:
            for i in range(len(ts)):
                if self.speed:
                    due = began + (int(ts[i]) - first) / 1e9 / self.speed
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        return
                elif self._stop.is_set():
                    return
                bar = tuple(float(x) for x in values[i])
                text = encode_kline(
                    self._names[which[i]],
                    self.interval,
                    self.interval_ns,
                    int(ts[i]),
                    bar,
                    wrap=wrap,
                )
                connection.send(text)
            connection.send(END_MESSAGE)
        except ConnectionClosed:
            log.info("client %s left", connection.remote_address)


_VALUES = ("open", "high", "low", "close", "volume")


def serve(
    data: Path,
    *,
    symbols: Sequence[str] | None = None,
    speed: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 8765,
    start: str | None = None,
    interval: str = "1m",
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    validation: str = "reject",
) -> None:
    """Serve bar files as a kline stream until ``stop`` is set (see
    :class:`FeedServer`; use it directly to learn the port when ``port`` is 0).

    :param data: folder of bar files ``<interval>/<SYMBOL>.csv``.
    :param symbols: the symbols to serve; None: every file of the interval.
    :param speed: N times real time; 0: as fast as each client reads.
    :param host: address to bind (loopback by default).
    :param port: port to bind.
    :param start: ISO-8601 time of the first bar served; None: the first bar.
    :param interval: the files' interval.
    :param ready: set once the socket listens.
    :param stop: ends serving; None: serve until interrupted.
    :param validation: a bad bar in a file: ``reject`` refuses to start, ``drop``
        leaves it out.
    :raises FeedError: when there is nothing to serve or an option is wrong.
    :raises ValueError: for a bad bar file under ``reject`` (the message says which).
    """
    with FeedServer(
        data,
        symbols=symbols,
        speed=speed,
        host=host,
        port=port,
        start=start,
        interval=interval,
        validation=validation,
    ) as server:
        if ready is not None:
            ready.set()
        server.wait(stop)
