"""The ``websocket`` data source: warm-up history from bar files, then closed klines
from a WebSocket stream (an exchange, or ``stratagem feed serve``)."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

import stratagem
from stratagem_feed_websocket._kline import (
    END,
    Kline,
    KlineFormatError,
    exchange_symbol,
    parse_message,
)

if TYPE_CHECKING:
    from stratagem import BarArrays, BarSource

log = logging.getLogger("stratagem.feed")

#: Reconnect delays: doubled after each failed attempt up to the cap, jittered.
BACKOFF_START = 0.1
BACKOFF_CAP = 5.0
#: How long one wait for a message (or a connection) lasts before ``stop`` is looked
#: at again: the bound on how late ``stream`` notices it.
POLL_SECONDS = 0.1
#: How long closing a connection waits for the server's side of the handshake; a
#: server blocked sending to us never answers, and ``stop`` must not wait for it.
CLOSE_SECONDS = 0.25


class FeedValidationError(stratagem.DataSourceError):
    """A streamed message could not be read as a kline, under ``reject``.

    The bar rules (finite positive prices, a range holding open and close, the
    interval grid, order) are the session's: it checks every live bar by the rules
    files are held to, under the same ``validation`` policy."""


class WebSocketSource:
    """Bars of a live WebSocket kline stream, with file history for warm-up.

    :param url: the stream's address, ``ws://`` or ``wss://``; for Binance the full
        stream URL (``wss://stream.binance.com:9443/stream?streams=...``).
    :param history: folder of bar files ``<interval>/<SYMBOL>.csv`` for
        :meth:`load`; None: no history.
    :param validation: ``reject`` (a bad bar in a history file, or a message that is
        not a kline, raises) or ``drop`` (it is skipped and counted).
    :param symbol_map: the exchange's symbol names to the session's
        (``{"ETHBTC": "ETH_BTC"}``); a symbol it does not name is the session's
        symbol without ``_``.
    :param interval: the session's base interval (``"1m"``): klines of another
        interval are ignored, and a gap is a bar more than one interval after the
        previous bar of its symbol.
    :param open_timeout: seconds one connection attempt (TCP, TLS, handshake) may
        take.
    """

    def __init__(
        self,
        url: str,
        *,
        history: Path | str | None = None,
        validation: str = "reject",
        symbol_map: Mapping[str, str] | None = None,
        interval: str = "1m",
        open_timeout: float = 10.0,
    ) -> None:
        try:
            parse_uri(url)
        except (InvalidURI, TypeError):
            raise ValueError(
                "the websocket source needs data.url as ws://HOST:PORT or "
                f"wss://..., got {url!r}"
            ) from None
        if validation not in ("reject", "drop"):
            raise ValueError(
                f"validation policy must be 'reject' or 'drop', got {validation!r}"
            )
        self.url = url
        self.validation = validation
        self.symbol_map = dict(symbol_map or {})
        self.interval = stratagem.canonical_interval(interval)
        minutes = stratagem.interval_minutes(interval)
        self.interval_ns = minutes * stratagem.NS_PER_MINUTE
        self.open_timeout = open_timeout
        self._last_error = ""
        self.history: BarSource | None = (
            stratagem.open_bar_files(Path(history), validation)
            if history is not None
            else None
        )
        self._stats = {
            "messages": 0,
            "reconnects": 0,
            "duplicates_dropped": 0,
            "gaps": 0,
            "invalid_dropped": 0,
        }

    def __repr__(self) -> str:
        return f"WebSocketSource({self.url!r}, interval={self.interval!r})"

    # --- history -----------------------------------------------------------------

    def available(self, symbol: str, interval: str) -> bool:
        """Whether the history has bars of ``symbol`` at ``interval``.

        :param symbol: the session's symbol.
        :param interval: e.g. ``"1m"``.
        """
        return self.history is not None and self.history.available(symbol, interval)

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays:
        """The history's validated bars of ``symbol`` opening in ``[start_ns,
        end_ns)``.

        :param symbol: the session's symbol.
        :param interval: e.g. ``"1m"``.
        :param start_ns: first open time kept; None: no bound.
        :param end_ns: open times from here on are cut; None: no bound.
        :raises ValueError: when the source has no history.
        """
        if self.history is None:
            raise ValueError(
                f"the websocket source at {self.url} has no history (set data.history)"
            )
        return self.history.load(symbol, interval, start_ns=start_ns, end_ns=end_ns)

    @property
    def files_used(self) -> list[Path]:
        """History files loaded so far (for the run manifest)."""
        return list(getattr(self.history, "files_used", []))

    @property
    def reports(self) -> dict[Path, Any]:
        """Validation report of every history file loaded so far, by path."""
        return dict(getattr(self.history, "reports", {}))

    # --- live --------------------------------------------------------------------

    def feed_stats(self) -> dict[str, int]:
        """Counts since the source was made: ``messages`` received, ``reconnects``,
        ``duplicates_dropped`` (klines not after the last one of their symbol),
        ``gaps`` (base bars missing between two streamed bars of a symbol) and
        ``invalid_dropped`` (messages that are not klines, skipped under ``drop``).
        """
        return dict(self._stats)

    def stream(
        self, symbols: Sequence[str], start_ns: int, stop: threading.Event
    ) -> Iterator[stratagem.LiveBar]:
        """Closed bars of ``symbols`` opening at or after ``start_ns``, in arrival
        order, each at most once.

        Reconnects with jittered exponential backoff when the connection drops;
        returns when the server sends its end message, or at most
        :data:`POLL_SECONDS` + :data:`CLOSE_SECONDS` after ``stop`` is set.

        :param symbols: the session's symbols.
        :param start_ns: the first open time yielded, ns since the epoch.
        :param stop: set by the session to end the stream.
        :raises FeedValidationError: under ``reject``, for a message that cannot be
            read as a kline.
        """
        names = self._session_names(symbols)
        last: dict[str, int] = {}
        delay = BACKOFF_START
        connected_before = False
        while not stop.is_set():
            opened = self._dial(stop)
            if opened is not None:
                connection, closing = opened
                if connected_before:
                    self._stats["reconnects"] += 1
                    log.info("reconnected to %s", self.url)
                connected_before = True
                with closing:
                    while not stop.is_set():
                        try:
                            text = connection.recv(timeout=POLL_SECONDS)
                        except TimeoutError:
                            continue
                        except ConnectionClosed as exc:
                            log.warning("connection to %s lost: %s", self.url, exc)
                            break
                        self._stats["messages"] += 1
                        item = self._read(text)
                        if item is END:
                            return
                        if not isinstance(item, Kline):
                            continue
                        bar = self._accept(item, names, start_ns, last)
                        if bar is not None:
                            delay = BACKOFF_START
                            yield bar
            if stop.wait(delay * random.uniform(0.5, 1.0)):
                return
            delay = min(delay * 2, BACKOFF_CAP)

    def _session_names(self, symbols: Sequence[str]) -> dict[str, str]:
        """Exchange symbol -> session symbol, for the wanted symbols."""
        names: dict[str, str] = {}
        for symbol in symbols:
            mapped = [ex for ex, own in self.symbol_map.items() if own == symbol]
            for name in mapped or [exchange_symbol(symbol)]:
                other = names.setdefault(name, symbol)
                if other != symbol:
                    raise ValueError(
                        f"symbols {other!r} and {symbol!r} are both {name!r} on the "
                        "feed; tell them apart with data.symbol_map"
                    )
        return names

    def _dial(
        self, stop: threading.Event
    ) -> tuple[ClientConnection, contextlib.ExitStack] | None:
        """Connect in a helper thread so that ``stop`` is honoured while a slow
        connect (DNS, TLS) is under way.

        :returns: the connection and the stack whose closing closes it; None when
            the attempt fails or ``stop`` is set.
        """
        box: dict[str, Any] = {}
        lock = threading.Lock()
        done = threading.Event()

        def attempt() -> None:
            closing = contextlib.ExitStack()
            try:
                connection = closing.enter_context(
                    connect(
                        self.url,
                        open_timeout=self.open_timeout,
                        close_timeout=CLOSE_SECONDS,
                        legacy=False,
                    )
                )
            except Exception as exc:  # refused, reset, handshake, timeout
                box["error"] = exc
            else:
                with lock:
                    if box.get("abandoned"):
                        closing.close()
                    else:
                        box["opened"] = (connection, closing)
            done.set()

        threading.Thread(target=attempt, name="feed-connect", daemon=True).start()
        while not done.wait(POLL_SECONDS) and not stop.is_set():
            pass
        with lock:
            box["abandoned"] = True
            opened: tuple[ClientConnection, contextlib.ExitStack] | None = box.get(
                "opened"
            )
        if opened is not None and stop.is_set():
            opened[1].close()
            return None
        if "error" in box:
            # one warning per kind of failure, not one per attempt of an outage
            error = f"{type(box['error']).__name__}: {box['error']}"
            level = logging.DEBUG if error == self._last_error else logging.WARNING
            log.log(level, "cannot connect to %s: %s", self.url, error)
            self._last_error = error
        else:
            self._last_error = ""
        return opened

    def _read(self, text: str | bytes) -> object:
        try:
            return parse_message(text)
        except KlineFormatError as exc:
            self._refuse(f"{self.url}: {exc}")
            return None

    def _accept(
        self,
        kline: Kline,
        names: Mapping[str, str],
        start_ns: int,
        last: dict[str, int],
    ) -> stratagem.LiveBar | None:
        """The kline as a session bar, or None when it is not one to yield."""
        if not kline.closed or (kline.interval and kline.interval != self.interval):
            return None
        symbol = names.get(kline.symbol)
        if symbol is None or kline.ts < start_ns:
            return None
        previous = last.get(symbol)
        if previous is not None and kline.ts <= previous:
            self._stats["duplicates_dropped"] += 1
            return None
        if previous is not None and kline.ts - previous > self.interval_ns:
            missing = (kline.ts - previous) // self.interval_ns - 1
            self._stats["gaps"] += missing
        last[symbol] = kline.ts
        return stratagem.LiveBar(
            symbol=symbol,
            ts=kline.ts,
            open=kline.open,
            high=kline.high,
            low=kline.low,
            close=kline.close,
            volume=kline.volume,
        )

    def _refuse(self, message: str) -> None:
        if self.validation == "reject":
            raise FeedValidationError(message)
        self._stats["invalid_dropped"] += 1
        log.warning("dropped: %s", message)


def websocket_source(root: Path | None, options: Mapping[str, Any]) -> WebSocketSource:
    """The ``websocket`` data source of a session config.

    :param root: the history folder (``data.history``), or None.
    :param options: ``url`` (required), ``validation``, ``symbol_map``,
        ``interval`` (the session's base interval).
    """
    return WebSocketSource(
        options.get("url") or "",
        history=root,
        validation=str(options.get("validation") or "reject"),
        symbol_map=options.get("symbol_map") or {},
        interval=str(options.get("interval") or "1m"),
    )
