"""The strategy API: :class:`Strategy`, :class:`StrategyConfig` and
:class:`StrategyContext`."""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from stratagem import hookspecs
from stratagem._data.intervals import IntervalError, canonical_interval
from stratagem._data.session_data import Bars
from stratagem._model import FrozenModel
from stratagem._records import Bar, Fill, Side, Signal, SignalError

if TYPE_CHECKING:
    from stratagem._data.session_data import BarSeries, SessionData

hookimpl = hookspecs.hookimpl

HOOK_NAMES = tuple(
    name for name in dir(hookspecs) if name.startswith(f"{hookspecs.PROJECT_NAME}_")
)
LIFECYCLE = (
    "on_start",
    "on_bars",
    "on_symbol_added",
    "on_fill",
    "on_stop",
    "on_save",
    "on_load",
)


class SubscriptionError(ValueError):
    """A strategy subscribed to a series the session does not have."""


class StrategyConfig(FrozenModel):
    """Base class of every strategy's config: frozen, unknown keys rejected.

    Subclasses add fields with ``Field(description=...)`` and cross-field rules in a
    ``model_validator``. ``intervals_used()`` lets ``stratagem validate`` check that the
    session derives every interval the strategy will ask for.
    """

    def intervals_used(self) -> list[str]:
        """Intervals this config refers to (fields ``interval`` and ``intervals``)."""
        found: list[str] = []
        for name in ("interval", "intervals"):
            value = getattr(self, name, None)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list | tuple):
                found.extend(v for v in value if isinstance(v, str))
        return found

    def symbols_used(self) -> list[str]:
        """Symbols this config refers to (field ``symbols``)."""
        value = getattr(self, "symbols", None)
        return list(value) if isinstance(value, list | tuple) else []


