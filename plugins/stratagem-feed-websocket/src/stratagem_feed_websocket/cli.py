"""``stratagem feed``: the click commands of the feed plugin, attached to the
``stratagem`` CLI through the ``stratagem.commands`` entry point group."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def feed() -> None:
    """Live bar feeds over WebSocket (Binance kline stream format)."""


@feed.command()
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of bar files <interval>/<SYMBOL>.csv.",
)
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated symbols to serve, in tie order (default: every file).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="N times real time; 0 sends as fast as each client reads.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback exposes the feed to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to bind; 0 picks a free one (printed).",
)
@click.option(
    "--start",
    default=None,
    help="ISO-8601 time of the first bar served (default: the first bar).",
)
@click.option(
    "--interval", default="1m", show_default=True, help="The bar files' interval."
)
@click.option(
    "--validation",
    type=click.Choice(["reject", "drop"]),
    default="reject",
    show_default=True,
    help="A bad bar in a file: refuse to start, or drop it.",
)
def serve(
    data: Path,
    symbols: str | None,
    speed: float,
    host: str,
    port: int,
    start: str | None,
    interval: str,
    validation: str,
) -> None:
    """Replay bar files as a kline stream: every connection gets every bar of the
    served symbols from the first one (or --start), then {"e": "end"}.

    Prints the URL it serves on; Ctrl-C (or SIGTERM) stops it.
    """
    from stratagem_feed_websocket._server import FeedError, FeedServer

    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    try:
        server = FeedServer(
            data,
            symbols=wanted,
            speed=speed,
            host=host,
            port=port,
            start=start,
            interval=interval,
            validation=validation,
        )
    except (FeedError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # handlers can only be set from the main thread (not, say, under CliRunner in one)
    in_main = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM) if in_main else ()
    previous = {sig: signal.signal(sig, request_stop) for sig in signals}
    try:
        with server:
            pace = "as fast as clients read" if speed == 0 else f"{speed:g}x real time"
            click.echo(f"serving {server.describe()} on {server.url} ({pace})")
            server.wait(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("feed server stopped", err=True)


if __name__ == "__main__":
    feed()
