"""Routes with ``retrieval``: plain clients (the official ``anthropic`` and ``openai`` SDKs, with no
tools of their own) get answers from a collection, with citations pointing at the indexed
documents, over a real socket; JSON and streams; the search loop of ``mode: tool``; refusals in
the caller's dialect; a route without retrieval unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic.types import CitationsSearchResultLocation, Message
from anthropic.types.beta import BetaCitationSearchResultLocation
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from websockets.asyncio.client import connect

from claudegate.providers import ProviderRequest, ProviderResponse
from claudegate.providers.simulator import SimulatorProvider
from claudegate.simulator import create_app as create_simulator
from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from claudegate.translate import validate_chat_sse
from claudegate.translate.threads import THREADS_BETA
from tests.gateway import _wire
from tests.gateway._ledger import rows
from tests.gateway._ws import events, open_session, stream, ws_url
from tests.gateway.conftest import Live, serve, simulator_route

ADMIN = "admin-secret-for-tests-0123456789"
DOCS: list[dict[str, Any]] = [
    {
        "id": "budgets.md",
        "text": "A key's budget caps its spending per day and per month. Past the cap, calls are refused.",
        "metadata": {"title": "Budgets"},
    },
    {"id": "websocket.md", "text": "The WebSocket API runs many streams on one connection."},
    {
        "id": "webhooks.md",
        "text": "Webhooks are signed with the key's secret; receivers verify the signature.",
    },
]
QUESTION = "How does a budget cap the spending of a key?"
ASK: Any = [{"role": "user", "content": QUESTION}]
UPSTREAM_MODEL = "claude-sonnet-4-5"


def route(name: str, **retrieval: Any) -> dict[str, Any]:
    deployment = {"provider": "simulator", "model": UPSTREAM_MODEL}
    return {"name": name, "deployments": [deployment], "retrieval": {"collection": "docs", **retrieval}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    store = tmp_path_factory.mktemp("route-retrieval") / "rag.db"
    with LiveServer(create_simulator()) as upstream:
        openai_upstream = {
            "provider": "openai",
            "base_url": upstream.base_url + "/v1",
            "model": UPSTREAM_MODEL,
        }
        config = {
            "models": [
                route("docs-assistant", top_k=2),
                route("docs-tool", mode="tool", top_k=2),
                route("docs-missing", collection="nowhere"),
                {**route("docs-openai", top_k=1), "deployments": [openai_upstream]},
                {**route("docs-openai-tool", mode="tool", top_k=1), "deployments": [openai_upstream]},
                simulator_route("*"),
            ],
            "retrieval": {"path": str(store)},
        }
        with serve(config) as gateway:
            assert _wire.call(gateway.base_url, "POST", "/v1/collections", {"name": "docs"}).status == 200
            added = _wire.call(
                gateway.base_url, "POST", "/v1/collections/docs/documents", {"documents": DOCS}
            )
            assert added.status == 200
            yield gateway


@pytest.fixture(scope="module")
def claude(live: Live) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=live.base_url, api_key="sk-ant-client", max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def gpt(live: Live) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live.base_url + "/v1", api_key="sk-client", max_retries=0) as client:
        yield client


def citations(message: Message) -> list[CitationsSearchResultLocation]:
    found = [c for block in message.content if block.type == "text" for c in block.citations or ()]
    assert all(isinstance(c, CitationsSearchResultLocation) for c in found)
    return [c for c in found if isinstance(c, CitationsSearchResultLocation)]


def test_an_anthropic_client_gets_an_answer_citing_the_indexed_documents(claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(model="docs-assistant", max_tokens=400, messages=ASK)
    message = raw.parse()
    assert raw.headers["x-claudegate-retrieved"] == "2"
    cited = citations(message)
    assert next((c.source, c.title, c.search_result_index) for c in cited) == ("budgets.md#0", "Budgets", 0)
    assert cited[0].cited_text == DOCS[0]["text"]
    assert {c.source.split("#")[0] for c in cited} <= {doc["id"] for doc in DOCS}
    answer = "".join(block.text for block in message.content if block.type == "text")
    assert "A key's budget caps its spending per day and per month" in answer


def test_a_streamed_answer_carries_citation_events(claude: anthropic.Anthropic, live: Live) -> None:
    whole = claude.messages.create(model="docs-assistant", max_tokens=400, messages=ASK)
    with claude.messages.stream(model="docs-assistant", max_tokens=400, messages=ASK) as stream:
        seen = [event.citation for event in stream if event.type == "citation"]
        final = stream.get_final_message()
    assert final.model_dump() == whole.model_dump()
    assert seen == citations(whole) and seen
    body = {"model": "docs-assistant", "max_tokens": 400, "messages": ASK, "stream": True}
    reply = _wire.messages(live.base_url, body)
    validate_anthropic_sse(reply.body)
    deltas = [e["delta"] for e in _wire.anthropic_events(reply.body) if e["type"] == "content_block_delta"]
    assert next(d["citation"]["source"] for d in deltas if d["type"] == "citations_delta") == "budgets.md#0"


def test_an_openai_client_gets_the_citations_beside_the_text(gpt: openai.OpenAI, live: Live) -> None:
    completion = gpt.chat.completions.create(model="docs-assistant", messages=ASK)
    message = completion.choices[0].message
    assert message.content is not None and message.model_extra is not None
    listed = message.model_extra["citations"]
    assert listed[0]["source"] == "budgets.md#0" and listed[0]["title"] == "Budgets"
    first = listed[0]
    assert message.content[first["start_index"] : first["end_index"]] in DOCS[0]["text"]
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    chunks = gpt.chat.completions.create(model="docs-assistant", messages=ASK, stream=True)
    for chunk in chunks:
        state.handle_chunk(chunk)
    streamed = state.get_final_completion().choices[0].message
    assert streamed.content == message.content
    assert streamed.model_extra is not None and streamed.model_extra["citations"] == listed
    reply = _wire.chat(live.base_url, {"model": "docs-assistant", "messages": ASK, "stream": True})
    validate_chat_sse(reply.body)
    assert any(
        "citations" in chunk["choices"][0]["delta"]
        for chunk in _wire.chat_chunks(reply.body)
        if chunk["choices"]
    )


def test_the_responses_api_answers_from_the_collection_too(gpt: openai.OpenAI) -> None:
    response = gpt.responses.create(model="docs-assistant", input=QUESTION)
    assert "A key's budget caps its spending per day and per month" in response.output_text


async def test_a_websocket_stream_carries_the_same_cited_events(live: Live) -> None:
    request = {"model": "docs-assistant", "max_tokens": 400, "messages": ASK}
    async with connect(ws_url(live.base_url)) as ws:
        await open_session(ws)
        got = await stream(ws, "r1", request)
    expected = _wire.anthropic_events(_wire.messages(live.base_url, {**request, "stream": True}).body)
    assert events(got) == expected
    assert any(
        e["type"] == "content_block_delta" and e["delta"]["type"] == "citations_delta" for e in expected
    )


def test_an_openai_compatible_upstream_reads_the_passages_as_text_naming_their_source(
    claude: anthropic.Anthropic,
) -> None:
    message = claude.messages.create(model="docs-openai", max_tokens=600, messages=ASK)
    text = "".join(block.text for block in message.content if block.type == "text")
    assert "Search result (source: budgets.md#0; title: Budgets)" in text  # the simulator echoes its input
    assert citations(message) == []


def test_tool_mode_on_an_openai_compatible_upstream(claude: anthropic.Anthropic) -> None:
    asked: Any = [{"role": "user", "content": f"Use search_docs: {QUESTION}"}]
    message = claude.messages.create(model="docs-openai-tool", max_tokens=600, messages=asked)
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert "The search_docs tool returned" in text and "Search result (source: " in text


def test_an_unknown_collection_is_a_404_in_each_dialect(
    claude: anthropic.Anthropic, gpt: openai.OpenAI, live: Live
) -> None:
    with pytest.raises(anthropic.NotFoundError) as refused:
        claude.messages.create(model="docs-missing", max_tokens=100, messages=ASK)
    assert "collection 'nowhere', which does not exist" in refused.value.message
    with pytest.raises(anthropic.NotFoundError):
        with claude.messages.stream(model="docs-missing", max_tokens=100, messages=ASK) as stream:
            stream.until_done()
    with pytest.raises(openai.NotFoundError) as chat_refused:
        gpt.chat.completions.create(model="docs-missing", messages=ASK)
    body = chat_refused.value.body
    assert isinstance(body, dict) and "collection 'nowhere'" in body["message"] and body["param"] == "model"
    streamed = _wire.chat(live.base_url, {"model": "docs-missing", "messages": ASK, "stream": True})
    assert streamed.status == 404 and "collection 'nowhere'" in streamed.json()["error"]["message"]


def test_a_route_without_retrieval_is_unchanged(claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(model=UPSTREAM_MODEL, max_tokens=400, messages=ASK)
    message = raw.parse()
    assert "x-claudegate-retrieved" not in raw.headers
    assert [block.type for block in message.content] == ["text"] and citations(message) == []
    assert f"You wrote: {QUESTION}" in "".join(b.text for b in message.content if b.type == "text")


def test_a_message_without_text_is_sent_as_it_came(claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(
        model="docs-assistant",
        max_tokens=100,
        messages=[{"role": "user", "content": [{"type": "text", "text": "   "}]}],
    )
    assert "x-claudegate-retrieved" not in raw.headers and citations(raw.parse()) == []


@contextmanager
def recorded(live: Live, name: str) -> Iterator[list[tuple[dict[str, Any], dict[str, Any]]]]:
    """The (request body, answer) of each call the route ``name``'s simulator answers, in order."""
    route = live.app.core.router.resolve(name)
    assert route is not None
    provider = route.deployments[0].provider
    assert isinstance(provider, SimulatorProvider)
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    create = provider.create

    async def recording(request: ProviderRequest) -> ProviderResponse:
        response = await create(request)
        calls.append((request.body, response.message))
        return response

    provider.create = recording  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del provider.create


