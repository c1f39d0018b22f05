"""Thinning long series for the page, so that spikes survive.

A series of more than :data:`MAX_POINTS` values is cut into equal buckets of
consecutive points; each bucket keeps its lowest and its highest point (in time
order), and the first and last points of the series are kept, so every extreme of
the full series is drawn. The figures say when they show a thinned series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the most points one series puts in the page
MAX_POINTS = 100_000


@dataclass(frozen=True, slots=True)
class Thinned:
    """The points of a series kept for drawing.

    :param index: positions kept in the full series, ascending.
    :param total: the length of the full series.
    :param bucket: points per bucket (1: nothing was dropped).
    """

    index: np.ndarray
    total: int
    bucket: int

    @property
    def thinned(self) -> bool:
        """Whether points were dropped."""
        return self.bucket > 1

    def describe(self) -> str:
        """What was done, in words for a figure ('' when nothing was dropped)."""
        if not self.thinned:
            return ""
        return (
            f"downsampled: {self.total:,} points drawn as {len(self.index):,} (lowest "
            f"and highest of every {self.bucket:,})"
        )


def min_max_thin(values: np.ndarray, max_points: int = MAX_POINTS) -> Thinned:
    """The positions to draw of ``values``: all of them when there are at most
    ``max_points``, else the lowest and highest of each bucket plus both ends.

    :param values: the series (finite numbers).
    :param max_points: the most positions returned (at least 4).
    :raises ValueError: when ``max_points`` is below 4.
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    values = np.asarray(values, dtype=np.float64)
    total = len(values)
    if total <= max_points:
        return Thinned(np.arange(total), total, 1)
    buckets = (max_points - 2) // 2
    bucket = -(-total // buckets)
    rows = -(-total // bucket)
    pad = rows * bucket - total
    lows = np.concatenate([values, np.full(pad, np.inf)]).reshape(rows, bucket)
    highs = np.concatenate([values, np.full(pad, -np.inf)]).reshape(rows, bucket)
    starts = np.arange(rows) * bucket
    kept = np.concatenate(
        [[0, total - 1], starts + lows.argmin(axis=1), starts + highs.argmax(axis=1)]
    )
    return Thinned(np.unique(kept), total, bucket)
