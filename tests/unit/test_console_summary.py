"""The end-of-run summary fits the terminal, and piped output is plain text with
every strategy name in full."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from stratagem import MetricsReport
from stratagem._builtin.reporters import ConsoleReporter

NAMES = ["ma_cross", "ma_cross_eth_15m_very_long_instance_name", "rsi_reversion"]


def report() -> MetricsReport:
    snap = {
        "state": "stopped",
        "notifications": 2880,
        "avg_ms": 0.0064,
        "p50_ms": 0.0049,
        "p99_ms": 0.0326,
        "max_ms": 0.084,
        "queue_max": 0,
        "overruns": 0,
        "dropped": 0,
        "errors": 0,
        "signals": 197,
        "signal_latency_p99_ms": 6.166,
    }
    return MetricsReport(
        system={
            "mode": "data-driven",
            "bars_in": 14911,
            "bars_per_s": 63166.0,
            "wall_s": 0.24,
            "bottleneck": NAMES[1],
        },
        strategies={name: dict(snap) for name in NAMES},
        final=True,
    )


def printed(width: int, terminal: bool) -> list[str]:
    stream = io.StringIO()
    console = Console(
        file=stream, width=width, force_terminal=terminal, color_system=None
    )
    ConsoleReporter(console).stratagem_report_metrics(report())
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_narrow_terminal_gets_lines_that_fit_with_names_in_full(width: int) -> None:
    lines = printed(width, terminal=True)
    assert max(len(line) for line in lines) <= width
    for name in NAMES:
        assert any(line.startswith(name) for line in lines), name
    assert not any("…" in line for line in lines)


def test_a_wide_terminal_gets_the_table() -> None:
    lines = printed(220, terminal=True)
    assert any("sig lat p99 ms" in line for line in lines)
    assert max(len(line) for line in lines) <= 220
    assert any(f"{NAMES[1]} (bottleneck)" in line for line in lines)


def test_piped_output_is_plain_lines_under_80_columns() -> None:
    lines = printed(80, terminal=False)
    assert not any(ch in "".join(lines) for ch in "┏┃│━")
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("data-driven: 14,911 bars in")
    assert f"{NAMES[1]} (bottleneck)" in lines
