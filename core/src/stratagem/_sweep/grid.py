"""The ``--grid`` language: ``STRATEGY.PARAM=VALUES``, one axis per argument.

``VALUES`` is a range ``a:b:step`` (it includes ``b`` when a step lands on it; the
step defaults to 1 for whole numbers and may be negative for a falling range), a list
``a,b,c`` or a single value. Whole numbers stay ints, other numbers are floats
computed in decimal (``0.1:0.3:0.1`` gives 0.1, 0.2, 0.3 exactly), ``true`` and
``false`` are booleans, anything else is a string (``5m,15m``). The parameter sets
are the cartesian product of the axes, the first axis varying slowest.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

Scalar = int | float | bool | str

#: a grid larger than this is refused: it is almost always a mistyped range
MAX_SETS = 100_000

_WHOLE = re.compile(r"^[+-]?\d+$")


class GridError(ValueError):
    """Some ``--grid`` arguments are malformed; ``problems`` lists every one.

    :param problems: one ``(argument, message)`` pair per problem.
    :param axes: the arguments that did parse (checked further, so that their
        problems are reported in the same pass).
    """

    def __init__(
        self,
        problems: Sequence[tuple[str, str]],
        axes: Sequence[GridAxis] = (),
    ) -> None:
        self.problems = tuple(problems)
        self.axes = tuple(axes)
        super().__init__(
            "\n".join(f"--grid {arg}: {message}" for arg, message in self.problems)
        )


@dataclass(frozen=True)
class GridAxis:
    """One swept parameter and its values.

    :param strategy: the strategy instance id (``ma_cross``, ``ma_cross#2``, an
        entry's ``id``).
    :param param: the field of that strategy's config.
    :param values: the values, in the order given.
    :param text: the ``--grid`` argument as typed, for messages.
    """

    strategy: str
    param: str
    values: tuple[Scalar, ...]
    text: str

    @property
    def column(self) -> str:
        """The results table's column: ``<strategy id>.<param>``."""
        return f"{self.strategy}.{self.param}"


@dataclass(frozen=True)
class ParameterSet:
    """One point of the grid.

    :param index: its position in the grid (0-based, first axis slowest).
    :param values: ``(column, value)`` per axis, in axis order.
    """

    index: int
    values: tuple[tuple[str, Scalar], ...]

    def as_dict(self) -> dict[str, Scalar]:
        """``{column: value}`` in axis order."""
        return dict(self.values)

    @property
    def key(self) -> str:
        """A stable identity across runs (for ``--resume``): the values as JSON."""
        return set_key(self.as_dict())

    @property
    def label(self) -> str:
        """``ma_cross.fast_period=5 ma_cross.slow_period=20``, for people."""
        return " ".join(f"{column}={value}" for column, value in self.values)


def set_key(values: dict[str, Scalar]) -> str:
    """The identity of a parameter set given as ``{column: value}``.

    :param values: the set's values by column.
    """
    return json.dumps(sorted(values.items()), separators=(",", ":"))


def parse_grid(arguments: Sequence[str]) -> tuple[GridAxis, ...]:
    """Parse every ``--grid`` argument.

    :param arguments: the arguments as typed, e.g. ``ma_cross.fast_period=5:10:1``.
    :raises GridError: listing every malformed argument, repeated parameter, and a
        grid above :data:`MAX_SETS` sets.
    """
    problems: list[tuple[str, str]] = []
    axes: list[GridAxis] = []
    seen: dict[str, str] = {}
    if not arguments:
        problems.append(("", "give at least one --grid STRATEGY.PARAM=VALUES"))
    for text in arguments:
        try:
            axis = _parse_axis(text)
        except ValueError as exc:
            problems.append((text, str(exc)))
            continue
        if axis.column in seen:
            problems.append(
                (text, f"{axis.column} is already swept by --grid {seen[axis.column]}")
            )
            continue
        seen[axis.column] = text
        axes.append(axis)
    if not problems:
        count = grid_size(axes)
        if count > MAX_SETS:
            problems.append(
                (
                    " ".join(a.text for a in axes),
                    f"the grid has {count:,} parameter sets, more than "
                    f"{MAX_SETS:,}; narrow a range or raise its step",
                )
            )
            axes = []  # too many to check one by one
    if problems:
        raise GridError(problems, axes)
    return tuple(axes)


def grid_size(axes: Sequence[GridAxis]) -> int:
    """How many parameter sets ``axes`` make.

    :param axes: the parsed axes.
    """
    count = 1
    for axis in axes:
        count *= len(axis.values)
    return count


def parameter_sets(axes: Sequence[GridAxis]) -> list[ParameterSet]:
    """The cartesian product of ``axes``, the first axis varying slowest.

    :param axes: the parsed axes.
    """
    columns = [axis.column for axis in axes]
    return [
        ParameterSet(index, tuple(zip(columns, combo, strict=True)))
        for index, combo in enumerate(
            itertools.product(*(axis.values for axis in axes))
        )
    ]


def _parse_axis(text: str) -> GridAxis:
    name, sep, spec = text.partition("=")
    if not sep:
        raise ValueError("expected STRATEGY.PARAM=VALUES (no '=')")
    strategy, dot, param = name.strip().rpartition(".")
    if not dot or not strategy or not param:
        raise ValueError(
            f"expected STRATEGY.PARAM before '=', got {name.strip()!r} "
            "(STRATEGY is the strategy's id in the config)"
        )
    spec = spec.strip()
    if not spec:
        raise ValueError("no values after '='")
    if ":" in spec:
        values = _range(spec)
    elif "," in spec:
        values = tuple(_scalar(item) for item in spec.split(","))
    else:
        values = (_scalar(spec),)
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"values repeat: {', '.join(repeated)}")
    return GridAxis(strategy, param, values, text)


def _range(spec: str) -> tuple[int | float, ...]:
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) not in (2, 3):
        raise ValueError(f"a range is START:END or START:END:STEP, got {spec!r}")
    if len(parts) == 2:
        if not all(_WHOLE.match(p) for p in parts):
            raise ValueError(
                f"a range of non-whole numbers needs a step (START:END:STEP): {spec!r}"
            )
        parts.append("1")
    numbers = []
    for part in parts:
        try:
            number = Decimal(part)
        except InvalidOperation:
            raise ValueError(
                f"range bounds and step must be numbers, got {part!r} in {spec!r}"
            ) from None
        if not number.is_finite():
            raise ValueError(f"range bounds and step must be finite, got {part!r}")
        numbers.append(number)
    start, end, step = numbers
    if step == 0:
        raise ValueError(f"the step of {spec!r} is 0")
    if (step > 0 and start > end) or (step < 0 and start < end):
        raise ValueError(
            f"the range {spec!r} is empty: a step of {step} never goes from "
            f"{start} to {end}"
        )
    whole = all(_WHOLE.match(part) for part in parts)
    count = int((end - start) / step) + 1
    if count > MAX_SETS:
        raise ValueError(
            f"the range {spec!r} has {count:,} values, more than {MAX_SETS:,}"
        )
    values = [start + k * step for k in range(count)]
    return tuple(int(v) if whole else float(v) for v in values)


def _scalar(text: str) -> Scalar:
    item = text.strip()
    if not item:
        raise ValueError("a list item is empty")
    if _WHOLE.match(item):
        return int(item)
    if item in ("true", "false"):
        return item == "true"
    try:
        number = Decimal(item)
    except InvalidOperation:
        return item
    if number.is_finite():
        return float(number)
    return item
