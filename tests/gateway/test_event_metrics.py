"""``/metrics`` of event pipelines by pipeline and priority: runs queued in the store are read when
``/metrics`` is scraped (and read 0 once they are gone); the other series (accepted, running,
ends by outcome, the queue-wait histogram) are in ``test_events.py``."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from claudegate.gateway import GatewayApp, parse_config
from claudegate.gateway.core import Principal
from claudegate.gateway.events import Event
from claudegate.store import Database
from tests.gateway.conftest import simulator_route
from tests.gateway.test_jobs_crash import postgres  # noqa: F401  (the fixture)


async def scrape(app: GatewayApp) -> set[str]:
    """``GET /metrics`` through the app in-process."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    return set(b"".join(m.get("body", b"") for m in sent[1:]).decode().splitlines())


async def test_queued_runs_are_counted_from_the_store_when_scraped(tmp_path: Path) -> None:
    await queued_runs_are_counted({"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}, "embedded")


async def test_queued_runs_are_counted_on_postgresql(
    postgres: tuple[dict[str, Any], Database],  # noqa: F811  (the fixture imported above)
) -> None:
    await queued_runs_are_counted(postgres[0], "pgqueuer")


async def queued_runs_are_counted(storage: dict[str, Any], backend: str) -> None:
    pipeline = {"model": "claude-haiku-4-5", "prompt": "{{ id }}", "max_tokens": 20}
    config = {
        "models": [simulator_route()],
        "storage": storage,
        "jobs": {"enabled": True, "backend": backend},
        "events": {
            "pipelines": [
                {"name": "clicks", "on": "click.*", "priority": "low", **pipeline},
                {"name": "alerts", "on": "alert.*", "priority": "high", **pipeline},
            ]
        },
    }
    app = GatewayApp(parse_config(config))
    await app.startup()
    try:
        engine = await app.jobs.engine()
        dispatcher = engine.dispatcher
        assert dispatcher is not None
        await dispatcher.close()  # nothing is claimed: what is published stays queued
        events = [Event("click.made", f"c-{n}") for n in range(3)]
        events += [Event("alert.raised", "a-1"), Event("click.made", "c-h", priority="high")]
        await app.events.publish(Principal(), events)
        queued = await scrape(app)
        for event in events:
            view = await app.events.get("anonymous", event.id)
            assert view is not None
            await engine.cancel(view["runs"][0]["run_id"])
        emptied = await scrape(app)
    finally:
        await app.shutdown()
    assert 'claudegate_event_runs_queued{pipeline="clicks",priority="low"} 3.0' in queued
    assert 'claudegate_event_runs_queued{pipeline="clicks",priority="high"} 1.0' in queued
    assert 'claudegate_event_runs_queued{pipeline="alerts",priority="high"} 1.0' in queued
    assert 'claudegate_event_runs_queued{pipeline="clicks",priority="low"} 0.0' in emptied
    assert 'claudegate_event_runs_queued{pipeline="alerts",priority="high"} 0.0' in emptied
