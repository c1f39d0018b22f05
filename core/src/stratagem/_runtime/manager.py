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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, Protocol

from stratagem._data.intervals import NS_PER_SECOND
from stratagem._data.timefmt import format_ts
from stratagem._plugins.failures import (
    FailureKind,
    FailureLedger,
    FailureRecord,
    one_line_error,
)
from stratagem._records import (
    Backpressure,
    ErrorPolicy,
    Fill,
    Mode,
    SeriesKey,
    Signal,
    StrategyState,
)
from stratagem._runlog import located
from stratagem._runtime.inbox import Batch, BoundedInbox, Control, Step
from stratagem._runtime.state import Handover, InstanceState
from stratagem._runtime.thread import Ack, StrategyInstance, StrategyThread

if TYPE_CHECKING:
    from stratagem._data.session_data import SessionData
    from stratagem._data.timeline import ClockStep

log = logging.getLogger("stratagem.runtime")

perf_ns = time.perf_counter_ns


class StartupError(RuntimeError):
    """Strategies could not start (e.g. a subscription the session cannot serve)."""


class FillDesk(Protocol):
    """What the manager needs of the session's execution (the ExecutionManager):
    the fills each strategy hears, and the signals it made."""

    def resolve(self) -> None: ...

    def schedule(
        self, strategy_id: str, step_times: Sequence[int]
    ) -> list[list[Fill]]: ...

    def after_steps(
        self, progress: Sequence[tuple[str, int, Sequence[Any]]]
    ) -> None: ...

    def before_step(
        self, time_ns: int, progress: Sequence[tuple[str, Sequence[Any]]]
    ) -> dict[str, list[Fill]]: ...


