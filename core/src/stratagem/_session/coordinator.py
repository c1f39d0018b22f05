"""SessionCoordinator: owns the session clock, the data source and symbol insertion.

It runs in the session thread: data-driven (as fast as the strategies allow),
clock-driven (one minute of session time takes ``60 / speed_multiplier`` wall seconds,
paced against an absolute schedule so drift never accumulates) or live (as bars
arrive from a feed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_SECOND, interval_name
from stratagem._data.sources import DataErrors, DataSourceError
from stratagem._data.timefmt import format_ts
from stratagem._data.timeline import ClockStep
from stratagem._data.validation import BarValidationError
from stratagem._execution.manager import ExecutionManager
from stratagem._plugins.failures import FailureLedger, PluginRef
from stratagem._protocols import BarSource, Scanner
from stratagem._records import ErrorPolicy, LiveBar, Mode, RunStatus
from stratagem._runlog import located
from stratagem._runtime.manager import StrategyManager
from stratagem._runtime.metrics import TimingStats
from stratagem._session.checkpoints import Checkpointer
from stratagem._session.journal import JournalError, Resumed
from stratagem._session.processor import DataProcessor

log = logging.getLogger("stratagem.session")

#: data-driven steps handed to strategy threads per barrier
BATCH_STEPS = 256


@dataclass
class ScanContext:
    """What a scanner may look at when it is polled (session thread)."""

    time_ns: int
    symbols: list[str]
    source: BarSource
    coordinator: SessionCoordinator
    #: the session's base stream, e.g. ``"1m"``: the bars ``source`` holds per symbol
    base_interval: str = "1m"


@dataclass
class SymbolInsertion:
    symbol: str
    time_ns: int
    history: dict[str, int]
    by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "time": format_ts(self.time_ns),
            "history_bars": self.history,
            "by": self.by,
        }


@dataclass
class SessionResult:
    status: RunStatus = RunStatus.OK
    reason: str | None = None
    mode: Mode = Mode.DATA_DRIVEN
    speed_multiplier: float = 0.0
    start_ns: int | None = None
    end_ns: int | None = None
    steps: int = 0
    notifications: int = 0
    wall_s: float = 0.0
    insertions: list[SymbolInsertion] = field(default_factory=list)
    skipped_symbols: list[str] = field(default_factory=list)
    stuck_threads: list[str] = field(default_factory=list)


class SessionCoordinator:
    """Drives one session from its first step to its end.

    :param symbols: symbols loaded at start, in config order.
    :param processor: the session's :class:`DataProcessor`.
    :param manager: the session's :class:`StrategyManager` (not yet started).
    :param source: where bars come from.
    :param speed_multiplier: 0 for data-driven, N for N x real time.
    :param start_ns: session start; default the first base bar.
    :param end_ns: session end (exclusive); default after the last bar.
    :param scanners: ``(name or plugin ref, scanner)`` pairs polled after every
        step; a scanner that raises follows the common failure policy.
    :param failures: the session's failure ledger (the manager's by default).
    :param execution: the session's execution (its signals become orders).
    :param batch_steps: data-driven steps handed to strategies per barrier.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        processor: DataProcessor,
        manager: StrategyManager,
        source: BarSource,
        *,
        speed_multiplier: float = 0.0,
        start_ns: int | None = None,
        end_ns: int | None = None,
        scanners: Sequence[tuple[str | PluginRef, Scanner]] = (),
        failures: FailureLedger | None = None,
        execution: ExecutionManager | None = None,
        batch_steps: int = BATCH_STEPS,
    ) -> None:
        self.symbols = list(symbols)
        self.processor = processor
        self.manager = manager
        self.source = source
        self.speed = speed_multiplier
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.scanners = [
            (ref if isinstance(ref, PluginRef) else PluginRef("scanner", ref), scanner)
            for ref, scanner in scanners
        ]
        self.ledger = failures if failures is not None else manager.ledger
        self.execution = execution
        self.batch_steps = batch_steps
        self.result = SessionResult(
            mode=manager.mode, speed_multiplier=speed_multiplier
        )
        self.lag = TimingStats()
        #: session time skipped by clock-driven pacing (spans where no source has a
        #: bar: nights, weekends, holidays are not waited for)
        self.skipped_ns = 0
        self._paced_ns: int | None = None
        self._stop = threading.Event()
        self._wall0 = 0.0
        self._current_scanner = "api"
        self._wanted: list[tuple[str, str]] = []
        #: writes the journal's checkpoints, when the run has a journal
        self.checkpointer: Checkpointer | None = None
        #: the checkpoint a resumed session continues from
        self.resume: Resumed | None = None

    # --- control from other threads ---------------------------------------------

    @property
    def stop_event(self) -> threading.Event:
        """Set when the session is asked to stop (a live feed watches it)."""
        return self._stop

    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop at the next step (Ctrl-C, SIGTERM); safe from any thread."""
        if not self._stop.is_set():
            self.result.reason = reason
            self._stop.set()

    # --- symbol insertion -----------------------------------------------------------

    def add_symbol(self, symbol: str) -> bool:
        """Add ``symbol`` now: warm up its history, publish it, then tell strategies.

        Called in the session thread (by scanners, or between steps).

        :returns: False when the symbol is already in the session or has no data.
        """
        if symbol in self.processor.symbols:
            return False
        now = self.processor.time_ns
        if now is None:
            raise RuntimeError(
                "add_symbol is for a running session; list it in symbols"
            )
        base = self.processor.base_interval
        if not self.source.available(symbol, base):
            log.error(
                "cannot add %s: the data source has no %s bars for it",
                symbol,
                base,
                extra=located(symbol=symbol),
            )
            self.result.skipped_symbols.append(symbol)
            return False
        published = self._load(symbol, now)
        history = {key[1]: n for key, n in published}
        self.result.insertions.append(
            SymbolInsertion(symbol, now, history, self._current_scanner)
        )
        counts = ", ".join(f"{n} {interval}" for interval, n in history.items())
        log.info(
            "added %s at %s with %s",
            symbol,
            format_ts(now),
            f"a history of {counts} bars" if counts else "no history",
            extra=located(symbol=symbol),
        )
        self.manager.notify_symbol_added(now, symbol)
        return True

    def _load(self, symbol: str, now_ns: int) -> list:
        bars, coarse, coarse_minutes = self._read(symbol, with_coarse=True)
        return self.processor.add_symbol(
            symbol, bars, now_ns, coarse=coarse, coarse_minutes=coarse_minutes
        )

    def _read(
        self, symbol: str, *, with_coarse: bool = False
    ) -> tuple[BarArrays, BarArrays | None, int | None]:
        """The symbol's base bars up to the session end and, for a symbol joining
        mid-session, the finest derived-width file the source has, whose bars extend
        the warm-up history to before the base file begins."""
        bars = self.source.load(
            symbol, self.processor.base_interval, end_ns=self.end_ns
        )
        if not with_coarse:
            return bars, None, None
        for minutes in self.processor.minutes[1:]:
            name = interval_name(minutes)
            if self.source.available(symbol, name):
                return bars, self.source.load(symbol, name, end_ns=self.end_ns), minutes
        return bars, None, None

    # --- the session loop -----------------------------------------------------------

    def read_all(self) -> dict[str, tuple[BarArrays, BarArrays | None, int | None]]:
        """Every start symbol's bars, each file loaded and validated.

        :raises DataErrors: listing every symbol whose file is missing, unreadable or
            refused by validation (not only the first).
        """
        loaded = {}
        errors: list[Exception] = []
        for symbol in self.symbols:
            try:
                loaded[symbol] = self._read(symbol)
            except (DataSourceError, BarValidationError) as exc:
                errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else DataErrors(errors)
        return loaded

    def run(self) -> SessionResult:
        """Replay the session (data-driven or clock-driven) in the calling thread."""
        loaded = self.read_all()
        t0 = self.start_ns
        if t0 is None:
            firsts = [int(bars.ts[0]) for bars, _, _ in loaded.values() if len(bars)]
            if not firsts:
                raise ValueError(
                    f"no {self.processor.base_interval} bars for "
                    f"{', '.join(self.symbols)} in the session range"
                )
            t0 = min(firsts)
        self.result.start_ns = t0
        for symbol, (bars, coarse, coarse_minutes) in loaded.items():
            self.processor.add_symbol(
                symbol, bars, t0, coarse=coarse, coarse_minutes=coarse_minutes
            )
        self.processor.start(t0)
        if self.resume is not None:
            t0 = self._fast_forward(self.resume)
        return self._drive(t0, self._replay_units(t0))

    def _fast_forward(self, resume: Resumed) -> int:
        """A resumed session: publish every step up to the checkpoint without
        delivering any (the strategies' states hold what they made of them), with
        the scanners polled and symbols added as the first run did.

        :returns: the checkpoint's session time.
        :raises JournalError: when the data does not reach the checkpoint as the
            journal recorded it (another data folder, or changed files).
        """
        processor = self.processor
        while processor.steps < resume.steps:
            step = processor.next_step(None)
            if step is None:
                break
            if self.scanners:
                self._poll_scanners(step.time_ns)
                if self._wanted:
                    self._insert_wanted()
        if processor.steps != resume.steps or processor.time_ns != resume.session_ns:
            reached = format_ts(processor.time_ns) if processor.time_ns else "nothing"
            raise JournalError(
                f"{resume.path}: the checkpoint is at step {resume.steps} "
                f"({format_ts(resume.session_ns)}), but this data reaches step "
                f"{processor.steps} ({reached}) there: the data differs from the "
                "run's"
            )
        log.info(
            "resumed at %s (checkpoint %d, step %d)",
            format_ts(resume.session_ns),
            resume.checkpoint_id,
            resume.steps,
        )
        return resume.session_ns

    def run_live(self, feed: Iterable[LiveBar], start_ns: int) -> SessionResult:
        """Run live: each bar from ``feed`` is one step; ends when the feed ends."""
        self.result.start_ns = start_ns
        for symbol in self.symbols:
            history = (
                self.source.load(symbol, self.processor.base_interval, end_ns=start_ns)
                if self.source.available(symbol, self.processor.base_interval)
                else BarArrays.empty()
            )
            self.processor.add_live_symbol(symbol, history, start_ns)
        self.processor.start(start_ns)
        return self._drive(start_ns, self._live_units(feed))

    def _drive(self, t0: int, units: Iterable[list[ClockStep]]) -> SessionResult:
        result = self.result
        manager = self.manager
        batched = manager.mode is Mode.DATA_DRIVEN
        wall0 = time.perf_counter()
        self._wall0 = wall0
        manager.start(t0)
        if self.resume is not None:
            manager.restore(t0, self.resume.instances)
        checkpointer = self.checkpointer
        ended = False
        try:
            for unit in units:
                if batched:
                    manager.dispatch_batch(unit, self.processor.replay_steps)
                else:
                    for step in unit:
                        manager.dispatch(step.time_ns, step.items)
                stop = self._stop_requested()
                if stop:
                    result.status, result.reason = RunStatus.FAILED, stop
                    break
                if self._wanted:
                    self._insert_wanted()
                if checkpointer is not None:
                    checkpointer.after_step()
                if self._stop.is_set():
                    break
            else:
                # the units also end early when a stop was requested while waiting
                ended = not self._stop.is_set()
            if ended:
                last = self.processor.flush(self.end_ns)
                manager.dispatch(last.time_ns, last.items)
                stop = self._stop_requested()
                if stop:
                    result.status, result.reason = RunStatus.FAILED, stop
            elif self._stop.is_set() and result.status is RunStatus.OK:
                result.status = RunStatus.INTERRUPTED
        finally:
            manager.drain()
            if checkpointer is not None:
                # before the execution's end cancels the open orders: a resume
                # goes on with them
                checkpointer.at_stop()
            if self.execution is not None:
                self.execution.finish(
                    self.processor.time_ns or t0,
                    [(t.instance.id, t.signals) for t in manager.threads],
                )
            result.stuck_threads = manager.stop(self.processor.time_ns or t0)
            result.steps = self.processor.steps
            result.notifications = sum(t.metrics.notifications for t in manager.threads)
            result.end_ns = self.processor.time_ns
            result.wall_s = time.perf_counter() - wall0
        return result

    def _stop_requested(self) -> str | None:
        """Why a failure under a ``stop`` policy ends the session, if one does."""
        if self.manager.stop_requested:
            return self.manager.stop_requested
        return self.execution.stop_requested if self.execution else None

    def _replay_units(self, t0: int) -> Iterable[list[ClockStep]]:
        """Replay steps, grouped for hand-off.

        Clock-driven: one step at a time, each at its scheduled wall time.
        Data-driven: up to ``BATCH_STEPS`` steps per barrier, ending early at a step
        after which a scanner adds a symbol; without scanners, only the steps that
        publish a series some strategy listens to (the others are published in
        passing: nothing can observe them one by one). Scanners are polled after
        every step either way.
        """
        processor = self.processor
        paced = self.manager.mode is not Mode.DATA_DRIVEN and self.speed > 0
        size = 1 if paced else self.batch_steps
        stride = not paced and not self.scanners
        checkpointer = self.checkpointer
        while not self._stop.is_set():
            unit: list[ClockStep] = []
            # a batch ends where a checkpoint counted in steps is due
            left = checkpointer.steps_left() if checkpointer is not None else None
            start_steps = processor.steps
            while len(unit) < size:
                limit = 0
                if left is not None:
                    limit = left - (processor.steps - start_steps)
                    if limit <= 0:
                        break
                upcoming = processor.next_time_ns
                if upcoming is None:
                    break
                if paced:
                    self._wait_for(t0, upcoming)
                    if self._stop.is_set():
                        break
                keys = self.manager.subscribed_keys() if stride else None
                step = processor.next_step(keys, limit=limit)
                if step is None:
                    break
                unit.append(step)
                if self.scanners:
                    self._poll_scanners(step.time_ns)
                    if self._wanted:
                        break  # the new symbol joins right after this step
            if not unit:
                return
            yield unit

    def _wait_for(self, t0: int, session_ns: int) -> None:
        """Sleep until the wall time scheduled for ``session_ns``; record the lag.

        A span in which no source has a bar (the step is more than one base bar
        after the previous one) is jumped: it is paced as one base period, and the
        rest is counted in :attr:`skipped_ns`.
        """
        previous = t0 if self._paced_ns is None else self._paced_ns
        gap = session_ns - previous
        base_ns = self.processor.base_ns
        if gap > base_ns:
            self.skipped_ns += gap - base_ns
        self._paced_ns = session_ns
        due = (
            self._wall0
            + (session_ns - t0 - self.skipped_ns) / NS_PER_SECOND / self.speed
        )
        # sleep, never spin: a spinning thread holds the GIL for whole switch
        # intervals and starves the strategy threads it is pacing
        remaining = due - time.perf_counter()
        while remaining > 0 and not self._stop.wait(remaining):
            remaining = due - time.perf_counter()
        self.lag.add(int((time.perf_counter() - due) * NS_PER_SECOND))

    def _live_units(self, feed: Iterable[LiveBar]) -> Iterable[list[ClockStep]]:
        try:
            yield from self._live_steps(feed)
        finally:
            close = getattr(feed, "close", None)
            if callable(close):
                close()  # the feed's connection ends with the session

    def _live_steps(self, feed: Iterable[LiveBar]) -> Iterable[list[ClockStep]]:
        for bar in feed:
            if self._stop.is_set():
                return
            if self.end_ns is not None and bar.ts >= self.end_ns:
                return  # the session's end: later bars are not in it
            if bar.symbol not in self.processor.symbols:
                log.warning(
                    "live bar for %s, which is not in the session",
                    bar.symbol,
                    extra=located(symbol=bar.symbol),
                )
                continue
            step = self.processor.push_bar(
                bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume
            )
            if self.scanners:
                self._poll_scanners(step.time_ns)
            yield [step]

    def _poll_scanners(self, time_ns: int) -> None:
        """Ask every scanner after a step; what they want joins after its dispatch."""
        context = ScanContext(
            time_ns,
            self.processor.symbols,
            self.source,
            self,
            self.processor.base_interval,
        )
        for entry in list(self.scanners):
            ref, scanner = entry
            try:
                wanted = list(scanner.scan(context))
            except Exception as exc:  # noqa: BLE001 - the failure policy decides
                action = self.ledger.record(ref, "scan", exc, where=format_ts(time_ns))
                if action is not ErrorPolicy.CONTINUE:
                    self.scanners.remove(entry)
                if action is ErrorPolicy.STOP:
                    self.request_stop(f"scanner {ref.id} failed: {exc}")
                    self.result.status = RunStatus.FAILED
                continue
            self._wanted.extend((ref.id, symbol) for symbol in wanted)

    def _insert_wanted(self) -> None:
        wanted, self._wanted = self._wanted, []
        for name, symbol in wanted:
            self._current_scanner = name
            self.add_symbol(symbol)
        self._current_scanner = "api"

    def drift(self) -> dict[str, float]:
        """Clock-driven pacing: wall-clock lag behind schedule, and in session time."""
        lag = self.lag.summary_ms("lag_")
        if self.speed > 0:
            lag["lag_max_session_s"] = lag["lag_max_ms"] / 1000 * self.speed
        lag["skipped_session_s"] = self.skipped_ns / NS_PER_SECOND
        return lag
