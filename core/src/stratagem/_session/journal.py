"""The run's journal: an embedded SQLite database (``state.sqlite``, WAL) in the run
folder, written at every checkpoint and read by ``stratagem run --resume``.

Each checkpoint is one transaction: the session position (time and step count),
every strategy instance's ``on_save`` state with its subscriptions and position,
the books, the execution's open orders, and the signals and fills since the
previous checkpoint. A process killed between two checkpoints loses only what came
after the last one, and a resume replays exactly that.

Everything in it is JSON text or plain numbers, never pickle: reading a journal
cannot run code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratagem._records import Fill, Side, Signal
from stratagem._runtime.state import InstanceState

#: the journal's file name in a run folder (SQLite adds -wal and -shm beside it)
JOURNAL_NAME = "state.sqlite"
#: the layout written here; a journal of another layout is refused
FORMAT = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    session_ns INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    written_utc TEXT NOT NULL,
    reason TEXT NOT NULL,
    execution TEXT,
    failures TEXT NOT NULL
);
CREATE TABLE states (
    checkpoint INTEGER NOT NULL REFERENCES checkpoints(id),
    strategy TEXT NOT NULL,
    state TEXT,
    subscriptions TEXT NOT NULL,
    positions TEXT NOT NULL,
    signal_count INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (checkpoint, strategy)
);
CREATE TABLE books (
    checkpoint INTEGER NOT NULL REFERENCES checkpoints(id),
    book TEXT NOT NULL,
    cash REAL NOT NULL,
    fees REAL NOT NULL,
    positions TEXT NOT NULL,
    PRIMARY KEY (checkpoint, book)
);
CREATE TABLE signals (
    strategy TEXT NOT NULL,
    seq INTEGER NOT NULL,
    checkpoint INTEGER NOT NULL REFERENCES checkpoints(id),
    session_ns INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    signal TEXT NOT NULL,
    PRIMARY KEY (strategy, seq)
);
CREATE TABLE fills (
    seq INTEGER PRIMARY KEY,
    checkpoint INTEGER NOT NULL REFERENCES checkpoints(id),
    fill TEXT NOT NULL
);
"""
_TABLES = ("meta", "checkpoints", "states", "books", "signals", "fills")


class JournalError(ValueError):
    """A journal that cannot be resumed from: missing, corrupt, or not this run's."""


@dataclass
class Checkpoint:
    """Everything one checkpoint writes (and a resume reads back).

    :param session_ns: session time of the last step handled.
    :param steps: session steps taken by then.
    :param reason: ``steps``, ``seconds`` or ``stop``.
    :param instances: per strategy id, its state.
    :param signals: per strategy id, its new signals, each
        ``((session time, kind), signal)`` as the runtime orders them.
    :param fills: the execution's new fills, in booking order.
    :param books: per book id, its ``cash``, ``fees`` and ``positions``.
    :param execution: the execution's open orders and targets (JSON-able).
    :param failures: the failure records of strategies and broker (JSON-able).
    """

    session_ns: int
    steps: int
    reason: str
    instances: dict[str, InstanceState]
    signals: dict[str, list[tuple[tuple[int, int], Signal]]] = field(
        default_factory=dict
    )
    fills: list[Fill] = field(default_factory=list)
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    execution: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Resumed:
    """What a resume starts from: the last checkpoint, with every signal and fill
    journaled up to it, and the run's identity (meta)."""

    path: Path
    meta: dict[str, Any]
    checkpoint_id: int
    session_ns: int
    steps: int
    reason: str
    instances: dict[str, InstanceState]
    signals: dict[str, list[tuple[tuple[int, int], Signal]]]
    fills: list[Fill]
    books: dict[str, dict[str, Any]]
    execution: dict[str, Any] | None
    failures: list[dict[str, Any]]


# --- JSON forms of records ---------------------------------------------------------


def signal_to_json(signal: Signal) -> str:
    return json.dumps(
        {
            "symbol": signal.symbol,
            "interval": signal.interval,
            "bar_ts": signal.bar_ts,
            "side": str(signal.side),
            "strength": signal.strength,
            "reason": signal.reason,
            "strategy": signal.strategy,
            "emitted_ns": signal.emitted_ns,
            "partial": signal.partial,
        }
    )