class StrategyManager:
    """Owns the strategy threads, the subscription map and the sync mode.

    Used from the session thread only; strategy threads report failures to the
    shared :class:`FailureLedger`, the one owner of failure counts.

    :param instances: the configured instances, in config order.
    :param data: the session's bars.
    :param mode: data-driven, clock-driven or live.
    :param failures: the session's failure ledger (a new one by default).
    :param join_timeout_s: how long ``stop`` waits for each thread to finish.
    :param execution: the session's execution, when its signals become orders.
    """

    def __init__(
        self,
        instances: Sequence[StrategyInstance],
        data: SessionData,
        mode: Mode | str = Mode.DATA_DRIVEN,
        *,
        failures: FailureLedger | None = None,
        join_timeout_s: float = 5.0,
        execution: FillDesk | None = None,
    ) -> None:
        ids = [instance.id for instance in instances]
        if len(set(ids)) != len(ids):
            raise ValueError(f"strategy ids must be unique, got {ids}")
        self.mode = Mode(mode)
        self.data = data
        self.join_timeout_s = join_timeout_s
        self.ledger = failures if failures is not None else FailureLedger()
        self._done: SimpleQueue[Ack] = SimpleQueue()
        self._routing_dirty = True
        self._routes: dict[SeriesKey, list[StrategyThread]] = {}
        self._subscribed: frozenset[SeriesKey] = frozenset()
        self.stop_requested: str | None = None
        #: session time of the step whose failure stopped the session
        self.stopped_at_ns: int | None = None
        self._start_refusals: list[str] = []
        self._seq = 0
        self.threads = [
            StrategyThread(
                index,
                instance,
                data,
                self.mode,
                self._done,
                self._mark_routing_dirty,
                self._on_failure,
            )
            for index, instance in enumerate(instances)
        ]
        self.execution = execution
        self._trading = [
            t for t in self.threads if execution is not None and t.instance.execution
        ]
        for thread in self._trading:
            thread.trades = True
        self._started = False
        self._stopped = False
        #: held while steps are handed out and while a reload swaps an instance
        self._lock = threading.Lock()
        #: threads a reload replaced (joined at stop)
        self._retired: list[StrategyThread] = []
        #: session time of the last clock-driven or live step handed out
        self._handed_ns: int | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self, time_ns: int) -> None:
        """Start every thread and run ``on_start`` in each; waits for all of them.

        :raises StartupError: when a strategy subscribed to a series the session
            lacks; the threads are stopped first.
        """
        for thread in self.threads:
            thread.start()
        self._started = True
        self._broadcast("start", time_ns, wait=True)
        if self._start_refusals:
            self.stop(time_ns)
            raise StartupError("; ".join(self._start_refusals))
        self._rebuild_routes()

    def stop(self, time_ns: int) -> list[str]:
        """Run ``on_stop`` in every thread and join them, each within the timeout.

        :returns: ids of threads that did not finish in time (still inside a call).
        """
        with self._lock:  # a reload cannot swap an instance in from now on
            if self._stopped or not self._started:
                return []
            self._stopped = True
            threads = list(self.threads)
        for thread in threads:
            if isinstance(thread.inbox, BoundedInbox):
                thread.inbox.close()
            thread.inbox.put_control(Control("stop", self._next_seq(), time_ns))
        deadline = time.monotonic() + self.join_timeout_s
        for retired in self._retired:
            # replaced by a reload: it leaves once it has handed its state over
            retired.join(max(0.0, deadline - time.monotonic()))
        stuck = []
        for thread in threads:
            if thread.metrics.state is not StrategyState.HUNG:
                # a hung thread cannot finish: its stack was dumped when it was
                # quarantined, and waiting for it would only delay the end
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.instance.id)
                if thread.metrics.state is StrategyState.HUNG:
                    continue
                thread.metrics.state = StrategyState.HUNG
                log.error(
                    "strategy %s did not stop within %.1fs; its stack:\n%s",
                    thread.instance.id,
                    self.join_timeout_s,
                    thread.stack(),
                    extra=located(strategy=thread.instance.id),
                )
        return stuck

    # --- clock steps -----------------------------------------------------------------

    def dispatch(self, time_ns: int, items: Iterable[tuple[SeriesKey, int]]) -> int:
        """Hand one clock step to the threads subscribed to its series.

        Data-driven: waits until they have handled it. Clock-driven and live: never
        waits; each inbox applies its backpressure policy.

        :param time_ns: session time of the step.
        :param items: ``(key, n)`` per series published at this step, in the
            processor's deterministic order.
        :returns: the number of notifications handed out.
        """
        if self.mode is Mode.DATA_DRIVEN:
            from stratagem._data.timeline import ClockStep

            if self._routing_dirty:
                self._rebuild_routes()
            items = list(items)
            delivered = sum(len(self._routes.get(key, ())) for key, _ in items)
            self.dispatch_batch([ClockStep(None, time_ns, items)])
            return delivered
        with self._lock:  # a reload swaps instances between two steps
            return self._hand_out(time_ns, items)

    def _hand_out(self, time_ns: int, items: Iterable[tuple[SeriesKey, int]]) -> int:
        """Clock-driven and live: put one step in each subscribed inbox."""
        self._handed_ns = time_ns
        if self._routing_dirty:
            self._rebuild_routes()
        routes = self._routes
        if self.execution is not None:
            self._hand_fills(time_ns)
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
            inbox = thread.inbox
            if thread.busy_since or len(inbox):
                metrics.overruns += 1
            if thread.instance.backpressure is Backpressure.BLOCK and (
                len(inbox) >= thread.instance.inbox_size
            ):
                metrics.blocked += 1
            metrics.dropped += inbox.put(Step(seq, time_ns, batch, sent))
            depth = len(inbox)
            if depth > metrics.queue_max:
                metrics.queue_max = depth
            delivered += len(batch)
        self._watchdog_clock()
        return delivered

    def dispatch_batch(
        self,
        steps: Sequence[ClockStep],
        replay: Callable[[int, int], list[ClockStep]] | None = None,
    ) -> None:
        """Data-driven: hand consecutive steps to every running thread, then wait
        until all have finished them (one barrier for the batch).

        :param steps: clock steps in order; a step's ``index`` is None when the
            processor cannot replay it (the final flush).
        :param replay: gives every step between two indexes; used to re-send the
            rest of a batch, step by step, to a strategy that changed its
            subscriptions inside it.
        """
        if self._routing_dirty:
            self._rebuild_routes()
        pending = {
            thread: list(steps) for thread in self.threads if not thread.quarantined
        }
        desk = self.execution
        if desk is not None:
            desk.resolve()  # the bars just published may fill what is pending
        # the Step objects handed out, per thread, parallel to ``pending``: a thread
        # that stops after a signal gets the rest of the same list again
        built: dict[StrategyThread, list[Step]] = {}
        while pending and steps:
            seq = self._next_seq()
            sent = perf_ns()
            subscribed = {thread: thread.ctx.routing for thread in pending}
            for thread, todo in pending.items():
                handed = built.get(thread)
                if handed is None:
                    handed = [Step(seq, s.time_ns, s.items, sent) for s in todo]
                elif handed:
                    first = handed[0]
                    handed[0] = Step(seq, first.time_ns, first.items, sent, first.fills)
                if desk is not None and thread.trades:
                    times = [s.time_ns for s in todo]
                    for index, fills in enumerate(
                        desk.schedule(thread.instance.id, times)
                    ):
                        step = handed[index]
                        if fills or step.fills:
                            handed[index] = Step(
                                seq, step.time_ns, step.items, step.sent_ns, fills
                            )
                built[thread] = handed
                thread.inbox.put(Batch(seq, handed))
            stopped = self._await(seq, pending)
            if desk is not None:
                desk.after_steps(
                    [
                        (
                            thread.instance.id,
                            todo[stopped.get(thread, len(todo) - 1)].time_ns,
                            thread.signals,
                        )
                        for thread, todo in sorted(
                            pending.items(), key=lambda pair: pair[0].index
                        )
                        if thread.trades
                    ]
                )
            rest: dict[StrategyThread, list[ClockStep]] = {}
            kept: dict[StrategyThread, list[Step]] = {}
            for thread, position in stopped.items():
                todo = pending[thread]
                if thread.ctx.routing is subscribed[thread]:
                    # stopped after a signal, to hear its fills: the steps it has
                    # not handled are the rest of the same list
                    rest[thread] = todo[position + 1 :]
                    kept[thread] = built[thread][position + 1 :]
                    continue
                start, end = todo[position].index, todo[-1].index
                if replay is None or start is None or end is None:
                    continue
                # its subscriptions changed: every step, also those skipped for
                # having nothing it listened to before
                rest[thread] = replay(start + 1, end)
            pending, built = rest, kept

    def _hand_fills(self, time_ns: int) -> None:
        """Clock-driven and live: the fills due now go to their strategies ahead of
        the step (control messages: never dropped or coalesced)."""
        assert self.execution is not None
        heard = self.execution.before_step(
            time_ns, [(t.instance.id, t.signals) for t in self._trading]
        )
        for thread in self._trading:
            fills = heard.get(thread.instance.id)
            if fills and not thread.quarantined:
                message = Control(
                    "fill", self._next_seq(), time_ns, sent_ns=perf_ns(), fills=fills
                )
                thread.inbox.put_control(message)

    def notify_symbol_added(self, time_ns: int, symbol: str) -> None:
        """Tell every running strategy that ``symbol`` joined, before any of its bars.

        Data-driven runs wait until every strategy has handled it; in the other modes
        the inbox order guarantees it precedes the symbol's first bars.
        """
        self._broadcast(
            "symbol_added",
            time_ns,
            symbol=symbol,
            wait=self.mode is Mode.DATA_DRIVEN,
        )

    def drain(self) -> None:
        """Wait until every inbox is empty (clock-driven end of session)."""
        if self.mode is Mode.DATA_DRIVEN:
            return
        self._broadcast("drain", 0, wait=True)

    # --- hot reload ----------------------------------------------------------------

    def thread_of(self, strategy_id: str) -> StrategyThread | None:
        """The thread running ``strategy_id`` now, if any."""
        for thread in self.threads:
            if thread.instance.id == strategy_id:
                return thread
        return None

    def swap(self, instance: StrategyInstance, time_ns: int) -> Handover:
        """Replace the running instance of ``instance.id`` between two steps; safe
        from any thread (clock-driven and live runs).

        The running instance saves its state after the steps its inbox holds and
        leaves (no ``on_stop``); the new one, in a thread of its own that receives
        every step from now on, waits for that state, then runs ``on_start``, gets
        the subscriptions and position back and ``on_load``. Its signals and
        metrics continue the old ones. The others are never paused.

        :param time_ns: the session time now; the swap happens after the last step
            handed out, whose time the new instance starts at.
        :returns: the hand-over; ``done`` is set once the new instance started.
        """
        with self._lock:
            if self._stopped:
                raise RuntimeError("the session is ending; nothing to reload")
            old = self.thread_of(instance.id)
            if old is None:
                raise KeyError(instance.id)
            handover = Handover(old.instance, old.instance.callback_timeout_s)
            new = StrategyThread(
                old.index,
                instance,
                self.data,
                self.mode,
                self._done,
                self._mark_routing_dirty,
                self._on_failure,
            )
            new.signals = old.signals
            new.metrics = old.metrics
            new.predecessor = old
            new.adopting_from = old
            new.trades = old.trades
            # the session time of the last step the old instance was given: the
            # new one starts there (the session clock may already be past it,
            # with a step not handed out yet)
            if self._handed_ns is not None:
                time_ns = self._handed_ns
            seq = self._next_seq()
            if old.is_alive():
                old.inbox.put_control(Control("save", seq, time_ns, payload=handover))
                old.inbox.put_control(Control("retire", seq, time_ns))
            else:
                handover.hand_over(old.state())
            new.inbox.put_control(Control("adopt", seq, time_ns, payload=handover))
            if old.quarantined:
                # a reload is how a fixed strategy comes back
                new.metrics.state = StrategyState.RUNNING
            self.threads[old.index] = new
            self._retired.append(old)
            self._trading = [
                t for t in self.threads if self.execution is not None and t.trades
            ]
            self._mark_routing_dirty()
            new.start()
        return handover

    # --- checkpoints ---------------------------------------------------------------

    def request_saves(self, time_ns: int, *, wait: bool) -> int:
        """Ask every running instance for its state (``on_save``), behind what its
        inbox already holds.

        :param time_ns: the session time of the checkpoint.
        :param wait: wait until every instance has saved (data-driven, where they
            are idle between steps); otherwise collect them later with
            :meth:`collect_saves`, and nobody waits.
        :returns: the request's number, for :meth:`collect_saves`.
        """
        with self._lock:  # not while a reload swaps an instance
            seq = self._next_seq()
            message = Control("save", seq, time_ns, sent_ns=perf_ns(), wait=wait)
            targets = [t for t in self.threads if not t.quarantined and t.is_alive()]
            for thread in targets:
                thread.inbox.put_control(message)
        if wait:
            self._await(seq, targets)
        return seq

    def collect_saves(self, seq: int) -> dict[str, InstanceState] | None:
        """Every instance's state for request ``seq``, or None while some running
        instance has not saved yet. A quarantined instance gives what it last
        saved, or its subscriptions and signals without a state."""
        out: dict[str, InstanceState] = {}
        for thread in self.threads:
            saved = thread.saved
            if saved is None and thread.predecessor is not None:
                # reloaded after the request: the replaced instance answered it
                saved = thread.predecessor.saved
            if thread.quarantined:
                kept = saved[1] if saved is not None else thread.state()
                out[thread.instance.id] = replace(
                    kept, quarantined=True, signal_count=len(thread.signals)
                )
            elif saved is None or saved[0] != seq:
                return None
            else:
                out[thread.instance.id] = saved[1]
        return out

    def resume_from(
        self,
        states: Mapping[str, InstanceState],
        signals: Mapping[str, Sequence[tuple[tuple[int, int], Signal]]],
    ) -> None:
        """Before :meth:`start`: give each instance the signals it had emitted, and
        keep quarantined the ones that were (they are not started)."""
        for thread in self.threads:
            thread.signals.extend(signals.get(thread.instance.id, ()))
            state = states.get(thread.instance.id)
            if state is not None and state.quarantined:
                thread.quarantined = True
                thread.metrics.state = StrategyState.QUARANTINED

    def restore(self, time_ns: int, states: Mapping[str, InstanceState]) -> None:
        """After :meth:`start`: restore each running instance's subscriptions,
        position and state (``on_load``) in its own thread; waits for all."""
        seq = self._next_seq()
        targets = []
        for thread in self.threads:
            state = states.get(thread.instance.id)
            if state is None or thread.quarantined or not thread.is_alive():
                continue
            thread.inbox.put_control(
                Control("restore", seq, time_ns, wait=True, payload=state)
            )
            targets.append(thread)
        self._await(seq, targets)
        self._mark_routing_dirty()

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

    def metrics(
        self, signals: Sequence[Signal] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Per-instance metrics snapshots, in config order.

        :param signals: the session's final signals; when given, each instance's
            ``signals`` counts those (a ``stop`` leaves out signals of later steps),
            so metrics and ``signals.csv`` agree.
        """
        now = perf_ns()
        snapshots = {}
        for thread in self.threads:
            snap = thread.metrics.snapshot(
                len(thread.inbox), self.ledger.count("strategy", thread.instance.id)
            )
            # a call still running (a hung strategy) costs time too
            snap["total_ms"] += thread.busy_for_s(now) * 1000
            snapshots[thread.instance.id] = snap
        if signals is not None:
            counts = Counter(signal.strategy for signal in signals)
            for strategy_id, snap in snapshots.items():
                snap["signals"] = counts.get(strategy_id, 0)
        return snapshots

    @property
    def failures(self) -> list[FailureRecord]:
        """Strategies that failed, each folded into one record."""
        return [r for r in self.ledger.records() if r.plugin.kind == "strategy"]

    def subscribed_keys(self) -> frozenset[SeriesKey]:
        """Series some running strategy listens to (a new object when it changes)."""
        if self._routing_dirty:
            self._rebuild_routes()
        return self._subscribed

    # --- internals ----------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _mark_routing_dirty(self) -> None:
        self._routing_dirty = True

    def _rebuild_routes(self) -> None:
        self._routing_dirty = False
        routes: dict[SeriesKey, list[StrategyThread]] = {}
        for thread in self.threads:
            if thread.quarantined:
                continue
            routing = thread.ctx.routing
            if thread.adopting_from is not None:
                # a reload's new instance before it adopted the state: the steps
                # queue behind the adoption, routed as the old instance's were
                routing = routing | thread.adopting_from.ctx.routing
            for key in sorted(routing):
                routes.setdefault(key, []).append(thread)
        self._routes = routes
        if set(routes) != self._subscribed:
            self._subscribed = frozenset(routes)

    def _broadcast(
        self, kind: str, time_ns: int, *, symbol: str | None = None, wait: bool
    ) -> None:
        targets = [t for t in self.threads if not t.quarantined and t.is_alive()]
        message = Control(kind, self._next_seq(), time_ns, symbol, perf_ns(), wait)
        for thread in targets:
            thread.inbox.put_control(message)
        if wait:
            self._await(message.seq, targets)

    def _await(
        self, seq: int, pending: Iterable[StrategyThread]
    ) -> dict[StrategyThread, int]:
        """Barrier: wait for ``seq`` from each thread, quarantining hung ones.

        Sleeps until an acknowledgement arrives or the earliest watchdog deadline of
        a thread it waits for passes; nothing polls.

        :returns: the threads that stopped a batch early, with the position.
        """
        waiting = {thread.index: thread for thread in pending}
        stopped: dict[StrategyThread, int] = {}
        get = self._done.get
        while waiting:
            try:
                index, done_seq, position = get(timeout=self._wait_s(waiting))
            except Empty:
                self._watchdog(waiting)
                continue
            if done_seq == seq:
                thread = waiting.pop(index, None)
                if thread is not None and position is not None:
                    stopped[thread] = position

        return stopped

    @staticmethod
    def _wait_s(waiting: dict[int, StrategyThread]) -> float:
        """Seconds until the earliest watchdog deadline among ``waiting``: a busy
        thread's deadline is known; an idle one cannot hang before its next call
        starts, so a full timeout from now bounds it."""
        now = perf_ns()
        earliest = None
        for thread in waiting.values():
            deadline = thread.deadline_ns()
            if deadline is None:
                deadline = now + int(thread.instance.callback_timeout_s * NS_PER_SECOND)
            if earliest is None or deadline < earliest:
                earliest = deadline
        assert earliest is not None
        return max(0.0, (earliest - now) / NS_PER_SECOND) + 0.001

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
        instance = thread.instance
        thread.quarantined = True
        thread.metrics.state = StrategyState.HUNG
        self._routing_dirty = True
        self.ledger.record(
            instance.ref,
            "on_bars",
            f"inside one call for more than {instance.callback_timeout_s:.1f}s "
            "(callback_timeout_s); quarantined",
            kind=FailureKind.HUNG,
            stack=thread.stack(),
            where=format_ts(thread.ctx.time_ns) if thread.ctx.time_ns else "",
        )

    def _on_failure(
        self,
        thread: StrategyThread,
        hook: str,
        exc: BaseException,
        symbol: str | None,
        bar_ts: int | None,
        fatal: bool,
    ) -> None:
        """Called in the failing strategy's thread."""
        instance = thread.instance
        if fatal:
            # a refused subscription: start() reports it, without a traceback
            thread.quarantined = True
            thread.metrics.state = StrategyState.FAILED
            self.ledger.record(instance.ref, hook, exc, quiet=True)
            self._start_refusals.append(f"{instance.id}: {exc}")
            return
        where = symbol or ""
        if bar_ts is not None:
            where += f" bar {format_ts(bar_ts)}"
        action = self.ledger.record(
            instance.ref, hook, exc, where=where, symbol=symbol, bar_ts=bar_ts
        )
        if action is ErrorPolicy.QUARANTINE:
            thread.quarantined = True
            thread.metrics.state = StrategyState.QUARANTINED
            self._routing_dirty = True
        elif action is ErrorPolicy.STOP:
            thread.quarantined = True
            thread.metrics.state = StrategyState.FAILED
            self._routing_dirty = True
            self.stopped_at_ns = thread.ctx.time_ns
            self.stop_requested = (
                f"strategy {instance.id} failed ({one_line_error(exc)}) and its "
                "on_error policy is 'stop'"
            )
