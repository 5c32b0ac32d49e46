"""A real browser (headless chromium) on ``/v1/ws``: the key in the subprotocol, as in the
documentation's example, opens a session and streams; a wrong key shows close code 4401."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from tests._browser import launch_chromium
from tests.gateway._ws import serve_ws, ws_url
from tests.gateway.test_websocket_auth import issue_keys, keyed_config

# The shape of docs/websocket.md's browser example, returning what it saw instead of drawing it.
CLIENT = """
([url, key]) => new Promise((resolve) => {
  const seen = {protocol: null, text: "", done: null, code: null, reason: null};
  const ws = new WebSocket(url, ["claudegate.v1", "claudegate.key." + key]);
  ws.onopen = () => { seen.protocol = ws.protocol; };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "session.created") {
      ws.send(JSON.stringify({
        type: "message.create",
        stream_id: "s1",
        request: {model: "claude-sonnet-5", max_tokens: 64,
                  messages: [{role: "user", content: "hello from the browser"}]},
      }));
    } else if (data.type === "message.event" && data.event.type === "content_block_delta") {
      seen.text += data.event.delta.text;
    } else if (data.type === "message.done") {
      seen.done = data.stop_reason;
      ws.close(1000);
    }
  };
  ws.onclose = (event) => { seen.code = event.code; seen.reason = event.reason; resolve(seen); };
})
"""


async def test_a_browser_authenticates_by_subprotocol_and_streams(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    key, _, _ = await issue_keys(db)
    with serve_ws(keyed_config(db)) as live:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                page = await browser.new_page()
                good: dict[str, Any] = await page.evaluate(CLIENT, [ws_url(live.base_url), key])
                bad: dict[str, Any] = await page.evaluate(CLIENT, [ws_url(live.base_url), key + "x"])
            finally:
                await browser.close()
    assert good["protocol"] == "claudegate.v1" and good["done"] == "end_turn"
    assert "hello from the browser" in good["text"] and good["code"] == 1000
    assert bad["code"] == 4401 and bad["reason"] == "authentication_error: invalid or revoked API key"
    assert bad["done"] is None
