"""gzip request compression, checked by a recording upstream over a real socket."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from claudegate.client import AsyncClient, Compression
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"


class Recorder:
    """An ASGI upstream that keeps each request's headers and raw body, and answers ``{}``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    app = Recorder()
    with LiveServer(app) as server:
        yield app, server.base_url


async def test_large_bodies_go_out_gzipped_small_ones_plain(recorder: tuple[Recorder, str]) -> None:
    app, base_url = recorder
    compression = Compression(threshold=2000)
    big = {"model": "m", "messages": [{"role": "user", "content": "lighthouse " * 500}]}
    small = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with AsyncClient(api_key=KEY, base_url=base_url) as client:
        for body in (big, small):
            request = compression.apply(client.build_request("POST", "/v1/messages", body))
            await (await client.send(request)).aread()
    (big_headers, big_wire), (small_headers, small_wire) = app.requests
    assert big_headers["content-encoding"] == "gzip"
    assert int(big_headers["content-length"]) == len(big_wire) < len(orjson.dumps(big)) // 10
    assert orjson.loads(gzip.decompress(big_wire)) == big
    assert "content-encoding" not in small_headers and orjson.loads(small_wire) == small


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        Compression(level=0)
