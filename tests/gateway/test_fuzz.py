"""Schemathesis against a live gateway: requests generated from its own ``/openapi.json``.

Every documented operation gets a bounded, derandomized run of generated requests: data that fits
the document (positive) and, where the operation takes input, data that breaks it (negative).
Whatever arrives, the gateway answers without a 5xx, every error is the caller's dialect's JSON
envelope, and every stream it starts is well formed. Every model name goes to one simulator model,
so generated requests get past routing to the request checks and translations behind it.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode, Response

from claudegate.errors import APIStatusError
from claudegate.gateway.surfaces.openapi import document
from claudegate.sse import SSEDecoder, validate_anthropic_sse
from claudegate.translate import validate_chat_sse
from tests.gateway._fuzz_tally import TALLY
from tests.gateway.conftest import serve, simulator_route

EXAMPLES = 30
"""Generated requests per operation and mode (fewer where the input space is small)."""
EXAMPLES_FOR = {
    # Translations: where the interesting inputs are.
    "POST /v1/messages": 80,
    "POST /v1/chat/completions": 80,
    "POST /v1/responses": 80,
    # Every accepted batch queues its requests as jobs that run beside the fuzzer.
    "POST /v1/messages/batches": 15,
}
"""Operations that get more, or fewer, than ``EXAMPLES``: the file stays under a minute on two busy
cores, with well over the 1,000 requests its summary reports."""
MINIMUM_REQUESTS = 1_000

OPERATIONS = [(method.upper(), path) for path, item in document()["paths"].items() for method in item]


def _breakable(method: str, path: str) -> bool:
    """Whether negative data can reach the gateway: a body, a query or a header to break (a path
    segment is a string whatever is generated for it)."""
    operation = document()["paths"][path][method.lower()]
    return "requestBody" in operation or any(p["in"] != "path" for p in operation.get("parameters", ()))


WITH_INPUT = [(method, path) for method, path in OPERATIONS if _breakable(method, path)]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
"""Schemathesis's own checks run on every answer, on top of ``check_answer``."""
RUNS = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE) for method, path in WITH_INPUT
]


@dataclass(frozen=True)
class Target:
    """A gateway on loopback, the schema loaded from it, and one keep-alive session."""

    base_url: str
    schema: schemathesis.BaseSchema
    session: requests.Session


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    route = simulator_route(deployments=[{"provider": "simulator", "model": "claude-haiku-4-5"}])
    # Jobs, batches and files are kept in a store: a database of this run's own.
    storage = {"database_url": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'g.db'}"}
    config = schemathesis.Config.from_dict(
        {
            # Read every stream to its end (schemathesis stops after 20 events), to check all of it.
            "max-stream-events": 100_000,
            # Answers must match the document; "positive data is accepted" cannot hold, as the
            # gateway also checks what a schema cannot say (a tool_result needs its tool_use).
            "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
        }
    )
    retrieval = {"path": str(tmp_path_factory.mktemp("fuzz") / "retrieval.db")}  # collections get fuzzed too
    gateway_config: dict[str, Any] = {"models": [route], "storage": storage, "retrieval": retrieval}
    with serve(gateway_config) as live, requests.Session() as session:
        schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json", config=config)
        yield Target(live.base_url, schema, session)


def _as_integers(value: Any) -> Any:
    """``value`` with whole floats spelled as integers (``2.0`` -> ``2``).

    JSON Schema counts ``2.0`` as an integer and schemathesis sends such spellings; the gateway,
    like the APIs it fronts, takes only ``2`` for an integer field. Respelled, positive data reaches
    the checks behind that one (negative data still tries every wrong type).
    """
    if isinstance(value, float) and value.is_integer() and math.fabs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_integers(item) for item in value]
    return value


def _names_a_resource(path: str) -> bool:
    """Whether an operation acts on something that must exist first (a generated id or file id
    names nothing, so every answer is a 404)."""
    return "{" in path or path == "/v1/batches"


def _respelled(case: Case[Any]) -> Case[Any]:
    case.body = _as_integers(case.body)
    return case


def _anthropic_dialect(path: str, sent: requests.PreparedRequest) -> bool:
    """The envelope the gateway answers errors in: Anthropic's on its own routes and for callers that
    speak it (``anthropic-version`` or ``x-api-key``), OpenAI's otherwise."""
    if path.startswith("/v1/messages"):
        return True
    if path.endswith("/chat/completions"):
        return False
    if path == "/v1/jobs" and isinstance(sent.body, bytes | str):  # a job naming its dialect: in it
        try:
            dialect = orjson.loads(sent.body).get("dialect")
        except (orjson.JSONDecodeError, AttributeError):
            dialect = None
        if dialect in ("anthropic", "openai"):
            return bool(dialect == "anthropic")
    return "anthropic-version" in sent.headers or "x-api-key" in sent.headers