def signal_from_json(text: str) -> Signal:
    body = json.loads(text)
    return Signal(
        symbol=body["symbol"],
        interval=body["interval"],
        bar_ts=int(body["bar_ts"]),
        side=Side(body["side"]),
        strength=body["strength"],
        reason=body["reason"],
        strategy=body["strategy"],
        emitted_ns=int(body["emitted_ns"]),
        partial=bool(body["partial"]),
    )


def fill_to_json(fill: Fill) -> str:
    return json.dumps(
        {
            "ts": fill.ts,
            "book": fill.book,
            "symbol": fill.symbol,
            "side": str(fill.side),
            "qty": fill.qty,
            "price": fill.price,
            "fee": fill.fee,
            "decision_ns": fill.decision_ns,
            "strategies": list(fill.strategies),
        }
    )


def fill_from_json(text: str) -> Fill:
    body = json.loads(text)
    return Fill(
        ts=int(body["ts"]),
        book=str(body["book"]),
        symbol=str(body["symbol"]),
        side=Side(body["side"]),
        qty=float(body["qty"]),
        price=float(body["price"]),
        fee=float(body["fee"]),
        decision_ns=int(body["decision_ns"]),
        strategies=tuple(str(s) for s in body["strategies"]),
    )


# --- writing -----------------------------------------------------------------------


