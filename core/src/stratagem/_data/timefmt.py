"""Session time as text: ISO-8601 UTC with ``Z``, to the second."""

from __future__ import annotations

from datetime import UTC, datetime

from stratagem._data.intervals import NS_PER_SECOND


def format_ts(ns: int) -> str:
    """``1516424000000000000`` -> ``"2018-01-20T04:53:20Z"``."""
    seconds, rest = divmod(int(ns), NS_PER_SECOND)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if rest:
        text += f".{rest:09d}".rstrip("0")
    return text + "Z"


def parse_ts(text: str) -> int:
    """ISO-8601 (``Z`` or offset; naive is taken as UTC) -> int ns since the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ns(moment)


def to_ns(moment: datetime) -> int:
    """A datetime (naive means UTC) -> int ns since the epoch."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + (
        delta.microseconds * 1000
    )
