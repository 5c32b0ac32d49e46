"""``GET /docs/api``: ``/openapi.json`` rendered as a page that lists every operation and schema,
links nothing outside the gateway, and loads nothing but itself in a real browser."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import orjson
from playwright.async_api import async_playwright

from claudegate.gateway.surfaces.reference import _anchor, _inline_code, schema_view
from tests._browser import launch_chromium
from tests.gateway import _wire
from tests.gateway.conftest import Live


class Page(HTMLParser):
    """What the tests read off the page: tags, ids, links and the inline style's text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.ids: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
            if name == "id" and value:
                self.ids.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)


def _get(live: Live, path: str) -> _wire.Reply:
    reply = _wire.call(live.base_url, "GET", path)
    assert reply.status == 200, reply.body
    return reply


def test_the_page_lists_every_operation_and_schema_of_the_document(gateway: Live) -> None:
    document: dict[str, Any] = orjson.loads(_get(gateway, "/openapi.json").body)
    reply = _get(gateway, "/docs/api")
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    page = Page(reply.body.decode())
    text = " ".join(page.text)
    ids = set(page.ids)
    assert len(ids) == len(page.ids), "an id is used twice"
    for path, item in document["paths"].items():
        assert path in text
        for method in item:
            assert _anchor(method, path) in ids, (method, path)
    for name in document["components"]["schemas"]:
        assert f"schema-{name}" in ids
    assert {"authentication", "errors", "schemas"} <= ids
    assert "ErrorResponse" in text and "OpenAIErrorResponse" in text  # the two envelopes, drawn
    links = [value for _, name, value in page.attributes if name == "href"]
    for link in links:  # every in-page link lands on something
        assert not link.startswith("#") or link[1:] in ids, link
    assert _get(gateway, "/docs/api").body == reply.body


def test_the_page_needs_nothing_from_outside_and_its_policy_admits_only_its_own_style(gateway: Live) -> None:
    reply = _get(gateway, "/docs/api")
    page = Page(reply.body.decode())
    assert not page.tags & {"script", "link", "img", "iframe", "object", "embed", "form", "base"}
    for tag, name, value in page.attributes:
        assert name not in ("src", "srcset", "action", "formaction", "poster", "data"), (tag, name)
        if name == "href":
            assert value.startswith(("#", "/")) and not value.startswith("//"), value
        assert not re.search(r"(?i)\b(https?:|javascript:|data:)", value), (tag, name, value)
        assert not name.startswith("on"), (tag, name)  # no inline handlers
    (style,) = page.style
    assert "url(" not in style and "@import" not in style
    policy = reply.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_text_from_the_document_is_escaped() -> None:
    assert str(_inline_code("<b>`x < y`</b> and ``two``")) == (
        "&lt;b&gt;<code>x &lt; y</code>&lt;/b&gt; and <code>two</code>"
    )
    view = schema_view(
        {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}},
            "required": ["tags"],
            "additionalProperties": False,
        }
    )
    (tags,) = view.fields
    assert view.notes == ("no other fields",) and tags.required
    assert tags.schema.items is not None and tags.schema.items.ref == "Tag" and tags.schema.simple


async def test_a_browser_loads_the_page_alone_and_follows_a_schema_link(gateway: Live) -> None:
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page()
            requested: list[str] = []
            console: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: console.append(message.text))
            await page.goto(gateway.base_url + "/docs/api")
            styled = await page.evaluate(
                "getComputedStyle(document.querySelector('.method.post')).backgroundColor"
            )
            await page.click("#post-v1-messages a.ref[href='#schema-MessagesRequest']")
            shown = await page.is_visible("#schema-MessagesRequest td.name code >> text=max_tokens")
            url = page.url
        finally:
            await browser.close()
    assert requested == [gateway.base_url + "/docs/api"]  # nothing else fetched, from anywhere
    assert console == []  # no policy violation reported
    assert styled == "rgb(47, 138, 79)"  # the inline style applied under the policy
    assert url.endswith("#schema-MessagesRequest") and shown
