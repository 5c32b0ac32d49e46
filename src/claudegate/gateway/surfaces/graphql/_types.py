"""The GraphQL object types: what the queries, mutations and subscriptions answer."""

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

__all__ = [
    "ApiKeyInfo",
    "Budget",
    "Connection",
    "CreatedKey",
    "Deployment",
    "Edge",
    "Limits",
    "Me",
    "Message",
    "MessageEvent",
    "Model",
    "PageInfo",
    "RoomMessage",
    "Usage",
    "UsageBucket",
    "UsageGroupBy",
    "UsageRow",
    "as_json",
    "connection",
]

Node = TypeVar("Node")
Item = TypeVar("Item")


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    cursor: str
    node: Node


@strawberry.type(description="A page of items; pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo

    @strawberry.field(description="The page's items (the edges' nodes).")
    def nodes(self) -> list[Node]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A model a caller can name.")
class Model:
    id: str
    display_name: str
    created_at: str


@strawberry.type(description="Per-minute rate limits (null: unlimited).")
class Limits:
    requests_per_minute: int | None
    input_tokens_per_minute: int | None
    output_tokens_per_minute: int | None
    concurrent_requests: int | None


@strawberry.type(description="Spend caps in US dollars and what is left of them (null: uncapped).")
class Budget:
    cost_per_day: float | None
    cost_per_month: float | None
    spent_today: float
    spent_this_month: float
    left_today: float | None
    left_this_month: float | None


@strawberry.type(description="The caller: its key (or token subject), limits and budget.")
class Me:
    id: str | None
    kind: str = strawberry.field(description="`key`, `token` or `anonymous` (an open gateway).")
    name: str | None
    prefix: str | None
    models: list[str] | None = strawberry.field(description="The models it may use (null: any).")
    limits: Limits
    budget: Budget


@strawberry.type(description="A gateway key's metadata (never its secret).")
class ApiKeyInfo:
    id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    allowed_models: list[str]
    limits: Limits
    budget: Budget


@strawberry.type(description="A key just issued: `secret` is shown this once.")
class CreatedKey:
    key: ApiKeyInfo
    secret: str


@strawberry.type(description="Token counts of one answer (Anthropic's usage object).")
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


@strawberry.type(description="An answer to `createMessage`.")
class Message:
    id: str
    model: str
    role: str
    text: str = strawberry.field(description="The concatenated text blocks.")
    content: JSON = strawberry.field(description="The content blocks as Anthropic sends them.")
    stop_reason: str | None
    stop_sequence: str | None
    usage: Usage
    cost_usd: float
    request_id: str


@strawberry.type(description="One event of a streamed answer; `event` is the Anthropic stream event.")
class MessageEvent:
    type: str
    index: int | None = None
    event: JSON
    text: str | None = strawberry.field(default=None, description="A text delta's text.")
    thinking: str | None = strawberry.field(default=None, description="A thinking delta's text.")
    signature: str | None = strawberry.field(default=None, description="A thinking block's signature.")
    partial_json: str | None = strawberry.field(
        default=None, description="A piece of a tool call's arguments, as it streams."
    )
    tool_use_id: str | None = strawberry.field(
        default=None, description="A tool call's id (its start, stop)."
    )
    tool_name: str | None = strawberry.field(
        default=None, description="A tool call's name (its start, stop)."
    )
    tool_input: JSON | None = strawberry.field(
        default=None, description="A tool call's whole arguments, on its `content_block_stop`."
    )
    usage: Usage | None = strawberry.field(default=None, description="On `message_start`, `message_delta`.")
    stop_reason: str | None = strawberry.field(default=None, description="On `message_delta`.")
    follows: strawberry.Private[bool] = False
    """Whether more events of the same upstream read follow (a transport may send them together)."""


@strawberry.enum(description="What usage is grouped by.")
class UsageGroupBy(Enum):
    KEY = "key"
    MODEL = "model"
    DEPLOYMENT = "deployment"
    DAY = "day"
    HOUR = "hour"


@strawberry.type(description="Usage totals of one group (dimensions not grouped by are null).")
class UsageBucket:
    key: str | None
    model: str | None
    deployment: str | None
    day: str | None = strawberry.field(description="UTC day, 2025-01-31.")
    hour: str | None = strawberry.field(description="UTC hour, 2025-01-31T13:00Z.")
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cost_usd: float


@strawberry.type(description="One ledger row.")
class UsageRow:
    request_id: str
    model: str
    deployment: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    status: int
    time: datetime


@strawberry.type(description="An upstream deployment's health.")
class Deployment:
    name: str
    state: str
    breaker_state: str | None
    calls: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    breaker: JSON | None
    latency: JSON


@strawberry.type(description="One event of a room (what `/v1/ws` members of the room receive).")
class RoomMessage:
    id: str
    room: str
    type: str
    stream_id: str | None
    data: JSON = strawberry.field(description="The room message as `/v1/ws` sends it.")


def as_json(value: Any) -> JSON:
    """``value`` as the JSON scalar carries it (any JSON value)."""
    return cast(JSON, value)


def connection(
    items: Sequence[Item], first: int, cursor: Callable[[Item], str], node: Callable[[Item], Node]
) -> Connection[Node]:
    """A page of ``items`` (fetched ``first + 1`` long, so that the extra one tells a next page)."""
    page = list(items[:first])
    edges = [Edge(cursor=cursor(item), node=node(item)) for item in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(items) > first, end_cursor=edges[-1].cursor if edges else None),
    )
