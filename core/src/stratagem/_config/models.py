"""Session config models (pydantic v2).

The seed format (``session_data_config`` with ``symbols``, ``streams``, ``streaming``
and ``strategies``) validates unchanged; everything stratagem adds is optional with a
default. Strategy ``config`` objects are validated in a second phase by each strategy's
own config class (see :mod:`stratagem._config.loading`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from stratagem._data.intervals import (
    IntervalError,
    canonical_interval,
    interval_minutes,
    interval_name,
)
from stratagem._model import FrozenModel as _Model
from stratagem._records import (
    Backpressure,
    BookMode,
    Direction,
    EmptyWindows,
    ErrorPolicy,
    SizingKind,
    ValidationPolicy,
)


class DataUpkeepConfig(_Model):
    enabled: bool = Field(True, description="Build derived bars from the base stream.")
    derived_intervals: list[int | str] = Field(
        default_factory=list,
        description="Derived bar widths: minutes ([5, 15]) or interval names "
        "(['4h', '1d']), each a whole multiple of the base stream's width.",
    )

    @field_validator("derived_intervals")
    @classmethod
    def _widths(cls, value: list[int | str]) -> list[int | str]:
        minutes = []
        for item in value:
            if isinstance(item, str):
                try:
                    width = interval_minutes(item)
                except IntervalError as exc:
                    raise ValueError(str(exc)) from None
            elif item <= 0:
                raise ValueError(f"derived interval {item} must be positive minutes")
            else:
                width = item
            minutes.append(width)
        if len(set(minutes)) != len(minutes):
            raise ValueError("derived intervals must not repeat")
        return value

    @property
    def minutes(self) -> list[int]:
        """The derived widths in minutes, as given (names converted)."""
        return [
            interval_minutes(item) if isinstance(item, str) else item
            for item in self.derived_intervals
        ]


class StreamingConfig(_Model):
    data_upkeep: DataUpkeepConfig = Field(
        default_factory=DataUpkeepConfig, description="Derived-bar upkeep."
    )


class DataConfig(_Model):
    source: str = Field(
        "csv", description="Registered data source name: 'csv' or 'parquet' built in."
    )
    path: str | None = Field(
        None,
        description="Folder laid out <interval>/<SYMBOL>.<ext>; relative to the config "
        "file. `stratagem run --data DIR` overrides it.",
    )
    validation: ValidationPolicy = Field(
        ValidationPolicy.REJECT,
        description="Bad bars: 'reject' refuses to start and lists them; 'drop' "
        "removes, counts and reports them.",
    )
    url: str | None = Field(
        None,
        description="A live source's address, e.g. 'ws://127.0.0.1:8765' for the "
        "websocket source.",
    )
    history: str | None = Field(
        None,
        description="A live source's warm-up history: a folder laid out like 'path' "
        "(relative to the config file); bars before the session start come from it.",
    )
    symbol_map: dict[str, str] = Field(
        default_factory=dict,
        description="A live source's symbol names to the session's, e.g. "
        "{'ETHBTC': 'ETH_BTC'} (default: the session symbol without '_').",
    )


class ScannerConfig(_Model):
    name: str = Field(description="Registered scanner name, e.g. 'schedule'.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Options validated by the scanner's own model.",
    )
    on_error: ErrorPolicy = Field(
        ErrorPolicy.QUARANTINE,
        description="When the scanner raises: 'continue' (poll it again), "
        "'quarantine' (stop polling it, the session goes on) or 'stop'.",
    )
    max_errors: int = Field(1, ge=1, description="Errors at which the policy applies.")


class ReporterEntry(_Model):
    """One item of 'reporters': a bare name in the file stands for {"name": NAME}."""

    name: str = Field(
        description="Registered reporter name, e.g. 'console', 'json', 'prometheus'."
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Options validated by the reporter's own model (reporters "
        "offered through stratagem_reporters; `stratagem schema` shows the installed "
        "ones).",
    )


class CalendarConfig(_Model):
    timezone: str = Field(
        "UTC",
        description="IANA time zone of the trading day, e.g. 'America/New_York'.",
    )
    day_start: str = Field(
        "00:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time a trading day starts, 'HH:MM' (e.g. '17:00').",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as "
                "'America/New_York'"
            ) from None
        return value


class BarsConfig(CalendarConfig):
    empty: EmptyWindows = Field(
        EmptyWindows.SKIP,
        description="A derived window without a base bar: 'skip' (no bar) or 'fill' "
        "(a flat bar at the previous close, volume 0, quality 0, between the first "
        "and last bars of a trading day).",
    )
    symbols: dict[str, CalendarConfig] = Field(
        default_factory=dict,
        description="Per-symbol trading days, e.g. {'FESX': {'timezone': "
        "'Europe/Berlin', 'day_start': '00:00'}}.",
    )


class SizingConfig(_Model):
    kind: SizingKind = Field(
        description="'fixed_qty' (qty), 'fixed_notional' (notional / last close at "
        "decision time) or 'percent_equity' (percent of the book's equity / last "
        "close)."
    )
    qty: float | None = Field(None, gt=0, description="Quantity, for 'fixed_qty'.")
    notional: float | None = Field(
        None, gt=0, description="Cash value per target, for 'fixed_notional'."
    )
    percent: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="Percent of the book's equity per target, for 'percent_equity'.",
    )

    @model_validator(mode="after")
    def _amount_for_kind(self) -> SizingConfig:
        needed = {
            SizingKind.FIXED_QTY: "qty",
            SizingKind.FIXED_NOTIONAL: "notional",
            SizingKind.PERCENT_EQUITY: "percent",
        }[self.kind]
        if getattr(self, needed) is None:
            raise ValueError(f"sizing kind '{self.kind}' needs {needed!r}")
        extra = [
            name
            for name in ("qty", "notional", "percent")
            if name != needed and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(
                f"sizing kind '{self.kind}' takes {needed!r}, not {extra[0]!r}"
            )
        return self


class StrategyExecutionConfig(_Model):
    sizing: SizingConfig = Field(description="How large a target is.")
    direction: Direction = Field(
        Direction.LONG_SHORT,
        description="'long_short': buy -> +qty, sell -> -qty; 'long_only': buy -> "
        "+qty, sell -> 0.",
    )


class ExecutionConfig(_Model):
    broker: str = Field("paper", description="Registered broker name.")
    initial_cash: float = Field(
        100_000.0, gt=0, description="Cash each book starts with."
    )
    fee_rate: float = Field(
        0.0, ge=0, lt=1, description="Fee as a fraction of traded value (0.001 = 0.1%)."
    )
    slippage_bps: float = Field(
        0.0, ge=0, lt=10_000, description="Slippage in basis points of the fill open."
    )
    books: BookMode = Field(
        BookMode.INDEPENDENT,
        description="'independent': one book per strategy instance; 'net': one book, "
        "the targets of all strategies on a symbol summed into one order.",
    )
    reject_insufficient_cash: bool = Field(
        False, description="Refuse a buy whose cost and fee exceed the book's cash."
    )
    days_per_year: int = Field(
        365,
        ge=1,
        le=366,
        description="Trading days a year, to annualise the Sharpe ratio: 365 for "
        "markets open every day (crypto), 252 for equities.",
    )
    on_error: ErrorPolicy = Field(
        ErrorPolicy.QUARANTINE,
        description="When the broker raises: 'continue' (ask again at the next "
        "step), 'quarantine' (stop executing, cancel and list pending orders; the "
        "session goes on) or 'stop'.",
    )
    max_errors: int = Field(1, ge=1, description="Errors at which the policy applies.")


class StrategyEntry(_Model):
    module: str = Field(
        description="Registered strategy name (e.g. 'ma_cross') or an import path "
        "'package.module:Class'."
    )
    enabled: bool = Field(True, description="Disabled entries are never imported.")
    id: str | None = Field(
        None,
        description="Instance id used in outputs; defaults to the module name, "
        "suffixed #2, #3 … when repeated.",
        pattern=r"^[A-Za-z0-9_.:#-]+$",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Options validated by the strategy's own config class.",
    )
    on_error: ErrorPolicy = Field(
        ErrorPolicy.QUARANTINE,
        description="After an exception: 'continue', 'quarantine' (stop delivering to "
        "it, the session goes on) or 'stop' (end the session as failed).",
    )
    max_errors: int = Field(
        1,
        ge=1,
        description="Errors at which the policy applies: 'quarantine' and 'stop' "
        "act on the max_errors-th error; 'continue' only counts them.",
    )
    backpressure: Backpressure = Field(
        Backpressure.DROP_OLDEST,
        description="Clock-driven/live inbox policy when full: 'block' (the hand-off "
        "waits for room, counted), 'drop_oldest' or 'coalesce' (latest per series).",
    )
    inbox_size: int = Field(
        1024, ge=1, description="Bound of the strategy's inbox, in clock steps."
    )
    callback_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Watchdog: a call running longer is dumped and quarantined.",
    )
    execution: StrategyExecutionConfig | None = Field(
        None,
        description="How this strategy's signals become orders; needs the session's "
        "'execution' block. Without it the strategy only emits signals.",
    )


#: ``checkpoint_every`` in the JSON schema: an integer or one of the two keys
_CHECKPOINT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {
            "type": "object",
            "properties": {
                "steps": {"type": "integer", "minimum": 1},
                "seconds": {"type": "number", "exclusiveMinimum": 0},
            },
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
        },
    ],
    "default": {"seconds": 60.0},
}


class CheckpointEvery(_Model):
    """``checkpoint_every``: every N steps or every S seconds; an integer N in the
    file is ``{"steps": N}``."""

    steps: int | None = Field(None, ge=1, description="Session steps between two.")
    seconds: float | None = Field(None, gt=0, description="Wall seconds between two.")

    @model_validator(mode="before")
    @classmethod
    def _integer_is_steps(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"steps": data}
        return data

    @model_validator(mode="after")
    def _one_of(self) -> CheckpointEvery:
        if (self.steps is None) == (self.seconds is None):
            raise ValueError("give exactly one of 'steps' and 'seconds'")
        return self


class SessionDataConfig(_Model):
    symbols: list[str] = Field(
        min_length=1, description="Symbols loaded at session start."
    )
    streams: list[str] = Field(
        default_factory=lambda: ["1m"],
        min_length=1,
        max_length=1,
        description="The base stream: one interval the data has ('1m', '5m', '1h', "
        "'1d'), read from <data>/<interval>/<SYMBOL>.csv; derived intervals are "
        "whole multiples of it.",
    )
    streaming: StreamingConfig = Field(
        default_factory=StreamingConfig, description="Streaming options."
    )
    strategies: list[StrategyEntry] = Field(
        default_factory=list, description="Strategy instances to run."
    )
    data: DataConfig = Field(default_factory=DataConfig, description="Bar data source.")
    speed_multiplier: float = Field(
        0.0,
        ge=0,
        description="0: data-driven (as fast as strategies allow, deterministic); "
        "N > 0: clock-driven replay at N x real time.",
    )
    start: datetime | None = Field(
        None, description="Session start (UTC); default: the first bar in the data."
    )
    end: datetime | None = Field(
        None, description="Session end (UTC, exclusive); default: after the last bar."
    )
    warmup_bars: int = Field(
        200,
        ge=0,
        description="History bars per interval published before a symbol added "
        "mid-session is announced to strategies.",
    )
    scanners: list[ScannerConfig] = Field(
        default_factory=list, description="Scanners that add symbols mid-session."
    )
    metrics_interval_s: float = Field(
        2.0, gt=0, description="Wall seconds between periodic metrics reports."
    )
    reporters: list[ReporterEntry] = Field(
        default_factory=lambda: [
            ReporterEntry(name="console"),
            ReporterEntry(name="json"),
        ],
        description="Metrics reporters to call, in order: a registered reporter name, "
        "or {'name': NAME, 'config': {...}} for a reporter that takes options.",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Other plugins to load for this run, by entry point name (for "
        "example one whose hook wrappers wrap discovery or reporting); a run imports "
        "only the plugins its config names.",
    )
    bars: BarsConfig = Field(
        default_factory=BarsConfig,
        description="Trading days derived windows restart at (time zone, day start, "
        "per-symbol overrides) and what an empty window gives; the defaults (UTC, "
        "00:00, skip) are UTC-aligned windows.",
    )
    execution: ExecutionConfig | None = Field(
        None,
        description="Paper (or broker) execution of the signals of the strategies "
        "that have an 'execution' entry; without it the session only emits signals.",
    )
    reporter_on_error: ErrorPolicy = Field(
        ErrorPolicy.QUARANTINE,
        description="When a reporter raises: 'continue' (call it again), "
        "'quarantine' (stop calling it, the session goes on) or 'stop'.",
    )
    checkpoint_every: Annotated[CheckpointEvery, WithJsonSchema(_CHECKPOINT_SCHEMA)] = (
        Field(
            default_factory=lambda: CheckpointEvery(seconds=60.0),
            validate_default=False,
            description="How often a run writes a checkpoint to its journal "
            "(state.sqlite in the run folder; also at stop): an integer counts session "
            'steps; {"steps": N} or {"seconds": S} (wall time) says which.',
        )
    )

    @field_validator(
        "reporters", mode="before", json_schema_input_type=list[str | ReporterEntry]
    )
    @classmethod
    def _named_reporters(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{"name": item} if isinstance(item, str) else item for item in value]

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not symbol or "/" in symbol or symbol.strip() != symbol:
                raise ValueError(f"symbol {symbol!r} is not a valid symbol name")
        if len(set(value)) != len(value):
            raise ValueError("symbols must not repeat")
        return value

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: list[str]) -> list[str]:
        for name in value:
            try:
                interval_minutes(name)
            except IntervalError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _time_range(self) -> SessionDataConfig:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        base = self.base_minutes
        upkeep = self.streaming.data_upkeep
        for item, width in zip(upkeep.derived_intervals, upkeep.minutes, strict=True):
            if width <= base or width % base:
                raise ValueError(
                    f"derived interval {item!r} is not a whole multiple of the base "
                    f"stream {self.streams[0]!r} (streaming.data_upkeep."
                    "derived_intervals)"
                )
        return self

    @property
    def base_minutes(self) -> int:
        """Width of the base stream in minutes."""
        return interval_minutes(self.streams[0])

    @property
    def base_interval(self) -> str:
        """Canonical name of the base stream, e.g. ``"1m"``."""
        return canonical_interval(self.streams[0])

    @property
    def derived_minutes(self) -> list[int]:
        """The derived widths in minutes (none when upkeep is off)."""
        upkeep = self.streaming.data_upkeep
        return upkeep.minutes if upkeep.enabled else []

    @property
    def intervals(self) -> list[str]:
        """Every interval the session publishes, canonical names, finest first."""
        minutes = sorted({self.base_minutes, *self.derived_minutes})
        return [interval_name(m) for m in minutes]


class SessionConfig(_Model):
    """The whole session file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_ref: str | None = Field(
        None, alias="$schema", description="JSON schema reference for editors."
    )
    session_data_config: SessionDataConfig = Field(description="The session.")
