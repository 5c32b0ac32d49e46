"""The reliability pipeline against simulators over real sockets: order, refusals, failover, usage."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from claudegate.client import (
    AsyncClient,
    CircuitBreaker,
    CircuitState,
    Client,
    Compression,
    Endpoint,
    EndpointHealth,
    Failover,
    QuotaLimit,
    QuotaManager,
    RateLimiter,
    Reliability,
    Request,
    RetryPolicy,
    cost_of_usage,
    price_for_model,
)
from claudegate.errors import (
    BadRequestError,
    CircuitOpenError,
    InternalServerError,
    QuotaExceededError,
    UserError,
)
from claudegate.simulator import SimulatorApp, SimulatorConfig, create_app
from claudegate.testing import LiveServer
from claudegate.types import Usage

KEY = "sk-ant-sim-test-000000"
MODEL = "claude-sonnet-5"
ASK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 120,
    "messages": [{"role": "user", "content": "Describe the harbour lights at dusk"}],
}
LONG_ASK: dict[str, Any] = {**ASK, "messages": [{"role": "user", "content": "harbour lights " * 400}]}
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, random=lambda: 0.0)
FAIL_500 = {"x-sim-fault": "500"}


class Inflate:
    """ASGI middleware that un-gzips request bodies for the simulator and remembers each encoding."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.encodings: list[str | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        encoding = headers.pop(b"content-encoding", None)
        self.encodings.append(encoding.decode() if encoding is not None else None)
        if encoding != b"gzip":
            await self.app(scope, receive, send)
            return
        wire = b""
        while True:
            message = await receive()
            wire += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = gzip.decompress(wire)
        headers[b"content-length"] = str(len(body)).encode()
        delivered = False

        async def inflated() -> Any:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": list(headers.items())}, inflated, send)


@dataclass
class Upstream:
    app: SimulatorApp
    base_url: str
    inflate: Inflate | None = None

    def requests(self) -> int:
        return sum(1 for e in self.app.simulator.log.entries() if e["path"] == "/v1/messages")

    def reset(self) -> None:
        self.app.simulator.log.clear()
        self.app.simulator.faults.reset()
        if self.inflate is not None:
            self.inflate.encodings.clear()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Upstream, Upstream, Upstream]]:
    main_app, spare_app, broken_app = (
        create_app(),
        create_app(),
        create_app(SimulatorConfig(fault="500")),
    )
    inflate = Inflate(main_app)
    with LiveServer(inflate) as main, LiveServer(spare_app) as spare, LiveServer(broken_app) as broken:
        yield (
            Upstream(main_app, main.base_url, inflate),
            Upstream(spare_app, spare.base_url),
            Upstream(broken_app, broken.base_url),
        )


@pytest.fixture
def upstreams(servers: tuple[Upstream, Upstream, Upstream]) -> tuple[Upstream, Upstream, Upstream]:
    for upstream in servers:
        upstream.reset()
    return servers


@pytest.fixture
def main(upstreams: tuple[Upstream, Upstream, Upstream]) -> Upstream:
    return upstreams[0]


@pytest.fixture
async def client(main: Upstream) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api_key=KEY, base_url=main.base_url) as c:
        yield c


def billed_tokens(usage: Usage) -> int:
    return (
        usage.input_tokens
        + usage.output_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )


# -- stages that write down when they run ----------------------------------------------------------


class TracedQuota(QuotaManager):
    def __init__(self, trace: list[str], limits: list[QuotaLimit]) -> None:
        super().__init__(limits)
        self.trace = trace

    def check(self, model: str, *, estimated_tokens: int = 0) -> None:
        self.trace.append("quota")
        super().check(model, estimated_tokens=estimated_tokens)

    def record(self, model: str, usage: Any = None) -> float:
        self.trace.append("record usage")
        return super().record(model, usage)


class TracedLimiter(RateLimiter):
    def __init__(self, trace: list[str], **options: Any) -> None:
        super().__init__(**options)
        self.trace = trace

    async def acquire(self, tokens: int = 0) -> float:
        self.trace.append("limiter")
        return await super().acquire(tokens)


class TracedFailover(Failover):
    def __init__(self, trace: list[str], endpoints: list[Endpoint | str]) -> None:
        super().__init__(endpoints)
        self.trace = trace

    def order(self) -> list[Endpoint]:
        self.trace.append("failover")
        return super().order()


class TracedBreaker(CircuitBreaker):
    def __init__(self, trace: list[str], **options: Any) -> None:
        super().__init__(**options)
        self.trace = trace

    def before_call(self) -> None:
        self.trace.append("breaker")
        super().before_call()


@dataclass(frozen=True)
class TracedCompression(Compression):
    trace: list[str] = field(default_factory=list)

    def apply(self, request: Request) -> Request:
        self.trace.append("compression")
        return super().apply(request)


