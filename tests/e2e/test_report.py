"""``stratagem report`` end to end: the demo run (with execution) through the
installed entry point, its page opened in headless Chromium (the system's
``chromium``, driven by playwright), every figure checked against the run's own
files; two runs side by side; a folder that is not a run refused."""

from __future__ import annotations

import csv
import html
import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "session_configs" / "demo_execution.json"
SAMPLE = REPO / "session_configs" / "sample_data"
#: the installed console script, beside the interpreter running the tests
STRATAGEM = Path(sys.executable).with_name("stratagem")


def stratagem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STRATAGEM), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with execution, data-driven, without saved bars."""
    out = tmp_path_factory.mktemp("report") / "demo"
    done = stratagem("run", str(DEMO), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def clock_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same session clock-driven, reporting metrics every 0.05 s, bars saved."""
    folder = tmp_path_factory.mktemp("report-clock")
    config = json.loads(DEMO.read_text())
    config.pop("$schema")
    config["session_data_config"]["metrics_interval_s"] = 0.05
    path = folder / "clock.json"
    path.write_text(json.dumps(config))
    out = folder / "clock"
    done = stratagem(
        "run",
        str(path),
        "--data",
        str(SAMPLE),
        "--speed",
        "200000",
        "--save-bars",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


class Rendered:
    """A report opened in the browser: its figures' data and what the console said."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        #: every address the page asked for beyond its own file
        self.requests: list[str] = []
        self.page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("file:", "data:", "blob:"))
                else self.requests.append(r.url)
            ),
        )
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def figures(self) -> dict[str, dict[str, Any]]:
        """Every plotly figure by element id: whether it drew, its traces, title."""
        return self.page.evaluate(
            """() => {
              // plotly keeps numeric arrays base64-encoded in gd.data
              const TYPES = {f8: Float64Array, f4: Float32Array, i4: Int32Array,
                             u4: Uint32Array, i2: Int16Array, u2: Uint16Array,
                             i1: Int8Array, u1: Uint8Array};
              const values = v => {
                if (!v) return [];
                if (v.bdata === undefined) return Array.from(v);
                const raw = atob(v.bdata);
                const bytes = Uint8Array.from(raw, c => c.charCodeAt(0));
                return Array.from(new TYPES[v.dtype](bytes.buffer));
              };
              return Object.fromEntries(
                Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => [
                  gd.id, {
                    plotted: gd.classList.contains('js-plotly-plot'),
                    svg: gd.querySelector('.main-svg') !== null,
                    drawn: gd.querySelectorAll('.trace').length,
                    title: gd.layout && gd.layout.title ? gd.layout.title.text : '',
                    traces: (gd.data || []).map(t => ({
                      name: t.name, type: t.type,
                      visible: t.visible === undefined ? true : t.visible,
                      x: values(t.x), y: values(t.y),
                      customdata: t.customdata ? values(t.customdata) : null,
                    })),
                  }]));
            }"""
        )


class ExternalReferences(HTMLParser):
    """Every ``src`` or ``href`` of the page that points at a network address."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            address = (value or "").strip().lower()
            if name in ("src", "href") and address.startswith(
                ("http:", "https:", "//")
            ):
                self.found.append(f"<{tag} {name}={value}>")


def assert_every_figure_drew(figures: dict[str, dict[str, Any]]) -> None:
    assert figures
    for figure_id, figure in figures.items():
        assert figure["plotted"] and figure["svg"], f"{figure_id} did not render"
        assert figure["traces"] and figure["drawn"] > 0, f"{figure_id} has no traces"


@pytest.fixture(scope="module")
def demo_report(demo_run: Path) -> Path:
    done = stratagem("report", str(demo_run))
    assert done.returncode == 0, done.stderr
    written = demo_run / "report.html"
    assert str(written) in done.stdout
    return written


def test_the_page_is_self_contained(demo_report: Path) -> None:
    text = demo_report.read_text()
    parser = ExternalReferences()
    parser.feed(text)
    assert parser.found == []
    # plotly.js itself is inside the page, and draws the figures
    assert "* plotly.js v" in text and len(text) > 3_000_000
    assert "Plotly.newPlot" in text


@pytest.fixture(scope="module")
def demo_page(demo_report: Path, browser: Any) -> Rendered:
    """The demo's report, opened once for the tests that only read it."""
    return Rendered(browser, demo_report)


@pytest.fixture(scope="module")
def demo_figures(demo_page: Rendered) -> dict[str, dict[str, Any]]:
    return demo_page.figures()


