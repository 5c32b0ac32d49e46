"""Dynamic settings: a changed file is applied (reliability stages included, on the next call), a
bad one is reported and the old settings kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from claudegate.client import AsyncClient, CircuitState, ClientSettings, DynamicConfig, EndpointHealth
from claudegate.errors import (
    APIConnectionError,
    CircuitOpenError,
    OverloadedError,
    QuotaExceededError,
    UserError,
)
from claudegate.simulator import SimulatorApp, SimulatorConfig, create_app
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


ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Is the harbour open?"}],
}


def settings_file(tmp_path: Path, text: str) -> tuple[Path, list[Exception]]:
    path = tmp_path / "client.yaml"
    write(path, text, 0)
    return path, []


def watch(
    path: Path, client: AsyncClient, errors: list[Exception] | None = None
) -> DynamicConfig[ClientSettings]:
    """Settings from ``path`` applied to ``client`` on every change."""
    report = errors.append if errors is not None else None
    return DynamicConfig(path, ClientSettings, on_change=lambda s: s.apply_to(client), on_error=report)


def change(config: DynamicConfig[ClientSettings], text: str, bump: int) -> None:
    write(config.path, text, bump)
    assert config.check() is True, config.last_error


def sent(app: SimulatorApp) -> int:
    return len([e for e in app.simulator.log.entries() if e["path"] == "/v1/messages"])


async def test_a_retry_change_takes_effect_on_the_next_call(tmp_path: Path) -> None:
    app = create_app(SimulatorConfig(fault="529"))
    with LiveServer(app) as server:
        path, errors = settings_file(tmp_path, "retry: {max_retries: 0}\n")
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            config = watch(path, client, errors)
            with pytest.raises(OverloadedError) as once:
                await client.messages.create(**ASK)
            change(config, "retry: {max_retries: 2, initial_delay: 0, max_delay: 0}\n", 1)
            with pytest.raises(OverloadedError) as thrice:
                await client.messages.create(**ASK)
    assert (once.value.attempts, thrice.value.attempts) == (1, 3)
    assert sent(app) == 4 and not errors


async def test_a_breaker_change_keeps_its_state_and_disabling_it_lets_calls_through(tmp_path: Path) -> None:
    app = create_app(SimulatorConfig(fault="529"))
    with LiveServer(app) as server:
        path, _ = settings_file(tmp_path, "breaker: {failure_threshold: 2, open_duration: 600}\n")
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            config = watch(path, client)
            for _ in range(2):
                with pytest.raises(OverloadedError):
                    await client.messages.create(**ASK)
            with pytest.raises(CircuitOpenError):
                await client.messages.create(**ASK)
            assert client.reliability is not None
            breaker = client.reliability.breaker
            change(config, "breaker: {failure_threshold: 5, open_duration: 600}\n", 1)
            assert client.reliability.breaker is breaker and breaker is not None
            assert breaker.failure_threshold == 5 and breaker.state is CircuitState.OPEN
            with pytest.raises(CircuitOpenError):  # still open: the change did not forget it
                await client.messages.create(**ASK)
            change(config, "breaker: {enabled: false}\n", 2)
            with pytest.raises(OverloadedError):
                await client.messages.create(**ASK)
    assert sent(app) == 3


async def test_a_limiter_change_applies_to_the_next_call(tmp_path: Path) -> None:
    app = create_app()
    with LiveServer(app) as server:
        path, _ = settings_file(tmp_path, "limiter: {requests_per_second: 0.001, burst: 1, max_wait: 0}\n")
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            config = watch(path, client)
            await client.messages.create(**ASK)
            with pytest.raises(QuotaExceededError) as paced:
                await client.messages.create(**ASK)
            assert paced.value.quota == "rate_limiter.requests_per_second"
            change(config, "limiter: {requests_per_second: 10, burst: 5, max_wait: 1}\n", 1)
            await client.messages.create(**ASK)  # waits about 0.1 s: the bucket was empty
            assert client.reliability is not None and client.reliability.limiter is not None
            assert client.reliability.limiter.available()["requests"] < 3  # no fresh burst of 5
    assert sent(app) == 2


async def test_a_quota_change_keeps_the_usage_counted_so_far(tmp_path: Path) -> None:
    app = create_app()
    with LiveServer(app) as server:
        one_a_day = "quota: {limits: [{metric: requests, period: day, limit: 1}]}\n"
        path, _ = settings_file(tmp_path, one_a_day)
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            config = watch(path, client)
            await client.messages.create(**ASK)
            with pytest.raises(QuotaExceededError) as refused:
                await client.messages.create(**ASK)
            assert refused.value.quota == "day.requests"
            change(config, one_a_day.replace("limit: 1", "limit: 3"), 1)
            await client.messages.create(**ASK)
            assert client.reliability is not None and client.reliability.quota is not None
            assert client.reliability.quota.usage()["requests"] == 2
            assert client.reliability.quota.remaining() == {"day.requests": 1.0}
    assert sent(app) == 2


async def test_new_failover_endpoints_serve_the_next_call_and_kept_ones_keep_their_health(
    tmp_path: Path,
) -> None:
    dead = "http://127.0.0.1:9"
    with LiveServer(create_app()) as server:
        path, _ = settings_file(tmp_path, f"failover: {{endpoints: [{dead}], unhealthy_after: 2}}\n")
        async with AsyncClient(api_key=KEY, base_url=dead, timeout=2.0) as client:
            config = watch(path, client)
            for _ in range(2):
                with pytest.raises(APIConnectionError):
                    await client.messages.create(**ASK)
            assert client.reliability is not None and client.reliability.failover is not None
            failover = client.reliability.failover
            before = failover.endpoints[0]
            text = f"failover:\n  endpoints: [{dead}, {{base_url: '{server.base_url}', name: sim}}]\n"
            change(config, text, 1)
            message = await client.messages.create(**ASK)
            assert message.type == "message"
            assert client.reliability.failover is failover and failover.endpoints[0] is before
            assert failover.health() == {dead: EndpointHealth.UNHEALTHY, "sim": EndpointHealth.HEALTHY}


@pytest.mark.parametrize(
    "bad",
    [
        "limiter: {max_wait: 1}",  # no rate at all
        "breaker: {failure_threshold: 0}",
        "failover: {endpoints: ['ftp://files.example']}",
        "failover: {endpoints: ['http://a.example', 'http://a.example/']}",
        "failover: {endpoints: []}",
        "quota: {limits: [{metric: dollars, period: day, limit: 1}]}",
        "retry: {max_retries: 1}\nmax_retries: 2",
        "retry: {jitter: 2}",
    ],
)
def test_invalid_reliability_settings_are_reported_and_nothing_changes(tmp_path: Path, bad: str) -> None:
    path, errors = settings_file(tmp_path, "retry: {max_retries: 1}\nbreaker: {failure_threshold: 3}\n")
    client = AsyncClient(api_key=KEY, base_url="http://127.0.0.1:9")
    config = watch(path, client, errors)
    retry, reliability = client.retry, client.reliability
    write(path, bad + "\n", 1)
    assert config.check() is False and len(errors) == 1
    assert client.retry is retry and client.reliability is reliability
    assert reliability is not None and reliability.limiter is None and reliability.failover is None
