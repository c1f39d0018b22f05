"""Fixtures for the ``rsi_reversion`` tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<repo>/strategies-contrib/stratagem-rsi-reversion/tests/conftest.py`` -> ``<repo>``
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The repository's embedded sample bars (``<interval>/<SYMBOL>.csv``)."""
    root = REPO / "session_configs" / "sample_data"
    if not (root / "1m").is_dir():
        pytest.skip(f"embedded sample data not found at {root}")
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real bar data, ``<repo>/../shared/data``; skips when it is absent."""
    root = (REPO / ".." / "shared" / "data").resolve()
    if not (root / "bars").is_dir():
        pytest.skip(
            f"real bar data not found at {root} (expected <repo>/../shared/data)"
        )
    return root
