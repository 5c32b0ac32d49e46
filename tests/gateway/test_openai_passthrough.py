"""OpenAI client -> OpenAI-compatible upstream: the bytes pass through untouched both ways, usage is
tapped, and a route that mixes in other upstreams still answers (translated)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from claudegate.testing import LiveServer
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway._ledger import rows
from tests.gateway._upstreams import RecordingOpenAI
from tests.gateway.conftest import Live, serve

MODEL = "gpt-recorded"
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-client-0000"}
# Two choices, logprobs, a system fingerprint and a vendor field, with spacing and escapes that any
# re-encoding would change.
UPSTREAM_JSON = (
    b'{"id": "chatcmpl-pass", "object": "chat.completion", "created": 1727346173, "model": "gpt-4o",'
    b' "system_fingerprint": "fp_5050236cbd", "x_vendor_trace": {"shard": 7},  "choices": ['
    b'{"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9", "refusal": null},'
    b' "logprobs": {"content": [{"token": "caf", "logprob": -0.25, "bytes": [99, 97, 102],'
    b' "top_logprobs": []}]}, "finish_reason": "stop"},'
    b' {"index": 1, "message": {"role": "assistant", "content": "tea"}, "logprobs": null,'
    b' "finish_reason": "length"}],'
    b' "usage": {"prompt_tokens": 31, "completion_tokens": 4, "total_tokens": 35,'
    b' "prompt_tokens_details": {"cached_tokens": 8}}}  '
)
OPENAI_ERROR = (
    b'{"error": {"message": "This model\'s maximum context length is 8 tokens.", '
    b'"type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}'
)
UNAVAILABLE = b'{"error": {"message": "upstream down", "type": "server_error", "param": null, "code": null}}'
CLIENT_JSON = (
    b'{"model": "gpt-recorded",  "messages": [{"role": "user", "content": "caf\\u00e9?"}],'
    b' "logprobs": true, "top_logprobs": 2, "n": 2, "seed": 42, "logit_bias": {"1734": -100},'
    b' "x_vendor_option": {"priority": "low"}}'
)


def _without_usage_chunk(sse: bytes) -> bytes:
    frames = sse.split(b"\n\n")
    return b"\n\n".join(frame for frame in frames if b'"choices":[],"usage"' not in frame)


@dataclass(frozen=True)
class Setup:
    upstream: RecordingOpenAI
    silent: RecordingOpenAI
    """An upstream that reports no usage at all."""
    gateway: Live
    sse: bytes


def _routes(upstream: str, silent: str) -> list[dict[str, Any]]:
    openai_deployment = {"provider": "openai", "base_url": upstream + "/v1"}
    simulator = {"provider": "simulator", "model": "claude-sonnet-5"}
    return [
        {"name": MODEL, "deployments": [openai_deployment]},
        {"name": "house-alias", "deployments": [{**openai_deployment, "model": MODEL}]},
        {"name": "context-limited", "deployments": [{**openai_deployment, "model": "small"}]},
        {"name": "no-usage", "deployments": [{"provider": "openai", "base_url": silent + "/v1"}]},
        {
            "name": "openai-then-simulator",
            "deployments": [{**openai_deployment, "model": "down"}, simulator],
        },
        {
            "name": "simulator-then-openai",
            "deployments": [simulator, {**openai_deployment, "model": MODEL}],
        },
        {"name": "simulator-only", "deployments": [simulator]},
        {"name": "buffered", "tool_stream": "buffer", "deployments": [{**openai_deployment, "model": MODEL}]},
    ]


@pytest.fixture(scope="module")
def setup(fixtures_dir: Path) -> Iterator[Setup]:
    sse = (fixtures_dir / "openai" / "text_logprobs.sse").read_bytes()
    errors = {"small": (400, OPENAI_ERROR), "down": (503, UNAVAILABLE)}
    upstream = RecordingOpenAI(UPSTREAM_JSON, sse, errors)
    without_usage = UPSTREAM_JSON[: UPSTREAM_JSON.index(b', "usage"')] + b"}"
    silent = RecordingOpenAI(without_usage, _without_usage_chunk(sse), {})
    with LiveServer(upstream) as server, LiveServer(silent) as silent_server:
        with serve({"models": _routes(server.base_url, silent_server.base_url)}) as gateway:
            yield Setup(upstream, silent, gateway, sse)


@pytest.fixture
def live(setup: Setup) -> Setup:
    setup.upstream.requests.clear()
    setup.silent.requests.clear()
    return setup


@pytest.fixture
def client(live: Setup) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live.gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        yield gpt


def test_a_json_request_and_answer_pass_through_byte_for_byte(live: Setup) -> None:
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", CLIENT_JSON, HEADERS)
    assert reply.status == 200
    assert reply.body == UPSTREAM_JSON
    [seen] = live.upstream.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.body == CLIENT_JSON
    assert "sk-client-0000" not in str(seen.headers)


def test_the_sdk_sends_fields_no_translation_maps_and_gets_every_choice_back(
    client: openai.OpenAI, live: Setup
) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "café?"}],
        logprobs=True,
        top_logprobs=2,
        n=2,
        seed=42,
        logit_bias={"1734": -100},
        extra_body={"x_vendor_option": {"priority": "low"}},
    )
    sent = live.upstream.requests[0].json()
    assert (sent["logprobs"], sent["top_logprobs"], sent["n"], sent["seed"]) == (True, 2, 2, 42)
    assert sent["logit_bias"] == {"1734": -100} and sent["x_vendor_option"] == {"priority": "low"}
    assert completion.system_fingerprint == "fp_5050236cbd"
    assert [choice.message.content for choice in completion.choices] == ["café", "tea"]
    assert [choice.finish_reason for choice in completion.choices] == ["stop", "length"]
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert (logprobs.content[0].token, logprobs.content[0].logprob) == ("caf", -0.25)
    assert completion.model_dump()["x_vendor_trace"] == {"shard": 7}
    assert completion.usage is not None and completion.usage.prompt_tokens == 31


def test_a_stream_that_asked_for_usage_passes_through_byte_for_byte(live: Setup) -> None:
    body = CLIENT_JSON[:-1] + b', "stream": true, "stream_options": {"include_usage": true}}'
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", body, HEADERS)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.body == live.sse
    assert live.upstream.requests[0].body == body


def test_a_stream_without_usage_asked_gets_none_though_the_gateway_reads_it(live: Setup) -> None:
    body = CLIENT_JSON[:-1] + b', "stream": true}'
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", body, HEADERS)
    assert reply.status == 200
    assert reply.body == _without_usage_chunk(live.sse)
    validate_chat_sse(reply.body, include_usage=False)
    sent = live.upstream.requests[0].json()
    assert sent == {**orjson.loads(body), "stream_options": {"include_usage": True}}


def test_the_sdk_streams_logprobs_and_the_fingerprint(client: openai.OpenAI, live: Setup) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "café?"}],
        logprobs=True,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    expected = _wire.chat_chunks(live.sse)
    assert [chunk.model_dump(exclude_unset=True) for chunk in chunks] == expected
    assert {chunk.system_fingerprint for chunk in chunks} == {"fp_5050236cbd"}
    tokens = [
        c.choices[0].logprobs.content[0].token
        for c in chunks
        if c.choices and c.choices[0].logprobs and c.choices[0].logprobs.content
    ]
    assert tokens == ["Foo", "!"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
    assert live.upstream.requests[0].json()["seed"] == 7


def test_a_renamed_model_reaches_the_upstream_with_every_other_field_kept(live: Setup) -> None:
    body = CLIENT_JSON.replace(b'"gpt-recorded"', b'"house-alias"')
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", body, HEADERS)
    assert reply.status == 200 and reply.body == UPSTREAM_JSON
    assert live.upstream.requests[0].json() == {**orjson.loads(CLIENT_JSON), "model": MODEL}


def test_an_upstream_error_reaches_the_client_in_the_openai_envelope(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="context-limited", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 400
    assert "maximum context length is 8 tokens" in raised.value.message
    assert raised.value.code == "context_length_exceeded" and raised.value.param == "messages"
    assert raised.value.body == orjson.loads(OPENAI_ERROR)["error"]


def test_failover_from_an_openai_deployment_to_a_translated_one_answers(
    client: openai.OpenAI, live: Setup
) -> None:
    messages: Any = [{"role": "user", "content": "tell me about the ferry"}]
    completion = client.chat.completions.create(model="openai-then-simulator", messages=messages, seed=3)
    text = completion.choices[0].message.content
    assert text and "ferry" in text and completion.object == "chat.completion"
    with client.chat.completions.create(
        model="openai-then-simulator", messages=messages, stream=True
    ) as stream:
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "ferry" in streamed
    assert [request.json()["model"] for request in live.upstream.requests] == ["down", "down"]


def test_failover_from_a_translated_deployment_to_an_openai_one_passes_through(live: Setup) -> None:
    body = CLIENT_JSON.replace(b'"gpt-recorded"', b'"simulator-then-openai"').replace(b' "n": 2,', b"")
    headers = {**HEADERS, "x-sim-fault": "529"}
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", body, headers)
    assert reply.status == 200 and reply.body == UPSTREAM_JSON
    assert live.upstream.requests[0].json() == {**orjson.loads(body), "model": MODEL}


def test_a_request_only_an_openai_upstream_can_serve_is_refused_elsewhere_naming_the_field(
    client: openai.OpenAI, live: Setup
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="simulator-only", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert isinstance(raised.value.body, dict) and raised.value.body["param"] == "n"
    assert "n=1" in raised.value.message
    # On a mixed route, the OpenAI deployment serves it.
    body = CLIENT_JSON.replace(b'"gpt-recorded"', b'"simulator-then-openai"')
    reply = _wire.post(live.gateway.base_url, "/v1/chat/completions", body, HEADERS)
    assert reply.status == 200 and reply.body == UPSTREAM_JSON


def test_usage_lands_in_the_ledger_and_an_upstream_without_usage_is_estimated(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    sse = (fixtures_dir / "openai" / "text_logprobs.sse").read_bytes()
    upstream = RecordingOpenAI(UPSTREAM_JSON, sse, {})
    silent = RecordingOpenAI(
        UPSTREAM_JSON[: UPSTREAM_JSON.index(b', "usage"')] + b"}", _without_usage_chunk(sse), {}
    )
    db = tmp_path / "ledger.db"
    with LiveServer(upstream) as server, LiveServer(silent) as silent_server:
        config = {
            "models": _routes(server.base_url, silent_server.base_url),
            "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
        }
        with serve(config) as gateway:
            base = gateway.base_url
            plain = _wire.post(base, "/v1/chat/completions", CLIENT_JSON, HEADERS)
            asked = CLIENT_JSON[:-1] + b', "stream": true, "stream_options": {"include_usage": true}}'
            streamed = _wire.post(base, "/v1/chat/completions", asked, HEADERS)
            quiet = _wire.post(base, "/v1/chat/completions", CLIENT_JSON[:-1] + b', "stream": true}', HEADERS)
            unreported = CLIENT_JSON.replace(b'"gpt-recorded"', b'"no-usage"')[:-1] + b', "stream": true}'
            estimated = _wire.post(base, "/v1/chat/completions", unreported, HEADERS)
            metrics = _wire.metrics(base)
    assert [reply.status for reply in (plain, streamed, quiet, estimated)] == [200, 200, 200, 200]
    written = {row["request_id"]: row for row in rows(db)}
    first, second, third, fourth = (
        written[reply.headers["request-id"]] for reply in (plain, streamed, quiet, estimated)
    )
    # JSON: prompt 31 of which 8 cached -> 23 input + 8 cache reads; the stream's final chunk: 9 and 2.
    assert (first["input_tokens"], first["cache_read_tokens"], first["output_tokens"]) == (23, 8, 4)
    assert (first["dialect"], first["stream"], first["status"]) == ("openai", 0, 200)
    assert (second["input_tokens"], second["output_tokens"], second["stream"]) == (9, 2, 1)
    assert (third["input_tokens"], third["output_tokens"]) == (9, 2)
    assert fourth["input_tokens"] > 0 and fourth["output_tokens"] > 0 and fourth["status"] == 200
    assert _wire.metric(metrics, "claudegate_usage_estimated_total") == 1


def test_a_stream_cut_short_by_the_upstream_ends_with_an_error_chunk(fixtures_dir: Path) -> None:
    sse = (fixtures_dir / "openai" / "text_logprobs.sse").read_bytes()
    cut = sse[: sse.index(b'"finish_reason":"stop"')]
    cut = cut[: cut.rindex(b"\n\n") + 2]  # whole frames, then the connection ends
    upstream = RecordingOpenAI(UPSTREAM_JSON, cut, {})
    with LiveServer(upstream) as server:
        route = {"name": MODEL, "deployments": [{"provider": "openai", "base_url": server.base_url + "/v1"}]}
        with serve({"models": [route]}) as gateway:
            body = CLIENT_JSON[:-1] + b', "stream": true, "stream_options": {"include_usage": true}}'
            reply = _wire.post(gateway.base_url, "/v1/chat/completions", body, HEADERS)
    assert reply.status == 200
    assert reply.body.startswith(cut)
    [error] = _wire.chat_chunks(reply.body[len(cut) :])
    assert "ended before data: [DONE]" in error["error"]["message"]


def test_a_route_that_buffers_tool_arguments_translates_instead(live: Setup) -> None:
    body = orjson.loads(CLIENT_JSON)
    del body["n"]
    reply = _wire.chat(live.gateway.base_url, {**body, "model": "buffered", "stream": True}, HEADERS)
    assert reply.status == 200
    assert validate_chat_sse(reply.body, include_usage=False)["content"] == "Foo!"
    sent = live.upstream.requests[0].json()
    assert "x_vendor_option" not in sent and sent["max_completion_tokens"] > 0  # translated
    refused = _wire.chat(
        live.gateway.base_url, {**body, "model": "buffered", "stream": True, "n": 2}, HEADERS
    )
    assert refused.status == 400 and refused.json()["error"]["param"] == "n"
