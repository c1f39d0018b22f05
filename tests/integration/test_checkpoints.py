"""Checkpoints in process (DESIGN 12): ``on_save`` / ``on_load``, what a checkpoint
holds, a failing ``on_save``, and checkpoints of a clock-driven run, where nobody
waits for them."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stratagem import Signal, Strategy, StrategyConfig, StrategyContext
from stratagem._config.models import CheckpointEvery
from stratagem._runtime.thread import StrategyInstance
from stratagem._session.build import Session, SessionSpec, build_session
from stratagem._session.journal import JournalWriter, read_journal
from stratagem.testing import MemorySource, load_bars

SAMPLE = Path(__file__).resolve().parents[2] / "session_configs" / "sample_data"
FIVE_MIN = 5 * 60 * 10**9


class Counter(Strategy):
    """Counts ETH_BTC 5m bars; signals on every tenth, with the count in it."""

    last: Counter | None = None

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config)
        self.count = 0
        self.calls: list[str] = []
        self.loaded: dict[str, Any] | None = None
        type(self).last = self

    def on_start(self, ctx: StrategyContext) -> None:
        self.calls.append("start")
        ctx.subscribe("ETH_BTC", "5m")

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        self.count += ctx.new_bars
        if self.count % 10 == 0:
            bar_ts = int(ctx.bars(symbol, interval).ts[-1])
            ctx.emit(Signal(symbol, interval, bar_ts, "buy", reason=f"n={self.count}"))

    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        return {"count": self.count}

    def on_load(self, ctx: StrategyContext, state: dict[str, Any]) -> None:
        self.calls.append("load")
        self.loaded = state
        self.count = state["count"]


class FailsToSave(Counter):
    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        raise RuntimeError("cannot save")


class NotJson(Counter):
    def on_save(self, ctx: StrategyContext) -> dict[str, Any]:
        return {"closes": np.arange(3.0)}


@pytest.fixture(scope="module")
def eth() -> Any:
    return load_bars(SAMPLE / "1m" / "ETH_BTC.csv")


def session_of(
    eth: Any, strategies: list[tuple[str, type[Strategy]]], *, speed: float = 0.0
) -> Session:
    spec = SessionSpec(
        symbols=["ETH_BTC"],
        strategies=[
            StrategyInstance(id=sid, strategy_cls=cls, config=StrategyConfig())
            for sid, cls in strategies
        ],
        source=MemorySource({("ETH_BTC", "1m"): eth}),
        derived_minutes=(5,),
        speed_multiplier=speed,
    )
    return build_session(spec)


def journaled(
    session: Session, path: Path, every: CheckpointEvery, **kwargs: Any
) -> JournalWriter:
    writer = JournalWriter(path, {"test": True}, **kwargs)
    session.keep_journal(writer, every)
    return writer


def rows(signals: Any) -> list[tuple[Any, ...]]:
    """Signals as ``signals.csv`` has them (not their wall-clock emission time)."""
    return [(s.strategy, s.symbol, s.bar_ts, str(s.side), s.reason) for s in signals]


def states(path: Path) -> list[tuple[int, int, str, str | None, str | None]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT c.steps, c.session_ns, s.strategy, s.state, s.error "
            "FROM checkpoints c JOIN states s ON s.checkpoint = c.id ORDER BY c.id"
        ).fetchall()


def test_hook_stratagem_on_save(tmp_path: Path, eth: Any) -> None:
    """Every 100 steps and at stop, the journal holds the count of 5m bars the
    strategy had seen: the bars closed by the checkpoint's session time."""
    session = session_of(eth, [("counter", Counter)])
    journal = tmp_path / "state.sqlite"
    journaled(session, journal, CheckpointEvery(steps=100))
    outcome = session.run()
    rows = states(journal)
    assert len(rows) >= 5
    closes = np.asarray(outcome_series_ts(session)) + FIVE_MIN
    for steps, session_ns, sid, state, error in rows:
        assert sid == "counter" and error is None
        visible = int(np.searchsorted(closes, session_ns, side="right"))
        assert json.loads(state) == {"count": visible}, steps
    assert [r[0] for r in rows[:-1]] == [100 * (i + 1) for i in range(len(rows) - 1)]
    assert outcome.status == "ok"


