"""Gateway overhead: direct to a fast upstream vs through the gateway, in one run.

    .venv/bin/python bench/gateway.py [--seconds 3] [--latency-requests 2000] [--observability]

The gateway runs in its own process, one worker pinned to core 1; the upstream (raw asyncio,
canned answers, 20-delta streams) and the load generator share core 0. For Anthropic
pass-through, OpenAI Chat→Anthropic and OpenAI Responses→Anthropic translation, Anthropic
client → OpenAI upstream and OpenAI pass-through (an OpenAI client to an OpenAI-compatible
upstream), JSON and stream (``--only`` picks cases by name), it reports requests/s at
concurrency 50, p50/p99 latency and added latency at concurrency 1, time to first byte, the
gateway's CPU per request (utime+stime / requests; at concurrency 1, where every request pays its own
system calls and loop wake-ups, and at concurrency 50), its RSS after 50,000 requests, and its cold
start to first answer. The gateway runs with tracing and the access log off; ``--observability``
instead compares its CPU per request with both off, with the access log on (one JSON line per
request written to /dev/null), with spans too (``--trace-ratio`` of the traces sampled) handed to an
exporter that sends nothing, and with spans exported by OTLP over HTTP to a local sink; then it
measures, in its own process, what the OpenTelemetry SDK alone spends on the two spans of a call
(not exported, and OTLP-encoded) beside the gateway's own code for them and for its access-log
line, so that the SDK's floor and the gateway's share can be told apart. CPU time is the
scheduler's per-thread nanosecond count where ``/proc`` has it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop

from bench._common import free_port, pin_to_core
from bench._wire import MODEL, HttpConnection, UpstreamServer, post

KEY_ENV = "CLAUDEGATE_BENCH_UPSTREAM_KEY"
ANTHROPIC_HEADERS = {"x-api-key": "sk-bench-0000000000", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer sk-bench-0000000000"}
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark."}]
OPENAI_MODEL = "gpt-bench"
"""The route to the upstream's OpenAI-compatible face (``/v1/chat/completions``)."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    name: str
    direct: bytes
    via: bytes
    stream: bool


def cases() -> list[Case]:
    anthropic = orjson.dumps({"model": MODEL, "max_tokens": 256, "messages": MESSAGES})
    anthropic_stream = orjson.dumps({"model": MODEL, "max_tokens": 256, "messages": MESSAGES, "stream": True})
    chat = orjson.dumps({"model": MODEL, "messages": MESSAGES})
    chat_stream = orjson.dumps({"model": MODEL, "messages": MESSAGES, "stream": True})
    to_openai = orjson.dumps({"model": OPENAI_MODEL, "max_tokens": 256, "messages": MESSAGES})
    to_openai_stream = orjson.dumps(
        {"model": OPENAI_MODEL, "max_tokens": 256, "messages": MESSAGES, "stream": True}
    )
    # Not stored: these rows measure the translation (a stored answer adds one database write).
    responses = orjson.dumps({"model": MODEL, "input": MESSAGES, "store": False})
    responses_stream = orjson.dumps({"model": MODEL, "input": MESSAGES, "store": False, "stream": True})
    return [
        Case(
            "pass-through JSON",
            post("/v1/messages", anthropic, ANTHROPIC_HEADERS),
            post("/v1/messages", anthropic, ANTHROPIC_HEADERS),
            False,
        ),
        Case(
            "pass-through stream",
            post("/v1/messages", anthropic_stream, ANTHROPIC_HEADERS),
            post("/v1/messages", anthropic_stream, ANTHROPIC_HEADERS),
            True,
        ),
        Case(
            "translated JSON",
            post("/v1/messages", anthropic, ANTHROPIC_HEADERS),
            post("/v1/chat/completions", chat, OPENAI_HEADERS),
            False,
        ),
        Case(
            "translated stream",
            post("/v1/messages", anthropic_stream, ANTHROPIC_HEADERS),
            post("/v1/chat/completions", chat_stream, OPENAI_HEADERS),
            True,
        ),
        Case(
            "to OpenAI JSON",
            post("/v1/chat/completions", chat, OPENAI_HEADERS),
            post("/v1/messages", to_openai, ANTHROPIC_HEADERS),
            False,
        ),
        Case(
            "to OpenAI stream",
            post("/v1/chat/completions", chat_stream, OPENAI_HEADERS),
            post("/v1/messages", to_openai_stream, ANTHROPIC_HEADERS),
            True,
        ),
        Case(
            "Responses JSON",
            post("/v1/messages", anthropic, ANTHROPIC_HEADERS),
            post("/v1/responses", responses, OPENAI_HEADERS),
            False,
        ),
        Case(
            "Responses stream",
            post("/v1/messages", anthropic_stream, ANTHROPIC_HEADERS),
            post("/v1/responses", responses_stream, OPENAI_HEADERS),
            True,
        ),
        *openai_passthrough_cases(),
    ]


