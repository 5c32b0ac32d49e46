"""Sampling parameters as real clients send them, through the gateway to a simulator that enforces
the live API's rule (current models refuse ``temperature`` with ``top_p``).

n8n's Anthropic Chat Model node (1.105.4, LangChain's ``ChatAnthropic``) sends ``temperature: 1,
top_k: -1, top_p: -1`` on every call. With the route's ``sampling.normalize`` (the default) that
works; with it off, the upstream's 400 comes back as the upstream said it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from claudegate.gateway.core._sampling import NORMALIZED_HEADER, sampling_notes
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway._upstreams import Receive, Send, read_request
from tests.gateway._wire import ANTHROPIC_HEADERS, chat, messages, post
from tests.gateway.conftest import serve

MODEL = "claude-sonnet-5"
RAW_MODEL = "raw-sonnet"  # the same upstream model, on a route with normalisation off
BOTH_SAMPLERS = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
N8N_SAMPLING: dict[str, Any] = {"temperature": 1, "top_k": -1, "top_p": -1}
ASK: dict[str, Any] = {
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "What is a lighthouse for?"}],
}
SENTINELS_DROPPED = "top_k=-1 dropped (unset); top_p=-1 dropped (unset)"


class RecordingFront:
    """The simulator over HTTP, keeping each request body it was sent."""

    def __init__(self) -> None:
        self.inner = create_simulator()
        self.bodies: list[bytes] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        body = (await read_request(scope, receive)).body
        self.bodies.append(body)

        async def replay() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.inner(scope, replay, send)


@dataclass(frozen=True)
class Setup:
    base_url: str
    upstream: RecordingFront | None
    """What the upstream received (None: the in-process simulator)."""


@pytest.fixture(scope="module", params=["simulator", "anthropic"])
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    """A gateway with ``MODEL`` (normalised) and ``RAW_MODEL`` (not) on one enforcing simulator:
    in process, or over HTTP behind the ``anthropic`` provider (request bytes passed through)."""
    if request.param == "simulator":
        deployment: dict[str, Any] = {"provider": "simulator"}
        with serve(_config(deployment)) as live:
            yield Setup(live.base_url, None)
        return
    front = RecordingFront()
    with pytest.MonkeyPatch.context() as patch, LiveServer(front) as upstream:
        patch.setenv("GW_TEST_UPSTREAM_KEY", "sk-ant-api03-upstream-000000")
        deployment = {
            "provider": "anthropic",
            "base_url": upstream.base_url,
            "api_key": "env:GW_TEST_UPSTREAM_KEY",
        }
        with serve(_config(deployment)) as live:
            yield Setup(live.base_url, front)


def _config(deployment: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": [
            {"name": MODEL, "deployments": [deployment]},
            {
                "name": RAW_MODEL,
                "sampling": {"normalize": False},
                "deployments": [{**deployment, "model": MODEL}],
            },
        ]
    }


@pytest.fixture
def claude(setup: Setup) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=setup.base_url, api_key="sk-ant-client", max_retries=0) as client:
        yield client


def test_n8n_anthropic_chat_model_request_succeeds(setup: Setup, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(model=MODEL, extra_body=N8N_SAMPLING, **ASK)
    assert raw.headers[NORMALIZED_HEADER] == SENTINELS_DROPPED
    message = raw.parse()
    block = message.content[0]
    assert message.stop_reason == "end_turn" and block.type == "text"
    with claude.messages.stream(model=MODEL, extra_body=N8N_SAMPLING, **ASK) as stream:
        assert stream.response.headers[NORMALIZED_HEADER] == SENTINELS_DROPPED
        assert "".join(stream.text_stream) == block.text
    if setup.upstream is not None:
        sent = orjson.loads(setup.upstream.bodies[-1])
        assert sent["temperature"] == 1 and "top_k" not in sent and "top_p" not in sent


def test_without_normalisation_the_upstreams_400_is_relayed(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude.messages.create(model=RAW_MODEL, extra_body=N8N_SAMPLING, **ASK)
    assert raised.value.status_code == 400
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["error"] == {"type": "invalid_request_error", "message": BOTH_SAMPLERS}
    with pytest.raises(anthropic.BadRequestError, match="cannot both be specified"):
        with claude.messages.stream(model=RAW_MODEL, extra_body=N8N_SAMPLING, **ASK) as stream:
            stream.until_done()


def test_temperature_wins_over_top_p(setup: Setup) -> None:
    reply = messages(setup.base_url, {"model": MODEL, "temperature": 0.3, "top_p": 0.9, **ASK})
    assert reply.status == 200, reply.body
    assert reply.headers[NORMALIZED_HEADER] == "top_p dropped (temperature given)"
    if setup.upstream is not None:
        sent = orjson.loads(setup.upstream.bodies[-1])
        assert sent["temperature"] == 0.3 and "top_p" not in sent
    refused = messages(setup.base_url, {"model": RAW_MODEL, "temperature": 0.3, "top_p": 0.9, **ASK})
    assert refused.status == 400 and refused.json()["error"]["message"] == BOTH_SAMPLERS


def test_a_request_needing_nothing_is_left_alone_to_the_byte(setup: Setup) -> None:
    body = b'{"model": "claude-sonnet-5",  "top_p": 0.5, "top_k": 5, ' + orjson.dumps(ASK)[1:]
    reply = post(setup.base_url, "/v1/messages", body, ANTHROPIC_HEADERS)
    assert reply.status == 200 and NORMALIZED_HEADER not in reply.headers
    if setup.upstream is not None:
        assert setup.upstream.bodies[-1] == body


def test_openai_clients_get_the_same_rule(setup: Setup) -> None:
    ask = {"messages": [{"role": "user", "content": "hello"}], "temperature": 0.7, "top_p": 0.9}
    reply = chat(setup.base_url, {"model": MODEL, **ask})
    assert reply.status == 200 and reply.headers[NORMALIZED_HEADER] == "top_p dropped (temperature given)"
    with openai.OpenAI(base_url=setup.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        hello: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
        completion = gpt.chat.completions.create(model=MODEL, messages=hello, temperature=0.7, top_p=0.9)
        assert completion.choices[0].finish_reason == "stop"
        with pytest.raises(openai.BadRequestError) as raised:
            gpt.chat.completions.create(model=RAW_MODEL, messages=hello, temperature=0.7, top_p=0.9)
    assert raised.value.status_code == 400 and BOTH_SAMPLERS in raised.value.message


@pytest.mark.parametrize(
    ("request_fields", "kept", "notes"),
    [
        (N8N_SAMPLING, {"temperature": 1}, ["top_k=-1 dropped (unset)", "top_p=-1 dropped (unset)"]),
        ({"top_k": -1, "top_p": -1.0}, {}, ["top_k=-1 dropped (unset)", "top_p=-1 dropped (unset)"]),
        ({"temperature": 0, "top_p": 1}, {"temperature": 0}, ["top_p dropped (temperature given)"]),
        ({"top_p": 0.5, "top_k": 40}, {"top_p": 0.5, "top_k": 40}, []),
        ({"temperature": None, "top_p": 0.5}, {"temperature": None, "top_p": 0.5}, []),
        ({"temperature": 0.5, "top_k": 0}, {"temperature": 0.5, "top_k": 0}, []),
    ],
)
def test_the_rules(request_fields: dict[str, Any], kept: dict[str, Any], notes: list[str]) -> None:
    request = {"model": MODEL, **request_fields}
    result, said = sampling_notes(request)
    assert result == {"model": MODEL, **kept} and said == notes
    assert (result is request) is (not notes)
