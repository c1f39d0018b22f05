"""Kit for strategy and plugin authors' tests, and the pytest plugin that serves it.

Functions and classes:

- :func:`make_bars` builds 1m bars from a list of closes (or full OHLCV columns).
- :func:`load_bars` reads a bar CSV file into arrays.
- :func:`run_strategy` drives one or more strategy instances over bars through the
  real runtime (real threads, the real processor and derived bars) and returns their
  signals, metrics and the session's data.
- :class:`MemorySource` is an in-memory bar source for sessions built in tests.
- :func:`check_late_start` and :func:`check_late_join` test the warm-up invariant
  (DESIGN section 4): a run that starts late, or a symbol that joins late, gives
  the signals of the run that went all along, from its first bar on.

**The pytest plugin.** Installing stratagem registers this module with pytest
through the ``pytest11`` entry point ``stratagem``, so the tests of any project in
that environment can ask for these fixtures by name, without importing anything:

``plugin_manager``
    A fresh ``pluggy.PluginManager`` holding stratagem's hook specifications and no
    plugin: register a plugin module or object and call its hooks as stratagem
    would, e.g. ``plugin_manager.register(my_plugin)`` then
    ``plugin_manager.hook.stratagem_strategies()``. Registering checks every
    ``@hookimpl`` against its specification, as loading the plugin does.
``bars_factory``
    :func:`make_bars`: ``bars_factory([1.0, 1.1, 0.9], start=..., minutes=1)``.
``run_strategy``
    :func:`run_strategy`: ``run_strategy(MyStrategy, {"symbols": ["A"]},
    {"A": bars_factory([...])})`` returns a :class:`StrategyRunResult`.

Run ``pytest -p no:stratagem`` to leave the plugin out. Importing this module is
cheap, since pytest imports it at the start of every run in the environment: numpy,
pydantic and the runtime load when a fixture or function is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pluggy

    from stratagem._data.bars import BarArrays
    from stratagem._data.session_data import SessionData
    from stratagem._protocols import BarSource, Scanner
    from stratagem._records import Signal
    from stratagem._session.build import Session
    from stratagem._session.coordinator import SessionCoordinator, SessionResult
    from stratagem._strategy import Strategy, StrategyConfig

__all__ = [
    "AddSymbolAt",
    "MemorySource",
    "StrategyRunResult",
    "WarmupCheck",
    "check_late_join",
    "check_late_start",
    "load_bars",
    "make_bars",
    "run_strategy",
]


def make_bars(
    closes: Sequence[float],
    *,
    start: str = "2024-01-01T00:00:00Z",
    minutes: int = 1,
    open: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    volume: Sequence[float] | float = 1.0,
    skip: Iterable[int] = (),
) -> BarArrays:
    """Bars of width ``minutes`` from ``closes``, one per slot from ``start``.

    :param open: defaults to the previous close (the first bar opens at its close).
    :param high: defaults to ``max(open, close)``; ``low`` to ``min(open, close)``.
    :param skip: slot indexes to leave out (gaps).
    """
    import numpy as np

    from stratagem._data.bars import BarArrays
    from stratagem._data.intervals import NS_PER_MINUTE
    from stratagem._data.timefmt import parse_ts

    close = np.asarray(closes, dtype=np.float64)
    count = len(close)
    ts = parse_ts(start) + np.arange(count, dtype=np.int64) * minutes * NS_PER_MINUTE
    if open is None:
        opened = np.concatenate([close[:1], close[:-1]]) if count else close.copy()
    else:
        opened = np.asarray(open, dtype=np.float64)
    highs = np.maximum(opened, close) if high is None else np.asarray(high, float)
    lows = np.minimum(opened, close) if low is None else np.asarray(low, float)
    volumes = np.broadcast_to(np.asarray(volume, dtype=np.float64), (count,)).copy()
    keep = np.ones(count, dtype=bool)
    keep[list(skip)] = False
    return BarArrays(
        ts=ts[keep],
        open=opened[keep],
        high=highs[keep],
        low=lows[keep],
        close=close[keep],
        volume=volumes[keep],
    )


def load_bars(path: str | Path, *, validation: str = "reject") -> BarArrays:
    """Read one bar CSV file laid out as ``<root>/<interval>/<SYMBOL>.csv``."""
    from stratagem._data.sources import CsvBarSource

    path = Path(path)
    source = CsvBarSource(path.parent.parent, validation=validation)
    return source.load(path.stem, path.parent.name)


class MemorySource:
    """A bar source over arrays held in memory: ``{(symbol, interval): BarArrays}``."""

    def __init__(self, bars: Mapping[tuple[str, str], BarArrays]) -> None:
        from stratagem._data.intervals import canonical_interval

        self._canonical = canonical_interval
        self._bars = {
            (symbol, canonical_interval(interval)): arrays
            for (symbol, interval), arrays in bars.items()
        }
        self.files_used: list[Path] = []
        self.reports: dict[Path, Any] = {}

    def available(self, symbol: str, interval: str) -> bool:
        return (symbol, self._canonical(interval)) in self._bars

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays:
        import numpy as np

        bars = self._bars[(symbol, self._canonical(interval))]
        lo = 0 if start_ns is None else int(np.searchsorted(bars.ts, start_ns))
        hi = len(bars) if end_ns is None else int(np.searchsorted(bars.ts, end_ns))
        return bars.slice(lo, hi)


class AddSymbolAt:
    """A scanner for tests: adds ``symbol`` at the first clock step at or after
    ``at_ns``, as a scanner plugin would; pass it as
    ``run_strategy(..., scanners=[("join", AddSymbolAt("ZEC_BTC", t))], source=...)``
    to test a strategy's warm-up on a mid-session join.

    :param symbol: the symbol to add (the run's ``source`` must have its bars).
    :param at_ns: session time from which it is added, int64 ns.
    """

    def __init__(self, symbol: str, at_ns: int) -> None:
        self.symbol = symbol
        self.at_ns = at_ns

    def scan(self, session: Any) -> list[str]:
        return [self.symbol] if session.time_ns >= self.at_ns else []


@dataclass
class StrategyRunResult:
    """What :func:`run_strategy` returns.

    :param signals: every signal, in deterministic order.
    :param metrics: per strategy instance id, its final metrics.
    :param data: the session's bars (everything published).
    :param result: the coordinator's account (status, steps, insertions).
    :param failures: every failure, folded per plugin.
    :param session: the session itself.
    :param portfolio: fills, round trips, equity and statistics per book, when the
        run executes its signals (``execution=``).
    """

    signals: list[Signal]
    metrics: dict[str, dict[str, Any]]
    data: SessionData
    result: SessionResult
    failures: list[Any] = field(default_factory=list)
    session: Session | None = None
    portfolio: Any = None

    @property
    def coordinator(self) -> SessionCoordinator | None:
        return None if self.session is None else self.session.coordinator

    def by_strategy(self, strategy_id: str) -> list[Signal]:
        return [s for s in self.signals if s.strategy == strategy_id]


def _execution(
    execution: Mapping[str, Any] | None,
    trading: Mapping[str, Mapping[str, Any]] | None,
    entries: Sequence[tuple[str, Any, Any]],
) -> tuple[Any, Any, dict[str, Any]]:
    """The execution parts of a session spec, validated by the config models."""
    if execution is None:
        return None, None, {}
    from stratagem._builtin.brokers import stratagem_brokers
    from stratagem._config.models import ExecutionConfig, StrategyExecutionConfig
    from stratagem._plugins.failures import PluginRef

    config = ExecutionConfig.model_validate(dict(execution))
    (paper,) = [spec for spec in stratagem_brokers() if spec.name == config.broker]
    ref = PluginRef(
        "broker", paper.name, "stratagem", "-", config.on_error, config.max_errors
    )
    default = {"sizing": {"kind": "fixed_qty", "qty": 1}}
    chosen = {sid: (trading or {}).get(sid, default) for sid, _, _ in entries}
    if trading is not None:
        chosen = {sid: dict(value) for sid, value in trading.items()}
    per_strategy = {
        sid: StrategyExecutionConfig.model_validate(dict(value))
        for sid, value in chosen.items()
    }
    return config, (ref, paper), per_strategy


def run_strategy(
    strategy: type[Strategy] | Sequence[tuple[str, type[Strategy], StrategyConfig]],
    config: StrategyConfig | Mapping[str, Any] | None = None,
    bars: Mapping[str, BarArrays] | None = None,
    *,
    derived_intervals: Sequence[int] = (5, 15),
    source: BarSource | None = None,
    speed_multiplier: float = 0.0,
    start_ns: int | None = None,
    end_ns: int | None = None,
    warmup_bars: int = 200,
    scanners: Sequence[tuple[str, Scanner]] = (),
    instance_options: Mapping[str, Any] | None = None,
    join_timeout_s: float = 5.0,
    execution: Mapping[str, Any] | None = None,
    trading: Mapping[str, Mapping[str, Any]] | None = None,
    base_interval: str = "1m",
) -> StrategyRunResult:
    """Run strategies over bars through the real runtime and return the outcome.

    The session is built by :func:`stratagem.build_session`, as ``stratagem run``
    builds it: real threads, the real processor and derived bars.

    :param strategy: a Strategy subclass (with ``config``), or a sequence of
        ``(id, strategy_cls, config)`` for several instances.
    :param config: the strategy's config (instance or dict) when one class is given.
    :param bars: base bars (``base_interval``) per symbol; the session's symbols, in
        this order.
    :param derived_intervals: derived widths in minutes, whole multiples of the base.
    :param source: a source for symbols that scanners add (default: ``bars`` only).
    :param speed_multiplier: 0 for data-driven, N for clock-driven at N x.
    :param start_ns: session start (bars before it are warm-up history).
    :param end_ns: session end, exclusive.
    :param warmup_bars: history rows per series published when a symbol joins.
    :param scanners: ``(name, scanner)`` pairs polled after every step.
    :param instance_options: ``StrategyInstance`` fields (``on_error``,
        ``backpressure``, ``callback_timeout_s`` …) applied to every instance.
    :param join_timeout_s: how long the end of the session waits for each thread.
    :param execution: the session's ``execution`` block (as in a session config,
        e.g. ``{"initial_cash": 100000, "fee_rate": 0.001}``; broker ``paper`` by
        default); signals then become orders, fills and a portfolio.
    :param trading: per strategy id, its ``execution`` entry (``{"sizing": {"kind":
        "fixed_qty", "qty": 1}, "direction": "long_short"}``); by default every
        strategy trades with ``fixed_qty`` 1, ``long_short``.
    :param base_interval: the width of ``bars``: ``"1m"``, ``"1h"``, ``"1d"`` ….
    :raises Exception: what ended the session, if something did (a
        :class:`stratagem.StartupError`, bad data); strategy failures are not raised
        but follow their policy and are listed in ``failures``.
    """
    from stratagem._data.intervals import interval_minutes
    from stratagem._plugins.failures import PluginRef
    from stratagem._runtime.thread import StrategyInstance
    from stratagem._session.build import SessionSpec, build_session
    from stratagem._strategy import StrategyConfig

    if isinstance(strategy, type):
        cfg = config if isinstance(config, StrategyConfig) else None
        if cfg is None:
            cfg = strategy.config_class.model_validate(dict(config or {}))
        entries = [(getattr(strategy, "name", strategy.__name__), strategy, cfg)]
    else:
        entries = list(strategy)
    bars = dict(bars or {})
    if source is None:
        source = MemorySource(
            {(symbol, base_interval): arrays for symbol, arrays in bars.items()}
        )
    options = dict(instance_options or {})
    exec_config, broker, per_strategy = _execution(execution, trading, entries)
    spec = SessionSpec(
        symbols=list(bars),
        strategies=[
            StrategyInstance(
                id=sid,
                strategy_cls=cls,
                config=cfg,
                execution=per_strategy.get(sid),
                **options,
            )
            for sid, cls, cfg in entries
        ],
        execution=exec_config,
        broker=broker,
        source=source,
        derived_minutes=tuple(derived_intervals),
        base_minutes=interval_minutes(base_interval),
        speed_multiplier=speed_multiplier,
        start_ns=start_ns,
        end_ns=end_ns,
        warmup_bars=warmup_bars,
        scanners=[(PluginRef("scanner", name), scanner) for name, scanner in scanners],
        join_timeout_s=join_timeout_s,
    )
    session = build_session(spec)
    outcome = session.run()
    if outcome.error is not None:
        raise outcome.error
    return StrategyRunResult(
        signals=outcome.signals,
        metrics=outcome.metrics["strategies"],
        data=session.data,
        result=outcome.result,
        failures=outcome.failures,
        session=session,
        portfolio=outcome.portfolio,
    )


# --- the warm-up invariant ----------------------------------------------------------

#: what makes two signals the same one for the warm-up invariant
SignalKey = tuple[str, str, str, int, str]


def _key(signal: Signal) -> SignalKey:
    return (
        signal.strategy,
        signal.symbol,
        signal.interval,
        signal.bar_ts,
        str(signal.side),
    )


@dataclass
class WarmupCheck:
    """A run that began late beside the run that went all along: the warm-up
    invariant holds when the late run gives exactly the whole run's signals from
    the late start on (the first bar it delivers included), and no other.

    Signals are compared by strategy, symbol, interval, bar and side, as a whole
    and not by their order: a symbol that joins late comes after the others in the
    session, so the signals of one step may be listed in another order.

    :param whole: the signals of the run that went all along.
    :param late: the signals of the run that began at ``from_ns``, or in which
        ``symbol`` joined at ``from_ns``.
    :param from_ns: the late start, int64 ns.
    :param symbol: the symbol that joined late; None when the whole run started
        late.
    """

    whole: list[Signal]
    late: list[Signal]
    from_ns: int
    symbol: str | None = None

    @property
    def expected(self) -> list[Signal]:
        """The whole run's signals the late run must give, in order."""
        return [
            s
            for s in self.whole
            if s.bar_ts >= self.from_ns
            or (self.symbol is not None and s.symbol != self.symbol)
        ]

    @property
    def first(self) -> list[Signal]:
        """The expected signals on the first bar the late run delivers (of the
        joining symbol, for a join): the ones only a seeded state can give."""
        return [
            s
            for s in self.expected
            if s.bar_ts == self.from_ns and self.symbol in (None, s.symbol)
        ]

    @property
    def missed(self) -> list[Signal]:
        """Expected signals the late run did not give (a short warm-up misses the
        first crossings)."""
        given = {_key(s) for s in self.late}
        return [s for s in self.expected if _key(s) not in given]

    @property
    def extra(self) -> list[Signal]:
        """Signals of the late run the whole run did not give."""
        wanted = {_key(s) for s in self.expected}
        return [s for s in self.late if _key(s) not in wanted]

    @property
    def holds(self) -> bool:
        return sorted(map(_key, self.late)) == sorted(map(_key, self.expected))

    def assert_holds(self) -> None:
        """:raises AssertionError: naming the first signals missed or extra."""
        if self.holds:
            return
        from stratagem._data.timefmt import format_ts

        def listed(signals: list[Signal]) -> str:
            shown = [
                f"{s.symbol} {s.interval} {format_ts(s.bar_ts)} {s.side}"
                for s in signals[:5]
            ]
            more = len(signals) - len(shown)
            return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

        who = f"{self.symbol} joining" if self.symbol else "a run starting"
        when = format_ts(self.from_ns)
        lines = [f"{who} at {when} does not give the whole run's signals:"]
        if self.missed:
            lines.append(f"missed {len(self.missed)}: {listed(self.missed)}")
        if self.extra:
            lines.append(f"gave {len(self.extra)} more: {listed(self.extra)}")
        if not (self.missed or self.extra):
            lines.append("some signal was given more or fewer times")
        raise AssertionError("\n".join(lines))


