"""The secret exposure audit, and the Anthropic key format check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from claudegate.client import (
    SECRET_AUDIT,
    ApiKey,
    AsyncClient,
    Client,
    MockResponse,
    MockTransport,
    SecretAudit,
    SecretReveal,
)
from claudegate.errors import UserError
from claudegate.simulator import create_app
from claudegate.testing import LiveServer

ANTHROPIC_KEY = "sk-ant-api03-audit-test-key-0123456789"
GATEWAY_KEY = "cg-live-3f9a0c2e7b1d4e8a9c6b"
OPENAI_KEY = "sk-proj-Zx81nQe4T7vLs0Gm"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_building_a_client_reveals_its_key_once_and_the_audit_says_where() -> None:
    clock = Clock()
    audit = SecretAudit(clock=clock)
    key = ApiKey(ANTHROPIC_KEY, audit=audit)
    AsyncClient(api_key=key, base_url="http://127.0.0.1:9")
    clock.now += timedelta(minutes=5)
    AsyncClient(api_key=key, base_url="http://127.0.0.1:9", auth="bearer")
    first, second = audit.trail()
    assert audit.total == 2 and audit.count(key.fingerprint()) == 2
    assert first.fingerprint == key.fingerprint() and len(first.fingerprint) == 8
    assert first.purpose == "x-api-key header" and second.purpose == "authorization header"
    assert first.caller.startswith("claudegate.client._client:AsyncClient.__init__:")
    assert second.at - first.at == timedelta(minutes=5)
    assert all(ANTHROPIC_KEY not in str(r.to_dict()) + repr(r) for r in audit.trail())


def test_every_key_counts_in_the_process_wide_audit_by_fingerprint() -> None:
    before = SECRET_AUDIT.total
    one, two = ApiKey(ANTHROPIC_KEY), ApiKey(GATEWAY_KEY)
    before_one = SECRET_AUDIT.count(one.fingerprint())
    one.reveal("export to the job runner")
    one.reveal()
    two.reveal()
    assert SECRET_AUDIT.total == before + 3
    assert SECRET_AUDIT.count(one.fingerprint()) == before_one + 2
    assert SECRET_AUDIT.by_fingerprint()[two.fingerprint()] >= 1
    mine = SECRET_AUDIT.trail(one.fingerprint())[-2:]
    assert [r.purpose for r in mine] == ["export to the job runner", ""]
    here = f"{__name__}:test_every_key_counts_in_the_process_wide_audit_by_fingerprint:"
    assert all(r.caller.startswith(here) for r in mine)


def test_listeners_see_each_reveal_and_the_trail_keeps_the_latest() -> None:
    audit = SecretAudit(keep=3)
    seen: list[SecretReveal] = []
    audit.add_listener(seen.append)
    key = ApiKey(GATEWAY_KEY, audit=audit)
    for n in range(5):
        key.reveal(f"call {n}")
    assert [r.purpose for r in seen] == [f"call {n}" for n in range(5)]
    assert [r.purpose for r in audit.trail()] == ["call 2", "call 3", "call 4"]
    assert audit.total == 5  # the counter counts what the trail no longer holds
    audit.reset()
    assert (audit.total, audit.trail(), audit.by_fingerprint()) == (0, [], {})
    with pytest.raises(ValueError):
        SecretAudit(keep=0)


@pytest.mark.parametrize("wrong", [OPENAI_KEY, GATEWAY_KEY, "sk-antapi03-no-dash", "SK-ANT-api03-upper"])
def test_a_non_anthropic_key_aimed_at_the_anthropic_api_fails_clearly(
    wrong: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(UserError) as refused:
        AsyncClient(api_key=wrong)
    message = str(refused.value)
    assert refused.value.field == "api_key"
    assert "'sk-ant-'" in message and "check_key_format=False" in message
    assert wrong not in message and ApiKey(wrong).fingerprint() in message
    with pytest.raises(UserError):
        Client(api_key=wrong, base_url="https://API.anthropic.com/")


def test_an_anthropic_key_is_accepted_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    assert AsyncClient(api_key=ANTHROPIC_KEY).base_url == "https://api.anthropic.com"
    monkeypatch.setenv("ANTHROPIC_API_KEY", OPENAI_KEY)
    with pytest.raises(UserError):
        AsyncClient()  # the key from the environment is checked the same way


def test_other_key_formats_work_on_gateways_local_servers_and_when_asked() -> None:
    with LiveServer(create_app()) as server, Client(api_key=GATEWAY_KEY, base_url=server.base_url) as client:
        assert client.models.retrieve("claude-sonnet-5").id == "claude-sonnet-5"
    unchecked = AsyncClient(api_key=GATEWAY_KEY, base_url="https://api.anthropic.com", check_key_format=False)
    assert unchecked.base_url == "https://api.anthropic.com"
    mocked = AsyncClient(api_key="test", transport=MockTransport(lambda r: MockResponse.json({})))
    assert mocked.base_url == "https://api.anthropic.com"  # nothing leaves the process
