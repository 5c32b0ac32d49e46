"""Dynamic settings: a changed file is applied, a bad one is reported and the old settings kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from claudegate.client import AsyncClient, ClientSettings, DynamicConfig
from claudegate.errors import UserError
from claudegate.simulator import create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"


def last_error(config: DynamicConfig[ClientSettings]) -> Exception | None:
    """Read the attribute through a call, so each read is fresh to the type checker."""
    return config.last_error


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    # distinct mtimes even on coarse file-system clocks
    stamp = 1_700_000_000 + bump
    os.utime(path, (stamp, stamp))


async def test_a_changed_file_is_applied_to_a_live_client(tmp_path: Path) -> None:
    app = create_app()
    with LiveServer(app) as server:
        path = tmp_path / "client.yaml"
        write(path, "base_url: http://127.0.0.1:9\ntimeout: 30\n", 0)
        async with AsyncClient(api_key=KEY, base_url="http://placeholder.test") as client:
            errors: list[Exception] = []
            config: DynamicConfig[ClientSettings] = DynamicConfig(
                path, on_change=lambda s: s.apply_to(client), on_error=errors.append
            )
            assert client.base_url == "http://127.0.0.1:9" and client.timeout.total == 30
            write(path, f"base_url: {server.base_url}\nmax_retries: 1\ndefault_headers: {{x-team: a}}\n", 1)
            config.start(interval=0.02)
            for _ in range(100):
                if config.version == 2:
                    break
                await asyncio.sleep(0.02)
            await config.stop()
            assert config.version == 2 and not errors
            assert client.retry.max_retries == 1
            model = await client.models.retrieve("claude-sonnet-5")
            assert model.id == "claude-sonnet-5"  # the request went to the new base URL


def test_an_invalid_file_keeps_the_old_settings(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    write(path, '{"timeout": 12}', 0)
    errors: list[Exception] = []
    config: DynamicConfig[ClientSettings] = DynamicConfig(path, on_error=errors.append)
    write(path, '{"timeout": -5}', 1)
    assert config.check() is False
    assert config.current.timeout == 12 and config.last_error is not None and len(errors) == 1
    write(path, '{"timeout": 12, "unknown": true', 2)  # not even JSON
    assert config.check() is False and config.current.timeout == 12 and len(errors) == 2
    write(path, '{"timeout": 20}', 3)
    assert config.check() is True
    assert config.current.timeout == 20 and last_error(config) is None
    assert config.check() is False  # unchanged file: nothing to do


def test_custom_schema_and_a_bad_first_load(tmp_path: Path) -> None:
    class Limits(BaseModel):
        requests_per_second: float

    path = tmp_path / "limits.yaml"
    write(path, "requests_per_second: 4.5\n", 0)
    assert DynamicConfig(path, Limits).current.requests_per_second == 4.5
    write(path, "requests_per_second: fast\n", 1)
    with pytest.raises(UserError):
        DynamicConfig(path, Limits)
    with pytest.raises(UserError):
        DynamicConfig(tmp_path / "missing.yaml", ClientSettings)
