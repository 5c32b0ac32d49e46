"""The GraphQL input types and the requests they become (checked here, each error naming its field)."""

from typing import Any

import strawberry
from strawberry.scalars import JSON

from claudegate.gateway.core import GatewayError

__all__ = ["BudgetInput", "JobInput", "KeyInput", "LimitsInput", "MessageInput", "MessageParam", "request_of"]

_MAX_PAGE = 100


@strawberry.input(description="One turn: `content` is a string or a list of Anthropic content blocks.")
class MessageParam:
    role: str
    content: JSON


@strawberry.input(description="A Messages request (Anthropic's fields, camel-cased).")
class MessageInput:
    model: str
    max_tokens: int
    messages: list[MessageParam]
    system: JSON | None = strawberry.field(default=None, description="A string or text blocks.")
    tools: JSON | None = None
    tool_choice: JSON | None = None
    thinking: JSON | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    metadata: JSON | None = None


@strawberry.input(description="A job: a Messages request run later, through the same limits and ledger.")
class JobInput:
    request: MessageInput
    priority: str = strawberry.field(default="medium", description="`high`, `medium` or `low`.")
    metadata: JSON | None = None


@strawberry.input
class LimitsInput:
    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    concurrent_requests: int | None = None


@strawberry.input
class BudgetInput:
    cost_per_day: float | None = None
    cost_per_month: float | None = None


@strawberry.input(description="A key to issue (admin key only).")
class KeyInput:
    name: str
    allowed_models: list[str] | None = None
    limits: LimitsInput | None = None
    budget: BudgetInput | None = None


def bad_input(message: str, field: str) -> GatewayError:
    """A 400 naming ``field`` (BAD_USER_INPUT with that field)."""
    return GatewayError(400, "invalid_request_error", f"{field}: {message}", field)


def page_size(first: int) -> int:
    if not 1 <= first <= _MAX_PAGE:
        raise bad_input(f"must be between 1 and {_MAX_PAGE}", "first")
    return first


_OPTIONAL = (
    ("system", "system"),
    ("tools", "tools"),
    ("tool_choice", "tool_choice"),
    ("thinking", "thinking"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("stop_sequences", "stop_sequences"),
    ("metadata", "metadata"),
)
_CAMEL = {"tool_choice": "toolChoice", "top_p": "topP", "top_k": "topK", "stop_sequences": "stopSequences"}


def request_of(value: MessageInput, where: str = "input") -> dict[str, Any]:
    """The canonical (Anthropic Messages) request of ``value``; a 400 naming the bad field."""
    if not value.model.strip():
        raise bad_input("a model name is required", f"{where}.model")
    if value.max_tokens < 1:
        raise bad_input("must be at least 1", f"{where}.maxTokens")
    if not value.messages:
        raise bad_input("at least one message is required", f"{where}.messages")
    messages = []
    for number, message in enumerate(value.messages):
        if message.role not in ("user", "assistant"):
            raise bad_input("must be 'user' or 'assistant'", f"{where}.messages[{number}].role")
        content = message.content
        if not isinstance(content, str | list) or (isinstance(content, list) and not content):
            raise bad_input(
                "must be a string or a non-empty list of content blocks",
                f"{where}.messages[{number}].content",
            )
        messages.append({"role": message.role, "content": content})
    request: dict[str, Any] = {"model": value.model, "max_tokens": value.max_tokens, "messages": messages}
    for attribute, name in _OPTIONAL:
        given = getattr(value, attribute)
        if given is not None:
            request[name] = given
    for name, kind in (("tools", list), ("tool_choice", dict), ("thinking", dict), ("metadata", dict)):
        if name in request and not isinstance(request[name], kind):
            what = "a list" if kind is list else "an object"
            raise bad_input(f"must be {what}", f"{where}.{_CAMEL.get(name, name)}")
    return request
