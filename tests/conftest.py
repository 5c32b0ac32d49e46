from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis import PrivateRedis

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Recorded wire transcripts (see ``tests/fixtures/README.md`` for their origin and licences)."""
    return FIXTURES


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, on a free port, that it may kill and restart."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(tmp_path)
    try:
        yield redis
    finally:
        redis.close()


@pytest.fixture(scope="session", autouse=True)
def no_database_left_where_the_tests_run() -> Iterator[None]:
    """No test may write the default key database (``./claudegate.db``) into the checkout: a later
    gateway started there would find it (and enforce any key in it)."""
    default = Path.cwd() / "claudegate.db"
    existed = default.exists()
    yield
    assert existed or not default.exists(), "a test wrote ./claudegate.db: give its gateway a database_url"
