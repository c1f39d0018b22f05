"""The ``prometheus`` reporter over real sockets on 127.0.0.1: a clock-driven
session on the embedded sample data is scraped while it runs, through the installed
entry point, and what it served is checked against the run's outputs."""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

import stratagem
from stratagem.cli import main
from stratagem_prometheus import PrometheusConfig, prometheus_reporter

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "session_configs" / "sample_data"
DASHBOARD = Path(__file__).resolve().parents[1] / "grafana" / "stratagem.json"
METRICS_PAGE = REPO / "docs" / "metrics.md"
STRATEGY_IDS = {"fast_cross", "rsi_1m"}
#: no run in these tests may take longer than this
RUN_TIMEOUT_S = 60.0

needs_sample = pytest.mark.skipif(
    not (SAMPLE / "1m").is_dir(), reason=f"embedded sample data absent: {SAMPLE}"
)
_installed = {ep.name for ep in entry_points(group="stratagem")}
needs_strategies = pytest.mark.skipif(
    not {"ma_cross", "rsi_reversion"} <= _installed,
    reason="the contrib strategies ma_cross and rsi_reversion are not installed",
)

Sample = tuple[str, tuple[tuple[str, str], ...]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int, host: str = "127.0.0.1", path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as reply:
        return reply.read().decode()


def samples(text: str) -> dict[Sample, float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict[Sample, float], name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@dataclass
class ScrapedRun:
    """A clock-driven run of ``stratagem run`` and every scrape taken while it ran."""

    port: int
    out: Path
    scrapes: list[dict[Sample, float]]
    texts: list[str]
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory: pytest.TempPathFactory) -> ScrapedRun:
    if not (SAMPLE / "1m").is_dir():
        pytest.skip(f"embedded sample data absent: {SAMPLE}")
    if not {"ma_cross", "rsi_reversion"} <= _installed:
        pytest.skip(
            "the contrib strategies ma_cross and rsi_reversion are not installed"
        )
    folder = tmp_path_factory.mktemp("prometheus-run")
    port = free_port()
    config = folder / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC", "LTC_BTC"],
                    "streaming": {"data_upkeep": {"derived_intervals": [5]}},
                    "data": {"path": str(SAMPLE)},
                    # 16 session hours at 24,000x: about 2.4 s of wall time
                    "start": "2018-01-24T04:00:00Z",
                    "end": "2018-01-24T20:00:00Z",
                    "speed_multiplier": 24000,
                    "metrics_interval_s": 0.2,
                    "reporters": [
                        "json",
                        {
                            "name": "prometheus",
                            "config": {"port": port, "final_scrape_wait_s": 20},
                        },
                    ],
                    "strategies": [
                        {
                            "module": "ma_cross",
                            "id": "fast_cross",
                            "config": {
                                "symbols": ["ETH_BTC", "LTC_BTC"],
                                "interval": "5m",
                                "fast_period": 3,
                                "slow_period": 8,
                            },
                        },
                        {
                            "module": "rsi_reversion",
                            "id": "rsi_1m",
                            "config": {
                                "symbols": ["ETH_BTC"],
                                "interval": "1m",
                                "period": 14,
                                "oversold": 35,
                                "overbought": 65,
                            },
                        },
                    ],
                }
            }
        )
    )
    out = folder / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "stratagem.cli", "run", str(config), "--out", str(out)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    texts: list[str] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                texts.append(scrape(port))
            except (urllib.error.URLError, ConnectionError):
                pass  # not serving yet (before the first report) or no longer
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    return ScrapedRun(
        port=port,
        out=out,
        scrapes=[samples(text) for text in texts],
        texts=texts,
        returncode=process.returncode,
        stderr=stderr,
    )


