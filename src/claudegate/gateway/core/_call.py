"""What a surface hands the core (a ``Call``) and what the core reports back (its ``Outcome``).

A call is transport-free: the caller's principal, the client dialect, the canonical (Anthropic
Messages) request and the per-call options. The core fills the call's ``outcome`` as it goes, so a
surface can read the model, deployment, attempts, usage, cost and upstream latency even when the
call raised.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from claudegate.gateway._config import ToolStreamMode

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from claudegate.gateway.core._chat_passthrough import ChatRequest
    from claudegate.gateway.core._errors import GatewayError
    from claudegate.store import ApiKey, KeyBudget, KeyLimits

__all__ = ["ANONYMOUS", "Call", "Dialect", "Outcome", "Principal", "new_request_id", "subject_owner"]

Dialect = Literal["anthropic", "openai", "websocket", "socketio", "graphql"]

ANONYMOUS = "anonymous"
"""The counter owner of callers of an open gateway."""


def new_request_id() -> str:
    """A fresh ``req_…`` id (24 random hex digits)."""
    return "req_" + os.urandom(12).hex()


def subject_owner(subject: str) -> str:
    """The owner id of a JWT subject: ``jwt:<subject>``, 40 characters at most (the ledger's
    ``key_id``); a longer subject keeps its first 19 characters and a digest of the whole."""
    return _bounded("jwt:", subject)


def _bounded(prefix: str, name: str) -> str:
    whole = prefix + name
    if len(whole) <= 40:
        return whole
    kept = 40 - len(prefix) - 17
    return f"{prefix}{name[:kept]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a gateway key, a verified JWT subject, or nobody in particular on an open
    gateway.

    ``credential_digest`` (a SHA-256 of what the caller presented, never the credential) keeps a
    caller on one deployment under the ``sticky`` strategy. A JWT principal's ``models``,
    ``limits`` and ``budget`` come from its token's claims (a key's own are on ``key``).
    """

    key: ApiKey | None = None
    credential_digest: str | None = None
    subject: str | None = None
    """The verified JWT subject (``auth.jwt``)."""
    models: tuple[str, ...] | None = None
    """The models (``*`` patterns allowed) the token narrows the caller to; None: not narrowed."""
    limits: KeyLimits | None = None
    """The token's own rate limits (capped by the configured ones where they apply)."""
    budget: KeyBudget | None = None
    """The token's own spend caps."""
    tenant: str | None = None
    """The tenant whose rooms a JWT principal shares (the ``auth.jwt.claims.rooms`` claim)."""
    account: str | None = field(default=None, init=False)
    """The id its limits, budgets and ledger rows are kept under; None for an anonymous caller."""

    def __post_init__(self) -> None:
        if self.key is not None:
            account: str | None = self.key.id
        else:
            account = subject_owner(self.subject) if self.subject is not None else None
        object.__setattr__(self, "account", account)

    @property
    def owner(self) -> str:
        """The id its limits, budgets and ledger rows are kept under."""
        return self.account if self.account is not None else ANONYMOUS

    @property
    def room_owner(self) -> str:
        """Whose rooms it joins: its tenant's (``tenant:<name>``, shared by every subject of the
        tenant) or else its own (the owner)."""
        if self.tenant is None:
            return self.owner
        return _bounded("tenant:", self.tenant)

    @property
    def authenticated(self) -> bool:
        """Whether the caller presented a valid key or token."""
        return self.account is not None

    @property
    def kind(self) -> str:
        """What the caller authenticated with, as error messages name it."""
        return "token" if self.subject is not None and self.key is None else "API key"

    def may_use(self, model: str) -> bool:
        if self.key is not None and not self.key.allows_model(model):
            return False
        allowed = self.models
        return allowed is None or any(
            model == pattern or fnmatch.fnmatchcase(model, pattern) for pattern in allowed
        )

    def __repr__(self) -> str:
        return f"Principal(owner={self.owner!r})"


@dataclass(slots=True)
class Outcome:
    """How a call went. ``status`` is the HTTP status the call amounts to (499: the client left)."""

    model: str = ""
    model_label: str = ""
    """The model as the metrics name it: bounded, so client-chosen names fold into ``other``."""
    deployment: str = ""
    provider: str = ""
    """The answering deployment's ``gen_ai.provider.name`` (the last one tried when none answered)."""
    response_model: str = ""
    """The model the upstream says answered (when it says)."""
    attempts: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    upstream_latency: float | None = None
    """Seconds from sending upstream to the upstream's response headers (the answering attempt)."""
    status: int = 200
    error: GatewayError | None = None
    stop_reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Headers for the answer: rate-limit state in the caller's dialect and the cost."""
    settled: bool = False


@dataclass(slots=True)
class Call:
    """One model request as the core runs it.

    ``request`` is canonical; ``raw`` the client's exact bytes when they may be forwarded unchanged
    to an Anthropic upstream; ``size`` the client's body size (the input-token estimate at
    admission); ``headers`` the client headers upstreams may see (``anthropic-version``,
    ``anthropic-beta``, the simulator's fault headers, W3C trace context).
    """

    principal: Principal
    dialect: Dialect
    request: dict[str, Any]
    stream: bool = False
    raw: bytes | None = None
    size: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    request_id: str = field(default_factory=new_request_id)
    session: str | None = None
    """A session id for the ``sticky`` strategy (``metadata.user_id`` is used when absent)."""
    tool_stream: ToolStreamMode | None = None
    """Overrides the route's tool-stream mode for this call."""
    metered: bool = True
    """Counted against the caller's limits and budget (``count_tokens`` has its own)."""
    ledger: bool = True
    """Its ledger row written at settlement; a job writes it itself, with the job's end."""
    embeddings: bool = False
    """An embeddings request: ``request`` is OpenAI's embeddings body, and the model name resolves
    to embedding models first (the local model under ``local``)."""
    serves: str | None = None
    """The request id of the call this one is made for (a route's retrieval embedding its query):
    that call's caller was admitted and the route chose this model, so neither the model
    permission nor the caller's limits are checked again; its ledger row is still written."""
    chat: ChatRequest | None = None
    """An OpenAI client's own request, for OpenAI-speaking deployments to be sent as it is (then
    ``request`` is its canonical translation, or a stand-in when ``chat.untranslatable``)."""
    started: float = field(default_factory=time.perf_counter)
    outcome: Outcome = field(default_factory=Outcome)
    span: Span | None = None
    """The call's trace span while it runs (None when tracing is off)."""
    access: tuple[str, str] | None = None
    """The method and route of the access-log line the core writes when the call settles, set by
    surfaces that make calls over a connection (WebSocket, Socket.IO, GraphQL). None: an HTTP
    request's own line covers the call (or, for a job's call, no line is written)."""
    first_byte: float | None = None
    """Seconds from ``started`` to the first event a streaming surface sent (the line's ``ttfb_ms``)."""

    @property
    def model(self) -> str:
        model = self.request.get("model")
        return model if isinstance(model, str) else ""

    def sticky_key(self) -> str | None:
        """What keeps this caller on one deployment: its user or session, else its credential."""
        metadata = self.request.get("metadata")
        user = metadata.get("user_id") if isinstance(metadata, dict) else None
        if isinstance(user, str) and user:
            return "user:" + user
        if self.session:
            return "session:" + self.session
        digest = self.principal.credential_digest
        return "key:" + digest if digest else None
