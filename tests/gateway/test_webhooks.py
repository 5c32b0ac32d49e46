"""One webhook attempt over real loopback sockets: signed by the Standard Webhooks spec (checked by
the `standardwebhooks` package itself), rotation, 3xx not followed, 410 disabling, timeouts, the
SSRF guard, and the retry schedule. No request leaves loopback."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook, WebhookVerificationError

from claudegate.errors import UserError
from claudegate.gateway import parse_config
from claudegate.gateway._config import ConfigError
from claudegate.gateway.core import GatewayCore
from claudegate.gateway.webhooks import AddressPolicy, WebhookAttempt, Webhooks, WebhookSettings, new_secret
from claudegate.store import Database
from tests.gateway._receiver import Receiver, receiver

LOOPBACK = ["127.0.0.0/8"]
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class FakeResolver(AbstractResolver):
    """Answers each name from a script of addresses, one answer per lookup (DNS rebinding)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        address = self.answers[host].pop(0)
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": kind, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as state:
        yield state


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database | None]:
    """Secrets and disabled endpoints in memory, in SQLite, and in the real PostgreSQL (own tables)."""
    if request.param == "memory":
        yield None
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}" if request.param == "sqlite" else POSTGRES_URL
    db = await Database.connect(url, table_prefix=f"t{secrets.token_hex(6)}_")
    try:
        yield db
    finally:
        await db.drop_tables()
        await db.close()


async def started(settings: dict[str, Any], database: Database | None = None, **kw: Any) -> Webhooks:
    webhooks = Webhooks(WebhookSettings(**settings), database, **kw)
    await webhooks.start()
    return webhooks


async def one_attempt(url: str, settings: dict[str, Any] | None = None) -> WebhookAttempt:
    """One delivery to ``url`` for an owner with a secret of its own."""
    webhooks = await started({"allow_private": LOOPBACK} if settings is None else settings)
    await webhooks.create_secret("k")
    try:
        return await webhooks.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
    finally:
        await webhooks.close()


def verified(secret: str, delivery: Any) -> Any:
    return Webhook(secret).verify(delivery.body, delivery.headers)


async def test_a_delivery_is_signed_by_the_standard_and_its_payload_is_type_timestamp_data(
    hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", secret)
    webhooks = await started({"secret": "env:CG_TEST_WEBHOOK_SECRET", "allow_private": LOOPBACK})
    try:
        for _ in range(2):
            attempt = await webhooks.deliver(
                owner=None,
                url=hooks.url(),
                webhook_id="msg_stable",
                event_type="job.succeeded",
                data={"id": "job_1", "status": "succeeded"},
            )
            assert (attempt.outcome, attempt.status, attempt.error) == ("delivered", 204, None)
            assert attempt.elapsed >= 0 and not attempt.retryable
    finally:
        await webhooks.close()
    assert [d.headers["webhook-id"] for d in hooks.received] == ["msg_stable", "msg_stable"]
    delivery = hooks.received[0]
    payload = verified(secret, delivery)
    assert payload["type"] == "job.succeeded"
    assert payload["data"] == {"id": "job_1", "status": "succeeded"}
    assert payload["timestamp"].endswith("Z")
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert secret not in repr(webhooks) and secret.removeprefix("whsec_") not in str(delivery.headers)
    with pytest.raises(WebhookVerificationError):
        verified(new_secret(), delivery)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(delivery.body.replace(b"job_1", b"job_2"), delivery.headers)


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    hooks: Receiver, database: Database | None
) -> None:
    clock = Clock()
    webhooks = await started({"allow_private": LOOPBACK}, database, clock=clock)
    try:
        first = await webhooks.create_secret("key_a")
        assert first.previous_expires_at is None and first.secret not in repr(first)
        second = await webhooks.create_secret("key_a", overlap=60)
        assert second.previous_expires_at is not None
        await webhooks.deliver(owner="key_a", url=hooks.url(), webhook_id="msg_1", event_type="t", data={})
        clock.now += 61
        await webhooks.deliver(owner="key_a", url=hooks.url(), webhook_id="msg_2", event_type="t", data={})
        # Another owner's secrets never sign for this one.
        other = await webhooks.deliver(
            owner="key_b", url=hooks.url(), webhook_id="m", event_type="t", data={}
        )
    finally:
        await webhooks.close()
    during, after = hooks.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verified(first.secret, during) == verified(second.secret, during)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verified(second.secret, after)
    with pytest.raises(WebhookVerificationError):
        verified(first.secret, after)
    assert other.outcome == "refused" and "no webhook secret" in (other.error or "")