def openai_passthrough_cases() -> list[Case]:
    """An OpenAI client to an OpenAI-compatible upstream (a stream without ``include_usage``: the
    gateway asks for usage upstream and hides it)."""
    chat = orjson.dumps({"model": OPENAI_MODEL, "messages": MESSAGES})
    chat_stream = orjson.dumps({"model": OPENAI_MODEL, "messages": MESSAGES, "stream": True})
    rows = []
    for name, body, stream in (("JSON", chat, False), ("stream", chat_stream, True)):
        raw = post("/v1/chat/completions", body, OPENAI_HEADERS)
        rows.append(Case(f"OpenAI pass-through {name}", raw, raw, stream))
    return rows


def cpu_seconds(pid: int) -> float:
    """CPU seconds ``pid`` has run: the sum over its threads of the scheduler's nanosecond count
    (``/proc/PID/task/*/schedstat``), else utime + stime in clock ticks (10 ms apart)."""
    total, found = 0, False
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
            found = True
        except (OSError, ValueError, IndexError):  # a thread that ended, or no schedstat here
            continue
    if found:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_seconds(pid: int) -> float:
    """CPU seconds the threads of ``pid`` have run, to the nanosecond (``cpu_seconds`` counts clock
    ticks: too coarse for a load of a fraction of a second). A thread that ended no longer counts."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile
            continue
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


OBSERVABILITY_OFF = "observability:\n  tracing: false\n  access_log:\n    enabled: false\n"
OBSERVABILITY_ON = "observability:\n  tracing: true\n  access_log:\n    enabled: true\n    format: json\n"


def start_gateway(
    upstream_port: int,
    core: int,
    settings: str = "",
    env: dict[str, str] | None = None,
    observability: str = OBSERVABILITY_OFF,
    preamble: str = "",
    profile: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start ``claudegate serve`` pinned to ``core``; return (process, port, seconds to first answer).

    ``settings``: YAML lines put before the routes (a ``gateway:`` section); ``observability``:
    the section that turns tracing and the access log on or (by default) off; ``env``: more
    environment; ``preamble``: Python run in the gateway process before it starts; ``profile``:
    where the gateway writes cProfile statistics (see ``profiled``). Its stderr (the access log)
    goes to /dev/null."""
    config = Path(tempfile.mkdtemp()) / "gateway.yaml"
    config.write_text(
        settings + observability + "models:\n"
        f"  - name: {MODEL}\n"
        "    deployments:\n"
        "      - provider: anthropic\n"
        f"        base_url: http://127.0.0.1:{upstream_port}\n"
        f"        api_key: env:{KEY_ENV}\n"
        f"  - name: {OPENAI_MODEL}\n"
        "    deployments:\n"
        "      - provider: openai\n"
        f"        base_url: http://127.0.0.1:{upstream_port}/v1\n"
        f"        api_key: env:{KEY_ENV}\n"
    )
    port = free_port()
    argv = ["claudegate", "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
    code = (
        "import os, sys\n"
        f"if hasattr(os, 'sched_setaffinity') and {core} < os.cpu_count():\n"
        f"    os.sched_setaffinity(0, {{{core}}})\n"
        + preamble
        + (_PROFILER.format(path=str(profile)) if profile is not None else "")
        + "from claudegate.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "main()\n"
    )
    environment = {**os.environ, KEY_ENV: "sk-bench-upstream-0000", **(env or {})}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, port, started


_PROFILER = """\
import cProfile, signal
profiler = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
signal.signal(signal.SIGUSR2, lambda *_: (profiler.disable(), profiler.dump_stats({path!r})))
"""


@asynccontextmanager
async def profiled(process: subprocess.Popen[bytes], path: Path | None) -> AsyncIterator[None]:
    """Profile a gateway started with ``profile=path`` while the block runs (nothing when ``path``
    is None); its statistics are in ``path`` after the block (``python -m pstats path``)."""
    if path is None:
        yield
        return
    path.unlink(missing_ok=True)
    process.send_signal(signal.SIGUSR1)
    try:
        yield
    finally:
        process.send_signal(signal.SIGUSR2)
        deadline = time.perf_counter() + 10
        while not path.exists() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)


