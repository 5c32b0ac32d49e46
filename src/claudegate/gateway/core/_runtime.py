"""One configuration made live: its routes with their deployments, policies, guards and limits.

The core serves from one ``Runtime`` at a time. A reload builds a new one beside it and swaps it
in; calls that began on the old one finish on it, and its providers are closed once the last of
them has settled.
"""

from __future__ import annotations

import asyncio
import logging

from claudegate.client import AsyncTransport
from claudegate.gateway._config import GatewayConfig
from claudegate.gateway.core._errors import GatewayError, shown
from claudegate.gateway.core._labels import ModelLabels
from claudegate.gateway.core._limits import build_deployment_limits
from claudegate.gateway.core._resilience import Resilience
from claudegate.gateway.core._router import Route, Router, build_router
from claudegate.store import Counters

__all__ = ["Runtime"]

log = logging.getLogger("claudegate.gateway")

_UNKNOWN_MODEL_NAMES = 20  # how many served names an unknown model's 404 lists


class Runtime:
    """The router, resilience and deployment limits of one configuration (see the module docstring)."""

    def __init__(
        self,
        config: GatewayConfig,
        transport: AsyncTransport,
        counters: Counters,
        previous: Runtime | None = None,
    ) -> None:
        self.config = config
        self.router: Router = build_router(config, transport)
        self.resilience: Resilience = Resilience(
            config, self.router, None, previous.resilience if previous is not None else None
        )
        self.bind(counters, shared=False)
        self.labels = ModelLabels(_known_names(self.router))
        self.active = 0
        self._retired = False
        self._closed: asyncio.Event | None = None
        self._closing: asyncio.Task[None] | None = None

    def bind(self, counters: Counters, *, shared: bool) -> None:
        """Count the deployments' own limits in ``counters``; ``shared`` ones (Redis) also carry
        each breaker's opening to every replica."""
        if shared:
            self.resilience.bind(counters)
        limits = build_deployment_limits(self.config, counters)
        for route in self.router.routes:
            route.limits = limits

    def resolve(self, model: str, *, embeddings: bool = False) -> Route:
        """The route serving ``model`` (an embedding model's when ``embeddings``), or a 404 that
        names what is served."""
        route = self.router.resolve_embeddings(model) if embeddings else self.router.resolve(model)
        if route is None:
            raise self.unknown(model)
        return route

    def unknown(self, model: str) -> GatewayError:
        """The 404 for a model name this gateway does not serve, listing the names it does."""
        names = self.router.served_names()
        served = ", ".join(names[:_UNKNOWN_MODEL_NAMES]) + (
            ", …" if len(names) > _UNKNOWN_MODEL_NAMES else ""
        )
        hint = f"; served models: {served}" if names else ""
        return GatewayError(
            404, "not_found_error", f"model: {shown(model)!r} is not served by this gateway{hint}", "model"
        )

    async def start(self) -> None:
        """Open every provider and start the health probes."""
        for deployment in self.router.deployments():
            await deployment.provider.start()
        self.resilience.start_probes()

    async def close(self) -> None:
        """Stop the probes and close every provider."""
        await self.resilience.stop_probes()
        for deployment in self.router.deployments():
            try:
                await deployment.provider.aclose()
            except Exception:
                log.exception("closing deployment %s failed", deployment.name)

    def enter(self) -> Runtime:
        """A call begins on this runtime."""
        self.active += 1
        return self

    def leave(self) -> None:
        """A call on this runtime has settled."""
        self.active -= 1
        if self._retired and self.active == 0:
            self._finish()

    def retire(self) -> None:
        """Stop taking calls: close once the calls in flight have settled."""
        self._retired = True
        self._closed = asyncio.Event()
        if self.active == 0:
            self._finish()

    def _finish(self) -> None:
        closed = self._closed
        if closed is None or self._closing is not None:
            return
        self._closing = asyncio.get_running_loop().create_task(self.close())
        self._closing.add_done_callback(lambda _: closed.set())

    async def wait_closed(self) -> None:
        """Until this retired runtime has closed its providers."""
        if self._closed is not None:
            await self._closed.wait()


def _known_names(router: Router) -> set[str]:
    """Model names the configuration itself vouches for: exact routes, and what a simulator behind
    a wildcard route has in its catalogue."""
    from claudegate.providers.simulator import SimulatorProvider

    names = set(router.served_names())
    for deployment in router.deployments():
        if isinstance(deployment.provider, SimulatorProvider):
            for spec in deployment.provider.simulator.config.models:
                names.add(spec.id)
                names.update(spec.aliases)
    return names