@needs_sample
@needs_strategies
def test_a_clock_driven_run_is_served_while_it_runs(scraped_run: ScrapedRun) -> None:
    assert scraped_run.returncode == 0, scraped_run.stderr
    scrapes = scraped_run.scrapes
    running = [s for s in scrapes if value(s, "stratagem_session_ended") == 0]
    # served from the first periodic report on, several times before the end
    assert len(running) >= 3
    assert value(scrapes[-1], "stratagem_session_ended") == 1
    for scraped in scrapes:
        labelled = {
            dict(labels)["strategy"]
            for (name, labels) in scraped
            if name.startswith("stratagem_strategy_")
        }
        assert labelled == STRATEGY_IDS
        (info,) = [key for key in scraped if key[0] == "stratagem_session_info"]
        assert dict(info[1])["mode"] == "clock-driven"

    metrics = json.loads((scraped_run.out / "metrics.json").read_text())
    with (scraped_run.out / "signals.csv").open() as stream:
        signals = Counter(row["strategy"] for row in csv.DictReader(stream))
    last = scrapes[-1]
    assert value(last, "stratagem_bars_total") == metrics["system"]["bars_in"] > 0
    for strategy_id in STRATEGY_IDS:
        final = metrics["strategies"][strategy_id]
        seen = [
            value(s, "stratagem_strategy_notifications_total", strategy=strategy_id)
            for s in scrapes
        ]
        # a counter: never down, never above the final count, which the last equals
        assert seen == sorted(seen)
        assert seen[0] < seen[-1] == final["notifications"] > 0
        assert (
            value(last, "stratagem_strategy_signals_total", strategy=strategy_id)
            == signals[strategy_id]
            == final["signals"]
        )
        assert (
            value(
                last, "stratagem_strategy_state", strategy=strategy_id, state="stopped"
            )
            == 1
        )
        check_histogram(last, strategy_id, final)
    assert sum(signals.values()) > 0
    # the port is closed once the run is over
    assert refused(scraped_run.port)


def check_histogram(
    scraped: dict[Sample, float], strategy_id: str, final: dict[str, Any]
) -> None:
    """The time-per-notification histogram agrees with the run's own figures."""
    name = "stratagem_strategy_notification_seconds"
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (sample, labels), count in scraped.items()
        if sample == f"{name}_bucket" and dict(labels)["strategy"] == strategy_id
    )
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    total = value(scraped, f"{name}_count", strategy=strategy_id)
    assert buckets[-1] == (float("inf"), total)
    assert total == final["notifications"]
    # every duration at most the longest one: the first full bucket holds the max
    full = next(index for index, (_, count) in enumerate(buckets) if count == total)
    longest_s = final["max_ms"] / 1000
    assert buckets[full - 1][0] <= longest_s <= buckets[full][0]
    assert value(scraped, f"{name}_sum", strategy=strategy_id) == pytest.approx(
        final["total_ms"] / 1000, rel=1e-6
    )


def query_names(scraped: dict[Sample, float]) -> set[str]:
    return {name for name, _ in scraped}


