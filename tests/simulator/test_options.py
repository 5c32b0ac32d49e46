"""``OPTIONS`` on the simulator: the ``Allow``ed methods, with no key and no fault in the way."""

from __future__ import annotations

import aiohttp

from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer


async def test_options_answers_allow_without_a_key_or_a_fault() -> None:
    config = SimulatorConfig(api_keys=["only-this-key"], fault="529")
    with LiveServer(create_app(config)) as server:
        async with aiohttp.ClientSession(server.base_url) as http:
            allowed = {}
            for path in ("/", "/v1/messages", "/v1/models/claude-sonnet-5", "/v1/messages/batches/b1"):
                async with http.options(path) as response:
                    assert response.status == 200 and await response.read() == b""
                    allowed[path] = response.headers["allow"]
            async with http.options("/v1/unknown") as missing:
                assert missing.status == 404
            async with http.get("/v1/models") as refused:
                assert refused.status == 401  # the key is still needed for everything else
    assert allowed == {
        "/": "GET, HEAD, OPTIONS",
        "/v1/messages": "POST, OPTIONS",
        "/v1/models/claude-sonnet-5": "GET, OPTIONS",
        "/v1/messages/batches/b1": "DELETE, GET, OPTIONS",
    }
