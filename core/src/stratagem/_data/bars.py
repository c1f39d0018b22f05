"""BarArrays: a batch of bars as plain numpy columns, the unit the data layer moves.

Sources return it, validation filters it, the resamplers produce it and
``write_bars_csv`` writes it. It owns no buffers of its own: columns may be views of
a larger batch (see :meth:`BarArrays.slice`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from stratagem._data.timefmt import format_ts

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
BAR_COLUMNS = ("ts", *VALUE_COLUMNS)


@dataclass(frozen=True, slots=True, eq=False)
class BarArrays:
    """Columns of a batch of bars, all of the same length.

    :param ts: bar open times, int64 ns since the epoch (UTC).
    :param open: float64 opens.
    :param high: float64 highs.
    :param low: float64 lows.
    :param close: float64 closes.
    :param volume: float64 volumes.
    :param quality: float64 percentage of source bars present, for derived bars;
        ``None`` for source bars (which are complete by definition).

    Columns are converted to contiguous int64/float64 arrays on construction (no copy
    when they already are). Equality is not defined: compare columns with numpy.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quality: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", np.ascontiguousarray(self.ts, dtype=np.int64))
        n = len(self.ts) if self.ts.ndim == 1 else -1
        names = VALUE_COLUMNS if self.quality is None else (*VALUE_COLUMNS, "quality")
        for name in names:
            col = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, col)
            if col.ndim != 1 or len(col) != n:
                shapes = {c: np.shape(getattr(self, c)) for c in ("ts", *names)}
                raise ValueError(f"bar columns must be 1-D of one length, got {shapes}")

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        if len(self) == 0:
            return "BarArrays(n=0)"
        kind = "derived" if self.derived else "source"
        return (
            f"BarArrays(n={len(self)}, {kind}, "
            f"{format_ts(self.ts[0])} .. {format_ts(self.ts[-1])})"
        )

    @property
    def derived(self) -> bool:
        """True when the bars carry a ``quality`` column."""
        return self.quality is not None

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name, ``quality`` included only when present."""
        cols = {"ts": self.ts}
        for name in VALUE_COLUMNS:
            cols[name] = getattr(self, name)
        if self.quality is not None:
            cols["quality"] = self.quality
        return cols

    @classmethod
    def empty(cls, *, derived: bool = False) -> BarArrays:
        """A batch of zero bars.

        :param derived: give it an (empty) ``quality`` column.
        """
        nothing = np.empty(0, dtype=np.float64)
        return cls(
            ts=np.empty(0, dtype=np.int64),
            open=nothing,
            high=nothing,
            low=nothing,
            close=nothing,
            volume=nothing,
            quality=nothing if derived else None,
        )

    def slice(self, start: int | None, stop: int | None) -> BarArrays:
        """Rows ``[start, stop)`` as views (no copy), with Python slice semantics.

        :param start: first row, or ``None`` for the beginning.
        :param stop: row after the last, or ``None`` for the end.
        """
        window = slice(start, stop)
        return self._select(window)

    def take(self, rows: np.ndarray | Sequence[int]) -> BarArrays:
        """The rows chosen by an index array or a boolean mask (a copy).

        :param rows: integer row indices or a boolean mask of ``len(self)``.
        """
        return self._select(np.asarray(rows))

    def between(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> BarArrays:
        """Bars whose open time lies in ``[start_ns, end_ns)``, as views.

        ``ts`` must be ascending (validated bars are).

        :param start_ns: first open time kept, or ``None`` for no lower bound.
        :param end_ns: open times from here on are cut, or ``None`` for no bound.
        """
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, "left"))
        hi = (
            len(self)
            if end_ns is None
            else int(np.searchsorted(self.ts, end_ns, "left"))
        )
        return self.slice(lo, max(lo, hi))

    def _select(self, key: slice | np.ndarray) -> BarArrays:
        return BarArrays(
            ts=self.ts[key],
            open=self.open[key],
            high=self.high[key],
            low=self.low[key],
            close=self.close[key],
            volume=self.volume[key],
            quality=None if self.quality is None else self.quality[key],
        )

    @classmethod
    def concat(cls, parts: Iterable[BarArrays]) -> BarArrays:
        """Join batches end to end (a copy); all must be source or all derived.

        :param parts: the batches, in order. Their times are not checked.
        :raises ValueError: when source and derived batches are mixed.
        """
        parts = list(parts)
        if not parts:
            return cls.empty()
        kinds = {part.derived for part in parts}
        if len(kinds) > 1:
            raise ValueError("cannot concatenate source bars with derived bars")
        derived = kinds.pop()
        cols = {
            name: np.concatenate([getattr(part, name) for part in parts])
            for name in ("ts", *VALUE_COLUMNS)
        }
        if derived:
            cols["quality"] = np.concatenate([part.quality for part in parts])
        return cls(**cols)