class JournalWriter:
    """Writes checkpoints into a run folder's journal, one transaction each.

    Used from the session thread only. A resumed run appends to the journal it
    resumed from.

    :param path: the journal file (``<run folder>/state.sqlite``).
    :param meta: the run's identity (config digest, plugin versions, options),
        written when the journal is created and checked by a resume.
    :param resumed: the checkpoint a resumed run continues from.
    """

    def __init__(
        self,
        path: Path,
        meta: Mapping[str, Any],
        *,
        resumed: Resumed | None = None,
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resumed is None and path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # a commit is on disk before the next step: a kill -9 loses nothing written
        self._db.execute("PRAGMA synchronous=FULL")
        if resumed is None:
            self._db.executescript(_SCHEMA)
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        (key, json.dumps(value))
                        for key, value in {"format": FORMAT, **meta}.items()
                    ],
                )
            self._signal_counts: dict[str, int] = {}
            self._fill_count = 0
        else:
            self._signal_counts = {
                sid: len(rows) for sid, rows in resumed.signals.items()
            }
            self._fill_count = len(resumed.fills)
            with self._transaction() as db:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('resumed_from', ?)",
                    (json.dumps(resumed.checkpoint_id),),
                )
        self.checkpoints = 0

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def signals_written(self, strategy_id: str) -> int:
        """Signals of ``strategy_id`` already in the journal."""
        return self._signal_counts.get(strategy_id, 0)

    @property
    def fills_written(self) -> int:
        """Fills already in the journal."""
        return self._fill_count

    def write(self, checkpoint: Checkpoint) -> int:
        """Write one checkpoint in one transaction; returns its id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO checkpoints (session_ns, steps, written_utc, reason, "
                "execution, failures) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    checkpoint.session_ns,
                    checkpoint.steps,
                    datetime.now(UTC).isoformat(timespec="milliseconds"),
                    checkpoint.reason,
                    None
                    if checkpoint.execution is None
                    else json.dumps(checkpoint.execution),
                    json.dumps(checkpoint.failures),
                ),
            )
            cid = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO states VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cid,
                        sid,
                        None if item.state is None else json.dumps(item.state),
                        json.dumps([list(s) for s in item.subscriptions]),
                        json.dumps(dict(item.positions)),
                        item.signal_count,
                        int(item.quarantined),
                        item.error,
                    )
                    for sid, item in checkpoint.instances.items()
                ],
            )
            db.executemany(
                "INSERT INTO books VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        cid,
                        book,
                        state["cash"],
                        state["fees"],
                        json.dumps(dict(state["positions"])),
                    )
                    for book, state in checkpoint.books.items()
                ],
            )
            rows = []
            counts = dict(self._signal_counts)
            for sid, tagged in checkpoint.signals.items():
                start = counts.get(sid, 0)
                for offset, ((when, kind), signal) in enumerate(tagged):
                    rows.append(
                        (sid, start + offset, cid, when, kind, signal_to_json(signal))
                    )
                counts[sid] = start + len(tagged)
            db.executemany("INSERT INTO signals VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO fills VALUES (?, ?, ?)",
                [
                    (self._fill_count + offset, cid, fill_to_json(fill))
                    for offset, fill in enumerate(checkpoint.fills)
                ],
            )
        self._signal_counts = counts
        self._fill_count += len(checkpoint.fills)
        self.checkpoints += 1
        return cid

    def mark(self, key: str, value: Any) -> None:
        """Set one meta value (e.g. how the run ended)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value))
            )

    def close(self) -> None:
        self._db.close()

    def remove(self) -> None:
        """Delete the journal (a run refused before its first step); after
        :meth:`close`."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


# --- reading -------------------------------------------------------------------------


def read_journal(path: Path) -> Resumed:
    """The last checkpoint of a journal, checked.

    :raises JournalError: naming the journal and what is wrong with it: missing,
        not an SQLite database, damaged, of another layout, without a checkpoint,
        or holding values that do not decode.
    """
    if not path.is_file():
        raise JournalError(f"{path}: no journal (a run folder holds {JOURNAL_NAME})")
    try:
        # read-only: checking a journal never changes it
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            return _read(path, db)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: corrupt journal ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, JournalError):
            raise
        raise JournalError(
            f"{path}: corrupt journal (a value does not decode: "
            f"{type(exc).__name__}: {exc})"
        ) from None


def _read(path: Path, db: sqlite3.Connection) -> Resumed:
    check = db.execute("PRAGMA integrity_check").fetchone()
    if check is None or check[0] != "ok":
        raise JournalError(f"{path}: corrupt journal (integrity check: {check})")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise JournalError(
            f"{path}: not a stratagem journal (no table {', '.join(missing)})"
        )
    meta = {key: json.loads(value) for key, value in db.execute("SELECT * FROM meta")}
    if meta.get("format") != FORMAT:
        raise JournalError(
            f"{path}: journal format {meta.get('format')!r}, this version reads "
            f"{FORMAT}"
        )
    row = db.execute(
        "SELECT id, session_ns, steps, reason, execution, failures FROM checkpoints "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        raise JournalError(
            f"{path}: the run wrote no checkpoint before it stopped; nothing to "
            "resume (run it again from the start)"
        )
    cid, session_ns, steps, reason, execution, failures = row
    rows = db.execute(
        "SELECT strategy, state, subscriptions, positions, signal_count, "
        "quarantined, error FROM states WHERE checkpoint = ?",
        (cid,),
    )
    instances = {
        sid: InstanceState(
            state=_state(state),
            subscriptions=tuple(
                (str(s), str(i), bool(p)) for s, i, p in json.loads(subscriptions)
            ),
            positions={str(k): float(v) for k, v in json.loads(positions).items()},
            signal_count=int(count),
            quarantined=bool(quarantined),
            error=error,
        )
        for sid, state, subscriptions, positions, count, quarantined, error in rows
    }
    signals: dict[str, list[tuple[tuple[int, int], Signal]]] = {}
    for sid, when, kind, text in db.execute(
        "SELECT strategy, session_ns, kind, signal FROM signals "
        "WHERE checkpoint <= ? ORDER BY strategy, seq",
        (cid,),
    ):
        tagged = ((int(when), int(kind)), signal_from_json(text))
        signals.setdefault(sid, []).append(tagged)
    for sid, item in instances.items():
        if len(signals.get(sid, ())) != item.signal_count:
            raise JournalError(
                f"{path}: corrupt journal (strategy {sid}: "
                f"{len(signals.get(sid, ()))} signals journaled, the checkpoint "
                f"counts {item.signal_count})"
            )
    fills = [
        fill_from_json(text)
        for (text,) in db.execute(
            "SELECT fill FROM fills WHERE checkpoint <= ? ORDER BY seq", (cid,)
        )
    ]
    books = {
        book: {
            "cash": float(cash),
            "fees": float(fees),
            "positions": {str(k): float(v) for k, v in json.loads(positions).items()},
        }
        for book, cash, fees, positions in db.execute(
            "SELECT book, cash, fees, positions FROM books WHERE checkpoint = ?", (cid,)
        )
    }
    return Resumed(
        path=path,
        meta=meta,
        checkpoint_id=int(cid),
        session_ns=int(session_ns),
        steps=int(steps),
        reason=str(reason),
        instances=instances,
        signals=signals,
        fills=fills,
        books=books,
        execution=None if execution is None else _object(json.loads(execution)),
        failures=list(json.loads(failures)),
    )


def _state(text: str | None) -> dict[str, Any] | None:
    return None if text is None else _object(json.loads(text))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value
