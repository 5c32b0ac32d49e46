"""Content codings at the gateway, over real sockets: compressed request bodies decoded within the
body limit (held against the decoded size), answers gzipped for clients that accept it, streams
never, and an upstream's own compression neither doubled nor mislabelled."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import anthropic
import openai
import orjson
import pytest

from claudegate.client import AsyncClient, Compression, Reliability
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway._upstreams import Receive, Send
from tests.gateway._wire import ANTHROPIC_HEADERS, OPENAI_HEADERS, post
from tests.gateway.conftest import Live, serve, simulator_route

MODEL = "claude-sonnet-5"
# 200 distinct words: the simulator's reply quotes them all, so the answer is a few kilobytes.
LONG_PROMPT = " ".join(f"lighthouse{n}" for n in range(200))
ASK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 2000,
    "messages": [{"role": "user", "content": LONG_PROMPT}],
}
GZIP = {"content-encoding": "gzip"}
ACCEPT = {"accept-encoding": "gzip, deflate"}


def bomb(decoded_bytes: int) -> bytes:
    """A gzip body of ``decoded_bytes`` zeros (about a thousandth of that on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_bytes >> 20)]
    return b"".join([*parts, compressor.flush()])


@pytest.fixture(scope="module")
def small_limit() -> Iterator[Live]:
    """A gateway that takes request bodies of at most 1 MiB."""
    config = {"gateway": {"max_request_bytes": 1 << 20}, "models": [simulator_route()]}
    with serve(config) as live:
        yield live


async def test_our_client_compression_is_accepted(gateway: Live) -> None:
    reliability = Reliability(compression=Compression(threshold=512))
    async with AsyncClient(
        api_key="sk-ant-client", base_url=gateway.base_url, reliability=reliability
    ) as client:
        reply = await client.messages.create(**ASK)
    assert reply.stop_reason == "end_turn"
    text = reply.to_json().decode()
    assert "lighthouse0" in text and "lighthouse199" in text


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "deflate-raw"])
def test_each_coding_is_decoded_for_both_dialects(gateway: Live, coding: str) -> None:
    def encoded(body: dict[str, Any]) -> bytes:
        data = orjson.dumps(body)
        if coding == "deflate-raw":  # what some clients send under "deflate"
            compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            return compressor.compress(data) + compressor.flush()
        return zlib.compress(data) if coding == "deflate" else gzip.compress(data)

    header = {"content-encoding": coding.removesuffix("-raw")}
    message = post(gateway.base_url, "/v1/messages", encoded(ASK), {**ANTHROPIC_HEADERS, **header})
    assert message.status == 200 and message.json()["type"] == "message"
    chat = post(gateway.base_url, "/v1/chat/completions", encoded(ASK), {**OPENAI_HEADERS, **header})
    assert chat.status == 200 and chat.json()["object"] == "chat.completion"


def test_a_zip_bomb_gets_413_in_each_dialect_with_memory_bounded(small_limit: Live) -> None:
    body = bomb(64 << 20)  # 64 MiB once decoded, against a 1 MiB limit
    assert len(body) < 100_000
    tracemalloc.start()
    try:
        anthropic_reply = post(small_limit.base_url, "/v1/messages", body, {**ANTHROPIC_HEADERS, **GZIP})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert anthropic_reply.status == 413
    error = anthropic_reply.json()["error"]
    assert error["type"] == "request_too_large" and "once decoded" in error["message"]
    assert peak < 8 << 20  # the limit and change, never the 64 MiB
    openai_reply = post(small_limit.base_url, "/v1/chat/completions", body, {**OPENAI_HEADERS, **GZIP})
    assert openai_reply.status == 413
    assert "once decoded" in openai_reply.json()["error"]["message"]


def test_a_body_just_under_the_limit_once_decoded_is_served(small_limit: Live) -> None:
    room = (1 << 20) - len(orjson.dumps({**ASK, "metadata": {"user_id": ""}}))
    data = orjson.dumps({**ASK, "metadata": {"user_id": "x" * room}})
    assert len(data) == 1 << 20  # exactly the limit: allowed
    reply = post(small_limit.base_url, "/v1/messages", gzip.compress(data), {**ANTHROPIC_HEADERS, **GZIP})
    assert reply.status == 200


def test_an_unknown_coding_gets_415_naming_it(gateway: Live) -> None:
    headers = {"content-encoding": "br"}
    reply = post(gateway.base_url, "/v1/messages", b"\x0b\x02\x80", {**ANTHROPIC_HEADERS, **headers})
    assert reply.status == 415
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "'br' is not supported" in error["message"] and "gzip or deflate" in error["message"]
    chat = post(gateway.base_url, "/v1/chat/completions", b"\x0b\x02\x80", {**OPENAI_HEADERS, **headers})
    assert chat.status == 415 and "'br'" in chat.json()["error"]["message"]


