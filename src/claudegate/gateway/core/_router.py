"""Model names to deployments: every surface asks the same ``Router``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claudegate.client import AsyncTransport
from claudegate.gateway._config import (
    DeploymentConfig,
    GatewayConfig,
    RouteRetrieval,
    TimeoutConfig,
    ToolStreamMode,
    resolve_secret,
)
from claudegate.gateway.core._resilience import RoutePolicy
from claudegate.providers import Provider
from claudegate.simulator import SimulatorConfig

if TYPE_CHECKING:
    from claudegate.gateway.core._limits import DeploymentLimits

__all__ = ["Deployment", "Route", "Router", "build_router"]


@dataclass(slots=True)
class Deployment:
    """One upstream of a route."""

    name: str
    provider: Provider
    model: str | None
    """The upstream's model name; None keeps the name the client asked for."""
    priority: int
    native: bool
    """The upstream speaks Anthropic: request and answer bytes may pass through untouched."""

    def upstream_model(self, requested: str) -> str:
        return self.model or requested


@dataclass(slots=True)
class Route:
    """What serves one configured model name."""

    name: str
    deployments: list[Deployment]
    tool_stream: ToolStreamMode
    stream_downgrade: bool
    listed: bool = field(default=True)
    """Shown by ``GET /v1/models`` (a glob route is not)."""
    policy: RoutePolicy = field(default_factory=lambda: RoutePolicy("priority", None, {}))
    """Order, retries and guards of the deployments (set once, when the runtime is built)."""
    limits: DeploymentLimits | None = None
    """The deployments' own rate limits, when any has some."""
    normalize_sampling: bool = True
    """Sampling parameters made acceptable to current models (``sampling.normalize``)."""
    retrieval: RouteRetrieval | None = None
    """The collection its answers come from (``retrieval``; see ``_route_retrieval``)."""


class Router:
    """Resolves a requested model name: exact names first, then globs in config order."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._exact = {route.name: route for route in routes if route.listed}
        self._globs = [route for route in routes if not route.listed]
        self._local: Route | None = None

    def resolve_embeddings(self, model: str) -> Route | None:
        """An embedding model's route: a configured name first, then the local model (``local``
        and its own name), then globs."""
        route = self._exact.get(model)
        if route is not None:
            return route
        from claudegate.retrieval._local import LOCAL_MODEL_NAMES

        if model in LOCAL_MODEL_NAMES:
            return self.local_route()
        return self.resolve(model)

    def local_route(self) -> Route:
        """The built-in route of the local embedding model (in process, no upstream)."""
        if self._local is None:
            from claudegate.providers.local import LocalEmbeddingProvider
            from claudegate.retrieval._local import LOCAL_MODEL

            deployment = Deployment(f"local/{LOCAL_MODEL}", LocalEmbeddingProvider(), LOCAL_MODEL, 1, False)
            self._local = Route(
                "local", [deployment], "passthrough", False, listed=False, normalize_sampling=False
            )
        return self._local

    def resolve(self, model: str) -> Route | None:
        route = self._exact.get(model)
        if route is not None:
            return route
        for candidate in self._globs:
            if fnmatch.fnmatchcase(model, candidate.name):
                return candidate
        return None

    def deployments(self) -> list[Deployment]:
        """Every deployment once (routes may share none; order of configuration)."""
        return [deployment for route in self.routes for deployment in route.deployments]

    def served_names(self) -> list[str]:
        """The exact model names configured (glob routes left out)."""
        return list(self._exact)


def _is_glob(name: str) -> bool:
    return any(char in name for char in "*?[")


def _provider(
    config: DeploymentConfig, where: str, transport: AsyncTransport, defaults: TimeoutConfig, alone: bool
) -> Provider:
    timeout = (config.timeouts or defaults).to_timeout()  # a deployment's own, else the gateway's
    if config.provider == "anthropic":
        from claudegate.providers.anthropic import AnthropicProvider

        assert config.api_key is not None
        return AnthropicProvider(
            base_url=config.base_url or "https://api.anthropic.com",
            api_key=resolve_secret(config.api_key, f"{where}.api_key"),
            transport=transport,
            timeout=timeout,
            auth=config.auth,
        )
    if config.provider == "openai":
        from claudegate.providers.openai_compat import OpenAICompatProvider

        assert config.base_url is not None
        key = resolve_secret(config.api_key, f"{where}.api_key") if config.api_key else None
        return OpenAICompatProvider(
            base_url=config.base_url, api_key=key, transport=transport, timeout=timeout
        )
    if config.provider == "salesforce":
        from claudegate.providers.salesforce import DEFAULT_MAX_ATTEMPTS, SalesforceProvider

        assert config.client_id and config.client_secret and config.token_url
        return SalesforceProvider(
            token_url=config.token_url,
            api_base_url=config.base_url,
            client_id=resolve_secret(config.client_id, f"{where}.client_id").reveal(),
            client_secret=resolve_secret(config.client_secret, f"{where}.client_secret"),
            transport=transport,
            timeout=timeout,
            # With another deployment to go to, a rate limit fails over at once instead of waiting.
            max_attempts=DEFAULT_MAX_ATTEMPTS if alone else 1,
        )
    from claudegate.providers.simulator import SimulatorProvider

    return SimulatorProvider(SimulatorConfig.model_validate(config.simulator or {}), timeout=timeout)


def build_router(config: GatewayConfig, transport: AsyncTransport) -> Router:
    """Providers for every deployment of ``config``, sharing one transport (one connection pool)."""
    routes = []
    for i, route_config in enumerate(config.models):
        deployments = []
        for j, deployment in enumerate(route_config.deployments):
            where = f"models[{i}].deployments[{j}]"
            alone = len(route_config.deployments) == 1
            provider = _provider(deployment, where, transport, config.gateway.timeouts, alone)
            label = deployment.name or f"{deployment.provider}/{deployment.model or route_config.name}#{j}"
            deployments.append(
                Deployment(
                    name=label,
                    provider=provider,
                    model=deployment.model,
                    priority=deployment.priority,
                    native=deployment.provider == "anthropic",
                )
            )
        deployments.sort(key=lambda d: d.priority)
        routes.append(
            Route(
                name=route_config.name,
                deployments=deployments,
                tool_stream=route_config.tool_stream or config.gateway.tool_stream,
                stream_downgrade=(
                    route_config.stream_downgrade
                    if route_config.stream_downgrade is not None
                    else config.gateway.stream_downgrade
                ),
                listed=not _is_glob(route_config.name),
                normalize_sampling=route_config.sampling.normalize,
                retrieval=route_config.retrieval,
            )
        )
    return Router(routes)