async def first_answer(port: int, started: float, timeout: float = 30.0) -> float:
    request = post(
        "/v1/messages",
        orjson.dumps({"model": MODEL, "max_tokens": 8, "messages": MESSAGES}),
        ANTHROPIC_HEADERS,
    )
    while time.perf_counter() - started < timeout:
        try:
            connection = await HttpConnection.open(port)
        except OSError:
            await asyncio.sleep(0.002)
            continue
        status, _, _, _ = await connection.request(request)
        connection.close()
        if status == 200:
            return time.perf_counter() - started
    raise RuntimeError("the gateway did not answer")


async def sequential(port: int, raw: bytes, count: int) -> tuple[list[float], list[float]]:
    connection = await HttpConnection.open(port)
    totals, firsts = [], []
    for _ in range(count):
        status, _, first, total = await connection.request(raw)
        if status != 200:
            raise RuntimeError(f"status {status}")
        totals.append(total)
        firsts.append(first)
    connection.close()
    return totals, firsts


async def throughput(port: int, raw: bytes, seconds: float, concurrency: int) -> tuple[int, float]:
    connections = [await HttpConnection.open(port) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(connection: HttpConnection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status, _, _, _ = await connection.request(raw)
            if status != 200:
                raise RuntimeError(f"status {status}")
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.close()
    return done, elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace) -> None:
    upstream = UpstreamServer(deltas=20, openai=True)
    await upstream.start()
    process, port, started = start_gateway(upstream.port, core=1)
    try:
        cold = await first_answer(port, started)
        served = 1
        rows = []
        for case in cases():
            if args.only and not any(name in case.name for name in args.only):
                continue
            direct, direct_first = await sequential(upstream.port, case.direct, args.latency_requests)
            cpu_before = cpu_seconds(process.pid)
            via, via_first = await sequential(port, case.via, args.latency_requests)
            cpu_per_request = (cpu_seconds(process.pid) - cpu_before) / args.latency_requests * 1000
            cpu_before = cpu_seconds(process.pid)
            done, elapsed = await throughput(port, case.via, args.seconds, args.concurrency)
            cpu_loaded = (cpu_seconds(process.pid) - cpu_before) / done * 1000
            served += args.latency_requests + done
            rows.append(
                (case, direct, direct_first, via, via_first, cpu_per_request, cpu_loaded, done / elapsed)
            )
        while served < 50_000 and not args.only:
            done, _ = await throughput(port, cases()[0].via, 1.0, args.concurrency)
            served += done
        rss = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        await upstream.close()
    print(
        f"gateway benchmark: concurrency 1 for latency ({args.latency_requests} requests), "
        f"{args.concurrency} for throughput ({args.seconds:g} s); gateway on core 1"
    )
    width = max(22, *(len(row[0].name) + 2 for row in rows))
    print(
        f"{'':{width}}{'req/s c50':>10}{'p50 ms':>8}{'p99 ms':>8}{'+p50 ms':>9}{'+p99 ms':>9}"
        f"{'ttfb ms':>9}{'+ttfb':>7}{'cpu c1':>8}{'cpu c50':>8}"
    )
    for case, direct, direct_first, via, via_first, cpu, cpu_loaded, rps in rows:
        added50 = pct(via, 0.5) - pct(direct, 0.5)
        added99 = pct(via, 0.99) - pct(direct, 0.99)
        ttfb = pct(via_first, 0.5) if case.stream else float("nan")
        added_ttfb = ttfb - pct(direct_first, 0.5) if case.stream else float("nan")
        print(
            f"{case.name:{width}}{rps:>10,.0f}{pct(via, 0.5):>8.3f}{pct(via, 0.99):>8.3f}{added50:>9.3f}"
            f"{added99:>9.3f}{ttfb:>9.3f}{added_ttfb:>7.3f}{cpu:>8.3f}{cpu_loaded:>8.3f}"
        )
    print(f"gateway RSS after {served:,} requests: {rss:.1f} MB; cold start to first answer: {cold:.2f} s")
    print(f"(direct p50 to the upstream: {statistics.median(rows[0][1]) * 1000:.3f} ms)")


async def _otlp_sink() -> tuple[asyncio.Server, int]:
    """An OTLP/HTTP endpoint that accepts every export (200, empty body) and keeps nothing."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _cpu_per_request(port: int, pid: int, case: Case, args: argparse.Namespace) -> tuple[float, float]:
    """The gateway's CPU ms per request at concurrency 1 and at ``args.concurrency``."""
    before = cpu_seconds(pid)
    await sequential(port, case.via, args.latency_requests)
    single = (cpu_seconds(pid) - before) / args.latency_requests * 1000
    before = cpu_seconds(pid)
    done, _ = await throughput(port, case.via, args.seconds, args.concurrency)
    return single, (cpu_seconds(pid) - before) / done * 1000


ACCESS_LOG_ONLY = "observability:\n  tracing: false\n  access_log:\n    enabled: true\n    format: json\n"
ROOT = str(Path(__file__).resolve().parent.parent)


def observability_cases(ratio: float, sink_port: int) -> list[tuple[str, str, dict[str, str] | None, str]]:
    """(name, observability section, environment, preamble) of each gateway the comparison runs."""
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(ratio),
    }
    null_tracing = (
        f"sys.path.insert(0, {ROOT!r})\n"
        "from bench._span_floor import install_null_tracing\n"
        f"install_null_tracing({ratio!r})\n"
    )
    return [
        ("off", OBSERVABILITY_OFF, None, ""),
        ("access log", ACCESS_LOG_ONLY, None, ""),
        ("access log + spans, not exported", OBSERVABILITY_ON, None, null_tracing),
        ("access log + spans, OTLP/HTTP", OBSERVABILITY_ON, otlp, ""),
    ]


