"""Execution from the command line on the embedded real data: the accounts add up
to the cent, and the outputs are deterministic."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "session_configs" / "demo_execution.json"
SAMPLE = REPO / "session_configs" / "sample_data"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stratagem.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exec") / "run"
    done = run(str(DEMO), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def last_closes() -> dict[str, float]:
    closes = {}
    for path in (SAMPLE / "1m").glob("*.csv"):
        last = path.read_text().splitlines()[-1]
        closes[path.stem] = float(last.split(",")[4])
    return closes


def test_trades_open_positions_and_fees_add_up_to_the_pnl_to_the_cent(
    demo: Path,
) -> None:
    portfolio = json.loads((demo / "portfolio.json").read_text())
    fills = rows(demo / "fills.csv")
    trades = rows(demo / "trades.csv")
    closes = last_closes()
    assert portfolio["annualisation"]
    for book, stats in portfolio["books"].items():
        book_fills = [f for f in fills if f["book"] == book]
        assert stats["fills"] == len(book_fills) > 0
        fees = sum(float(f["fee"]) for f in book_fills)
        assert stats["fees"] == pytest.approx(fees, abs=1e-9)
        # open lots, FIFO: what the fills bought that the trades did not close
        opened: dict[str, list[list[float]]] = {}
        for fill in book_fills:
            opened.setdefault(fill["symbol"], [])
        for fill in book_fills:
            sign = 1.0 if fill["side"] == "buy" else -1.0
            lots = opened[fill["symbol"]]
            qty = float(fill["qty"])
            while qty > 1e-12 and lots and lots[0][0] * sign < 0:
                take = min(qty, abs(lots[0][0]))
                lots[0][0] += sign * take
                qty -= take
                if abs(lots[0][0]) < 1e-12:
                    lots.pop(0)
            if qty > 1e-12:
                lots.append([sign * qty, float(fill["price"])])
        unrealised = sum(
            q * (closes[symbol] - price)
            for symbol, lots in opened.items()
            for q, price in lots
        )
        realised = sum(float(t["pnl"]) for t in trades if t["book"] == book)
        assert realised + unrealised - fees == pytest.approx(stats["pnl"], abs=0.005)
        assert stats["final_equity"] - stats["initial_cash"] == pytest.approx(
            stats["pnl"], abs=1e-9
        )


def test_execution_outputs_are_byte_identical_run_to_run_and_whatever_the_threads(
    demo: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert run(str(DEMO), "--out", str(again)).returncode == 0
    for name in ("fills.csv", "trades.csv", "equity.csv", "signals.csv"):
        assert (again / name).read_bytes() == (demo / name).read_bytes(), name
    # the same strategy entry eight times: eight books, each the single run's
    config = json.loads(DEMO.read_text())
    session = config["session_data_config"]
    first = session["strategies"][0]
    session["strategies"] = [{**first, "id": f"ma{k}"} for k in range(8)]
    path = tmp_path / "eight.json"
    session["data"]["path"] = str(SAMPLE)
    path.write_text(json.dumps(config))
    eight = tmp_path / "eight"
    done = run(str(path), "--out", str(eight))
    assert done.returncode == 0, done.stderr
    single = [
        {k: v for k, v in r.items() if k != "book"}
        for r in rows(demo / "fills.csv")
        if r["book"] == first.get("id", first["module"])
    ]
    many = rows(eight / "fills.csv")
    for k in range(8):
        mine = [
            {key: v for key, v in r.items() if key != "book"}
            for r in many
            if r["book"] == f"ma{k}"
        ]
        assert mine == single, k


def test_the_summary_names_every_book(demo: Path, tmp_path: Path) -> None:
    done = run(str(DEMO), "--out", str(tmp_path / "s"))
    books = json.loads((demo / "portfolio.json").read_text())["books"]
    for book in books:
        assert f"book {book}" in done.stderr
