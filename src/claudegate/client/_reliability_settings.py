"""Reliability settings a file may change at run time: retry policy, circuit breaker, rate
limiter, usage quota and failover endpoints.

Each section is validated as a whole by pydantic before anything is applied, with the same rules
the objects themselves enforce. Applied to a client, a section **updates the stage in place**
when the client already has one, so what it has learned carries over: a breaker keeps its state
and counted failures, a limiter what its buckets hold (capped at the new burst), a quota the
usage counted so far, failover each kept endpoint's health. ``enabled: false`` removes a stage;
a section left out leaves the stage as it is.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from claudegate.client._breaker import CircuitBreaker
from claudegate.client._failover import Endpoint, Failover, FailoverStrategy
from claudegate.client._limiter import RateLimiter
from claudegate.client._quota import QuotaLimit, QuotaManager, QuotaMetric, QuotaPeriod
from claudegate.client._retry import RetryPolicy

__all__ = [
    "BreakerSettings",
    "EndpointSettings",
    "FailoverSettings",
    "LimiterSettings",
    "QuotaLimitSettings",
    "QuotaSettings",
    "RetrySettings",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(BaseModel):
    """``RetryPolicy`` fields (defaults: the official SDKs' policy)."""

    model_config = _STRICT

    max_retries: int = Field(default=2, ge=0, le=20)
    initial_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=8.0, ge=0)
    jitter: float = Field(default=0.25, ge=0, le=1)
    max_retry_after: float = Field(default=60.0, ge=0)
    retry_connection_errors: bool = True

    def policy(self) -> RetryPolicy:
        """The ``RetryPolicy`` these settings describe."""
        return RetryPolicy(**self.model_dump())


class BreakerSettings(BaseModel):
    """``CircuitBreaker`` thresholds."""

    model_config = _STRICT

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    window: float | None = Field(default=None, gt=0)
    open_duration: float = Field(default=30.0, ge=0)
    half_open_probes: int = Field(default=1, ge=1)

    def apply(self, current: CircuitBreaker | None) -> CircuitBreaker | None:
        """``current`` reconfigured (a new breaker when there is none; None when disabled)."""
        if not self.enabled:
            return None
        fields = self.model_dump(exclude={"enabled"})
        if current is None:
            return CircuitBreaker(**fields)
        current.reconfigure(**fields)
        return current


class LimiterSettings(BaseModel):
    """``RateLimiter`` rates: requests per second, estimated input tokens per minute, or both."""

    model_config = _STRICT

    enabled: bool = True
    requests_per_second: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    token_burst: int | None = Field(default=None, ge=1)
    max_wait: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _a_rate(self) -> Self:
        if self.enabled and self.requests_per_second is None and self.tokens_per_minute is None:
            raise ValueError("give requests_per_second, tokens_per_minute, or both")
        return self

    def apply(self, current: RateLimiter | None) -> RateLimiter | None:
        """``current`` reconfigured (a new limiter when there is none; None when disabled)."""
        if not self.enabled:
            return None
        fields = self.model_dump(exclude={"enabled"})
        if current is None:
            return RateLimiter(**fields)
        current.reconfigure(**fields)
        return current


class QuotaLimitSettings(BaseModel):
    """One ``QuotaLimit``."""

    model_config = _STRICT

    metric: QuotaMetric
    period: QuotaPeriod
    limit: float = Field(ge=0)
    model: str | None = None


class QuotaSettings(BaseModel):
    """``QuotaManager`` limits (the usage counted so far is kept across changes)."""

    model_config = _STRICT

    enabled: bool = True
    limits: list[QuotaLimitSettings] = Field(default_factory=list)

    def apply(self, current: QuotaManager | None) -> QuotaManager | None:
        """``current`` with these limits (a new manager when there is none; None when disabled)."""
        if not self.enabled:
            return None
        limits = tuple(QuotaLimit(**limit.model_dump()) for limit in self.limits)
        if current is None:
            return QuotaManager(limits)
        current.limits = limits
        return current


class EndpointSettings(BaseModel):
    """One failover endpoint; a bare URL string is accepted too."""

    model_config = _STRICT

    base_url: str = Field(pattern=r"^https?://")
    name: str = ""

    def label(self) -> str:
        """The name failover knows it by (its base URL when unnamed)."""
        return self.name or self.base_url.rstrip("/")


class FailoverSettings(BaseModel):
    """``Failover`` endpoints and strategy."""

    model_config = _STRICT

    enabled: bool = True
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    strategy: FailoverStrategy = "priority"
    unhealthy_after: int = Field(default=3, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _urls_as_endpoints(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("endpoints"), list):
            data = {
                **data,
                "endpoints": [{"base_url": e} if isinstance(e, str) else e for e in data["endpoints"]],
            }
        return data

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if self.enabled and not self.endpoints:
            raise ValueError("failover needs at least one endpoint")
        labels = [e.label() for e in self.endpoints]
        if len(set(labels)) != len(labels):
            raise ValueError("endpoint names must be unique")
        return self

    def apply(self, current: Failover | None) -> Failover | None:
        """``current`` reconfigured (a new failover when there is none; None when disabled)."""
        if not self.enabled:
            return None
        endpoints = [Endpoint(e.base_url, name=e.name) for e in self.endpoints]
        if current is None:
            return Failover(endpoints, strategy=self.strategy, unhealthy_after=self.unhealthy_after)
        current.reconfigure(endpoints, strategy=self.strategy, unhealthy_after=self.unhealthy_after)
        return current
