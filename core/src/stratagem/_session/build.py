"""The one session builder: every way of running a session goes through here.

:func:`build_session` wires a :class:`Session` (data, processor, strategy manager,
coordinator, reporters, failure ledger) from a :class:`SessionSpec`, the fully
resolved description of a session. ``stratagem run`` makes the spec from a validated
config file (:meth:`SessionSpec.from_config`); :mod:`stratagem.testing`, the
benchmarks and sweeps make it directly. Output writers are not part of a session:
they subscribe to it (:meth:`Session.subscribe`) and hear its end.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stratagem._data.intervals import interval_name
from stratagem._data.session_data import SessionData
from stratagem._data.sources import DataSourceError
from stratagem._data.timefmt import format_ts, to_ns
from stratagem._data.trading_days import TradingCalendar
from stratagem._data.validation import BarValidationError
from stratagem._execution.manager import ExecutionManager
from stratagem._execution.portfolio import PortfolioResult
from stratagem._plugins.failures import (
    FailureLedger,
    FailureRecord,
    PluginRef,
    one_line_error,
)
from stratagem._plugins.hooks import REPORT_HOOK, PluginHooks
from stratagem._protocols import BarSource, LiveSource, Reporter, Scanner
from stratagem._records import (
    BrokerSpec,
    EmptyWindows,
    ErrorPolicy,
    MetricsReport,
    Mode,
    RunStatus,
    Signal,
)
from stratagem._runlog import set_run_id
from stratagem._runtime.manager import StartupError, StrategyManager
from stratagem._runtime.metrics import bottleneck
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.checkpoints import Checkpointer, failure_from_dict
from stratagem._session.coordinator import (
    BATCH_STEPS,
    SessionCoordinator,
    SessionResult,
)
from stratagem._session.journal import JournalWriter, Resumed
from stratagem._session.processor import DataProcessor

if TYPE_CHECKING:
    from stratagem._config.loading import LoadedSession, ResolvedStrategy
    from stratagem._config.models import CheckpointEvery, ExecutionConfig

log = logging.getLogger("stratagem.session")

#: errors that refuse a session's input (bad data, a strategy asking for a series the
#: session lacks): reported without a traceback, exit code 2
INPUT_ERRORS = (BarValidationError, DataSourceError, StartupError)


#: the interpreter's thread switch interval while a clock-driven or live session
#: runs (bench/bench_latency.py measures what it buys)
LATENCY_SWITCH_S = 0.0002


class SessionSetupError(ValueError):
    """The session cannot be built (no data folder, a bad data source option)."""


@dataclass(frozen=True)
class SessionSpec:
    """Everything a session is made of, resolved.

    :param symbols: symbols loaded at start, in order.
    :param strategies: the strategy instances, in config order.
    :param source: where bars come from.
    :param derived_minutes: widths of the derived intervals in minutes.
    :param base_minutes: width of the base stream (the bars the source holds).
    :param calendars: per symbol, the trading days its derived windows restart at;
        ``"*"`` is every other symbol's; none (or UTC 00:00) is UTC windows.
    :param empty: ``skip`` or ``fill``: what a derived window without a base bar
        gives.
    :param speed_multiplier: 0 for data-driven, N for clock-driven at N x.
    :param start_ns: session start (bars before it are warm-up history).
    :param end_ns: session end, exclusive.
    :param warmup_bars: history rows per series published when a symbol joins.
    :param validation: ``reject`` or ``drop`` for bars pushed live.
    :param scanners: ``(plugin ref, scanner)`` pairs.
    :param reporters: ``(plugin ref, caller)`` pairs, each called with
        ``report=`` on the main thread; a :class:`ReporterCaller` is also closed
        once when the session ends.
    :param metrics_interval_s: wall seconds between periodic reports.
    :param join_timeout_s: how long the end of the session waits for each thread.
    :param execution: the session's ``execution`` block, when signals become orders.
    :param broker: the broker it names (its spec) and the plugin that offers it.
    :param origin: the validated config this spec came from, if any (for the
        manifest).
    :param data_root: the data folder, if the source reads one.
    """

    symbols: Sequence[str]
    strategies: Sequence[StrategyInstance]
    source: BarSource
    derived_minutes: Sequence[int] = ()
    base_minutes: int = 1
    calendars: Mapping[str, TradingCalendar] = field(default_factory=dict)
    empty: EmptyWindows = EmptyWindows.SKIP
    speed_multiplier: float = 0.0
    start_ns: int | None = None
    end_ns: int | None = None
    warmup_bars: int = 200
    validation: str = "reject"
    scanners: Sequence[tuple[PluginRef, Scanner]] = ()
    reporters: Sequence[tuple[PluginRef, Callable[..., Any]]] = ()
    metrics_interval_s: float = 2.0
    join_timeout_s: float = 5.0
    execution: ExecutionConfig | None = None
    broker: tuple[PluginRef, BrokerSpec] | None = None
    origin: LoadedSession | None = None
    data_root: Path | None = None

    @property
    def live(self) -> bool:
        """Whether the source streams bars as they close (a live session)."""
        return isinstance(self.source, LiveSource)

    @property
    def mode(self) -> Mode:
        if self.live:
            return Mode.LIVE
        return Mode.DATA_DRIVEN if self.speed_multiplier == 0 else Mode.CLOCK_DRIVEN

    @classmethod
    def from_config(
        cls,
        loaded: LoadedSession,
        *,
        data_dir: Path | None = None,
        speed: float | None = None,
    ) -> SessionSpec:
        """The spec of a validated session config file.

        :param loaded: the config, validated with its plugins resolved.
        :param data_dir: overrides ``data.path`` (``--data``).
        :param speed: overrides ``speed_multiplier`` (``--speed``).
        :raises SessionSetupError: when there is no data folder.
        """
        cfg = loaded.config.session_data_config
        root = _data_root(loaded, data_dir)
        reporters = _reporters(loaded)
        return cls(
            symbols=tuple(cfg.symbols),
            strategies=tuple(
                instance_of(item, executes=cfg.execution is not None)
                for item in loaded.strategies
            ),
            source=_source(loaded, root),
            derived_minutes=tuple(cfg.derived_minutes),
            base_minutes=cfg.base_minutes,
            calendars=_calendars(cfg.bars),
            empty=cfg.bars.empty,
            speed_multiplier=cfg.speed_multiplier if speed is None else speed,
            start_ns=to_ns(cfg.start) if cfg.start else None,
            end_ns=to_ns(cfg.end) if cfg.end else None,
            warmup_bars=cfg.warmup_bars,
            validation=cfg.data.validation,
            scanners=tuple(
                (
                    PluginRef(
                        "scanner",
                        item.name,
                        item.dist,
                        item.version,
                        item.entry.on_error,
                        item.entry.max_errors,
                    ),
                    item.spec.factory(item.config),
                )
                for item in loaded.scanners
            ),
            reporters=tuple(reporters),
            metrics_interval_s=cfg.metrics_interval_s,
            execution=cfg.execution,
            broker=_broker(loaded),
            origin=loaded,
            data_root=root,
        )


class ReporterCaller:
    """A reporter made by a :class:`~stratagem.ReporterSpec` factory, called like a
    plugin's pluggy caller (``caller(report=...)``) and closed when the session
    ends.

    :param reporter: the :class:`~stratagem.Reporter` made for this session.
    """

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def __call__(self, *, report: MetricsReport) -> None:
        self.reporter.report(report)

    def close(self) -> None:
        self.reporter.close()


def _reporters(
    loaded: LoadedSession,
) -> tuple[tuple[PluginRef, Callable[..., Any]], ...]:
    """One caller per ``reporters`` entry, in file order: the plugin's pluggy caller
    of ``stratagem_report_metrics``, or the reporter its ReporterSpec's factory
    makes now from the entry's validated config.

    :raises SessionSetupError: when a factory raises.
    """
    policy = loaded.config.session_data_config.reporter_on_error
    hooks = PluginHooks(loaded.plugins.pm)
    callers: list[tuple[PluginRef, Callable[..., Any]]] = []
    for item in loaded.reporters:
        ref = PluginRef("reporter", item.id, item.dist, item.version, policy)
        if item.spec is None:
            callers.append((ref, hooks.caller_for(REPORT_HOOK, item.name)))
            continue
        try:
            reporter = item.spec.factory(item.config)
        except Exception as exc:
            raise SessionSetupError(
                f"{ref.label} could not be made: {one_line_error(exc)}"
            ) from exc
        callers.append((ref, ReporterCaller(reporter)))
    return tuple(callers)


def instance_of(item: ResolvedStrategy, *, executes: bool) -> StrategyInstance:
    """The runtime's instance of one validated strategy entry.

    :param item: the entry, resolved.
    :param executes: whether the session has an ``execution`` block.
    """
    return StrategyInstance(
        id=item.id,
        strategy_cls=item.spec.strategy,
        config=item.config,
        dist=item.dist,
        version=item.version,
        on_error=item.entry.on_error,
        max_errors=item.entry.max_errors,
        backpressure=item.entry.backpressure,
        inbox_size=item.entry.inbox_size,
        callback_timeout_s=item.entry.callback_timeout_s,
        execution=item.entry.execution if executes else None,
    )


def _calendars(bars: Any) -> dict[str, TradingCalendar]:
    """The config's ``bars`` block as calendars: ``"*"`` for the session's default,
    then the per-symbol overrides."""
    calendars = {"*": TradingCalendar(bars.timezone, bars.day_start)}
    for symbol, entry in bars.symbols.items():
        calendars[symbol] = TradingCalendar(entry.timezone, entry.day_start)
    return calendars


def _source(loaded: LoadedSession, root: Path | None) -> BarSource:
    """The config's data source; a file source needs a data folder."""
    cfg = loaded.config.session_data_config
    options = {
        "validation": cfg.data.validation,
        "url": cfg.data.url,
        "symbol_map": dict(cfg.data.symbol_map),
        "interval": cfg.base_interval,
    }
    source: BarSource = loaded.data_source.factory(root, options)
    if root is None and not isinstance(source, LiveSource):
        raise SessionSetupError(
            f"{loaded.path}: no data folder; pass --data DIR or set "
            "session_data_config.data.path"
        )
    return source


