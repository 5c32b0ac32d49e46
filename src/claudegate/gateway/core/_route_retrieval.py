"""A route that answers from a collection (``retrieval`` on a route): the step between admission
and the upstream attempts, so every surface's calls get it.

``context`` mode: the collection is searched with the text of the last user message, and the
passages (best first, within ``max_tokens``) go into that message, before its own content, as
``search_result`` blocks with citations on. An Anthropic upstream (and the simulator) then cites
them on the answer's text blocks (``search_result_location``); an OpenAI-compatible or
Salesforce upstream reads them as text naming their sources. The answer's header
``x-claudegate-retrieved`` says how many passages went in. A request whose last user message has
no text (only tool results, say) gets none.

``tool`` mode: the model is offered ``search_<collection>``; the gateway runs each search it asks
for (its tool result: the passages as ``search_result`` blocks, so the answer can cite them) and
calls the model again, until it answers without searching (after ``max_searches`` searches it is
told to answer). The client sees only the final answer, with the usage of every upstream call
summed; a streamed request gets that answer replayed as a stream once it is whole.

Either way, the citations of earlier answers the client sends back are taken off (they point at
passages of earlier requests), and a rewritten request no longer goes upstream as its exact
bytes: an OpenAI client's goes to OpenAI-compatible upstreams as its translation. A collection
that does not exist is a 404 naming the route and the collection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claudegate.gateway._config import RouteRetrieval
from claudegate.gateway.core._attempts import Held, Upstream, call_deployments
from claudegate.gateway.core._call import Call
from claudegate.gateway.core._errors import GatewayError, shown
from claudegate.gateway.core._router import Route
from claudegate.gateway.core._threads import thread_unsupported
from claudegate.providers import ProviderResponse
from claudegate.retrieval import RetrievalError, UnknownCollection, fit_to_budget, search_result_block

if TYPE_CHECKING:
    from claudegate.gateway.core._core import GatewayCore

__all__ = ["RETRIEVED_HEADER", "augment", "search_loop"]

RETRIEVED_HEADER = "x-claudegate-retrieved"
"""How many passages a ``context`` route put into the request (searches, in ``tool`` mode)."""

_NO_RETRY = {"x-should-retry": "false"}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        block["text"]
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _last_user(messages: Any) -> int | None:
    if not isinstance(messages, list):
        return None
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if isinstance(message, dict) and message.get("role") == "user":
            return position
    return None


def _rewritten(call: Call) -> None:
    """The canonical request is about to change: the client's own bytes can no longer be sent."""
    call.raw = None
    chat = call.chat
    if chat is not None:
        if chat.untranslatable is not None:  # the route needs a translation this request cannot have
            raise chat.untranslatable
        call.chat = None


async def search(core: GatewayCore, call: Call, spec: RouteRetrieval, query: str) -> list[dict[str, Any]]:
    """The passages of ``spec.collection`` for ``query``, as ``search_result`` blocks."""
    retriever = await core.retrieval.retriever(call.principal, call.headers, serves=call)
    try:
        hits = await retriever.search(
            spec.collection, query, top_k=spec.top_k, filter=spec.filter, min_score=spec.min_score
        )
    except UnknownCollection:
        raise GatewayError(
            404,
            "not_found_error",
            f"model {shown(call.model)!r} answers from collection {spec.collection!r}, which does not "
            "exist: create it (POST /v1/collections) and add documents",
            "model",
            headers=_NO_RETRY,
        ) from None
    except RetrievalError as exc:  # the collection and the route's settings disagree
        raise GatewayError(
            500,
            "api_error",
            f"model {shown(call.model)!r} could not search collection {spec.collection!r}: {exc}",
            headers=_NO_RETRY,
        ) from None
    return [search_result_block(passage) for passage in fit_to_budget(hits, spec.max_tokens)]


def _without_citations(messages: list[Any]) -> tuple[list[Any], bool]:
    """The messages with the citations of earlier answers taken off (and whether there were any):
    they point at passages of earlier requests, which this one does not carry."""
    out: list[Any] = []
    changed = False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if (
            isinstance(content, list)
            and message.get("role") == "assistant"
            and any(isinstance(block, dict) and "citations" in block for block in content)
        ):
            kept = [
                {k: v for k, v in block.items() if k != "citations"} if isinstance(block, dict) else block
                for block in content
            ]
            message = {**message, "content": kept}
            changed = True
        out.append(message)
    return out, changed


