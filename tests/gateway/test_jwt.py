"""JWT principals (``auth.jwt``) on every surface: a token from a local identity provider (keys
generated here, its JWK Set served on loopback) is admitted by the Anthropic and OpenAI REST
surfaces and the WebSocket API; bad tokens are refused in each caller's dialect; the provider's
key rotation is picked up; claims narrow models and limits but never widen them; the ledger rows
carry the subject; gateway keys keep working beside tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from websockets.asyncio.client import connect

from claudegate.gateway.surfaces.websocket import PROTOCOL
from claudegate.store import Database, KeyStore
from claudegate.testing import LiveServer
from tests.gateway import _ledger, _wire
from tests.gateway._idp import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    claims,
    ec_key,
    ed25519_key,
    hs256_with_public_key,
    rsa_key,
    unsigned,
)
from tests.gateway._process import gateway_process
from tests.gateway._ws import ASK, open_session, refusal, send, stream, ws_url
from tests.gateway.conftest import Live, serve, simulator_route

CHAT = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"}]}
PER_KEY_RPM = 5


def jwt_config(idp_url: str, db: Path, **jwt: Any) -> dict[str, Any]:
    return {
        "models": [simulator_route()],
        "auth": {
            "cache_seconds": 0,
            "jwt": {
                "jwks_url": idp_url + "/.well-known/jwks.json",
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "jwks_refetch_interval": 0,
                **jwt,
            },
        },
        "limits": {"per_key": {"requests_per_minute": PER_KEY_RPM}},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }


@dataclass
class Gateway:
    live: Live
    idp: IdentityProvider
    db: Path
    key: str

    @property
    def url(self) -> str:
        return self.live.base_url


def issue_key(db: Path) -> str:
    async def create() -> str:
        database = await Database.connect(f"sqlite+aiosqlite:///{db}")
        try:
            return (await KeyStore(database).create("beside-jwt")).plaintext
        finally:
            await database.close()

    return asyncio.run(create())


@contextmanager
def running(tmp_path: Path, idp: IdentityProvider, **jwt: Any) -> Iterator[Gateway]:
    db = tmp_path / "gateway.db"
    key = issue_key(db)
    with LiveServer(idp) as provider, serve(jwt_config(provider.base_url, db, **jwt)) as live:
        yield Gateway(live, idp, db, key)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    idp = IdentityProvider()
    idp.add(rsa_key("rsa-1"))
    idp.add(ec_key("ec-1"))
    idp.add(ed25519_key("ed-1"))
    with running(tmp_path, idp) as running_gateway:
        yield running_gateway


def messages(url: str, credential: str, body: dict[str, Any] | None = None) -> _wire.Reply:
    headers = {"authorization": f"Bearer {credential}", "anthropic-version": "2023-06-01"}
    return _wire.post(url, "/v1/messages", body or {**ASK, "max_tokens": 10}, headers)


def chat(url: str, credential: str, body: dict[str, Any] | None = None) -> _wire.Reply:
    return _wire.post(url, "/v1/chat/completions", body or CHAT, {"authorization": f"Bearer {credential}"})


async def ws_refusal(url: str, credential: str) -> tuple[int, str]:
    """The close code and reason of a connection whose credential the server refuses."""
    return await refusal(ws_url(url), subprotocols=[PROTOCOL, f"claudegate.key.{credential}"])


# -- accepted on every surface ----------------------------------------------------------------


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "ed-1"])
def test_a_valid_token_is_accepted_by_both_rest_dialects_and_the_official_sdks(
    gateway: Gateway, kid: str
) -> None:
    token = gateway.idp.token(kid, claims(f"user-{kid}"))
    with anthropic.Anthropic(base_url=gateway.url, auth_token=token, max_retries=0) as claude:
        message = claude.messages.create(
            model="claude-sonnet-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        counted = claude.messages.count_tokens(
            model="claude-sonnet-5", messages=[{"role": "user", "content": "hi"}]
        )
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0) as gpt:
        completion = gpt.chat.completions.create(
            model="claude-sonnet-5", messages=[{"role": "user", "content": "hi"}]
        )
        listed = [model.id for model in gpt.models.list()]
    assert message.type == "message" and message.content
    assert counted.input_tokens > 0
    assert completion.choices[0].message.content
    assert "claude-sonnet-5" in listed


async def test_a_valid_token_opens_a_websocket_session_by_subprotocol_header_and_first_message(
    gateway: Gateway,
) -> None:
    token = gateway.idp.token("ec-1", claims("ws-user"))
    url = ws_url(gateway.url)
    async with connect(url, subprotocols=[PROTOCOL, f"claudegate.key.{token}"]) as ws:  # type: ignore[list-item]
        by_subprotocol = await open_session(ws)
        done = await stream(ws, "s1", ASK)
    async with connect(url, additional_headers={"authorization": f"Bearer {token}"}) as ws:
        by_header = await open_session(ws)
    async with connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "session.auth", "key": token})
        by_message = await open_session(ws)
    assert by_subprotocol["authenticated"] and by_header["authenticated"] and by_message["authenticated"]
    assert done[-1]["type"] == "message.done" and done[-1]["status"] == 200


def test_gateway_keys_keep_working_beside_tokens_and_no_credential_is_refused(gateway: Gateway) -> None:
    keyed = messages(gateway.url, gateway.key)
    missing = _wire.post(gateway.url, "/v1/messages", ASK, {"anthropic-version": "2023-06-01"})
    models = _wire.call(gateway.url, "GET", "/v1/models")
    assert keyed.status == 200, keyed.body
    assert models.status == 401
    assert missing.status == 401 and "JWT" in missing.json()["error"]["message"]


# -- refused, in the caller's dialect ---------------------------------------------------------


def bad_tokens(idp: IdentityProvider) -> dict[str, str]:
    stranger = rsa_key("rsa-1")  # the provider's kid, another key
    idp.add(rsa_key("ghost"), publish=False)
    forged = IdentityProvider()
    forged.add(stranger)
    return {
        "expired": idp.token("rsa-1", claims(exp=1_000_000, iat=999_000)),
        "not yet valid": idp.token("rsa-1", claims(nbf=4_000_000_000)),
        "wrong issuer": idp.token("rsa-1", {**claims(), "iss": "https://evil.test/"}),
        "wrong audience": idp.token("ec-1", {**claims(), "aud": "someone-else"}),
        "wrong signature": forged.token("rsa-1"),
        "alg none": unsigned("rsa-1", claims()),
        "HS256 keyed with the public key": hs256_with_public_key(idp.keys["rsa-1"], claims()),
        "unknown kid": idp.token("ghost"),
        "RS256 naming an EC key": IdentityProvider(keys={"ec-1": rsa_key("ec-1")}).token("ec-1"),
        "no subject": idp.token("rsa-1", {key: v for key, v in claims().items() if key != "sub"}),
        "no exp": idp.token("rsa-1", {key: v for key, v in claims().items() if key != "exp"}),
    }


EXPECTED = {
    "expired": "expired",
    "not yet valid": "not valid yet",
    "wrong issuer": "issuer",
    "wrong audience": "audience",
    "wrong signature": "signature",
    "alg none": "'none' is not accepted",
    "HS256 keyed with the public key": "'HS256' is not accepted",
    "unknown kid": "'ghost'",
    "RS256 naming an EC key": "no RS256 signing key 'ec-1'",
    "no subject": "'sub' claim",
    "no exp": "'exp' claim is required",
}


async def test_bad_tokens_are_refused_in_each_dialect_without_echoing_or_logging_the_token(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = bad_tokens(gateway.idp)
    assert set(tokens) == set(EXPECTED)
    for case, token in tokens.items():
        anthropic_reply = await asyncio.to_thread(messages, gateway.url, token)
        openai_reply = await asyncio.to_thread(chat, gateway.url, token)
        code, reason = await ws_refusal(gateway.url, token)
        body = anthropic_reply.json()
        assert anthropic_reply.status == 401, (case, anthropic_reply.body)
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error", case
        assert EXPECTED[case] in body["error"]["message"], (case, body)
        assert openai_reply.status == 401, case
        error = openai_reply.json()["error"]
        assert error["type"] == "authentication_error" and EXPECTED[case] in error["message"], case
        assert code == 4401 and reason.startswith("authentication_error: invalid JWT"), (case, reason)
        signed_part = token.rsplit(".", 1)[0].encode()  # header and claims
        # The test's own WebSocket client logs what it sends; the gateway's side must not.
        logged = "\n".join(
            r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")
        )
        for shown in (anthropic_reply.body, openai_reply.body, reason.encode(), logged.encode()):
            assert signed_part not in shown, case


# -- rotation ---------------------------------------------------------------------------------


def test_a_rotated_key_is_fetched_on_its_first_token_and_a_withdrawn_one_stops_working(
    tmp_path: Path,
) -> None:
    idp = IdentityProvider()
    idp.add(rsa_key("2025-01"))
    with running(tmp_path, idp) as gateway:
        old = idp.token("2025-01", claims("rotating"))
        assert messages(gateway.url, old).status == 200
        fetched = idp.fetches
        assert messages(gateway.url, old).status == 200 and idp.fetches == fetched  # the set is cached
        idp.add(ec_key("2025-02"))
        idp.published.remove("2025-01")
        new = idp.token("2025-02", claims("rotating"))
        accepted = messages(gateway.url, new)
        assert accepted.status == 200, accepted.body
        assert idp.fetches == fetched + 1
        withdrawn = messages(gateway.url, old)  # verified before, but its key left the set
        assert withdrawn.status == 401 and "'2025-01'" in withdrawn.json()["error"]["message"]


def test_an_unreachable_key_set_is_a_503_to_retry_and_recovers(tmp_path: Path) -> None:
    idp = IdentityProvider(status=503)
    idp.add(rsa_key("k1"))
    with running(tmp_path, idp) as gateway:
        token = idp.token("k1", claims("patient"))
        refused = messages(gateway.url, token)
        refused_openai = chat(gateway.url, token)
        code, reason = asyncio.run(ws_refusal(gateway.url, token))
        idp.status = 200
        recovered = messages(gateway.url, token)
    assert refused.status == 503 and refused.json()["error"]["type"] == "api_error"
    assert "signing keys could not be fetched" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused_openai.status == 503 and refused_openai.json()["error"]["message"].startswith(
        "cannot verify"
    )
    assert code == 1013 and "signing keys" in reason
    assert recovered.status == 200, recovered.body


# -- claims narrow, never widen ---------------------------------------------------------------


def test_a_models_claim_narrows_the_routes_in_both_dialects(gateway: Gateway) -> None:
    token = gateway.idp.token("rsa-1", claims("narrow-models", cg_models=["claude-opus-*"]))
    allowed = messages(gateway.url, token, {**ASK, "model": "claude-opus-5", "max_tokens": 10})
    anthropic_refused = messages(gateway.url, token)
    openai_refused = chat(gateway.url, token)
    assert allowed.status == 200, allowed.body
    assert anthropic_refused.status == 403 and anthropic_refused.json()["error"]["type"] == "permission_error"
    assert "this token may not use model 'claude-sonnet-5'" in anthropic_refused.json()["error"]["message"]
    assert openai_refused.status == 403 and openai_refused.json()["error"]["param"] == "model"

    async def over_websocket() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connect(ws_url(gateway.url), additional_headers={"x-api-key": token}) as ws:
            await open_session(ws)
            return await stream(ws, "no", ASK), await stream(ws, "yes", {**ASK, "model": "claude-opus-5"})

    refused, served = asyncio.run(over_websocket())
    assert refused[-1]["type"] == "error" and refused[-1]["error"]["type"] == "permission_error"
    assert served[-1]["type"] == "message.done"


def test_a_limits_claim_narrows_the_configured_limits_and_never_widens_them(gateway: Gateway) -> None:
    narrow = gateway.idp.token("rsa-1", claims("narrow", cg_limits={"requests_per_minute": 1}))
    wide = gateway.idp.token("ec-1", claims("wide", cg_limits={"requests_per_minute": 1000}))
    narrow_statuses = [messages(gateway.url, narrow).status for _ in range(2)]
    wide_replies = [messages(gateway.url, wide) for _ in range(PER_KEY_RPM + 1)]
    assert narrow_statuses == [200, 429]
    assert [reply.status for reply in wide_replies] == [200] * PER_KEY_RPM + [429]
    assert wide_replies[0].headers["anthropic-ratelimit-requests-limit"] == str(PER_KEY_RPM)


def test_a_budget_claim_caps_the_subjects_spend(gateway: Gateway) -> None:
    spent = gateway.idp.token("rsa-1", claims("no-budget", cg_limits={"cost_per_day": 0}))
    reply = chat(gateway.url, spent)
    assert reply.status == 429 and "budget exhausted" in reply.json()["error"]["message"]


def test_a_malformed_limits_claim_refuses_the_token_naming_the_field(gateway: Gateway) -> None:
    token = gateway.idp.token("rsa-1", claims("odd", cg_limits={"requests_per_minute": "lots"}))
    reply = messages(gateway.url, token)
    assert reply.status == 401
    assert "'cg_limits.requests_per_minute' must be an integer" in reply.json()["error"]["message"]


def test_claim_names_are_configurable(tmp_path: Path) -> None:
    idp = IdentityProvider()
    idp.add(rsa_key("k1"))
    names = {"claims": {"subject": "email", "models": "allowed", "limits": "quota"}}
    with running(tmp_path, idp, **names) as gateway:
        token = idp.token("k1", {**claims(), "email": "bob@example.com", "allowed": "claude-opus-5"})
        assert messages(gateway.url, token, {**ASK, "model": "claude-opus-5", "max_tokens": 5}).status == 200
        assert messages(gateway.url, token).status == 403
        anonymous = idp.token("k1", {key: v for key, v in claims().items() if key != "sub"})
        assert messages(gateway.url, anonymous).status == 401  # no 'email' claim
    rows = _ledger.rows(tmp_path / "gateway.db")
    assert {row["key_id"] for row in rows} == {"jwt:bob@example.com"}


# -- the ledger -------------------------------------------------------------------------------


def test_ledger_rows_carry_the_subject_on_every_surface(tmp_path: Path) -> None:
    idp = IdentityProvider()
    idp.add(ec_key("k1"))
    long_subject = "a" * 30 + "|" + "b" * 40
    with running(tmp_path, idp) as gateway:
        token = idp.token("k1", claims("carol"))
        assert messages(gateway.url, token).status == 200
        assert chat(gateway.url, token).status == 200

        async def over_websocket() -> None:
            async with connect(
                ws_url(gateway.url), additional_headers={"authorization": f"Bearer {token}"}
            ) as ws:
                await open_session(ws)
                await stream(ws, "s1", ASK)

        asyncio.run(over_websocket())
        assert messages(gateway.url, idp.token("k1", claims(long_subject))).status == 200
        assert messages(gateway.url, gateway.key).status == 200
    rows = _ledger.rows(tmp_path / "gateway.db")
    carol = [row for row in rows if row["key_id"] == "jwt:carol"]
    assert sorted(row["dialect"] for row in carol) == ["anthropic", "openai", "websocket"]
    long_rows = [row["key_id"] for row in rows if row["key_id"].startswith("jwt:aaaa")]
    assert (
        len(long_rows) == 1 and len(long_rows[0]) == 40 and long_rows[0].startswith("jwt:" + "a" * 19 + "~")
    )
    assert any(row["key_id"].startswith("key_") for row in rows)


def test_claudegate_serve_with_jwt_needs_a_credential_and_accepts_a_token(tmp_path: Path) -> None:
    idp = IdentityProvider()
    idp.add(rsa_key("k1"))
    with LiveServer(idp) as provider:
        config = jwt_config(provider.base_url, tmp_path / "gateway.db")
        with gateway_process(config, tmp_path) as url:
            no_credential = _wire.post(url, "/v1/messages", ASK, {"anthropic-version": "2023-06-01"})
            accepted = messages(url, idp.token("k1"))
    assert no_credential.status == 401 and accepted.status == 200