def test_a_follow_up_sends_the_earlier_answer_without_its_citations(
    claude: anthropic.Anthropic, live: Live
) -> None:
    first = claude.messages.create(model="docs-assistant", max_tokens=400, messages=ASK)
    assert citations(first)
    history: Any = [
        *ASK,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": "And the WebSocket API: how many streams on one connection?"},
    ]
    with recorded(live, "docs-assistant") as calls:
        second = claude.messages.create(model="docs-assistant", max_tokens=400, messages=history)
    [(sent, _)] = calls
    assert all("citations" not in block for block in sent["messages"][1]["content"])
    assert [block["text"] for block in sent["messages"][1]["content"]] == [
        b.text for b in first.content if b.type == "text"
    ]
    cited = citations(second)
    assert cited[0].source == "websocket.md#0" and cited[0].search_result_index == 0


def test_tool_mode_runs_the_search_and_returns_only_the_cited_answer(
    claude: anthropic.Anthropic, live: Live
) -> None:
    asked: Any = [{"role": "user", "content": f"Use search_docs: {QUESTION}"}]
    with recorded(live, "docs-tool") as calls:
        raw = claude.messages.with_raw_response.create(model="docs-tool", max_tokens=600, messages=asked)
    message = raw.parse()
    (_, searched), (sent, answered) = calls
    assert [b["name"] for b in searched["content"] if b["type"] == "tool_use"] == ["search_docs"]
    [result] = sent["messages"][-1]["content"]
    assert result["type"] == "tool_result" and result["content"][0]["type"] == "search_result"
    assert [block.type for block in message.content] == ["text"] * len(message.content)
    assert message.stop_reason == "end_turn" and raw.headers["x-claudegate-retrieved"] == "1"
    assert {c.source.split("#")[0] for c in citations(message)} <= {doc["id"] for doc in DOCS}
    assert citations(message)
    for key in ("input_tokens", "output_tokens"):
        assert getattr(message.usage, key) == searched["usage"][key] + answered["usage"][key]