async def augment(core: GatewayCore, call: Call, spec: RouteRetrieval) -> None:
    """``context`` mode (see the module docstring): the passages into the last user message."""
    messages = call.request.get("messages")
    position = _last_user(messages)
    if position is None:
        return
    assert isinstance(messages, list)
    message = messages[position]
    query = _text_of(message.get("content")).strip()
    blocks: list[dict[str, Any]] = []
    if query:
        blocks = await search(core, call, spec, query)
        call.outcome.headers.append((RETRIEVED_HEADER, str(len(blocks))))
    history, cited_before = _without_citations(messages)
    if not blocks and not cited_before:
        return
    _rewritten(call)
    if blocks:
        content = message["content"]
        if isinstance(content, str):
            content = [*blocks, {"type": "text", "text": content}]
        else:  # after the tool results, which must lead a user message
            lead = next(
                (i for i, block in enumerate(content) if block.get("type") != "tool_result"), len(content)
            )
            content = [*content[:lead], *blocks, *content[lead:]]
        history[position] = {**message, "content": content}
        call.size += sum(len(block["content"][0]["text"]) for block in blocks)
    call.request = {**call.request, "messages": history}


def _search_tool(spec: RouteRetrieval) -> dict[str, Any]:
    return {
        "name": spec.tool_name,
        "description": (
            f"Search the {spec.collection!r} document collection for passages relevant to a question; "
            "returns the passages with their sources. Use it before answering questions about those "
            "documents, and rest the answer on what it returns."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in plain words."},
            },
            "required": ["query"],
        },
    }


def _add_usage(total: dict[str, Any], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    for key, value in usage.items():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            inner = total.setdefault(key, {})
            if isinstance(inner, dict):
                _add_usage(inner, value)
        else:
            total[key] = value


async def _tool_result(
    core: GatewayCore, call: Call, spec: RouteRetrieval, block: dict[str, Any]
) -> dict[str, Any]:
    query = block.get("input", {}).get("query") if isinstance(block.get("input"), dict) else None
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.get("id", "")}
    if not isinstance(query, str) or not query.strip():
        return {**result, "content": "query: say what to look for, in plain words", "is_error": True}
    found = await search(core, call, spec, query)
    return {**result, "content": found or f"Nothing in {spec.collection!r} matches {query!r}."}


def check_tool_request(call: Call, spec: RouteRetrieval) -> None:
    """Refuse what ``tool`` mode cannot serve: a ``thread`` (``thread_unsupported_request``, on
    which the SDK's tool runner goes on without one), or a tool of the search tool's name."""
    if "thread" in call.request:
        raise thread_unsupported(
            f"thread: model {shown(call.model)!r} runs a search loop, which threads cannot hold; "
            "send the whole conversation without `thread`"
        )
    tools = call.request.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, dict) and t.get("name") == spec.tool_name for t in tools
    ):
        raise GatewayError(
            400,
            "invalid_request_error",
            f"tools: {spec.tool_name!r} is the name of the search tool model {shown(call.model)!r} runs "
            "itself; rename yours",
            "tools",
        )


async def search_loop(
    core: GatewayCore,
    call: Call,
    route: Route,
    spec: RouteRetrieval,
    upstream: Upstream[ProviderResponse],
    estimate: tuple[int, int],
) -> tuple[ProviderResponse, Held | None]:
    """``tool`` mode (see the module docstring): the final answer, its usage summed over the
    loop, and the deployment limits its last upstream call holds."""
    check_tool_request(call, spec)
    _rewritten(call)
    tools = [*(call.request.get("tools") or []), _search_tool(spec)]
    history, _ = _without_citations(call.request.get("messages") or [])
    body: dict[str, Any] = {**call.request, "messages": history, "tools": tools, "stream": False}
    usage: dict[str, Any] = {}
    searches = 0
    while True:
        if searches >= spec.max_searches:
            body["tool_choice"] = {"type": "none"}
        response, held = await call_deployments(call, route, upstream, estimate, body, tracing=core.tracing)
        message = response.message
        _add_usage(usage, message.get("usage"))
        content = message.get("content") or []
        ours = [b for b in content if b.get("type") == "tool_use" and b.get("name") == spec.tool_name]
        theirs = any(b.get("type") == "tool_use" and b.get("name") != spec.tool_name for b in content)
        if not ours or theirs or message.get("stop_reason") != "tool_use":
            # The answer, or the client's own tools to run: the search calls are not the client's.
            kept = [b for b in content if b not in ours]
            return ProviderResponse(message={**message, "content": kept, "usage": usage}), held
        if held is not None:  # the next upstream call holds its own
            await held.settle(message.get("usage") or {})
        results = [await _tool_result(core, call, spec, block) for block in ours]
        searches += len(ours)
        call.outcome.headers = [(n, v) for n, v in call.outcome.headers if n != RETRIEVED_HEADER]
        call.outcome.headers.append((RETRIEVED_HEADER, str(searches)))
        body["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": content},
            {"role": "user", "content": results},
        ]
