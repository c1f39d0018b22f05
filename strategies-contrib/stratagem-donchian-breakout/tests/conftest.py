"""Fixtures for the ``donchian_breakout`` tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<repo>/strategies-contrib/stratagem-donchian-breakout/tests/conftest.py`` ->
#: ``<repo>``
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real bar data, ``<repo>/../shared/data``; skips when it is absent."""
    root = (REPO / ".." / "shared" / "data").resolve()
    if not (root / "bars").is_dir():
        pytest.skip(
            f"real bar data not found at {root} (expected <repo>/../shared/data)"
        )
    return root
