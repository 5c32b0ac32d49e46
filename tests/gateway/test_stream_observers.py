"""Stream observers (``on: stream.window`` / ``stream.completed``): the streams a gateway serves —
Anthropic SSE (canonical events, and an Anthropic upstream's own bytes), OpenAI SSE passed
through, WebSocket, GraphQL — become window events at N-character and sentence boundaries and one
completed event with the whole text, run by the pipelines that observe them as the stream's key;
a publisher that does not move (a blocked fake) never delays the client's stream, and stream
events beyond the queue's bound are dropped and counted."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from claudegate.gateway import create_app
from claudegate.gateway._config import StreamObserversConfig
from claudegate.gateway.core import Call, Principal
from claudegate.gateway.events import Event, Pipeline, Pipelines, StreamObservers, StreamWindow
from claudegate.simulator import create_app as create_simulator
from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway._graphql import request, ws_session
from tests.gateway._ws import open_session, stream, ws_url
from tests.gateway.conftest import Live, serve, simulator_route

ADMIN = "admin-secret-for-stream-observers-012345"
WAIT = 30.0
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s")
OBSERVING = {"model": "claude-haiku-4-5", "prompt": "{{ payload.text }}", "max_tokens": 10}


@dataclass(frozen=True)
class Published:
    principal: Principal
    event: Event
    only: tuple[str, ...]


class Recorder:
    """Wraps the observers' publisher: records what is handed to the event bus (``calls``, as each
    call starts) and what the bus accepted (``published``, once the call returned), from the
    server's thread, and lets a test wait for either; with ``gate``, each call first waits for it
    to open."""

    def __init__(self, live: Live, gate: threading.Event | None = None) -> None:
        streams = live.app.events.streams
        self.real = streams.publish
        self.gate = gate
        self.calls: list[list[Published]] = []
        self.published: list[Published] = []
        self.changed = threading.Condition()
        streams.publish = self.publish

    async def publish(self, principal: Principal, events: Sequence[Event], *, only: Collection[str]) -> Any:
        handed = [Published(principal, event, tuple(only)) for event in events]
        with self.changed:
            self.calls.append(handed)
            self.changed.notify_all()
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, WAIT)
        accepted = await self.real(principal, events, only=only)
        with self.changed:
            self.published.extend(handed)
            self.changed.notify_all()
        return accepted

    def wait_for(self, ready: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(ready, WAIT)

    def of(self, request_id: str) -> list[Published]:
        """What the stream ``request_id`` made, once its completed event is in."""
        return self._made(lambda payload: payload["request_id"] == request_id)

    def whole(self, text: str) -> list[Published]:
        """What the stream whose whole text is ``text`` made, once its completed event is in."""
        return self._made(lambda payload: payload["text"] == text)

    def _made(self, chosen: Callable[[dict[str, Any]], bool]) -> list[Published]:
        def completed() -> list[Published]:
            return [
                i for i in self.published if i.event.type == "stream.completed" and chosen(i.event.payload)
            ]

        self.wait_for(lambda: bool(completed()))
        request_id = completed()[0].event.payload["request_id"]
        return [item for item in self.published if item.event.payload["request_id"] == request_id]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with LiveServer(create_simulator()) as server:
        yield server.base_url


def observed_config(tmp_path: Path, upstream: str, **streams: Any) -> dict[str, Any]:
    native = {"provider": "anthropic", "base_url": upstream, "api_key": "env:CG_TEST_SIM_KEY"}
    chat = {"provider": "openai", "base_url": upstream + "/v1"}
    return {
        "models": [
            {"name": "native-*", "deployments": [{**native, "model": "claude-sonnet-5"}]},
            {"name": "chat-*", "deployments": [{**chat, "model": "claude-sonnet-5"}]},
            simulator_route(),
        ],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "events": {
            "streams": streams,
            "pipelines": [
                {"name": "tone", "on": "stream.window", "window": {"chars": 40}, **OBSERVING},
                {"name": "sentences", "on": "stream.window", "window": {"sentences": True}, **OBSERVING},
                {"name": "summary", "on": "stream.completed", **OBSERVING},
                {"name": "elsewhere", "on": "stream.*", "streams": {"models": ["other-*"]}, **OBSERVING},
            ],
        },
    }


@pytest.fixture
def config(tmp_path: Path, upstream: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("CG_TEST_SIM_KEY", "sk-ant-sim-observed-0123")
    return observed_config(tmp_path, upstream)


def new_key(base_url: str) -> tuple[str, str]:
    reply = _wire.call(base_url, "POST", "/admin/keys", {"name": "o"}, {"authorization": f"Bearer {ADMIN}"})
    assert reply.status == 201, reply.body
    return reply.json()["key"], reply.json()["id"]


def ask(model: str, words: int = 12) -> dict[str, Any]:
    """A streamed request whose answer (the simulator echoes the prompt) has sentences and is its own."""
    text = f"Tell me about {model} otters! " + " ".join(f"word{n}." for n in range(words))
    return {
        "model": model,
        "max_tokens": 400,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }


def check_windows(made: list[Published], text: str, key_id: str, model: str) -> None:
    """The windows of both kinds cut ``text`` as configured; the completed event holds it whole."""
    assert text and all(item.principal.account == key_id for item in made)
    assert all("elsewhere" not in item.only for item in made)
    by_chars = [item.event for item in made if item.event.type == "stream.window" and item.only == ("tone",)]
    by_sentence = [
        item.event for item in made if item.event.type == "stream.window" and item.only == ("sentences",)
    ]
    (completed,) = [item for item in made if item.event.type == "stream.completed"]
    assert completed.only == ("summary",)
    for windows in (by_chars, by_sentence):
        payloads = [event.payload for event in windows]
        assert "".join(payload["text"] for payload in payloads) == text
        assert [payload["index"] for payload in payloads] == list(range(len(payloads)))
        assert [payload["final"] for payload in payloads] == [False] * (len(payloads) - 1) + [True]
        assert all(payload["end"] - payload["start"] == len(payload["text"]) for payload in payloads)
        assert all(a["end"] == b["start"] for a, b in pairwise(payloads))
        assert all(payload["model"] == model and payload["key_id"] == key_id for payload in payloads)
    assert (
        all(len(event.payload["text"]) == 40 for event in by_chars[:-1])
        and len(by_chars[-1].payload["text"]) <= 40
    )
    for event in by_sentence[:-1]:  # each ends at its first sentence end
        found = SENTENCE_END.search(event.payload["text"])
        assert found is not None and found.end() == len(event.payload["text"])
    assert len(by_sentence) == len(SENTENCE_END.findall(text)) + 1
    payload = completed.event.payload
    assert payload["text"] == text and payload["chars"] == len(text) and payload["truncated"] is False
    assert payload["finished"] is True and payload["stop_reason"] == "end_turn" and payload["status"] == 200
    assert payload["windows"] == {"c40": len(by_chars), "s": len(by_sentence)}


def ws_text(messages: list[dict[str, Any]]) -> str:
    deltas = [m["event"]["delta"] for m in messages if m["type"] == "message.event" and "delta" in m["event"]]
    return "".join(delta.get("text", "") for delta in deltas)


async def test_every_surfaces_streams_are_observed_in_windows_and_whole(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key, key_id = await asyncio.to_thread(new_key, live.base_url)
        recorder = Recorder(live)
        headers = {"x-api-key": key}
        seen: list[tuple[str, str, str]] = []  # (request id, model, text the client got)

        reply = await asyncio.to_thread(_wire.messages, live.base_url, ask("claude-sonnet-5"), headers)
        seen.append(
            (
                reply.headers["request-id"],
                "claude-sonnet-5",
                validate_anthropic_sse(reply.body)["content"][0]["text"],
            )
        )
        reply = await asyncio.to_thread(_wire.messages, live.base_url, ask("native-1"), headers)
        seen.append(
            (
                reply.headers["request-id"],
                "native-1",
                validate_anthropic_sse(reply.body)["content"][0]["text"],
            )
        )
        chat = {**ask("chat-1"), "max_tokens": 400}
        reply = await asyncio.to_thread(_wire.chat, live.base_url, chat, {"authorization": f"Bearer {key}"})
        seen.append((reply.headers["request-id"], "chat-1", validate_chat_sse(reply.body)["content"]))
        for request_id, model, text in seen:
            await asyncio.to_thread(
                check_windows, await asyncio.to_thread(recorder.of, request_id), text, key_id, model
            )

        async with connect(ws_url(live.base_url), additional_headers=headers) as ws:
            await open_session(ws)
            body = {name: value for name, value in ask("native-2").items() if name != "stream"}
            messages = await stream(ws, "s1", body)
        (done,) = [m for m in messages if m["type"] == "message.done"]
        text = ws_text(messages)
        ws_made = await asyncio.to_thread(recorder.whole, text)
        await asyncio.to_thread(check_windows, ws_made, text, key_id, "native-2")
        assert done

        document = "subscription($input: MessageInput!) { messageStream(input: $input) { type text } }"
        graph: list[str] = []
        async with ws_session(live.base_url, key) as session:
            variables = {
                "input": {"model": "claude-sonnet-5", "maxTokens": 400, "messages": ask("x")["messages"]}
            }
            async for item in session.subscribe(request(document, variables)):
                graph.append(item["messageStream"]["text"] or "")
        graph_made = await asyncio.to_thread(recorder.whole, "".join(graph))
        await asyncio.to_thread(check_windows, graph_made, "".join(graph), key_id, "claude-sonnet-5")

        completed_id = f"{seen[0][0]}.completed"
        state = await asyncio.to_thread(
            _wire.call, live.base_url, "GET", f"/v1/events/{completed_id}?wait=30", None, headers
        )
        window = await asyncio.to_thread(
            _wire.call, live.base_url, "GET", f"/v1/events/{seen[0][0]}.c40.0?wait=30", None, headers
        )
    assert state.status == 200 and state.json()["status"] == "processed"
    assert [run["pipeline"] for run in state.json()["runs"]] == ["summary"]  # only its own pipelines
    assert [run["pipeline"] for run in window.json()["runs"]] == ["tone"]


async def test_a_blocked_publisher_never_delays_a_stream_and_what_overflows_the_queue_is_dropped(
    tmp_path: Path, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("CG_TEST_SIM_KEY", "sk-ant-sim-observed-0123")
    config = observed_config(tmp_path, upstream, queue=4)
    config["events"]["pipelines"] = [
        {"name": "tiny", "on": "stream.window", "window": {"chars": 5}, **OBSERVING},
        {"name": "summary", "on": "stream.completed", **OBSERVING},
    ]
    gate = threading.Event()
    admin = {"authorization": f"Bearer {ADMIN}"}
    with serve(config) as live:
        try:
            key, _ = await asyncio.to_thread(new_key, live.base_url)
            recorder = Recorder(live, gate)
            reply = await asyncio.to_thread(
                _wire.messages, live.base_url, ask("claude-sonnet-5"), {"x-api-key": key}
            )
            text = validate_anthropic_sse(reply.body)["content"][0]["text"]  # whole, the publisher stuck
            await asyncio.to_thread(recorder.wait_for, lambda: len(recorder.calls) == 1)
            held = await asyncio.to_thread(_wire.call, live.base_url, "GET", "/metrics", None, admin)
            assert not gate.is_set() and len(recorder.calls) == 1  # its first call has not returned
        finally:
            gate.set()
        taken = len(recorder.calls[0])
        queued = _wire.metric(held.body.decode(), "claudegate_stream_events_queued")
        await asyncio.to_thread(recorder.wait_for, lambda: len(recorder.published) == taken + queued)
        last = recorder.published[-1].event.id
        state = await asyncio.to_thread(
            _wire.call, live.base_url, "GET", f"/v1/events/{last}?wait=30", None, {"x-api-key": key}
        )
        after = await asyncio.to_thread(_wire.call, live.base_url, "GET", "/metrics", None, admin)
    made = -(-len(text) // 5) + 1  # the windows of 5 characters, and the completed text
    dropped = _wire.metric(held.body.decode(), "claudegate_stream_windows_dropped_total")
    assert 1 <= taken <= 4 and queued <= 4
    assert dropped == made - taken - queued and dropped >= made - 8  # nothing waited beyond the bound
    assert _wire.metric(after.body.decode(), "claudegate_stream_windows_dropped_total") == dropped
    assert state.status == 200 and state.json()["status"] == "processed"
    assert len(recorder.published) == made - dropped  # what was not dropped is published, once


def test_streams_are_watched_only_while_a_pipeline_observes_them() -> None:
    app = create_app()
    assert app.core.stream_observer is None  # a stream pays one attribute read
    app.events.pipelines.add(Pipeline(on=("content.*",), model="m", prompt="p"))
    assert app.core.stream_observer is None
    app.events.pipelines.add(Pipeline(on=("stream.completed",), model="m", prompt="p"))
    assert app.core.stream_observer is app.events.streams


def test_windows_end_at_sentence_ends_across_deltas_and_the_whole_text_is_bounded() -> None:
    pipelines = Pipelines(
        [
            Pipeline(on=("stream.window",), model="m", prompt="p", name="s", window=StreamWindow(None, True)),
            Pipeline(on=("stream.window",), model="m", prompt="p", name="c", window=StreamWindow(8, True)),
            Pipeline(on=("stream.completed",), model="m", prompt="p", name="all"),
        ]
    )
    observers = StreamObservers(pipelines, StreamObserversConfig(max_chars=20), publish=None)  # type: ignore[arg-type]
    offered: list[Event] = []
    observers.offer = lambda principal, event, labels: offered.append(event)  # type: ignore[method-assign]
    assert observers.refresh()
    watch = observers.open(Call(Principal(), "anthropic", {"model": "claude-x"}, request_id="req_1"))
    assert watch is not None
    for piece in ("Hello there.", " Pi is 3.14 and", " more!\n", "Done"):
        watch.text(piece)
    watch.close(True, "end_turn")
    windows = {
        tag: [event.payload["text"] for event in offered if event.id.startswith(f"req_1.{tag}.")]
        for tag in ("s", "c8s")
    }
    assert windows["s"] == ["Hello there. ", "Pi is 3.14 and more!\n", "Done"]
    assert windows["c8s"] == ["Hello th", "ere. ", "Pi is 3.", "14 and m", "ore!\n", "Done"]
    (completed,) = [event for event in offered if event.type == "stream.completed"]
    assert completed.id == "req_1.completed" and completed.payload["text"] == "Hello there. Pi is 3"
    assert completed.payload["truncated"] is True and completed.payload["chars"] == 38
    assert completed.payload["windows"] == {"s": 3, "c8s": 6}