def test_every_figure_renders_without_a_console_error(
    demo_run: Path, demo_page: Rendered, demo_figures: dict[str, dict[str, Any]]
) -> None:
    rendered, figures = demo_page, demo_figures
    assert_every_figure_drew(figures)
    assert rendered.errors == []
    assert rendered.requests == []
    symbols = json.loads((demo_run / "manifest.json").read_text())["session"]["symbols"]
    expected = {f"run1-price-{s}" for s in symbols}
    expected |= {"run1-equity", "run1-timing", "run1-queue"}
    assert set(figures) == expected
    page_text = rendered.page.inner_text("body")
    assert "the 1m data files the manifest lists" in page_text
    assert "6 of 6 with the sha256 the run recorded" in page_text


def test_price_figures_hold_every_signal_and_fill_of_the_run(
    demo_run: Path, demo_figures: dict[str, dict[str, Any]]
) -> None:
    figures = demo_figures
    signals = Counter((r["symbol"], r["side"]) for r in rows(demo_run / "signals.csv"))
    fills = Counter((r["symbol"], r["side"]) for r in rows(demo_run / "fills.csv"))
    for (symbol, side), count in signals.items():
        traces = figures[f"run1-price-{symbol}"]["traces"]
        drawn = sum(
            len(t["x"]) for t in traces if t["name"].endswith(f" {side} signals")
        )
        assert drawn == count, (symbol, side)
    for (symbol, side), count in fills.items():
        traces = figures[f"run1-price-{symbol}"]["traces"]
        (trace,) = [t for t in traces if t["name"] == f"{side} fills"]
        prices = sorted(
            float(r["price"])
            for r in rows(demo_run / "fills.csv")
            if (r["symbol"], r["side"]) == (symbol, side)
        )
        assert sorted(trace["y"]) == pytest.approx(prices)
        assert len(trace["x"]) == count


