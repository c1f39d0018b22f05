"""Where a log record comes from in a run, and the JSON form of
``stratagem run --log-format json``.

A record carries the fields of :data:`FIELDS` that apply to it, found in this order
(a later one wins):

1. the run: the id of the session this process runs (:func:`set_run_id`);
2. the thread that logs it, when the thread says where it is (a strategy's
   thread: the strategy, and while it handles a notification the symbol, interval
   and bar): an object with a ``log_fields()`` method;
3. what the log call passed as ``extra`` (:func:`located`).

Nothing is looked up until a record is formatted, so a log call costs what it did,
and the strategies' hot path nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

#: the fields a record may carry, in the order a JSON line shows them
FIELDS = ("run_id", "strategy", "plugin", "symbol", "interval", "bar_ts", "metrics")

_run_id: str | None = None


def set_run_id(run_id: str) -> None:
    """Name the session this process runs: records logged from now on carry it,
    from any thread, until another session starts.

    :param run_id: the session's id.
    """
    global _run_id
    _run_id = run_id


def located(**fields: Any) -> dict[str, Any]:
    """The ``extra`` of a log call that knows where it is: the fields given, those
    that are None left out.

    :param fields: any of :data:`FIELDS` (``bar_ts`` as ISO text).
    :raises TypeError: for a name that is not one of :data:`FIELDS`.
    """
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a log field: {', '.join(sorted(unknown))}")
    return {name: value for name, value in fields.items() if value is not None}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of :data:`FIELDS` that apply to ``record``, in that order.

    Call it in the thread that logged the record (logging's own handlers do).

    :param record: the record being formatted.
    """
    found: dict[str, Any] = {"run_id": _run_id}
    where = getattr(threading.current_thread(), "log_fields", None)
    if where is not None:
        found.update(where())
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            found[name] = value
    return {name: found[name] for name in FIELDS if found.get(name) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (UTC, ISO 8601),
    ``level``, ``logger``, ``message``, the fields of :data:`FIELDS` that apply,
    and ``traceback`` when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logs_json() -> bool:
    """Whether the root logger writes JSON lines (``--log-format json``): then
    whatever would print for a person to read is logged as records instead."""
    return any(
        isinstance(handler.formatter, JsonFormatter)
        for handler in logging.getLogger().handlers
    )


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
