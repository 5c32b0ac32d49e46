"""The dashboard's pages that act: keys (issue, change limits and budget, revoke), jobs (cancel),
batches (cancel) and dead-lettered event runs (replay).

Each change goes through the same code as its API: ``KeyAdmin`` for keys (as ``/admin/keys``), the
job engine, the batch service and the event bus. An htmx request gets the page's section back,
redrawn with a notice; a plain form post is redirected to the page (a new key's secret, shown
once, is the exception: its page is answered at once, never stored).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from claudegate.gateway.batches import Batch, BatchService
from claudegate.gateway.core import GatewayError, KeyAdmin
from claudegate.gateway.events import EventBus, dead_view
from claudegate.gateway.jobs import GroupCounts, JobService, job_json
from claudegate.gateway.surfaces.dashboard._forms import key_budget, key_limits, model_names
from claudegate.gateway.surfaces.dashboard._render import Pages
from claudegate.gateway.surfaces.dashboard._visit import Action, Visit

__all__ = ["AdminPages"]

PREFIX = "/dashboard"
_LIMIT = 50


async def owner_names(visit: Visit, owners: Iterable[str | None]) -> dict[str, str]:
    """Key ids as ``name (key_…)``; anything else (a JWT subject, ``anonymous``) as it is."""
    keys = visit.policies.keys
    ids = [owner for owner in owners if owner and owner.startswith("key_")]
    found = await keys.get_many(ids) if keys is not None and ids else {}
    return {key_id: f"{key.name} ({key_id})" for key_id, key in found.items()}


def problem(error: Any) -> str | None:
    """An error envelope (Anthropic's or OpenAI's) or error object as its message."""
    if isinstance(error, dict):
        inner = error.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("type") or inner)
        return str(error.get("message") or error.get("type") or error)
    return None if error is None else str(error)


def batch_state(batch: Batch) -> str:
    """in progress | canceling | ended | canceled | expired."""
    if batch.ended_at is None:
        return "canceling" if batch.cancel_initiated_at is not None else "in progress"
    if batch.expired_at is not None:
        return "expired"
    return "canceled" if batch.cancel_initiated_at is not None else "ended"


class AdminPages:
    """Keys, jobs, batches and dead events for one gateway's dashboard."""

    def __init__(self, pages: Pages, jobs: JobService, batches: BatchService, events: EventBus) -> None:
        self._pages = pages
        self._jobs = jobs
        self._batches = batches
        self._events = events
        self.pages: dict[str, Action] = {
            PREFIX + "/keys": self.keys,
            PREFIX + "/jobs": self.jobs,
            PREFIX + "/batches": self.batches,
            PREFIX + "/events": self.events,
        }
        """The pages (``GET``), by path."""

    def action(self, path: str) -> Action | None:
        """The change a ``POST`` to ``path`` makes (None: no such action)."""
        if path == PREFIX + "/keys":
            return self.create_key
        parts = path[len(PREFIX) + 1 :].split("/")
        if len(parts) != 3 or not parts[1]:
            return None
        kind, name, verb = parts
        actions = {
            ("keys", "revoke"): self.revoke_key,
            ("keys", "limits"): self.change_key,
            ("jobs", "cancel"): self.cancel_job,
            ("batches", "cancel"): self.cancel_batch,
            ("events", "replay"): self.replay_run,
        }
        found = actions.get((kind, verb))
        if found is None:
            return None
        act = found

        async def bound(visit: Visit) -> None:
            await act(visit, name)

        return bound

    async def _answer(self, visit: Visit, page: str, status: int = 200, **context: Any) -> None:
        """The page (``GET``, or a plain form post answered in place) or, for htmx, its section."""
        template = f"_{page}.html" if visit.htmx else f"{page}.html"
        await self._pages.send(
            visit.exchange,
            template,
            200 if visit.htmx else status,
            title=page.capitalize(),
            section=page,
            csrf=visit.session.csrf,
            **context,
        )

    async def _after(self, visit: Visit, page: str, notice: str, view: Any) -> None:
        """After a change: htmx gets the section redrawn with ``notice``; a form post a redirect."""
        if visit.htmx:
            await self._answer(visit, page, **await view(visit), notice=notice, error=None)
        else:
            await self._pages.redirect(visit.exchange, f"{PREFIX}/{page}")

    # -- keys ------------------------------------------------------------------------------------

    async def _keys_view(self, visit: Visit) -> dict[str, Any]:
        return {"standings": await KeyAdmin(visit.policies).standings(), "created": None}

    async def keys(self, visit: Visit) -> None:
        await self._answer(visit, "keys", **await self._keys_view(visit), notice=None, error=None)

    async def create_key(self, visit: Visit) -> None:
        form = visit.form
        try:
            created = await KeyAdmin(visit.policies).create(
                form.get("name", "").strip(),
                allowed_models=model_names(form),
                limits=key_limits(form),
                budget=key_budget(form),
            )
        except GatewayError as error:
            view = await self._keys_view(visit)
            await self._answer(visit, "keys", error.status, **view, notice=None, error=error.message)
            return
        view = {**await self._keys_view(visit), "created": created}
        notice = f"Key {created.key.name!r} issued: copy its secret now, it is not shown again."
        await self._answer(visit, "keys", 201, **view, notice=notice, error=None)

    async def revoke_key(self, visit: Visit, key_id: str) -> None:
        key = await KeyAdmin(visit.policies).revoke(key_id)
        await self._after(visit, "keys", f"Key {key.name!r} ({key.id}) revoked.", self._keys_view)

    async def change_key(self, visit: Visit, key_id: str) -> None:
        keys = KeyAdmin(visit.policies)
        try:
            limits, budget = key_limits(visit.form), key_budget(visit.form)
            key = await keys.update(key_id, limits=limits, budget=budget)
        except GatewayError as error:
            if error.status != 400:
                raise
            view = await self._keys_view(visit)
            await self._answer(visit, "keys", 400, **view, notice=None, error=error.message)
            return
        await self._after(visit, "keys", f"Limits and budget of {key.name!r} saved.", self._keys_view)

    # -- jobs, batches, dead events --------------------------------------------------------------

    async def _jobs_view(self, visit: Visit) -> dict[str, Any]:
        try:
            engine = await self._jobs.engine()
        except GatewayError as error:  # jobs turned off (jobs.enabled)
            return {"jobs": [], "off": error.message, "owners": {}}
        found = await engine.recent(_LIMIT)
        views = [
            {
                **job_json(job),
                "owner": job.owner,
                "cost": job.cost,
                "problem": problem(job_json(job).get("error")),
            }
            for job in found
        ]
        return {"jobs": views, "off": None, "owners": await owner_names(visit, [job.owner for job in found])}

    async def jobs(self, visit: Visit) -> None:
        await self._answer(visit, "jobs", **await self._jobs_view(visit), notice=None)

    async def cancel_job(self, visit: Visit, job_id: str) -> None:
        engine = await self._jobs.engine()
        job = await engine.get(job_id)
        if job is None or job.group_id is not None:
            raise GatewayError(404, "not_found_error", f"no job {job_id!r}")
        notice = f"Job {job_id} has already ended ({job.status})."
        if not job.done:
            job = await engine.cancel(job_id) or job
            notice = f"Job {job_id} canceled."
        await self._after(visit, "jobs", notice, self._jobs_view)

    async def _batches_view(self, visit: Visit) -> dict[str, Any]:
        try:
            found = await self._batches.recent(_LIMIT)
        except GatewayError as error:
            return {"batches": [], "off": error.message, "owners": {}}
        views = [_batch_view(batch, counts) for batch, counts in found]
        owners = await owner_names(visit, [batch.owner for batch, _ in found])
        return {"batches": views, "off": None, "owners": owners}

    async def batches(self, visit: Visit) -> None:
        await self._answer(visit, "batches", **await self._batches_view(visit), notice=None)

    async def cancel_batch(self, visit: Visit, batch_id: str) -> None:
        batch, _ = await self._batches.cancel_any(batch_id)
        notice = f"Batch {batch_id}: {batch_state(batch)}."
        await self._after(visit, "batches", notice, self._batches_view)

    async def _events_view(self, visit: Visit) -> dict[str, Any]:
        try:
            found = await self._events.dead_runs(_LIMIT)
        except GatewayError as error:
            return {"runs": [], "off": error.message, "owners": {}}
        views = [{**view, "problem": problem(view.get("error"))} for view in map(dead_view, found)]
        return {"runs": views, "off": None, "owners": await owner_names(visit, [v["key"] for v in views])}

    async def events(self, visit: Visit) -> None:
        await self._answer(visit, "events", **await self._events_view(visit), notice=None)

    async def replay_run(self, visit: Visit, run_id: str) -> None:
        queued = await self._events.replay_run(run_id)
        notice = f"Run {run_id} queued again." if queued else f"Run {run_id} is not dead: nothing to replay."
        await self._after(visit, "events", notice, self._events_view)


def _batch_view(batch: Batch, counts: GroupCounts) -> dict[str, Any]:
    return {
        "id": batch.id,
        "api": batch.api,
        "owner": batch.owner,
        "state": batch_state(batch),
        "created_at": batch.created_at,
        "ended_at": batch.ended_at,
        "requests": batch.request_count,
        "counts": counts,
        "upstream": "upstream" in batch.details,
    }
