"""The gateway's job engine, opened when it is needed.

It uses the gateway's store (``storage``, or the key database of ``auth``) and, without one, the
default SQLite file. With ``jobs.enabled`` unset it starts at startup only when unfinished jobs
wait in the store (a restart after a crash), else on the first ``/v1/jobs`` request; ``true``
starts it at startup (replicas that should share the work from the first job), ``false`` turns
``/v1/jobs`` off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from claudegate.gateway._config import StorageConfig
from claudegate.gateway.core import GatewayCore, GatewayError

if TYPE_CHECKING:
    from claudegate.gateway.jobs._engine import JobEngine
    from claudegate.store import Database

__all__ = ["JobService"]


class JobService:
    """Opens, hands out and closes the ``JobEngine`` of one gateway (see the module docstring)."""

    def __init__(self, core: GatewayCore, clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.clock = clock
        self._engine: JobEngine | None = None
        self._own: Database | None = None
        self._lock = asyncio.Lock()
        self.on_open: list[Callable[[JobEngine], None]] = []
        """Called with the engine once it is open (before it takes work): wiring such as webhooks."""

    @property
    def engine_if_open(self) -> JobEngine | None:
        return self._engine

    async def start(self) -> None:
        """At startup: open the engine when configured to, or when unfinished jobs wait."""
        enabled = self.core.config.jobs.enabled
        if enabled is False:
            return
        if enabled or await self._pending():
            await self.engine()

    async def _pending(self) -> bool:
        policies = self.core.policies
        database = policies.database if policies is not None else None
        if database is None:
            return False  # the default file is opened on first use (its jobs then resume)
        table = database.tables.jobs
        query = select(table.c.id).where(table.c.status.in_(("queued", "running"))).limit(1)
        async with database.engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def engine(self) -> JobEngine:
        """The running engine (opened on first use); a 404 when jobs are off."""
        engine = self._engine
        if engine is not None:
            return engine
        if self.core.config.jobs.enabled is False:
            raise GatewayError(404, "not_found_error", "jobs are turned off on this gateway (jobs.enabled)")
        async with self._lock:
            if self._engine is None:
                self._engine = await self._open()
            return self._engine

    async def _open(self) -> JobEngine:
        from claudegate.gateway.jobs._embedded import EmbeddedDispatcher
        from claudegate.gateway.jobs._engine import Dispatcher, JobEngine
        from claudegate.store import Database

        config = self.core.config
        policies = self.core.policies
        database = policies.database if policies is not None else None
        storage = config.storage or StorageConfig()
        if database is None:
            database = self._own = await Database.connect(
                storage.database_url, table_prefix=storage.table_prefix
            )
        engine = JobEngine(self.core, database, config.jobs, clock=self.clock)
        engine.deliveries.sender = self.core.webhooks
        backend = config.jobs.backend
        if backend == "auto":
            backend = "pgqueuer" if database.dialect == "postgresql" else "embedded"
        dispatcher: Dispatcher
        if backend == "pgqueuer":
            if database.dialect != "postgresql":
                raise GatewayError(
                    500, "api_error", "jobs.backend pgqueuer needs a PostgreSQL storage.database_url"
                )
            from claudegate.gateway.jobs._pgqueue import PgQueueDispatcher

            dispatcher = PgQueueDispatcher(engine, storage.database_url, storage.table_prefix)
        else:
            dispatcher = EmbeddedDispatcher(engine)
        for hook in self.on_open:
            hook(engine)
        await engine.start(dispatcher)
        return engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
        if self._own is not None:
            await self._own.close()
            self._own = None
