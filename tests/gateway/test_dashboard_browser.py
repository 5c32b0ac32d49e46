"""A real browser (Debian's headless chromium) on ``/dashboard``: it logs in with the admin key,
sees uPlot draw the traffic, regroups it, revokes a key through the page (its caller is refused at
once), is sent to the login page without a session, and a form that another origin's page submits
to the dashboard is refused while the key it aims at keeps working. Screenshots are written to
``.artifacts/dashboard/`` (their paths are printed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Dialog, Page, async_playwright, expect

from tests._browser import launch_chromium, serve_directory
from tests.gateway import _wire
from tests.gateway._dashboard import ADMIN, ANTHROPIC, ASK, issue_key, keyed_config
from tests.gateway.conftest import serve

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "dashboard"

# Resolves once the requests plot holds a point above zero: the number of plots drawn.
PLOTTED = """() => {
  const state = window.claudegateDashboard;
  const plot = state && state.plots.requests;
  if (!plot || plot.data.length < 2) return false;
  const points = plot.data.slice(1).flat().filter((value) => value > 0).length;
  return points > 0 ? Object.keys(state.plots).length : false;
}"""

ATTACK = """<!doctype html>
<html><head><meta charset="utf-8"><title>win a prize</title></head>
<body><form id="f" method="post" action="{action}">
<input type="hidden" name="csrf_token" value="guessed"></form>
<script>document.getElementById("f").submit();</script></body></html>
"""


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_DASHBOARD_ADMIN_KEY", ADMIN)


@contextmanager
def attacker_site(root: Path, action: str) -> Iterator[str]:
    """Another origin (127.0.0.1 on another port) whose page posts a form to ``action`` on load."""
    root.mkdir()
    (root / "index.html").write_text(ATTACK.format(action=action), encoding="utf-8")
    with serve_directory(root) as base_url:
        yield base_url + "/index.html"


def call(base_url: str, key: str, model: str = "claude-sonnet-5") -> int:
    headers = {"x-api-key": key, **ANTHROPIC}
    return _wire.post(base_url, "/v1/messages", {**ASK, "model": model}, headers).status


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


async def test_a_browser_logs_in_plots_revokes_a_key_and_is_refused_without_a_session(tmp_path: Path) -> None:
    with serve(keyed_config(str(tmp_path / "g.db"))) as live:
        base = live.base_url
        target, bystander = issue_key(base, "target"), issue_key(base, "bystander")
        statuses = [call(base, target["key"]) for _ in range(3)]
        statuses += [call(base, bystander["key"], "claude-haiku-4-5") for _ in range(2)]
        assert statuses == [200] * 5
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                problems: list[str] = []

                def console(message: ConsoleMessage) -> None:
                    if message.type == "error":  # a CSP violation, a failed load, a script error
                        problems.append(message.text)

                accepted: set[asyncio.Future[None]] = set()

                def dialog(prompt: Dialog) -> None:  # htmx's hx-confirm before a revocation
                    future = asyncio.ensure_future(prompt.accept())
                    accepted.add(future)
                    future.add_done_callback(accepted.discard)

                page.on("console", console)
                page.on("dialog", dialog)

                await page.goto(base + "/dashboard")
                await expect(page).to_have_url(base + "/dashboard/login")
                await page.fill('input[name="admin_key"]', ADMIN)
                await page.click('button[type="submit"]')
                await expect(page).to_have_url(base + "/dashboard")
                drawn = await page.wait_for_function(PLOTTED)
                assert await drawn.json_value() == 7  # requests, tokens in and out, cost, p50, p95, errors
                await expect(page.locator("[data-total=requests]")).to_have_text("5")
                await expect(page.locator("#live-streams")).to_have_text("0")
                await expect(page.locator("table.deployments")).to_contain_text("simulator/*#0")
                latency = await page.evaluate(
                    "() => window.claudegateDashboard.plots.latency_ms_p95.data.slice(1).flat()"
                    ".filter((value) => value !== null).length"
                )
                assert latency > 0
                await page.select_option('select[name="group_by"]', "key")
                await page.wait_for_function(
                    "() => (window.claudegateDashboard.groups || []).join() === 'target,bystander'"
                )
                assert page.url == base + "/dashboard?window=hour&group_by=key"
                await screenshot(page, "overview")

                await page.click('nav a[href="/dashboard/keys"]')
                row = page.locator(f"#key-{target['id']}")
                await expect(row).to_have_attribute("data-status", "active")
                await page.click(f'button[data-action="revoke-{target["id"]}"]')
                await expect(row).to_have_attribute("data-status", "revoked")
                await expect(page.locator("#notice")).to_contain_text("revoked")
                await screenshot(page, "keys-revoked")
                assert call(base, target["key"]) == 401
                assert call(base, bystander["key"]) == 200
                assert problems == []

                fresh = await browser.new_context()
                stranger = await fresh.new_page()
                await stranger.goto(base + "/dashboard/keys")
                await expect(stranger).to_have_url(base + "/dashboard/login")
                status = await stranger.evaluate(
                    "async () => (await fetch('/dashboard/usage.json?window=hour&group_by=model')).status"
                )
                assert status == 401
                await screenshot(stranger, "no-session")
                await fresh.close()

                action = f"{base}/dashboard/keys/{bystander['id']}/revoke"
                with attacker_site(tmp_path / "attacker", action) as attack:
                    async with page.expect_response(action) as answered:
                        await page.goto(attack)  # the logged-in browser visits another origin's page
                    assert (await answered.value).status == 403
                    await expect(page.locator("#refused")).to_contain_text("own page")
                    await screenshot(page, "csrf-refused")
                assert call(base, bystander["key"]) == 200  # still active
                await page.goto(base + "/dashboard/keys")
                await expect(page.locator(f"#key-{bystander['id']}")).to_have_attribute(
                    "data-status", "active"
                )
                assert not re.search(re.escape(ADMIN), await page.content())
            finally:
                await browser.close()
