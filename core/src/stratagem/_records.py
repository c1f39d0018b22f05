"""Frozen records exchanged between plugins and the runtime."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Integral
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratagem._strategy import Strategy, StrategyConfig

#: ``(symbol, interval)``, e.g. ``("ETH_BTC", "5m")``: the key of one bar series
SeriesKey = tuple[str, str]


class Side(StrEnum):
    """Direction of a signal."""

    BUY = "buy"
    SELL = "sell"


class Mode(StrEnum):
    """How the session clock advances (DESIGN section 5)."""

    DATA_DRIVEN = "data-driven"
    CLOCK_DRIVEN = "clock-driven"
    LIVE = "live"


class ErrorPolicy(StrEnum):
    """What happens to a plugin that raises (or hangs), for every plugin kind."""

    CONTINUE = "continue"
    QUARANTINE = "quarantine"
    STOP = "stop"


class Backpressure(StrEnum):
    """A strategy inbox's policy when it is full (clock-driven and live runs)."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    COALESCE = "coalesce"


class ValidationPolicy(StrEnum):
    """What loading does with a bar that fails validation."""

    REJECT = "reject"
    DROP = "drop"


class RunStatus(StrEnum):
    """Outcome of a session (``manifest.json`` ``status``)."""

    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StrategyState(StrEnum):
    """Lifecycle state of one strategy instance, as metrics report it."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    QUARANTINED = "quarantined"
    HUNG = "hung"
    FAILED = "failed"


_SIDES = {member.value: member for member in Side}


class SignalError(ValueError):
    """A strategy emitted a signal that is not well formed."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One trading signal, computed on one published bar.

    :param symbol: the symbol the signal is about.
    :param interval: the interval of the bar it was computed on, e.g. ``"5m"``.
    :param bar_ts: open time of that bar, int64 nanoseconds since the epoch (UTC).
    :param side: ``"buy"`` or ``"sell"``.
    :param strength: optional conviction, a finite float.
    :param reason: optional free text for reports.
    :param strategy: id of the emitting strategy instance; filled by ``ctx.emit``.
    :param emitted_ns: wall time of emission (``time.time_ns()``); filled by
        ``ctx.emit``.
    :param partial: computed on a developing bar (a window still open); filled by
        ``ctx.emit``.
    """

    symbol: str
    interval: str
    bar_ts: int
    side: Side
    strength: float | None = None
    reason: str | None = None
    strategy: str = ""
    emitted_ns: int = 0
    partial: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise SignalError(
                f"signal symbol must be a non-empty str, got {self.symbol!r}"
            )
        if not isinstance(self.interval, str) or not self.interval:
            raise SignalError(
                f"signal interval must be a non-empty str, got {self.interval!r}"
            )
        if isinstance(self.bar_ts, bool) or not isinstance(self.bar_ts, Integral):
            raise SignalError(
                "signal bar_ts must be int nanoseconds, got "
                f"{type(self.bar_ts).__name__}"
            )
        object.__setattr__(self, "bar_ts", int(self.bar_ts))
        side = _SIDES.get(self.side) if isinstance(self.side, str) else None
        if side is None:
            raise SignalError(f"signal side must be 'buy' or 'sell', got {self.side!r}")
        object.__setattr__(self, "side", side)
        if self.strength is not None and not (
            isinstance(self.strength, int | float) and math.isfinite(self.strength)
        ):
            raise SignalError(
                f"signal strength must be a finite number, got {self.strength!r}"
            )
        if self.reason is not None and not isinstance(self.reason, str):
            raise SignalError(f"signal reason must be str, got {self.reason!r}")

    def stamped(
        self, *, strategy: str, interval: str, emitted_ns: int, partial: bool = False
    ) -> Signal:
        """This signal with its emitter filled in (fields already validated)."""
        copy = object.__new__(Signal)
        for name in _SIGNAL_FIELDS:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "strategy", strategy)
        object.__setattr__(copy, "interval", interval)
        object.__setattr__(copy, "emitted_ns", emitted_ns)
        object.__setattr__(copy, "partial", partial)
        return copy


_SIGNAL_FIELDS = ("symbol", "bar_ts", "side", "strength", "reason")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar as a record, e.g. the developing bar of a window still open.

    :param ts: open time (the window's start), int64 ns since the epoch (UTC).
    :param open: first open.
    :param high: highest high.
    :param low: lowest low.
    :param close: last close.
    :param volume: summed volume.
    :param quality: 100 x base bars present / base bars the window can hold.
    """

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quality: float