@needs_sample
@needs_strategies
def test_every_metric_the_dashboard_queries_is_served(scraped_run: ScrapedRun) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = set()
    for expr in expressions(dashboard):
        queried |= set(re.findall(r"\b(?:stratagem|process)_[a-z0-9_]+\b", expr))
    served = set().union(*(query_names(s) for s in scraped_run.scrapes))
    assert len(queried) >= 15
    assert queried - served == set()


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression of a dashboard: panel targets and variable queries."""
    if isinstance(node, dict):
        for key, item in node.items():
            if key in ("expr", "definition") and isinstance(item, str):
                yield item
            else:
                yield from expressions(item)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


@needs_sample
@needs_strategies
def test_the_metrics_reference_lists_every_metric_served(
    scraped_run: ScrapedRun,
) -> None:
    listed = set(
        re.findall(r"^\| `(stratagem_[a-z0-9_]+)` \|", METRICS_PAGE.read_text(), re.M)
    )
    served = set()
    for text in scraped_run.texts:
        for family in text_string_to_metric_families(text):
            if not family.name.startswith("stratagem_"):
                continue
            suffix = "_total" if family.type == "counter" else ""
            served.add(family.name + suffix)
    assert listed == served


def test_serves_on_127_0_0_1_only_by_default_and_leaves_nothing_behind() -> None:
    assert PrometheusConfig().host == "127.0.0.1"
    port = free_port()
    before = set(threading.enumerate())
    reporter = prometheus_reporter(PrometheusConfig(port=port))
    assert refused(port)  # nothing is served before the first report
    reporter.report(a_report(final=False))
    try:
        scraped = samples(scrape(port))
        assert value(scraped, "stratagem_strategy_signals_total", strategy="s1") == 3
        assert value(scraped, "stratagem_session_ended") == 0
        with pytest.raises(urllib.error.HTTPError) as missing:
            scrape(port, path="/")
        assert missing.value.code == 404
        if sys.platform.startswith("linux"):
            # 127.0.0.2 is this machine too: only a socket bound to every
            # interface (or to that address) answers there
            assert refused(port, "127.0.0.2")
            assert serves_on_127_0_0_2_when_bound_to_every_interface()
    finally:
        reporter.close()
    assert refused(port)
    assert set(threading.enumerate()) <= before


def serves_on_127_0_0_2_when_bound_to_every_interface() -> bool:
    """The control of the 127.0.0.2 probe: it can tell the two bindings apart."""
    port = free_port()
    reporter = prometheus_reporter(PrometheusConfig(host="0.0.0.0", port=port))
    reporter.report(a_report(final=False))
    try:
        return "stratagem_session_ended" in scrape(port, host="127.0.0.2")
    finally:
        reporter.close()


def test_close_waits_for_a_scrape_of_the_final_report() -> None:
    port = free_port()
    reporter = prometheus_reporter(PrometheusConfig(port=port, final_scrape_wait_s=30))
    reporter.report(a_report(final=False))
    reporter.report(a_report(final=True))
    seen: list[float] = []

    def scrape_later() -> None:
        time.sleep(0.3)
        seen.append(value(samples(scrape(port)), "stratagem_session_ended"))

    scraper = threading.Thread(target=scrape_later)
    scraper.start()
    reporter.close()  # returns once the scraper has read the final report
    scraper.join()
    assert seen == [1.0]
    assert refused(port)


def a_report(*, final: bool) -> stratagem.MetricsReport:
    """A report of one strategy that emitted three signals."""
    return stratagem.MetricsReport(
        system={"mode": "live", "status": "ok", "bars_in": 10, "symbols": ["ETH_BTC"]},
        strategies={
            "s1": {
                "state": "running",
                "notifications": 10,
                "signals": 3,
                "avg_ms": 0.02,
                "hist_ms": {"edges": [0.016384, 0.02317047500592079], "counts": [10]},
            }
        },
        final=final,
        extra={"run_id": "r1"},
    )


def test_a_bad_port_is_a_config_error_naming_its_path(tmp_path: Path) -> None:
    config = tmp_path / "session.json"
    config.write_text(
        json.dumps(
            {
                "session_data_config": {
                    "symbols": ["ETH_BTC"],
                    "reporters": [
                        "console",
                        {"name": "prometheus", "config": {"port": 70000}},
                        {"name": "prometheus", "config": {"host": "localhost"}},
                        {"name": "prometheus", "config": {"prot": 9000}},
                    ],
                }
            }
        )
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 2
    where = "session_data_config.reporters"
    lines = result.stderr.splitlines()
    assert any(
        f"{where}[1].config.port: " in line and "65535" in line for line in lines
    ), result.stderr
    assert any(
        f"{where}[2].config.host: " in line and "not an IP address" in line
        for line in lines
    ), result.stderr
    assert any(
        f"{where}[3].config.prot: " in line and "did you mean 'port'" in line
        for line in lines
    ), result.stderr
    origin = f"stratagem-prometheus {version('stratagem-prometheus')}"
    assert all(origin in line for line in lines[:3])


def test_the_plugin_is_listed_ok_with_its_reporter() -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    (record,) = [r for r in json.loads(result.stdout) if r["name"] == "prometheus"]
    assert record["status"] == "OK"
    assert record["distribution"] == "stratagem-prometheus"
    assert record["entry_point"] == "stratagem_prometheus"
    assert record["reporters"] == ["prometheus"]


def test_stratagem_schema_describes_the_config() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    port = schema["$defs"]["PrometheusConfig"]["properties"]["port"]
    assert (port["minimum"], port["maximum"], port["type"]) == (0, 65535, "integer")
    core = json.loads(CliRunner().invoke(main, ["schema", "--core"]).stdout)
    assert "PrometheusConfig" not in core["$defs"]
