"""StrategyManager: routes each clock step to the subscribed strategy threads.

Data-driven runs hand out a step and wait until every notified thread has finished
it (a barrier): the slowest strategy sets the pace and results are deterministic.
Clock-driven and live runs hand out steps without waiting; each thread's bounded
inbox applies its backpressure policy, and overruns, drops and queue depth are
counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

from stratagem._records import Signal
from stratagem.data.timefmt import format_ts
from stratagem.runtime.inbox import Batch, BoundedInbox, Control, SeriesKey, Step
from stratagem.runtime.thread import StrategyFailure, StrategyInstance, StrategyThread

if TYPE_CHECKING:
    from stratagem.data.session_data import SessionData

log = logging.getLogger("stratagem.runtime")

perf_ns = time.perf_counter_ns

DATA_DRIVEN = "data-driven"

#: ``(step index or None, session time, items)`` as the processor gives them
ReplayStep = tuple[int | None, int, list[tuple[SeriesKey, int]]]
MODES = (DATA_DRIVEN, "clock-driven", "live")


class StartupError(RuntimeError):
    """Strategies could not start (e.g. a subscription the session cannot serve)."""


class StrategyManager:
    """Owns the strategy threads, the subscription map and the sync mode.

    Used from the session thread only, except the failure callback, which strategy
    threads call.

    :param instances: the configured instances, in config order.
    :param data: the session's bars.
    :param mode: ``data-driven``, ``clock-driven`` or ``live``.
    :param join_timeout_s: how long ``stop`` waits for each thread to finish.
    """

    def __init__(
        self,
        instances: Sequence[StrategyInstance],
        data: SessionData,
        mode: str = DATA_DRIVEN,
        *,
        join_timeout_s: float = 5.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        ids = [instance.id for instance in instances]
        if len(set(ids)) != len(ids):
            raise ValueError(f"strategy ids must be unique, got {ids}")
        self.mode = mode
        self.data = data
        self.join_timeout_s = join_timeout_s
        self._done: SimpleQueue[tuple[int, int, int | None]] = SimpleQueue()
        self._routing_dirty = True
        self._routes: dict[SeriesKey, list[StrategyThread]] = {}
        self._subscribed: frozenset[SeriesKey] = frozenset()
        self.failures: list[StrategyFailure] = []
        self.stop_requested: str | None = None
        #: session time of the step whose failure stopped the session
        self.stopped_at_ns: int | None = None
        self._lock = threading.Lock()
        self._seq = 0
        self.threads = [
            StrategyThread(
                index,
                instance,
                data,
                mode,
                self._done,
                self._mark_routing_dirty,
                self._on_failure,
            )
            for index, instance in enumerate(instances)
        ]
        self._started = False
        self._stopped = False

    # --- lifecycle -----------------------------------------------------------------

    def start(self, time_ns: int) -> None:
        """Start every thread and run ``on_start`` in each; waits for all of them.

        :raises StartupError: when a strategy subscribed to a series the session
            lacks; the threads are stopped first.
        """
        for thread in self.threads:
            thread.start()
        self._started = True
        self._broadcast(Control("start", self._next_seq(), time_ns), wait=True)
        fatal = [f"{f.strategy}: {f.error}" for f in self.failures if f.hook == "start"]
        if fatal:
            self.stop(time_ns)
            raise StartupError("; ".join(fatal))
        self._rebuild_routes()

    def stop(self, time_ns: int) -> list[str]:
        """Run ``on_stop`` in every thread and join them, each within the timeout.

        :returns: ids of threads that did not finish in time (still inside a call).
        """
        if self._stopped or not self._started:
            return []
        self._stopped = True
        for thread in self.threads:
            if isinstance(thread.inbox, BoundedInbox):
                thread.inbox.close()
            thread.inbox.put_control(Control("stop", self._next_seq(), time_ns))
        stuck = []
        deadline = time.monotonic() + self.join_timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.instance.id)
                thread.metrics.state = "hung"
                log.error(
                    "strategy %s did not stop within %.1fs; its stack:\n%s",
                    thread.instance.id,
                    self.join_timeout_s,
                    thread.stack(),
                )
        return stuck

    # --- clock steps -----------------------------------------------------------------

    def dispatch(self, time_ns: int, items: Iterable[tuple[SeriesKey, int]]) -> int:
        """Hand one clock step to the threads subscribed to its series.

        :param time_ns: session time of the step.
        :param items: ``(key, n)`` per series published at this step, in the
            processor's deterministic order.
        :returns: the number of notifications handed out.
        """
        if self.mode == DATA_DRIVEN:
            items = list(items)
            if self._routing_dirty:
                self._rebuild_routes()
            delivered = sum(len(self._routes.get(key, ())) for key, _ in items)
            self.dispatch_batch([(None, time_ns, items)])
            return delivered
        if self._routing_dirty:
            self._rebuild_routes()
        routes = self._routes
        per_thread: dict[StrategyThread, list[tuple[SeriesKey, int]]] = {}
        for item in items:
            targets = routes.get(item[0])
            if targets:
                for thread in targets:
                    batch = per_thread.get(thread)
                    if batch is None:
                        per_thread[thread] = [item]
                    else:
                        batch.append(item)
        if not per_thread:
            return 0
        seq = self._next_seq()
        sent = perf_ns()
        delivered = 0
        for thread, batch in per_thread.items():
            metrics = thread.metrics
            if thread.busy_since or len(thread.inbox):
                metrics.overruns += 1
            if thread.instance.backpressure == "block" and (
                len(thread.inbox) >= thread.instance.inbox_size
            ):
                metrics.blocked += 1
            metrics.dropped += thread.inbox.put(Step(seq, time_ns, batch, sent))
            depth = len(thread.inbox)
            if depth > metrics.queue_max:
                metrics.queue_max = depth
            delivered += len(batch)
        self._watchdog_clock()
        return delivered

    def dispatch_batch(
        self,
        steps: Sequence[ReplayStep],
        replay: Callable[[int, int], list[ReplayStep]] | None = None,
    ) -> None:
        """Data-driven: hand consecutive steps to every running thread, then wait
        until all have finished them (one barrier for the batch).

        :param steps: ``(step index, session time, items)`` in clock order; the index
            is None for a step the processor cannot replay (the final flush).
        :param replay: gives every step between two indexes; used to re-send the
            rest of a batch, step by step, to a strategy that changed its
            subscriptions inside it.
        """
        if self._routing_dirty:
            self._rebuild_routes()
        pending = {
            thread: list(steps) for thread in self.threads if not thread.quarantined
        }
        while pending and steps:
            seq = self._next_seq()
            sent = perf_ns()
            for thread, todo in pending.items():
                batch = Batch(seq, [Step(seq, t, items, sent) for _, t, items in todo])
                thread.inbox.put(batch)
            stopped = self._await(seq, pending)
            rest: dict[StrategyThread, list[ReplayStep]] = {}
            for thread, position in stopped.items():
                todo = pending[thread]
                start, end = todo[position][0], todo[-1][0]
                if replay is None or start is None or end is None:
                    continue
                rest[thread] = replay(start + 1, end)
            pending = rest

    def notify_symbol_added(self, time_ns: int, symbol: str) -> None:
        """Tell every running strategy that ``symbol`` joined, before any of its bars.

        Data-driven runs wait until every strategy has handled it; in the other modes
        the inbox order guarantees it precedes the symbol's first bars.
        """
        self._broadcast(
            Control("symbol_added", self._next_seq(), time_ns, symbol=symbol),
            wait=self.mode == DATA_DRIVEN,
        )

    def drain(self) -> None:
        """Wait until every inbox is empty (clock-driven end of session)."""
        if self.mode == DATA_DRIVEN:
            return
        seq = self._next_seq()
        live = [t for t in self.threads if not t.quarantined and t.is_alive()]
        for thread in live:
            thread.inbox.put_control(Control("drain", seq, 0))
        self._await(seq, {thread: [] for thread in live})

    # --- outputs -------------------------------------------------------------------

    def signals(self) -> list[Signal]:
        """Every signal, ordered by clock step, then config order, then emission.

        When a strategy's failure stopped the session, signals of later steps (other
        strategies may have run ahead inside a data-driven batch) are left out.
        """
        limit = self.stopped_at_ns
        tagged = [
            (when, thread.index, order, signal)
            for thread in self.threads
            for order, (when, signal) in enumerate(list(thread.signals))
            if limit is None or when[0] <= limit
        ]
        tagged.sort(key=lambda row: row[:3])
        return [row[3] for row in tagged]

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Per-instance metrics snapshots, in config order."""
        return {
            thread.instance.id: thread.metrics.snapshot(len(thread.inbox))
            for thread in self.threads
        }

    # --- internals ----------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _mark_routing_dirty(self) -> None:
        self._routing_dirty = True

    def subscribed_keys(self) -> frozenset[SeriesKey]:
        """Series some running strategy listens to (a new object when it changes)."""
        if self._routing_dirty:
            self._rebuild_routes()
        return self._subscribed

    def _rebuild_routes(self) -> None:
        self._routing_dirty = False
        routes: dict[SeriesKey, list[StrategyThread]] = {}
        for thread in self.threads:
            if thread.quarantined:
                continue
            for key in sorted(thread.ctx.subscriptions):
                routes.setdefault(key, []).append(thread)
        self._routes = routes
        if set(routes) != self._subscribed:
            self._subscribed = frozenset(routes)

    def _broadcast(self, message: Control, *, wait: bool) -> None:
        targets = [t for t in self.threads if not t.quarantined]
        message.sent_ns = perf_ns()
        for thread in targets:
            thread.inbox.put_control(message)
        if wait:
            self._await(message.seq, {thread: [] for thread in targets})

    def _await(
        self, seq: int, pending: Iterable[StrategyThread]
    ) -> dict[StrategyThread, int]:
        """Barrier: wait for ``seq`` from each thread, quarantining hung ones.

        :returns: the threads that stopped a batch early, with the position.
        """
        waiting = {thread.index: thread for thread in pending}
        stopped: dict[StrategyThread, int] = {}
        get = self._done.get
        while waiting:
            timeout = min(t.instance.callback_timeout_s for t in waiting.values())
            try:
                index, done_seq, position = get(timeout=min(timeout, 0.5))
            except Empty:
                self._watchdog(waiting)
                continue
            if done_seq == seq:
                thread = waiting.pop(index, None)
                if thread is not None and position is not None:
                    stopped[thread] = position
        return stopped

    def _watchdog(self, waiting: dict[int, StrategyThread]) -> None:
        now = perf_ns()
        for index, thread in list(waiting.items()):
            if not thread.is_alive():
                waiting.pop(index)
            elif thread.busy_for_s(now) > thread.instance.callback_timeout_s:
                self._quarantine_hung(thread)
                waiting.pop(index)

    def _watchdog_clock(self) -> None:
        now = perf_ns()
        for thread in self.threads:
            if (
                thread.busy_since
                and not thread.quarantined
                and thread.busy_for_s(now) > thread.instance.callback_timeout_s
            ):
                self._quarantine_hung(thread)

    def _quarantine_hung(self, thread: StrategyThread) -> None:
        thread.quarantined = True
        thread.metrics.state = "hung"
        thread.metrics.errors += 1
        self._routing_dirty = True
        log.error(
            "strategy %s (%s %s) has been inside one call for more than %.1fs "
            "(callback_timeout_s); quarantined. Its stack:\n%s",
            thread.instance.id,
            thread.instance.dist,
            thread.instance.version,
            thread.instance.callback_timeout_s,
            thread.stack(),
        )

    def _on_failure(self, thread: StrategyThread, failure: StrategyFailure) -> None:
        """Called in the failing strategy's thread."""
        instance = thread.instance
        with self._lock:
            self.failures.append(failure)
        if failure.hook == "start" and thread.metrics.state == "failed":
            return  # a refused subscription: start() reports it, without traceback
        where = failure.symbol or "-"
        if failure.bar_ts is not None:
            where += f" bar {format_ts(failure.bar_ts)}"
        log.error(
            "strategy %s (%s %s) raised in %s [%s]: %s\n%s",
            instance.id,
            instance.dist,
            instance.version,
            failure.hook,
            where,
            failure.error,
            failure.traceback,
        )
        if thread.metrics.errors < instance.max_errors:
            return
        if instance.on_error == "quarantine":
            thread.quarantined = True
            thread.metrics.state = "quarantined"
            self._routing_dirty = True
        elif instance.on_error == "stop":
            thread.quarantined = True
            thread.metrics.state = "failed"
            self._routing_dirty = True
            self.stopped_at_ns = thread.ctx.time_ns
            self.stop_requested = (
                f"strategy {instance.id} failed ({failure.error}) and its on_error "
                "policy is 'stop'"
            )
