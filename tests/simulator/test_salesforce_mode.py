"""The simulator's Salesforce mode over a real socket: the token endpoint and chat-generations."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from claudegate.simulator import ModelSpec, Simulator, SimulatorConfig, create_salesforce_app
from claudegate.simulator.salesforce import TOKEN_PATH, SalesforceSimulatorApp
from claudegate.testing import LiveServer

SONNET = "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"
FORM = {"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"}
HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
    "content-type": "application/json;charset=utf-8",
}
CHAT = {
    "messages": [
        {"role": "system", "content": "You answer like a lighthouse keeper"},
        {"role": "user", "content": "Describe the harbour lights at dusk"},
    ],
    "localization": {"defaultLocale": "en_US", "inputLocales": [], "expectedLocales": ["en_US"]},
}
# The same conversation as the engine takes it.
CANONICAL = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 4096,
    "system": "You answer like a lighthouse keeper",
    "messages": [{"role": "user", "content": "Describe the harbour lights at dusk"}],
}


@dataclass(frozen=True)
class Live:
    app: SalesforceSimulatorApp
    base_url: str


@pytest.fixture(scope="module")
def live_server() -> Iterator[Live]:
    app = create_salesforce_app()
    with LiveServer(app) as server:
        yield Live(app, server.base_url)


@pytest.fixture
def live(live_server: Live) -> Live:
    live_server.app.log.clear()
    live_server.app.simulator.faults.reset()
    return live_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def grant(http: aiohttp.ClientSession, base_url: str, form: dict[str, str] = FORM) -> tuple[int, Any]:
    async with http.post(base_url + TOKEN_PATH, data=form) as response:
        return response.status, await response.json()


async def token_of(http: aiohttp.ClientSession, base_url: str) -> str:
    status, answer = await grant(http, base_url)
    assert status == 200
    value = answer["access_token"]
    assert isinstance(value, str)
    return value


async def chat(
    http: aiohttp.ClientSession,
    base_url: str,
    token: str | None,
    *,
    body: Any = CHAT,
    model: str = SONNET,
    **headers: str,
) -> tuple[int, Any, dict[str, str]]:
    sent = {**HEADERS, **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    url = f"{base_url}/einstein/platform/v1/models/{model}/chat-generations"
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with http.post(url, data=data, headers=sent) as response:
        return response.status, await response.json(), {k.lower(): v for k, v in response.headers.items()}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict)
    return decoded


# -- the token endpoint --------------------------------------------------------------------------


async def test_grant_has_the_salesforce_fields_and_a_jwt(live: Live, http: aiohttp.ClientSession) -> None:
    before = time.time()
    status, answer = await grant(http, live.base_url)
    assert status == 200
    assert answer["token_type"] == "Bearer" and answer["token_format"] == "jwt"
    assert answer["api_instance_url"] == answer["instance_url"] == live.base_url
    assert "sfap_api" in answer["scope"].split()
    assert before * 1000 - 1000 <= int(answer["issued_at"]) <= time.time() * 1000 + 1000
    exp = claims(answer["access_token"])["exp"]
    assert before + 1800 - 2 <= exp <= time.time() + 1800
    assert [entry["kind"] for entry in live.app.log] == ["token"] and live.app.log[0]["status"] == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({**FORM, "client_secret": "not-the-secret"}, "invalid_client"),
        ({**FORM, "client_id": "someone-else"}, "invalid_client_id"),
        ({**FORM, "grant_type": "password"}, "unsupported_grant_type"),
    ],
)
async def test_refusals_use_the_oauth_error_shape(
    live: Live, http: aiohttp.ClientSession, form: dict[str, str], error: str
) -> None:
    status, answer = await grant(http, live.base_url, form)
    assert status == 400
    assert set(answer) == {"error", "error_description"} and answer["error"] == error
    assert "sim-secret" not in repr(live.app.log) and "not-the-secret" not in repr(live.app.log)


async def test_a_token_ends_after_token_ttl() -> None:
    app = create_salesforce_app(token_ttl=0.3)
    with LiveServer(app) as server:
        async with aiohttp.ClientSession() as http:
            token = await token_of(http, server.base_url)
            assert (await chat(http, server.base_url, token))[0] == 200
            await asyncio.sleep(0.4)
            status, answer, _ = await chat(http, server.base_url, token)
    assert status == 401 and "expired" in answer["message"]


# -- chat-generations ----------------------------------------------------------------------------


async def test_answer_is_the_engines_reply_in_generation_details(
    live: Live, http: aiohttp.ClientSession
) -> None:
    status, answer, _ = await chat(http, live.base_url, await token_of(http, live.base_url))
    assert status == 200
    expected = Simulator().create(CANONICAL)
    generation = answer["generationDetails"]["generations"][0]
    assert generation["role"] == "assistant"
    assert generation["content"] == expected["content"][0]["text"]
    assert "harbour lights at dusk" in generation["content"]
    assert generation["parameters"]["finish_reason"] == "stop"
    assert isinstance(generation["timestamp"], int)
    parameters = answer["generationDetails"]["parameters"]
    usage = parameters["usage"]
    assert usage["prompt_tokens"] == Simulator().count_tokens(CANONICAL)
    assert usage["completion_tokens"] == expected["usage"]["output_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert parameters["model"] == "claude-sonnet-4-5-20250929" and parameters["object"] == "chat.completion"
    assert live.app.log[-1]["model"] == SONNET and live.app.log[-1]["status"] == 200


async def test_the_same_conversation_gets_the_same_answer(live: Live, http: aiohttp.ClientSession) -> None:
    token = await token_of(http, live.base_url)
    first, second = [(await chat(http, live.base_url, token))[1] for _ in range(2)]
    assert first["id"] == second["id"]
    generations = [answer["generationDetails"]["generations"][0] for answer in (first, second)]
    assert generations[0]["content"] == generations[1]["content"]


async def test_bearer_token_is_required_and_checked(live: Live, http: aiohttp.ClientSession) -> None:
    missing = await chat(http, live.base_url, None)
    forged = await chat(http, live.base_url, "eyJhbGciOi.forged.token")
    for status, answer, _ in (missing, forged):
        assert status == 401
        assert (
            set(answer) == {"errorCode", "message", "messageCode"} and answer["errorCode"] == "INVALID_AUTH"
        )
    token = await token_of(http, live.base_url)
    live.app.expire_tokens()
    status, answer, _ = await chat(http, live.base_url, token)
    assert status == 401 and "expired" in answer["message"]
    assert (await chat(http, live.base_url, await token_of(http, live.base_url)))[0] == 200


@pytest.mark.parametrize("header", ["x-sfdc-app-context", "x-client-feature-id"])
async def test_the_einstein_headers_are_required(
    live: Live, http: aiohttp.ClientSession, header: str
) -> None:
    status, answer, _ = await chat(
        http, live.base_url, await token_of(http, live.base_url), **{header: "other"}
    )
    assert status == 400 and header in answer["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**CHAT, "temperature": 0.2}, "temperature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "message"),
        (b"{not json", "JSON"),
    ],
)
async def test_bodies_outside_the_documented_shape_get_400(
    live: Live, http: aiohttp.ClientSession, body: Any, needle: str
) -> None:
    status, answer, _ = await chat(http, live.base_url, await token_of(http, live.base_url), body=body)
    assert status == 400 and answer["errorCode"] == "REQUIRED_FIELD_MISSING" and needle in answer["message"]


@pytest.mark.parametrize(
    "model", ["sfdc_ai__DefaultOpenAIGPT4OmniMini", "claude-sonnet-4-5", "sfdc_ai__Default"]
)
async def test_names_that_are_not_a_simulated_claude_get_404(
    live: Live, http: aiohttp.ClientSession, model: str
) -> None:
    status, answer, _ = await chat(http, live.base_url, await token_of(http, live.base_url), model=model)
    assert status == 404 and answer["errorCode"] == "NOT_FOUND" and model in answer["message"]


async def test_claude_five_names_map_to_the_catalogue(live: Live, http: aiohttp.ClientSession) -> None:
    model = "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet"
    status, answer, _ = await chat(http, live.base_url, await token_of(http, live.base_url), model=model)
    assert status == 200 and answer["generationDetails"]["parameters"]["model"] == "claude-sonnet-5"


async def test_claude_3_names_find_the_dated_model_within_its_output_limit() -> None:
    haiku = ModelSpec(
        id="claude-3-haiku-20240307", display_name="Haiku", created_at="2024-03-07T00:00:00Z", max_tokens=1000
    )
    app = create_salesforce_app(Simulator(SimulatorConfig(models=(haiku,))))
    with LiveServer(app) as server:
        async with aiohttp.ClientSession() as http:
            token = await token_of(http, server.base_url)
            model = "sfdc_ai__DefaultBedrockAnthropicClaude3Haiku"
            status, answer, _ = await chat(http, server.base_url, token, model=model)
    assert status == 200 and answer["generationDetails"]["parameters"]["model"] == "claude-3-haiku-20240307"


# -- faults and the log --------------------------------------------------------------------------


async def test_status_faults_run_out_after_times(live: Live, http: aiohttp.ClientSession) -> None:
    token = await token_of(http, live.base_url)
    answers = [await chat(http, live.base_url, token, **{"x-sim-fault": "429;times=2"}) for _ in range(3)]
    assert [status for status, _, _ in answers] == [429, 429, 200]
    assert answers[0][1]["errorCode"] == "LIMIT_EXCEEDED" and "retry-after" not in answers[0][2]
    chats = [entry for entry in live.app.log if entry["kind"] == "chat"]
    assert [entry["fault"] for entry in chats] == ["429;times=2", "429;times=2", None]
    assert [entry["status"] for entry in chats] == [429, 429, 200]


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after"),
    [
        ("429;retry-after=3", 429, "LIMIT_EXCEEDED", "3"),
        ("423", 423, "LOCKED", None),
        ("423;retry-after=2", 423, "LOCKED", "2"),
        ("404", 404, "NOT_FOUND", None),
        ("500", 500, "INTERNAL_ERROR", None),
        ("503", 503, "SERVICE_UNAVAILABLE", None),
        ("reset-before", 400, "REQUIRED_FIELD_MISSING", None),
    ],
)
async def test_fault_answers(
    live: Live, http: aiohttp.ClientSession, fault: str, status: int, code: str, retry_after: str | None
) -> None:
    answer = await chat(http, live.base_url, await token_of(http, live.base_url), **{"x-sim-fault": fault})
    assert answer[0] == status and answer[1]["errorCode"] == code
    assert answer[2].get("retry-after") == retry_after


async def test_faults_do_not_bypass_authentication(live: Live, http: aiohttp.ClientSession) -> None:
    status, _, _ = await chat(http, live.base_url, None, **{"x-sim-fault": "500"})
    assert status == 401


async def test_the_log_never_holds_secrets_or_tokens(live: Live, http: aiohttp.ClientSession) -> None:
    token = await token_of(http, live.base_url)
    await chat(http, live.base_url, token)
    logged = repr(live.app.log)
    assert "sim-secret" not in logged and token not in logged
    assert [entry["kind"] for entry in live.app.log] == ["token", "chat"]
    assert live.app.log[0]["time"] <= live.app.log[1]["time"]
