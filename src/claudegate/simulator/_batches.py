"""Message batches, in memory: created ``in_progress``, ``ended`` once the configured delay has passed.

Request ``i`` of ``n`` is due at ``created + delay * (i + 1) / n``; as on the live API the
counts stay under ``processing`` until the whole batch ends. Cancelling moves the batch to
``canceling`` and ends it at once: requests due before the cancel keep their results, the rest are
``canceled``. Work is done when a batch is next looked at, which no client can tell apart from
work done in the background: only the requests due by then are run, ``CHUNK`` at a time with the
store's lock let go in between, so a look never holds up the others for long (the HTTP app makes
its looks from a worker thread). Invalid ``params`` end as ``errored`` results, and so does a
request the engine fails on (``api_error``).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from claudegate.errors import APIStatusError
from claudegate.simulator._errors import fail
from claudegate.simulator._json import dumps_lenient
from claudegate.simulator._paging import paginate

__all__ = ["BatchStore"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000
EXPIRY_SECONDS = 24 * 3600
CHUNK = 256
"""Requests run per hold of the store's lock."""
_logger = logging.getLogger("claudegate.simulator")


def rfc3339(moment: float | None) -> str | None:
    """A Unix time as the API writes times (``2026-01-02T03:04:05.678901Z``)."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class _Batch:
    id: str
    created: float
    requests: list[tuple[str, dict[str, Any]]]
    cancel_initiated: float | None = None
    ended: float | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: int = 0
    """Requests ``0 .. done - 1`` have run (their results are in ``results``)."""


class BatchStore:
    """All batches of one simulator, newest first."""

    def __init__(
        self,
        create: Callable[[Mapping[str, Any]], dict[str, Any]],
        *,
        delay: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._create = create
        self._delay = delay
        self._clock = clock
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.RLock()

    # -- processing ------------------------------------------------------------------------------

    def _run(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("stream") is True:
            error = {"type": "invalid_request_error", "message": "stream: batch requests cannot stream"}
            return {"type": "errored", "error": {"type": "error", "error": error}}
        try:
            return {"type": "succeeded", "message": self._create(params)}
        except APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") or {"type": exc.type or "api_error", "message": exc.message}
            return {"type": "errored", "error": {"type": "error", "error": error}}
        except Exception:
            # One request the engine fails on must not break the batch (nor every later look at it).
            _logger.exception("simulator failed on a batch request")
            error = {"type": "api_error", "message": "Internal server error"}
            return {"type": "errored", "error": {"type": "error", "error": error}}

    def _due(self, batch: _Batch, index: int) -> float:
        count = len(batch.requests)
        if index == count - 1:
            return batch.created + self._delay  # exactly: the batch ends when its delay has passed
        return batch.created + self._delay * (index + 1) / count

    def _settle(self, batch: _Batch) -> None:
        """Run the requests that are due, a chunk per hold of the lock; end the batch once all have."""
        while True:
            with self._lock:
                if batch.ended is not None:
                    return
                cutoff = batch.cancel_initiated if batch.cancel_initiated is not None else self._clock()
                count = len(batch.requests)
                start = stop = batch.done
                while stop < min(count, start + CHUNK) and self._due(batch, stop) <= cutoff:
                    custom_id, params = batch.requests[stop]
                    batch.results[custom_id] = self._run(params)
                    stop += 1
                batch.done = stop
                if stop == count:
                    batch.ended = min(cutoff, batch.created + self._delay)
                    return
                if stop < start + CHUNK:  # the next request is not due yet
                    if batch.cancel_initiated is not None:
                        for custom_id, _ in batch.requests[stop:]:
                            batch.results[custom_id] = {"type": "canceled"}
                        batch.ended = batch.cancel_initiated
                    return

    def _render(self, batch: _Batch, base_url: str) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.ended is None:
            counts["processing"] = len(batch.requests)
            status = "canceling" if batch.cancel_initiated is not None else "in_progress"
        else:
            for result in batch.results.values():
                counts[result["type"]] += 1
            status = "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": rfc3339(batch.ended),
            "created_at": rfc3339(batch.created),
            "expires_at": rfc3339(batch.created + EXPIRY_SECONDS),
            "archived_at": None,
            "cancel_initiated_at": rfc3339(batch.cancel_initiated),
            "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results"
            if batch.ended is not None
            else None,
        }

    def _get(self, batch_id: str) -> _Batch:
        """The batch, brought up to date (call without holding the lock, so settling can let it go)."""
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            fail(f"message_batch: {batch_id} not found", status=404, error_type="not_found_error")
        self._settle(batch)
        return batch

    # -- the API ---------------------------------------------------------------------------------

    def create(self, body: Any, base_url: str) -> dict[str, Any]:
        """``POST /v1/messages/batches``."""
        if not isinstance(body, Mapping) or "requests" not in body:
            fail("requests: Field required")
        requests = body["requests"]
        if not isinstance(requests, list) or not requests:
            fail("requests: List should have at least 1 item")
        if len(requests) > MAX_REQUESTS:
            fail(f"requests: List should have at most {MAX_REQUESTS} items")
        accepted: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(requests):
            if not isinstance(item, Mapping):
                fail(f"requests.{index}: Input should be a valid dictionary")
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                fail(f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if custom_id in seen:
                fail(f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}; each must be unique")
            if not isinstance(item.get("params"), Mapping):
                fail(f"requests.{index}.params: Field required")
            seen.add(custom_id)
            accepted.append((custom_id, dict(item["params"])))
        batch = _Batch(id="msgbatch_01" + secrets.token_hex(11), created=self._clock(), requests=accepted)
        with self._lock:
            self._batches[batch.id] = batch
            return self._render(batch, base_url)

    def retrieve(self, batch_id: str, base_url: str) -> dict[str, Any]:
        """``GET /v1/messages/batches/{id}``."""
        batch = self._get(batch_id)
        with self._lock:
            return self._render(batch, base_url)

    def list(
        self, *, after_id: str | None, before_id: str | None, limit: int, base_url: str
    ) -> dict[str, Any]:
        """``GET /v1/messages/batches``, newest first."""
        with self._lock:
            batches = list(reversed(self._batches.values()))
        for batch in batches:
            self._settle(batch)
        with self._lock:
            items = [self._render(batch, base_url) for batch in batches]
        return paginate(items, after_id=after_id, before_id=before_id, limit=limit)

    def cancel(self, batch_id: str, base_url: str) -> dict[str, Any]:
        """``POST /v1/messages/batches/{id}/cancel``: answers ``canceling``; the batch then ends."""
        batch = self._get(batch_id)
        with self._lock:
            if batch.ended is not None:
                return self._render(batch, base_url)
            batch.cancel_initiated = self._clock()
            answer = self._render(batch, base_url)
        self._settle(batch)
        return answer

    def delete(self, batch_id: str) -> dict[str, Any]:
        """``DELETE /v1/messages/batches/{id}``: only an ended batch can go."""
        batch = self._get(batch_id)
        with self._lock:
            if batch.ended is None:
                fail(f"message_batch {batch_id} is still processing; cancel it before deleting it")
            self._batches.pop(batch_id, None)
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        """``GET /v1/messages/batches/{id}/results``: one JSON line per request."""
        batch = self._get(batch_id)
        with self._lock:
            if batch.ended is None:
                fail(f"message_batch {batch_id} has not ended; results are available once it has")
            lines = [
                dumps_lenient({"custom_id": custom_id, "result": batch.results[custom_id]})
                for custom_id, _ in batch.requests
            ]
        return b"\n".join(lines) + b"\n"
