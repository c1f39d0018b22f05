"""Bar intervals: the names configs use (``"1m"``, ``"5m"``, ``"1h"``) and their
widths."""

from __future__ import annotations

import re

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND

_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
_PATTERN = re.compile(r"^([1-9][0-9]*)([mhd])$")


class IntervalError(ValueError):
    """An interval name is malformed."""


def interval_minutes(name: str) -> int:
    """Width of the interval ``name`` in minutes (``"15m"`` -> 15, ``"1h"`` -> 60).

    :raises IntervalError: when ``name`` is not ``<positive int><m|h|d>``.
    """
    match = _PATTERN.match(name) if isinstance(name, str) else None
    if match is None:
        raise IntervalError(
            f"interval {name!r} is not of the form <number><m|h|d>, e.g. '5m', '1h'"
        )
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]


def interval_name(minutes: int) -> str:
    """Canonical name of a width in minutes: 5 -> ``"5m"``, 60 -> ``"1h"``."""
    if minutes <= 0:
        raise IntervalError(f"interval width must be positive, got {minutes} minutes")
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def interval_ns(name: str) -> int:
    """Width of the interval ``name`` in nanoseconds."""
    return interval_minutes(name) * NS_PER_MINUTE


def canonical_interval(name: str) -> str:
    """The one spelling of an interval used as a key: ``"60m"`` -> ``"1h"``."""
    return interval_name(interval_minutes(name))