class Strategy:
    """Base class of bar-driven strategies.

    Override the lifecycle methods you need; the base class wires them to the
    ``stratagem_on_*`` hooks. Each instance runs in its own thread and is only ever
    called from it.

    :param config: the validated instance of :attr:`config_class`.
    """

    config_class: ClassVar[type[StrategyConfig]] = StrategyConfig
    #: take a data-driven batch of steps in one ``on_bars`` call per series (every
    #: new bar at once: ``ctx.new_bars`` of them), to evaluate them vectorised.
    #: Signals, their order and their decision times stay those of bar-by-bar
    #: delivery; views are as of the batch's last step, and a subscription made in
    #: ``on_bars`` takes effect after the batch. Ignored in clock-driven and live
    #: runs, for a strategy whose signals trade (it hears its fills between bars),
    #: and while it has ``partial`` subscriptions.
    batch_delivery: ClassVar[bool] = False

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if name.startswith(f"{hookspecs.PROJECT_NAME}_"):
                if name not in HOOK_NAMES:
                    hint = difflib.get_close_matches(name, HOOK_NAMES, n=1)
                    raise TypeError(
                        f"{cls.__qualname__}.{name} is not a stratagem hook"
                        + (f"; did you mean {hint[0]}?" if hint else "")
                    )
                if not hasattr(value, f"{hookspecs.PROJECT_NAME}_impl"):
                    raise TypeError(
                        f"{cls.__qualname__}.{name} overrides a hook without "
                        "@hookimpl; pluggy would ignore it silently (override "
                        f"{name.removeprefix('stratagem_')} instead)"
                    )
            elif name.startswith("on_") and name not in LIFECYCLE:
                hint = difflib.get_close_matches(name, LIFECYCLE, n=1, cutoff=0.85)
                if hint:
                    raise TypeError(
                        f"{cls.__qualname__}.{name} is not a lifecycle method and "
                        f"would never be called; did you mean {hint[0]}?"
                    )

    # --- lifecycle, overridden by strategies -------------------------------------

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once in the strategy's thread before any bar; subscribe here."""

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        """Called when a subscribed series grew at a clock step.

        ``ctx.bars(symbol, interval)[-1]`` is the newest bar; ``ctx.new_bars`` says
        how many bars are new since the previous call for this series (more than one
        when a step closed several windows or backpressure skipped steps).
        """

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        """Called when a symbol joins mid-session, after its history is published."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Called with each fill of this strategy's book, before the next
        ``on_bars``; ``ctx.position(symbol)`` already includes it."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """Called once at the end, after the last delivery."""

    def on_save(self, ctx: StrategyContext) -> dict[str, Any] | None:
        """The instance's own state, as JSON-serialisable data, for the run's
        journal (checkpoints, ``--resume``, hot reload); None keeps nothing.

        The runtime journals subscriptions, position and signals itself; return
        what :meth:`on_load` needs to continue exactly where this instance is.
        """
        return None

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        """Restore what :meth:`on_save` returned; called after ``on_start``, before
        the first delivery of a resumed or reloaded session."""

    # --- hook wiring ------------------------------------------------------------

    @hookimpl
    def stratagem_on_start(self, ctx: StrategyContext) -> None:
        self.on_start(ctx)

    @hookimpl
    def stratagem_on_bars(
        self, ctx: StrategyContext, symbol: str, interval: str
    ) -> None:
        self.on_bars(ctx, symbol, interval)

    @hookimpl
    def stratagem_on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        self.on_symbol_added(ctx, symbol)

    @hookimpl
    def stratagem_on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        self.on_fill(ctx, fill)

    @hookimpl
    def stratagem_on_stop(self, ctx: StrategyContext) -> None:
        self.on_stop(ctx)

    @hookimpl
    def stratagem_on_save(self, ctx: StrategyContext) -> dict[str, Any] | None:
        return self.on_save(ctx)

    @hookimpl
    def stratagem_on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        self.on_load(ctx, state)


class StrategyContext:
    """What a strategy instance sees of the session.

    Created by the runtime, one per instance, and used only from that instance's
    thread. Bar views are as of the notification being handled: a strategy never sees
    a bar published after its event.
    """

    def __init__(
        self,
        strategy_id: str,
        config: StrategyConfig,
        data: SessionData,
        mode: str,
        emit: Callable[[Signal], None],
        on_subscriptions_changed: Callable[[], None],
    ) -> None:
        self.id = strategy_id
        self.config = config
        self.mode = mode
        self.log = logging.getLogger(f"stratagem.strategy.{strategy_id}")
        self._data = data
        self._emit = emit
        self._on_subscriptions_changed = on_subscriptions_changed
        self.subscriptions: frozenset[tuple[str, str]] = frozenset()
        #: series also notified while their window is open (``partial=True``)
        self.partial: frozenset[tuple[str, str]] = frozenset()
        #: what the runtime routes to this strategy: its subscriptions and the base
        #: series of its partial ones (a new object when it changes)
        self.routing: frozenset[tuple[str, str]] = frozenset()
        self._developing_by_base: dict[tuple[str, str], list[tuple[str, str]]] = {}
        # set by the strategy thread for each step it handles
        self.time_ns = 0
        #: bars of the notified series published since this strategy's previous
        #: notification of it: usually 1, more when one clock step closed several
        #: windows (a gap) or backpressure dropped or coalesced steps
        self.new_bars = 0
        self._cur_key: tuple[str, str] | None = None
        self._cur_n = 0
        self._seen: dict[tuple[str, str], int] = {}
        self._series_cache: dict[tuple[str, str], BarSeries] = {}
        #: the book's position per symbol, as of the fills delivered so far
        self._positions: dict[str, float] = {}

    # --- data ---------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Symbols currently in the session."""
        return self._data.symbols

    @property
    def intervals(self) -> list[str]:
        """Intervals the session publishes."""
        return self._data.intervals

    def bars(self, symbol: str, interval: str) -> Bars:
        """Read-only zero-copy view of ``(symbol, interval)`` as of this step."""
        key = (symbol, interval)
        series = self._series_cache.get(key)
        if series is None:
            series = self._data.series(symbol, interval)
            self._series_cache[key] = series
        if key == self._cur_key:
            return Bars(series, self._cur_n)
        return Bars(series, series.visible_at(self.time_ns))

    def position(self, symbol: str) -> float:
        """This strategy's book's position in ``symbol`` (signed quantity) as of the
        fills delivered to it so far; 0.0 without execution or before any fill."""
        return self._positions.get(symbol, 0.0)

    def _apply_fill(self, fill: Fill) -> None:
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        self._positions[fill.symbol] = self._positions.get(fill.symbol, 0.0) + signed

    # --- subscriptions ----------------------------------------------------------

    def subscribe(self, symbol: str, interval: str, *, partial: bool = False) -> None:
        """Receive ``on_bars`` for ``(symbol, interval)`` from the next clock step.

        :param partial: also be notified at every step at which a base bar lands in
            a window of that series still open; read the open window's bar with
            :meth:`developing`.
        :raises SubscriptionError: when the session has no such series.
        """
        key = self._check_series(symbol, interval)
        if key not in self.subscriptions:
            # history already visible is not "new" at the first notification
            self._seen[key] = self._data.series(*key).visible_at(self.time_ns)
            self.subscriptions = self.subscriptions | {key}
        if partial and key[1] != self._data.base_interval:
            self.partial = self.partial | {key}
        self._reroute()

    def _reroute(self) -> None:
        base = self._data.base_interval
        developing: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for key in sorted(self.partial):
            developing.setdefault((key[0], base), []).append(key)
        self._developing_by_base = developing
        routing = self.subscriptions | set(developing)
        if routing != self.routing:
            self.routing = routing
            self._on_subscriptions_changed()

    def developing(self, symbol: str, interval: str) -> Bar | None:
        """The bar of ``(symbol, interval)``'s window still open now, from the base
        bars closed by the current session time (no look-ahead); None when no window
        is open. When the window closes, the closed bar is published as usual.
        """
        key = self._check_series(symbol, interval)
        bar = self._data.developing(key[0], key[1], self.time_ns)
        if bar is not None:
            closed = self.bars(*key)
            # the session's end closes every open window: then it is a closed bar
            if len(closed) and closed.newest_ts >= bar.ts:
                return None
        return bar

    def unsubscribe(self, symbol: str, interval: str) -> None:
        """Stop receiving ``(symbol, interval)`` from the next clock step."""
        try:
            key = (symbol, canonical_interval(interval))
        except IntervalError as exc:
            raise SubscriptionError(f"strategy {self.id!r}: {exc}") from None
        if key in self.subscriptions:
            self.subscriptions = self.subscriptions - {key}
            self.partial = self.partial - {key}
            self._reroute()

    def _check_series(self, symbol: str, interval: str) -> tuple[str, str]:
        try:
            key = (symbol, canonical_interval(interval))
        except IntervalError as exc:
            raise SubscriptionError(f"strategy {self.id!r}: {exc}") from None
        if key not in self._data:
            symbols = self._data.symbols
            if symbol not in symbols:
                hint = difflib.get_close_matches(symbol, symbols, n=1)
                raise SubscriptionError(
                    f"strategy {self.id!r} subscribed to symbol {symbol!r}, which is "
                    f"not in the session (symbols: {', '.join(symbols)})"
                    + (f"; did you mean {hint[0]!r}?" if hint else "")
                )
            raise SubscriptionError(
                f"strategy {self.id!r} subscribed to {symbol} {interval}, but the "
                f"session does not derive {interval} (intervals: "
                f"{', '.join(self._data.intervals)}); add it to "
                "streaming.data_upkeep.derived_intervals"
            )
        return key

    # --- signals ------------------------------------------------------------------

    def emit(self, signal: Signal) -> Signal:
        """Record a signal; returns it stamped with strategy id and emission time.

        :raises SignalError: when the signal names a series the session lacks or a
            bar that is not visible yet.
        """
        if not isinstance(signal, Signal):
            raise SignalError(
                f"strategy {self.id!r} emitted {type(signal).__name__}, not a Signal"
            )
        key = (signal.symbol, signal.interval)
        if key != self._cur_key:
            try:
                key = (signal.symbol, canonical_interval(signal.interval))
            except IntervalError as exc:
                raise SignalError(f"strategy {self.id!r}: {exc}") from None
            if key not in self._data:
                raise SignalError(
                    f"strategy {self.id!r} emitted a signal for {signal.symbol} "
                    f"{signal.interval}, which the session does not have"
                )
        bars = self.bars(*key)
        partial = False
        if len(bars) == 0 or signal.bar_ts > bars.newest_ts:
            open_bar = self.developing(*key) if key in self.partial else None
            if open_bar is None or open_bar.ts != signal.bar_ts:
                raise SignalError(
                    f"strategy {self.id!r} emitted a signal on bar {signal.bar_ts} "
                    f"of {signal.symbol} {signal.interval}, which it cannot have "
                    "seen yet"
                )
            partial = True
        stamped = signal.stamped(
            strategy=self.id,
            interval=key[1],
            emitted_ns=time.time_ns(),
            partial=partial,
        )
        self._emit(stamped)
        return stamped
