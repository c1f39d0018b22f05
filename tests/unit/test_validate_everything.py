"""``stratagem validate`` reports every problem in one pass, and everything ``run``
would refuse before its first step (DESIGN section 7)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from click.testing import CliRunner

from stratagem.cli import CliState, main

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
#: the tests' own strategy (stratagem-test-strategies), by import path
MA = "stratagem_test_strategies:SmaCross"


def validate(config: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        main, ["validate", str(config), *args], obj=CliState(entry_points=[])
    )
    return result.exit_code, result.stderr.splitlines()


def write(tmp_path: Path, **session: object) -> Path:
    body = {"symbols": ["ETH_BTC"], "data": {"path": str(SAMPLE)}, **session}
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"session_data_config": body}))
    return path


def test_errors_of_both_phases_and_across_keys_come_in_one_pass(
    tmp_path: Path, local_strategies: ModuleType
) -> None:
    config = write(
        tmp_path,
        start="2018-01-25T00:00:00Z",
        end="2018-01-24T00:00:00Z",
        speed_multiplier=-1,
        strategies=[
            {"module": MA, "config": {"symbols": ["ETH_BTC"], "interval": "7m"}}
        ],
    )
    code, lines = validate(config)
    assert code == 2
    assert lines == [
        f"{config}: session_data_config.speed_multiplier: Input should be greater "
        "than or equal to 0 (got -1)",
        f"{config}: session_data_config: end must be after start",
        f"{config}: session_data_config.strategies[0].config.interval: interval '7m' "
        "is not derived by the session (it publishes 1m); add 7 to "
        "session_data_config.streaming.data_upkeep.derived_intervals",
        "3 problems found",
    ]


def test_an_invalid_symbols_list_does_not_hide_other_problems(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        symbols=[],
        reporters=["consol"],
    )
    code, lines = validate(config)
    assert code == 2
    assert any("session_data_config.symbols" in line for line in lines)
    assert any("unknown reporter 'consol'" in line for line in lines)


def test_a_symbol_without_a_data_file_is_refused_by_validate(tmp_path: Path) -> None:
    config = write(tmp_path, symbols=["ETH_BTC", "ETH_BTX"])
    code, lines = validate(config)
    assert code == 2
    text = "\n".join(lines)
    assert "no CSV file for 'ETH_BTX' at 1m" in text
    assert "did you mean 'ETH_BTC'" in text


def test_every_bad_data_file_is_listed_capped_per_file(tmp_path: Path) -> None:
    data = tmp_path / "data" / "1m"
    data.mkdir(parents=True)
    for symbol in ("ETH_BTC", "LTC_BTC"):
        lines = (SAMPLE / "1m" / f"{symbol}.csv").read_text().splitlines()
        # every bar's high below its low, in both files
        broken = [lines[0]]
        for line in lines[1:]:
            stamp, open_, high, low, close, volume = line.split(",")
            broken.append(",".join([stamp, open_, low, high, close, volume]))
        (data / f"{symbol}.csv").write_text("\n".join(broken) + "\n")
    config = write(
        tmp_path, symbols=["ETH_BTC", "LTC_BTC"], data={"path": str(tmp_path / "data")}
    )
    code, lines = validate(config)
    assert code == 2
    text = "\n".join(lines)
    assert "ETH_BTC.csv" in text and "LTC_BTC.csv" in text
    assert "2 data files refused" in text
    # capped per file, with a count of the rest
    assert sum("... and" in line and "more issues" in line for line in lines) == 2
    assert len(lines) < 80


def test_a_valid_config_with_its_data_passes(tmp_path: Path) -> None:
    config = write(tmp_path, symbols=["ETH_BTC", "LTC_BTC"])
    result = CliRunner().invoke(
        main, ["validate", str(config)], obj=CliState(entry_points=[])
    )
    assert result.exit_code == 0, result.output
    assert ": valid:" in result.stdout


def test_an_import_path_that_does_not_import_says_what_to_do(tmp_path: Path) -> None:
    config = write(tmp_path, strategies=[{"module": "my_pkg.strats:Momentum"}])
    code, lines = validate(config)
    assert code == 2
    (problem, _) = lines
    assert "strategies[0].module" in problem
    assert "No module named 'my_pkg'" in problem
    assert "pip install -e PATH" in problem and "PYTHONPATH" in problem


def test_execution_mistakes_are_config_errors_with_their_paths(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        execution={"broker": "papr", "fee_rate": -0.1},
        strategies=[
            {
                "module": MA,
                "config": {"symbols": ["ETH_BTC"], "interval": "1m"},
                "execution": {"sizing": {"kind": "fixed_qty"}, "direction": "short"},
            }
        ],
    )
    code, lines = validate(config)
    assert code == 2
    text = "\n".join(lines)
    assert "session_data_config.execution.fee_rate: Input should be greater" in text
    assert "session_data_config.execution.broker: unknown broker 'papr'" in text
    assert "did you mean 'paper'?" in text
    assert "strategies[0].execution.sizing: sizing kind 'fixed_qty' needs 'qty'" in text
    assert "strategies[0].execution.direction: Input should be" in text


def test_a_strategy_execution_entry_needs_the_sessions_book(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        strategies=[
            {
                "module": MA,
                "config": {"symbols": ["ETH_BTC"], "interval": "1m"},
                "execution": {"sizing": {"kind": "fixed_qty", "qty": 1}},
            }
        ],
    )
    code, lines = validate(config)
    assert code == 2
    assert "session_data_config.strategies[0].execution: strategy" in lines[0]
    assert "add session_data_config.execution" in lines[0]
