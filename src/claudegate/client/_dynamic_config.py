"""Client settings from a YAML or JSON file, reloaded when the file changes: base URL, timeout,
headers, and the reliability stages (retry, breaker, limiter, quota, failover endpoints).

The file's modification time (and size) is polled; a change is read, parsed and validated with
pydantic **before** anything is applied. An unreadable or invalid file keeps the settings in use
and is reported through ``last_error`` and the ``on_error`` callback; a valid one replaces them
and is announced to ``on_change``. Nothing polls unless ``start()`` is called (or ``check()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from claudegate.client._client import AsyncClient
from claudegate.client._pipeline import Reliability
from claudegate.client._reliability_settings import (
    BreakerSettings,
    FailoverSettings,
    LimiterSettings,
    QuotaSettings,
    RetrySettings,
)
from claudegate.client._retry import RetryPolicy
from claudegate.client._timeouts import Timeout
from claudegate.errors import UserError

__all__ = ["ClientSettings", "DynamicConfig"]

log = logging.getLogger("claudegate.client.config")
S = TypeVar("S", bound=BaseModel)


class ClientSettings(BaseModel):
    """The client settings a file may change at run time.

    >>> # client.yaml
    >>> # timeout: 30
    >>> # retry: {max_retries: 3, initial_delay: 0.2}
    >>> # breaker: {failure_threshold: 3, open_duration: 10}
    >>> # limiter: {requests_per_second: 5, max_wait: 2}
    >>> # quota: {limits: [{metric: cost, period: day, limit: 5.0}]}
    >>> # failover: {endpoints: [https://a.example, https://b.example], strategy: round_robin}

    Sections are described in ``_reliability_settings``; ``max_retries`` is a shorthand for
    ``retry: {max_retries: N}`` (give one or the other).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(default=None, pattern=r"^https?://")
    timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    default_headers: dict[str, str] = Field(default_factory=dict)
    retry: RetrySettings | None = None
    breaker: BreakerSettings | None = None
    limiter: LimiterSettings | None = None
    quota: QuotaSettings | None = None
    failover: FailoverSettings | None = None

    @model_validator(mode="after")
    def _one_retry(self) -> Self:
        if self.max_retries is not None and self.retry is not None:
            raise ValueError("give max_retries or retry, not both")
        return self

    def apply_to(self, client: AsyncClient) -> None:
        """Set these settings on ``client``; the next call uses them (unset fields leave the
        client's value alone). Stages change on ``client.reliability`` in place, so every client
        sharing that ``Reliability`` sees the change; a client without one gets a new one."""
        if self.base_url is not None:
            client.base_url = self.base_url.rstrip("/")
        if self.timeout is not None:
            client.timeout = Timeout.coerce(self.timeout)
        if self.max_retries is not None:
            client.retry = RetryPolicy(max_retries=self.max_retries)
        if self.retry is not None:
            client.retry = self.retry.policy()
        for name, value in self.default_headers.items():
            client._headers[name.lower()] = value
        if self.breaker is None and self.limiter is None and self.quota is None and self.failover is None:
            return
        reliability = client.reliability or Reliability()
        if self.breaker is not None:
            reliability.breaker = self.breaker.apply(reliability.breaker)
        if self.limiter is not None:
            reliability.limiter = self.limiter.apply(reliability.limiter)
        if self.quota is not None:
            reliability.quota = self.quota.apply(reliability.quota)
        if self.failover is not None:
            reliability.failover = self.failover.apply(reliability.failover)
        client.reliability = reliability


class DynamicConfig(Generic[S]):
    """Settings of type ``schema`` kept in step with a file.

    >>> config = DynamicConfig("client.yaml", on_change=lambda s: s.apply_to(client))
    >>> config.start(interval=2.0)        # poll in the background; ``await config.stop()``

    The constructor loads the file once and raises ``UserError`` if that first load fails.
    """

    def __init__(
        self,
        path: str | Path,
        schema: type[S] = ClientSettings,  # type: ignore[assignment]
        *,
        on_change: Callable[[S], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self._on_change = on_change
        self._on_error = on_error
        self.last_error: Exception | None = None
        self.version = 0
        self._stamp: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None
        try:
            self._stamp = self._file_stamp()
            self._current: S = self._load()
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load settings from {self.path}: {exc}", field="path") from exc
        self.version = 1
        if on_change is not None:
            on_change(self._current)

    @property
    def current(self) -> S:
        """The settings in use."""
        return self._current

    def _file_stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> S:
        text = self.path.read_bytes()
        data: Any
        if self.path.suffix.lower() == ".json":
            data = orjson.loads(text)
        else:
            data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError("the file must hold a mapping of settings")
        return self.schema.model_validate(data)

    def check(self) -> bool:
        """Reload if the file changed; True when new settings were applied."""
        try:
            stamp = self._file_stamp()
        except OSError as exc:
            self._report(exc)
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            loaded = self._load()
        except (OSError, ValueError, yaml.YAMLError, ValidationError) as exc:
            self._report(exc)
            return False
        self.last_error = None
        if loaded == self._current:
            return False
        self._current = loaded
        self.version += 1
        log.info("settings reloaded from %s (version %d)", self.path, self.version)
        if self._on_change is not None:
            self._on_change(loaded)
        return True

    def _report(self, exc: Exception) -> None:
        self.last_error = exc
        log.warning("settings in %s not applied, keeping the previous ones: %s", self.path, exc)
        if self._on_error is not None:
            self._on_error(exc)

    def start(self, interval: float = 2.0) -> None:
        """Poll the file every ``interval`` seconds on the running event loop."""
        if interval <= 0:
            raise UserError("interval must be > 0", field="interval")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll(interval))

    async def _poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.check()

    async def stop(self) -> None:
        """Stop polling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
