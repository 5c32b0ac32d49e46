"""``SalesforceProvider`` under rate limits, busy answers, invalid tokens and odd answers.

Statuses, error bodies and the token flow follow Salesforce's Models API spec as its generated
Apex classes show it (``aiplatform.ModelsAPI``: error statuses 400, 401, 403, 423, 429, 500, 503;
``ModelsAPI_Error``: ``errorCode``, ``messageCode``, ``message``) and the Mobile SDKs'
``SfapApiClient``. No test sleeps: the provider's ``sleep`` is injected.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import orjson
import pytest

from claudegate.client import ApiKey, MockResponse, MockTransport, Request
from claudegate.errors import (
    APIStatusError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
)
from claudegate.gateway.core import classify
from claudegate.providers import ProviderRequest, SalesforceProvider
from claudegate.providers.salesforce import USAGE_ESTIMATE_HEADER
from tests.providers._salesforce import ASK, Sleeps, Upstream, request, text_of

# -- rate limits and busy answers ----------------------------------------------------------------


async def test_429_without_retry_after_backs_off_one_then_two_seconds(upstream: Upstream) -> None:
    sleeps = Sleeps()
    fractions = iter([0.0, 1.0])
    provider = upstream.provider(sleep=sleeps, random_fraction=lambda: next(fractions))
    message = (await provider.create(request(fault="429;times=2"))).message
    assert "harbour lights" in text_of(message)
    assert [entry["status"] for entry in upstream.chats()] == [429, 429, 200]
    assert sleeps.delays == pytest.approx([1.0, 2.0 + 0.25])


async def test_retry_after_is_waited_as_told(upstream: Upstream) -> None:
    sleeps = Sleeps()
    await upstream.provider(sleep=sleeps).create(request(fault="429;times=2;retry-after=7"))
    assert sleeps.delays == [7.0, 7.0]
    assert [entry["status"] for entry in upstream.chats()] == [429, 429, 200]


async def test_retry_after_past_the_bound_is_raised_at_once(upstream: Upstream) -> None:
    sleeps = Sleeps()
    provider = upstream.provider(sleep=sleeps, max_retry_wait=30.0)
    with pytest.raises(RateLimitError) as caught:
        await provider.create(request(fault="429;retry-after=45"))
    error = caught.value
    assert error.attempts == 1 and sleeps.delays == [] and len(upstream.chats()) == 1
    assert error.headers["retry-after"] == "45" and classify(error).headers["retry-after"] == "45"


async def test_429_every_time_is_a_rate_limit_error_after_max_attempts(upstream: Upstream) -> None:
    sleeps = Sleeps()
    with pytest.raises(RateLimitError) as caught:
        await upstream.provider(sleep=sleeps).create(request(fault="429;retry-after=7"))
    error = caught.value
    assert error.status_code == 429 and error.type == "rate_limit_error" and error.attempts == 3
    assert error.headers["retry-after"] == "7" and sleeps.delays == [7.0, 7.0]
    assert "LIMIT_EXCEEDED" in error.message


async def test_one_attempt_fails_over_at_once(upstream: Upstream) -> None:
    """What the gateway builds for a route with other deployments: no waiting on a rate limit."""
    sleeps = Sleeps()
    with pytest.raises(RateLimitError) as caught:
        await upstream.provider(sleep=sleeps, max_attempts=1).create(request(fault="429"))
    assert caught.value.attempts == 1 and sleeps.delays == [] and len(upstream.chats()) == 1


async def test_423_server_busy_is_retried_like_a_429(upstream: Upstream) -> None:
    sleeps = Sleeps()
    message = (await upstream.provider(sleep=sleeps).create(request(fault="423;times=1"))).message
    assert "harbour lights" in text_of(message)
    assert [entry["status"] for entry in upstream.chats()] == [423, 200] and len(sleeps.delays) == 1


async def test_423_every_time_is_an_overloaded_error_that_clients_retry(upstream: Upstream) -> None:
    sleeps = Sleeps()
    with pytest.raises(OverloadedError) as caught:
        await upstream.provider(sleep=sleeps).create(request(fault="423"))
    error = caught.value
    assert error.status_code == 529 and error.type == "overloaded_error" and error.attempts == 3
    assert "HTTP 423" in error.message and len(sleeps.delays) == 2
    answer = classify(error)
    assert answer.status == 529 and answer.error_type == "overloaded_error"


async def test_a_stream_request_gets_the_same_retries(upstream: Upstream) -> None:
    stream = await upstream.provider(sleep=Sleeps()).stream(
        request({**ASK, "stream": True}, fault="429;times=1")
    )
    assert [event async for event in stream.events()][-1]["type"] == "message_stop"
    assert [entry["status"] for entry in upstream.chats()] == [429, 200]


# -- invalid tokens ------------------------------------------------------------------------------


async def test_a_404_to_an_older_token_renews_it_and_retries_once(upstream: Upstream) -> None:
    provider = upstream.provider()
    await provider.create(request())
    message = (await provider.create(request(fault="404;times=1"))).message
    assert "harbour lights" in text_of(message)
    assert upstream.kinds() == ["token", "chat", "chat", "token", "chat"]
    assert [entry["status"] for entry in upstream.chats()] == [200, 404, 200]


async def test_a_404_to_a_token_fetched_for_the_request_is_not_found(upstream: Upstream) -> None:
    with pytest.raises(NotFoundError) as caught:
        await upstream.provider().create(request(fault="404"))
    assert caught.value.attempts == 1 and "NOT_FOUND" in caught.value.message
    assert upstream.kinds() == ["token", "chat"]


async def test_a_404_again_with_a_new_token_is_not_found(upstream: Upstream) -> None:
    provider = upstream.provider()
    await provider.create(request())
    with pytest.raises(NotFoundError) as caught:
        await provider.create(request(fault="404"))
    assert caught.value.attempts == 2
    assert upstream.kinds() == ["token", "chat", "chat", "token", "chat"]


# -- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_class", "error_type"),
    [
        ("500", InternalServerError, "api_error"),
        ("503", InternalServerError, "api_error"),
        ("403", PermissionDeniedError, "permission_error"),
        ("400", BadRequestError, "invalid_request_error"),
    ],
)
async def test_other_errors_map_to_the_tree_without_retry(
    upstream: Upstream, fault: str, error_class: type[Exception], error_type: str
) -> None:
    with pytest.raises(error_class) as caught:
        await upstream.provider(sleep=Sleeps()).create(request(fault=fault))
    error = caught.value
    assert getattr(error, "status_code", None) == int(fault) and getattr(error, "type", None) == error_type
    assert "Salesforce Models API" in str(error) and getattr(error, "attempts", None) == 1
    assert len(upstream.chats()) == 1


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{part(b'{}')}.{part(orjson.dumps(claims))}.{part(b'signature')}"


GRANT = {"access_token": _jwt({"exp": 4_000_000_000}), "token_type": "Bearer", "issued_at": "1"}


def scripted(chat: MockResponse | list[MockResponse], grant: dict[str, Any] = GRANT) -> MockTransport:
    """A Salesforce stand-in: the token endpoint grants ``grant``; chats answer ``chat`` in turn."""
    answers = chat if isinstance(chat, list) else [chat]

    def handle(sent: Request) -> MockResponse:
        if sent.url.endswith("/services/oauth2/token"):
            return MockResponse.json(grant)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return MockTransport(handle)


def provider_on(transport: MockTransport, **options: Any) -> SalesforceProvider:
    return SalesforceProvider(
        token_url="https://example.my.salesforce.com/services/oauth2/token",
        api_base_url="https://api.example.com",
        client_id="client",
        client_secret=ApiKey("secret"),
        transport=transport,
        sleep=Sleeps(),
        **options,
    )


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_type"),
    [
        (403, {"errorCode": "LIMIT_EXCEEDED", "message": "per-minute limit"}, 429, "rate_limit_error"),
        (400, [{"errorCode": "NOT_FOUND", "message": "no such model"}], 404, "not_found_error"),
        (500, {"errorCode": "INTERNAL_ERROR", "messageCode": "x", "message": "boom"}, 500, "api_error"),
        (503, {"errorCode": "LIMIT_EXCEEDED", "message": "odd"}, 503, "api_error"),
    ],
)
async def test_the_specs_error_codes_decide_a_4xx(
    status: int, body: Any, expected_status: int, expected_type: str
) -> None:
    transport = scripted(MockResponse.json(body, status_code=status))
    with pytest.raises(APIStatusError) as caught:
        await provider_on(transport, max_attempts=1).create(request())
    error = caught.value
    assert (error.status_code, error.type) == (expected_status, expected_type)
    assert body_code(body) in error.message


def body_code(body: Any) -> str:
    first = body[0] if isinstance(body, list) else body
    code = first["errorCode"]
    assert isinstance(code, str)
    return code


async def test_an_access_token_that_is_not_a_jwt_is_a_clear_configuration_error() -> None:
    opaque = "00DXX0000000001!AQ4AQFakeOpaqueSessionTokenValue"
    transport = scripted(MockResponse.json({}), grant={**GRANT, "access_token": opaque})
    with pytest.raises(InternalServerError) as caught:
        await provider_on(transport).create(request())
    error = caught.value
    assert "not a JWT" in error.message and "JWT-based access tokens" in error.message
    assert error.headers["x-should-retry"] == "false" and opaque not in str(error)
    assert [sent.url.rsplit("/", 1)[-1] for sent in transport.requests] == ["token"]


# -- usage ---------------------------------------------------------------------------------------


def answer(parameters: dict[str, Any] | None = None, top: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``chat-generations`` answer with ``parameters`` in ``generationDetails``, ``top`` beside it."""
    details: dict[str, Any] = {
        "generations": [{"id": "g", "role": "assistant", "content": "The lights come on.", "parameters": {}}]
    }
    if parameters is not None:
        details["parameters"] = parameters
    return {"id": "a1", "generationDetails": details, **(top or {})}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (
            answer({"usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}}),
            (30, 7, 0),
        ),
        (
            answer(
                {
                    "usage": {
                        "prompt_tokens": 30,
                        "completion_tokens": 7,
                        "prompt_tokens_details": {"cached_tokens": 20},
                    }
                }
            ),
            (10, 7, 20),
        ),
        (answer({"usage": {"promptTokens": 12, "completionTokens": 5, "totalTokens": 17}}), (12, 5, 0)),
        (answer({"usage": {"inputTokenCount": 9, "outputTokenCount": 4, "totalTokenCount": 13}}), (9, 4, 0)),
        (answer(None, {"parameters": {"usage": {"inputTokenCount": 9, "totalTokenCount": 13}}}), (9, 4, 0)),
        (answer({"usage": {"input_tokens": 8, "output_tokens": 3, "cache_read_input_tokens": 6}}), (8, 3, 6)),
        (answer({"usage": {"inputTokens": 11, "outputTokens": 2, "cacheReadInputTokens": 1}}), (11, 2, 1)),
        (answer({"prompt_tokens": 14, "completion_tokens": 6}), (14, 6, 0)),
    ],
)
async def test_usage_is_read_from_every_documented_shape(
    shape: dict[str, Any], expected: tuple[int, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    response = await provider_on(scripted(MockResponse.json(shape))).create(request())
    usage = response.message["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["cache_read_input_tokens"]) == expected
    assert USAGE_ESTIMATE_HEADER not in response.headers and "estimate" not in caplog.text


async def test_an_answer_without_usage_is_estimated_marked_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="claudegate.providers.salesforce")
    transport = scripted(MockResponse.json(answer({"model": "x", "usage": None})))
    response = await provider_on(transport).create(request())
    usage = response.message["usage"]
    sent = len(transport.requests[-1].content or b"")
    assert usage["input_tokens"] == -(-sent // 3) > 0
    assert usage["output_tokens"] == -(-len(b"The lights come on.") // 3)
    assert response.headers[USAGE_ESTIMATE_HEADER] == "true"
    assert "reported no input_tokens or output_tokens" in caplog.text


async def test_a_missing_side_comes_from_the_total_before_any_estimate() -> None:
    shape = answer({"usage": {"completion_tokens": 5, "total_tokens": 45}})
    response = await provider_on(scripted(MockResponse.json(shape))).create(request())
    assert response.message["usage"]["input_tokens"] == 40
    assert USAGE_ESTIMATE_HEADER not in response.headers


async def test_a_streamed_answer_carries_the_estimate_mark_too() -> None:
    transport = scripted(MockResponse.json(answer()))
    stream = await provider_on(transport).stream(ProviderRequest(body={**ASK, "stream": True}))
    events = [event async for event in stream.events()]
    assert stream.headers[USAGE_ESTIMATE_HEADER] == "true"
    assert events[0]["message"]["usage"]["input_tokens"] > 0