def _ns(moment: int | str) -> int:
    from stratagem._data.timefmt import parse_ts

    return parse_ts(moment) if isinstance(moment, str) else int(moment)


def check_late_start(
    strategy: type[Strategy],
    config: StrategyConfig | Mapping[str, Any] | None,
    bars: Mapping[str, BarArrays],
    *,
    start: int | str,
    end: int | str | None = None,
    **options: Any,
) -> WarmupCheck:
    """Run ``strategy`` over ``bars`` up to ``end``, and again from ``start`` (the
    bars before it are warm-up history); see :class:`WarmupCheck`.

    :param start: the late start: int64 ns or ISO-8601 text.
    :param end: the end of both runs (exclusive); None: the end of the bars.
    :param options: more :func:`run_strategy` arguments for both runs
        (``warmup_bars``, ``derived_intervals`` …).
    :raises AssertionError: when a strategy failed in either run.
    """
    start_ns = _ns(start)
    end_ns = None if end is None else _ns(end)
    whole = run_strategy(strategy, config, bars, end_ns=end_ns, **options)
    late = run_strategy(
        strategy, config, bars, start_ns=start_ns, end_ns=end_ns, **options
    )
    _no_failures(whole, late)
    return WarmupCheck(whole.signals, late.signals, start_ns)


