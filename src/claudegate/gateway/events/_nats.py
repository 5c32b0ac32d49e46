"""Events from NATS JetStream: a durable pull consumer whose messages become events of the bus.

Each fetched batch is published to the bus (one transaction, as a ``POST /v1/events`` list) and
only then acknowledged: a message whose event is not durably accepted (the store was down, the
gateway was killed) is delivered again, and its event id makes the second delivery a duplicate,
not a second run. A message's JSON is an event (``type`` defaults to the message's subject; ``id``
to its ``Nats-Msg-Id`` header, else ``<stream>-<sequence>``); a message that can never be an event
(not JSON, a bad field, refused by a pipeline's template) is terminated with a warning.

With ``emit_prefix``, result events go the other way (``emit``): each from the outbox its run's end
wrote (``_outbox.py``), published at once by the process that ended the run, and again by the
sweep here (at start, then every ``_SWEEP`` seconds) when that did not happen.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson

from claudegate.gateway._config import NatsIngressConfig
from claudegate.gateway.core import GatewayError, Principal
from claudegate.gateway.events._model import Event, events_of
from claudegate.gateway.jobs._model import principal_from_record

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from claudegate.gateway.events._bus import EventBus

__all__ = ["NatsIngress"]

log = logging.getLogger("claudegate.gateway")

_SWEEP = 5.0
"""Seconds between looks at the outbox for result events left unpublished."""


def _event(message: Msg) -> Event:
    body = orjson.loads(message.data)
    if not isinstance(body, dict) or "events" in body:
        raise GatewayError(400, "invalid_request_error", "a message is one event object")
    body.setdefault("type", message.subject)
    if "id" not in body:
        header = (message.headers or {}).get("Nats-Msg-Id")
        body["id"] = header or f"{message.metadata.stream}-{message.metadata.sequence.stream}"
    (event,) = events_of(body)
    return event


class NatsIngress:
    """Consumes ``events.nats`` into ``bus`` (started and closed with the gateway)."""

    def __init__(self, bus: EventBus, config: NatsIngressConfig) -> None:
        self.bus = bus
        self.config = config
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None

    async def _principal(self) -> Principal:
        """Who the events run as: ``key``, else nobody in particular — a 401 once the gateway
        enforces keys (the messages then wait, unacknowledged, for a key to be configured)."""
        core = self.bus.core
        if self.config.key is None:
            return await core.principal(None)
        policies = core.policies
        return await principal_from_record(
            {"key": self.config.key}, policies.keys if policies is not None else None
        )

    async def start(self) -> None:
        import nats
        from nats.js.api import ConsumerConfig

        self._client = await nats.connect(self.config.url, connect_timeout=5, max_reconnect_attempts=-1)
        stream = self._client.jetstream()
        subscription = await stream.pull_subscribe(
            self.config.subject,
            durable=self.config.durable,
            stream=self.config.stream,
            config=ConsumerConfig(ack_wait=self.config.ack_wait),
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._consume(subscription))]
        if self.bus.outbox is not None:
            self._tasks.append(loop.create_task(self._sweep()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _consume(self, subscription: Any) -> None:
        import nats.errors

        while True:
            try:
                messages = await subscription.fetch(self.config.batch, timeout=1)
            except nats.errors.TimeoutError:
                continue
            except Exception as exc:
                log.warning("fetching events from NATS failed: %s", type(exc).__name__)
                await asyncio.sleep(1)  # the connection reconnects meanwhile
                continue
            try:
                principal = await self._principal()
            except GatewayError as exc:
                log.warning("events from NATS wait (delivered again later): %s", exc.message)
                continue
            await self._take(messages, principal)

    async def _take(self, messages: list[Msg], principal: Principal) -> None:
        good: list[tuple[Msg, Event]] = []
        for message in messages:
            try:
                good.append((message, _event(message)))
            except (GatewayError, orjson.JSONDecodeError, ValueError) as exc:
                log.warning("a NATS message is not an event (terminated): %s", getattr(exc, "message", exc))
                await message.term()
        unique: dict[str, Event] = {}
        for _, event in good:
            unique.setdefault(event.id, event)
        try:
            await self.bus.publish(principal, list(unique.values()))
        except GatewayError as exc:
            if len(unique) > 1 and exc.status == 400:  # one event refused: the others one by one
                for message, event in good:
                    await self._take_one(message, event, principal)
                return
            log.warning("accepting events from NATS failed (redelivered later): %s", exc.message)
            return
        except Exception as exc:
            log.warning("accepting events from NATS failed (redelivered later): %s", type(exc).__name__)
            return
        for message, event in good:
            await self._ack(message, event.id)

    async def _take_one(self, message: Msg, event: Event, principal: Principal) -> None:
        try:
            await self.bus.publish(principal, [event])
        except GatewayError as exc:
            if exc.status == 400:
                log.warning("a NATS event was refused (terminated): %s", exc.message)
                await message.term()
            return
        await self._ack(message, event.id)

    async def _sweep(self) -> None:
        """Publish the result events left in the outbox: at start all of them, then every
        ``_SWEEP`` seconds those older than that (the newer ones are on their way)."""
        outbox = self.bus.outbox
        assert outbox is not None
        before: float | None = None
        while True:
            try:
                await outbox.sweep(before)
            except Exception as exc:
                log.warning("publishing result events to NATS failed (tried again): %s", type(exc).__name__)
            await asyncio.sleep(_SWEEP)
            before = outbox.clock() - _SWEEP

    async def emit(self, result: dict[str, Any]) -> None:
        """Publish a result event to ``<emit_prefix>.<its type>``, acknowledged by JetStream."""
        prefix = self.config.emit_prefix
        if prefix is None or self._client is None:
            raise RuntimeError("result events are not published to NATS here")
        subject = f"{prefix}.{result.get('type')}"
        await self._client.jetstream().publish(
            subject, orjson.dumps(result), headers={"Nats-Msg-Id": str(result.get("id"))}
        )

    async def _ack(self, message: Msg, event_id: str) -> None:
        """Acknowledge a message whose event ``event_id`` is durably accepted."""
        await message.ack()
