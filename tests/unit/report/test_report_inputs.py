"""The report's inputs and its parts that need no browser: what is a run folder,
what a damaged file gives, the thinning of a long price series, and the command
staying light until it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stratagem._report.run_folder import (
    REQUIRED_FILES,
    ReportInputError,
    Table,
    read_run_folder,
)
from stratagem._session.outputs import check_out_dir

SIGNALS_HEADER = "bar_ts,strategy,symbol,interval,side,strength,reason,partial\n"


def write_run(folder: Path) -> Path:
    """The smallest run folder: the three files every run writes."""
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"status": "ok"}))
    (folder / "metrics.json").write_text(json.dumps({"system": {}, "strategies": {}}))
    (folder / "signals.csv").write_text(
        SIGNALS_HEADER + "2018-01-24T02:15:00Z,a,ETH_BTC,5m,buy,,why,\n"
    )
    return folder


@pytest.mark.parametrize("missing", REQUIRED_FILES)
def test_a_folder_without_a_run_file_is_refused_naming_it(
    tmp_path: Path, missing: str
) -> None:
    run = write_run(tmp_path / "run")
    (run / missing).unlink()
    with pytest.raises(ReportInputError) as caught:
        read_run_folder(run)
    assert str(caught.value).startswith(f"{run} is not a run folder: it has no")
    assert missing in str(caught.value)


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("<html></html>")
    with pytest.raises(ReportInputError, match="is not a run folder: it is a file"):
        read_run_folder(path)


def test_an_unreadable_manifest_is_named(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    (run / "manifest.json").write_text('{"status": ')
    with pytest.raises(ReportInputError, match=r"manifest\.json: not readable as JSON"):
        read_run_folder(run)


def test_a_signals_file_without_its_columns_is_named(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    (run / "signals.csv").write_text("when,who\n1,2\n")
    with pytest.raises(ReportInputError, match=r"signals\.csv: column 'ts'"):
        read_run_folder(run)


def test_a_damaged_metrics_line_is_skipped_and_noted(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    report = {"final": False, "system": {"wall_s": 1.0}, "strategies": {"a": {}}}
    (run / "metrics.jsonl").write_text(json.dumps(report) + "\n" + '{"final": tr\n')
    folder = read_run_folder(run)
    assert folder.snapshots == [report]
    assert folder.notes == ["metrics.jsonl line 2 is not JSON: skipped"]
    assert folder.signals["ts"].tolist() == [1516760100 * 10**9]
    assert folder.fills is None and folder.equity is None and folder.portfolio is None


def test_a_run_folder_holding_its_report_is_still_a_run_folder(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    (run / "report.html").write_text("<html></html>")
    # a new run replaces it with --overwrite; nothing stale is kept beside it
    assert run / "report.html" in check_out_dir(run, overwrite=True)


def test_a_long_price_series_is_thinned_and_says_so() -> None:
    from stratagem._report.figures import price_figure
    from stratagem._report.prices import Prices, PriceSeries

    # no real series is longer than the bound: a random walk of 250,000 minutes
    n = 250_000
    ts = np.arange(n, dtype=np.int64) * 60 * 10**9 + 1_500_000_000 * 10**9
    close = np.cumsum(np.random.default_rng(11).normal(size=n)) + 10_000.0
    close[77_777] = 99_999.0
    prices = Prices(origin="test", series={("X", "1m"): PriceSeries(ts, close)})
    empty = np.array([], dtype=object)
    signals = Table(
        {
            "ts": np.array([], dtype=np.int64),
            "strategy": empty,
            "symbol": empty,
            "interval": empty,
            "side": empty,
        }
    )
    figure = price_figure("X", prices, signals, None)
    assert figure is not None
    (trace,) = figure.figure.data
    assert len(trace.y) <= 100_000 and 99_999.0 in trace.y
    assert "downsampled: 250,000 points drawn as" in figure.figure.layout.title.text


def test_report_help_loads_neither_plotly_nor_the_runtime() -> None:
    probe = (
        "import sys\n"
        "from stratagem.cli import main\n"
        "try:\n"
        "    main(['report', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('plotly', 'numpy', 'pyarrow') or m.startswith('stratagem._report')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "RUN_DIR" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_run_without_execution_prices_or_signals_still_makes_a_page(
    tmp_path: Path,
) -> None:
    from stratagem._report.page import write_report

    run = write_run(tmp_path / "run")
    (run / "signals.csv").write_text(SIGNALS_HEADER)
    page = write_report([run], tmp_path / "out" / "page.html")
    text = page.read_text()
    assert "No execution in this run" in text
    assert "none: the run folder has no bars/" in text
    assert "No strategy timings in metrics.json" in text
    assert "Plotly.newPlot" not in text  # no figure to draw


def test_metrics_without_histograms_show_their_percentiles_and_say_so() -> None:
    from stratagem._report.figures import percentile_figure, timing_figure

    strategies = {
        "a": {"avg_ms": 0.01, "p50_ms": 0.008, "p99_ms": 0.05, "max_ms": 0.4},
        "b": {"avg_ms": 0.02, "p50_ms": 0.01, "p99_ms": 0.09, "max_ms": 1.2},
    }
    assert timing_figure(strategies) is None
    figure = percentile_figure(strategies)
    assert figure is not None and "carry no timing histogram" in figure.caption
    assert [list(trace.y) for trace in figure.figure.data] == [
        [0.01, 0.008, 0.05, 0.4],
        [0.02, 0.01, 0.09, 1.2],
    ]
