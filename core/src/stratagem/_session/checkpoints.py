"""When and what a session checkpoints into its journal (DESIGN 12).

The session thread asks every strategy instance for its state between two steps.
Data-driven, the instances are idle there and the checkpoint is written at once.
Clock-driven and live, nobody waits: the request queues behind the steps each
inbox holds, and the checkpoint is written at the first step after every instance
has answered, with each instance's signals up to its answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratagem._plugins.failures import FailureKind, FailureRecord, PluginRef
from stratagem._records import ErrorPolicy, Mode
from stratagem._session.journal import Checkpoint, JournalWriter

if TYPE_CHECKING:
    from stratagem._config.models import CheckpointEvery
    from stratagem._execution.manager import ExecutionManager
    from stratagem._plugins.failures import FailureLedger
    from stratagem._runtime.manager import StrategyManager
    from stratagem._session.processor import DataProcessor

log = logging.getLogger("stratagem.journal")

#: failures a resumed session carries over: the strategies' and the broker's (a
#: scanner that failed fails again as the resume replays it; reporters start afresh)
CARRIED_FAILURES = ("strategy", "broker")


@dataclass
class _Request:
    seq: int
    session_ns: int
    steps: int
    reason: str
    execution: dict[str, Any] | None
    books: dict[str, dict[str, Any]]
    fills_booked: int


class Checkpointer:
    """Writes a session's checkpoints, every ``every`` steps or seconds and at stop.

    Used from the session thread only.

    :param writer: the run's journal.
    :param every: ``checkpoint_every``.
    :param manager: the strategy threads.
    :param processor: the session clock (position).
    :param execution: the books, when the session executes.
    :param ledger: the failure ledger (journaled failures).
    :param start_steps: the steps taken when it starts (a resume's checkpoint).
    """

    def __init__(
        self,
        writer: JournalWriter,
        every: CheckpointEvery,
        manager: StrategyManager,
        processor: DataProcessor,
        execution: ExecutionManager | None,
        ledger: FailureLedger,
        *,
        start_steps: int = 0,
    ) -> None:
        self.writer = writer
        self.every = every
        self.manager = manager
        self.processor = processor
        self.execution = execution
        self.ledger = ledger
        self._wait = manager.mode is Mode.DATA_DRIVEN
        self._pending: _Request | None = None
        self._last_steps = start_steps
        self._last_wall = time.monotonic()
        self.failed: str | None = None

    # --- when -----------------------------------------------------------------------

    def steps_left(self) -> int | None:
        """Steps until the next checkpoint is due by count (None: counted in
        seconds); a data-driven batch ends there."""
        if self.every.steps is None or self.failed:
            return None
        return max(1, self._last_steps + self.every.steps - self.processor.steps)

    def _due(self) -> str | None:
        if self.every.steps is not None:
            if self.processor.steps - self._last_steps >= self.every.steps:
                return "steps"
        elif time.monotonic() - self._last_wall >= (self.every.seconds or 0.0):
            return "seconds"
        return None

    def after_step(self) -> None:
        """Between two steps: finish a checkpoint whose states have all arrived, or
        start one that is due."""
        if self.failed:
            return
        if self._pending is not None:
            self._complete()
            return
        reason = self._due()
        if reason is not None:
            self._begin(reason, wait=self._wait)

    def at_stop(self) -> None:
        """The session is stopping with every inbox drained: a last checkpoint,
        waiting for every instance."""
        if self.failed:
            return
        self._pending = None  # superseded: the states asked for now are newer
        self._begin("stop", wait=True)

    # --- what -----------------------------------------------------------------------

    def _begin(self, reason: str, *, wait: bool) -> None:
        processor = self.processor
        execution = self.execution
        seq = self.manager.request_saves(processor.time_ns or 0, wait=wait)
        self._pending = _Request(
            seq,
            processor.time_ns or 0,
            processor.steps,
            reason,
            execution.snapshot() if execution is not None else None,
            execution.book_states() if execution is not None else {},
            len(execution.fills) if execution is not None else 0,
        )
        self._last_steps = processor.steps
        self._last_wall = time.monotonic()
        self._complete()

    def _complete(self) -> None:
        request = self._pending
        assert request is not None
        states = self.manager.collect_saves(request.seq)
        if states is None:
            return  # some instance has not answered yet
        self._pending = None
        writer = self.writer
        threads = {t.instance.id: t for t in self.manager.threads}
        signals = {
            sid: list(
                threads[sid].signals[writer.signals_written(sid) : state.signal_count]
            )
            for sid, state in states.items()
        }
        fills = (
            self.execution.fills[writer.fills_written : request.fills_booked]
            if self.execution is not None
            else []
        )
        checkpoint = Checkpoint(
            session_ns=request.session_ns,
            steps=request.steps,
            reason=request.reason,
            instances=states,
            signals=signals,
            fills=list(fills),
            books=request.books,
            execution=request.execution,
            failures=[
                failure_to_dict(r)
                for r in self.ledger.records()
                if r.plugin.kind in CARRIED_FAILURES
            ],
        )
        try:
            writer.write(checkpoint)
        except Exception as exc:  # noqa: BLE001 - the session goes on without it
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error(
                "cannot write a checkpoint to %s (%s); the session goes on without "
                "checkpoints",
                writer.path,
                self.failed,
            )


def failure_to_dict(record: FailureRecord) -> dict[str, Any]:
    """A failure record as the journal keeps it (restored by a resume)."""
    plugin = record.plugin
    return {
        "plugin": plugin.kind,
        "id": plugin.id,
        "dist": plugin.dist,
        "version": plugin.version,
        "on_error": str(plugin.on_error),
        "max_errors": plugin.max_errors,
        "kind": str(record.kind),
        "hook": record.hook,
        "where": record.where,
        "error": record.error,
        "count": record.count,
        "action": str(record.action),
        "symbol": record.symbol,
        "bar_ts": record.bar_ts,
    }


def failure_from_dict(body: dict[str, Any]) -> FailureRecord:
    """A journaled failure record (its traceback was logged by the earlier run)."""
    plugin = PluginRef(
        str(body["plugin"]),
        str(body["id"]),
        str(body["dist"]),
        str(body["version"]),
        ErrorPolicy(body["on_error"]),
        int(body["max_errors"]),
    )
    return FailureRecord(
        plugin,
        FailureKind(body["kind"]),
        str(body["hook"]),
        str(body["where"]),
        str(body["error"]),
        "(logged by the run this one resumed)",
        int(body["count"]),
        ErrorPolicy(body["action"]),
        symbol=body["symbol"],
        bar_ts=body["bar_ts"],
    )