def test_a_broken_or_cut_gzip_body_gets_400(gateway: Live) -> None:
    whole = gzip.compress(orjson.dumps(ASK))
    for body in (b"not gzip at all", whole[: len(whole) // 2]):
        reply = post(gateway.base_url, "/v1/messages", body, {**ANTHROPIC_HEADERS, **GZIP})
        assert reply.status == 400
        assert "gzip" in reply.json()["error"]["message"]


def test_large_json_answers_are_gzipped_when_accepted(gateway: Live) -> None:
    plain = post(gateway.base_url, "/v1/messages", ASK, ANTHROPIC_HEADERS)
    assert plain.status == 200 and "content-encoding" not in plain.headers
    assert len(plain.body) > 1024 and plain.headers["vary"] == "accept-encoding"
    packed = post(gateway.base_url, "/v1/messages", ASK, {**ANTHROPIC_HEADERS, **ACCEPT})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) == len(packed.body) < len(plain.body) // 2
    assert orjson.loads(gzip.decompress(packed.body)) == plain.json()


def test_small_answers_and_refused_gzip_stay_plain(gateway: Live) -> None:
    small = {**ASK, "messages": [{"role": "user", "content": "hi"}]}
    reply = post(gateway.base_url, "/v1/messages", small, {**ANTHROPIC_HEADERS, **ACCEPT})
    assert reply.status == 200 and len(reply.body) < 1024
    assert "content-encoding" not in reply.headers and reply.json()["type"] == "message"
    refused = post(
        gateway.base_url, "/v1/messages", ASK, {**ANTHROPIC_HEADERS, "accept-encoding": "gzip;q=0"}
    )
    assert "content-encoding" not in refused.headers and refused.json()["type"] == "message"


def test_streams_are_never_compressed(gateway: Live) -> None:
    for path, headers in (("/v1/messages", ANTHROPIC_HEADERS), ("/v1/chat/completions", OPENAI_HEADERS)):
        reply = post(gateway.base_url, path, {**ASK, "stream": True}, {**headers, **ACCEPT})
        assert reply.status == 200 and "content-encoding" not in reply.headers
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert b"lighthouse199" in reply.body


def test_compression_can_be_switched_off() -> None:
    with serve({"gateway": {"gzip_min_bytes": None}, "models": [simulator_route()]}) as live:
        reply = post(live.base_url, "/v1/messages", ASK, {**ANTHROPIC_HEADERS, **ACCEPT})
    assert reply.status == 200 and "content-encoding" not in reply.headers and "vary" not in reply.headers


def test_official_sdks_read_gzipped_answers(gateway: Live) -> None:
    with anthropic.Anthropic(base_url=gateway.base_url, api_key="sk-ant-client", max_retries=0) as claude:
        raw = claude.messages.with_raw_response.create(
            model=MODEL, max_tokens=2000, messages=[{"role": "user", "content": LONG_PROMPT}]
        )
        assert raw.headers["content-encoding"] == "gzip"
        message = raw.parse()
        assert message.content[0].type == "text" and "lighthouse199" in message.content[0].text
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        raw_chat = gpt.chat.completions.with_raw_response.create(
            model=MODEL, max_tokens=2000, messages=[{"role": "user", "content": LONG_PROMPT}]
        )
        assert raw_chat.headers["content-encoding"] == "gzip"
        content = raw_chat.parse().choices[0].message.content
        assert content is not None and "lighthouse199" in content


class GzippingUpstream:
    """The simulator behind a front that gzips every answer, JSON and SSE, whatever was asked."""

    def __init__(self) -> None:
        self.inner = create_simulator()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)

        async def gzipping(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message["headers"] if n.lower() != b"content-length"]
                message = {**message, "headers": [*kept, (b"content-encoding", b"gzip")]}
            elif message["type"] == "http.response.body":
                more = message.get("more_body", False)
                data = compressor.compress(message.get("body", b""))
                data += compressor.flush(zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH)
                message = {**message, "body": data}
            await send(message)

        await self.inner(scope, receive, gzipping)


@pytest.fixture(scope="module")
def behind_gzipping_upstream() -> Iterator[Live]:
    with pytest.MonkeyPatch.context() as patch, LiveServer(GzippingUpstream()) as upstream:
        patch.setenv("GW_TEST_UPSTREAM_KEY", "sk-ant-api03-upstream-000000")
        deployment = {
            "provider": "anthropic",
            "base_url": upstream.base_url,
            "api_key": "env:GW_TEST_UPSTREAM_KEY",
        }
        with serve({"models": [{"name": "*", "deployments": [deployment]}]}) as live:
            yield live


def test_an_upstreams_gzip_is_neither_doubled_nor_mislabelled(behind_gzipping_upstream: Live) -> None:
    base_url = behind_gzipping_upstream.base_url
    plain = post(base_url, "/v1/messages", ASK, ANTHROPIC_HEADERS)
    assert plain.status == 200 and "content-encoding" not in plain.headers
    assert "lighthouse199" in plain.json()["content"][0]["text"]
    packed = post(base_url, "/v1/messages", ASK, {**ANTHROPIC_HEADERS, **ACCEPT})
    assert packed.headers["content-encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(packed.body)) == plain.json()  # one layer, not two
    streamed = post(base_url, "/v1/messages", {**ASK, "stream": True}, {**ANTHROPIC_HEADERS, **ACCEPT})
    assert "content-encoding" not in streamed.headers
    assert streamed.body.startswith(b"event: message_start") and b"lighthouse199" in streamed.body