def test_a_signal_is_drawn_at_the_close_of_the_bar_it_was_computed_on(
    demo_run: Path, demo_figures: dict[str, dict[str, Any]]
) -> None:
    figures = demo_figures
    # the 1m closes from the sample file itself, for a 1m-independent check: the
    # 5m bar opening at t closes with the last 1m bar of [t, t + 5m)
    closes = {
        r["timestamp"]: float(r["close"]) for r in rows(SAMPLE / "1m" / "ETH_BTC.csv")
    }
    signal = next(
        r
        for r in rows(demo_run / "signals.csv")
        if r["symbol"] == "ETH_BTC" and r["interval"] == "5m"
    )
    opened = datetime.fromisoformat(signal["bar_ts"].replace("Z", "+00:00"))
    minutes = [
        (opened + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(5)
    ]
    close = [closes[m] for m in minutes if m in closes][-1]
    (trace,) = [
        t
        for t in figures["run1-price-ETH_BTC"]["traces"]
        if t["name"] == f"5m {signal['side']} signals"
    ]
    drawn = {
        (x, data[0]): y
        for x, y, data in zip(trace["x"], trace["y"], trace["customdata"], strict=True)
    }
    assert drawn[(opened.timestamp() * 1000, signal["strategy"])] == close


def test_equity_and_drawdown_end_where_the_portfolio_says(
    demo_run: Path, demo_figures: dict[str, dict[str, Any]]
) -> None:
    portfolio = json.loads((demo_run / "portfolio.json").read_text())["books"]
    traces = demo_figures["run1-equity"]["traces"]
    for book, stats in portfolio.items():
        equity, drawdown = [t for t in traces if t["name"] == book]
        assert equity["y"][-1] == pytest.approx(stats["final_equity"])
        assert -min(drawdown["y"]) == pytest.approx(stats["max_drawdown_pct"])


def test_timing_histograms_count_every_notification(
    demo_run: Path, demo_figures: dict[str, dict[str, Any]]
) -> None:
    metrics = json.loads((demo_run / "metrics.json").read_text())["strategies"]
    traces = demo_figures["run1-timing"]["traces"]
    for strategy, snap in metrics.items():
        # the first panel: time per notification
        first = next(t for t in traces if t["name"] == strategy)
        assert sum(int(c[0]) for c in first["customdata"]) == snap["notifications"]
        assert sum(first["y"]) == pytest.approx(100.0)


def test_two_runs_side_by_side(
    demo_run: Path, clock_run: Path, browser: Any, tmp_path: Path
) -> None:
    output = tmp_path / "both.html"
    done = stratagem("report", str(demo_run), str(clock_run), "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert not (clock_run / "report.html").exists()
    rendered = Rendered(browser, output)
    figures = rendered.figures()
    assert_every_figure_drew(figures)
    assert rendered.errors == []
    assert {i.split("-")[0] for i in figures} == {"run1", "run2"}
    boxes = [rendered.page.locator(f"#run{n}").bounding_box() for n in (1, 2)]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]
    # the clock-driven run's queue depth: one point per metrics report
    reports = (clock_run / "metrics.jsonl").read_text().splitlines()
    assert len(reports) > 2
    queue = figures["run2-queue"]["traces"]
    assert {len(t["x"]) for t in queue} == {len(reports)}
    depths = [json.loads(line)["strategies"] for line in reports]
    for trace in queue:
        if trace["name"] in depths[0]:
            assert trace["y"] == [d[trace["name"]]["queue_size"] for d in depths]
    # bars the session saved and bars rebuilt from the data files are the same
    # bars (ZEC_BTC, added mid-session, was published from its warm-up on)
    text = rendered.page.inner_text("#run2")
    assert "saved in" in text and "--save-bars" in text
    for symbol in ("ETH_BTC", "ZEC_BTC"):
        files = {t["name"]: t for t in figures[f"run1-price-{symbol}"]["traces"]}
        saved = {t["name"]: t for t in figures[f"run2-price-{symbol}"]["traces"]}
        for name in ("1m close", "5m close", "15m close"):
            start = max(files[name]["x"][0], saved[name]["x"][0])
            pairs = [
                [(x, y) for x, y in zip(t["x"], t["y"], strict=True) if x >= start]
                for t in (files[name], saved[name])
            ]
            assert len(pairs[0]) > 50 and pairs[0] == pairs[1], (symbol, name)


def test_a_changed_or_missing_data_file_is_said_on_the_page(
    demo_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    data = tmp_path / "data" / "1m"
    data.mkdir(parents=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    files = manifest["data"]["files"]
    changed = data / "ETH_BTC.csv"
    lines = (SAMPLE / "1m" / "ETH_BTC.csv").read_text().splitlines()
    changed.write_text("\n".join(lines[:-1]) + "\n")  # the last bar cut
    for entry in files:
        if entry["path"].endswith("ETH_BTC.csv"):
            entry["path"] = str(changed)
        if entry["path"].endswith("LTC_BTC.csv"):
            entry["path"] = str(data / "LTC_BTC.csv")  # not there
    (copy / "manifest.json").write_text(json.dumps(manifest))
    done = stratagem("report", str(copy))
    assert done.returncode == 0, done.stderr
    text = html.unescape((copy / "report.html").read_text())
    assert f"{changed}: changed since the run" in text
    assert f"{data / 'LTC_BTC.csv'}: listed in the manifest but missing now" in text
    assert "4 of 5 with the sha256 the run recorded" in text


def test_a_folder_that_is_not_a_run_exits_2_naming_it(
    tmp_path: Path, demo_run: Path
) -> None:
    missing = tmp_path / "nowhere"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    done = stratagem("report", str(missing), str(other))
    assert done.returncode == 2
    assert f"{missing} is not a run folder: it does not exist" in done.stderr
    assert f"{other} is not a run folder: it has no manifest.json" in done.stderr
    assert not (other / "report.html").exists()
    done = stratagem("report", str(demo_run), str(other), "-o", str(tmp_path / "x"))
    assert done.returncode == 2 and str(other) in done.stderr
    assert not (tmp_path / "x").exists()


def test_the_interval_menu_switches_the_price_series(
    demo_page: Rendered, demo_figures: dict[str, dict[str, Any]]
) -> None:
    # last in the module: it changes the demo page the tests above read
    rendered = demo_page
    figure = rendered.page.locator("#run1-price-ETH_BTC")
    assert "5m closes" in demo_figures["run1-price-ETH_BTC"]["title"]
    figure.locator(".updatemenu-header-group").click()
    figure.locator(".updatemenu-dropdown-button", has_text="15m").click()
    after = rendered.figures()["run1-price-ETH_BTC"]
    assert "15m closes" in after["title"]
    visible = [t["name"] for t in after["traces"] if t["visible"] is True]
    assert "15m close" in visible and "5m close" not in visible
    assert "buy fills" in visible
    assert rendered.errors == []
