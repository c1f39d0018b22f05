"""Built-in scanners: ``schedule`` and ``volume_surge``.

A scanner is polled by the session thread after every clock step and returns the
symbols it wants added; the coordinator warms each one up before strategies hear of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, model_validator

from stratagem import ScannerSpec, hookimpl
from stratagem._data.intervals import NS_PER_MINUTE, interval_ns
from stratagem._data.timefmt import to_ns
from stratagem._data.timeline import visible_count
from stratagem._model import FrozenModel as _Model

if TYPE_CHECKING:
    from stratagem import ScanContext


class ScheduledSymbol(_Model):
    symbol: str = Field(description="Symbol to add.")
    at: datetime = Field(description="Session time (UTC) at or after which it joins.")


class ScheduleConfig(_Model):
    add: list[ScheduledSymbol] = Field(
        min_length=1, description="Symbols to add and when."
    )

    def candidate_symbols(self) -> list[str]:
        return [entry.symbol for entry in self.add]


class ScheduleScanner:
    """Adds each configured symbol at the first step at or after its time."""

    def __init__(self, config: ScheduleConfig) -> None:
        self._pending = sorted(
            ((to_ns(entry.at), entry.symbol) for entry in config.add),
        )

    def scan(self, session: ScanContext) -> Sequence[str]:
        due = []
        while self._pending and self._pending[0][0] <= session.time_ns:
            due.append(self._pending.pop(0)[1])
        return due


class VolumeSurgeConfig(_Model):
    universe: list[str] = Field(
        min_length=1, description="Candidate symbols, outside the session at start."
    )
    lookback_bars: int = Field(
        15, ge=1, description="Recent base bars whose mean volume is compared."
    )
    baseline_bars: int = Field(
        240, ge=1, description="Base bars before those, the baseline mean volume."
    )
    min_ratio: float = Field(
        3.0, gt=0, description="Recent/baseline volume ratio needed to be added."
    )
    top: int = Field(1, ge=1, description="At most this many symbols per scan.")
    every_minutes: int = Field(60, ge=1, description="Session minutes between scans.")

    @model_validator(mode="after")
    def _unique(self) -> VolumeSurgeConfig:
        if len(set(self.universe)) != len(self.universe):
            raise ValueError("universe must not repeat symbols")
        return self

    def candidate_symbols(self) -> list[str]:
        return list(self.universe)


class VolumeSurgeScanner:
    """Ranks the universe by volume surge (recent mean / baseline mean of 1m volume,
    using only bars closed by the scan time) and adds the top ones above a ratio."""

    def __init__(self, config: VolumeSurgeConfig) -> None:
        self.config = config
        self._next_scan_ns: int | None = None
        self._history: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def surge_ratio(self, session: ScanContext, symbol: str) -> float | None:
        if symbol not in self._history:
            if not session.source.available(symbol, session.base_interval):
                self._history[symbol] = (np.empty(0, np.int64), np.empty(0))
            else:
                bars = session.source.load(symbol, session.base_interval)
                self._history[symbol] = (bars.ts, bars.volume)
        ts, volume = self._history[symbol]
        closed = visible_count(ts, interval_ns(session.base_interval), session.time_ns)
        recent_n, base_n = self.config.lookback_bars, self.config.baseline_bars
        if closed < recent_n + base_n:
            return None
        recent = volume[closed - recent_n : closed].mean()
        base = volume[closed - recent_n - base_n : closed - recent_n].mean()
        if base <= 0:
            return None
        return float(recent / base)

    def scan(self, session: ScanContext) -> Sequence[str]:
        now = session.time_ns
        if self._next_scan_ns is not None and now < self._next_scan_ns:
            return []
        self._next_scan_ns = now + self.config.every_minutes * NS_PER_MINUTE
        ranked = []
        for symbol in self.config.universe:
            if symbol in session.symbols:
                continue
            ratio = self.surge_ratio(session, symbol)
            if ratio is not None and ratio >= self.config.min_ratio:
                ranked.append((-ratio, symbol))
        ranked.sort()
        return [symbol for _, symbol in ranked[: self.config.top]]


@hookimpl
def stratagem_scanners() -> list[ScannerSpec]:
    return [
        ScannerSpec(
            name="schedule",
            factory=ScheduleScanner,
            config=ScheduleConfig,
            description="Adds configured symbols at configured session times.",
        ),
        ScannerSpec(
            name="volume_surge",
            factory=VolumeSurgeScanner,
            config=VolumeSurgeConfig,
            description="Adds the universe symbols whose volume surges most.",
        ),
    ]
