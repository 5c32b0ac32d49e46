"""Gateway configuration: a YAML file validated at start, with errors that name the bad key.

    gateway:
      heartbeat_interval: 15          # seconds of stream silence before a ``: keepalive`` comment
      max_request_bytes: 33554432     # larger bodies (sent, or once gzip/deflate-decoded) get 413
      gzip_min_bytes: 1024            # JSON answers this large are gzipped when accepted (null: never)
      default_max_tokens: 4096        # for OpenAI requests that set no limit
      tool_stream: passthrough        # or buffer: tool arguments emitted once, complete
      stream_downgrade: false         # streamed requests with tools sent upstream as non-streamed
      timeouts: {connect: 5, read: 600, total: 600}
      edge: {header_timeout: 10, max_connections: 1000}   # HTTP limits a hostile client meets first
      response_ttl: 2592000           # seconds a stored /v1/responses answer is kept (store: true)
    models:
      - name: claude-sonnet-5         # what clients ask for ("*" and globs match many names)
        tool_stream: buffer           # per-route override
        sampling: {normalize: true}   # drop top_k/top_p of -1, and top_p beside temperature
        retrieval: {collection: docs, mode: context, top_k: 5, max_tokens: 2000}   # answers cite docs
        deployments:
          - provider: anthropic       # anthropic | openai | salesforce | simulator
            base_url: https://api.anthropic.com
            api_key: env:ANTHROPIC_API_KEY   # or secret:NAME (the secrets file); never inline
            model: claude-sonnet-5    # the upstream's name (default: the route's name)
            priority: 1               # lower goes first

    auth:                             # gateway API keys (``claudegate keys``); open until one is issued
      admin_key: env:CLAUDEGATE_ADMIN_KEY  # guards /admin/keys
      cache_seconds: 5                # how long a looked-up key is trusted
      jwt:                            # also admit JWTs from an identity provider (docs/auth.md)
        jwks_url: https://idp.example.com/.well-known/jwks.json   # or public_key: env:NAME
        issuer: https://idp.example.com/
        audience: claudegate
    limits:
      per_key: {requests_per_minute: 60, input_tokens_per_minute: 100000,
                output_tokens_per_minute: 20000, concurrent_requests: 8}   # for keys without their own
    storage:                          # keys, the usage ledger, stored responses; counters through Redis
      database_url: sqlite+aiosqlite:///claudegate.db   # or postgresql+asyncpg://...
      redis_url: redis://127.0.0.1:6379/0
      redis_failure_policy: fail_closed                 # or fail_open
    threads:                          # message threads (beta) the gateway serves for its clients
      ttl: 300                        # seconds a thread lives after its last turn
      max_thread_bytes: 33554432      # stored bytes of one thread (null: no limit)
      max_key_bytes: 268435456        # stored bytes of one key's live threads (null: no limit)
    retrieval:                        # collections (docs/retrieval.md)
      store: embedded                 # a SQLite file and exact search | pgvector
      path: claudegate-retrieval.db
    jobs:                             # /v1/jobs (docs/jobs.md)
      backend: auto                   # embedded (the store + this process) | pgqueuer | auto
      workers: 64                     # jobs one process runs at once
      per_key: 16                     # of them, jobs of one key
      lease: 30                       # seconds a claim lasts without a heartbeat
      max_attempts: 5                 # a lost lease or a retryable failure counts as one
    batches:                          # /v1/messages/batches, /v1/files, /v1/batches (docs/batches.md)
      max_requests: 100000            # requests in one batch
      max_file_bytes: 209715200       # one uploaded file (OpenAI batch input)
    webhooks:                         # signed job webhooks (docs/webhooks.md)
      secret: env:CLAUDEGATE_WEBHOOK_SECRET   # whsec_…: signs for keys without their own secret
      allow_private: ["127.0.0.0/8"]  # addresses allowed despite the SSRF guard (default: none)
      timeout: 10                     # seconds per attempt
    observability:                    # traces and the access log (docs/observability.md)
      tracing: true                   # spans, when OTEL_EXPORTER_OTLP_ENDPOINT or the app sets a tracer
      capture_content: false          # prompts and completions on spans (gen_ai.input/output.messages)
      access_log:
        enabled: true                 # a line per request (and per WS/GraphQL call) on claudegate.access
        level: info
        format: auto                  # json | console | auto (console when attached to a terminal)
    events:                           # event pipelines (docs/events.md)
      tool_modules: [myapp.tools]     # the only modules pipeline tools are loaded from
      pipelines:
        - on: content.submitted       # event types (globs allowed; a list too)
          model: claude-haiku-4-5
          prompt: "Moderate this content: {{ payload.text }}"   # Jinja2, sandboxed
          tools: [check_policy_violations]
          priority: medium            # high | medium | low
          concurrency: 8              # runs of this pipeline at once in one process
          emit: content.moderated     # the result event's type (default: <type>.processed)
          webhook: https://example.com/hooks   # each run's end, signed (webhooks.secret)
          room: moderation            # result events to this /v1/ws room of the publishing key
          batch: {size: 50, wait: 30s}   # low-priority runs grouped (docs/events.md, "Batching")
        - on: stream.window           # or stream.completed: text of streams passing through the gateway
          window: {chars: 500, sentences: true}
          streams: {models: ["claude-*"]}   # which streams (models, key ids); default: all
          model: claude-haiku-4-5
          prompt: "Sentiment of: {{ payload.text }}"
      streams: {queue: 1000}          # stream events waiting to be published; beyond: dropped, counted
      nats: {stream: EVENTS, subject: "events.>", key: KEY_ID}   # also consume a JetStream stream

With no file, every model name routes to the in-process simulator.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from claudegate.client import ApiKey, Timeout, find_secrets_file, load_secrets_file
from claudegate.errors import UserError
from claudegate.gateway._config_retrieval import RetrievalConfig, RouteRetrieval
from claudegate.simulator import SimulatorConfig

__all__ = [
    "JWT_ALGORITHMS",
    "WEBHOOK_SCHEDULE",
    "AccessLogConfig",
    "AuthConfig",
    "BatchesConfig",
    "BreakerConfig",
    "ConfigError",
    "DeploymentConfig",
    "EdgeConfig",
    "EventsConfig",
    "GatewayConfig",
    "GatewaySettings",
    "HealthCheckConfig",
    "JobsConfig",
    "JwtClaims",
    "JwtConfig",
    "LimitSpec",
    "LimitsConfig",
    "NatsIngressConfig",
    "ObservabilityConfig",
    "PipelineBatchConfig",
    "PipelineConfig",
    "RetrievalConfig",
    "RetryConfig",
    "RouteBatches",
    "RouteConfig",
    "RouteRetrieval",
    "SamplingConfig",
    "SocketIOSettings",
    "StorageConfig",
    "StreamFilterConfig",
    "StreamObserversConfig",
    "StreamWindowConfig",
    "ThreadsConfig",
    "TimeoutConfig",
    "WebSocketSettings",
    "WebhookSettings",
    "default_config",
    "load_config",
    "parse_config",
    "resolve_secret",
    "resolve_text",
]

ProviderKind = Literal["anthropic", "openai", "salesforce", "simulator"]
ToolStreamMode = Literal["passthrough", "buffer"]
Strategy = Literal["priority", "round_robin", "random", "sticky"]


class ConfigError(UserError):
    """The configuration is invalid; the message names the key (``models[0].deployments[1].api_key``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutConfig(_Strict):
    """Upstream timeouts in seconds (see ``claudegate.client.Timeout``)."""

    connect: float | None = Field(default=5.0, gt=0)
    read: float | None = Field(default=600.0, gt=0)
    total: float | None = Field(default=600.0, gt=0)

    def to_timeout(self) -> Timeout:
        return Timeout(total=self.total, connect=self.connect, read=self.read)


class WebSocketSettings(_Strict):
    """Per-connection limits and timers of ``/v1/ws`` (``gateway.websocket``; seconds, counts and
    bytes). A reload applies them to connections opened afterwards."""

    max_streams: int = Field(default=8, gt=0)
    """Streams running at once on one connection."""
    messages_per_minute: int | None = Field(default=120, gt=0)
    """``message.create`` and ``tool_result`` messages per rolling minute (None: no limit)."""
    max_message_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest client message answered with an error instead of being read (uvicorn's
    ``ws_max_size``, 16 MiB by default, closes the connection with 1009 past its own limit)."""
    send_queue: int = Field(default=256, gt=0)
    """Frames waiting for the client, at most."""
    send_timeout: float = Field(default=10.0, gt=0)
    """How long a full send queue may stay full before the client is closed as a slow consumer."""
    heartbeat_interval: float = Field(default=15.0, gt=0)
    """A ``heartbeat`` message after this long without any message to the client."""
    idle_timeout: float = Field(default=300.0, gt=0)
    """Close after this long without a message either way while no stream runs."""
    auth_timeout: float = Field(default=5.0, gt=0)
    """How long a connection that needs a key waits for ``session.auth``."""
    max_rooms: int = Field(default=16, gt=0)
    """Rooms one connection may be a member of."""
    room_history: int = Field(default=1000, gt=0)
    """Events each room retains for late joiners."""
    room_buffer: int = Field(default=1000, gt=0)
    """Room events buffered per member before it is dropped as lagging."""
    max_conversations: int = Field(default=16, gt=0)
    """Finished ``tool_use`` streams kept per connection for ``tool_result`` continuations."""
    conversation_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """Total size of the kept conversations (the oldest go first)."""
    close_timeout: float = Field(default=10.0, gt=0)
    """How long the server tries to deliver its close frame (and the frames before it)."""

    def limits(self) -> dict[str, Any]:
        """The limits a client is told in ``session.created``."""
        return self.model_dump()


class SocketIOSettings(_Strict):
    """Per-connection limits and timers of ``/socket.io/`` (``gateway.socketio``; seconds, counts
    and bytes). A reload applies them to connections opened afterwards (the server's own timers,
    origins and sizes at the next start)."""

    max_streams: int = Field(default=8, gt=0)
    """Streams running at once on one connection."""
    messages_per_minute: int | None = Field(default=120, gt=0)
    """``message.create`` and ``tool_result`` events per rolling minute (None: no limit)."""
    max_message_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest Engine.IO message the server reads."""
    max_rooms: int = Field(default=16, gt=0)
    """Rooms one connection may be a member of."""
    room_history: int = Field(default=1000, gt=0)
    """Events each room retains for replay after a reconnection."""
    room_buffer: int = Field(default=1000, gt=0)
    """Room events buffered per member before it is dropped as lagging."""
    recovery_window: float = Field(default=120.0, ge=0)
    """How long a dropped connection's session (its rooms) waits for the client to reconnect."""
    max_conversations: int = Field(default=16, gt=0)
    """Finished ``tool_use`` streams kept per connection for ``tool_result`` continuations."""
    conversation_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """Total size of the kept conversations (the oldest go first)."""
    ping_interval: float = Field(default=25.0, gt=0)
    ping_timeout: float = Field(default=20.0, gt=0)
    cors_allowed_origins: list[str] | None = None
    """Origins browsers may connect from (None: the gateway's own origin only; ``["*"]``: any)."""


class GraphQLSettings(_Strict):
    """``/graphql`` (``gateway.graphql``, docs/graphql.md): what one operation may ask. Read when
    the gateway starts (a reload does not change them)."""

    enabled: bool = True
    introspection: bool = True
    """``__schema`` / ``__type`` queries answered (turn off to hide the schema)."""
    max_depth: int = Field(default=10, gt=0)
    """Deepest field nesting of an operation."""
    max_aliases: int = Field(default=15, gt=0)
    """Aliases in one operation."""
    max_tokens: int = Field(default=2000, gt=0)
    """Lexical tokens in one document (checked while parsing)."""
    max_cost: int = Field(default=1000, gt=0)
    """Cost of one operation: each field 1, what a ``first`` argument pages over times ``first``."""
    persisted_queries: dict[str, str] | None = None
    """Documents by the hex SHA-256 of their text, sent as ``extensions.persistedQuery.sha256Hash``."""
    persisted_only: bool = False
    """Refuse documents not among ``persisted_queries`` (needs them)."""
    max_subscriptions: int = Field(default=16, gt=0)
    """Operations running at once on one WebSocket connection."""


class RetryConfig(_Strict):
    """Another pass over a route's deployments after every one failed (``RetryPolicy`` waits)."""

    max_retries: int = Field(default=0, ge=0, le=10)
    initial_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=8.0, ge=0)