def _check_error(path: str, response: Response) -> str:
    """The dialect of the error envelope, checked to be the route's (and the caller's)."""
    body = response.json()
    assert isinstance(body, dict), body
    error = body.get("error")
    assert isinstance(error, dict), body
    assert isinstance(error.get("message"), str) and isinstance(error.get("type"), str), body
    if _anthropic_dialect(path, response.request):
        assert body.get("type") == "error", body
        return "anthropic"
    assert "type" not in body, body
    return "openai"


def _check_stream(path: str, response: Response) -> None:
    assert not response.stream_cut_short, "the stream did not end within the request timeout"
    if path == "/v1/messages":
        try:
            validate_anthropic_sse(response.content)
        except APIStatusError as exc:  # an ``event: error`` frame: the gateway failed mid-stream
            raise AssertionError(f"the stream ended in an error: {exc}") from None
    elif path == "/v1/responses":  # typed events, numbered in order, ending in the response's end
        events = [(sse.event, orjson.loads(sse.data)) for sse in SSEDecoder().feed(response.content)]
        assert [data["sequence_number"] for _, data in events] == list(range(len(events))), events
        assert all(kind == data["type"] for kind, data in events), events
        assert events[-1][0] in ("response.completed", "response.incomplete"), events[-1]
    else:
        result = validate_chat_sse(response.content)
        assert result["error"] is None, result["error"]


def check_answer(path: str, case: Case[Any], response: Response) -> None:
    """No 5xx; errors as JSON envelopes of the caller's dialect; streams well formed to the end."""
    status = response.status_code
    content_type = (response.headers.get("content-type") or [""])[0]
    where = f"{status} for {case.as_curl_command()}\n{response.content[:2000]!r}"
    assert status < 500, where
    if status >= 400:
        assert content_type.startswith("application/json"), where
        TALLY.in_dialect(_check_error(path, response))
    elif content_type.startswith("text/event-stream"):
        _check_stream(path, response)


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS])
def test_generated_requests_never_get_a_server_error(
    target: Target, method: str, path: str, mode: GenerationMode
) -> None:
    operation = target.schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(_respelled)
    answers: collections.Counter[int] = collections.Counter()

    @settings(
        max_examples=EXAMPLES_FOR.get(f"{method} {path}", EXAMPLES),
        derandomize=True,
        database=None,
        deadline=None,
        # Shrinking a failure against a live server is slow; the first failing request is reported.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exchange(case: Case[Any]) -> None:
        response = case.call(base_url=target.base_url, session=target.session, timeout=60)
        TALLY.record(f"{method} {path}", response.status_code)
        check_answer(path, case, response)
        case.validate_response(response)
        answers[response.status_code // 100] += 1

    TALLY.start()
    exchange()
    TALLY.stop(f"{method} {path} {mode.value}")
    if mode is GenerationMode.POSITIVE and method == "POST" and not _names_a_resource(path):
        # Generated bodies must reach the model, not stop at the first check.
        assert answers[2] > 0, dict(answers)


@pytest.mark.parametrize("limit", ["²", "٣", "-1", "x"])
def test_a_limit_that_is_not_an_ascii_number_is_ignored(target: Target, limit: str) -> None:
    """Found by reading what the fuzzer drove: ``"²"`` passed ``isdigit()`` and failed ``int()`` (500)."""
    everything = target.session.get(f"{target.base_url}/v1/models", timeout=30).json()
    answer = target.session.get(f"{target.base_url}/v1/models", params={"limit": limit}, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == everything


def test_the_run_sent_a_thousand_requests_and_got_no_server_error() -> None:
    """The whole run's figures (printed at the end of the pytest run): when every operation ran."""
    if len(TALLY.runs) < len(RUNS):
        pytest.skip(f"only {len(TALLY.runs)} of the {len(RUNS)} runs were selected")
    assert TALLY.requests >= MINIMUM_REQUESTS, TALLY.lines()
    assert TALLY.operations == {f"{method} {path}" for method, path in OPERATIONS}
    assert TALLY.server_errors == 0
    assert sum(TALLY.error_dialects.values()) == TALLY.errors > 0