@dataclass(frozen=True, slots=True)
class LiveBar:
    """One closed base bar from a live feed, as a live data source yields it.

    :param symbol: the session's symbol.
    :param ts: open time, int64 ns since the epoch (UTC).
    :param open: open price.
    :param high: high price.
    :param low: low price.
    :param close: close price.
    :param volume: volume.
    """

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A strategy offered by a plugin through ``stratagem_strategies``.

    :param name: the name configs use in ``module`` (e.g. ``"ma_cross"``).
    :param strategy: the :class:`stratagem.Strategy` subclass.
    :param config: its :class:`stratagem.StrategyConfig` subclass.
    :param description: one line for ``stratagem plugins``.
    """

    name: str
    strategy: type[Strategy]
    config: type[StrategyConfig]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ScannerSpec:
    """A scanner offered through ``stratagem_scanners``.

    :param name: the name configs use in ``scanners[].name``.
    :param factory: ``factory(config: dict, universe: list[str]) -> Scanner``; the
        returned object has ``scan(session) -> list[str]`` and is polled by the
        session thread at every clock step.
    :param config: pydantic model validating the scanner's ``config`` object.
    :param description: one line for ``stratagem plugins``.
    """

    name: str
    factory: Callable[..., Any]
    config: type[Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class DataSourceSpec:
    """A bar data source offered through ``stratagem_data_sources``.

    :param name: the name configs use in ``data.source`` (``"csv"``, ``"parquet"``).
    :param factory: ``factory(root: Path, options: dict) -> BarSource``.
    :param description: one line for ``stratagem plugins``.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""


class EmptyWindows(StrEnum):
    """What a derived window without a base bar gives (DESIGN section 15)."""

    SKIP = "skip"
    FILL = "fill"


class BookMode(StrEnum):
    """How strategies' orders are booked (DESIGN section 10)."""

    INDEPENDENT = "independent"
    NET = "net"


class Direction(StrEnum):
    """Which targets a strategy's signals map to."""

    LONG_SHORT = "long_short"
    LONG_ONLY = "long_only"


class SizingKind(StrEnum):
    """How the size of a target is computed at decision time."""

    FIXED_QTY = "fixed_qty"
    FIXED_NOTIONAL = "fixed_notional"
    PERCENT_EQUITY = "percent_equity"


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed order of a book, handed to ``stratagem_on_fill``.

    :param ts: open time of the 1m bar it filled at, int64 ns since the epoch (UTC).
    :param book: the book's id: the strategy id (``independent`` books) or ``"net"``.
    :param symbol: the symbol traded.
    :param side: ``buy`` or ``sell``.
    :param qty: the quantity traded, positive.
    :param price: the price paid or received, slippage included.
    :param fee: the fee paid, in cash units.
    :param decision_ns: the decision time of the order it filled.
    :param strategies: the strategy ids whose signals made the order.
    """

    ts: int
    book: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    decision_ns: int = 0
    strategies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    """A market order of one book, as a broker receives it.

    :param book: the book's id.
    :param symbol: the symbol to trade.
    :param qty: signed quantity: positive buys, negative sells.
    :param decision_ns: the decision time: the order fills at the first 1m bar of
        ``symbol`` whose open time is at or after it.
    :param strategies: the strategy ids whose signals made it.
    """

    book: str
    symbol: str
    qty: float
    decision_ns: int
    strategies: tuple[str, ...] = ()

    @property
    def side(self) -> Side:
        return Side.BUY if self.qty > 0 else Side.SELL


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    """A broker offered through ``stratagem_brokers`` (the built-in ``paper`` one
    takes the same path).

    :param name: the name configs use in ``execution.broker``.
    :param factory: ``factory(config) -> Broker``, called with the session's
        validated ``execution`` block.
    :param description: one line for ``stratagem plugins``.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ReporterSpec:
    """A metrics reporter with a typed config, offered through
    ``stratagem_reporters``.

    :param name: the name configs list in ``reporters``, alone or as
        ``{"name": ..., "config": {...}}``.
    :param factory: ``factory(config) -> Reporter``, called once per session on the
        main thread while the session is built, with the entry's ``config``
        validated by ``config``; the :class:`stratagem.Reporter` it returns gets
        every report of that session, then ``close()`` once when it ends.
    :param config: pydantic model class validating the entry's ``config`` (its
        fields appear in ``stratagem schema``).
    :param description: one line for ``stratagem plugins``.
    """

    name: str
    factory: Callable[..., Any]
    config: type[Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """A snapshot of the session's metrics, handed to ``stratagem_report_metrics``.

    :param system: session totals: ``mode``, ``speed_multiplier``, ``bars_in``,
        ``wall_s``, ``bars_per_s``, ``bottleneck`` and more.
    :param strategies: per strategy instance id, its metrics (``notifications``,
        ``avg_ms``, ``p50_ms``, ``p99_ms``, ``max_ms``, ``queue_size``, ``queue_max``,
        ``overruns``, ``dropped``, ``errors``, ``signals``, latency, ``state``, and
        the timing histograms ``hist_ms``, ``wait_hist_ms`` and
        ``signal_latency_hist_ms``: ``{"edges": [...], "counts": [...]}``).
    :param final: true for the last report of the session.
    """

    system: Mapping[str, Any]
    strategies: Mapping[str, Mapping[str, Any]]
    final: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
