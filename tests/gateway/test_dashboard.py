"""``/dashboard`` over HTTP on a real loopback server: login with the admin key (never echoed or
kept in the cookie), the session cookie's flags, no session → the login page or a 401, every change
held to the dashboard's origin and the session's CSRF token, the pages and plots' data after
traffic, keys issued, changed and revoked through the page, jobs, batches and dead events acted on,
the vendored files served and their absence reported, all on the embedded defaults."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from claudegate.gateway import GatewayApp, create_app, parse_config
from claudegate.testing import LiveServer
from tests.gateway import _event_tools, _wire
from tests.gateway._dashboard import ADMIN, ANTHROPIC, ASK, HTMX, Browser, issue_key, keyed_config
from tests.gateway._ws import open_session, ws_url
from tests.gateway.conftest import Live, serve


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_DASHBOARD_ADMIN_KEY", ADMIN)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with serve(keyed_config(str(tmp_path / "g.db"))) as running:
        yield running


def call(
    base_url: str, key: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> _wire.Reply:
    return _wire.post(
        base_url, "/v1/messages", body or ASK, {"x-api-key": key, **ANTHROPIC, **(headers or {})}
    )


def no_admin_key_in(browser: Browser) -> None:
    for reply in browser.seen:
        assert ADMIN not in reply.text, reply.url
        assert all(ADMIN not in value for value in reply.headers.values()), reply.url


def test_login_refuses_a_wrong_key_and_sets_a_strict_cookie(live: Live) -> None:
    browser = Browser(live.base_url)
    wrong = browser.login("not-the-admin-key")
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "not the admin key" in wrong.text and "not-the-admin-key" not in wrong.text
    assert browser.get("/dashboard").status_code == 303
    right = browser.login()
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    cookie = right.headers["set-cookie"]
    name, value = cookie.split(";")[0].split("=", 1)
    flags = {part.strip() for part in cookie.split(";")[1:]}
    assert name == "cg_dashboard" and len(value) >= 40
    assert flags == {"Path=/dashboard", "Max-Age=43200", "HttpOnly", "SameSite=Strict"}  # no Secure on http
    page = browser.get("/dashboard")
    assert page.status_code == 200 and "Overview" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    proxied = Browser(live.base_url)
    host = live.base_url.removeprefix("http://")
    secure = proxied.post(
        "/dashboard/login", {"admin_key": ADMIN}, {"origin": f"https://{host}", "x-forwarded-proto": "https"}
    )
    assert secure.status_code == 303 and secure.headers["set-cookie"].endswith("; Secure")
    no_admin_key_in(browser)
    no_admin_key_in(proxied)


def test_without_a_session_pages_redirect_and_fragments_answer_401(live: Live) -> None:
    browser = Browser(live.base_url)
    page = browser.get("/dashboard/keys")
    assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"
    fragment = browser.get("/dashboard/live", headers=HTMX)
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"] == "/dashboard/login"
    data = browser.get("/dashboard/usage.json?window=hour&group_by=model")
    assert data.status_code == 401 and data.json()["error"]["status"] == 401
    key = issue_key(live.base_url, "target")
    change = browser.post(f"/dashboard/keys/{key['id']}/revoke", {"csrf_token": "guess"})
    assert change.status_code == 401
    browser.http.cookies.set("cg_dashboard", "forged-session-id", path="/dashboard")
    assert browser.get("/dashboard").headers["location"] == "/dashboard/login"
    assert call(live.base_url, key["key"]).status == 200  # nothing was revoked
    login = browser.get("/dashboard/login")
    assert login.status_code == 200 and 'name="admin_key"' in login.text


def test_changes_need_the_dashboards_origin_and_the_sessions_csrf_token(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claudegate.access")
    key = issue_key(live.base_url, "target")
    path = f"/dashboard/keys/{key['id']}/revoke"
    browser = Browser(live.base_url)
    assert browser.login().status_code == 303
    token = browser.csrf()
    missing = browser.post(path)
    wrong = browser.post(path, {"csrf_token": token[:-2] + "xx"})
    foreign = browser.post(path, {"csrf_token": token}, {"origin": "http://127.0.0.1:9"})
    opaque = browser.post(path, {"csrf_token": token}, {"origin": "null"})
    nowhere = browser.post(path, {"csrf_token": token}, {"origin": ""})
    forged_login = Browser(live.base_url).post(
        "/dashboard/login", {"admin_key": ADMIN}, {"origin": "http://evil.test"}
    )
    for refused in (missing, wrong, foreign, opaque, nowhere, forged_login):
        assert refused.status_code == 403, refused.text
    assert "CSRF token" in missing.text and "own page" in foreign.text
    assert "set-cookie" not in forged_login.headers
    assert call(live.base_url, key["key"]).status == 200  # still active
    by_referer = browser.post(
        path, {"csrf_token": token}, {"origin": "", "referer": live.base_url + "/dashboard/keys"}
    )
    assert by_referer.status_code == 303 and by_referer.headers["location"] == "/dashboard/keys"
    assert call(live.base_url, key["key"]).status == 401
    htmx = browser.post(  # the token in htmx's header instead of the form
        f"/dashboard/keys/{issue_key(live.base_url, 'other')['id']}/revoke",
        headers={"x-csrf-token": token, **HTMX},
    )
    assert htmx.status_code == 200 and 'id="notice"' in htmx.text and "revoked" in htmx.text
    no_admin_key_in(browser)
    logged = [
        orjson.loads(record.getMessage()) for record in caplog.records if record.name == "claudegate.access"
    ]
    dashboard = [(line["method"], line["status"]) for line in logged if line["route"] == "/dashboard"]
    assert dashboard.count(("POST", 403)) == 6 and ("POST", 303) in dashboard  # as answered
    assert ADMIN not in caplog.text


def test_pages_and_plots_show_the_traffic(live: Live) -> None:
    alpha, beta = issue_key(live.base_url, "alpha"), issue_key(live.base_url, "beta")
    for _ in range(3):
        assert call(live.base_url, alpha["key"]).status == 200
    assert call(live.base_url, beta["key"], {**ASK, "model": "claude-haiku-4-5"}).status == 200
    assert call(live.base_url, beta["key"], headers={"x-sim-fault": "400"}).status == 400
    browser = Browser(live.base_url)
    browser.login()
    by_key = browser.get("/dashboard/usage.json?window=hour&group_by=key").json()
    assert by_key["bucket"] == "minute" and len(by_key["times"]) == 60
    assert by_key["groups"] == ["alpha", "beta"]  # the busiest first
    assert by_key["totals"]["requests"] == 5 and by_key["totals"]["errors"] == 1
    assert by_key["totals"]["cost_usd"] > 0 and by_key["totals"]["output_tokens"] > 0
    assert [sum(series) for series in by_key["values"]["requests"]] == [3, 2]
    assert [sum(series) for series in by_key["values"]["errors"]] == [0, 1]
    p50 = [value for series in by_key["values"]["latency_ms_p50"] for value in series if value is not None]
    p95 = [value for series in by_key["values"]["latency_ms_p95"] for value in series if value is not None]
    assert p50 and p95 and all(value > 0 for value in p50 + p95)
    by_model = browser.get("/dashboard/usage.json?window=day&group_by=model").json()
    assert by_model["bucket"] == "hour" and len(by_model["times"]) == 24
    assert set(by_model["groups"]) == {"claude-sonnet-5", "claude-haiku-4-5"}
    by_deployment = browser.get("/dashboard/usage.json?window=week&group_by=deployment").json()
    assert by_deployment["bucket"] == "day" and by_deployment["groups"] == ["simulator/*#0"]
    bad = browser.get("/dashboard/usage.json?window=month&group_by=model")
    assert bad.status_code == 400 and "window" in bad.json()["error"]["message"]
    overview = browser.get("/dashboard?window=day&group_by=key")
    assert overview.status_code == 200 and 'data-window="day"' in overview.text
    assert re.search(r'data-total="requests">5<', overview.text)
    live_panel = browser.get("/dashboard/live", headers=HTMX)
    assert "simulator/*#0" in live_panel.text and 'id="live-streams">0<' in live_panel.text
    assert 'id="live-websockets">0<' in live_panel.text
    keys = browser.get("/dashboard/keys").text
    assert "alpha" in keys and "beta" in keys and alpha["key"] not in keys
    no_admin_key_in(browser)


async def test_the_live_panel_counts_open_streams_and_websocket_connections(live: Live) -> None:
    key = issue_key(live.base_url, "streamer")["key"]
    browser = Browser(live.base_url)
    browser.login()
    slow = {"x-api-key": key, "x-sim-latency": "ttft=30", **ANTHROPIC}
    connection, response = _wire.start(live.base_url, "POST", "/v1/messages", {**ASK, "stream": True}, slow)
    try:
        assert response.status == 200  # its headers are out: the stream is being answered
        async with connect(ws_url(live.base_url), additional_headers={"x-api-key": key}) as ws:
            await open_session(ws)
            panel = await asyncio.to_thread(browser.get, "/dashboard/live", HTMX)
    finally:
        connection.close()
    assert 'id="live-streams">1<' in panel.text and 'id="live-websockets">1<' in panel.text


def test_the_live_panel_shows_an_open_breaker_and_the_failure(tmp_path: Path) -> None:
    route = {
        "name": "*",
        "deployments": [{"provider": "simulator"}],
        "breaker": {"failure_threshold": 1, "open_duration": 60},
    }
    with serve({**keyed_config(str(tmp_path / "g.db")), "models": [route]}) as running:
        key = issue_key(running.base_url, "k")["key"]
        assert call(running.base_url, key, headers={"x-sim-fault": "529"}).status == 529
        browser = Browser(running.base_url)
        browser.login()
        panel = browser.get("/dashboard/live", HTMX).text
    assert 'class="state state-unhealthy">unhealthy<' in panel
    assert 'class="state breaker-open">open<' in panel and "529" in panel


def test_keys_are_issued_changed_and_revoked_through_the_page(live: Live) -> None:
    browser = Browser(live.base_url)
    browser.login()
    created = browser.change(
        "/dashboard/keys", {"name": "team-a", "requests_per_minute": "1", "cost_per_day": "5"}
    )
    assert created.status_code == 201
    secret = re.search(r'<output id="new-secret">(cg-[^<]+)</output>', created.text)
    assert secret is not None
    plaintext = secret.group(1)
    key_id = re.search(r'data-key-id="(key_[0-9a-f]+)"', created.text)
    assert key_id is not None
    assert plaintext not in browser.get("/dashboard/keys").text  # shown once
    assert call(live.base_url, plaintext).status == 200
    assert call(live.base_url, plaintext).status == 429  # one request a minute
    bad = browser.change(f"/dashboard/keys/{key_id.group(1)}/limits", {"requests_per_minute": "lots"})
    assert bad.status_code == 400 and "requests_per_minute" in bad.text
    saved = browser.change(f"/dashboard/keys/{key_id.group(1)}/limits", {"requests_per_minute": "100"})
    assert saved.status_code == 303
    assert call(live.base_url, plaintext).status == 200  # the new limit, at once
    page = browser.get("/dashboard/keys").text
    assert "100 req/min" in page and "$5.0000" not in page  # the budget was cleared (blank: uncapped)
    refused = browser.change("/dashboard/keys", {"name": "  "})
    assert refused.status_code == 400 and "name" in refused.text
    revoked = browser.change(f"/dashboard/keys/{key_id.group(1)}/revoke", headers=HTMX)
    assert (
        revoked.status_code == 200
        and f'data-key-id="{key_id.group(1)}" data-status="revoked"' in revoked.text
    )
    assert call(live.base_url, plaintext).status == 401
    unknown = browser.change("/dashboard/keys/key_missing/revoke")
    assert unknown.status_code == 404 and "no API key with id &#39;key_missing&#39;" in unknown.text
    by_htmx = browser.change("/dashboard/keys/key_missing/revoke", headers=HTMX)
    assert by_htmx.status_code == 404 and by_htmx.headers["hx-retarget"] == "main"  # shown in place
    assert by_htmx.text.lstrip().startswith('<section class="refused">')
    no_admin_key_in(browser)


def test_jobs_batches_and_dead_events_are_listed_and_acted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_event_tools, "DOWN", [True])
    events = {
        "tool_modules": ["tests.gateway._event_tools"],
        "pipelines": [
            {
                "name": "investigate",
                "on": "anomaly.detected",
                "model": "claude-haiku-4-5",
                "prompt": "Call lookup_account for account {{ payload.account }}",
                "tools": ["lookup_account"],
            }
        ],
    }
    config = keyed_config(str(tmp_path / "g.db"), jobs={"backoff": 0.01, "max_attempts": 1}, events=events)
    with serve(config) as live:
        key = issue_key(live.base_url, "worker")["key"]
        slow = {"x-api-key": key, "x-sim-latency": "ttft=60", **ANTHROPIC}
        job = _wire.call(live.base_url, "POST", "/v1/jobs", {"request": ASK}, slow).json()
        batch = _wire.call(
            live.base_url,
            "POST",
            "/v1/messages/batches",
            {"requests": [{"custom_id": "a", "params": ASK}]},
            slow,
        ).json()
        event = {"type": "anomaly.detected", "id": "a-1", "payload": {"account": "acme"}}
        assert _wire.call(live.base_url, "POST", "/v1/events", event, {"x-api-key": key}).status == 202
        dead = _wire.call(live.base_url, "GET", "/v1/events/a-1?wait=30", None, {"x-api-key": key}).json()
        assert dead["status"] == "dead"
        browser = Browser(live.base_url)
        browser.login()
        jobs = browser.get("/dashboard/jobs").text
        assert job["id"] in jobs and "worker (key_" in jobs
        canceled = browser.change(f"/dashboard/jobs/{job['id']}/cancel", headers=HTMX)
        assert canceled.status_code == 200 and f"Job {job['id']} canceled." in canceled.text
        state = _wire.call(live.base_url, "GET", f"/v1/jobs/{job['id']}", None, {"x-api-key": key}).json()
        assert state["status"] == "canceled"
        assert batch["id"] in browser.get("/dashboard/batches").text
        stopped = browser.change(f"/dashboard/batches/{batch['id']}/cancel")
        assert stopped.status_code == 303
        batches = browser.get("/dashboard/batches").text
        assert re.search(rf'id="batch-{batch["id"]}" data-state="(canceling|canceled)"', batches)
        runs = browser.get("/dashboard/events").text
        run_id = re.search(r'id="run-(job_[0-9a-f]+)" data-status="dead"', runs)
        assert run_id is not None and "lookup_account failed" in runs
        _event_tools.DOWN[0] = False
        replayed = browser.change(f"/dashboard/events/{run_id.group(1)}/replay", headers=HTMX)
        assert f"Run {run_id.group(1)} queued again." in replayed.text
        again = _wire.call(live.base_url, "GET", "/v1/events/a-1?wait=30", None, {"x-api-key": key}).json()
        assert again["status"] == "processed"
        assert "No dead-lettered run." in browser.get("/dashboard/events").text
        no_admin_key_in(browser)


def test_vendored_files_are_served_for_good_and_their_absence_is_explained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(keyed_config(str(tmp_path / "g.db"))) as live:
        browser = Browser(live.base_url)
        browser.login()
        page = browser.get("/dashboard").text
        urls = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page)
        assert {url.split("?")[0].rsplit("/", 1)[1] for url in urls} == {
            "dashboard.css",
            "uPlot.min.css",
            "htmx.min.js",
            "uPlot.iife.min.js",
            "dashboard.js",
        }
        for url in urls:
            reply = browser.get(url)
            assert reply.status_code == 200 and reply.content, url
            assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "?v=" in url and reply.headers["etag"] == f'"{url.split("?v=")[1]}"'
            assert browser.get(url, {"if-none-match": reply.headers["etag"]}).status_code == 304
        assert "htmx" in browser.get("/dashboard/static/vendor/VERSIONS").text
        assert browser.get("/dashboard/static/nothing.js").status_code == 404
    bare = tmp_path / "static"
    bare.mkdir()
    for name in ("dashboard.js", "dashboard.css"):
        (bare / name).write_bytes(b"/* own */")
    app = create_app(parse_config(keyed_config(str(tmp_path / "h.db"))))
    app.dashboard.assets.root = bare
    caplog.set_level(logging.WARNING, logger="claudegate.gateway")
    with LiveServer(app) as server:
        browser = Browser(server.base_url)
        browser.login()
        first, second = browser.get("/dashboard"), browser.get("/dashboard/keys")
        vendor = browser.get("/dashboard/static/vendor/htmx.min.js")
    for reply in (first, second):
        assert (
            reply.status_code == 200 and 'id="vendor-missing"' in reply.text and "make vendor" in reply.text
        )
    assert vendor.status_code == 404 and "make vendor" in vendor.text
    lines = [record for record in caplog.records if "front-end files are missing" in record.getMessage()]
    assert len(lines) == 1


def test_the_dashboard_is_off_without_an_admin_key(gateway: Live) -> None:
    browser = Browser(gateway.base_url)
    for reply in (browser.get("/dashboard"), browser.get("/dashboard/login"), browser.login("anything")):
        assert reply.status_code == 404 and "auth.admin_key" in reply.text


def test_sessions_end_after_idle_time_and_at_logout(tmp_path: Path) -> None:
    shift = [0.0]
    app = GatewayApp(parse_config(keyed_config(str(tmp_path / "g.db"))), clock=lambda: time.time() + shift[0])
    with LiveServer(app) as server:
        browser = Browser(server.base_url)
        browser.login()
        assert browser.get("/dashboard/keys").status_code == 200
        shift[0] += 3_601  # an hour without a request
        assert browser.get("/dashboard/keys").headers["location"] == "/dashboard/login"
        browser.login()
        cookie = browser.http.cookies.get("cg_dashboard")
        out = browser.change("/dashboard/logout")
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        stale = Browser(server.base_url)
        stale.http.cookies.set("cg_dashboard", cookie or "", path="/dashboard")
        assert stale.get("/dashboard").headers["location"] == "/dashboard/login"
        assert len(app.dashboard.sessions) == 0


def test_failed_logins_are_throttled_per_address(tmp_path: Path) -> None:
    shift = [0.0]
    app = GatewayApp(parse_config(keyed_config(str(tmp_path / "g.db"))), clock=lambda: time.time() + shift[0])
    with LiveServer(app) as server:
        browser = Browser(server.base_url)
        assert [browser.login("wrong").status_code for _ in range(10)] == [401] * 10
        throttled = browser.login()  # even the right key, until the window has slid
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        shift[0] += 301
        assert browser.login().status_code == 303
