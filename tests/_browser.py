"""Headless Debian chromium for browser tests, driven by Playwright without a browser download.

``scripts/ensure-chromium`` (run by ``make test``) installs the browser; Playwright only speaks to it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Playwright

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_chromium", "serve_directory"]

CHROMIUM = Path("/usr/bin/chromium")
# Sandboxing needs privileges a container root lacks; the rest stop chromium reaching past loopback
# (QUIC probes, component and sync updates, first-run pings) while a test runs.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Nothing in the tests may make Playwright fetch a browser build of its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


async def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless; fails with the fix when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/ensure-chromium (make test does)")
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no access log on the test's stderr
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """``root``'s files over HTTP on 127.0.0.1 and a free port (its base URL), until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