def _no_failures(whole: StrategyRunResult, late: StrategyRunResult) -> None:
    """A strategy that failed in either run leaves nothing to compare."""
    for name, run in (("whole", whole), ("late", late)):
        if run.failures:
            said = "; ".join(
                f"{f.plugin.id} in {f.hook}: {f.error}" for f in run.failures
            )
            raise AssertionError(f"the {name} run had failures: {said}")


def check_late_join(
    strategy: type[Strategy],
    config: StrategyConfig | Mapping[str, Any] | None,
    bars: Mapping[str, BarArrays],
    *,
    symbol: str,
    joins: int | str,
    start: int | str | None = None,
    end: int | str | None = None,
    **options: Any,
) -> WarmupCheck:
    """Run ``strategy`` over ``bars`` with every symbol from ``start``, and again
    with ``symbol`` added by a scanner at the first step at or after ``joins`` (the
    check's ``from_ns``; its bars before that are its warm-up history); see
    :class:`WarmupCheck`.

    :param symbol: the symbol that joins; one of ``bars``.
    :param joins: when it joins: int64 ns or ISO-8601 text.
    :param start: the start of both runs; None: the first bar.
    :param end: the end of both runs (exclusive); None: the end of the bars.
    :param options: more :func:`run_strategy` arguments for both runs.
    :raises AssertionError: when a strategy failed in either run, or the symbol
        never joined (the run ended first).
    """
    joins_ns = _ns(joins)
    window = {
        "start_ns": None if start is None else _ns(start),
        "end_ns": None if end is None else _ns(end),
    }
    base = options.get("base_interval", "1m")
    whole = run_strategy(strategy, config, bars, **window, **options)
    late = run_strategy(
        strategy,
        config,
        {s: b for s, b in bars.items() if s != symbol},
        source=MemorySource({(s, base): b for s, b in bars.items()}),
        scanners=[("join", AddSymbolAt(symbol, joins_ns))],
        **window,
        **options,
    )
    _no_failures(whole, late)
    joined = [i.time_ns for i in late.result.insertions if i.symbol == symbol]
    if not joined:
        from stratagem._data.timefmt import format_ts

        raise AssertionError(
            f"{symbol} never joined: the run had no step at or after "
            f"{format_ts(joins_ns)}"
        )
    return WarmupCheck(whole.signals, late.signals, joined[0], symbol)


# --- the pytest plugin (entry point ``pytest11: stratagem``) ---------------------


@pytest.fixture(name="plugin_manager")
def _plugin_manager_fixture() -> pluggy.PluginManager:
    """A fresh pluggy PluginManager with stratagem's hook specifications and no
    plugin: register yours and call its hooks as stratagem would."""
    from stratagem._plugins.hooks import new_plugin_manager

    return new_plugin_manager()


@pytest.fixture(name="bars_factory")
def _bars_factory_fixture() -> Callable[..., BarArrays]:
    """stratagem.testing.make_bars: ``bars_factory(closes, start=..., minutes=1,
    open=, high=, low=, volume=, skip=)`` builds bars from a list of closes."""
    return make_bars


@pytest.fixture(name="run_strategy")
def _run_strategy_fixture() -> Callable[..., StrategyRunResult]:
    """stratagem.testing.run_strategy: ``run_strategy(StrategyClass, config,
    {symbol: bars}, ...)`` runs it through the real runtime, returns its signals."""
    return run_strategy
