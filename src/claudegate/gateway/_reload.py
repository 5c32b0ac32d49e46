"""Config hot reload: ``SIGHUP`` or a change of the config file loads it anew.

The new file is validated whole and its routes built before anything changes; then the core swaps
it in at once. Calls in flight finish on the routes they began on. A file that does not validate
(or whose secrets cannot be resolved) is refused: the error, naming the key, is logged and shown on
``/ready``, and the old configuration keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from claudegate.errors import ClaudegateError
from claudegate.gateway._config import load_config
from claudegate.gateway.core import GatewayCore

__all__ = ["ConfigWatcher"]

log = logging.getLogger("claudegate.gateway.reload")


class ConfigWatcher:
    """Reloads ``core``'s configuration from its file on ``SIGHUP`` and when the file changes."""

    def __init__(self, core: GatewayCore, *, debounce_ms: int = 200) -> None:
        if core.config_path is None:
            raise ValueError("the core has no configuration file to watch")
        self.core = core
        self.path: Path = core.config_path
        self.debounce_ms = debounce_ms
        self.reloads = 0
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        self._signal = False

    def start(self) -> None:
        """Install the ``SIGHUP`` handler (main thread only) and start watching the file."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_signal)
            self._signal = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            log.debug("SIGHUP reload unavailable here; the file is still watched")
        self._spawn(self._watch())

    async def stop(self) -> None:
        """Stop watching and wait for a reload under way."""
        self._stop.set()
        if self._signal:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_signal(self) -> None:
        log.info("SIGHUP: reloading %s", self.path)
        self._spawn(self.reload())

    async def _watch(self) -> None:
        from watchfiles import awatch

        target = self.path.resolve()

        def ours(_change: object, changed: str) -> bool:
            return Path(changed).resolve() == target

        # The folder is watched, not the file: editors replace a file by renaming a new one over it.
        async for _ in awatch(
            target.parent,
            watch_filter=ours,
            debounce=self.debounce_ms,
            stop_event=self._stop,
            recursive=False,
        ):
            await self.reload()

    async def reload(self) -> bool:
        """Load, validate and swap in the file; False (old config kept) when it is refused."""
        async with self._lock:
            core = self.core
            try:
                config = await asyncio.to_thread(load_config, self.path)
                await core.reload(config)
            except ClaudegateError as exc:
                core.reload_error = str(exc)
                log.error("configuration reload refused, the previous one keeps serving: %s", exc)
                return False
            except Exception as exc:
                core.reload_error = f"{type(exc).__name__}: {exc}"
                log.exception("configuration reload failed, the previous one keeps serving")
                return False
            self.reloads += 1
            log.info("configuration reloaded from %s (%d routes)", self.path, len(config.models))
            return True