def _broker(loaded: LoadedSession) -> tuple[PluginRef, BrokerSpec] | None:
    execution = loaded.config.session_data_config.execution
    if execution is None or loaded.broker is None:
        return None
    record = loaded.plugins.provider("broker", execution.broker)
    ref = PluginRef(
        "broker",
        execution.broker,
        record.dist,
        record.version,
        execution.on_error,
        execution.max_errors,
    )
    return ref, loaded.broker


def _data_root(loaded: LoadedSession, data_dir: Path | None) -> Path | None:
    """The data folder: ``--data``, else ``data.path``, else a live source's
    ``data.history``; None when none is given (a live source without history)."""
    cfg = loaded.config.session_data_config
    if data_dir is not None:
        root, origin = Path(data_dir), "--data"
    elif cfg.data.path is not None:
        root = (loaded.path.parent / cfg.data.path).resolve()
        origin = f"{loaded.path}: session_data_config.data.path"
    elif cfg.data.history is not None:
        root = (loaded.path.parent / cfg.data.history).resolve()
        origin = f"{loaded.path}: session_data_config.data.history"
    else:
        return None
    if not root.is_dir():
        raise SessionSetupError(f"data folder {root} (from {origin}) does not exist")
    return root


@dataclass
class SessionOutcome:
    """What a session produced, handed to its listeners and returned by ``run``.

    :param status: ``ok``, ``degraded``, ``failed`` or ``interrupted``.
    :param result: the coordinator's account (steps, times, insertions).
    :param signals: every signal, in deterministic order.
    :param metrics: the final metrics (``{"system": ..., "strategies": ...}``).
    :param failures: every plugin that failed, folded per plugin.
    :param error: the exception that ended the session, if one did.
    :param rejected: the session was refused before its first step (bad data, a
        strategy asking for what the session lacks): there is nothing to write.
    :param portfolio: fills, round trips, equity and statistics per book, when the
        session executes its signals.
    """

    status: RunStatus
    result: SessionResult
    signals: list[Signal]
    metrics: dict[str, Any]
    failures: list[FailureRecord] = field(default_factory=list)
    error: BaseException | None = None
    rejected: bool = False
    portfolio: PortfolioResult | None = None

    def by_strategy(self, strategy_id: str) -> list[Signal]:
        """The signals of one strategy instance."""
        return [s for s in self.signals if s.strategy == strategy_id]


