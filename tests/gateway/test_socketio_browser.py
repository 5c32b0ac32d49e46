"""A real browser (headless chromium) loads a page that uses the ``socket.io-client`` browser
bundle from node_modules (both served by the test, on the gateway's origin), authenticates with a
key, or a JWT, in the handshake and renders a streamed answer; a wrong key or an expired token
renders the ``connect_error``."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Route, async_playwright

from tests._browser import launch_chromium
from tests.conformance._node import node_package
from tests.gateway import _ledger
from tests.gateway._idp import claims
from tests.gateway.test_socketio import serve_sio
from tests.gateway.test_socketio_jwt import jwt_gateway
from tests.gateway.test_websocket_auth import issue_keys, keyed_config

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/test/socket.io.min.js"></script></head>
<body><p id="answer"></p><p id="status"></p>
<script>
  const key = new URLSearchParams(location.search).get("key");
  const answer = document.getElementById("answer");
  const status = document.getElementById("status");
  const socket = io({ auth: { token: key } });
  socket.on("connect_error", (err) => { status.dataset.error = err.data ? err.data.type : err.message; });
  socket.on("session.created", () => {
    socket.emit("message.create", {
      stream_id: "s1",
      request: { model: "claude-sonnet-5", max_tokens: 64,
                 messages: [{ role: "user", content: "hello from the browser" }] },
    });
  });
  socket.on("message.event", ({ event }) => {
    if (event.type === "content_block_delta") answer.textContent += event.delta.text;
  });
  socket.on("message.done", (done) => { status.dataset.done = done.stop_reason; });
</script></body></html>
"""


async def render(base: str, credentials: list[str]) -> list[dict[str, str | None]]:
    """For each credential, what the page shows: the streamed answer and how it ended (``done``:
    the stop reason) or why it was refused (``error``: the ``connect_error``'s type)."""
    bundle = (node_package("socket.io-client") / "dist" / "socket.io.min.js").read_bytes()

    async def page_route(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=PAGE)

    async def bundle_route(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/javascript", body=bundle)

    shown = []
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page()
            await page.route(f"{base}/test/chat.html*", page_route)
            await page.route(f"{base}/test/socket.io.min.js", bundle_route)
            for credential in credentials:
                await page.goto(f"{base}/test/chat.html?key={credential}")
                await page.wait_for_selector("#status[data-done], #status[data-error]", state="attached")
                shown.append(
                    {
                        "answer": await page.inner_text("#answer"),
                        "done": await page.get_attribute("#status", "data-done"),
                        "error": await page.get_attribute("#status", "data-error"),
                    }
                )
        finally:
            await browser.close()
    return shown


async def test_a_browser_page_on_the_npm_bundle_authenticates_and_renders_a_streamed_answer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "keys.db"
    key, _, _ = await issue_keys(db)
    with serve_sio(keyed_config(db)) as server:
        accepted, refused = await render(server.base_url, [key, key + "x"])
    assert accepted["done"] == "end_turn" and "hello from the browser" in str(accepted["answer"])
    assert refused == {"answer": "", "done": None, "error": "authentication_error"}


async def test_a_browser_page_authenticates_with_a_jwt(tmp_path: Path) -> None:
    async with jwt_gateway(tmp_path) as gateway:
        token = gateway.idp.token("ec-1", claims("browser-user"))
        expired = gateway.idp.token("ec-1", claims("browser-user", exp=1_000_000, iat=999_000))
        accepted, refused = await render(gateway.url, [token, expired])
    assert accepted["done"] == "end_turn" and "hello from the browser" in str(accepted["answer"])
    assert refused == {"answer": "", "done": None, "error": "authentication_error"}
    assert [row["key_id"] for row in _ledger.rows(gateway.db)] == ["jwt:browser-user"]