def traced_pipeline(
    trace: list[str], base_url: str, *, refuse: str | None = None
) -> tuple[Reliability, TracedBreaker]:
    quota_limit = 0.0 if refuse == "quota" else 1000.0
    limiter = TracedLimiter(trace, requests_per_second=0.01, burst=1, max_wait=0.0)
    if refuse == "limiter":
        limiter.reserve()
    breaker = TracedBreaker(trace, failure_threshold=1, open_duration=60.0)
    if refuse == "breaker":
        breaker.record_failure()
    reliability = Reliability(
        quota=TracedQuota(trace, [QuotaLimit("requests", "day", quota_limit)]),
        limiter=limiter,
        failover=TracedFailover(trace, [base_url]),
        breaker=breaker,
        compression=TracedCompression(threshold=10, trace=trace),
    )
    return reliability, breaker


async def test_stages_run_in_the_documented_order(client: AsyncClient, main: Upstream) -> None:
    trace: list[str] = []
    reliability, breaker = traced_pipeline(trace, main.base_url)
    message = await client.messages.create(**ASK, reliability=reliability)
    assert message.stop_reason == "end_turn"
    assert trace == ["quota", "limiter", "failover", "breaker", "compression", "record usage"]
    assert main.requests() == 1 and main.inflate is not None and main.inflate.encodings == ["gzip"]
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("refuse", "error", "stages_run"),
    [
        ("quota", QuotaExceededError, ["quota"]),
        ("limiter", QuotaExceededError, ["quota", "limiter"]),
        ("breaker", CircuitOpenError, ["quota", "limiter", "failover", "breaker"]),
    ],
)
async def test_a_refusing_stage_stops_every_later_one(
    client: AsyncClient, main: Upstream, refuse: str, error: type[Exception], stages_run: list[str]
) -> None:
    trace: list[str] = []
    reliability, _ = traced_pipeline(trace, main.base_url, refuse=refuse)
    with pytest.raises(error):
        await client.messages.create(**ASK, reliability=reliability)
    assert trace == stages_run
    assert main.requests() == 0


async def test_quota_refuses_json_and_stream_calls_before_any_request(main: Upstream) -> None:
    quota = QuotaManager([QuotaLimit("requests", "day", 1)])
    async with AsyncClient(api_key=KEY, base_url=main.base_url, reliability=Reliability(quota=quota)) as c:
        await c.messages.create(**ASK)
        with pytest.raises(QuotaExceededError) as refused:
            await c.messages.create(**ASK)
        assert refused.value.quota == "day.requests"
        with pytest.raises(QuotaExceededError):
            async with c.messages.stream(**ASK):
                pass
    assert main.requests() == 1


async def test_usage_is_recorded_from_the_json_answer(client: AsyncClient) -> None:
    quota = QuotaManager([QuotaLimit("tokens", "day", 1_000_000)])
    message = await client.messages.create(**ASK, reliability=Reliability(quota=quota))
    used = quota.usage("day", MODEL)
    assert used["requests"] == 1 and used["tokens"] == billed_tokens(message.usage) > 0
    assert used["cost"] > 0
    assert quota.remaining()["day.tokens"] == 1_000_000 - billed_tokens(message.usage)


async def test_usage_is_recorded_from_the_stream_final_usage(client: AsyncClient) -> None:
    quota = QuotaManager([QuotaLimit("tokens", "day", 1_000_000)])
    reliability = Reliability(quota=quota)
    async with client.messages.stream(**ASK, reliability=reliability) as stream:
        assert quota.usage()["requests"] == 0  # nothing is counted before the stream has ended
        final = await stream.get_final_message()
    price = price_for_model(MODEL)
    assert final.usage.output_tokens > 0 and price is not None
    assert quota.usage("day", MODEL) == {
        "requests": 1,
        "tokens": billed_tokens(final.usage),
        "cost": pytest.approx(cost_of_usage(final.usage.model_dump(), price)),
    }


async def test_a_stream_closed_unread_still_counts_its_request(client: AsyncClient, main: Upstream) -> None:
    quota = QuotaManager([QuotaLimit("requests", "day", 10)])
    async with client.messages.stream(**ASK, reliability=Reliability(quota=quota)):
        pass
    assert main.requests() == 1
    assert quota.usage()["requests"] == 1 and quota.usage()["tokens"] == 0


async def test_breaker_opens_after_failures_then_refuses_without_sending(
    client: AsyncClient, main: Upstream
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_duration=60.0)
    reliability = Reliability(breaker=breaker)
    for _ in range(2):
        with pytest.raises(InternalServerError) as failed:
            await client.messages.create(
                **ASK, extra_headers=FAIL_500, retry=FAST_RETRY, reliability=reliability
            )
        assert failed.value.attempts == 3  # the retries of one call count as one failure
    assert breaker.state is CircuitState.OPEN and main.requests() == 6
    with pytest.raises(CircuitOpenError):
        await client.messages.create(**ASK, reliability=reliability)
    with pytest.raises(CircuitOpenError):
        async with client.messages.stream(**ASK, reliability=reliability):
            pass
    assert main.requests() == 6


