"""StrategyThread: one strategy instance, its own thread, inbox and hook caller."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from stratagem._data.intervals import NS_PER_SECOND
from stratagem._plugins.failures import PluginRef
from stratagem._plugins.hooks import StrategyHooks
from stratagem._records import (
    Backpressure,
    ErrorPolicy,
    Fill,
    Mode,
    Signal,
    StrategyState,
)
from stratagem._runtime.inbox import Batch, BoundedInbox, Control, DirectInbox, Step
from stratagem._runtime.metrics import StrategyMetrics
from stratagem._strategy import Strategy, StrategyContext, SubscriptionError

if TYPE_CHECKING:
    from stratagem._data.session_data import SessionData
    from stratagem._strategy import StrategyConfig

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
        self.strategy = instance.strategy_cls(instance.config)
        self._step_sent_ns = 0
        self._order = (0, 1)
        self.ctx = StrategyContext(
            strategy_id=instance.id,
            config=instance.config,
            data=data,
            mode=mode,
            emit=self._record_signal,
            on_subscriptions_changed=on_subscriptions_changed,
        )
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
                    self._handle_step(message, message.items)
            elif kind is Batch:
                stopped = None if self.quarantined else self._handle_batch(message)
                done_put((index, message.seq, stopped))
            else:
                if message.kind != "drain" and (
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
            for key, n in items:
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
            elif message.kind == "stop":
                if self.metrics.state is StrategyState.RUNNING:
                    self._hooks.on_stop(ctx)
                    self.metrics.state = StrategyState.STOPPED
        except SubscriptionError as exc:
            self._on_failure(self, message.kind, exc, message.symbol, None, True)
        except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
            self._on_failure(self, message.kind, exc, message.symbol, None, False)
        finally:
            self.busy_since = 0

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
        metrics = self.metrics
        for key, n in items:
            if self.quarantined:
                break
            if key in subscriptions:
                ctx._cur_key = key
                ctx._cur_n = n
                ctx.new_bars = n - seen.get(key, n - 1)
                seen[key] = n
                self.busy_since = t0 = perf_ns()
                try:
                    self._hooks.on_bars(ctx, key[0], key[1])
                except Exception as exc:  # noqa: BLE001 - isolate any failure
                    bar_ts = int(ctx.bars(*key).ts[-1])
                    self._on_failure(self, "on_bars", exc, key[0], bar_ts, False)
                metrics.call_time.pending.append(perf_ns() - t0)
                metrics.notifications += 1
            if key in developing:
                self._notify_developing(developing[key])

    def _notify_developing(self, keys: Sequence[tuple[str, str]]) -> None:
        """A base bar landed: notify the partial subscriptions whose window is still
        open (``ctx.developing`` has its bar; ``ctx.new_bars`` is 0)."""
        ctx = self.ctx
        for key in keys:
            if self.quarantined or ctx.developing(*key) is None:
                continue
            ctx._cur_key = key
            ctx._cur_n = ctx._data.series(*key).visible_at(ctx.time_ns)
            ctx.new_bars = 0
            self.busy_since = t0 = perf_ns()
            try:
                self._hooks.on_bars(ctx, key[0], key[1])
            except Exception as exc:  # noqa: BLE001 - isolate any strategy failure
                self._on_failure(self, "on_bars", exc, key[0], None, False)
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
        self.signals.append((self._order, signal))
        self.metrics.signals += 1
        if self._step_sent_ns:
            self.metrics.signal_latency.add(perf_ns() - self._step_sent_ns)

    def stack(self) -> str:
        """The current Python stack of this thread (for the watchdog's dump)."""
        frame = sys._current_frames().get(self.ident or -1)
        if frame is None:
            return "(thread not running)"
        return "".join(traceback.format_stack(frame))

    def busy_for_s(self, now_ns: int) -> float:
        since = self.busy_since
        return 0.0 if since == 0 else (now_ns - since) / NS_PER_SECOND

    def deadline_ns(self) -> int | None:
        """When the current call outlives ``callback_timeout_s`` (None when idle)."""
        since = self.busy_since
        if since == 0:
            return None
        return since + int(self.instance.callback_timeout_s * NS_PER_SECOND)
