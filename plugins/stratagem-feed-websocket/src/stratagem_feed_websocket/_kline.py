"""The Binance kline stream format, both ways: the one definition of a message.

A kline event is one JSON text message::

    {"e": "kline", "E": event_ms, "s": "ETHBTC",
     "k": {"t": open_ms, "T": close_ms, "s": "ETHBTC", "i": "1m", "o": "0.1",
           "h": "...", "l": "...", "c": "...", "v": "...", "x": true}}

Prices and volume are strings; ``T`` is the last millisecond of the bar (open +
interval - 1). Binance's combined streams wrap each event as ``{"stream": ...,
"data": {...}}``. ``{"e": "end"}`` is this plugin's own end-of-feed message: an
exchange never sends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

NS_PER_MS = 1_000_000

#: The server's last message on a connection: it has served everything.
END_MESSAGE = json.dumps({"e": "end"})


class KlineFormatError(ValueError):
    """A message that claims to be a kline event but cannot be read as one."""


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline event as received.

    :param symbol: the exchange's symbol (``"ETHBTC"``).
    :param interval: the kline interval (``"1m"``), empty when the message has none.
    :param ts: open time, int64 ns since the epoch (UTC).
    :param open: open price.
    :param high: high price.
    :param low: low price.
    :param close: close price.
    :param volume: volume.
    :param closed: whether the kline is final (``"x"``).
    """

    symbol: str
    interval: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool


class EndOfFeed:
    """The server has sent everything it will ever send."""


END = EndOfFeed()


def exchange_symbol(symbol: str) -> str:
    """The exchange's name of a session symbol by default: ``ETH_BTC`` -> ``ETHBTC``.

    :param symbol: the session's symbol.
    """
    return symbol.replace("_", "")


def stream_name(symbol: str, interval: str) -> str:
    """Binance's stream name of a symbol's klines: ``ethbtc@kline_1m``.

    :param symbol: the exchange's symbol.
    :param interval: e.g. ``"1m"``.
    """
    return f"{symbol.lower()}@kline_{interval}"


def _number(value: float) -> str:
    # positional and shortest round-trip, as Binance writes prices ("0.00005214")
    return np.format_float_positional(value, trim="-")


def encode_kline(
    symbol: str,
    interval: str,
    interval_ns: int,
    ts: int,
    values: tuple[float, float, float, float, float],
    *,
    wrap: bool = False,
) -> str:
    """A closed kline event as JSON text.

    :param symbol: the exchange's symbol.
    :param interval: the interval's name (``"1m"``).
    :param interval_ns: its length in ns.
    :param ts: the bar's open time, ns since the epoch.
    :param values: open, high, low, close, volume.
    :param wrap: wrap it as a combined-stream message.
    """
    open_ms = ts // NS_PER_MS
    close_ms = (ts + interval_ns) // NS_PER_MS - 1
    o, h, low, c, v = (_number(x) for x in values)
    event = {
        "e": "kline",
        "E": close_ms + 1,
        "s": symbol,
        "k": {
            "t": open_ms,
            "T": close_ms,
            "s": symbol,
            "i": interval,
            "o": o,
            "h": h,
            "l": low,
            "c": c,
            "v": v,
            "x": True,
        },
    }
    if wrap:
        return json.dumps({"stream": stream_name(symbol, interval), "data": event})
    return json.dumps(event)


def parse_message(text: str | bytes) -> Kline | EndOfFeed | None:
    """Read one message of the stream.

    :param text: the message as received.
    :returns: a :class:`Kline`, :data:`END`, or None for any other event (a
        subscription reply, a trade, ...), which the stream ignores.
    :raises KlineFormatError: when the text is not JSON, or a kline event lacks a
        field or has one that is not a number.
    """
    try:
        message: Any = json.loads(text)
    except ValueError as exc:
        raise KlineFormatError(f"not JSON ({exc}): {_excerpt(text)}") from None
    if isinstance(message, dict) and isinstance(message.get("data"), dict):
        message = message["data"]
    if not isinstance(message, dict):
        return None
    kind = message.get("e")
    if kind == "end":
        return END
    if kind != "kline":
        return None
    k = message.get("k")
    try:
        if not isinstance(k, dict):
            raise KeyError("k")
        t = k["t"]
        if not isinstance(t, int) or isinstance(t, bool):
            raise TypeError(f"'t' is {t!r}, not integer milliseconds")
        return Kline(
            symbol=str(k.get("s", message.get("s", ""))),
            interval=str(k.get("i", "")),
            ts=t * NS_PER_MS,
            open=float(k["o"]),
            high=float(k["h"]),
            low=float(k["l"]),
            close=float(k["c"]),
            volume=float(k["v"]),
            closed=k.get("x") is True,
        )
    except KeyError as exc:
        raise KlineFormatError(
            f"kline event without field {exc}: {_excerpt(text)}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise KlineFormatError(f"kline event: {exc}: {_excerpt(text)}") from None


def format_ns(ts: int) -> str:
    """``2018-01-24T00:00:00Z`` for an open time in ns.

    :param ts: ns since the epoch (UTC).
    """
    moment = datetime.fromtimestamp(ts // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """ns since the epoch of an ISO-8601 time; a time without offset is UTC.

    :param text: e.g. ``"2018-01-24T06:00:00Z"`` or ``"2018-01-24"``.
    :raises ValueError: when it is not an ISO-8601 time.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (
        delta.days * 86_400 + delta.seconds
    ) * 1_000_000_000 + delta.microseconds * 1_000


def _excerpt(text: str | bytes, limit: int = 120) -> str:
    shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return shown if len(shown) <= limit else shown[:limit] + "..."
