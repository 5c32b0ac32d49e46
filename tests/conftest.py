from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Recorded wire transcripts (see ``tests/fixtures/README.md`` for their origin and licences)."""
    return FIXTURES
