"""stratagem-feed-websocket: the ``websocket`` data source and ``stratagem feed
serve``.

A session with ``"data": {"source": "websocket", "url": "ws://127.0.0.1:8765"}``
runs live on closed klines of a Binance-format WebSocket stream, warmed up from the
bar files of ``data.history``; ``stratagem feed serve --data DIR`` replays bar files
as such a stream. Heavy modules (websockets, numpy) load on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratagem import DataSourceSpec, hookimpl

if TYPE_CHECKING:
    from stratagem_feed_websocket._server import FeedError, FeedServer, serve
    from stratagem_feed_websocket._source import FeedValidationError, WebSocketSource

_EXPORTS: dict[str, str] = {
    "FeedError": "stratagem_feed_websocket._server",
    "FeedServer": "stratagem_feed_websocket._server",
    "FeedValidationError": "stratagem_feed_websocket._source",
    "WebSocketSource": "stratagem_feed_websocket._source",
    "serve": "stratagem_feed_websocket._server",
}

__all__ = [
    "FeedError",
    "FeedServer",
    "FeedValidationError",
    "WebSocketSource",
    "serve",
    "stratagem_data_sources",
    "websocket_source",
]


def websocket_source(root: Path | None, options: Mapping[str, Any]) -> WebSocketSource:
    """The ``websocket`` data source of a session config.

    :param root: the history folder (``data.history``, resolved), or None.
    :param options: ``url`` (required), ``validation``, ``symbol_map`` (exchange
        symbol -> session symbol), ``interval`` (the session's base interval).
    """
    from stratagem_feed_websocket._source import websocket_source as make

    return make(root, options)


@hookimpl
def stratagem_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="websocket",
            factory=websocket_source,
            description="live closed klines over WebSocket (Binance format), "
            "warm-up from data.history",
        )
    ]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
