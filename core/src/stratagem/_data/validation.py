"""Validation of bars on load (DESIGN section 4).

Every check is one vectorised numpy expression over a whole file. Under the
``reject`` policy a file with any bad bar raises :class:`BarValidationError`, which
lists file, row, time, column and rule; under ``drop`` the bad bars are removed and
counted in a :class:`ValidationReport` kept for the run manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratagem._data.bars import PRICE_COLUMNS, BarArrays
from stratagem._data.timefmt import format_ts
from stratagem._records import ValidationPolicy

Policy = ValidationPolicy
POLICIES: tuple[str, ...] = tuple(ValidationPolicy)

#: Every rule, in the order issues of one row are listed.
RULES: tuple[str, ...] = (
    "non_finite",
    "non_positive_price",
    "negative_volume",
    "high_below_low",
    "outside_range",
    "duplicate_timestamp",
    "out_of_order",
    "misaligned_timestamp",
)

#: How many issues are detailed in an error message and kept in a report; the counts
#: per rule and the dropped row numbers are always complete.
ISSUE_LIMIT = 20

logger = logging.getLogger("stratagem.data")


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One rule broken by one bar.

    :param file: the file the bar came from.
    :param row: its line number in a CSV file (header = 1), its 1-based row in others.
    :param ts: its open time, ns since the epoch (UTC).
    :param column: the offending column (``timestamp`` for time rules).
    :param rule: one of :data:`RULES`.
    :param message: what is wrong, with the values involved.
    """

    file: str
    row: int
    ts: int
    column: str
    rule: str
    message: str

    @property
    def ts_iso(self) -> str:
        return format_ts(self.ts)

    def __str__(self) -> str:
        return (
            f"{self.file}, row {self.row}, {self.ts_iso}, column {self.column}: "
            f"{self.rule} ({self.message})"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the time as ISO text."""
        return {
            "file": self.file,
            "row": self.row,
            "ts": self.ts_iso,
            "column": self.column,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, eq=False)
class ValidationReport:
    """What validation found in one file and what it did about it.

    :param file: the file.
    :param policy: ``reject`` or ``drop``.
    :param rows_in: bars read.
    :param rows_out: bars kept (``rows_in`` under ``reject``: nothing is dropped).
    :param counts: bars breaking each rule, for every rule in :data:`RULES`; a bar
        breaking two rules counts under both.
    :param issues: the first :data:`ISSUE_LIMIT` issues in file order.
    :param bad_rows: row numbers (as in :attr:`ValidationIssue.row`) of every bad bar.
    :param issue_total: issues found in all, of which :attr:`issues` lists the first.
    """

    file: str
    policy: str
    rows_in: int
    rows_out: int
    counts: Mapping[str, int]
    issues: tuple[ValidationIssue, ...] = ()
    bad_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    issue_total: int = 0

    @property
    def ok(self) -> bool:
        """True when no bar broke any rule."""
        return len(self.bad_rows) == 0

    @property
    def dropped(self) -> int:
        return self.rows_in - self.rows_out

    def summary(self) -> str:
        """``"2 of 2519 bars bad (outside_range: 2)"`` or ``"2519 bars, all valid"``."""
        if self.ok:
            return f"{self.rows_in} bars, all valid"
        hits = ", ".join(f"{rule}: {n}" for rule, n in self.counts.items() if n)
        return f"{len(self.bad_rows)} of {self.rows_in} bars bad ({hits})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the run manifest."""
        return {
            "file": self.file,
            "policy": self.policy,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": self.dropped,
            "counts": {rule: n for rule, n in self.counts.items() if n},
            # the first rows and the count: a broken file may have every row bad
            "bad_rows": self.bad_rows[:ISSUE_LIMIT].tolist(),
            "bad_row_total": len(self.bad_rows),
            "issue_total": self.issue_total,
            "issues": [issue.as_dict() for issue in self.issues],
        }


class BarValidationError(ValueError):
    """Bars broke validation rules under the ``reject`` policy.

    :param report: the full report; :attr:`issues` are its first issues.
    :param message: what to say instead of the report's listing (bars that did
        not come from a file).
    """

    def __init__(self, report: ValidationReport, message: str | None = None) -> None:
        self.report = report
        self.issues: list[ValidationIssue] = list(report.issues)
        super().__init__(message or _error_message(report))


def _error_message(report: ValidationReport) -> str:
    lines = [f"{report.file}: {report.summary()} under the 'reject' policy:"]
    lines += [f"  {issue}" for issue in report.issues]
    more = report.issue_total - len(report.issues)
    if more > 0:
        lines.append(f"  ... and {more} more issues")
    lines.append(
        "Fix the file, or use the 'drop' validation policy to remove such bars "
        "(they are counted and reported)."
    )
    return "\n".join(lines)


def _checks(arrays: BarArrays, interval_ns: int) -> list[tuple[str, str, np.ndarray]]:
    """``(rule, column, mask)`` of every check that some bar fails, in RULES order.

    Value rules name a value column; time rules name ``timestamp``.
    """
    found: list[tuple[str, str, np.ndarray]] = []

    def check(rule: str, column: str, mask: np.ndarray) -> None:
        if mask.any():
            found.append((rule, column, mask))

    columns = arrays.columns()
    for name, col in columns.items():
        if name != "ts":
            check("non_finite", name, ~np.isfinite(col))
    for name in PRICE_COLUMNS:
        check("non_positive_price", name, columns[name] <= 0)
    check("negative_volume", "volume", arrays.volume < 0)
    inverted = arrays.high < arrays.low
    check("high_below_low", "high", inverted)
    # with an inverted range every open is "outside" it: report the range once
    for name in ("open", "close"):
        col = columns[name]
        outside = (col < arrays.low) | (col > arrays.high)
        check("outside_range", name, outside & ~inverted)

    ts = arrays.ts
    n = len(ts)
    later = np.zeros(n, dtype=bool)
    if n > 1:
        later[1:] = ts[1:] <= np.maximum.accumulate(ts)[:-1]
    if later.any():
        order = np.argsort(ts, kind="stable")
        repeated = np.zeros(n, dtype=bool)
        repeated[order[1:][ts[order[1:]] == ts[order[:-1]]]] = True
        check("duplicate_timestamp", "timestamp", repeated)
        check("out_of_order", "timestamp", later & ~repeated)
    check("misaligned_timestamp", "timestamp", ts % interval_ns != 0)
    return found


def _describe(
    rule: str,
    column: str,
    i: int,
    arrays: BarArrays,
    interval_ns: int,
    rows: np.ndarray,
) -> str:
    if column != "timestamp":
        value = float(arrays.columns()[column][i])
        low, high = float(arrays.low[i]), float(arrays.high[i])
        if rule == "non_finite":
            return f"{column} is {value}"
        if rule == "non_positive_price":
            return f"{column} {value!r} <= 0"
        if rule == "negative_volume":
            return f"volume {value!r} < 0"
        if rule == "high_below_low":
            return f"high {high!r} < low {low!r}"
        return f"{column} {value!r} not in [low {low!r}, high {high!r}]"
    ts = arrays.ts
    if rule == "duplicate_timestamp":
        first = int(np.flatnonzero(ts[:i] == ts[i])[0])
        return f"same time as row {int(rows[first])}"
    if rule == "out_of_order":
        latest = int(np.argmax(ts[:i]))
        return f"not after row {int(rows[latest])} ({format_ts(ts[latest])})"
    offset_s = int(ts[i] % interval_ns) / 1e9
    return f"{offset_s:g} s past a multiple of the interval ({interval_ns / 1e9:g} s)"


def validate_bars(
    arrays: BarArrays,
    *,
    file: str,
    interval_ns: int,
    policy: Policy = "reject",
    row_offset: int = 2,
    rows: np.ndarray | None = None,
    log_drops: bool = True,
) -> tuple[BarArrays, ValidationReport]:
    """Check bars against every rule of DESIGN section 4 and apply the policy.

    Rules (see :data:`RULES`): ``non_finite`` (any value column), ``non_positive_price``
    (open/high/low/close <= 0), ``negative_volume``, ``high_below_low``,
    ``outside_range`` (open or close outside [low, high]), ``duplicate_timestamp``
    (a time seen on an earlier row), ``out_of_order`` (a time not after the latest
    earlier time) and ``misaligned_timestamp`` (``ts % interval_ns != 0``). Time rules
    look at every row, so under ``drop`` the first of duplicated bars is kept and the
    kept times are strictly ascending.

    :param arrays: the bars as read, in file order.
    :param file: file name used in issues and errors.
    :param interval_ns: the bars' interval width in ns.
    :param policy: ``reject`` raises on any bad bar; ``drop`` removes bad bars.
    :param row_offset: number of the first row: 2 for a CSV file (the header is line
        1), 1 for a Parquet file.
    :param rows: the number of every row, when they are not consecutive (a CSV file
        with blank lines); overrides ``row_offset``.
    :param log_drops: log a warning for the bars ``drop`` removes (a caller that
        says it in its own words turns it off).
    :returns: the kept bars (``arrays`` itself when all are valid) and the report.
    :raises BarValidationError: under ``reject``, when any bar is bad.
    """
    if policy not in POLICIES:
        raise ValueError(
            f"validation policy must be 'reject' or 'drop', got {policy!r}"
        )
    n = len(arrays)
    if rows is None:
        rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    elif len(rows) != n:
        raise ValueError(f"{file}: {len(rows)} row numbers for {n} bars")
    checks = _checks(arrays, interval_ns)
    counts = dict.fromkeys(RULES, 0)
    bad = np.zeros(n, dtype=bool)
    by_rule: dict[str, np.ndarray] = {}
    for rule, _column, mask in checks:
        by_rule[rule] = by_rule[rule] | mask if rule in by_rule else mask
        bad |= mask
    for rule, mask in by_rule.items():
        counts[rule] = int(np.count_nonzero(mask))

    # the first ISSUE_LIMIT (row, check) pairs in file order, without scanning all bad
    # rows in Python
    firsts = [
        (int(i), k)
        for k, (_, _, mask) in enumerate(checks)
        for i in np.flatnonzero(mask)[:ISSUE_LIMIT]
    ]
    firsts.sort()
    issues = tuple(
        ValidationIssue(
            file=file,
            row=int(rows[i]),
            ts=int(arrays.ts[i]),
            column=checks[k][1],
            rule=checks[k][0],
            message=_describe(checks[k][0], checks[k][1], i, arrays, interval_ns, rows),
        )
        for i, k in firsts[:ISSUE_LIMIT]
    )
    bad_rows = rows[bad]
    kept = arrays if not len(bad_rows) or policy == "reject" else arrays.take(~bad)
    report = ValidationReport(
        file=file,
        policy=policy,
        rows_in=n,
        rows_out=len(kept),
        counts=counts,
        issues=issues,
        bad_rows=bad_rows,
        issue_total=sum(int(np.count_nonzero(mask)) for _, _, mask in checks),
    )
    if report.ok:
        return arrays, report
    if policy == "reject":
        raise BarValidationError(report)
    if log_drops:
        logger.warning("%s: dropped %s", file, report.summary())
    return kept, report
