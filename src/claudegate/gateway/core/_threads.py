"""Message threads on every route: the gateway serves the ``thread`` field of Messages requests.

A route's deployment either holds threads itself (an Anthropic upstream, ``threads.anthropic:
passthrough``) or does not (OpenAI-compatible, Salesforce, the simulator provider):

- held upstream: the request goes untouched; the gateway notes which key owns the reply's ``id``
  and which deployment holds it, so that a ``continue`` reaches that deployment only, and only
  for that key;
- held by the gateway: ``thread`` is left out upstream; the gateway keeps ``system``, ``tools``
  and the whole conversation (its reply included) under a reply ``id`` it mints, and sends a
  ``continue`` upstream as the whole request it stands for.

Threads belong to the caller's key (another key's ``previous_message_id`` is "not found", whether
or not it exists), expire ``threads.ttl`` seconds after their last turn, and count their stored
bytes against ``threads.max_thread_bytes`` and ``threads.max_key_bytes``. Refusals carry the
``error.details.error_code`` the official SDK's thread helper acts on (see
``claudegate.translate.threads``). A turn is stored before the client reads its end (the
``message_stop`` event, or the JSON body), so the client's next ``continue`` finds it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from claudegate.gateway._config import GatewayConfig, ThreadsConfig
from claudegate.gateway.core._attempts import Upstream
from claudegate.gateway.core._call import Call
from claudegate.gateway.core._errors import GatewayError
from claudegate.gateway.core._router import Deployment, Route
from claudegate.providers import ProviderRequest, ProviderResponse
from claudegate.sse import MessageAccumulator
from claudegate.translate.threads import (
    THREADS_BETA,
    ThreadError,
    ThreadParam,
    changed_create_only_fields,
    expand_continue,
    read_thread,
    reply_turn,
    without_thread,
)

if TYPE_CHECKING:
    from claudegate.store import Database, StoredThread, ThreadEntry, ThreadStore

__all__ = ["ThreadTurn", "Threads", "thread_unsupported"]

log = logging.getLogger("claudegate.gateway")

_ID_ALPHABET = string.ascii_letters + string.digits
_IN_MEMORY = "sqlite+aiosqlite://"


def _refusal(error: ThreadError) -> GatewayError:
    return GatewayError(error.status, error.error_type, error.message, upstream=error.error_object())


def thread_unsupported(message: str) -> GatewayError:
    """The 400 ``thread_unsupported_request`` (the SDK's tool runner then goes on without a thread)."""
    return _refusal(ThreadError("thread_unsupported_request", message))


def _size(value: Any) -> int:
    return len(orjson.dumps(value)) if value is not None else 0


def new_message_id() -> str:
    """A fresh reply id in the API's style (``msg_01`` and 22 letters and digits)."""
    return "msg_01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def _without_threads_beta(headers: dict[str, str]) -> dict[str, str]:
    betas = headers.get("anthropic-beta")
    if betas is None or THREADS_BETA not in betas:
        return headers
    kept = ",".join(beta.strip() for beta in betas.split(",") if beta.strip() != THREADS_BETA)
    rest = {name: value for name, value in headers.items() if name != "anthropic-beta"}
    return {**rest, "anthropic-beta": kept} if kept else rest


class Threads:
    """The threads of one gateway: where they are stored, and each threaded call's ``ThreadTurn``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._store: ThreadStore | None = None
        self._shared: Database | None = None
        self._own: Database | None = None
        self._opening = asyncio.Lock()
        self._purged_at: float | None = None

    def share(self, database: Database | None) -> None:
        """Keep threads in ``database`` (the keys' and ledger's), unless ``threads.database_url`` is set."""
        self._shared = database

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None
        self._store = None

    async def _open(self, config: GatewayConfig) -> ThreadStore:
        async with self._opening:
            if self._store is None:
                from claudegate.store import Database, ThreadStore

                url = config.threads.database_url
                database = self._shared
                if url is not None or database is None:
                    storage = config.storage
                    prefix = storage.table_prefix if storage is not None else "cg_"
                    database = self._own = await Database.connect(url or _IN_MEMORY, table_prefix=prefix)
                self._store = ThreadStore(database, clock=self._clock)
            return self._store

    async def begin(self, call: Call, route: Route, config: GatewayConfig) -> ThreadTurn | None:
        """The call's thread turn, or None when the request has no ``thread``; refusals raise."""
        param = read_thread(call.request)
        if param is None:
            return None
        settings = config.threads
        if not settings.enabled:
            raise thread_unsupported(
                "thread: message threads are turned off on this gateway; send the whole conversation "
                "without `thread`"
            )
        store = self._store or await self._open(config)
        await self._purge(store, settings)
        turn = ThreadTurn(store, settings, call, param, route)
        lease = (config.gateway.timeouts.total or 600.0) + 60.0
        await turn.prepare(lease)
        return turn

    async def _purge(self, store: ThreadStore, settings: ThreadsConfig) -> None:
        now = self._clock()
        if self._purged_at is not None and now - self._purged_at < min(60.0, settings.ttl):
            return
        self._purged_at = now
        try:
            await store.purge()
        except Exception:
            log.exception("deleting expired threads failed")


class ThreadTurn:
    """One threaded call: which deployments get the request as it came, what the others get, and
    storing the reply."""

    def __init__(
        self, store: ThreadStore, settings: ThreadsConfig, call: Call, param: ThreadParam, route: Route
    ) -> None:
        self._store = store
        self._settings = settings
        self._call = call
        self._param = param
        self.route = route
        """The route to call: a continued upstream-held thread's one deployment."""
        self._thread: StoredThread | None = None
        self._size = 0
        self._deployment: Deployment | None = None
        self._accumulator: MessageAccumulator | None = None
        self._message_id: str | None = None
        self._settled = False

    @property
    def _owner(self) -> str:
        return self._call.principal.owner

    async def prepare(self, lease: float) -> None:
        """Claim the thread a ``continue`` names and check what the turn would store."""
        request, param = self._call.request, self._param
        new = request.get("messages") or []
        if param.kind == "create":
            self._size = _size(request.get("system")) + _size(request.get("tools")) + _size(new)
            await self._check_room(self._size)
            return
        assert param.previous_message_id is not None
        claimed = await self._store.claim(self._owner, param.previous_message_id, lease=lease)
        if isinstance(claimed, str):
            raise _refusal(
                ThreadError.already_continued(param.previous_message_id)
                if claimed == "already_continued"
                else ThreadError.in_flight(param.previous_message_id)
                if claimed == "in_flight"
                else ThreadError.not_found(param.previous_message_id)
            )
        self._thread = claimed
        try:
            if claimed.deployment is not None:
                pinned = [d for d in self.route.deployments if d.name == claimed.deployment]
                if not pinned or self._settings.anthropic != "passthrough":
                    raise _refusal(ThreadError.not_found(param.previous_message_id))
                self.route = replace(self.route, deployments=pinned)
                return
            changed = changed_create_only_fields(request, claimed.system, claimed.tools)
            if changed:
                raise _refusal(ThreadError.fingerprint_mismatch(changed))
            self._size = claimed.size + _size(new)
            await self._check_room(self._size - claimed.size)
        except BaseException:
            await asyncio.shield(self._store.release(claimed))
            self._settled = True
            raise

    async def _check_room(self, added: int) -> None:
        limit = self._settings.max_thread_bytes
        if limit is not None and self._size > limit:
            raise thread_unsupported(
                f"thread: this thread would hold {self._size} bytes, more than the gateway's "
                f"threads.max_thread_bytes ({limit}); send the whole conversation without `thread`"
            )
        limit = self._settings.max_key_bytes
        if limit is not None:
            held = await self._store.owner_size(self._owner)
            if held + added > limit:
                raise thread_unsupported(
                    f"thread: the threads of this API key would hold {held + added} bytes, more than the "
                    f"gateway's threads.max_key_bytes ({limit}); send the whole conversation without "
                    "`thread`, or wait for older threads to expire"
                )

    def _held_upstream(self, deployment: Deployment) -> bool:
        """Whether ``deployment`` keeps this thread itself (the request goes as it came)."""
        if not deployment.native or self._settings.anthropic != "passthrough":
            return False
        return self._thread is None or self._thread.deployment is not None

    @property
    def held_upstream(self) -> bool:
        """Whether the answering deployment keeps the thread (known once it answered)."""
        return self._deployment is not None and self._held_upstream(self._deployment)

    def upstream(self, inner: Upstream[Any]) -> Upstream[Any]:
        """``inner`` with each attempt's request made stateless for a deployment without threads."""

        async def attempt(deployment: Deployment, request: ProviderRequest) -> Any:
            self._deployment = deployment
            if not self._held_upstream(deployment):
                request.body = self._stateless(request.body)
                request.raw = None
                request.headers = _without_threads_beta(request.headers)
            return await inner(deployment, request)

        return attempt

    def _stateless(self, body: dict[str, Any]) -> dict[str, Any]:
        thread = self._thread
        if thread is None:
            return without_thread(body)
        return expand_continue(body, system=thread.system, tools=thread.tools, history=thread.messages)

    async def answered(self, response: ProviderResponse) -> ProviderResponse:
        """A whole answer, stored; a gateway-held thread's reply gets its minted ``id``."""
        message = response.message
        if self.held_upstream:
            await self._store_turn(message.get("id"), None)
            return response
        message = {**message, "id": new_message_id()}
        await self._store_turn(message["id"], message)
        return ProviderResponse(message=message, headers=response.headers, status_code=response.status_code)

    def observe(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A batch of a gateway-held thread's stream: ``message_start`` with the minted ``id``, and
        every event accumulated into the reply to store."""
        out = batch
        for position, event in enumerate(batch):
            if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
                self._message_id = new_message_id()
                self._accumulator = MessageAccumulator()
                event = {**event, "message": {**event["message"], "id": self._message_id}}
                out = [*out[:position], event, *out[position + 1 :]]
            if self._accumulator is not None:
                try:
                    self._accumulator.feed(event)
                except Exception:  # a stream that cannot be stored is still the client's answer
                    self._accumulator = None
        return out

    async def streamed(self, message_id: str | None) -> None:
        """The stream reached ``message_stop``: store the turn (before the client reads that event)."""
        if self.held_upstream:
            await self._store_turn(message_id, None)
        elif self._accumulator is not None and self._accumulator.done:
            await self._store_turn(self._message_id, self._accumulator.message)

    async def close(self) -> None:
        """Give back the claim of a turn that was not stored (it failed or was cut short)."""
        if not self._settled:
            self._settled = True
            await self._release()

    async def _release(self) -> None:
        if self._thread is not None:
            try:
                await self._store.release(self._thread)
            except Exception:
                log.exception("releasing a thread of request %s failed", self._call.request_id)

    async def _store_turn(self, message_id: Any, message: dict[str, Any] | None) -> None:
        if self._settled or not isinstance(message_id, str) or not message_id:
            await self.close()
            return
        self._settled = True
        try:
            await self._save(message_id, message)
        except Exception:
            # The answer stands; the client's next continue finds no thread and replays.
            log.exception("storing the thread turn of request %s failed", self._call.request_id)
            await self._release()

    async def _save(self, message_id: str, message: dict[str, Any] | None) -> None:
        from claudegate.store import ThreadEntry

        request, thread, ttl = self._call.request, self._thread, self._settings.ttl
        entries: list[ThreadEntry]
        if message is None:  # the upstream holds the conversation
            entries, size = [ThreadEntry(None, message_id)], 0
        else:
            reply = reply_turn(message)
            entries = [ThreadEntry(m) for m in request.get("messages") or ()]
            entries.append(ThreadEntry(reply, message_id))
            size = self._size + _size(reply)
        if thread is None:
            deployment = self._deployment.name if message is None and self._deployment else None
            system = request.get("system") if message is not None else None
            tools = request.get("tools") if message is not None else None
            await self._store.create(
                self._owner,
                message_id,
                deployment=deployment,
                system=system,
                tools=tools,
                entries=entries,
                size=size,
                ttl=ttl,
            )
        elif not await self._store.advance(thread, message_id, entries, size=size, ttl=ttl):
            log.warning(
                "thread of request %s moved on while it ran; its turn is not stored", self._call.request_id
            )
