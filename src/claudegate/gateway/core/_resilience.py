"""Retries, failover order and circuit breakers for the deployments of each route.

Per route: a ``strategy`` orders the deployments for each request (``priority``: by priority;
``round_robin``: the start turns with each request; ``random``: shuffled; ``sticky``: the same
deployment for the same client key or session while it is admitted, by rendezvous hashing), and
an optional ``retry`` policy runs another pass over them, after a ``RetryPolicy`` wait, once
every deployment failed. Per deployment: an optional circuit breaker (a refused deployment is
skipped without a call) whose opening is published to the shared counters, when there are any,
so that every replica skips it, plus health from the live traffic and optional active probes.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from claudegate.client import CircuitBreaker, CircuitState, RetryPolicy
from claudegate.client._breaker import is_upstream_failure
from claudegate.errors import CircuitOpenError
from claudegate.gateway._config import (
    BreakerConfig,
    DeploymentConfig,
    GatewayConfig,
    HealthCheckConfig,
    RouteConfig,
    Strategy,
)
from claudegate.gateway.core._health import DeploymentHealth, HealthProbe

if TYPE_CHECKING:
    from claudegate.gateway.core._router import Deployment, Router
    from claudegate.store import Counters

__all__ = ["DeploymentGuard", "Resilience", "RoutePolicy"]

log = logging.getLogger("claudegate.gateway.resilience")


class DeploymentGuard:
    """One deployment's breaker (when configured), passive health and shared open flag."""

    def __init__(self, name: str, breaker: BreakerConfig | None, counters: Counters | None) -> None:
        self.name = name
        self.health = DeploymentHealth(name)
        self.counters = counters
        self.breaker: CircuitBreaker | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if breaker is not None:
            self.breaker = CircuitBreaker(
                failure_threshold=breaker.failure_threshold,
                open_duration=breaker.open_duration,
                half_open_probes=breaker.half_open_probes,
                name=name,
                on_state_change=self._publish,
            )

    def _publish(self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        retry_after = breaker.retry_after
        if new is not CircuitState.OPEN or self.counters is None or not retry_after:
            return
        task = asyncio.get_running_loop().create_task(self._share(retry_after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _share(self, ttl: float) -> None:
        assert self.counters is not None
        try:
            await self.counters.open_circuit(self.name, ttl)
        except Exception as exc:  # the local breaker still holds; other replicas learn on their own
            log.warning("could not share the open circuit of %r: %s", self.name, type(exc).__name__)

    async def admit(self) -> float | None:
        """None when a call may go; else the seconds until the deployment may be tried again."""
        if self.breaker is not None:
            try:
                self.breaker.before_call()
            except CircuitOpenError as exc:
                return exc.retry_after or 0.0
        if self.counters is not None:
            try:
                shared = await self.counters.circuit(self.name)
            except Exception as exc:  # an unreachable store must not take every deployment down
                log.warning("could not read the shared circuit of %r: %s", self.name, type(exc).__name__)
                return None
            if shared.open and not shared.degraded:
                if self.breaker is not None:
                    self.breaker.release()
                return shared.retry_after
        return None

    def succeeded(self, latency: float) -> None:
        """The admitted call answered."""
        self.health.record_success(latency)
        if self.breaker is not None:
            self.breaker.record_success()

    def failed(self, exc: Exception, description: str) -> None:
        """The admitted call failed with ``exc``. A caller's mistake (a 400, a 404 for a model the
        upstream does not know) is an answer, not the deployment's failure."""
        if self.breaker is not None:
            self.breaker.record_error(exc)
        is_failure = self.breaker.is_failure if self.breaker is not None else is_upstream_failure
        if is_failure(exc):
            self.health.record_failure(description)
        else:
            self.health.record_success(0.0)

    def abandoned(self) -> None:
        """The admitted call was cancelled: no verdict on the upstream."""
        if self.breaker is not None:
            self.breaker.release()

    def snapshot(self) -> dict[str, Any]:
        """State, breaker, last error and latency figures."""
        breaker = dict(self.breaker.snapshot()) if self.breaker is not None else None
        return self.health.snapshot(breaker)


def _rendezvous(key: str, name: str) -> bytes:
    return hashlib.blake2b(f"{key}\x00{name}".encode(), digest_size=8).digest()


class RoutePolicy:
    """How one route's deployments are ordered, retried and guarded."""

    def __init__(
        self,
        strategy: Strategy,
        retry: RetryPolicy | None,
        guards: dict[str, DeploymentGuard],
        rng: random.Random | None = None,
    ) -> None:
        self.strategy = strategy
        self.retry = retry
        self.guards = guards
        self._turn = itertools.count()
        self._random = rng or random.Random()

    def guard(self, deployment: Deployment) -> DeploymentGuard:
        found = self.guards.get(deployment.name)
        if found is None:
            found = self.guards[deployment.name] = DeploymentGuard(deployment.name, None, None)
        return found

    def order(self, deployments: Sequence[Deployment], sticky_key: str | None) -> list[Deployment]:
        """The deployments in the order this request tries them (each once)."""
        ordered = list(deployments)
        if len(ordered) < 2 or self.strategy == "priority":
            return ordered
        if self.strategy == "round_robin":
            start = next(self._turn) % len(ordered)
            return ordered[start:] + ordered[:start]
        if self.strategy == "random":
            self._random.shuffle(ordered)
            return ordered
        key = sticky_key or ""
        return sorted(ordered, key=lambda deployment: _rendezvous(key, deployment.name), reverse=True)


def _breaker_of(route: RouteConfig, deployment: DeploymentConfig) -> BreakerConfig | None:
    return deployment.breaker or route.breaker


def _health_check_of(route: RouteConfig, deployment: DeploymentConfig) -> HealthCheckConfig | None:
    return deployment.health_check or route.health_check


def _label(route: RouteConfig, deployment: DeploymentConfig, index: int) -> str:
    # The same label the router gives (deployment names are the key of breakers and health).
    return deployment.name or f"{deployment.provider}/{deployment.model or route.name}#{index}"


class Resilience:
    """Every route's policy and every deployment's guard, for one gateway configuration.

    Building it gives each route of ``router`` its ``policy``. Guards of a ``previous`` one are
    kept for deployments whose settings did not change (a reload keeps breakers and health).
    """

    def __init__(
        self,
        config: GatewayConfig,
        router: Router,
        counters: Counters | None = None,
        previous: Resilience | None = None,
    ) -> None:
        self.router = router
        self.guards: dict[str, DeploymentGuard] = {}
        self.settings: dict[str, DeploymentConfig] = {}
        self.probes: list[HealthProbe] = []
        providers = {
            deployment.name: deployment for route in router.routes for deployment in route.deployments
        }
        for route_config, route in zip(config.models, router.routes, strict=True):
            guards: dict[str, DeploymentGuard] = {}
            for index, deployment in enumerate(route_config.deployments):
                name = _label(route_config, deployment, index)
                guard = self.guards.get(name)
                if guard is None:
                    guard = self._guard(previous, name, route_config, deployment, counters)
                    self.guards[name] = guard
                    self.settings[name] = deployment
                    check = _health_check_of(route_config, deployment)
                    if check is not None and name in providers:
                        model = deployment.model or route_config.name
                        self.probes.append(
                            HealthProbe(
                                guard.health, providers[name].provider, model, check.interval, check.timeout
                            )
                        )
                guards[name] = guard
            retry = None
            if route_config.retry is not None and route_config.retry.max_retries > 0:
                retry = RetryPolicy(
                    max_retries=route_config.retry.max_retries,
                    initial_delay=route_config.retry.initial_delay,
                    max_delay=route_config.retry.max_delay,
                )
            route.policy = RoutePolicy(route_config.strategy, retry, guards)

    @staticmethod
    def _guard(
        previous: Resilience | None,
        name: str,
        route: RouteConfig,
        deployment: DeploymentConfig,
        counters: Counters | None,
    ) -> DeploymentGuard:
        if previous is not None:
            kept = previous.guards.get(name)
            if kept is not None and previous.settings.get(name) == deployment:
                return kept
        return DeploymentGuard(name, _breaker_of(route, deployment), counters)

    def bind(self, counters: Counters) -> None:
        """Share every breaker's opening through ``counters`` (opened after construction)."""
        for guard in self.guards.values():
            guard.counters = counters

    def start_probes(self) -> None:
        """Start the active health probes (called by the lifespan)."""
        for probe in self.probes:
            probe.start()

    async def stop_probes(self) -> None:
        """Stop the active health probes and wait for them."""
        for probe in self.probes:
            await probe.stop()

    def snapshot(self) -> dict[str, Any]:
        """The body of ``GET /health/deployments``."""
        return {"deployments": [guard.snapshot() for guard in self.guards.values()]}
