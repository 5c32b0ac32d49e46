"""HttpToolsTransport against scripted raw servers on loopback: framing, pooling, timeouts, TLS."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from claudegate.client import HttpToolsTransport, Request, Response, Timeout
from claudegate.errors import APIConnectionError, APITimeoutError, UserError
from tests.client._raw_http import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    RawRequest,
    RawServer,
    answer_ok,
    answer_then_close,
    chunk,
    chunked,
    response,
)

Writer = asyncio.StreamWriter
QUICK = Timeout(total=5, connect=2, read=5)


def request(
    url: str,
    *,
    method: str = "GET",
    stream: bool = False,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: Timeout = QUICK,
) -> Request:
    return Request(method, url, dict(headers or {}), content, timeout, stream)


async def body_of(response: Response) -> bytes:
    return b"".join([chunk async for chunk in response.aiter_bytes()])


@pytest.fixture
async def transport() -> AsyncIterator[HttpToolsTransport]:
    t = HttpToolsTransport()
    yield t
    await t.aclose()


async def test_the_request_leaves_exactly_as_given(transport: HttpToolsTransport) -> None:
    async with RawServer() as server:
        url = server.url("/v1/messages?beta=true")
        headers = {"x-api-key": "sk-test-000", "Content-Type": "application/json"}
        answer = await transport.handle(request(url, method="POST", headers=headers, content=b'{"a":1}'))
        assert answer.status_code == 200 and answer.attempts == 1
        assert await answer.aread() == b"/v1/messages?beta=true"
        await transport.handle(request(server.url("/plain")))
    post, get = server.requests
    assert (
        post.head
        == (
            f"POST /v1/messages?beta=true HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n"
            "x-api-key: sk-test-000\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n"
        ).encode()
    )
    assert post.body == b'{"a":1}'
    assert get.head == f"GET /plain HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n\r\n".encode()


async def test_line_breaks_in_headers_and_bad_urls_are_refused(transport: HttpToolsTransport) -> None:
    with pytest.raises(UserError) as info:
        await transport.handle(request("http://127.0.0.1:9/", headers={"x-a": "1\r\nx-injected: yes"}))
    assert "x-injected" not in str(info.value)
    for url in ("ftp://example.com/", "http:///nohost", "http://127.0.0.1:9/a b"):
        with pytest.raises(UserError):
            await transport.handle(request(url))


async def test_keep_alive_carries_every_request_on_one_connection(transport: HttpToolsTransport) -> None:
    async with RawServer() as server:
        for i in range(5):
            answer = await transport.handle(request(server.url(f"/{i}"), method="POST", content=b"x"))
            assert await answer.aread() == f"/{i}".encode()
    assert server.connections == 1
    assert [r.number for r in server.requests] == [0, 1, 2, 3, 4]


async def framed(r: RawRequest, writer: Writer) -> bool:
    if r.target == "/length":
        writer.write(response(b"hello world"))
    elif r.target == "/chunked":
        writer.write(response(chunked(b"hello ", b"world"), headers=[("transfer-encoding", "chunked")]))
    else:  # no length, no chunks: the body ends when the connection does
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nhello world")
        return False
    return True


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
async def test_content_length_chunked_and_until_close_bodies(
    transport: HttpToolsTransport, stream: bool
) -> None:
    async with RawServer(framed) as server:
        for path in ("/length", "/chunked", "/length", "/until-close", "/length"):
            answer = await transport.handle(request(server.url(path), stream=stream))
            assert (await body_of(answer) if stream else await answer.aread()) == b"hello world"
    # the until-close body used up its connection; the others shared one
    assert server.connections == 2
    assert [r.connection for r in server.requests] == [0, 0, 0, 0, 1]


async def no_reuse(r: RawRequest, writer: Writer) -> bool:
    if r.target == "/close":
        writer.write(response(b"bye", headers=[("Connection", "close")]))
    else:
        writer.write(response(b"old", version="1.0"))
    return True  # the server would go on; the client must not


async def test_connection_close_and_http_1_0_answers_are_not_reused(transport: HttpToolsTransport) -> None:
    async with RawServer(no_reuse) as server:
        for path in ("/close", "/http10", "/close"):
            await (await transport.handle(request(server.url(path)))).aread()
    assert server.connections == 3


async def odd_headers(r: RawRequest, writer: Writer) -> bool:
    headers = [("Retry-After", "3"), ("X-Dup", "a"), ("x-dup", "b"), ("Request-Id", "req_1")]
    writer.write(response(b"", headers=headers))
    return True


async def test_headers_are_case_insensitive_and_repeats_are_joined(transport: HttpToolsTransport) -> None:
    async with RawServer(odd_headers) as server:
        answer = await transport.handle(request(server.url()))
    headers = answer.headers
    assert headers.get("retry-after") == headers.get("Retry-After") == headers["RETRY-AFTER"] == "3"
    assert headers["x-dup"] == "a, b" and "X-Dup" in headers and "x-other" not in headers
    assert headers.get("missing") is None and headers.get("Missing", "d") == "d"
    with pytest.raises(KeyError):
        headers["Missing"]
    assert answer.request_id == "req_1"
    assert dict(headers) == {
        "retry-after": "3",
        "x-dup": "a, b",
        "request-id": "req_1",
        "content-length": "0",
    }


async def slowly(r: RawRequest, writer: Writer) -> bool:
    await asyncio.sleep(0.05)
    return await answer_ok(r, writer)


async def test_the_pool_never_opens_more_than_max_connections() -> None:
    transport = HttpToolsTransport(max_connections=2)
    async with RawServer(slowly) as server:
        answers = await asyncio.gather(*(transport.handle(request(server.url(f"/{i}"))) for i in range(5)))
        assert sorted([await a.aread() for a in answers]) == [f"/{i}".encode() for i in range(5)]
        await transport.aclose()
    assert server.connections == 2 and server.max_open == 2


async def held(r: RawRequest, writer: Writer) -> bool:
    if r.target != "/held":
        return await answer_ok(r, writer)
    writer.write(CHUNKED_HEAD + chunk(b"first"))
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.write(LAST_CHUNK)
    return True


async def test_waiting_for_a_pooled_connection_is_bounded_by_total_not_connect() -> None:
    transport = HttpToolsTransport(max_connections=1)
    async with RawServer(held) as server:
        holder = await transport.handle(request(server.url("/held"), stream=True))
        started = time.monotonic()
        patient = asyncio.ensure_future(
            transport.handle(request(server.url("/next"), timeout=Timeout(total=3, connect=0.01, read=3)))
        )
        with pytest.raises(APITimeoutError, match="total timeout"):
            await transport.handle(
                request(server.url("/hasty"), timeout=Timeout(total=0.1, connect=1, read=1))
            )
        assert 0.08 < time.monotonic() - started < 0.5
        assert await body_of(holder) == b"first"
        assert await (await patient).aread() == b"/next"
        assert time.monotonic() - started > 0.2  # it waited far longer than its connect timeout
        await transport.aclose()
    assert server.connections == 1


def closing(
    how: str, answered: Callable[[RawRequest], bool]
) -> Callable[[RawRequest, Writer], Awaitable[bool]]:
    """A server that answers the requests ``answered`` picks and drops the connection on the others."""

    async def handler(r: RawRequest, writer: Writer) -> bool:
        if answered(r):
            return await answer_ok(r, writer)
        if how == "reset":
            writer.transport.abort()
        return False

    return handler


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_stale_keep_alive_connection_is_retried_on_a_fresh_one(
    transport: HttpToolsTransport, how: str
) -> None:
    async with RawServer(closing(how, lambda r: r.number == 0)) as server:
        for path in ("/a", "/b", "/c"):
            assert await (await transport.handle(request(server.url(path)))).aread() == path.encode()
    assert server.connections == 3
    assert [(r.target, r.connection) for r in server.requests] == [
        ("/a", 0), ("/b", 0), ("/b", 1), ("/c", 1), ("/c", 2)
    ]  # fmt: skip


async def test_the_stale_retry_happens_once_and_never_on_a_fresh_connection(
    transport: HttpToolsTransport,
) -> None:
    async with RawServer(closing("close", lambda r: r.connection == 0 and r.number == 0)) as server:
        await transport.handle(request(server.url("/a")))
        with pytest.raises(APIConnectionError, match="without answering"):
            await transport.handle(request(server.url("/b")))
        assert len(server.requests) == 3  # /a, /b on the stale connection, /b on a fresh one
        with pytest.raises(APIConnectionError):
            await transport.handle(request(server.url("/c"), method="POST", content=b"{}"))
        assert len(server.requests) == 4


async def test_an_idle_connection_the_server_closed_is_replaced(transport: HttpToolsTransport) -> None:
    async with RawServer(answer_then_close) as server:
        for path in ("/a", "/b"):
            assert await (await transport.handle(request(server.url(path)))).aread() == path.encode()
            await server.wait_until(lambda: server.open_now == 0)
    assert server.connections == 2 and len(server.requests) == 2


async def test_idle_connections_expire_after_keepalive() -> None:
    transport = HttpToolsTransport(keepalive=0.1)
    async with RawServer() as server:
        await (await transport.handle(request(server.url("/a")))).aread()
        assert server.open_now == 1
        await server.wait_until(lambda: server.open_now == 0, timeout=1.0)
        await (await transport.handle(request(server.url("/b")))).aread()
        assert server.connections == 2
        await transport.aclose()
        await server.wait_until(lambda: server.open_now == 0)


async def test_closing_a_response_keeps_or_drops_its_connection(transport: HttpToolsTransport) -> None:
    async with RawServer(held) as server:
        whole = await transport.handle(request(server.url("/a"), stream=True))
        assert await body_of(whole) == b"/a"
        await whole.aclose()
        await whole.aclose()
        partial = await transport.handle(request(server.url("/held"), stream=True))
        assert partial.status_code == 200
        await partial.aclose()  # unread: the connection cannot be reused
        await server.wait_until(lambda: server.open_now == 0)
        await (await transport.handle(request(server.url("/c")))).aread()
    assert [r.connection for r in server.requests] == [0, 0, 1]


async def test_aclose_closes_pooled_connections_and_the_transport_reopens(
    transport: HttpToolsTransport,
) -> None:
    async with RawServer() as server:
        await transport.handle(request(server.url("/a")))
        await transport.aclose()
        await server.wait_until(lambda: server.open_now == 0)
        assert await (await transport.handle(request(server.url("/b")))).aread() == b"/b"
    assert server.connections == 2


async def test_aclose_fails_requests_in_flight_and_waiting() -> None:
    transport = HttpToolsTransport(max_connections=1)
    async with RawServer(held) as server:
        holder = await transport.handle(request(server.url("/held"), stream=True))
        waiting = asyncio.ensure_future(transport.handle(request(server.url("/next"))))
        await asyncio.sleep(0.02)
        await transport.aclose()
        with pytest.raises(APIConnectionError, match="closed"):
            await waiting
        with pytest.raises(APIConnectionError, match="closed"):
            await body_of(holder)
        await server.wait_until(lambda: server.open_now == 0)
    assert len(server.requests) == 1


async def doubled(r: RawRequest, writer: Writer) -> bool:
    writer.write(response(r.target.encode()) + (response(b"unasked") if r.target == "/twice" else b""))
    return True


async def test_an_answer_nobody_asked_for_retires_the_connection(transport: HttpToolsTransport) -> None:
    async with RawServer(doubled) as server:
        assert await (await transport.handle(request(server.url("/twice")))).aread() == b"/twice"
        assert await (await transport.handle(request(server.url("/next")))).aread() == b"/next"
    assert [r.connection for r in server.requests] == [0, 1]


async def cut(r: RawRequest, writer: Writer) -> bool:
    writer.write(response(b"0123456789" * 10)[:-90])
    await writer.drain()
    writer.transport.abort()
    return False


async def test_a_connection_cut_mid_body_is_a_connection_error(transport: HttpToolsTransport) -> None:
    async with RawServer(cut) as server:
        answer = await transport.handle(request(server.url(), stream=True))
        received = []
        with pytest.raises(APIConnectionError, match="mid-response"):
            async for chunk in answer.aiter_bytes():
                received.append(chunk)
        assert b"".join(received) == b"0123456789"
        with pytest.raises(APIConnectionError):
            await transport.handle(request(server.url()))


async def trickle(r: RawRequest, writer: Writer) -> bool:
    writer.write(CHUNKED_HEAD)
    pieces, pause = (6, 0.1) if r.target == "/steady" else (1, 3.0)
    for i in range(pieces):
        writer.write(chunk(str(i).encode()))
        await writer.drain()
        await asyncio.sleep(pause)
    writer.write(LAST_CHUNK)
    return True


async def test_the_read_timeout_counts_silence_not_duration(transport: HttpToolsTransport) -> None:
    limits = Timeout(total=0.2, connect=1, read=0.3)  # total stops counting once a stream has begun
    async with RawServer(trickle) as server:
        steady = await transport.handle(request(server.url("/steady"), stream=True, timeout=limits))
        assert await body_of(steady) == b"012345"
        silent = await transport.handle(request(server.url("/silent"), stream=True, timeout=limits))
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="read timeout"):
            await body_of(silent)
        assert 0.25 < time.monotonic() - started < 1.0


async def test_the_total_timeout_bounds_a_trickling_body_read_whole(transport: HttpToolsTransport) -> None:
    async with RawServer(trickle) as server:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="total timeout"):
            await transport.handle(request(server.url("/steady"), timeout=Timeout(total=0.35, read=5)))
        assert 0.3 < time.monotonic() - started < 0.8


async def test_a_refused_connection_fails_fast(transport: HttpToolsTransport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(APIConnectionError, match=f"127.0.0.1:{port}") as info:
        await transport.handle(request(f"http://127.0.0.1:{port}/"))
    assert not isinstance(info.value, APITimeoutError)
    assert time.monotonic() - started < 1.0


async def special(r: RawRequest, writer: Writer) -> bool:
    if r.target == "/gzip":
        packed = gzip.compress(b"squeezed " * 1000)
        half = len(packed) // 2
        writer.write(response(chunked(packed[:half], packed[half:]), headers=[
            ("content-encoding", "gzip"), ("transfer-encoding", "chunked")
        ]))  # fmt: skip
    elif r.target == "/interim":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"final"))
    elif r.target == "/broken":
        writer.write(b"HTTP/1.1 2x0 Nope\r\n\r\n")
    elif r.method == "HEAD":  # the length of a body that is not sent
        writer.write(response(b"eleven char")[: -len(b"eleven char")])
    else:
        return await answer_ok(r, writer)
    return True


async def test_gzip_interim_head_and_malformed_answers(transport: HttpToolsTransport) -> None:
    async with RawServer(special) as server:
        assert await (await transport.handle(request(server.url("/gzip")))).aread() == b"squeezed " * 1000
        streamed = await transport.handle(request(server.url("/gzip"), stream=True))
        assert await body_of(streamed) == b"squeezed " * 1000
        interim = await transport.handle(request(server.url("/interim")))
        assert interim.status_code == 200 and await interim.aread() == b"final"
        head = await transport.handle(request(server.url("/head"), method="HEAD"))
        assert head.headers["content-length"] == "11" and await head.aread() == b""
        assert await (await transport.handle(request(server.url("/after-head")))).aread() == b"/after-head"
        assert server.connections == 1
        with pytest.raises(APIConnectionError, match="malformed"):
            await transport.handle(request(server.url("/broken")))


async def test_a_slow_reader_holds_the_server_back(transport: HttpToolsTransport) -> None:
    piece = bytes(range(256)) * 4096  # 1 MiB
    sent: list[int] = []

    async def firehose(r: RawRequest, writer: Writer) -> bool:
        writer.write(response(b"", headers=[("content-length", str(32 * len(piece)))]))
        for _ in range(32):
            writer.write(piece)
            await writer.drain()
            sent.append(len(piece))
        return True

    async with RawServer(firehose) as server:
        answer = await transport.handle(request(server.url(), stream=True))
        chunks = answer.aiter_bytes()
        received = [await anext(chunks)]
        await asyncio.sleep(0.3)  # a reader that does not read: the socket must stop being read
        assert sum(sent) < 24 * len(piece)
        received += [c async for c in chunks]
    body = b"".join(received)
    assert len(body) == 32 * len(piece) and body[-len(piece) :] == piece and sum(sent) == len(body)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_sni_and_keep_alive(certificate: tuple[Path, Path]) -> None:
    cert = certificate[0]
    names: list[str | None] = []
    server_context = server_tls(certificate)
    server_context.sni_callback = lambda sock, name, context: names.append(name)
    trusting = HttpToolsTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
    doubting = HttpToolsTransport()
    async with RawServer(ssl_context=server_context) as server:
        for path in ("/a", "/b"):
            answer = await trusting.handle(request(server.url(path, host="localhost")))
            assert await answer.aread() == path.encode()
        with pytest.raises(APIConnectionError, match="TLS handshake"):
            await doubting.handle(request(server.url("/c", host="localhost")))
        await trusting.aclose()
        await doubting.aclose()
        await server.wait_until(lambda: server.open_now == 0)
    assert names[0] == "localhost" and server.connections == 1  # kept alive; the refused one never began
    assert server.requests[0].header("host") == f"localhost:{server.port}"


async def test_an_ipv6_literal_host(transport: HttpToolsTransport) -> None:
    async with RawServer(host="::1") as server:
        answer = await transport.handle(request(server.url("/six")))
        assert await answer.aread() == b"/six"
    assert server.requests[0].header("host") == f"[::1]:{server.port}"


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def uvloop_scenario(certificate: tuple[Path, Path]) -> list[bytes]:
    transport = HttpToolsTransport(ssl_context=ssl.create_default_context(cafile=str(certificate[0])))
    bodies: list[bytes] = []
    async with RawServer(trickle) as server:
        steady = await transport.handle(request(server.url("/steady"), stream=True))
        bodies.append(await body_of(steady))
        silent = await transport.handle(
            request(server.url("/silent"), stream=True, timeout=Timeout(read=0.2))
        )
        with pytest.raises(APITimeoutError):
            await body_of(silent)
        server.handler = answer_ok
        bodies.append(await (await transport.handle(request(server.url("/x")))).aread())
        async with RawServer(ssl_context=server_tls(certificate)) as secure:
            for path in ("/tls", "/again"):
                bodies.append(await (await transport.handle(request(secure.url(path, "localhost")))).aread())
            await transport.aclose()
            await secure.wait_until(lambda: secure.open_now == 0)
        assert server.connections == 2 and secure.connections == 1
    return bodies


def test_it_runs_on_uvloop(certificate: tuple[Path, Path]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(uvloop_scenario(certificate)) == [b"012345", b"/x", b"/tls", b"/again"]