def test_tool_mode_streams_the_final_answer(claude: anthropic.Anthropic, live: Live) -> None:
    asked: Any = [{"role": "user", "content": f"Use search_docs: {QUESTION}"}]
    whole = claude.messages.create(model="docs-tool", max_tokens=600, messages=asked)
    with claude.messages.stream(model="docs-tool", max_tokens=600, messages=asked) as stream:
        seen = [event.citation for event in stream if event.type == "citation"]
        final = stream.get_final_message()
    assert final.model_dump() == whole.model_dump() and seen == citations(whole)
    reply = _wire.messages(
        live.base_url, {"model": "docs-tool", "max_tokens": 600, "messages": asked, "stream": True}
    )
    validate_anthropic_sse(reply.body)
    assert reply.headers["x-stream-downgraded"] == "true"


def test_tool_mode_refuses_a_tool_of_its_search_tools_name(claude: anthropic.Anthropic) -> None:
    clash: Any = {"name": "search_docs", "description": "mine", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(model="docs-tool", max_tokens=100, messages=ASK, tools=[clash])
    assert "'search_docs' is the name of the search tool" in refused.value.message


def test_a_thread_on_a_context_route_gets_passages_at_each_turn(claude: anthropic.Anthropic) -> None:
    first = claude.beta.messages.create(
        model="docs-assistant",
        max_tokens=400,
        messages=ASK,
        thread={"type": "create"},
        betas=[THREADS_BETA],
    )
    second = claude.beta.messages.create(
        model="docs-assistant",
        max_tokens=400,
        messages=[{"role": "user", "content": "And the WebSocket API: how many streams on one connection?"}],
        thread={"type": "continue", "previous_message_id": first.id},
        betas=[THREADS_BETA],
    )
    cited = [[c for b in m.content if b.type == "text" for c in b.citations or ()] for m in (first, second)]
    found = [[c for c in turn if isinstance(c, BetaCitationSearchResultLocation)] for turn in cited]
    assert found == cited
    assert found[0][0].source == "budgets.md#0" and found[1][0].source == "websocket.md#0"
    assert found[1][0].search_result_index == 2  # the first turn's two passages come first


def test_tool_mode_refuses_a_thread_so_the_sdk_goes_on_without_one(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.beta.messages.create(
            model="docs-tool", max_tokens=100, messages=ASK, thread={"type": "create"}, betas=[THREADS_BETA]
        )
    assert refused.value.error_code == "thread_unsupported_request"


def test_tool_mode_with_the_openai_sdk(gpt: openai.OpenAI) -> None:
    asked: Any = [{"role": "user", "content": f"Use search_docs: {QUESTION}"}]
    completion = gpt.chat.completions.create(model="docs-tool", messages=asked)
    message = completion.choices[0].message
    assert message.tool_calls is None and completion.choices[0].finish_reason == "stop"
    assert message.model_extra is not None and message.model_extra["citations"]
    chunks = [
        orjson.loads(chunk.model_dump_json())
        for chunk in gpt.chat.completions.create(model="docs-tool", messages=asked, stream=True)
    ]
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    assert state.get_final_completion().choices[0].message.content == message.content


def test_the_query_embedding_is_made_for_the_call_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key allowed only the retrieval route, at one request a minute, is served: its query's
    embedding (on the local model) is neither refused for the model nor counted as a second
    request; the ledger holds a row for the embedding and one for the answer."""
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    db = tmp_path / "g.db"
    config = {
        "models": [route("docs-assistant", top_k=2)],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
        "retrieval": {"path": str(tmp_path / "rag.db")},
    }
    admin = {"authorization": f"Bearer {ADMIN}"}
    with serve(config) as live:
        created = _wire.call(
            live.base_url,
            "POST",
            "/admin/keys",
            {"name": "docs", "allowed_models": ["docs-assistant"], "limits": {"requests_per_minute": 1}},
            admin,
        ).json()
        loader = _wire.call(live.base_url, "POST", "/admin/keys", {"name": "loader"}, admin).json()
        writer = {"authorization": f"Bearer {loader['key']}"}
        assert _wire.call(live.base_url, "POST", "/v1/collections", {"name": "docs"}, writer).status == 200
        _wire.call(live.base_url, "POST", "/v1/collections/docs/documents", {"documents": DOCS}, writer)
        body = {"model": "docs-assistant", "max_tokens": 300, "messages": ASK}
        answered = _wire.messages(live.base_url, body, {"x-api-key": created["key"]})
        second = _wire.messages(live.base_url, body, {"x-api-key": created["key"]})
    assert answered.status == 200 and answered.headers["x-claudegate-retrieved"] == "2"
    assert second.status == 429  # the one request a minute was the answer, not its embedding
    mine = [row for row in rows(db) if row["key_id"] == created["id"]]
    assert [(row["model"], row["status"]) for row in mine] == [
        ("local", 200),
        ("docs-assistant", 200),
        ("docs-assistant", 429),
    ]
    embedding, answer = mine[0], mine[1]
    assert embedding["input_tokens"] > 0 and embedding["output_tokens"] == 0
    assert answer["input_tokens"] == answered.json()["usage"]["input_tokens"]
