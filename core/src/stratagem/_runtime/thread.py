"""StrategyThread: one strategy instance, its own thread, inbox and hook caller."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from stratagem._data.intervals import NS_PER_SECOND
from stratagem._data.timefmt import format_ts
from stratagem._plugins.failures import PluginRef
from stratagem._plugins.hooks import StrategyHooks
from stratagem._records import (
    Backpressure,
    ErrorPolicy,
    Fill,
    Mode,
    SeriesKey,
    Signal,
    StrategyState,
)
from stratagem._runtime.inbox import Batch, BoundedInbox, Control, DirectInbox, Step
from stratagem._runtime.metrics import StrategyMetrics
from stratagem._runtime.state import Handover, InstanceState
from stratagem._strategy import Strategy, StrategyContext, SubscriptionError

if TYPE_CHECKING:
    from stratagem._data.session_data import SessionData
    from stratagem._strategy import StrategyConfig

log = logging.getLogger("stratagem.runtime")
#: above every session time: ``(n, _LAST_NS)`` sorts after each ``(n, time)``
_LAST_NS = 1 << 62
perf_ns = time.perf_counter_ns

#: ``(thread index, message seq, batch position where it stopped or None)``
Ack = tuple[int, int, int | None]


@dataclass(frozen=True)
class StrategyInstance:
    """Everything needed to run one configured strategy instance.

    :param id: unique instance id, used in outputs.
    :param strategy_cls: the :class:`~stratagem.Strategy` subclass.
    :param config: its validated config.
    :param dist: distribution that offered it (``"-"`` for an import path).
    :param version: that distribution's version.
    :param on_error: ``continue`` / ``quarantine`` / ``stop``.
    :param max_errors: errors at which the policy applies.
    :param backpressure: inbox policy in clock-driven and live runs.
    :param inbox_size: inbox bound in steps.
    :param callback_timeout_s: watchdog limit for one call.
    :param execution: how its signals become orders (its config entry's
        ``execution``), or None when it only emits signals.
    """

    id: str
    strategy_cls: type[Strategy]
    config: StrategyConfig
    dist: str = "-"
    version: str = "-"
    on_error: ErrorPolicy = ErrorPolicy.QUARANTINE
    max_errors: int = 1
    backpressure: Backpressure = Backpressure.DROP_OLDEST
    inbox_size: int = 1024
    callback_timeout_s: float = 10.0
    execution: Any = None

    @property
    def ref(self) -> PluginRef:
        """This instance as the failure policy names it."""
        return PluginRef(
            "strategy",
            self.id,
            self.dist,
            self.version,
            ErrorPolicy(self.on_error),
            self.max_errors,
        )


#: the hook a control message calls, for failure messages
_HOOK_OF = {
    "restore": "on_load",
    "symbol_added": "on_symbol_added",
    "start": "on_start",
}

#: ``failed(thread, hook, exc, symbol, bar_ts, fatal)``, called in the failing thread
FailureCallback = Callable[
    ["StrategyThread", str, BaseException, "str | None", "int | None", bool], None
]


class StrategyThread(threading.Thread):
    """Runs one strategy instance: takes a step from its inbox, calls the strategy for
    each notification in it, records timings and signals, acknowledges what the
    manager waits for.

    Only this thread ever calls into the strategy object.
    """

    def __init__(
        self,
        index: int,
        instance: StrategyInstance,
        data: SessionData,
        mode: Mode,
        done: SimpleQueue[Ack],
        on_subscriptions_changed: Callable[[], None],
        on_failure: FailureCallback,
    ) -> None:
        super().__init__(name=f"strategy-{instance.id}", daemon=True)
        self.index = index
        self.instance = instance
        self.metrics = StrategyMetrics()
        #: (session time, 0 for bars / 1 for lifecycle calls) of each signal
        self.signals: list[tuple[tuple[int, int], Signal]] = []
        self.inbox: DirectInbox | BoundedInbox = (
            DirectInbox()
            if mode is Mode.DATA_DRIVEN
            else BoundedInbox(instance.inbox_size, instance.backpressure)
        )
        self._done = done
        self._on_failure = on_failure
        self.quarantined = False
        #: its signals become orders: a data-driven batch stops after a step with a
        #: signal, so that it hears the fills before it goes on
        self.trades = False
        self.busy_since = 0
        self._step_sent_ns = 0
        self._order = (0, 1)
        self._data = data
        self._mode = mode
        self._on_subscriptions_changed = on_subscriptions_changed
        self._become(instance)
        #: ``(seq, state)`` of the last ``save`` it handled
        self.saved: tuple[int, InstanceState] | None = None
        #: the thread a reload replaced, until this one has saved once
        self.predecessor: StrategyThread | None = None
        #: the thread a reload replaced, until this one has adopted its state: its
        #: subscriptions route the steps that queue behind the adoption meanwhile
        self.adopting_from: StrategyThread | None = None
        #: it replaced another instance in a reload
        self.adopted = False
        #: during a batched ``on_bars``: the series and its ``(n, step time)``
        #: growth in the batch, to stamp each signal with its bar's step
        self._published: tuple[SeriesKey, list[tuple[int, int]]] | None = None

    def _become(self, instance: StrategyInstance) -> None:
        """Run ``instance``: a new strategy object, context and hook callers (the
        context at the same session time)."""
        previous = getattr(self, "ctx", None)
        self.instance = instance
        self.strategy = instance.strategy_cls(instance.config)
        self.ctx = StrategyContext(
            strategy_id=instance.id,
            config=instance.config,
            data=self._data,
            mode=self._mode,
            emit=self._record_signal,
            on_subscriptions_changed=self._on_subscriptions_changed,
        )
        if previous is not None:
            self.ctx.time_ns = previous.time_ns
        self._hooks = StrategyHooks(self.strategy, instance.id)

    # --- the thread's loop ------------------------------------------------------

    def run(self) -> None:
        inbox_get = self.inbox.get
        done_put = self._done.put
        index = self.index
        while True:
            message = inbox_get()
            kind = type(message)
            if kind is Step:
                # clock-driven and live steps: nobody waits, nothing to acknowledge
                if not self.quarantined:
                    items = message.items
                    if self.adopted:
                        # steps routed before the adoption may hold series the
                        # instance did not take over (its state was not handed over)
                        routing = self.ctx.routing
                        items = [item for item in items if item[0] in routing]
                    if items or message.fills:
                        self._handle_step(message, items)
            elif kind is Batch:
                stopped = None if self.quarantined else self._handle_batch(message)
                done_put((index, message.seq, stopped))
            else:
                if message.kind == "retire":
                    return  # replaced by a reload: no on_stop
                if message.kind == "save" and message.payload is not None:
                    self._hand_over(message.payload)
                elif message.kind != "drain" and (
                    not self.quarantined or message.kind == "stop"
                ):
                    self._handle_control(message)
                if message.wait:
                    done_put((index, message.seq, None))
                if message.kind == "stop":
                    return

    def _handle_batch(self, batch: Batch) -> int | None:
        """Run the batch's steps in order, each with the subscriptions in force.

        :returns: the position of the step after which this strategy changed its
            subscriptions, when steps follow it: the manager re-sends the rest with
            every step (the batch may have skipped steps nobody listened to).
        """
        ctx = self.ctx
        if self.strategy.batch_delivery and not self.trades and not ctx.partial:
            self._handle_batch_at_once(batch)
            return None
        routing = ctx.routing
        last = len(batch.steps) - 1
        record_wait = True
        signals = self.signals
        for position, step in enumerate(batch.steps):
            if self.quarantined:
                return None
            items = [item for item in step.items if item[0] in routing]
            if items or step.fills:
                emitted = len(signals)
                self._handle_step(step, items, record_wait=record_wait)
                record_wait = False
                if self.trades and len(signals) != emitted and position < last:
                    return position
            if ctx.routing is not routing:
                if position < last:
                    return position
                routing = ctx.routing
        return None

    def _handle_batch_at_once(self, batch: Batch) -> None:
        """A strategy that takes batches (``batch_delivery``): one ``on_bars`` per
        series that grew in the batch, in the order the steps publish them, with
        every new bar (``ctx.new_bars``) and the views as of the batch's last step.
        Each signal is stamped with the step that published its bar, so signals,
        their order and their decision times are those of bar-by-bar delivery."""
        ctx = self.ctx
        routing = ctx.routing
        growth: dict[SeriesKey, list[tuple[int, int]]] = {}
        steps = 0
        for step in batch.steps:
            handled = False
            for key, n in step.items:
                if key in routing:
                    growth.setdefault(key, []).append((n, step.time_ns))
                    handled = True
            steps += handled
        if not growth:
            return
        metrics = self.metrics
        first, last = batch.steps[0], batch.steps[-1]
        metrics.wait_time.add(perf_ns() - first.sent_ns)
        # the steps it would have handled one by one
        metrics.steps += steps
        ctx.time_ns = last.time_ns
        self._order = (last.time_ns, 0)
        self._step_sent_ns = first.sent_ns
        seen = ctx._seen
        signals = self.signals
        start = len(signals)
        callers: list[SeriesKey] = []
        for key, points in growth.items():
            if self.quarantined:
                break
            n = points[-1][0]
            self._published = (key, points)
            self._call_on_bars(key, n, n - seen.get(key, n - 1))
            seen[key] = n
            callers += [key] * (len(signals) - start - len(callers))
        self._published = None
        self.busy_since = 0
        ctx._cur_key = None
        if len(signals) > start + 1:
            self._order_as_stepped(batch, start, callers)
        if len(metrics.call_time.pending) >= 4096:
            metrics.call_time.fold()

    def _order_as_stepped(
        self, batch: Batch, start: int, callers: list[SeriesKey]
    ) -> None:
        """Put the signals of a batched call in the order bar-by-bar delivery
        emits them: by step, then by the place of their series in that step."""
        emitted = self.signals[start:]
        # only signals of one step from different series can be out of order
        callers_at: dict[int, set[SeriesKey]] = {}
        for (order, _), caller in zip(emitted, callers, strict=True):
            callers_at.setdefault(order[0], set()).add(caller)
        shared = {
            time_ns: keys for time_ns, keys in callers_at.items() if len(keys) > 1
        }
        if not shared:
            return
        # the place in its step of each series that signalled there (a step holds
        # thousands of series at scale: only those are ranked)
        rank = {}
        for step in batch.steps:
            keys = shared.get(step.time_ns)
            if keys is None:
                continue
            for place, (key, _) in enumerate(step.items):
                if key in keys:
                    rank[step.time_ns, key] = place
        order = sorted(
            range(len(emitted)),
            key=lambda i: (
                emitted[i][0][0],
                rank.get((emitted[i][0][0], callers[i]), -1),
                i,
            ),
        )
        self.signals[start:] = [emitted[i] for i in order]

    def _published_at(self, signal: Signal) -> tuple[int, int]:
        """The order of a signal emitted in a batched call: the step that published
        the bar it is on (the batch's last step for a bar of another series)."""
        key, points = self._published  # type: ignore[misc]
        if (signal.symbol, signal.interval) != key:
            return self._order
        ts = self.ctx._data.series(*key).column("ts")
        index = int(ts[: points[-1][0]].searchsorted(signal.bar_ts))
        # the first step after which the series holds the bar
        place = bisect_right(points, (index, _LAST_NS))
        return (points[place][1], 0) if place < len(points) else self._order

    def _handle_step(
        self, step: Step, items: list, *, record_wait: bool = True
    ) -> None:
        metrics = self.metrics
        ctx = self.ctx
        on_bars = self._hooks.on_bars
        timings = metrics.call_time
        record = timings.pending.append
        ctx.time_ns = step.time_ns
        self._order = (step.time_ns, 0)
        self._step_sent_ns = step.sent_ns
        seen = ctx._seen
        if record_wait:
            metrics.wait_time.add(perf_ns() - step.sent_ns)
        metrics.steps += 1
        if step.fills:
            self._hear_fills(step.fills)
        developing = ctx._developing_by_base
        if developing:
            self._handle_items_with_developing(items, developing)
        else:
            for key, n in items:  # _call_on_bars, inlined: the hot path
                if self.quarantined:
                    break
                ctx._cur_key = key
                ctx._cur_n = n
                ctx.new_bars = n - seen.get(key, n - 1)
                seen[key] = n
                self.busy_since = t0 = perf_ns()
                try:
                    on_bars(ctx, key[0], key[1])
                except Exception as exc:  # noqa: BLE001 - isolate any failure
                    bar_ts = int(ctx.bars(*key).ts[-1])
                    self._on_failure(self, "on_bars", exc, key[0], bar_ts, False)
                record(perf_ns() - t0)
                metrics.notifications += 1
        self.busy_since = 0
        ctx._cur_key = None
        if len(timings.pending) >= 4096:
            timings.fold()

    def _handle_control(self, message: Control) -> None:
        ctx = self.ctx
        ctx.time_ns = message.time_ns
        self._order = (message.time_ns, 1)
        self._step_sent_ns = message.sent_ns
        self.busy_since = perf_ns()
        try:
            if message.kind == "start":
                self.metrics.state = StrategyState.RUNNING
                self._hooks.on_start(ctx)
            elif message.kind == "symbol_added":
                self._hooks.on_symbol_added(ctx, message.symbol)
            elif message.kind == "fill":
                self._hear_fills(message.fills)
            elif message.kind == "save":
                self.saved = (message.seq, self._save())
                self.predecessor = None
            elif message.kind == "restore":
                self._restore(message.payload)
            elif message.kind == "adopt":
                self._adopt(message.payload)
            elif message.kind == "stop":
                if self.metrics.state is StrategyState.RUNNING:
                    self._hooks.on_stop(ctx)
                    self.metrics.state = StrategyState.STOPPED
        except SubscriptionError as exc:
            hook = _HOOK_OF.get(message.kind, message.kind)
            self._on_failure(self, hook, exc, message.symbol, None, True)
        except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
            hook = _HOOK_OF.get(message.kind, message.kind)
            self._on_failure(self, hook, exc, message.symbol, None, False)
        finally:
            self.busy_since = 0

    def state(self, *, saved: dict[str, Any] | None = None) -> InstanceState:
        """What this instance's checkpoint holds besides its own state: its
        subscriptions, position and signal count (read between deliveries)."""
        ctx = self.ctx
        return InstanceState(
            state=saved,
            subscriptions=tuple(
                (symbol, interval, (symbol, interval) in ctx.partial)
                for symbol, interval in sorted(ctx.subscriptions)
            ),
            positions=dict(ctx._positions),
            signal_count=len(self.signals),
            quarantined=self.quarantined,
        )

    def _save(self) -> InstanceState:
        """Ask the strategy for its state; a failure leaves the checkpoint without
        it (the policy counts it like any other)."""
        try:
            raw = self._hooks.on_save(self.ctx)
            if raw is not None and not isinstance(raw, dict):
                raise TypeError(
                    f"on_save returned {type(raw).__name__}; a state is a dict of "
                    "JSON values"
                )
            # a JSON copy: checks it is JSON, and the strategy going on cannot
            # change what the checkpoint holds
            state = None if raw is None else json.loads(json.dumps(raw))
        except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
            self._on_failure(self, "on_save", exc, None, None, False)
            failed = self.state()
            return InstanceState(
                None,
                failed.subscriptions,
                failed.positions,
                failed.signal_count,
                failed.quarantined,
                f"{type(exc).__name__}: {exc}",
            )
        return self.state(saved=state)

    def _hand_over(self, handover: Handover) -> None:
        """A reload replaces this instance: its state goes to the new one."""
        if self.quarantined:
            handover.hand_over(self.state())
        else:
            handover.hand_over(self._save())

    def _adopt(self, handover: Handover) -> None:
        """Replace the instance a reload retires (:meth:`_take_over`); until then
        the steps queued behind this were routed by its subscriptions."""
        try:
            self._take_over(handover)
        finally:
            self.adopted = True
            self.adopting_from = None
            self._on_subscriptions_changed()

    def _take_over(self, handover: Handover) -> None:
        """Take over from the instance a reload replaces: wait for its state, then
        ``on_start``, its subscriptions and position, ``on_load``. When the new code
        fails there, run the old code again from the same state instead."""
        # waiting for the old instance is no call of this one's: the watchdog
        # times its calls from the state on
        self.busy_since = 0
        handed_over = handover.ready.wait(handover.wait_s)
        self.busy_since = perf_ns()
        if not handed_over:
            lost = (
                f"the running instance did not hand over its state within "
                f"{handover.wait_s:g}s; the new code starts without it"
            )
            saved = None
        else:
            saved, lost = handover.saved, ""
        try:
            self._hooks.on_start(self.ctx)
            if saved is not None:
                self._restore(saved)
        except Exception as exc:  # noqa: BLE001 - the reload fails, the instance runs
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                "reload of %s failed in the new code (%s); the old code runs on from "
                "its state",
                self.instance.id,
                reason,
            )
            handover.finish(False, f"the new code failed to start: {reason}")
            self._become(handover.old_instance)
            self._hooks.on_start(self.ctx)
            if saved is not None:
                self._restore(saved)
            return
        if saved is not None and saved.error:
            lost = f"its state was not saved ({saved.error}); it starts without it"
        handover.finish(True, lost)

    def _restore(self, restored: InstanceState) -> None:
        """A resumed or reloaded instance: its subscriptions and position as at
        the checkpoint, then ``on_load`` with its state."""
        ctx = self.ctx
        for symbol, interval, partial in restored.subscriptions:
            ctx.subscribe(symbol, interval, partial=partial)
        ctx._positions = dict(restored.positions)
        if restored.state is not None:
            self._hooks.on_load(ctx, restored.state)

    def _handle_items_with_developing(
        self,
        items: list,
        developing: dict[tuple[str, str], list[tuple[str, str]]],
    ) -> None:
        """The step's items when some subscriptions are ``partial``: a base item
        may be routed only for them, and notifies their open windows."""
        ctx = self.ctx
        subscriptions = ctx.subscriptions
        seen = ctx._seen
        for key, n in items:
            if self.quarantined:
                break
            if key in subscriptions:
                self._call_on_bars(key, n, n - seen.get(key, n - 1))
                seen[key] = n
            if key in developing:
                self._notify_developing(developing[key])

    def _notify_developing(self, keys: Sequence[tuple[str, str]]) -> None:
        """A base bar landed: notify the partial subscriptions whose window is still
        open (``ctx.developing`` has its bar; ``ctx.new_bars`` is 0)."""
        ctx = self.ctx
        for key in keys:
            if self.quarantined or ctx.developing(*key) is None:
                continue
            self._call_on_bars(
                key, ctx._data.series(*key).visible_at(ctx.time_ns), new_bars=0
            )

    def _call_on_bars(self, key: SeriesKey, n: int, new_bars: int) -> None:
        """One ``on_bars`` for series ``key`` as of its ``n`` bars, timed, a failure
        isolated and handed to the policy. (The bar-by-bar loop of
        :meth:`_handle_step` inlines the same lines: it is the hot path.)

        :param new_bars: bars new since its last call; 0 for a developing bar,
            whose failure names no closed bar.
        """
        ctx = self.ctx
        ctx._cur_key = key
        ctx._cur_n = n
        ctx.new_bars = new_bars
        self.busy_since = t0 = perf_ns()
        try:
            self._hooks.on_bars(ctx, key[0], key[1])
        except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
            bar_ts = int(ctx.bars(*key).ts[-1]) if new_bars else None
            self._on_failure(self, "on_bars", exc, key[0], bar_ts, False)
        self.metrics.call_time.pending.append(perf_ns() - t0)
        self.metrics.notifications += 1

    def _hear_fills(self, fills: Sequence[Fill]) -> None:
        ctx = self.ctx
        for fill in fills:
            ctx._apply_fill(fill)
            self.busy_since = perf_ns()
            try:
                self._hooks.on_fill(ctx, fill)
            except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
                self._on_failure(self, "on_fill", exc, fill.symbol, fill.ts, False)
            finally:
                self.busy_since = 0

    # --- signals and diagnostics ------------------------------------------------

    def _record_signal(self, signal: Signal) -> None:
        order = self._order if self._published is None else self._published_at(signal)
        self.signals.append((order, signal))
        self.metrics.signals += 1
        if self._step_sent_ns:
            self.metrics.signal_latency.add(perf_ns() - self._step_sent_ns)

    def stack(self) -> str:
        """The current Python stack of this thread (for the watchdog's dump)."""
        frame = sys._current_frames().get(self.ident or -1)
        if frame is None:
            return "(thread not running)"
        return "".join(traceback.format_stack(frame))

    def log_fields(self) -> dict[str, str]:
        """Where this strategy is, for the records logged in its thread
        (:mod:`stratagem._runlog`): its id and, while it handles a notification,
        the symbol, interval and time of the newest bar it sees of that series."""
        fields = {"strategy": self.instance.id}
        key = self.ctx._cur_key
        if key is not None:
            fields["symbol"], fields["interval"] = key
            bars = self.ctx.bars(*key)
            if len(bars):
                fields["bar_ts"] = format_ts(int(bars.ts[-1]))
        return fields

    def busy_for_s(self, now_ns: int) -> float:
        since = self.busy_since
        return 0.0 if since == 0 else (now_ns - since) / NS_PER_SECOND

    def deadline_ns(self) -> int | None:
        """When the current call outlives ``callback_timeout_s`` (None when idle)."""
        since = self.busy_since
        if since == 0:
            return None
        return since + int(self.instance.callback_timeout_s * NS_PER_SECOND)
