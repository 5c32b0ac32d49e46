"""Compressed request bodies at the simulator, over a real socket: decoded, held to the body limit
once decoded, and refused clearly when the coding is unknown or the data broken."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import aiohttp
import orjson
import pytest

from claudegate.client import AsyncClient, Compression, Reliability
from claudegate.simulator._http import MAX_BODY_BYTES
from tests.simulator.conftest import API_KEY, Live

MODEL = "claude-opus-4-8"
PROMPT = " ".join(f"harbour{n}" for n in range(150))
BODY: dict[str, Any] = {"model": MODEL, "max_tokens": 1000, "messages": [{"role": "user", "content": PROMPT}]}
ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": API_KEY, "content-type": "application/json"}


async def post(server: Live, path: str, body: bytes, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(server.base_url, auto_decompress=True) as http,
        http.post(path, data=body, headers={**ANTHROPIC, **headers}) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_our_client_compression_is_accepted(server: Live) -> None:
    reliability = Reliability(compression=Compression(threshold=256))
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url, reliability=reliability) as client:
        reply = await client.messages.create(**BODY)
    assert "harbour149" in reply.to_json().decode()
    assert server.app.simulator.log.entries()[-1]["status"] == 200


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
async def test_gzip_and_deflate_bodies_are_decoded(server: Live, path: str) -> None:
    data = orjson.dumps(BODY)
    for coding, body in (("gzip", gzip.compress(data)), ("deflate", zlib.compress(data))):
        status, answer = await post(server, path, body, **{"content-encoding": coding})
        assert status == 200, answer
        assert "harbour149" in orjson.dumps(answer).decode()


async def test_a_zip_bomb_gets_413_once_decoded(server: Live) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    bomb = b"".join([compressor.compress(block) for _ in range((MAX_BODY_BYTES >> 20) + 8)])
    bomb += compressor.flush()
    assert len(bomb) < 100_000
    status, envelope = await post(server, "/v1/messages", bomb, **{"content-encoding": "gzip"})
    assert status == 413 and envelope["error"]["type"] == "request_too_large"
    status, envelope = await post(server, "/v1/chat/completions", bomb, **{"content-encoding": "gzip"})
    assert status == 413 and "error" in envelope and "type" not in envelope  # OpenAI's envelope


async def test_unknown_codings_get_415_and_broken_data_400(server: Live) -> None:
    status, envelope = await post(server, "/v1/messages", b"\x0b\x02\x80", **{"content-encoding": "br"})
    assert status == 415
    assert envelope["error"]["type"] == "invalid_request_error" and "'br'" in envelope["error"]["message"]
    whole = gzip.compress(orjson.dumps(BODY))
    status, envelope = await post(server, "/v1/messages", whole[:-20], **{"content-encoding": "gzip"})
    assert status == 400 and "ends before its gzip data" in envelope["error"]["message"]
