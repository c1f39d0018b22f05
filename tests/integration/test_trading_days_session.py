"""Trading days in a session (DESIGN section 15): the config's ``bars`` block, each
symbol's calendar, bars published when their (cut) window ends, and the same bars
data-driven and clock-driven."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from stratagem import Strategy, StrategyConfig
from stratagem._data.trading_days import TradingCalendar
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.build import SessionSpec, build_session
from stratagem.cli import CliState, main
from stratagem.testing import MemorySource, load_bars


def run(tmp_path: Path, name: str, session: dict, *args: str) -> Path:
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps({"session_data_config": session}))
    out = tmp_path / name
    done = CliRunner().invoke(
        main,
        ["run", str(config), "--out", str(out), "--save-bars", *args],
        obj=CliState(entry_points=[]),
    )
    assert done.exit_code == 0, done.output
    return out


def anchors(zone: str, start: str, first: date, days: int) -> list[int]:
    """Day starts computed one by one with zoneinfo, in the test."""
    hour, minute = map(int, start.split(":"))
    out = []
    for k in range(days):
        local = datetime.combine(first + timedelta(days=k), time(hour, minute))
        moment = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        out.append(int(moment.timestamp()) * 10**9)
    return out


@pytest.mark.parametrize("speed", [[], ["--speed", "1000000"]])
def test_eurusd_days_start_at_17_new_york_across_the_dst_change(
    tmp_path: Path, shared_data: Path, speed: list[str]
) -> None:
    session = {
        "symbols": ["EURUSD"],
        "streams": ["1h"],
        "streaming": {"data_upkeep": {"derived_intervals": ["4h", "1d"]}},
        "data": {"path": str(shared_data / "bars")},
        "start": "2017-10-25T00:00:00Z",
        "end": "2017-11-15T00:00:00Z",
        "bars": {"timezone": "America/New_York", "day_start": "17:00"},
        "reporters": [],
    }
    out = run(tmp_path, "days", session, *speed)
    rows = (out / "bars" / "1d" / "EURUSD.csv").read_text().splitlines()[1:]
    starts = {row.split(",")[0] for row in rows}
    # 17:00 New York is 21:00Z before 2017-11-05 and 22:00Z after
    assert "2017-11-02T21:00:00Z" in starts and "2017-11-07T22:00:00Z" in starts
    first = rows[0].split(",")[0][:10]
    days = anchors("America/New_York", "17:00", date.fromisoformat(first), 400)
    iso = {
        datetime.fromtimestamp(a / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for a in days
    }
    assert starts <= iso
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["bars"]["calendars"]["*"] == {
        "timezone": "America/New_York",
        "day_start": "17:00",
    }


def test_data_driven_and_clock_driven_publish_the_same_bars(
    tmp_path: Path, shared_data: Path
) -> None:
    # 6EH4: a CME future, its trading day from 17:00 Chicago; FESX on Berlin days
    session = {
        "symbols": ["6EH4", "FESX"],
        "streaming": {"data_upkeep": {"derived_intervals": [5, "1h", "1d"]}},
        "data": {"path": str(shared_data / "bars")},
        "bars": {
            "timezone": "America/Chicago",
            "day_start": "17:00",
            "empty": "fill",
            "symbols": {"FESX": {"timezone": "Europe/Berlin", "day_start": "00:00"}},
        },
        "reporters": [],
    }
    replay = run(tmp_path, "data", session)
    clock = run(tmp_path, "clock", session, "--speed", "100000000")
    for symbol in ("6EH4", "FESX"):
        for interval in ("1m", "5m", "1h", "1d"):
            a = (replay / "bars" / interval / f"{symbol}.csv").read_bytes()
            b = (clock / "bars" / interval / f"{symbol}.csv").read_bytes()
            assert a == b, (symbol, interval)
    manifest = json.loads((replay / "manifest.json").read_text())
    # minutes without a trade inside a trading day make flat 5m bars
    assert manifest["bars"]["filled"]["FESX 5m"] > 0
    assert manifest["bars"]["calendars"]["FESX"]["timezone"] == "Europe/Berlin"
    days = (replay / "bars" / "1d" / "FESX.csv").read_text().splitlines()[1:]
    # Berlin midnight is 23:00Z in winter (CET)
    assert {row.split(",")[0][11:] for row in days} <= {"23:00:00Z", "22:00:00Z"}


class DayWatcher(Strategy):
    SEEN: list[tuple[int, int]] = []

    def on_start(self, ctx) -> None:
        ctx.subscribe("EURUSD", "1d")

    def on_bars(self, ctx, symbol, interval) -> None:
        bars = ctx.bars(symbol, interval)
        for k in range(len(bars) - ctx.new_bars, len(bars)):
            DayWatcher.SEEN.append((int(bars.ts[k]), ctx.time_ns))


def test_a_day_is_published_when_it_ends_23_24_or_25_hours_later(
    shared_data: Path,
) -> None:
    eurusd = load_bars(shared_data / "bars" / "1h" / "EURUSD.csv")
    DayWatcher.SEEN = []
    spec = SessionSpec(
        symbols=["EURUSD"],
        strategies=[StrategyInstance("w", DayWatcher, StrategyConfig())],
        source=MemorySource({("EURUSD", "1h"): eurusd}),
        derived_minutes=(1440,),
        base_minutes=60,
        calendars={"*": TradingCalendar("Europe/London", "00:00")},
        start_ns=int(datetime(2017, 10, 20, tzinfo=UTC).timestamp()) * 10**9,
        end_ns=int(datetime(2017, 11, 10, tzinfo=UTC).timestamp()) * 10**9,
    )
    outcome = build_session(spec).run()
    assert outcome.error is None and len(DayWatcher.SEEN) > 10
    days = anchors("Europe/London", "00:00", date(2017, 10, 15), 30)
    steps = sorted(int(t) + 3_600_000_000_000 for t in eurusd.ts)
    hours = {}
    for start, seen_at in DayWatcher.SEEN:
        end = days[days.index(start) + 1]
        hours[start] = (end - start) // 3_600_000_000_000
        # at the first step (an hourly close) at or after the day's end: never
        # earlier (no look-ahead), never a step later
        assert seen_at == min(t for t in steps if t >= end)
    # 2017-10-29 in London lasts 25 hours, and its bar came when it ended
    (autumn,) = anchors("Europe/London", "00:00", date(2017, 10, 29), 1)
    assert hours[autumn] == 25
