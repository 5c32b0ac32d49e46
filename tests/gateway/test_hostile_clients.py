"""Hostile clients at the HTTP edge (``gateway.edge``), over a real uvicorn socket: oversized
heads, slowloris, silent and stalled connections, too many connections, broken framing. Each is
refused in JSON or closed, and the clients around it keep being served."""

from __future__ import annotations

import asyncio
import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from tests.gateway import _wire
from tests.gateway.conftest import Live, serve, simulator_route

EDGE = {"header_timeout": 1.0, "body_idle_timeout": 0.5, "body_timeout": 2.0, "keep_alive_timeout": 0.5}
HEAD_LIMIT = 64 * 1024  # the default max_header_bytes
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def edge() -> Iterator[Live]:
    """A gateway with short edge timeouts, one per module."""
    with serve({"gateway": {"edge": EDGE}, "models": [simulator_route()]}) as live:
        yield live


def port_of(live: Live) -> int:
    port = urlsplit(live.base_url).port
    assert port is not None
    return port


@dataclass(frozen=True)
class Answer:
    """What a raw client got before the server closed the connection."""

    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The error object of a JSON error envelope (checking the envelope and its headers)."""
        assert self.headers["content-type"] == "application/json"
        assert self.headers["connection"] == "close"
        envelope = orjson.loads(self.body)
        assert envelope["type"] == "error" and set(envelope["error"]) == {"type", "message"}
        error: dict[str, Any] = envelope["error"]
        return error


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split(" ", 2)[1]), headers, body)


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a socket timeout fails the test)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send ``request`` raw; return what came back before the server closed, and after how long."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        began = time.monotonic()
        try:
            sock.sendall(request)
        except OSError:
            pass  # refused while still sending: the answer is already on its way
        return read_to_close(sock), time.monotonic() - began


def test_a_64_mb_header_is_refused_at_once_and_other_clients_are_not_stalled(edge: Live) -> None:
    port = port_of(edge)
    megabyte = b"a" * (1024 * 1024)
    stop, started = threading.Event(), threading.Event()
    attacks: list[tuple[bytes, int, float]] = []

    def attack() -> None:
        # A 64 MB x-api-key, sent as fast as the server takes it, again and again until told.
        while not stop.is_set():
            with socket.create_connection((HOST, port), timeout=10) as sock:
                began, sent = time.monotonic(), 0
                try:
                    sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\nx-api-key: ")
                    while sent < 64 * len(megabyte) and not select.select([sock], [], [], 0)[0]:
                        sock.sendall(megabyte)
                        sent += len(megabyte)
                        started.set()
                except OSError:
                    pass  # the server closed on us
                attacks.append((read_to_close(sock), sent, time.monotonic() - began))

    attacker = threading.Thread(target=attack)
    attacker.start()
    latencies, statuses = [], []
    try:
        assert started.wait(10)
        connection = _wire.connect(edge.base_url)
        # For a second at least, and through a few dozen attacks.
        until = time.monotonic() + 1.0
        while time.monotonic() < until or len(attacks) < 30:
            began = time.perf_counter()
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - began)
            statuses.append(response.status)
            assert time.monotonic() < until + 30, "the attacks did not finish"
        connection.close()
    finally:
        stop.set()
        attacker.join(30)
    assert set(statuses) == {200}
    p99 = sorted(latencies)[int(0.99 * len(latencies))]
    assert p99 < 1.0, f"p99 {p99:.3f} s while 64 MB headers were being sent"
    assert attacks
    for raw, sent, seconds in attacks:
        answer = parse(raw)
        assert answer.status == 431
        assert answer.error() == {
            "type": "invalid_request_error",
            "message": f"the request head is larger than {HEAD_LIMIT} bytes",
        }
        assert sent < 64 * len(megabyte)  # the server stopped taking it long before the end
        assert seconds < 5.0


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (10_000, f"the request head is larger than {HEAD_LIMIT} bytes"),  # ~120 KB: the size stops it
        (101, "more than 100 header fields"),
    ],
)
def test_too_many_headers_are_refused(edge: Live, count: int, message: str) -> None:
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(count - 1))
    raw, _ = exchange(port_of(edge), b"GET /health HTTP/1.1\r\nhost: edge\r\n" + fields + b"\r\n")
    answer = parse(raw)
    assert answer.status == 431
    assert answer.error() == {"type": "invalid_request_error", "message": message}


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (20_000, "a header field is larger than 16384 bytes"),
        (1024 * 1024, f"the request head is larger than {HEAD_LIMIT} bytes"),
    ],
)
def test_an_oversized_header_value_is_refused(edge: Live, size: int, message: str) -> None:
    request = b"GET /health HTTP/1.1\r\nhost: edge\r\nx-api-key: " + b"k" * size + b"\r\n\r\n"
    answer = parse(exchange(port_of(edge), request)[0])
    assert answer.status == 431
    assert answer.error() == {"type": "invalid_request_error", "message": message}


def test_oversized_trailers_are_refused(edge: Live) -> None:
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ntransfer-encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\nx-trailer: " + b"t" * (1024 * 1024) + b"\r\n\r\n"
    )
    answer = parse(exchange(port_of(edge), request)[0])
    assert answer.status == 431
    assert answer.error()["type"] == "invalid_request_error"


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """Room for 500 client sockets and their 500 server ends in this one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def slowloris(port: int, interval: float) -> tuple[float, bytes, int]:
    """Send a head one header line every ``interval`` seconds until the server closes the
    connection; return after how long, what the server sent, and how many lines went out."""
    reader, writer = await asyncio.open_connection(HOST, port)
    began = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\nhost: edge\r\n")
    lines, received = 1, b""
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), interval)
            except TimeoutError:
                writer.write(b"x-slow-%d: still here\r\n" % lines)
                lines += 1
                continue
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - began
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return elapsed, received, lines