class BreakerConfig(_Strict):
    """A deployment's circuit breaker (see ``claudegate.client.CircuitBreaker``)."""

    failure_threshold: int = Field(default=5, ge=1)
    open_duration: float = Field(default=30.0, ge=0)
    half_open_probes: int = Field(default=1, ge=1)


class HealthCheckConfig(_Strict):
    """Active probes of a deployment: a cheap call every ``interval`` seconds feeds its health."""

    interval: float = Field(default=30.0, gt=0)
    timeout: float = Field(default=5.0, gt=0)


def _check_secret_ref(value: str | None) -> str | None:
    if value is None:
        return None
    kind, sep, name = value.partition(":")
    if not sep or kind not in ("env", "secret") or not name:
        raise ValueError(
            "must name where the secret lives, 'env:VARIABLE' or 'secret:NAME' (from the secrets file); "
            "secrets are never written inline"
        )
    return value


def _check_http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class DeploymentConfig(_Strict):
    """One upstream that can serve a route."""

    provider: ProviderKind
    name: str | None = None
    """A label for metrics and /health/deployments (default: provider and model)."""
    base_url: str | None = None
    api_key: str | None = None
    auth: Literal["x-api-key", "bearer"] = "x-api-key"
    model: str | None = None
    priority: int = 1
    timeouts: TimeoutConfig | None = None
    client_id: str | None = None
    """Salesforce: the connected app's consumer key (``env:`` / ``secret:``)."""
    client_secret: str | None = None
    """Salesforce: the connected app's consumer secret (``env:`` / ``secret:``)."""
    token_url: str | None = None
    """Salesforce: the OAuth token endpoint (``https://<domain>.my.salesforce.com/services/oauth2/token``)."""
    simulator: dict[str, Any] | None = None
    """Simulator: its settings (``SimulatorConfig`` fields)."""
    breaker: BreakerConfig | None = None
    """This deployment's circuit breaker (default: the route's, else none)."""
    health_check: HealthCheckConfig | None = None
    """Active health probes of this deployment (default: the route's, else none)."""
    limits: LimitSpec | None = None
    """This deployment's own rate limits; a refusal fails over to the next deployment like a 429."""

    _check_refs = field_validator("api_key", "client_id", "client_secret")(_check_secret_ref)

    _check_urls = field_validator("base_url", "token_url")(_check_http_url)

    @model_validator(mode="after")
    def _check_provider_fields(self) -> DeploymentConfig:
        required = {
            "anthropic": ("api_key",),
            "openai": ("base_url",),
            "salesforce": ("client_id", "client_secret", "token_url"),
            "simulator": (),
        }[self.provider]
        for key in required:
            if getattr(self, key) is None:
                raise ValueError(f"provider {self.provider!r} needs '{key}'")
        if self.simulator is not None:
            if self.provider != "simulator":
                raise ValueError("'simulator' settings belong to provider 'simulator'")
            SimulatorConfig.model_validate(self.simulator)
        return self