async def test_a_keys_own_secret_replaces_the_gateway_wide_one(
    hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_secret = new_secret()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", gateway_secret)
    webhooks = await started({"secret": "env:CG_TEST_WEBHOOK_SECRET", "allow_private": LOOPBACK})
    try:
        own = await webhooks.create_secret("key_a")
        for owner in ("key_a", "jwt:alice"):
            attempt = await webhooks.deliver(
                owner=owner, url=hooks.url(), webhook_id="m", event_type="t", data={}
            )
            assert attempt.outcome == "delivered"
    finally:
        await webhooks.close()
    keyed, subject = hooks.received
    verified(own.secret, keyed)
    with pytest.raises(WebhookVerificationError):
        verified(gateway_secret, keyed)
    verified(gateway_secret, subject)


async def test_a_redirect_fails_the_attempt_and_is_not_followed(hooks: Receiver) -> None:
    hooks.status = 302
    attempt = await one_attempt(hooks.url())
    assert (attempt.outcome, attempt.status) == ("failed", 302) and attempt.retryable
    assert "redirect" in (attempt.error or "")
    assert [d.path for d in hooks.received] == ["/hooks"]


async def test_an_error_status_fails_the_attempt(hooks: Receiver) -> None:
    hooks.status = 503
    attempt = await one_attempt(hooks.url())
    assert (attempt.outcome, attempt.status, attempt.error) == ("failed", 503, "HTTP 503")


async def test_410_disables_the_endpoint_for_its_owner_until_enabled(
    hooks: Receiver, database: Database | None
) -> None:
    hooks.status = 410
    webhooks = await started({"allow_private": LOOPBACK}, database)
    await webhooks.create_secret("k")
    await webhooks.create_secret("other")
    url = hooks.url() + "?token=do-not-show"
    try:
        gone = await webhooks.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
        again = await webhooks.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
        assert len(hooks.received) == 1
        hooks.status = 200
        others = await webhooks.deliver(owner="other", url=url, webhook_id="m", event_type="t", data={})
        assert await webhooks.enable("k", url)
        back = await webhooks.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
    finally:
        await webhooks.close()
    assert (gone.outcome, gone.status) == ("disabled", 410) and not gone.retryable
    assert (again.outcome, again.status) == ("disabled", None)
    assert others.outcome == "delivered" and back.outcome == "delivered"
    assert len(hooks.received) == 3
    assert "do-not-show" not in f"{gone.error} {again.error}"


async def test_an_endpoint_that_never_answers_times_out(hooks: Receiver) -> None:
    hooks.status = 0
    attempt = await one_attempt(hooks.url(), {"allow_private": LOOPBACK, "timeout": 0.2})
    assert (attempt.outcome, attempt.status) == ("failed", None) and attempt.retryable
    assert "within 0.2 s" in (attempt.error or "")


async def test_a_closed_port_fails_the_attempt() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = await one_attempt(f"http://127.0.0.1:{port}/hooks")
    assert attempt.outcome == "failed" and "cannot connect" in (attempt.error or "")


REFUSED = [
    "http://127.0.0.1/hooks",
    "http://10.0.0.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a00:1::]/",  # 6to4 around 10.0.0.1
    "http://[64:ff9b::7f00:1]/",  # NAT64 around 127.0.0.1
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://100.64.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://2130706433/",
    "http://127.1/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "not a url",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_the_ssrf_guard_refuses_internal_addresses(url: str) -> None:
    attempt = await one_attempt(url, {})
    assert attempt.outcome == "refused" and not attempt.retryable and attempt.error
    assert Webhooks(WebhookSettings(), None).check_url(url) == attempt.error


async def test_a_name_resolving_to_loopback_is_refused_unless_allow_listed(hooks: Receiver) -> None:
    url = hooks.url().replace("127.0.0.1", "localhost")
    guarded = await started({})
    open_ = await started({"allow_private": LOOPBACK})
    for webhooks in (guarded, open_):
        await webhooks.create_secret("k")
    try:
        refused = await guarded.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
        assert hooks.received == []
        allowed = await open_.deliver(owner="k", url=url, webhook_id="m", event_type="t", data={})
    finally:
        await guarded.close()
        await open_.close()
    assert refused.outcome == "refused" and "localhost resolves to" in (refused.error or "")
    assert allowed.outcome == "delivered" and len(hooks.received) == 1
    assert guarded.check_url(url) is None  # names are judged at the lookup the connection uses


async def test_dns_rebinding_is_caught_at_the_lookup_the_connection_uses(hooks: Receiver) -> None:
    hooks.keep_alive = False  # a kept connection is to an address already approved: nothing to look up
    port = hooks.base_url.rsplit(":", 1)[1]
    resolver = FakeResolver({"hooks.example": ["127.0.0.1", "10.0.0.1", "::ffff:10.0.0.1"]})
    webhooks = await started({"allow_private": ["127.0.0.1/32"]}, resolver=resolver)
    await webhooks.create_secret("k")
    url = f"http://hooks.example:{port}/hooks"
    try:
        outcomes = [
            await webhooks.deliver(owner="k", url=url, webhook_id=f"m{n}", event_type="t", data={})
            for n in range(3)
        ]
    finally:
        await webhooks.close()
    assert [a.outcome for a in outcomes] == ["delivered", "refused", "refused"]
    assert "10.0.0.1" in (outcomes[1].error or "")
    assert len(hooks.received) == 1 and hooks.received[0].headers["Host"] == f"hooks.example:{port}"
    assert resolver.lookups == ["hooks.example"] * 3


async def test_no_proxy_is_taken_from_the_environment(
    hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    attempt = await one_attempt(hooks.url())
    assert attempt.outcome == "delivered" and len(hooks.received) == 1


def test_embedded_ipv4_follows_the_allow_list() -> None:
    policy = AddressPolicy(["127.0.0.0/8"])
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.9")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) == "loopback"
    assert AddressPolicy().refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert AddressPolicy().refusal(ipaddress.ip_address("2606:4700::1111")) is None


def test_the_retry_schedule_is_the_standards_and_scales() -> None:
    webhooks = Webhooks(WebhookSettings(), None)
    delays = [webhooks.retry_delay(n) for n in range(9)]
    assert delays == [0, 5, 300, 1800, 7200, 18000, 36000, 36000, None]
    fast = Webhooks(WebhookSettings(schedule_scale=0.001), None)
    assert fast.retry_delay(2) == pytest.approx(0.3) and fast.retry_delay(8) is None
    custom = Webhooks(WebhookSettings(schedule=[1, 2]), None)
    assert [custom.retry_delay(n) for n in range(3)] == [1, 2, None]
    with pytest.raises(ValueError):
        webhooks.retry_delay(-1)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"allow_private": ["not-a-net"]}, "webhooks.allow_private"),
        ({"schedule": []}, "webhooks.schedule"),
        ({"schedule": [0, -1]}, "webhooks.schedule"),
        ({"secret": "whsec_inline"}, "webhooks.secret"),
        ({"timeout": 0}, "webhooks.timeout"),
        ({"surprise": 1}, "webhooks.surprise"),
    ],
)
def test_bad_webhooks_settings_name_the_key(section: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"models": [{"name": "*", "deployments": [{"provider": "simulator"}]}], "webhooks": section}
        )
    assert caught.value.field == field


async def test_a_gateway_with_an_unset_or_bad_secret_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from claudegate.client import HttpToolsTransport

    config = parse_config(
        {
            "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
            "webhooks": {"secret": "env:CG_TEST_WEBHOOK_SECRET"},
        }
    )
    monkeypatch.delenv("CG_TEST_WEBHOOK_SECRET", raising=False)
    core = GatewayCore(config, HttpToolsTransport())
    with pytest.raises(ConfigError, match=r"webhooks\.secret: environment variable"):
        await core.start()
    await core.close()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", "whsec_dG9vc2hvcnQ=")
    core = GatewayCore(config, HttpToolsTransport())
    with pytest.raises(UserError) as caught:
        await core.start()
    await core.close()
    assert "24 to 64 bytes" in caught.value.message and "dG9vc2hvcnQ" not in str(caught.value)
    secret = new_secret()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", secret)
    core = GatewayCore(config, HttpToolsTransport())
    await core.start()
    try:
        assert [s.value for s in await core.webhooks.signing_secrets(None)] == [secret]
    finally:
        await core.close()
