"""``stratagem plugins --options``: every config field of every offer with a config
model, one line each (name, type, default, description), and the same in JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import EntryPoint, version
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stratagem.cli import CliState, main

PLUGIN = """
    from enum import Enum
    from typing import Literal

    from pydantic import Field

    from stratagem import (
        DataSourceSpec, ScannerSpec, Strategy, StrategyConfig, StrategySpec, hookimpl,
    )


    class Mood(str, Enum):
        CALM = "calm"
        WILD = "wild"


    class OptionsConfig(StrategyConfig):
        symbols: list[str] = Field(min_length=1, description="Symbols to trade.")
        period: int = Field(14, ge=2, le=500, description="Bars in the window.")
        threshold: float = Field(
            0.5,
            gt=0,
            description='''A description written
                over several lines.''',
        )
        side: Literal["long", "short"] = Field("long", description="Which side.")
        mood: Mood = Field(Mood.CALM, description="An enum.")
        label: str | None = Field(None, description="Optional label.")
        weights: dict[str, float] = Field(
            default_factory=dict, description="Per-symbol weights."
        )
        window: str = Field("5m", alias="interval", description="Bar interval.")


    class Options(Strategy):
        config_class = OptionsConfig


    class ScanConfig(StrategyConfig):
        every: int = Field(60, ge=1, description="Minutes between scans.")


    @hookimpl
    def stratagem_strategies():
        return [StrategySpec("opts", Options, OptionsConfig, "Has options.")]


    @hookimpl
    def stratagem_scanners():
        return [ScannerSpec("scan_opts", lambda config: None, ScanConfig)]


    @hookimpl
    def stratagem_data_sources():
        return [DataSourceSpec("no_model", lambda root, options: None)]
"""

# written by hand from PLUGIN above: the columns align within one offer
EXPECTED = [
    "strategy opts (entry point options_plugin)",
    "  symbols    list[str] len >= 1  required  Symbols to trade.",
    "  period     int >= 2, <= 500    14        Bars in the window.",
    "  threshold  float > 0           0.5       A description written over several "
    "lines.",
    '  side       "long" | "short"    "long"    Which side.',
    '  mood       "calm" | "wild"     "calm"    An enum.',
    "  label      str | None          null      Optional label.",
    "  weights    dict[str, float]    {}        Per-symbol weights.",
    '  interval   str                 "5m"      Bar interval.',
    "",
    "scanner scan_opts (entry point options_plugin)",
    "  every  int >= 1  60  Minutes between scans.",
]

ENTRY_POINTS = [
    EntryPoint("options", "options_plugin", "stratagem"),
    EntryPoint("broken", "options_broken_plugin", "stratagem"),
]


@pytest.fixture
def plugins(write_module: Callable[[str, str], None]) -> list[EntryPoint]:
    write_module("options_plugin", PLUGIN)
    write_module("options_broken_plugin", "raise ImportError('needs libta')\n")
    return ENTRY_POINTS


def invoke(args: list[str], entry_points: list[EntryPoint]) -> Result:
    return CliRunner().invoke(
        main, args, obj=CliState(entry_points=entry_points, builtins=False)
    )


def test_each_field_is_one_line_under_its_offer(plugins: list[EntryPoint]) -> None:
    result = invoke(["plugins", "--options"], plugins)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(EXPECTED[0])
    assert lines[start : start + len(EXPECTED)] == EXPECTED
    # the broken plugin is listed as usual, and has no options block
    assert any("LOAD FAILED" in line for line in lines[:start])
    assert not any(line.startswith("data source") for line in lines)


def test_without_the_flag_no_field_is_listed(plugins: list[EntryPoint]) -> None:
    result = invoke(["plugins"], plugins)
    assert result.exit_code == 0
    assert "Bars in the window." not in result.output


def test_json_records_carry_the_fields(plugins: list[EntryPoint]) -> None:
    result = invoke(["plugins", "--json", "--options"], plugins)
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = json.loads(result.output)
    by_name = {record["name"]: record for record in records}
    assert by_name["broken"]["options"] == {}
    options = by_name["options"]["options"]
    assert sorted(options) == ["scanner", "strategy"]
    fields = options["strategy"]["opts"]
    assert [f["name"] for f in fields] == [
        "symbols",
        "period",
        "threshold",
        "side",
        "mood",
        "label",
        "weights",
        "interval",
    ]
    assert fields[1] == {
        "name": "period",
        "type": "int >= 2, <= 500",
        "default": "14",
        "description": "Bars in the window.",
    }
    assert options["scanner"]["scan_opts"] == [
        {
            "name": "every",
            "type": "int >= 1",
            "default": "60",
            "description": "Minutes between scans.",
        }
    ]


def test_plain_json_has_no_options_key(plugins: list[EntryPoint]) -> None:
    result = invoke(["plugins", "--json"], plugins)
    assert all("options" not in record for record in json.loads(result.output))


def test_built_in_scanners_are_described_with_all() -> None:
    result = CliRunner().invoke(
        main, ["plugins", "--all", "--options"], obj=CliState(entry_points=[])
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(f"scanner schedule (stratagem {version('stratagem')})")
    assert lines[start + 1] == (
        "  add  list[ScheduledSymbol] len >= 1  required  Symbols to add and when."
    )
