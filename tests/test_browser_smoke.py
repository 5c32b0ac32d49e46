"""The browser test set-up works: headless chromium loads a page from loopback and runs its script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests._browser import launch_chromium, serve_directory

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title></head>
<body><p id="out">not rendered</p>
<script>
  document.getElementById("out").textContent = ["rendered", "by", "script", 6 * 7].join(" ");
</script></body></html>
"""


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[str]:
    """``tmp_path`` served over HTTP on 127.0.0.1 and a free port."""
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    with serve_directory(tmp_path) as base_url:
        yield base_url


async def test_headless_chromium_renders_a_loopback_page(static_site: str) -> None:
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page()
            response = await page.goto(f"{static_site}/index.html")
            assert response is not None and response.status == 200
            await expect(page.locator("#out")).to_have_text("rendered by script 42")
            assert await page.title() == "smoke"
        finally:
            await browser.close()
