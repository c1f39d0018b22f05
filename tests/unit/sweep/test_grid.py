"""The ``--grid`` language: ranges that include their end, decimal float steps,
lists, the product order, and every malformed argument reported at once."""

from __future__ import annotations

import pytest

from stratagem._sweep.grid import (
    MAX_SETS,
    GridError,
    parameter_sets,
    parse_grid,
)


def values(text: str) -> tuple[object, ...]:
    (axis,) = parse_grid([text])
    return axis.values


def test_a_range_includes_its_end_when_a_step_lands_on_it() -> None:
    assert values("ma_cross.fast_period=5:10:1") == (5, 6, 7, 8, 9, 10)
    assert values("ma_cross.slow_period=20:55:5") == (20, 25, 30, 35, 40, 45, 50, 55)
    # a step that jumps over the end stops before it
    assert values("ma_cross.slow_period=1:10:4") == (1, 5, 9)


def test_whole_number_ranges_default_to_a_step_of_one_and_may_fall() -> None:
    assert values("s.p=3:6") == (3, 4, 5, 6)
    assert values("s.p=10:7:-1") == (10, 9, 8, 7)
    assert all(isinstance(v, int) for v in values("s.p=3:6"))


def test_float_steps_are_decimal_so_the_end_is_reached_exactly() -> None:
    # 0.1 + 0.1 + 0.1 in binary floats is 0.30000000000000004, which would miss 0.3
    assert values("s.p=0.1:0.3:0.1") == (0.1, 0.2, 0.3)
    assert values("s.min_quality=90:100:2.5") == (90.0, 92.5, 95.0, 97.5, 100.0)
    assert all(isinstance(v, float) for v in values("s.p=1:2:0.5"))


def test_lists_keep_their_order_and_types() -> None:
    assert values("s.p=30,10,20") == (30, 10, 20)
    assert values("s.interval=5m,15m") == ("5m", "15m")
    assert values("s.flag=true,false") == (True, False)
    assert values("s.x=0.5,2") == (0.5, 2)
    assert values("s.interval=1h") == ("1h",)


def test_the_strategy_id_is_everything_before_the_last_dot() -> None:
    (axis,) = parse_grid(["ma.cross#2.fast_period=5"])
    assert (axis.strategy, axis.param, axis.column) == (
        "ma.cross#2",
        "fast_period",
        "ma.cross#2.fast_period",
    )


def test_sets_are_the_product_with_the_first_axis_slowest() -> None:
    axes = parse_grid(["a.x=1:2", "b.y=p,q,r"])
    sets = parameter_sets(axes)
    assert [s.index for s in sets] == list(range(6))
    assert [s.as_dict() for s in sets[:4]] == [
        {"a.x": 1, "b.y": "p"},
        {"a.x": 1, "b.y": "q"},
        {"a.x": 1, "b.y": "r"},
        {"a.x": 2, "b.y": "p"},
    ]
    assert sets[5].label == "a.x=2 b.y=r"
    # the key identifies a set by its values, whatever the axis order
    swapped = parameter_sets(parse_grid(["b.y=r", "a.x=2"]))
    assert swapped[0].key == sets[5].key


def test_every_malformed_argument_is_reported_at_once() -> None:
    arguments = [
        "ma_cross.fast_period",  # no '='
        "fast_period=5",  # no strategy
        "ma_cross.slow_period=5:x:1",  # not a number
        "ma_cross.min_quality=1:2:0",  # step 0
        "ma_cross.warmup=10:5:1",  # empty
        "ma_cross.ratio=0.5:1.5",  # non-whole range without a step
        "ma_cross.period=3,3",  # repeats
        "ok.param=1:3",
        "ok.param=4",  # the same parameter again
    ]
    with pytest.raises(GridError) as caught:
        parse_grid(arguments)
    problems = dict(caught.value.problems)
    assert len(caught.value.problems) == 8
    assert "no '='" in problems["ma_cross.fast_period"]
    assert "STRATEGY.PARAM" in problems["fast_period=5"]
    assert "'x'" in problems["ma_cross.slow_period=5:x:1"]
    assert "step" in problems["ma_cross.min_quality=1:2:0"]
    assert "empty" in problems["ma_cross.warmup=10:5:1"]
    assert "needs a step" in problems["ma_cross.ratio=0.5:1.5"]
    assert "repeat" in problems["ma_cross.period=3,3"]
    assert "already swept by --grid ok.param=1:3" in problems["ok.param=4"]
    assert str(caught.value).startswith("--grid ma_cross.fast_period: ")


def test_no_grid_and_an_oversized_grid_are_refused() -> None:
    with pytest.raises(GridError, match="at least one --grid"):
        parse_grid([])
    side = int(MAX_SETS**0.5) + 1
    with pytest.raises(GridError, match="parameter sets, more than"):
        parse_grid([f"a.x=1:{side}", f"a.y=1:{side}"])
