"""Fixtures shared by the core test suites."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The shared real-data folder sits beside the repository: ``<repo>/../shared/data``.
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real bar data (``bars/<interval>/<SYMBOL>.csv``); skips without it."""
    root = SHARED_DATA.resolve()
    if not (root / "bars").is_dir():
        pytest.skip(
            f"real bar data not found at {root} (expected <repo>/../shared/data)"
        )
    return root
