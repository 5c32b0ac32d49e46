"""What every resolver of one GraphQL request (or one WebSocket connection) sees: the gateway's
services, who is calling, and the request's DataLoaders.

HTTP requests are authenticated before anything runs (a refused key is a 401 with no data); a
WebSocket connection is authenticated by its ``connection_init`` payload before any operation
starts. The admin key (``auth.admin_key``) may read and change what only the operator sees; it is
not a gateway key, so fields that act as a key (``me``, ``createMessage``…) refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from claudegate.gateway._config import GraphQLSettings
from claudegate.gateway.core import GatewayCore, GatewayError, Principal, RoomHub

if TYPE_CHECKING:
    from claudegate.gateway.batches import BatchService
    from claudegate.gateway.jobs import JobService
    from claudegate.gateway.surfaces.graphql._batches import ResultItem, ResultKey
    from claudegate.store import ApiKey
    from claudegate.store._usage_report import UsageRow

__all__ = ["PATH", "GraphQLContext", "Services", "credential_of"]

PATH = "/graphql"
"""Where the surface is served (over HTTP, SSE and WebSocket alike): the route of its access-log lines."""

_NOT_INITIALISED = GatewayError(
    401, "authentication_error", "send connection_init with the API key before any operation"
)
_PARAM_NAMES = ("apiKey", "api_key", "x-api-key", "authorization", "Authorization")


@dataclass(frozen=True, slots=True)
class Services:
    """The gateway parts the GraphQL surface serves from."""

    core: GatewayCore
    jobs: JobService
    batches: BatchService
    hub: Callable[[], RoomHub | None]
    """The rooms' hub (the WebSocket surface's, opened at startup)."""

    @property
    def settings(self) -> GraphQLSettings:
        return self.core.config.gateway.graphql


def credential_of(params: Mapping[str, Any]) -> str | None:
    """The key a ``connection_init`` payload carries (``apiKey``, ``x-api-key`` or a Bearer
    ``authorization``)."""
    for name in _PARAM_NAMES:
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            return text[7:].strip() if text[:7].lower() == "bearer " else text
    return None


class GraphQLContext:
    """One request's (or connection's) caller, services and loaders."""

    def __init__(
        self, services: Services, headers: dict[str, str], *, websocket: bool, base_url: str = ""
    ) -> None:
        self.services = services
        self.core = services.core
        self.headers = headers
        """Client headers an upstream may see (``anthropic-version``, the simulator's fault headers)."""
        self.websocket = websocket
        self.base_url = base_url
        """The gateway as the caller reached it (a batch's ``resultsUrl`` points there)."""
        self.connection_params: dict[str, Any] | None = None
        """The ``connection_init`` payload (set by the WebSocket protocol handlers)."""
        self.authenticated = False
        self.admin = False
        self._principal: Principal | None = None
        self._keys: DataLoader[str, ApiKey | None] | None = None
        self._job_usage: DataLoader[str, list[UsageRow]] | None = None
        self._batch_results: DataLoader[ResultKey, list[ResultItem]] | None = None

    async def authenticate(self, credential: str | None) -> None:
        """Take ``credential`` (the admin key, a gateway key, a JWT), or raise the 401."""
        self.admin = self.core.is_admin(credential)
        if not self.admin:
            self._principal = await self.core.principal(credential)
        self.authenticated = True

    @property
    def principal(self) -> Principal:
        """The calling key or token; a 401 for the admin key or an unauthenticated connection."""
        if not self.authenticated:
            raise _NOT_INITIALISED
        if self._principal is None:
            raise GatewayError(
                401,
                "authentication_error",
                "the admin key reads and manages the gateway; this field needs a gateway key",
            )
        return self._principal

    @property
    def rate_limited_principal(self) -> Principal | None:
        """Whom an operation is counted against (None: the admin key, not counted)."""
        return None if self.admin else self.principal

    def require_admin(self, what: str) -> None:
        """A 403 unless the caller presented the admin key."""
        if not self.authenticated:
            raise _NOT_INITIALISED
        if not self.admin:
            raise GatewayError(403, "permission_error", f"{what} is for the admin key only")

    @property
    def keys(self) -> DataLoader[str, ApiKey | None]:
        """Keys by id, every lookup of one tick in one query."""
        if self._keys is None:
            self._keys = DataLoader(load_fn=self._load_keys)
        return self._keys

    @property
    def job_usage(self) -> DataLoader[str, list[UsageRow]]:
        """The ledger rows of jobs by job id, every lookup of one tick in one query."""
        if self._job_usage is None:
            self._job_usage = DataLoader(load_fn=self._load_job_usage)
        return self._job_usage

    @property
    def batch_results(self) -> DataLoader[ResultKey, list[ResultItem]]:
        """Pages of batches' results, every first page of one tick in one query."""
        if self._batch_results is None:
            from claudegate.gateway.surfaces.graphql._batches import load_results

            async def load(keys: list[ResultKey]) -> list[list[ResultItem] | BaseException]:
                return await load_results(self, keys)

            self._batch_results = DataLoader(
                load_fn=load, cache_key_fn=lambda key: (key[0].id, key[1], key[2])
            )
        return self._batch_results

    async def _load_keys(self, ids: list[str]) -> list[ApiKey | None]:
        policies = self.core.policies
        store = policies.keys if policies is not None else None
        found = await store.get_many(ids) if store is not None else {}
        return [found.get(key_id) for key_id in ids]

    async def _load_job_usage(self, ids: list[str]) -> list[list[UsageRow]]:
        from claudegate.store._usage_report import jobs_usage

        engine = await self.services.jobs.engine()
        found = await jobs_usage(engine.database, ids)
        return [found.get(job_id, []) for job_id in ids]
