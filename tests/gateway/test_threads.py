"""Message threads through the gateway, driven by the official ``anthropic`` SDK over real sockets:
its tool runner (threads on by default) on every route kind, threads kept per key, the error codes
the SDK acts on, expiry, the size limits, and the recorded first turn of a tool run as upstream."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic import beta_tool
from anthropic.types.beta import BetaMessage, BetaMessageParam
from sqlalchemy import func, select

from claudegate.gateway import GatewayApp, parse_config
from claudegate.simulator import create_app as create_simulator
from claudegate.store import Database
from claudegate.testing import LiveServer
from claudegate.translate.threads import THREADS_BETA
from tests.gateway import _wire
from tests.gateway._upstreams import RecordingAnthropic
from tests.gateway.conftest import simulator_route

MODEL = "claude-sonnet-4-5"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "threads"
ADMIN = "admin-secret-for-thread-tests-0123"
SIM_KEY = "sk-ant-simulator-upstream"


@beta_tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city
    """
    return f"Sunny and 21 C in {city}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Sent:
    """The bodies the SDK sent, in order (read by an httpx event hook)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def hook(self, request: httpx2.Request) -> None:
        if request.url.path == "/v1/messages":
            self.bodies.append(orjson.loads(request.content))


@contextmanager
def gateway(config: dict[str, Any], clock: Clock | None = None) -> Iterator[str]:
    app = GatewayApp(parse_config(config), clock=clock if clock is not None else time.time)
    with LiveServer(app) as server:
        yield server.base_url


@contextmanager
def sdk(base_url: str, key: str = "sk-ant-client") -> Iterator[tuple[anthropic.Anthropic, Sent]]:
    sent = Sent()
    http = httpx2.Client(event_hooks={"request": [sent.hook]})
    with anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, http_client=http) as client:
        yield client, sent


def run_tools(client: anthropic.Anthropic, *, stream: bool) -> list[BetaMessage]:
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=300,
        tools=[get_weather],
        messages=[{"role": "user", "content": "Use get_weather for Paris."}],
        stream=stream,
    )
    if stream:
        return [turn.get_final_message() for turn in runner]  # type: ignore[union-attr]
    return list(runner)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def upstream_simulator() -> Iterator[str]:
    with LiveServer(create_simulator()) as server:
        yield server.base_url


@pytest.fixture(autouse=True)
def keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_SIM_KEY", SIM_KEY)
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)


def route_of(kind: str, simulator_url: str) -> dict[str, Any]:
    deployment: dict[str, Any] = {
        "simulator": {"provider": "simulator"},
        "openai": {"provider": "openai", "base_url": simulator_url + "/v1"},
        "anthropic": {"provider": "anthropic", "base_url": simulator_url, "api_key": "env:CG_TEST_SIM_KEY"},
    }[kind]
    return {"name": "*", "deployments": [{"name": kind, **deployment}]}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", ["simulator", "openai", "anthropic"])
def test_the_sdk_tool_runner_finishes_a_tool_task_over_a_thread(
    kind: str, stream: bool, upstream_simulator: str
) -> None:
    with (
        gateway({"models": [route_of(kind, upstream_simulator)]}) as base_url,
        sdk(base_url) as (client, sent),
    ):
        replies = run_tools(client, stream=stream)
    assert [reply.stop_reason for reply in replies] == ["tool_use", "end_turn"]
    assert "Sunny and 21 C in" in "".join(b.text for b in replies[-1].content if b.type == "text")
    create, follow = sent.bodies
    assert create["thread"] == {"type": "create"} and len(create["messages"]) == 1
    # The second turn went as a continue carrying only the tool result: the thread held the rest.
    assert follow["thread"] == {"type": "continue", "previous_message_id": replies[0].id}
    assert "tools" not in follow and [m["role"] for m in follow["messages"]] == ["user"]
    assert follow["messages"][0]["content"][0]["type"] == "tool_result"
    assert replies[0].id != replies[1].id and all(reply.id.startswith("msg_") for reply in replies)


def continue_from(client: anthropic.Anthropic, message_id: str, text: str = "And tomorrow?") -> BetaMessage:
    return client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        thread={"type": "continue", "previous_message_id": message_id},
        betas=[THREADS_BETA],
    )


def admin_key(base_url: str, name: str) -> str:
    reply = _wire.call(base_url, "POST", "/admin/keys", {"name": name}, {"authorization": f"Bearer {ADMIN}"})
    assert reply.status == 201, reply.body
    key: str = reply.json()["key"]
    return key


@pytest.mark.parametrize("kind", ["simulator", "anthropic"])
def test_another_key_cannot_continue_a_thread(kind: str, upstream_simulator: str, tmp_path: Path) -> None:
    config = {
        "models": [route_of(kind, upstream_simulator)],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
    }
    with gateway(config) as base_url:
        alice, bob = admin_key(base_url, "alice"), admin_key(base_url, "bob")
        with sdk(base_url, alice) as (client_a, _), sdk(base_url, bob) as (client_b, _):
            last = run_tools(client_a, stream=False)[-1]
            with pytest.raises(anthropic.NotFoundError) as refused:
                continue_from(client_b, last.id)
            mine = continue_from(client_a, last.id)
    # Answered as if the thread did not exist: the other key learns nothing.
    assert refused.value.error_code == "thread_not_found"
    assert refused.value.body["error"]["details"] == {"error_code": "thread_not_found"}  # type: ignore[index]
    assert mine.stop_reason == "end_turn"


def test_unknown_and_reused_replies_get_the_codes_the_sdk_acts_on(upstream_simulator: str) -> None:
    with gateway({"models": [simulator_route()]}) as base_url, sdk(base_url) as (client, _):
        with pytest.raises(anthropic.NotFoundError) as unknown:
            continue_from(client, "msg_01NeverAnsweredByThisGateway")
        first = run_tools(client, stream=False)[0]
        with pytest.raises(anthropic.BadRequestError) as reused:
            continue_from(client, first.id)  # the runner already continued from it
        with pytest.raises(anthropic.BadRequestError) as malformed:
            client.beta.messages.create(
                model=MODEL,
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                betas=[THREADS_BETA],
                extra_body={"thread": {"type": "resume"}},
            )
    assert unknown.value.status_code == 404 and unknown.value.error_code == "thread_not_found"
    assert reused.value.error_code == "thread_already_continued"
    assert "thread.type" in malformed.value.message and malformed.value.error_code is None


def test_a_continue_that_changes_the_system_prompt_is_refused(upstream_simulator: str) -> None:
    with gateway({"models": [simulator_route()]}) as base_url, sdk(base_url) as (client, _):
        first = client.beta.messages.create(
            model=MODEL,
            max_tokens=50,
            system="Answer briefly.",
            messages=[{"role": "user", "content": "hello"}],
            thread={"type": "create"},
            betas=[THREADS_BETA],
        )
        with pytest.raises(anthropic.BadRequestError) as changed:
            client.beta.messages.create(
                model=MODEL,
                max_tokens=50,
                system="Answer at length.",
                messages=[{"role": "user", "content": "more"}],
                thread={"type": "continue", "previous_message_id": first.id},
                betas=[THREADS_BETA],
            )
    assert changed.value.error_code == "thread_fingerprint_mismatch" and "`system`" in changed.value.message


def test_a_thread_expires_and_the_sdk_replays_it(upstream_simulator: str) -> None:
    clock = Clock()
    config = {"models": [route_of("openai", upstream_simulator)], "threads": {"ttl": 120}}
    with gateway(config, clock) as base_url, sdk(base_url) as (client, sent):
        thread = client.beta.messages.thread(model=MODEL, max_tokens=300, tools=[get_weather.to_dict()])
        first = thread.send({"role": "user", "content": "Use get_weather for Rome."})
        clock.now += 121
        with pytest.raises(anthropic.NotFoundError) as expired:
            continue_from(client, first.id)
        tool_use = next(block for block in first.content if block.type == "tool_use")
        answer = thread.send(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "hot"}],
            }
        )
    assert expired.value.error_code == "thread_not_found"
    assert answer.stop_reason == "end_turn"
    kinds = [body["thread"]["type"] for body in sent.bodies]
    # create, the expired probe, the helper's continue (404), then its replay as a new create
    assert kinds == ["create", "continue", "continue", "create"]
    assert [m["role"] for m in sent.bodies[-1]["messages"]] == ["user", "assistant", "user"]


def test_the_size_limits_refuse_the_thread_and_the_runner_goes_on_without_it(upstream_simulator: str) -> None:
    config = {"models": [simulator_route()], "threads": {"max_thread_bytes": 500}}
    with gateway(config) as base_url, sdk(base_url) as (client, sent):
        replies = run_tools(client, stream=True)
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.beta.messages.create(
                model=MODEL,
                max_tokens=10,
                messages=[{"role": "user", "content": "x" * 2000}],
                thread={"type": "create"},
                betas=[THREADS_BETA],
            )
    assert replies[-1].stop_reason == "end_turn"
    assert refused.value.error_code == "thread_unsupported_request"
    assert "threads.max_thread_bytes (500)" in refused.value.message
    # The continue went over the limit; the runner sent the whole conversation without a thread.
    assert [body.get("thread", {}).get("type") for body in sent.bodies[:3]] == ["create", "continue", None]
    assert [m["role"] for m in sent.bodies[2]["messages"]] == ["user", "assistant", "user"]


def test_a_key_s_threads_share_one_byte_budget(upstream_simulator: str) -> None:
    config = {"models": [simulator_route()], "threads": {"max_key_bytes": 3000}}
    create = {
        "model": MODEL,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "y" * 1200}],
        "thread": {"type": "create"},
    }
    with gateway(config) as base_url:
        replies = [_wire.post(base_url, "/v1/messages", create) for _ in range(3)]
        off = {"models": [simulator_route()], "threads": {"enabled": False}}
        with gateway(off) as closed_url:
            disabled = _wire.post(closed_url, "/v1/messages", create)
    assert [reply.status for reply in replies] == [200, 200, 400]
    error = replies[2].json()["error"]
    assert error["details"] == {"error_code": "thread_unsupported_request"}
    assert "threads.max_key_bytes (3000)" in error["message"]
    assert (
        disabled.status == 400
        and disabled.json()["error"]["details"]["error_code"] == "thread_unsupported_request"
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_recorded_first_turn_kept_by_the_gateway_for_an_upstream_without_threads(stream: bool) -> None:
    """The live API's recorded reply to a tool runner's first turn, replayed by an Anthropic-speaking
    upstream without threads (``threads.anthropic: emulate``): the continue reaches it as the whole
    stateless request the recorded run sent for its second turn."""
    recorded = orjson.loads((FIXTURES / "toolrunner-nothread.turn1.json").read_bytes())
    upstream = RecordingAnthropic(
        orjson.dumps(recorded), (FIXTURES / "toolrunner-nothread-stream.turn1.sse").read_bytes(), 10
    )
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    with LiveServer(upstream) as up:
        deployment = {"provider": "anthropic", "base_url": up.base_url, "api_key": "env:CG_TEST_SIM_KEY"}
        config = {"models": [{"name": "*", "deployments": [deployment]}], "threads": {"anthropic": "emulate"}}
        with gateway(config) as base_url, sdk(base_url) as (client, _):
            turn_one: dict[str, Any] = {
                "model": "claude-haiku-4-5",
                "max_tokens": 1024,
                "tools": tools,
                "messages": [{"role": "user", "content": "What is the weather in SF?"}],
                "thread": {"type": "create"},
                "betas": [THREADS_BETA],
            }
            if stream:
                with client.beta.messages.stream(**turn_one) as events:
                    first = events.get_final_message()
            else:
                first = client.beta.messages.create(**turn_one)
            tool_use = next(block for block in first.content if block.type == "tool_use")
            answer: BetaMessageParam = {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "68F, sunny"}],
            }
            continue_from_result = client.beta.messages.create(
                model="claude-haiku-4-5",
                max_tokens=1024,
                messages=[answer],
                thread={"type": "continue", "previous_message_id": first.id},
                betas=[THREADS_BETA],
            )
    sent_first, sent_second = (request.json() for request in upstream.requests)
    assert "thread" not in sent_first and "thread" not in sent_second
    assert THREADS_BETA not in upstream.requests[1].headers.get("anthropic-beta", "")
    assert sent_second["tools"] == tools
    user, assistant, results = sent_second["messages"]
    assert user == {"role": "user", "content": "What is the weather in SF?"}
    assert assistant["role"] == "assistant" and assistant["content"][-1]["id"] == tool_use.id
    assert assistant["content"][-1]["input"] == tool_use.input
    if not stream:  # the reply went back as the API returned it, unknown fields and all
        assert assistant["content"] == recorded["content"]
    assert results == answer
    assert first.id != recorded["id"] and continue_from_result.id not in (first.id, recorded["id"])


def test_an_anthropic_upstream_gets_the_continue_untouched() -> None:
    recorded = (FIXTURES / "toolrunner-nothread.turn1.json").read_bytes()
    upstream = RecordingAnthropic(recorded, b"", 10)
    with LiveServer(upstream) as up:
        deployment = {"provider": "anthropic", "base_url": up.base_url, "api_key": "env:CG_TEST_SIM_KEY"}
        with gateway({"models": [{"name": "*", "deployments": [deployment]}]}) as base_url:
            headers = {"anthropic-version": "2023-06-01", "anthropic-beta": THREADS_BETA}
            create = {
                "model": "claude-haiku-4-5",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}],
                "thread": {"type": "create"},
            }
            first = _wire.post(base_url, "/v1/messages", create, headers)
            body = orjson.dumps(
                {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": "again"}],
                    "thread": {"type": "continue", "previous_message_id": "msg_018yE33RyaCdsMnr8kGYUQ5Y"},
                }
            )
            second = _wire.call(base_url, "POST", "/v1/messages", body, headers)
    assert first.status == 200 and first.json()["id"] == "msg_018yE33RyaCdsMnr8kGYUQ5Y"
    assert second.status == 200
    assert (
        upstream.requests[1].body == body and upstream.requests[1].headers["anthropic-beta"] == THREADS_BETA
    )


def test_no_thread_database_file_appears_without_storage(upstream_simulator: str, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with gateway({"models": [simulator_route()]}) as base_url, sdk(base_url) as (client, _):
            run_tools(client, stream=False)
    finally:
        os.chdir(cwd)
    assert list(tmp_path.iterdir()) == []


async def _thread_rows(url: str, prefix: str, *, drop: bool) -> int:
    database = await Database.connect(url, table_prefix=prefix)
    try:
        async with database.engine.connect() as connection:
            rows = (
                await connection.execute(select(func.count()).select_from(database.tables.threads))
            ).scalar()
        if drop:
            await database.drop_tables()
        return int(rows or 0)
    finally:
        await database.close()


def test_threads_live_in_the_postgresql_storage_every_replica_reads(upstream_simulator: str) -> None:
    url, prefix = "postgresql+asyncpg://postgres@127.0.0.1:5432/test", f"t{secrets.token_hex(6)}_"
    config = {
        "models": [route_of("openai", upstream_simulator)],
        "storage": {"database_url": url, "table_prefix": prefix},
    }
    try:
        with gateway(config) as one, gateway(config) as two, sdk(one) as (client, _), sdk(two) as (other, _):
            first = client.beta.messages.create(
                model=MODEL,
                max_tokens=50,
                messages=[{"role": "user", "content": "hello"}],
                thread={"type": "create"},
                betas=[THREADS_BETA],
            )
            # another replica continues it: the thread is in the shared database
            second = continue_from(other, first.id)
        assert second.stop_reason == "end_turn"
        assert asyncio.run(_thread_rows(url, prefix, drop=False)) == 1
    finally:
        asyncio.run(_thread_rows(url, prefix, drop=True))