async def test_failover_moves_on_only_after_the_first_endpoint_retries(
    upstreams: tuple[Upstream, Upstream, Upstream],
) -> None:
    _, spare, broken = upstreams
    failover = Failover([broken.base_url, spare.base_url])
    reliability = Reliability(failover=failover)
    async with AsyncClient(
        api_key=KEY, base_url=broken.base_url, retry=FAST_RETRY, reliability=reliability
    ) as c:
        message = await c.messages.create(**ASK)
        async with c.messages.stream(**ASK) as stream:
            text = await stream.get_final_text()
    assert message.stop_reason == "end_turn" and text
    assert broken.requests() == 6 and spare.requests() == 2
    assert failover.health() == {
        broken.base_url: EndpointHealth.DEGRADED,
        spare.base_url: EndpointHealth.HEALTHY,
    }


async def test_failover_tries_each_endpoint_once_and_never_for_a_bad_request(
    upstreams: tuple[Upstream, Upstream, Upstream],
) -> None:
    main, spare, _ = upstreams
    reliability = Reliability(failover=Failover([main.base_url, spare.base_url]))
    async with AsyncClient(api_key=KEY, base_url=main.base_url, retry=FAST_RETRY) as c:
        with pytest.raises(InternalServerError):
            await c.messages.create(**ASK, extra_headers=FAIL_500, reliability=reliability)
        assert (main.requests(), spare.requests()) == (3, 3)
        with pytest.raises(BadRequestError):
            await c.messages.create(**ASK, extra_headers={"x-sim-fault": "400"}, reliability=reliability)
    assert (main.requests(), spare.requests()) == (4, 3)


async def test_endpoint_breaker_takes_precedence_over_the_shared_one(
    upstreams: tuple[Upstream, Upstream, Upstream],
) -> None:
    _, spare, broken = upstreams
    own = CircuitBreaker(failure_threshold=1, open_duration=60.0)
    shared = CircuitBreaker(failure_threshold=1, open_duration=60.0)
    failover = Failover([Endpoint(broken.base_url, breaker=own), spare.base_url])
    reliability = Reliability(failover=failover, breaker=shared)
    async with AsyncClient(api_key=KEY, base_url=broken.base_url, reliability=reliability) as c:
        await c.messages.create(**ASK)
        await c.messages.create(**ASK)
    assert own.state is CircuitState.OPEN and shared.state is CircuitState.CLOSED
    assert broken.requests() == 1 and spare.requests() == 2  # the open circuit skipped the second call


async def test_compression_gzips_large_bodies_only(client: AsyncClient, main: Upstream) -> None:
    reliability = Reliability(compression=Compression(threshold=2000))
    long_reply = await client.messages.create(**LONG_ASK, reliability=reliability)
    short_reply = await client.messages.create(**ASK, reliability=reliability)
    assert long_reply.usage.input_tokens > 4 * short_reply.usage.input_tokens
    assert main.inflate is not None and main.inflate.encodings == ["gzip", None]


async def test_per_call_reliability_overrides_the_client(main: Upstream) -> None:
    client_quota = QuotaManager([QuotaLimit("requests", "day", 0)])
    call_quota = QuotaManager([QuotaLimit("requests", "day", 5)])
    async with AsyncClient(
        api_key=KEY, base_url=main.base_url, reliability=Reliability(quota=client_quota)
    ) as c:
        with pytest.raises(QuotaExceededError):
            await c.messages.create(**ASK)
        await c.messages.create(**ASK, reliability=None)
        await c.messages.create(**ASK, reliability=Reliability(quota=call_quota))
        async with c.messages.stream(**ASK, reliability=None) as stream:
            await stream.until_done()
    assert main.requests() == 3
    assert call_quota.usage()["requests"] == 1 and client_quota.usage()["requests"] == 0


async def test_calls_other_than_messages_pass_the_limiter_but_not_the_quota(
    client: AsyncClient,
) -> None:
    quota = QuotaManager([QuotaLimit("requests", "day", 0)])
    limiter = RateLimiter(requests_per_second=0.01, burst=1, max_wait=0.0)
    reliability = Reliability(quota=quota, limiter=limiter)
    models = [m async for m in client.models.list(reliability=reliability)]
    assert models and quota.usage()["requests"] == 0
    with pytest.raises(QuotaExceededError) as refused:
        await client.models.retrieve(models[0].id, reliability=reliability)
    assert refused.value.quota == "rate_limiter.requests_per_second"


async def test_failover_needs_requests_built_on_the_client_base_url(
    client: AsyncClient, main: Upstream
) -> None:
    reliability = Reliability(failover=Failover([main.base_url]))
    request = client.build_request("POST", "/v1/messages", ASK)
    request.url = "http://127.0.0.2:1/v1/messages"
    with pytest.raises(UserError):
        await client.send(request, reliability=reliability)
    assert main.requests() == 0


def test_sync_client_goes_through_the_pipeline(main: Upstream) -> None:
    quota = QuotaManager([QuotaLimit("requests", "day", 2)])
    with Client(api_key=KEY, base_url=main.base_url, reliability=Reliability(quota=quota)) as c:
        message = c.messages.create(**ASK)
        with c.messages.stream(**ASK) as stream:
            final = stream.get_final_message()
        with pytest.raises(QuotaExceededError):
            c.messages.create(**ASK)
    assert main.requests() == 2
    assert quota.usage()["tokens"] == billed_tokens(message.usage) + billed_tokens(final.usage)