def outcome_series_ts(session: Session) -> Any:
    series = session.data.series("ETH_BTC", "5m")
    return series.column("ts")[: series.n]


def test_hook_stratagem_on_load(tmp_path: Path, eth: Any) -> None:
    """A journal cut back to its third checkpoint (as if the process died after
    it): the resumed run calls ``on_load`` after ``on_start`` with that state, and
    ends with the uninterrupted run's signals."""
    whole = session_of(eth, [("counter", Counter)]).run()
    session = session_of(eth, [("counter", Counter)])
    journal = tmp_path / "state.sqlite"
    journaled(session, journal, CheckpointEvery(steps=100))
    session.run()
    with sqlite3.connect(journal) as db:
        (saved,) = db.execute(
            "SELECT state FROM states WHERE checkpoint = 3"
        ).fetchone()
        for table in ("states", "books", "signals", "fills"):
            db.execute(f"DELETE FROM {table} WHERE checkpoint > 3")
        db.execute("DELETE FROM checkpoints WHERE id > 3")
    resumed = read_journal(journal)
    assert resumed.steps == 300

    again = session_of(eth, [("counter", Counter)])
    again.resume_from(resumed)
    journaled(again, journal, CheckpointEvery(steps=100), resumed=resumed)
    outcome = again.run()
    assert Counter.last is not None
    assert Counter.last.calls == ["start", "load"]
    assert Counter.last.loaded == json.loads(saved)
    assert rows(outcome.signals) == rows(whole.signals)
    assert [s.reason for s in outcome.signals][:3] == ["n=10", "n=20", "n=30"]


def test_on_save_raising_follows_the_policy_and_the_checkpoint_is_written(
    tmp_path: Path, eth: Any
) -> None:
    session = session_of(eth, [("fails", FailsToSave), ("counter", Counter)])
    journal = tmp_path / "state.sqlite"
    journaled(session, journal, CheckpointEvery(steps=200))
    outcome = session.run()
    (failure,) = outcome.failures
    assert (failure.plugin.id, failure.hook, failure.action) == (
        "fails",
        "on_save",
        "quarantine",
    )
    assert "cannot save" in failure.error
    first = [r for r in states(journal) if r[0] == 200]
    by_id = {sid: (state, error) for _, _, sid, state, error in first}
    assert by_id["fails"] == (None, "RuntimeError: cannot save")
    assert json.loads(by_id["counter"][0])["count"] > 0
    # the other strategy went on to the end
    assert outcome.status == "degraded"
    alone = session_of(eth, [("counter", Counter)]).run()
    assert rows(s for s in outcome.signals if s.strategy == "counter") == rows(
        alone.signals
    )


def test_a_state_that_is_not_json_is_an_on_save_failure(
    tmp_path: Path, eth: Any
) -> None:
    session = session_of(eth, [("numpy", NotJson)])
    journaled(session, tmp_path / "state.sqlite", CheckpointEvery(steps=500))
    outcome = session.run()
    (failure,) = outcome.failures
    assert failure.hook == "on_save"
    assert "not JSON serializable" in failure.error


class Slow(Counter):
    """A clock-driven strategy slower than some steps (nobody waits for it)."""

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        threading.Event().wait(0.002)
        super().on_bars(ctx, symbol, interval)


def test_clock_driven_checkpoints_hold_each_strategys_signals_up_to_its_save(
    tmp_path: Path, eth: Any
) -> None:
    session = session_of(eth, [("slow", Slow), ("counter", Counter)], speed=30000.0)
    journal = tmp_path / "state.sqlite"
    journaled(session, journal, CheckpointEvery(steps=300))
    outcome = session.run()
    resumed = read_journal(journal)
    assert resumed.reason == "stop"
    with sqlite3.connect(journal) as db:
        reasons = [r for (r,) in db.execute("SELECT reason FROM checkpoints")]
    assert reasons.count("steps") >= 3 and reasons[-1] == "stop"
    for sid in ("slow", "counter"):
        journaled_signals = [signal for _, signal in resumed.signals.get(sid, [])]
        final = [s for s in outcome.signals if s.strategy == sid]
        assert rows(journaled_signals) == rows(final)
        # the state and the signal count are taken at the same moment
        instance = resumed.instances[sid]
        assert instance.state is not None
        assert instance.state["count"] // 10 == instance.signal_count
