"""The one failure policy of every plugin kind (DESIGN section 3).

Strategies, scanners, reporters, data sources and brokers fail the same way: the
first failure of a plugin is logged once with its distribution, version, where it
happened and the full traceback; repeats are counted, not logged again; when the
count reaches ``max_errors`` the plugin's policy applies (``continue`` goes on,
``quarantine`` stops calling it while the session goes on, ``stop`` ends the session
as failed). A hang is a failure of kind ``hung`` and always quarantines.

:class:`FailureLedger` is the single owner of this bookkeeping; strategy threads, the
session thread and the main thread all report to it, under one lock.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stratagem._data.timefmt import format_ts
from stratagem._records import ErrorPolicy
from stratagem._runlog import located

log = logging.getLogger("stratagem.plugins")


class FailureKind(StrEnum):
    """How a plugin failed."""

    RAISED = "raised"
    HUNG = "hung"


@dataclass(frozen=True, slots=True)
class PluginRef:
    """A plugin instance as failure messages name it.

    :param kind: ``strategy``, ``scanner``, ``reporter``, ``data_source``, ``broker``.
    :param id: the instance id (strategy id, scanner or reporter name).
    :param dist: distribution name (``"-"`` when unknown).
    :param version: distribution version (``"-"`` when unknown).
    :param on_error: the policy that applies to it.
    :param max_errors: failures at which the policy acts.
    """

    kind: str
    id: str
    dist: str = "-"
    version: str = "-"
    on_error: ErrorPolicy = ErrorPolicy.QUARANTINE
    max_errors: int = 1

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id} ({self.dist} {self.version})"


@dataclass(slots=True)
class FailureRecord:
    """Every failure of one plugin, folded: the first in full, the rest counted.

    :param plugin: who failed.
    :param kind: ``raised`` or ``hung`` (of the first failure).
    :param hook: the hook or method that failed first (``on_bars``, ``scan`` …).
    :param where: what it was handling (symbol and bar time), for messages.
    :param error: ``ExcType: message`` of the first failure.
    :param traceback: the first failure's traceback (or the hung thread's stack).
    :param count: failures so far.
    :param action: what the policy did: ``continue``, ``quarantine`` or ``stop``.
    :param symbol: the symbol being handled at the first failure, if any.
    :param bar_ts: the bar time being handled at the first failure, if any.
    """

    plugin: PluginRef
    kind: FailureKind
    hook: str
    where: str
    error: str
    traceback: str = field(repr=False)
    count: int = 1
    action: ErrorPolicy = ErrorPolicy.CONTINUE
    symbol: str | None = None
    bar_ts: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The manifest's form."""
        return {
            "plugin": self.plugin.kind,
            "id": self.plugin.id,
            "dist": self.plugin.dist,
            "version": self.plugin.version,
            "kind": str(self.kind),
            "hook": self.hook,
            "where": self.where,
            "error": self.error,
            "count": self.count,
            "action": str(self.action),
        }


class FailureLedger:
    """Counts failures per plugin and decides what the policy does; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], FailureRecord] = {}

    def record(
        self,
        plugin: PluginRef,
        hook: str,
        error: BaseException | str,
        *,
        kind: FailureKind = FailureKind.RAISED,
        where: str = "",
        stack: str | None = None,
        symbol: str | None = None,
        bar_ts: int | None = None,
        quiet: bool = False,
    ) -> ErrorPolicy:
        """Count one failure; log it if it is the plugin's first.

        :param plugin: who failed.
        :param hook: the hook or method that failed.
        :param error: the exception, or a description (a hang).
        :param kind: ``raised`` or ``hung``; a hang always quarantines.
        :param where: what it was handling, e.g. ``"ETH_BTC bar 2018-01-21T00:05Z"``.
        :param stack: the traceback text when ``error`` is not an exception.
        :param symbol: the symbol being handled, if any.
        :param bar_ts: the bar time being handled, if any.
        :param quiet: do not log (the caller reports it another way).
        :returns: the action to take now: ``continue``, ``quarantine`` or ``stop``.
        """
        if isinstance(error, BaseException):
            text = one_line_error(error)
            trace = "".join(traceback.format_exception(error))
        else:
            text, trace = error, stack or ""
        key = (plugin.kind, plugin.id)
        with self._lock:
            record = self._records.get(key)
            first = record is None
            if record is None:
                record = FailureRecord(
                    plugin,
                    kind,
                    hook,
                    where,
                    text,
                    trace,
                    0,
                    symbol=symbol,
                    bar_ts=bar_ts,
                )
                self._records[key] = record
            record.count += 1
            if kind is FailureKind.HUNG:
                action = ErrorPolicy.QUARANTINE
            elif record.count >= plugin.max_errors:
                action = plugin.on_error
            else:
                action = ErrorPolicy.CONTINUE
            if action is not ErrorPolicy.CONTINUE:
                record.action = action
            count = record.count
        if quiet:
            return action
        extra = _log_fields(plugin, symbol, bar_ts)
        if first:
            log.error(
                "%s %s in %s%s: %s\n%s",
                plugin.label,
                kind,
                hook,
                f" [{where}]" if where else "",
                text,
                trace.rstrip(),
                extra=extra,
            )
        elif action is not ErrorPolicy.CONTINUE and count == plugin.max_errors:
            log.error(
                "%s failed %d times; policy %s",
                plugin.label,
                count,
                action,
                extra=extra,
            )
        return action

    def restore(self, records: Iterable[FailureRecord]) -> None:
        """Carry over the failures of the run a session resumes; counting goes on
        from them.

        :param records: the journaled records.
        """
        with self._lock:
            for record in records:
                self._records[(record.plugin.kind, record.plugin.id)] = record

    def records(self) -> list[FailureRecord]:
        """Every plugin that failed, in order of first failure."""
        with self._lock:
            return list(self._records.values())

    def count(self, kind: str, plugin_id: str) -> int:
        """Failures of one plugin so far."""
        with self._lock:
            record = self._records.get((kind, plugin_id))
            return 0 if record is None else record.count

    @property
    def degraded(self) -> bool:
        """Whether some plugin was quarantined (the run finished without it)."""
        with self._lock:
            return any(
                r.action is ErrorPolicy.QUARANTINE for r in self._records.values()
            )


def one_line_error(exc: BaseException) -> str:
    """``ExcType: message`` on one line.

    :param exc: the exception to describe.
    """
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _log_fields(
    plugin: PluginRef, symbol: str | None, bar_ts: int | None
) -> dict[str, Any]:
    """The failure's place, for structured logs: the strategy (or other plugin),
    the symbol and the bar it was handling."""
    return located(
        strategy=plugin.id if plugin.kind == "strategy" else None,
        plugin=None if plugin.kind == "strategy" else f"{plugin.kind} {plugin.id}",
        symbol=symbol,
        bar_ts=None if bar_ts is None else format_ts(bar_ts),
    )
