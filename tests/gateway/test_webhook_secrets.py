"""Webhook signing secrets: ``POST /admin/keys/{id}/webhook-secret`` and ``claudegate webhooks
secret`` (shown once, never logged, rotation), and ``claudegate webhooks verify``."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from claudegate.cli import app as cli
from claudegate.gateway.webhooks import Webhooks, WebhookSettings, new_secret
from claudegate.store import Database
from tests.gateway._receiver import receiver
from tests.gateway.conftest import serve
from tests.gateway.test_keys import ADMIN, admin, admin_env, create_key, keyed_config

__all__ = ["admin_env"]  # the admin key's environment variable, for every test here

runner = CliRunner()


async def deliver_with(database_url: str, owner: str) -> tuple[str, dict[str, str], bytes]:
    """Deliver one webhook for ``owner`` with the secrets in the database; what the receiver got."""
    database = await Database.connect(database_url)
    webhooks = Webhooks(WebhookSettings(allow_private=["127.0.0.0/8"]), database)
    try:
        async with receiver() as hooks:
            attempt = await webhooks.deliver(
                owner=owner, url=hooks.url(), webhook_id="msg_1", event_type="job.succeeded", data={"n": 1}
            )
            assert attempt.outcome == "delivered", attempt
            [got] = hooks.received
            return got.headers["webhook-signature"], got.headers, got.body
    finally:
        await webhooks.close()
        await database.close()


def test_the_admin_api_creates_and_rotates_a_keys_secret_shown_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="claudegate")
    db = tmp_path / "g.db"
    with serve(keyed_config(db)) as live:
        key = create_key(live.base_url)
        path = f"/admin/keys/{key['id']}/webhook-secret"
        first = admin(live.base_url, "POST", path)
        second = admin(live.base_url, "POST", path, {"overlap": 3600})
        listed = admin(live.base_url, "GET", "/admin/keys")
    assert (first.status, second.status) == (201, 201)
    one, two = first.json(), second.json()
    assert one["owner"] == key["id"] and one["secret"].startswith("whsec_")
    assert one["previous_secret_expires_at"] is None and two["previous_secret_expires_at"] is not None
    assert first.headers.get("cache-control") == "no-store"
    assert one["secret"] not in listed.body.decode() and two["secret"] not in listed.body.decode()
    signature, headers, body = asyncio.run(deliver_with(f"sqlite+aiosqlite:///{db}", key["id"]))
    assert len(signature.split(" ")) == 2
    for secret in (one["secret"], two["secret"]):
        assert Webhook(secret).verify(body, headers)["data"] == {"n": 1}
    for secret in (one["secret"], two["secret"]):
        assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text


@pytest.mark.parametrize(
    ("path", "body", "credential", "status", "text"),
    [
        ("/admin/keys/key_nope/webhook-secret", None, ADMIN, 404, "no API key with id 'key_nope'"),
        ("/admin/keys/{id}/webhook-secret", {"overlap": -1}, ADMIN, 400, "overlap"),
        ("/admin/keys/{id}/webhook-secret", {"overlap": "1h"}, ADMIN, 400, "overlap"),
        ("/admin/keys/{id}/webhook-secret", None, "wrong", 403, "not the admin key"),
        ("/admin/keys/{revoked}/webhook-secret", None, ADMIN, 400, "revoked"),
    ],
)
def test_the_admin_api_refuses_clearly(
    tmp_path: Path, path: str, body: dict[str, Any] | None, credential: str, status: int, text: str
) -> None:
    from tests.gateway import _wire

    with serve(keyed_config(tmp_path / "g.db")) as live:
        key, revoked = create_key(live.base_url), create_key(live.base_url)
        admin(live.base_url, "DELETE", f"/admin/keys/{revoked['id']}")
        target = path.format(id=key["id"], revoked=revoked["id"])
        reply = _wire.call(live.base_url, "POST", target, body, {"authorization": f"Bearer {credential}"})
    assert reply.status == status, reply.body
    assert text in reply.body.decode()


def test_a_jwt_subject_gets_its_own_secret(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with serve(keyed_config(db)) as live:
        reply = admin(live.base_url, "POST", "/admin/keys/jwt:alice@example.com/webhook-secret")
    assert reply.status == 201 and reply.json()["owner"] == "jwt:alice@example.com"
    _, headers, body = asyncio.run(deliver_with(f"sqlite+aiosqlite:///{db}", "jwt:alice@example.com"))
    Webhook(reply.json()["secret"]).verify(body, headers)


def test_the_cli_creates_a_secret_in_the_database_or_through_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLAUDEGATE_ADMIN_KEY", raising=False)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="claudegate")
    db = tmp_path / "g.db"
    url = f"sqlite+aiosqlite:///{db}"
    made = runner.invoke(cli, ["keys", "create", "ci", "--database-url", url])
    key_id = made.stdout.split("id:", 1)[1].split()[0]
    local = runner.invoke(cli, ["webhooks", "secret", key_id, "--database-url", url])
    assert local.exit_code == 0, local.output
    first = local.stdout.split("secret:", 1)[1].split()[0]
    assert first.startswith("whsec_") and "shown once" in local.stderr and first not in local.stderr
    with serve(keyed_config(db)) as live:
        remote = runner.invoke(
            cli,
            [
                "webhooks",
                "secret",
                key_id,
                "--gateway",
                live.base_url,
                "--admin-key",
                "env:CG_TEST_ADMIN_KEY",
            ],
        )
        refused = runner.invoke(
            cli,
            [
                "webhooks",
                "secret",
                "key_nope",
                "--gateway",
                live.base_url,
                "--admin-key",
                "env:CG_TEST_ADMIN_KEY",
            ],
        )
        unset = runner.invoke(cli, ["webhooks", "secret", key_id, "--gateway", live.base_url])
    assert remote.exit_code == 0, remote.output
    second = remote.stdout.split("secret:", 1)[1].split()[0]
    assert second != first and "previous one also signs until" in remote.stderr
    assert refused.exit_code == 1 and "404" in refused.stderr and "key_nope" in refused.stderr
    assert unset.exit_code == 1 and "CLAUDEGATE_ADMIN_KEY is not set" in unset.stderr
    missing = runner.invoke(cli, ["webhooks", "secret", "key_nope", "--database-url", url])
    assert missing.exit_code == 1 and "no API key with id 'key_nope'" in missing.stderr
    _, headers, body = asyncio.run(deliver_with(url, key_id))
    for secret in (first, second):
        Webhook(secret).verify(body, headers)
        assert secret not in caplog.text


def signed_delivery(secret: str, body: bytes, webhook_id: str = "msg_cli") -> dict[str, str]:
    now = datetime.fromtimestamp(time.time(), UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def test_verify_accepts_a_good_delivery_and_rejects_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    body = orjson.dumps({"type": "job.succeeded", "timestamp": "2026-01-01T00:00:00Z", "data": {}})
    headers = signed_delivery(secret, body)
    body_file, headers_file = tmp_path / "body.json", tmp_path / "headers.txt"
    body_file.write_bytes(body)
    headers_file.write_text("".join(f"{name.title()}: {value}\n" for name, value in headers.items()))
    good = runner.invoke(
        cli,
        ["webhooks", "verify", "--secret", secret, "--body", str(body_file), "--headers", str(headers_file)],
    )
    assert good.exit_code == 0, good.output
    assert "verified" in good.stdout and "msg_cli" in good.stdout and "job.succeeded" in good.stdout
    monkeypatch.setenv("CG_TEST_HOOK_SECRET", secret)
    as_options = ["--header", *[f"{n}: {v}" for n, v in headers.items()]]
    flags = [part for pair in zip(["-H"] * 3, as_options[1:], strict=True) for part in pair]
    by_env = runner.invoke(
        cli, ["webhooks", "verify", "--secret", "env:CG_TEST_HOOK_SECRET", "--body", str(body_file), *flags]
    )
    assert by_env.exit_code == 0, by_env.output
    json_headers = tmp_path / "headers.json"
    json_headers.write_bytes(orjson.dumps(headers))
    wrong = runner.invoke(
        cli,
        [
            "webhooks",
            "verify",
            "--secret",
            new_secret(),
            "--body",
            str(body_file),
            "--headers",
            str(json_headers),
        ],
    )
    assert wrong.exit_code == 1 and "not verified" in wrong.stdout
    body_file.write_bytes(body.replace(b"succeeded", b"failed"))
    tampered = runner.invoke(
        cli,
        ["webhooks", "verify", "--secret", secret, "--body", str(body_file), "--headers", str(json_headers)],
    )
    assert tampered.exit_code == 1 and "No matching signature" in tampered.stdout
    unsigned = runner.invoke(cli, ["webhooks", "verify", "--secret", secret, "--body", str(body_file)])
    assert unsigned.exit_code == 1 and "Missing required headers" in unsigned.stdout
    bad_secret = runner.invoke(cli, ["webhooks", "verify", "--secret", "whsec_!!", "--body", str(body_file)])
    assert bad_secret.exit_code == 2 and "--secret: not a webhook secret" in bad_secret.stderr


async def test_a_secret_never_reaches_the_logs_even_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets are stored as they are (they sign): the database drivers' own debug logs, which
    print statements with their parameters, must not carry them."""
    caplog.set_level(logging.DEBUG)  # the root logger and every library's, as an operator might
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}")
    webhooks = Webhooks(WebhookSettings(), database)
    try:
        created = await webhooks.create_secret("key_debug")
        assert [secret.value for secret in await webhooks.signing_secrets("key_debug")] == [created.secret]
    finally:
        await webhooks.close()
        await database.close()
    assert created.secret.removeprefix("whsec_") not in caplog.text
