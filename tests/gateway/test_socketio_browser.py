"""A real browser (headless chromium) loads a page that uses the ``socket.io-client`` browser
bundle from node_modules (both served by the test, on the gateway's origin), authenticates with a
key in the handshake and renders a streamed answer; a wrong key renders the ``connect_error``."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Route, async_playwright

from tests._browser import launch_chromium
from tests.conformance._node import node_package
from tests.gateway.test_socketio import serve_sio
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


async def test_a_browser_page_on_the_npm_bundle_authenticates_and_renders_a_streamed_answer(
    tmp_path: Path,
) -> None:
    bundle = (node_package("socket.io-client") / "dist" / "socket.io.min.js").read_bytes()
    db = tmp_path / "keys.db"
    key, _, _ = await issue_keys(db)
    with serve_sio(keyed_config(db)) as server:
        base = server.base_url

        async def page_route(route: Route) -> None:
            await route.fulfill(status=200, content_type="text/html", body=PAGE)

        async def bundle_route(route: Route) -> None:
            await route.fulfill(status=200, content_type="text/javascript", body=bundle)

        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                page = await browser.new_page()
                await page.route(f"{base}/test/chat.html*", page_route)
                await page.route(f"{base}/test/socket.io.min.js", bundle_route)
                await page.goto(f"{base}/test/chat.html?key={key}")
                await page.wait_for_selector("#status[data-done]", state="attached")
                text = await page.inner_text("#answer")
                done = await page.get_attribute("#status", "data-done")
                await page.goto(f"{base}/test/chat.html?key={key}x")
                await page.wait_for_selector("#status[data-error]", state="attached")
                refused = await page.get_attribute("#status", "data-error")
            finally:
                await browser.close()
    assert done == "end_turn" and "hello from the browser" in text
    assert refused == "authentication_error"
