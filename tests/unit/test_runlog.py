"""Log records located in a run (run id, strategy, symbol, interval, bar time) and
their one-line JSON form; the command line is tested in tests/e2e/test_log_format.py.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stratagem import Strategy, StrategyConfig, _runlog
from stratagem._runlog import JsonFormatter, located, record_fields, set_run_id
from stratagem.testing import make_bars, run_strategy


class Capture(logging.Handler):
    """Keeps each record with its fields, as formatted in the logging thread."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    monkeypatch.setattr(_runlog, "_run_id", None)
    handler = Capture()
    logger = logging.getLogger("stratagem")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_located_keeps_the_fields_given_and_refuses_others() -> None:
    assert located(symbol="A", strategy=None, bar_ts="2024-01-01T00:00:00Z") == {
        "symbol": "A",
        "bar_ts": "2024-01-01T00:00:00Z",
    }
    with pytest.raises(TypeError, match="not a log field: sym"):
        located(sym="A")


def test_a_record_is_one_line_of_json_with_its_traceback(capture: Capture) -> None:
    log = logging.getLogger("stratagem.test")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("first line\nsecond line", extra=located(symbol="ETH_BTC"))
    (line,) = capture.lines
    assert line["level"] == "ERROR"
    assert line["logger"] == "stratagem.test"
    assert line["message"] == "first line\nsecond line"
    assert line["symbol"] == "ETH_BTC"
    assert "run_id" not in line
    assert line["traceback"].startswith("Traceback (most recent call last)")
    assert line["traceback"].endswith("ValueError: bad\nvalue")
    text = JsonFormatter().format(
        logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb", None, None)
    )
    assert "\n" not in text and json.loads(text)["message"] == "a\nb"


class Located(threading.Thread):
    def log_fields(self) -> dict[str, str]:
        return {"strategy": "from_thread", "symbol": "FROM_THREAD"}

    def run(self) -> None:
        logging.getLogger("stratagem.test").warning(
            "here", extra=located(symbol="FROM_CALL")
        )


def test_the_call_wins_over_the_thread_which_wins_over_the_run(
    capture: Capture,
) -> None:
    set_run_id("run-1")
    thread = Located()
    thread.start()
    thread.join()
    logging.getLogger("stratagem.test").info("main thread")
    assert [
        {k: line.get(k) for k in ("run_id", "strategy", "symbol")}
        for line in capture.lines
    ] == [
        {"run_id": "run-1", "strategy": "from_thread", "symbol": "FROM_CALL"},
        {"run_id": "run-1", "strategy": None, "symbol": None},
    ]
    assert list(record_fields(logging.makeLogRecord({"plugin": "scanner x"}))) == [
        "run_id",
        "plugin",
    ]


class TalksOnItsFourthBar(Strategy):
    config_class = StrategyConfig

    def on_start(self, ctx: Any) -> None:
        ctx.subscribe("A", "1m")

    def on_bars(self, ctx: Any, symbol: str, interval: str) -> None:
        if len(ctx.bars(symbol, interval)) == 4:
            ctx.log.info("fourth bar")


def test_a_strategy_s_own_records_name_it_and_its_bar(capture: Capture) -> None:
    bars = make_bars([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    result = run_strategy(
        [("talker", TalksOnItsFourthBar, StrategyConfig())],
        bars={"A": bars},
        derived_intervals=(),
    )
    (line,) = [line for line in capture.lines if line["message"] == "fourth bar"]
    assert line["logger"] == "stratagem.strategy.talker"
    assert line["run_id"] == result.session.run_id
    assert (line["strategy"], line["symbol"], line["interval"], line["bar_ts"]) == (
        "talker",
        "A",
        "1m",
        "2024-01-01T00:03:00Z",  # the fourth bar of make_bars' minutes
    )
