"""Shared pieces of the benchmarks: a simulator in its own process, core pinning, timed loops."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

__all__ = ["free_port", "pin_to_core", "run_for", "simulator_process"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_to_core(core: int) -> None:
    """Keep this process on one core (when the machine has it), so figures are per core."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


@contextmanager
def simulator_process(core: int = 1, *extra: str) -> Iterator[str]:
    """Run ``claudegate sim`` in its own process pinned to ``core``; yield its base URL."""
    port = free_port()
    code = (
        "import os, sys\n"
        f"core = {core}\n"
        "if hasattr(os, 'sched_setaffinity') and core < (os.cpu_count() or 1):\n"
        "    os.sched_setaffinity(0, {core})\n"
        "from claudegate.cli import main\n"
        f"sys.argv = ['claudegate', 'sim', '--port', '{port}', *{list(extra)!r}]\n"
        "main()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    detail = proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"simulator did not start: {detail!r}") from exc
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def run_for(
    seconds: float, concurrency: int, call: Callable[[], Awaitable[int]]
) -> tuple[int, int, float]:
    """Run ``call`` from ``concurrency`` workers for ``seconds``; return (calls, units, elapsed).

    ``call`` returns how many units (events, say) it produced.
    """
    deadline = time.perf_counter() + seconds
    calls = 0
    units = 0

    async def worker() -> None:
        nonlocal calls, units
        while time.perf_counter() < deadline:
            produced = await call()  # read before adding: ``units += await ...`` would lose updates
            units += produced
            calls += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls, units, time.perf_counter() - started