class SessionListener(Protocol):
    """An output writer: told once when the session has ended (main thread)."""

    def session_ended(self, session: Session, outcome: SessionOutcome) -> None: ...


class Session:
    """One wired session. Build it with :func:`build_session`, then :meth:`run`.

    :param spec: what the session is made of.
    """

    def __init__(self, spec: SessionSpec) -> None:
        self.spec = spec
        self.mode = spec.mode
        self.run_id = uuid.uuid4().hex
        self.ledger = FailureLedger()
        self.data = SessionData()
        self.processor = DataProcessor(
            self.data,
            spec.derived_minutes,
            base_minutes=spec.base_minutes,
            calendars=spec.calendars,
            empty=spec.empty,
            warmup_bars=spec.warmup_bars,
            validation=spec.validation,
        )
        self.execution = _execution_of(spec, self.data, self.ledger)
        self.manager = StrategyManager(
            spec.strategies,
            self.data,
            self.mode,
            failures=self.ledger,
            join_timeout_s=spec.join_timeout_s,
            execution=self.execution,
        )
        self.coordinator = SessionCoordinator(
            spec.symbols,
            self.processor,
            self.manager,
            spec.source,
            speed_multiplier=spec.speed_multiplier,
            start_ns=spec.start_ns,
            end_ns=spec.end_ns,
            scanners=spec.scanners,
            failures=self.ledger,
            execution=self.execution,
            # one net book: every strategy's signals make its orders, so strategies
            # go step by step together
            batch_steps=1
            if self.execution is not None and self.execution.net
            else BATCH_STEPS,
        )
        self._reporters = list(spec.reporters)
        self._listeners: list[SessionListener] = []
        self.extra: dict[str, Any] = {"run_id": self.run_id}
        self._wall0 = time.perf_counter()

    def check_inputs(self) -> None:
        """Read and validate every start symbol's bars, as the run will before its
        first step, without running anything (``stratagem validate``).

        :raises DataSourceError: listing every file that is missing or unreadable.
        :raises BarValidationError: for a file refused under ``reject``.
        """
        if not self.spec.live:
            self.coordinator.read_all()
            return
        # a live session warms up from whatever history its source has
        source, base = self.spec.source, self.processor.base_interval
        for symbol in self.spec.symbols:
            if source.available(symbol, base):
                source.load(symbol, base, end_ns=self.spec.start_ns)

    def resume_from(self, resumed: Resumed) -> None:
        """Continue from a journal's last checkpoint; call before :meth:`run`.

        The run replays the bars up to the checkpoint without delivering them,
        starts every strategy there (``on_start``), restores its subscriptions,
        position and state (``on_load``), its signals, the books and open orders,
        and the strategies' failures, then goes on.

        :param resumed: the checkpoint (:func:`read_journal`).
        """
        self.manager.resume_from(resumed.instances, resumed.signals)
        if self.execution is not None and resumed.execution is not None:
            self.execution.restore(resumed.execution, resumed.fills)
        self.ledger.restore(failure_from_dict(f) for f in resumed.failures)
        self.coordinator.resume = resumed
        self.extra["resumed_from"] = {
            "checkpoint": resumed.checkpoint_id,
            "session_time": format_ts(resumed.session_ns),
            "steps": resumed.steps,
        }

    def keep_journal(self, writer: JournalWriter, every: CheckpointEvery) -> None:
        """Write checkpoints into ``writer`` every ``every`` and at stop; call
        before :meth:`run` (after :meth:`resume_from` when resuming)."""
        resume = self.coordinator.resume
        self.coordinator.checkpointer = Checkpointer(
            writer,
            every,
            self.manager,
            self.processor,
            self.execution,
            self.ledger,
            start_steps=resume.steps if resume is not None else 0,
        )

    def subscribe(self, listener: SessionListener) -> None:
        """Have ``listener`` told when the session ends (output writers)."""
        self._listeners.append(listener)

    def request_stop(self, reason: str) -> None:
        """Stop at the next step; safe from any thread."""
        self.coordinator.request_stop(reason)

    # --- running -----------------------------------------------------------------

    def run(self, *, on_tick: Callable[[], None] | None = None) -> SessionOutcome:
        """Drive the session in its own thread; report metrics from this one.

        The first Ctrl-C (KeyboardInterrupt) stops the session at the next step
        (in-flight calls finish, a hung one within its ``callback_timeout_s``); a
        second one stops waiting at once. Either way everything computed so far
        reaches the listeners.

        :param on_tick: called on this thread while the session runs (progress).
        """
        box: dict[str, Any] = {}
        finished = threading.Event()

        def session_main() -> None:
            try:
                box["result"] = (
                    self._run_live() if self.spec.live else self.coordinator.run()
                )
            except BaseException as exc:  # handed to this thread, never lost
                box["error"] = exc
            finally:
                finished.set()

        # a daemon only so that a second Ctrl-C can leave it behind; every other
        # way out joins it
        thread = threading.Thread(
            target=session_main, name="stratagem-session", daemon=True
        )
        # what start-up built (modules, plugins, configs) lives for the whole run:
        # keep it out of the collector's full passes, which otherwise pause every
        # thread for tens of milliseconds. The young generations are swept first;
        # a full pass here would itself cost ~10 ms, 5 % of a short run, to free
        # what is left of start-up's garbage, which stays frozen until the end
        gc.collect(1)
        gc.freeze()
        switch = sys.getswitchinterval()
        if self.mode is not Mode.DATA_DRIVEN:
            # a strategy woken for a step waits for the GIL while the session
            # thread goes on (decoding the rest of a burst of klines): let it in
            # after LATENCY_SWITCH_S rather than the default 5 ms
            sys.setswitchinterval(LATENCY_SWITCH_S)
        previous = _install_sigterm(self)
        # every record logged from now on, from any thread, names this run
        set_run_id(self.run_id)
        self._wall0 = time.perf_counter()
        interval = self.spec.metrics_interval_s
        interrupts = 0
        try:
            thread.start()
            next_report = time.perf_counter() + interval
            while not finished.is_set():
                try:
                    # Event.wait, not Thread.join: a Ctrl-C inside join can leave the
                    # thread marked finished while it still runs
                    timeout = max(0.0, next_report - time.perf_counter())
                    if on_tick is not None:
                        timeout = min(timeout, 0.1)
                    if finished.wait(timeout):
                        break
                    if on_tick is not None:
                        on_tick()
                    if time.perf_counter() >= next_report:
                        self._report(self.snapshot(final=False))
                        next_report += interval
                except KeyboardInterrupt:
                    interrupts += 1
                    if interrupts > 1:
                        log.warning("interrupted again: writing what is done now")
                        break
                    log.warning(
                        "interrupted: finishing in-flight steps, then writing "
                        "(Ctrl-C again to stop at once)"
                    )
                    self.request_stop("interrupted (SIGINT)")
        finally:
            _restore_sigterm(previous)
            if interrupts < 2:
                thread.join()
            gc.unfreeze()
            sys.setswitchinterval(switch)
        if interrupts > 1 and thread.is_alive():
            self.coordinator.result.status = RunStatus.INTERRUPTED
        return self._finish(box.get("error"))

    def _run_live(self) -> SessionResult:
        """Warm up from the source's history, then step at every bar it streams."""
        spec = self.spec
        source = spec.source
        assert isinstance(source, LiveSource)
        base_ns = self.processor.base_ns
        start = spec.start_ns
        if start is None:  # from now: the open of the base bar in progress
            start = time.time_ns() // base_ns * base_ns
        feed = source.stream(spec.symbols, start, self.coordinator.stop_event)
        return self.coordinator.run_live(feed, start)

    def _finish(self, error: BaseException | None) -> SessionOutcome:
        result = self.coordinator.result
        if error is not None:
            result.status = RunStatus.FAILED
            result.reason = f"{type(error).__name__}: {error}"
        elif result.status is RunStatus.OK and self.ledger.degraded:
            result.status = RunStatus.DEGRADED
        signals = self.manager.signals()
        final = self.snapshot(final=True, signals=signals)
        rejected = isinstance(error, INPUT_ERRORS) and self.processor.steps == 0
        # a reporter that exits the process (SystemExit) or a Ctrl-C while the last
        # report goes out: the run folder is still written, then it goes on
        escaped: BaseException | None = None
        try:
            if not rejected:
                self._report(final)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            escaped = exc
        finally:
            self._close_reporters()
        outcome = SessionOutcome(
            status=result.status,
            result=result,
            signals=signals,
            metrics={
                "system": dict(final.system),
                "strategies": {k: dict(v) for k, v in final.strategies.items()},
            },
            failures=self.ledger.records(),
            error=error,
            rejected=rejected,
            portfolio=(
                self.execution.portfolio(result.start_ns)
                if self.execution is not None and not rejected
                else None
            ),
        )
        for listener in self._listeners:
            listener.session_ended(self, outcome)
        if escaped is not None:
            raise escaped
        return outcome

    # --- metrics -----------------------------------------------------------------

    def snapshot(
        self, *, final: bool, signals: Sequence[Signal] | None = None
    ) -> MetricsReport:
        """The session's metrics now, as reporters receive them.

        :param final: whether this is the session's last report.
        :param signals: the final signals, which the per-strategy counts then match.
        """
        strategies = self.manager.metrics(signals)
        wall = time.perf_counter() - self._wall0
        processor = self.processor
        bars_in = processor.bars_in
        result = self.coordinator.result
        system: dict[str, Any] = {
            "mode": str(self.mode),
            "speed_multiplier": self.spec.speed_multiplier,
            "status": str(result.status),
            "bars_in": bars_in,
            "wall_s": wall,
            "bars_per_s": bars_in / wall if wall > 0 else 0.0,
            # current in every snapshot (the result holds them once the run ends)
            "steps": processor.steps,
            "notifications": sum(
                int(snap.get("notifications", 0)) for snap in strategies.values()
            ),
            "bottleneck": bottleneck(strategies),
            "symbols": processor.symbols,
            "session_time": (
                format_ts(processor.time_ns) if processor.time_ns else None
            ),
            "session_start": format_ts(result.start_ns) if result.start_ns else None,
            "session_data_bytes": self.data.nbytes,
            "symbols_added": [i.as_dict() for i in result.insertions],
            "live_bars_dropped": processor.dropped_live,
        }
        if self.mode is Mode.CLOCK_DRIVEN:
            system.update(self.coordinator.drift())
        feed_stats = getattr(self.spec.source, "feed_stats", None)
        if callable(feed_stats):
            system.update({f"feed_{k}": v for k, v in feed_stats().items()})
        return MetricsReport(
            system=system, strategies=strategies, final=final, extra=dict(self.extra)
        )

    def _close_reporters(self) -> None:
        """Close every reporter a ReporterSpec made, quarantined ones too; a failure
        is recorded like a failed report."""
        for ref, caller in self.spec.reporters:
            if not isinstance(caller, ReporterCaller):
                continue
            try:
                caller.close()
            except Exception as exc:  # noqa: BLE001 - recorded, the session ends
                self.ledger.record(ref, "close", exc)

    def _report(self, report: MetricsReport) -> None:
        """Call every reporter on its own; one that fails follows the policy."""
        for entry in list(self._reporters):
            ref, caller = entry
            try:
                caller(report=report)
            except Exception as exc:  # noqa: BLE001 - the failure policy decides
                action = self.ledger.record(ref, "stratagem_report_metrics", exc)
                if action is not ErrorPolicy.CONTINUE:
                    self._reporters.remove(entry)
                if action is ErrorPolicy.STOP:
                    self.request_stop(f"reporter {ref.id} failed: {exc}")
                    self.coordinator.result.status = RunStatus.FAILED


def _execution_of(
    spec: SessionSpec, data: SessionData, ledger: FailureLedger
) -> ExecutionManager | None:
    if spec.execution is None:
        return None
    if spec.broker is None:
        raise SessionSetupError("an execution block needs a broker (BrokerSpec)")
    ref, broker_spec = spec.broker
    broker = broker_spec.factory(spec.execution)
    trading = {i.id: i.execution for i in spec.strategies if i.execution is not None}
    return ExecutionManager(
        spec.execution,
        trading,
        broker,
        ref,
        data,
        ledger,
        base_interval=interval_name(spec.base_minutes),
    )


def build_session(spec: SessionSpec) -> Session:
    """Wire a session from its spec; nothing runs until :meth:`Session.run`.

    :param spec: the resolved session (see :meth:`SessionSpec.from_config`).
    """
    return Session(spec)


def _install_sigterm(session: Session) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum: int, frame: Any) -> None:
        session.request_stop("interrupted (SIGTERM)")

    return signal.signal(signal.SIGTERM, on_sigterm)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