class SamplingConfig(_Strict):
    """How a route treats sampling parameters (``sampling`` on a route; see ``gateway.core._sampling``)."""

    normalize: bool = True
    """Drop ``top_k``/``top_p`` of ``-1`` (clients' "unset") and, when ``temperature`` and ``top_p``
    are both given, drop ``top_p``; reported in the ``x-claudegate-normalized`` header."""


class RouteBatches(_Strict):
    """How batches of a route's requests run (``batches`` on a route; docs/batches.md)."""

    upstream: bool = False
    """Hand a Message Batch whose requests all go to this route to its first ``anthropic``
    deployment's own batch API (billed at half price there), and relay its status and results;
    else (and always for other providers) the gateway's job engine runs the requests one by one."""


class RouteConfig(_Strict):
    """A model name clients ask for, and the deployments that serve it."""

    name: str = Field(min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    tool_stream: ToolStreamMode | None = None
    stream_downgrade: bool | None = None
    strategy: Strategy = "priority"
    """Order of the deployments: priority, round_robin, random, or sticky (per client key or session)."""
    retry: RetryConfig | None = None
    """Passes over the deployments after all failed before the first byte (default: failover only)."""
    breaker: BreakerConfig | None = None
    """The circuit breaker of every deployment of this route that sets none."""
    health_check: HealthCheckConfig | None = None
    """Active health probes of every deployment of this route that sets none."""
    sampling: SamplingConfig = SamplingConfig()
    """Sampling parameters made acceptable to current models (on by default)."""
    batches: RouteBatches = RouteBatches()
    """Where a batch of this route's requests runs (the job engine, or the upstream's batch API)."""
    retrieval: RouteRetrieval | None = None
    """Answers from a collection: its passages put before each request, or a search tool the
    gateway runs (docs/retrieval.md)."""

    @model_validator(mode="after")
    def _check_retrieval(self) -> RouteConfig:
        if self.retrieval is not None and self.batches.upstream:
            raise ValueError(
                "batches.upstream cannot serve a route with retrieval: the upstream's batch API would run "
                "its requests without the gateway (leave batches.upstream off)"
            )
        return self


class EdgeConfig(_Strict):
    """Limits the HTTP server enforces before a request reaches the gateway (``gateway.edge``).

    Read when the server starts (``claudegate serve``); a configuration reload does not change them.
    See docs/reliability.md, "The HTTP edge".
    """

    max_header_count: int = Field(default=100, ge=1)
    """Header fields in one request head; more: 431."""
    max_header_line_bytes: int = Field(default=16 * 1024, ge=256)
    """Bytes of one header field, name and value; longer: 431."""
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    """Bytes of a whole head, request line included, counted as they arrive: past it 431, and
    nothing more is parsed (the same bound applies to a chunked body's trailers)."""
    header_timeout: float = Field(default=10.0, gt=0)
    """Seconds to receive a whole head, from the connection opening (first request) or from the
    request's first byte (later ones). Past it the connection is closed: 408 first if a head began."""
    body_idle_timeout: float = Field(default=30.0, gt=0)
    """Seconds a request body may go without a byte arriving; past it: 408, then close."""
    body_timeout: float = Field(default=300.0, gt=0)
    """Seconds to receive a whole body, from the end of its head; past it: 408, then close."""
    keep_alive_timeout: float = Field(default=5.0, gt=0)
    """Seconds an idle connection is kept for its next request (behind a load balancer, make it
    longer than the balancer's idle timeout, so that the balancer closes first)."""
    max_connections: int | None = Field(default=1000, ge=1)
    """Open connections (HTTP and WebSocket) the server serves; a connection opened past them has its
    request answered 503 and is closed. ``null``: no cap."""


class GatewaySettings(_Strict):
    """Settings of the gateway itself."""

    heartbeat_interval: float = Field(default=15.0, gt=0)
    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    gzip_min_bytes: int | None = Field(default=1024, ge=0)
    """Whole (non-streamed) answers at least this large are gzipped for clients that send
    ``Accept-Encoding: gzip``; ``null``: never. Streams are never compressed."""
    default_max_tokens: int = Field(default=4096, gt=0)
    tool_stream: ToolStreamMode = "passthrough"
    stream_downgrade: bool = False
    timeouts: TimeoutConfig = TimeoutConfig()
    websocket: WebSocketSettings = WebSocketSettings()
    socketio: SocketIOSettings = SocketIOSettings()
    graphql: GraphQLSettings = GraphQLSettings()
    edge: EdgeConfig = EdgeConfig()
    response_ttl: float = Field(default=30 * 24 * 3600.0, gt=0)
    """Seconds a stored Responses API answer (``store: true``) is kept for ``previous_response_id``
    and ``GET /v1/responses/{id}`` (OpenAI keeps them 30 days)."""


JwtAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
JWT_ALGORITHMS = cast("tuple[JwtAlgorithm, ...]", get_args(JwtAlgorithm))
"""The signature algorithms a JWT may use: asymmetric only, so a public key is never an HMAC secret."""


class JwtClaims(_Strict):
    """The names of the claims a JWT principal is read from."""

    subject: str = Field(default="sub", min_length=1)
    """Who the caller is: its limits, budgets and ledger rows are kept under ``jwt:<subject>``."""
    models: str = Field(default="cg_models", min_length=1)
    """Optional: the models (or ``*`` patterns) the caller may use, narrowing the configured routes."""
    limits: str = Field(default="cg_limits", min_length=1)
    """Optional: the caller's own rate limits and budget, capped by ``limits.per_key``."""
    rooms: str | None = Field(default=None, min_length=1)
    """Optional: the claim naming the caller's tenant; subjects of one tenant share rooms
    (``/v1/ws``, Socket.IO). Unset, or absent from a token: a subject's rooms are its own."""


class JwtConfig(_Strict):
    """JWTs from an identity provider, admitted beside gateway keys (``auth.jwt``)."""

    jwks_url: str | None = None
    """Where the provider publishes its signing keys (a JWK Set)."""
    public_key: str | None = None
    """Instead of ``jwks_url``: one PEM public key, certificate or JWK (``env:NAME`` / ``secret:NAME``)."""
    issuer: str = Field(min_length=1)
    """The ``iss`` every token must carry."""
    audience: str | list[str] = Field(min_length=1)
    """The ``aud`` a token must name (one of these)."""
    algorithms: list[JwtAlgorithm] = Field(default_factory=lambda: list(JWT_ALGORITHMS), min_length=1)
    """The algorithms accepted (a subset of the asymmetric ones; never taken from the token)."""
    leeway: float = Field(default=30.0, ge=0, le=300)
    """Seconds of clock skew allowed on ``exp`` and ``nbf``."""
    claims: JwtClaims = JwtClaims()
    jwks_timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds one fetch of the key set may take."""
    jwks_refetch_interval: float = Field(default=30.0, ge=0)
    """Fewest seconds between two fetches (an unknown ``kid`` refetches at most this often)."""
    jwks_max_age: float = Field(default=3600.0, gt=0)
    """Longest a fetched key set is used before it is fetched again (its ``Cache-Control: max-age``
    is honoured within ``[jwks_refetch_interval, jwks_max_age]``)."""
    token_cache: int = Field(default=10_000, ge=0)
    """Verified tokens remembered until they expire (0: verify every request)."""

    _check_refs = field_validator("public_key")(_check_secret_ref)

    _check_url = field_validator("jwks_url")(_check_http_url)

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        if (self.jwks_url is None) == (self.public_key is None):
            raise ValueError("set exactly one of 'jwks_url' and 'public_key'")
        return self


class AuthConfig(_Strict):
    """Gateway API keys: kept hashed in the database; with none issued the gateway runs open.

    Keys issued in the database are enforced even without this section; ``enforce: false`` is the
    explicit way to admit callers without a key (a caller presenting one still gets its limits).
    """

    enforce: bool = True
    """Once any key is issued, refuse callers without a valid one."""
    operations: Literal["key", "admin"] = "key"
    """Who may read ``/metrics``, ``/health/deployments`` and ``/v1/models`` while keys are
    enforced: any valid key, or only the admin key. ``/health`` and ``/ready`` stay open."""
    admin_key: str | None = None
    """Guards ``/admin/keys`` (``env:NAME`` / ``secret:NAME``); without it the admin API is off."""
    cache_seconds: float = Field(default=5.0, ge=0)
    """How long a looked-up key is trusted before the database is asked again (revocations made
    through this gateway's admin API apply at once)."""
    jwt: JwtConfig | None = None
    """Also admit callers presenting a JWT (docs/auth.md); callers then need a key or a token."""

    _check_refs = field_validator("admin_key")(_check_secret_ref)


class LimitSpec(_Strict):
    """Rate limits; an unset field means unlimited."""

    requests_per_minute: int | None = Field(default=None, ge=0)
    input_tokens_per_minute: int | None = Field(default=None, ge=0)
    output_tokens_per_minute: int | None = Field(default=None, ge=0)
    concurrent_requests: int | None = Field(default=None, ge=0)


class LimitsConfig(_Strict):
    """Rate limits for keys that set none of their own (and for callers of an open gateway)."""

    per_key: LimitSpec = LimitSpec()


class StorageConfig(_Strict):
    """Where keys and the usage ledger live, and where replicas share their counters."""

    database_url: str = "sqlite+aiosqlite:///claudegate.db"
    """SQLite (default, a file in the working directory) or ``postgresql+asyncpg://...``."""
    table_prefix: str = "cg_"
    redis_url: str | None = None
    """With it, rate limits and budgets are shared by every replica; without it they live in memory."""
    redis_prefix: str = "cg"
    redis_failure_policy: Literal["fail_open", "fail_closed"] = "fail_closed"
    """What admission answers while Redis cannot be reached."""


class ThreadsConfig(_Strict):
    """Message threads (``thread`` on ``/v1/messages``): kept by the gateway for upstreams without
    them, passed through to Anthropic upstreams. See docs/threads.md."""

    enabled: bool = True
    """Off: a request with ``thread`` is refused with ``thread_unsupported_request`` (clients then
    send whole conversations)."""
    ttl: float = Field(default=300.0, gt=0)
    """Seconds a thread lives after its last turn."""
    max_thread_bytes: int | None = Field(default=32 * 1024 * 1024, gt=0)
    """Bytes one thread may hold (system, tools and messages as JSON); a turn past it is refused."""
    max_key_bytes: int | None = Field(default=256 * 1024 * 1024, gt=0)
    """Bytes the live threads of one key (or of all callers of an open gateway) may hold."""
    anthropic: Literal["passthrough", "emulate"] = "passthrough"
    """Anthropic upstreams: hold their own threads (``passthrough``), or are sent whole
    conversations like any other upstream (``emulate``, for Anthropic-compatible servers without
    threads)."""
    database_url: str | None = None
    """Where the gateway keeps threads: default the ``storage`` database, else a database in memory."""


class JobsConfig(_Strict):
    """Asynchronous jobs (``/v1/jobs``, docs/jobs.md): where they are queued and how many run."""

    enabled: bool | None = None
    """Unset: the engine starts with the first ``/v1/jobs`` request, or at startup when unfinished
    jobs wait; ``true``: at startup (replicas sharing the work); ``false``: ``/v1/jobs`` is off."""
    backend: Literal["auto", "embedded", "pgqueuer"] = "auto"
    """``embedded``: the store's job table, this process runs the workers; ``pgqueuer``: PostgreSQL
    holds the record and PgQueuer shares the work among replicas; ``auto``: ``pgqueuer`` when
    ``storage.database_url`` is PostgreSQL."""
    workers: int = Field(default=64, ge=1)
    """Jobs one gateway process runs at once."""
    per_key: int | None = Field(default=16, ge=1)
    """Jobs of one key (or JWT subject) one gateway process runs at once (null: no limit)."""
    lease: float = Field(default=30.0, gt=0)
    """Seconds a worker's claim on a job lasts without a heartbeat; then another worker retries it."""
    heartbeat: float | None = Field(default=None, gt=0)
    """Seconds between a worker's lease renewals (default: a third of ``lease``)."""
    max_attempts: int = Field(default=5, ge=1)
    """Attempts (a lost lease counts as one) before a job fails with its last error."""
    backoff: float = Field(default=1.0, ge=0)
    """Seconds before the first retry; doubled at each attempt, up to ``backoff_max``."""
    backoff_max: float = Field(default=60.0, ge=0)
    poll: float = Field(default=1.0, gt=0)
    """Seconds between looks for due work when nothing announced any (embedded backend)."""


class BatchesConfig(_Strict):
    """Message Batches and the OpenAI Batch API (docs/batches.md): their limits."""

    max_requests: int = Field(default=100_000, ge=1)
    """Requests in one batch (the APIs' own limit: 100,000 for Message Batches, 50,000 for OpenAI's)."""
    max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Bytes of one ``POST /v1/messages/batches`` body."""
    max_file_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    """Bytes of one uploaded file (``POST /v1/files``)."""
    max_key_file_bytes: int | None = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    """Bytes of every file one key keeps (null: no limit)."""
    window: float = Field(default=24 * 3600.0, gt=0)
    """Seconds a batch may run; requests not run by then end ``expired``."""
    file_ttl: float = Field(default=30 * 24 * 3600.0, gt=0)
    """Seconds an uploaded or output file is kept."""


WEBHOOK_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""The Standard Webhooks retry schedule: seconds before each attempt, after the previous one."""


class WebhookSettings(_Strict):
    """Webhook deliveries (``webhooks``): signing, the SSRF guard, timeouts and the retry schedule.

    See docs/webhooks.md. A reload does not change them; they take effect at the next start."""

    secret: str | None = None
    """The gateway-wide ``whsec_…`` secret (``env:NAME`` / ``secret:NAME``): signs for keys and JWT
    subjects without their own secret, and for an open gateway."""
    allow_private: list[str] = Field(default_factory=list)
    """Networks (CIDRs) a webhook may reach despite the SSRF guard, e.g. ``["127.0.0.0/8"]``."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds one attempt may take, connecting and answering."""
    schedule: list[float] = Field(default_factory=lambda: list(WEBHOOK_SCHEDULE), min_length=1)
    """Seconds to wait before each attempt after the previous one (the first is the wait before
    the first attempt); past the last, delivery gives up."""
    schedule_scale: float = Field(default=1.0, ge=0)
    """Multiplies the schedule (tests compress it, e.g. 0.001)."""
    rotation_overlap: float = Field(default=24 * 3600.0, ge=0)
    """Seconds a key's previous secret keeps signing after a new one is created."""

    _check_refs = field_validator("secret")(_check_secret_ref)

    @field_validator("allow_private")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an address or network (CIDR, e.g. 127.0.0.0/8)") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("delays must not be negative")
        return value


class AccessLogConfig(_Strict):
    """The access log: one line per request on the ``claudegate.access`` logger."""

    enabled: bool = True
    level: Literal["debug", "info", "warning"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    """``auto``: readable lines on a terminal, JSON lines otherwise. Never any prompt or completion."""


class ObservabilityConfig(_Strict):
    """Traces (OpenTelemetry) and the access log (docs/observability.md)."""

    tracing: bool = True
    """Spans, when a tracer provider exists (``OTEL_EXPORTER_OTLP_ENDPOINT``, or the app's own)."""
    capture_content: bool = False
    """Prompts and completions as span attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``)."""
    access_log: AccessLogConfig = AccessLogConfig()


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: Any) -> Any:
    """A duration in seconds: a number, or a string with a unit (``500ms``, ``30s``, ``2m``, ``1h``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for unit in sorted(_DURATION_UNITS, key=len, reverse=True):
        number = text.removesuffix(unit)
        if number != text:
            try:
                return float(number) * _DURATION_UNITS[unit]
            except ValueError:
                break
    raise ValueError("must be a number of seconds, or a duration such as 500ms, 30s, 2m, 1h")


class PipelineBatchConfig(_Strict):
    """How a pipeline groups its low-priority runs (``batch`` on a pipeline; docs/events.md)."""

    size: int = Field(ge=1, le=10_000)
    """Runs in one group at most: a group is sent as soon as this many wait."""
    wait: float = Field(gt=0)
    """Seconds (or ``30s``, ``2m``) the oldest waiting run waits before its group is sent anyway."""

    @field_validator("wait", mode="before")
    @classmethod
    def _wait_duration(cls, value: Any) -> Any:
        return _seconds(value)


class StreamWindowConfig(_Strict):
    """Where a ``stream.window`` pipeline's windows of a stream's text end (``window``)."""

    chars: int | None = Field(default=None, ge=1, le=1_000_000)
    """A window ends every this many characters (with ``sentences``: at the latest)."""
    sentences: bool = False
    """A window ends at each sentence end (``.``, ``!``, ``?`` or ``…`` then a space or a line end)."""

    @model_validator(mode="after")
    def _one_boundary(self) -> StreamWindowConfig:
        if self.chars is None and not self.sentences:
            raise ValueError("give chars, sentences: true, or both")
        return self


class StreamFilterConfig(_Strict):
    """Which streams a stream pipeline observes (``streams``): every one by default."""

    models: list[str] = []
    """Requested model names (globs); empty: any."""
    keys: list[str] = []
    """Gateway key ids (``key_…``, never the secret); empty: any caller."""


class PipelineConfig(_Strict):
    """One event pipeline (docs/events.md): the events it takes and the model run each becomes."""

    on: list[str] = Field(min_length=1)
    """Event types it takes; ``*`` and ``?`` globs match within the whole type."""
    name: str | None = Field(default=None, min_length=1, max_length=200)
    """Default: the ``on`` patterns joined with ``,``."""
    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    """A Jinja2 template rendered in a sandbox with ``event``, ``type``, ``id`` and ``payload``."""
    system: str | None = None
    tools: list[str] = []
    """Tool names, each found in one of ``events.tool_modules``."""
    priority: Literal["high", "medium", "low"] = "medium"
    concurrency: int = Field(default=8, ge=1)
    emit: str | None = Field(default=None, min_length=1)
    """The result event's type (default: ``<event type>.processed``)."""
    webhook: str | None = None
    """Where each run's end is sent, signed with ``webhooks.secret`` (as a job's webhook)."""
    room: str | None = Field(default=None, min_length=1, max_length=200)
    """The ``/v1/ws`` room of the publishing key that result events are published to."""
    max_tokens: int = Field(default=1024, ge=1)
    max_iterations: int = Field(default=10, ge=1)
    """Model requests of one run (each tool round is one) before it ends as it is."""
    batch: PipelineBatchConfig | None = None
    """Group its low-priority runs: ``{size: 50, wait: 30s}`` (docs/events.md, "Batching")."""
    window: StreamWindowConfig | None = None
    """For ``on: stream.window``: where windows end (default: every 1,000 characters)."""
    streams: StreamFilterConfig | None = None
    """For ``on: stream.window`` / ``stream.completed``: which streams it observes."""

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as ``true``: it is this pipeline's ``on``."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    _check_webhook = field_validator("webhook")(_check_http_url)

    @field_validator("prompt", "system")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        if value is not None:
            from jinja2 import TemplateSyntaxError
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            try:
                ImmutableSandboxedEnvironment().parse(value)
            except TemplateSyntaxError as exc:
                raise ValueError(f"not a valid template: {exc.message} (line {exc.lineno})") from None
        return value

    @property
    def label(self) -> str:
        return self.name or ",".join(self.on)


class NatsIngressConfig(_Strict):
    """Events consumed from a NATS JetStream stream (docs/events.md): each message acknowledged
    once its event is durably accepted."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    """The subject (wildcards allowed) consumed; a message without a ``type`` takes its subject."""
    durable: str = Field(default="claudegate-events", min_length=1)
    """The durable consumer shared by every replica."""
    key: str | None = None
    """The id of the gateway key the events run as (without one, nobody in particular: refused,
    and the messages left unacknowledged, once the gateway enforces keys)."""
    batch: int = Field(default=100, ge=1, le=1000)
    ack_wait: float = Field(default=30.0, gt=0)
    """Seconds before a message fetched but not acknowledged (its gateway died) is delivered again."""
    emit_prefix: str | None = Field(default=None, min_length=1)
    """Publish every result event to JetStream as ``<emit_prefix>.<result type>`` (its id as
    ``Nats-Msg-Id``, so the stream keeps one copy); a stream must capture those subjects."""

    @field_validator("url")
    @classmethod
    def _check_nats_url(cls, value: str) -> str:
        if not value.startswith(("nats://", "tls://")):
            raise ValueError("must be a nats:// or tls:// URL")
        return value


class StreamObserversConfig(_Strict):
    """How stream observers (``stream.window`` / ``stream.completed`` pipelines) are fed."""

    queue: int = Field(default=1000, ge=1)
    """Stream events waiting to be published at most; beyond, new ones are dropped and counted
    (``claudegate_stream_windows_dropped_total``), never waited for."""
    max_chars: int = Field(default=200_000, ge=1)
    """Characters of a stream's text kept for ``stream.completed`` (beyond: cut, ``truncated``)."""


class EventsConfig(_Strict):
    """Event pipelines (``/v1/events``, docs/events.md)."""

    nats: NatsIngressConfig | None = None
    tool_modules: list[str] = []
    """Modules whose module-level tools (``@tool``) pipelines may use; no other module is imported."""
    pipelines: list[PipelineConfig] = []
    streams: StreamObserversConfig = StreamObserversConfig()

    @model_validator(mode="after")
    def _unique_pipelines(self) -> EventsConfig:
        seen: set[str] = set()
        for pipeline in self.pipelines:
            if pipeline.label in seen:
                raise ValueError(f"pipeline {pipeline.label!r} is configured twice (give each a name)")
            seen.add(pipeline.label)
        return self


class GatewayConfig(_Strict):
    """The whole configuration."""

    gateway: GatewaySettings = GatewaySettings()
    models: list[RouteConfig] = Field(min_length=1)
    auth: AuthConfig | None = None
    limits: LimitsConfig | None = None
    storage: StorageConfig | None = None
    threads: ThreadsConfig = ThreadsConfig()
    jobs: JobsConfig = JobsConfig()
    batches: BatchesConfig = BatchesConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    webhooks: WebhookSettings = WebhookSettings()
    observability: ObservabilityConfig = ObservabilityConfig()
    events: EventsConfig = EventsConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        seen: set[str] = set()
        for route in self.models:
            if route.name in seen:
                raise ValueError(f"model {route.name!r} is configured twice")
            seen.add(route.name)
        return self


def default_config() -> GatewayConfig:
    """Every model name served by the in-process simulator."""
    return GatewayConfig(models=[RouteConfig(name="*", deployments=[DeploymentConfig(provider="simulator")])])


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in (
            "anthropic",
            "openai",
            "salesforce",
            "simulator",
            "function-after[_check_provider_fields()]",
        ):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def parse_config(data: Any, source: str = "config") -> GatewayConfig:
    """Validate a decoded configuration, as ``ConfigError`` naming the first bad key."""
    try:
        return GatewayConfig.model_validate(data if data is not None else {})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{_location(tuple(error['loc']))}: {message}")
        first = lines[0].split(":", 1)[0]
        raise ConfigError(f"{source}: " + "; ".join(lines), field=first) from None


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a YAML configuration file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    return parse_config(data, str(file))


def resolve_secret(reference: str, field: str) -> ApiKey:
    """The secret an ``env:NAME`` or ``secret:NAME`` reference points at (``ConfigError`` if unset)."""
    value = resolve_text(reference, field)
    try:
        return ApiKey(value.strip())
    except UserError as exc:
        raise ConfigError(f"{field}: {exc.message}", field=field) from None


def resolve_text(reference: str, field: str) -> str:
    """The text an ``env:NAME`` or ``secret:NAME`` reference points at, as it is (a PEM key spans
    lines); ``ConfigError`` if unset."""
    kind, _, name = reference.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{field}: environment variable {name} is not set", field=field)
    else:
        secrets_file = find_secrets_file(Path.cwd())
        values = load_secrets_file(secrets_file) if secrets_file is not None else {}
        value = values.get(name)
        if not value:
            where = str(secrets_file) if secrets_file else "secret/-secrets.sh (not found)"
            raise ConfigError(f"{field}: {name} is not in the secrets file {where}", field=field)
    return value