async def health(port: int) -> int:
    # Sent from a thread as soon as the connection is up: from this loop, busy with 500 lorises on
    # a loaded machine, the request could follow the connection by more than header_timeout, and
    # the server then rightly closes a connection that never said a word.
    raw = await asyncio.to_thread(
        exchange, port, b"GET /health HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n"
    )
    return parse(raw[0]).status


async def test_500_slowloris_connections_are_all_closed_and_normal_requests_keep_working(
    edge: Live, many_descriptors: None
) -> None:
    port = port_of(edge)
    # Half send a line faster than header_timeout (activity does not extend the deadline), half
    # slower (the silence does not either).
    lorises = asyncio.gather(*(slowloris(port, 0.3 if n % 2 else 1.5) for n in range(500)))
    statuses = []
    try:
        while not lorises.done():
            statuses.append(await health(port))
    finally:  # the lorises end (closed by the server) whatever the probes found
        results = await asyncio.wait_for(lorises, 30)
    assert statuses and set(statuses) == {200}
    for elapsed, received, _ in results:
        answer = parse(received)
        assert answer.status == 408
        assert answer.error() == {
            "type": "timeout_error",
            "message": "the request head did not arrive in time",
        }
        assert elapsed < 15.0  # (from the client's side: no lower bound, its own loop is busy)
    assert max(lines for _, _, lines in results) >= 3  # the fast ones were still sending


def test_a_connection_that_sends_nothing_is_closed(edge: Live) -> None:
    raw, elapsed = exchange(port_of(edge), b"")
    assert raw == b""
    assert 0.8 * EDGE["header_timeout"] <= elapsed < 10.0


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(edge: Live) -> None:
    raw, elapsed = exchange(port_of(edge), b"GET /health HTTP/1.1\r\nhost: edge\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.count(b"HTTP/1.1") == 1
    assert 0.8 * EDGE["keep_alive_timeout"] <= elapsed < 10.0


def test_a_body_shorter_than_its_content_length_gets_408_then_close(edge: Live) -> None:
    request = b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ncontent-length: 100\r\n\r\n" + b'{"model":'
    raw, elapsed = exchange(port_of(edge), request)
    answer = parse(raw)
    assert answer.status == 408
    assert answer.error() == {"type": "timeout_error", "message": "the request body did not arrive in time"}
    assert 0.8 * EDGE["body_idle_timeout"] <= elapsed < 10.0


def test_a_trickling_body_gets_408_at_the_body_timeout(edge: Live) -> None:
    with socket.create_connection((HOST, port_of(edge)), timeout=10) as sock:
        began = time.monotonic()
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ncontent-length: 1000\r\n\r\n")
        # A byte every 0.2 s: never idle for body_idle_timeout, never done either.
        while not select.select([sock], [], [], 0.2)[0]:
            sock.sendall(b" ")
        raw = read_to_close(sock)
        elapsed = time.monotonic() - began
    assert parse(raw).status == 408
    assert 0.8 * EDGE["body_timeout"] <= elapsed < 10.0


def eventually(probe: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_connection_over_max_connections_is_refused_with_503_and_open_ones_are_served() -> None:
    config = {"gateway": {"edge": {"max_connections": 2}}, "models": [simulator_route()]}
    with serve(config) as live:
        holders = [_wire.connect(live.base_url) for _ in range(2)]
        for holder in holders:  # two kept-alive connections, surely counted once they are answered
            holder.request("GET", "/health")
            assert holder.getresponse().read() == b'{"status":"ok"}'
        raw, _ = exchange(port_of(live), b"GET /health HTTP/1.1\r\nhost: edge\r\n\r\n")
        answer = parse(raw)
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.error()["type"] == "overloaded_error"
        holders[0].request("GET", "/health")  # those already in keep being served
        assert holders[0].getresponse().status == 200
        holders[1].close()
        assert eventually(lambda: _wire.call(live.base_url, "GET", "/health").status == 200)
        holders[0].close()


@pytest.mark.parametrize(
    ("request_bytes", "detail"),
    [
        (b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ncontent-length: 12abc\r\n\r\n", "Content-Length"),
        (
            b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ntransfer-encoding: chunked\r\n\r\nnot-hex\r\n",
            "chunk size",
        ),
        (
            b"POST /v1/messages HTTP/1.1\r\nhost: edge\r\ncontent-length: 2\r\n"
            b"transfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "Content-Length",
        ),
        (b"GET /health HTTP/1.1 trailing\r\n\r\n", "version"),
    ],
    ids=["bad content-length", "bad chunking", "content-length with chunked", "bad request line"],
)
def test_malformed_requests_get_a_json_400(edge: Live, request_bytes: bytes, detail: str) -> None:
    answer = parse(exchange(port_of(edge), request_bytes)[0])
    assert answer.status == 400
    error = answer.error()
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("malformed HTTP request") and detail in error["message"]