async def observability(args: argparse.Namespace) -> None:
    """CPU per request with tracing and the access log off, then on in steps (``--observability``),
    and the SDK's own floor for the same spans."""
    upstream = UpstreamServer(deltas=20, openai=True)
    await upstream.start()
    sink, sink_port = await _otlp_sink()
    chosen = [case for case in cases() if not args.only or any(name in case.name for name in args.only)]
    settings = observability_cases(args.trace_ratio, sink_port)
    figures: dict[str, list[tuple[float, float]]] = {case.name: [] for case in chosen}
    try:
        for _, section, extra, preamble in settings:
            process, port, started = start_gateway(
                upstream.port, core=1, env=extra, observability=section, preamble=preamble
            )
            try:
                await first_answer(port, started)
                for case in chosen:
                    await sequential(port, case.via, 200)  # warm
                    figures[case.name].append(await _cpu_per_request(port, process.pid, case, args))
            finally:
                process.terminate()
                # Waited for off the loop: the gateway exports its last spans to the sink this loop serves.
                await asyncio.to_thread(process.wait, 10)
    finally:
        sink.close()
        await upstream.close()
    print(
        f"tracing and access log (JSON lines to /dev/null): gateway CPU ms per request "
        f"(traces sampled: {args.trace_ratio:g}; concurrency 1: {args.latency_requests} requests; "
        f"{args.concurrency}: {args.seconds:g} s)"
    )
    width = max(36, *(len(name) + 4 for name, _, _, _ in settings))
    print(f"{'':{width}}{'c1':>8}{'+c1':>8}{'c50':>8}{'+c50':>8}")
    for case_name, rows in figures.items():
        print(case_name)
        (off1, off50) = rows[0]
        for (name, _, _, _), (one, fifty) in zip(settings, rows, strict=True):
            print(f"  {name:{width - 2}}{one:>8.3f}{one - off1:>8.3f}{fifty:>8.3f}{fifty - off50:>8.3f}")
    _print_floor(args.trace_ratio)


def _print_floor(ratio: float) -> None:
    """The SDK's floor beside the gateway's own code for the same spans (``bench/_span_floor.py``)."""
    from bench._span_floor import floor

    print("what the same work costs in this process (CPU µs per call, best of 5 rounds of 2,000):")
    found = dict(floor())
    for name, micros in found.items():
        print(f"  {name:58}{micros:>8.1f}")
    sdk = found["SDK alone: the two spans, not exported"]
    encoded = found["SDK alone: the two spans, OTLP-encoded"]
    ours = found["gateway: the two spans, not exported (its Call made too)"] - sdk
    line = found["gateway: one access-log line"]
    print(
        f"a sampled call: the SDK's floor {sdk / 1000:.3f} ms (not exported), {encoded / 1000:.3f} ms "
        f"(OTLP-encoded); the gateway's own part {max(ours, 0.0) / 1000:.3f} ms for its spans "
        f"+ {line / 1000:.3f} ms for its access-log line"
    )
    unsampled = found["gateway: a call not sampled (no spans, a traceparent)"]
    average = ratio * (sdk + max(ours, 0.0)) + (1 - ratio) * unsampled + line
    print(
        f"a call not sampled: {unsampled / 1000:.3f} ms (its Call made too); at {ratio:g} sampled, "
        f"spans and line average {average / 1000:.3f} ms a call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--latency-requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", action="append", help="run only the cases whose name contains this")
    parser.add_argument(
        "--observability",
        action="store_true",
        help="compare CPU per request with tracing and the access log off and on",
    )
    parser.add_argument(
        "--trace-ratio",
        type=float,
        default=1.0,
        help="with --observability: the share of traces sampled (OTEL_TRACES_SAMPLER_ARG)",
    )
    args = parser.parse_args()
    pin_to_core(0)
    uvloop.run(observability(args) if args.observability else run(args))


if __name__ == "__main__":
    main()
