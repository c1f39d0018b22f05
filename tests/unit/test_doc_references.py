"""The reference pages agree with what they describe.

- ``docs/config.rst`` renders one model for every object of the committed JSON schema
  (``docs/session_config.schema.json``) and includes the schema itself, so the
  reference and the schema cannot drift apart (``tests/unit/test_docs.py`` checks
  that the schema is what ``stratagem schema --core`` prints).
- ``docs/run_metrics.md`` documents every key of ``metrics.json``, and only those:
  the keys of a data-driven and of a clock-driven run of the demo, and the feed
  counts a live WebSocket source adds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from stratagem._config import models

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SCHEMA = DOCS / "session_config.schema.json"
CONFIG_PAGE = DOCS / "config.rst"
METRICS_PAGE = DOCS / "run_metrics.md"
DEMO = REPO / "session_configs" / "demo.json"

MODEL_ENTRY = re.compile(r"^\.\. autopydantic_model::[ \t]+(\w+)[ \t]*$", re.M)
#: the first cell of a table row: one or more `key` names
KEY_CELL = re.compile(r"^\|\s*((?:`[\w.<>]+`(?:,\s*)?)+)\s*\|", re.M)


def schema_models() -> set[str]:
    """Names of the models whose objects the committed schema describes."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    names = {schema["title"]}
    names |= {
        name
        for name, definition in schema["$defs"].items()
        if definition.get("type") == "object" or "properties" in definition
    }
    return names


def test_the_config_reference_renders_every_model_of_the_schema() -> None:
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    rendered = MODEL_ENTRY.findall(page)
    assert "SessionDataConfig" in schema_models()
    missing = sorted(schema_models() - set(rendered))
    assert missing == [], (
        f"add '.. autopydantic_model:: NAME' to docs/config.rst: {missing}"
    )
    assert len(rendered) == len(set(rendered))
    for name in rendered:
        model = getattr(models, name, None)
        assert isinstance(model, type) and issubclass(model, BaseModel), name


def test_the_config_reference_includes_the_committed_schema() -> None:
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    assert re.search(
        r"^\.\. literalinclude:: session_config\.schema\.json$", page, re.M
    )
    assert ":download:`session_config.schema.json`" in page


def documented_keys(section: str) -> set[str]:
    """The keys listed in the tables of one ``## `` section of the metrics page.

    :param section: the section's heading, without the ``## ``.
    """
    text = METRICS_PAGE.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"no section '## {section}' in {METRICS_PAGE.name}"
    keys: set[str] = set()
    for cell in KEY_CELL.findall(match.group(1)):
        keys.update(re.findall(r"`([\w.<>]+)`", cell))
    keys.discard("key")
    return keys


@pytest.fixture(scope="module")
def demo_metrics(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """``metrics.json`` of the demo run data-driven and clock-driven (at once)."""
    root = tmp_path_factory.mktemp("metrics-runs")
    stratagem = Path(sys.executable).parent / "stratagem"
    runs = {
        "data": [],
        "clock": ["--speed", "100000"],
    }
    processes = {
        name: subprocess.Popen(
            [str(stratagem), "run", str(DEMO), "--out", str(root / name), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra in runs.items()
    }
    documents = []
    for name, process in processes.items():
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors[-3000:]
        documents.append(json.loads((root / name / "metrics.json").read_text()))
    return documents


def test_the_metrics_page_documents_every_system_key(demo_metrics: list[dict]) -> None:
    feed_plugin = pytest.importorskip(
        "stratagem_feed_websocket",
        reason="the feed_* keys come from plugins/stratagem-feed-websocket",
    )
    produced = {key for document in demo_metrics for key in document["system"]}
    assert {"lag_p99_ms", "bars_in"} <= produced  # a clock-driven run was among them
    source = feed_plugin.WebSocketSource("ws://127.0.0.1:9")
    feed = {f"feed_{key}" for key in source.feed_stats()}
    documented = documented_keys("`system`")
    assert sorted(produced - documented) == [], "undocumented system keys"
    assert sorted(documented - produced - feed) == [], "documented, never produced"
    assert feed <= documented


def test_the_metrics_page_documents_every_strategy_key(
    demo_metrics: list[dict],
) -> None:
    produced = {
        key
        for document in demo_metrics
        for strategy in document["strategies"].values()
        for key in strategy
    }
    documented = documented_keys("`strategies.<id>`")
    assert "signal_latency_hist_ms" in produced
    assert sorted(produced - documented) == [], "undocumented strategy keys"
    assert sorted(documented - produced) == [], "documented, never produced"


def test_the_key_reader_reads_every_name_of_a_row() -> None:
    rows = "| key | meaning |\n| `a`, `b_ms` | x |\n| `c` | y `d` |\n| e | z |\n"
    names = [re.findall(r"`([\w.<>]+)`", cell) for cell in KEY_CELL.findall(rows)]
    assert names == [["a", "b_ms"], ["c"]]
